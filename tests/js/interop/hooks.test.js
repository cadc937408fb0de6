// Request hooks: allow_request refuses a handshake with its own message (403 code 4) and the
// refusal is reported as a connection_error; headers hooks add to every response, and
// initial_headers only to the handshake response.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, emitAck } from "../lib/client.js";
import { eioUrl, post, request } from "../lib/raw.js";

describe("hooks (--extra-header x-portico=yes --cookie hook_test=1)", () => {
  let server;
  let clients;
  serverForSuite({ args: ["--extra-header", "x-portico=yes", "--cookie", "hook_test=1"] }, (s) => (server = s), () => clients);

  test("allow_request refusal → 403 with its message, no session, reported once", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const observer = await clients.connect("/", { transports: ["websocket"] });
    const [before] = await emitAck(observer, "handshake-count");
    const res = await request(eioUrl(server.url, { deny: "no thanks" }));
    assert.equal(res.status, 403);
    assert.deepEqual(JSON.parse(res.text), { code: 4, message: "no thanks" });
    assert.equal(res.headers.get("x-portico"), "yes", "headers hooks run on errors too");
    assert.equal(res.headers.get("set-cookie"), null, "initial_headers only on a handshake that succeeds");
    const [after] = await emitAck(observer, "handshake-count");
    assert.equal(after, before, "no session was created");
    const [errors] = await emitAck(observer, "connection-errors");
    const refusals = errors.filter((e) => e.message === "no thanks");
    assert.equal(refusals.length, 1);
    assert.equal(refusals[0].code, 4);
    assert.equal(refusals[0].transport, "polling");
    assert.match(refusals[0].reason, /allow_request/);
  });

  test("the same refusal applies to a WebSocket handshake", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    await assert.rejects(
      clients.connect("/", { transports: ["websocket"], reconnection: false, query: { deny: "nope" } }),
      /connect_error/,
    );
  });

  test("headers hook on every response; initial_headers (the cookie) on the handshake only", { timeout: 10_000 }, async () => {
    const hs = await request(eioUrl(server.url));
    assert.equal(hs.status, 200);
    assert.equal(hs.headers.get("x-portico"), "yes");
    assert.match(hs.headers.get("set-cookie") ?? "", /^hook_test=1; Path=\/; SameSite=Lax$/);
    const sid = JSON.parse(hs.text.slice(1)).sid;
    const p = await post(server.url, sid, "40");
    assert.equal(p.text, "ok");
    const g = await request(eioUrl(server.url, { sid }));
    assert.equal(g.status, 200);
    assert.equal(g.headers.get("x-portico"), "yes");
    assert.equal(g.headers.get("set-cookie"), null);
  });
});
