// docs/deployment/nginx.conf as shipped (ip_hash) in a real nginx in front of two
// `portico serve` nodes: polling-only official clients keep one session across many polls and
// messages, WebSocket clients connect and upgrade through nginx, and the Origin header reaches
// Portico unchanged, so its origin policy still decides.

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once, onceMatching } from "../lib/server.js";
import { Clients, record } from "../lib/client.js";
import { eioUrl, request, wsUrl } from "../lib/raw.js";
import { wsAttempt } from "../lib/cors.js";
import { TEMPLATE, startCluster, stopAll } from "./nginx.js";

const PING_INTERVAL_MS = 300; // startCluster's nodes
const ROUNDS = 4;

/** Emits a chat line and waits until the demo chat sends it back to this socket. */
async function chatRoundTrip(socket, text) {
  const back = onceMatching(socket, "chat", (m) => m?.text === text && m?.from === socket.id, 3000);
  socket.emit("chat", text);
  await back;
}

test("the template's proxy_read_timeout exceeds pingInterval + pingTimeout (25 s + 20 s)", () => {
  const m = /^\s*proxy_read_timeout (\d+)s;$/m.exec(TEMPLATE);
  assert.ok(m, "docs/deployment/nginx.conf sets no proxy_read_timeout in seconds");
  assert.ok(Number(m[1]) > 45, `proxy_read_timeout ${m[1]}s`);
  assert.match(TEMPLATE, /^\s*proxy_buffering off;$/m);
});

describe("nginx with ip_hash in front of two nodes", { timeout: 30_000 }, () => {
  let cluster;
  let clients;
  before(async () => {
    cluster = await startCluster();
    clients = new Clients(cluster.front.url);
  });
  afterEach(() => clients.closeAll());
  after(() => stopAll());

  test("polling-only clients exchange messages over many polls and keep their session", { timeout: 15_000 }, async () => {
    const run = async (n) => {
      const socket = await clients.connect("/", { transports: ["polling"] });
      const id = socket.id;
      const engineId = socket.io.engine.id;
      const disconnects = record(socket, "disconnect");
      let polls = 0;
      socket.io.engine.transport.on("poll", () => polls++);
      for (let i = 0; i < ROUNDS; i++) {
        // A server ping ends the pending long-poll; the client answers and polls again: each
        // round is new HTTP requests through nginx, which must reach the same node.
        await once(socket.io, "ping", PING_INTERVAL_MS * 10);
        await chatRoundTrip(socket, `client ${n} round ${i}`);
      }
      assert.deepEqual(disconnects, [], `client ${n} was disconnected`);
      assert.ok(socket.connected, `client ${n} is not connected`);
      assert.equal(socket.id, id, `client ${n}: socket id changed`);
      assert.equal(socket.io.engine.id, engineId, `client ${n}: Engine.IO session changed`);
      assert.equal(socket.io.engine.transport.name, "polling");
      assert.ok(polls >= ROUNDS, `client ${n}: only ${polls} polls`);
    };
    await Promise.all([1, 2, 3].map(run));
  });

  test("a WebSocket-only client connects through nginx", { timeout: 10_000 }, async () => {
    const socket = await clients.connect("/", { transports: ["websocket"] });
    assert.equal(socket.io.engine.transport.name, "websocket");
    await chatRoundTrip(socket, "over a websocket");
  });

  test("a default client upgrades from polling to WebSocket through nginx", { timeout: 10_000 }, async () => {
    const socket = clients.socket("/");
    const upgraded = once(socket.io.engine, "upgrade", 5000);
    await once(socket, "connect", 5000);
    const id = socket.id;
    await upgraded;
    assert.equal(socket.io.engine.transport.name, "websocket");
    assert.equal(socket.id, id);
    await chatRoundTrip(socket, "after the upgrade");
  });

  test("Origin passes through unchanged: Portico's same-origin policy still refuses other sites", { timeout: 10_000 }, async () => {
    const own = cluster.front.url; // the public origin, as the browser of a page on it sends it
    const ok = await request(eioUrl(own), { headers: { origin: own } });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.text.startsWith("0{"), ok.text);

    const evil = "http://evil.example";
    const refused = await request(eioUrl(own), { headers: { origin: evil } });
    assert.equal(refused.status, 403, refused.text);
    assert.deepEqual(JSON.parse(refused.text), { code: 4, message: "Forbidden" });

    const wsOwn = await wsAttempt(wsUrl(own), { origin: own });
    assert.equal(wsOwn.opened, true, `websocket from the own origin: ${wsOwn.status} ${wsOwn.body}`);
    wsOwn.ws.terminate();
    const wsEvil = await wsAttempt(wsUrl(own), { origin: evil });
    assert.equal(wsEvil.opened, false);
    assert.equal(wsEvil.status, 403, wsEvil.body);
  });
});
