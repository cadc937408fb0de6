// HTTP-level bad input, with raw requests: each gets the reference status and JSON body, and
// sessions that are not involved keep working after all of them.
// The fixture runs with --max-payload 1000.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.js";
import { Clients, emitAck } from "../lib/client.js";
import http from "node:http";
import { eioUrl, handshake, httpRequest, poll, pollUntil, post, request } from "../lib/raw.js";

const MAX_PAYLOAD = 1000;

function assertError(res, status, code, message) {
  assert.equal(res.status, status, `status (body: ${res.text})`);
  assert.match(res.contentType ?? "", /^application\/json/);
  assert.deepEqual(JSON.parse(res.text), { code, message });
}

/** The session is gone: a GET with its sid answers 400 code 1. */
async function assertSessionClosed(base, sid) {
  assertError(await poll(base, sid), 400, 1, "Session ID unknown");
}

/** A raw session that is connected to "/" (POST 40, GET → 40{sid}). */
async function connectedSession(base) {
  const { sid } = await handshake(base);
  assert.equal((await post(base, sid, "40")).text, "ok");
  await pollUntil(base, sid, (p) => p.startsWith("40{"));
  return sid;
}

describe("HTTP-level bad input", () => {
  let server;
  let base;
  let clients;
  let pollingClient;
  let wsClient;

  before(async () => {
    server = await startServer({ args: ["--max-payload", String(MAX_PAYLOAD)] });
    base = server.url;
    clients = new Clients(base);
    pollingClient = await clients.connect("/", { transports: ["polling"] });
    wsClient = await clients.connect("/", { transports: ["websocket"] });
  });
  after(async () => {
    clients?.closeAll();
    await server?.stop();
  });

  test("handshake: 200 text/plain, body 0{...} with exactly the five keys", { timeout: 10_000 }, async () => {
    const res = await request(eioUrl(base));
    assert.equal(res.status, 200);
    assert.match(res.contentType, /^text\/plain; ?charset=UTF-8$/i);
    assert.ok(res.text.startsWith("0{"), res.text);
    const open = JSON.parse(res.text.slice(1));
    assert.deepEqual(Object.keys(open).sort(), ["maxPayload", "pingInterval", "pingTimeout", "sid", "upgrades"]);
    assert.deepEqual(open.upgrades, ["websocket"]);
    assert.equal(open.pingInterval, 25000);
    assert.equal(open.pingTimeout, 20000);
    assert.equal(open.maxPayload, MAX_PAYLOAD);
    const ok = await post(base, open.sid, "40");
    assert.equal(ok.status, 200);
    assert.equal(ok.text, "ok");
    assert.match(ok.contentType, /^text\/html/);
    assert.equal((await post(base, open.sid, "1")).text, "ok");
  });

  test("unknown sid → 400 code 1 \"Session ID unknown\"", { timeout: 10_000 }, async () => {
    assertError(await poll(base, "no-such-sid"), 400, 1, "Session ID unknown");
    assertError(await post(base, "no-such-sid", "40"), 400, 1, "Session ID unknown");
  });

  for (const eio of ["5", "3", "abc", undefined]) {
    test(`EIO=${eio ?? "(missing)"} → 400 code 5 "Unsupported protocol version"`, { timeout: 10_000 }, async () => {
      assertError(await request(eioUrl(base, { EIO: eio })), 400, 5, "Unsupported protocol version");
    });
  }

  for (const transport of ["foo", "", undefined]) {
    test(`transport=${transport ?? "(missing)"} → 400 code 0 "Transport unknown"`, { timeout: 10_000 }, async () => {
      assertError(await request(eioUrl(base, { transport })), 400, 0, "Transport unknown");
    });
  }

  for (const method of ["PUT", "POST", "DELETE", "OPTIONS"]) {
    test(`${method} handshake → 400 code 2 "Bad handshake method"`, { timeout: 10_000 }, async () => {
      assertError(await request(eioUrl(base), { method }), 400, 2, "Bad handshake method");
    });
  }

  test("a preflight from a foreign origin under the default policy → 403 code 4, no allow headers", { timeout: 10_000 }, async () => {
    // Node answers 400 code 2 here; Portico's default is same-origin only, so it refuses.
    const res = await request(eioUrl(base), {
      method: "OPTIONS",
      headers: { origin: "http://example.test", "access-control-request-method": "GET" },
    });
    assertError(res, 403, 4, "Forbidden");
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.equal(res.headers.get("access-control-allow-methods"), null);
  });

  test("transport=websocket without Upgrade → 400 code 3 \"Bad request\"", { timeout: 10_000 }, async () => {
    assertError(await request(eioUrl(base, { transport: "websocket" })), 400, 3, "Bad request");
  });

  test("polling request with the sid of a WebSocket session → 400 code 3", { timeout: 10_000 }, async () => {
    const wsEngineId = wsClient.io.engine.id;
    assertError(await poll(base, wsEngineId), 400, 3, "Bad request");
  });

  test(`POST over maxPayload → 413, and the session is kept`, { timeout: 10_000 }, async () => {
    const sid = await connectedSession(base);
    const big = `42["echo","${"x".repeat(MAX_PAYLOAD + 100)}"]`;
    const res = await post(base, sid, big);
    assert.equal(res.status, 413);
    // the session still works: an echo round trip
    assert.equal((await post(base, sid, '42["echo","after 413"]')).text, "ok");
    const echoed = await pollUntil(base, sid, (p) => p.startsWith("42"));
    assert.equal(echoed, '42["echo","after 413"]');
  });

  test("POST exactly at maxPayload is accepted", { timeout: 10_000 }, async () => {
    const sid = await connectedSession(base);
    const prefix = '42["echo","';
    const suffix = '"]';
    const body = prefix + "y".repeat(MAX_PAYLOAD - prefix.length - suffix.length) + suffix;
    assert.equal(Buffer.byteLength(body), MAX_PAYLOAD);
    assert.equal((await post(base, sid, body)).status, 200);
    const echoed = await pollUntil(base, sid, (p) => p.startsWith("42"));
    assert.equal(echoed, body);
  });

  test("malformed payload POST → 400 code 3 \"Bad request\", and the session is closed", { timeout: 10_000 }, async (t) => {
    if (server.impl === "node") {
      // Node reads the whole body, closes the session on the parse error, then still
      // answers 200 "ok". PROTOCOL/fixture spec: 400 code 3.
      t.todo("Node's engine.io answers 200 \"ok\" (but does close the session)");
    }
    const sid = await connectedSession(base);
    let res;
    try {
      res = await post(base, sid, "9zzz");
    } catch (err) {
      // Node's reference resets the connection here; Portico answers
      res = { status: `request failed: ${err.cause?.code ?? err.message}` };
    }
    await assertSessionClosed(base, sid);
    assertError(res, 400, 3, "Bad request");
  });

  test("malformed payload POST closes the session (status-agnostic, as the official suite)", { timeout: 10_000 }, async () => {
    const sid = await connectedSession(base);
    await post(base, sid, "9zzz").catch(() => {});
    await assertSessionClosed(base, sid);
  });

  test("duplicate concurrent GET → one returns `1`, the other 400, and the session is closed", { timeout: 10_000 }, async () => {
    const { sid } = await handshake(base);
    // Neither GET can complete on its own (nothing is queued, the next ping is 25 s away), so
    // whichever reaches the server second overlaps the first, in either order.
    const [r1, r2] = await Promise.all([poll(base, sid), poll(base, sid)]);
    const [first, second] = r1.status === 200 ? [r1, r2] : [r2, r1];
    assert.equal(first.status, 200, `one GET should succeed: ${r1.status} ${r2.status}`);
    assert.equal(first.text, "1");
    assert.equal(second.status, 400);
    await assertSessionClosed(base, sid);
  });

  test("POST with Content-Type application/octet-stream → 400, and the session is closed", { timeout: 10_000 }, async () => {
    const sid = await connectedSession(base);
    const res = await post(base, sid, Buffer.from('42["echo","bin"]'), {
      "content-type": "application/octet-stream",
    });
    assert.equal(res.status, 400);
    await assertSessionClosed(base, sid);
  });

  test("close packet POSTed while a GET is pending → the GET returns `6`, then the session is gone", { timeout: 15_000 }, async () => {
    // Ordering without sleeping: the handshake and the GET share one keep-alive connection
    // that the server has already accepted, the GET is written out before the POST starts,
    // and the POST needs a new connection. Should the server still see the POST first (the
    // GET then finds no session), that attempt proves nothing and is repeated.
    const attempts = 5;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const open = await httpRequest(eioUrl(base), { agent }).response;
        const { sid } = JSON.parse(open.text.slice(1));
        const pending = httpRequest(eioUrl(base, { sid }), { agent });
        await pending.sent;
        const closed = await httpRequest(eioUrl(base, { sid }), { method: "POST", body: "1" }).response;
        assert.equal(closed.status, 200);
        const res = await pending.response;
        if (res.status === 400 && attempt < attempts) continue;
        assert.equal(res.status, 200, `GET: ${res.status} ${res.text}`);
        // `6` (noop) ends the pending GET cleanly; the official suites expect exactly this
        assert.equal(res.text, "6");
        await assertSessionClosed(base, sid);
        return;
      } finally {
        agent.destroy();
      }
    }
  });

  test("sessions established before all of the above still work", { timeout: 10_000 }, async () => {
    assert.equal(pollingClient.connected, true);
    assert.equal(wsClient.connected, true);
    assert.deepEqual(await emitAck(pollingClient, "echo", "polling ok"), ["polling ok"]);
    assert.deepEqual(await emitAck(wsClient, "echo", "websocket ok"), ["websocket ok"]);
    const [bin] = await emitAck(pollingClient, "echo", Buffer.from([1, 2, 3]));
    assert.deepEqual([...Buffer.from(bin)], [1, 2, 3]);
  });
});
