// upgradeTimeout: a WebSocket that joins a polling session but does not complete the upgrade
// (no `2probe`, or `2probe` without `5`) is closed after the timeout; the polling session goes on.
// And the WebSockets that ask to upgrade while a probe is under way: one waits, the others are
// closed at once; the waiting one is closed once the probe upgrades. Every close is a close frame.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.js";
import { RawWebSocket, handshake, poll, post, pollUntil, wsUrl } from "../lib/raw.js";

describe("upgrade timeout (--upgrade-timeout 300)", () => {
  let server;
  before(async () => {
    server = await startServer({ args: ["--upgrade-timeout", "300"] });
  });
  after(async () => {
    await server?.stop();
  });

  for (const [name, steps] of [
    ["a probe WebSocket that never sends 2probe", []],
    ["a probe WebSocket that sends 2probe but never 5", ["2probe"]],
  ]) {
    test(`${name} is closed; the polling session keeps working`, { timeout: 10_000 }, async () => {
      const { sid } = await handshake(server.url);
      assert.equal((await post(server.url, sid, "40")).text, "ok");
      await pollUntil(server.url, sid, (p) => p.startsWith("40"));
      const ws = new RawWebSocket(wsUrl(server.url, { sid }));
      try {
        await ws.waitOpen();
        for (const s of steps) {
          ws.send(s);
          assert.equal(await ws.next(), "3probe");
        }
        await ws.waitClose(5000);
        // Still a polling session: events round-trip over polling.
        assert.equal((await post(server.url, sid, '42["echo","after"]')).text, "ok");
        const body = await pollUntil(server.url, sid, (p) => p.includes('["echo","after"]'));
        assert.match(body, /42\["echo","after"\]/);
        // And a later probe may still upgrade it.
        const ws2 = new RawWebSocket(wsUrl(server.url, { sid }));
        try {
          await ws2.waitOpen();
          ws2.send("2probe");
          assert.equal(await ws2.next(), "3probe");
          ws2.send("5");
          ws2.send('42["echo","upgraded"]');
          assert.equal(await ws2.nextNonPing(), '42["echo","upgraded"]');
          assert.equal((await poll(server.url, sid)).status, 400, "polling is over after the upgrade");
        } finally {
          ws2.close();
        }
      } finally {
        ws.close();
      }
    });
  }
});

// With the default upgrade timeout (10 s), so that a slow machine between `3probe` and `5` does
// not time the probe out under the test.
describe("WebSockets that ask to upgrade while a probe is under way", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  // A polling session connected to "/", and a WebSocket that is its probe (it got `3probe`).
  async function probing(url) {
    const { sid } = await handshake(url);
    assert.equal((await post(url, sid, "40")).text, "ok");
    await pollUntil(url, sid, (p) => p.startsWith("40"));
    const first = new RawWebSocket(wsUrl(url, { sid }));
    try {
      await first.waitOpen();
      first.send("2probe");
      assert.equal(await first.next(), "3probe");
    } catch (e) {
      first.close();
      throw e;
    }
    return { sid, first };
  }

  // The second WebSocket is opened only once the first is the probe (it got `3probe`): opened
  // together, either may reach the server first, and the test would not know which is which.
  test("a second WebSocket asking to upgrade while a probe is under way is closed (1000) once the first upgrades", { timeout: 10_000 }, async () => {
    const { sid, first } = await probing(server.url);
    let second;
    try {
      second = new RawWebSocket(wsUrl(server.url, { sid }));
      await second.waitOpen();
      first.send("5");
      first.send('42["echo","via the first"]');
      assert.equal(await first.nextNonPing(), '42["echo","via the first"]');
      const closed = await second.waitClose(5000);
      assert.equal(closed.code, 1000, "a close frame, not a dropped connection");
      assert.equal(first.closed, null, "the upgraded WebSocket stays open");
    } finally {
      first.close();
      second?.close();
    }
  });

  // One WebSocket may wait while a probe is under way; one more is refused at once, and it is
  // told so with a close frame (1000), not a dropped TCP connection (1006). Which of the two
  // late ones waits is the server's order of arrival: the test takes whichever closes first.
  test("while one waits behind the probe, another WebSocket is closed at once with 1000; the waiting one once the probe upgrades", { timeout: 10_000 }, async () => {
    const { sid, first } = await probing(server.url);
    const late = [];
    try {
      late.push(new RawWebSocket(wsUrl(server.url, { sid })), new RawWebSocket(wsUrl(server.url, { sid })));
      await Promise.all(late.map((w) => w.waitOpen()));
      const refused = await Promise.race(late.map((w) => w.closedPromise.then(() => w)));
      assert.equal(refused.closed.code, 1000, "the refused one gets a close frame");
      const waiting = late.find((w) => w !== refused);
      assert.equal(waiting.closed, null, "the other one waits while the probe is under way");
      first.send("5");
      first.send('42["echo","via the first"]');
      assert.equal(await first.nextNonPing(), '42["echo","via the first"]');
      assert.equal((await waiting.waitClose(5000)).code, 1000);
      assert.equal(first.closed, null, "the upgraded WebSocket stays open");
    } finally {
      first.close();
      for (const w of late) w.close();
    }
  });
});
