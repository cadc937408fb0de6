// Transports: polling only, WebSocket only, and the polling → WebSocket upgrade.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, once, withTimeout, serverForSuite } from "../lib/server.js";
import { Clients, emitAck, waitConnected } from "../lib/client.js";

describe("transports", () => {
  let server;
  let clients;
  serverForSuite({}, (s) => (server = s), () => clients);

  test("polling only: connects and exchanges events over polling", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const socket = await clients.connect("/", { transports: ["polling"] });
    assert.equal(socket.io.engine.transport.name, "polling");
    assert.deepEqual(await emitAck(socket, "echo", "over polling"), ["over polling"]);
    // several round trips: each needs a fresh GET/POST pair
    for (let i = 0; i < 5; i++) assert.deepEqual(await emitAck(socket, "echo", i), [i]);
    assert.equal(socket.io.engine.transport.name, "polling");
  });

  test("websocket only: connects directly over WebSocket", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const socket = await clients.connect("/", { transports: ["websocket"] });
    assert.equal(socket.io.engine.transport.name, "websocket");
    assert.deepEqual(await emitAck(socket, "echo", "over websocket"), ["over websocket"]);
  });

  test("default transports: upgrades from polling to WebSocket", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const socket = clients.socket("/", { autoConnect: false });
    // The engine exists once the manager opens; the upgrade probe starts right after.
    const upgraded = new Promise((resolve, reject) => {
      socket.io.once("open", () => {
        assert.equal(socket.io.engine.transport.name, "polling");
        once(socket.io.engine, "upgrade", 5000).then(resolve, reject);
      });
    });
    socket.connect();
    await waitConnected(socket);
    const [transport] = await upgraded;
    assert.equal(transport.name, "websocket");
    assert.equal(socket.io.engine.transport.name, "websocket");
    assert.deepEqual(await emitAck(socket, "echo", "after upgrade"), ["after upgrade"]);
  });

  test("events sent while the upgrade is in progress arrive in order", { timeout: 10_000 }, async () => {
    clients = new Clients(server.url);
    const socket = clients.socket("/", { autoConnect: false });
    const upgraded = new Promise((resolve, reject) => {
      socket.io.once("open", () => once(socket.io.engine, "upgrade", 5000).then(resolve, reject));
    });
    socket.connect();
    await waitConnected(socket);
    // fired immediately after connect, i.e. while the probe is running
    const replies = await Promise.all(
      Array.from({ length: 30 }, (_, i) => emitAck(socket, "echo", { i, s: "x".repeat(i * 10) })),
    );
    replies.forEach(([reply], i) => assert.deepEqual(reply, { i, s: "x".repeat(i * 10) }));
    // order of server-initiated emits is preserved across the transport switch too
    const got = [];
    const all = new Promise((resolve) => {
      socket.on("echo", (n) => {
        got.push(n);
        if (got.length === 20) resolve();
      });
    });
    for (let i = 0; i < 20; i++) socket.emit("echo", i);
    await withTimeout(all, 5000, "20 server emits");
    assert.deepEqual(got, Array.from({ length: 20 }, (_, i) => i));
    await upgraded;
    assert.equal(socket.io.engine.transport.name, "websocket");
  });
});
