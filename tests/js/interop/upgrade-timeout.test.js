// upgradeTimeout: a WebSocket that joins a polling session but does not complete the upgrade
// (no `2probe`, or `2probe` without `5`) is closed after the timeout; the polling session goes on.

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
  test("a second WebSocket asking to upgrade while a probe is under way is closed once the first upgrades", { timeout: 10_000 }, async () => {
    const { sid } = await handshake(server.url);
    assert.equal((await post(server.url, sid, "40")).text, "ok");
    await pollUntil(server.url, sid, (p) => p.startsWith("40"));
    const first = new RawWebSocket(wsUrl(server.url, { sid }));
    const second = new RawWebSocket(wsUrl(server.url, { sid }));
    try {
      await first.waitOpen();
      first.send("2probe");
      assert.equal(await first.next(), "3probe");
      await second.waitOpen();
      first.send("5");
      first.send('42["echo","via the first"]');
      assert.equal(await first.nextNonPing(), '42["echo","via the first"]');
      await second.waitClose(5000);
    } finally {
      first.close();
      second.close();
    }
  });
});
