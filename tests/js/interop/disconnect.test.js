// Disconnect reasons, as seen by the disconnected client and by a watcher socket that the
// fixture notifies (`peer-disconnect` {sid, reason}) whenever a socket on "/" disconnects.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, onceMatching, serverForSuite } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, next } from "../lib/client.js";
import { RawWebSocket, handshake, poll, post, pollUntil, wsUrl } from "../lib/raw.js";

async function watcher(clients) {
  const w = await clients.connect("/", { transports: ["websocket"] });
  assert.deepEqual(await emitAck(w, "watch-disconnects"), [true]);
  return w;
}

function peerDisconnect(w, sid, timeoutMs = 5000) {
  return onceMatching(w, "peer-disconnect", (info) => info && info.sid === sid, timeoutMs).then(([info]) => info);
}

for (const mode of TRANSPORT_MODES) {
  describe(`disconnects over ${mode.name}`, () => {
    let server;
    let clients;
    serverForSuite({}, (s) => (server = s), () => clients);

    test("server-side socket.disconnect() → client reason \"io server disconnect\"", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const w = await watcher(clients);
      const socket = await clients.connect("/", { ...mode.opts, reconnection: true });
      const sid = socket.id;
      const seen = peerDisconnect(w, sid);
      const gone = next(socket, "disconnect", 5000);
      socket.emit("server-disconnect");
      const [reason] = await gone;
      assert.equal(reason, "io server disconnect");
      assert.deepEqual(await seen, { sid, reason: "server namespace disconnect" });
      assert.equal(socket.connected, false);
      // "io server disconnect" must not trigger an automatic reconnection
      assert.equal(socket.active, false);
    });

    test("client socket.disconnect() → watcher sees \"client namespace disconnect\"", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const w = await watcher(clients);
      const socket = await clients.connect("/", mode.opts);
      const sid = socket.id;
      const seen = peerDisconnect(w, sid);
      socket.disconnect();
      assert.deepEqual(await seen, { sid, reason: "client namespace disconnect" });
    });

    test("client closes the engine → watcher sees \"transport close\"", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const w = await watcher(clients);
      const socket = await clients.connect("/", mode.opts);
      const sid = socket.id;
      const seen = peerDisconnect(w, sid);
      socket.io.engine.close();
      assert.deepEqual(await seen, { sid, reason: "transport close" });
    });

    test("client disconnects two namespaces one after the other", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const w = await watcher(clients);
      const manager = clients.manager(mode.opts);
      const main = manager.socket("/");
      const custom = manager.socket("/custom");
      main.connect();
      custom.connect();
      await Promise.all([next(main, "connect", 5000), next(custom, "connect", 5000)]);
      const sid = main.id;
      const seen = peerDisconnect(w, sid);
      custom.disconnect();
      // main is still connected: an echo round trip proves it, then disconnect it too
      assert.deepEqual(await emitAck(main, "echo", 1), [1]);
      main.disconnect();
      assert.deepEqual(await seen, { sid, reason: "client namespace disconnect" });
    });
  });
}

describe("heartbeat loss (--ping-interval 300 --ping-timeout 200)", () => {
  let server;
  let clients;
  serverForSuite({ args: ["--ping-interval", "300", "--ping-timeout", "200"] }, (s) => (server = s), () => clients);

  test("a raw WebSocket client that never pongs → watcher sees \"ping timeout\"", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const w = await watcher(clients);
    const raw = new RawWebSocket(wsUrl(server.url));
    try {
      const open = await raw.next();
      assert.match(open, /^0\{/);
      const info = JSON.parse(open.slice(1));
      assert.equal(info.pingInterval, 300);
      assert.equal(info.pingTimeout, 200);
      assert.deepEqual(info.upgrades, []);
      raw.send("40");
      const connect = await raw.nextNonPing();
      assert.match(connect, /^40\{/);
      const { sid } = JSON.parse(connect.slice(2));
      assert.equal(typeof sid, "string");
      const started = performance.now();
      const seen = await peerDisconnect(w, sid, 5000);
      assert.deepEqual(seen, { sid, reason: "ping timeout" });
      // interval + timeout = 500 ms after the handshake, give or take scheduling
      assert.ok(performance.now() - started >= 300, `closed too early (${Math.round(performance.now() - started)} ms)`);
      await raw.waitClose(3000);
    } finally {
      raw.close();
    }
  });

  test("a raw polling client that stops polling → watcher sees \"ping timeout\"", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const w = await watcher(clients);
    const { sid: engineSid } = await handshake(server.url);
    assert.equal((await post(server.url, engineSid, "40")).text, "ok");
    const connect = await pollUntil(server.url, engineSid, (p) => p.startsWith("40"));
    const { sid } = JSON.parse(connect.slice(2));
    const seen = await peerDisconnect(w, sid, 5000);
    assert.deepEqual(seen, { sid, reason: "ping timeout" });
    const res = await poll(server.url, engineSid);
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.text), { code: 1, message: "Session ID unknown" });
  });

  test("a normal client answering pings stays connected past several intervals", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const socket = await clients.connect("/", { transports: ["websocket"] });
    const id = socket.id;
    // wait for 3 pings (each ~300 ms) — events, not sleeps
    for (let i = 0; i < 3; i++) await next(socket.io, "ping", 2000);
    assert.equal(socket.connected, true);
    assert.equal(socket.id, id);
    assert.deepEqual(await emitAck(socket, "echo", "alive"), ["alive"]);
  });

  test("a polling client answering pings stays connected past several intervals", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const socket = await clients.connect("/", { transports: ["polling"] });
    const id = socket.id;
    for (let i = 0; i < 3; i++) await next(socket.io, "ping", 2000);
    assert.equal(socket.connected, true);
    assert.equal(socket.id, id);
    assert.deepEqual(await emitAck(socket, "echo", "alive"), ["alive"]);
  });
});
