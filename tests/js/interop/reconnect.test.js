// Reconnection after the server drops the transport without a word.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, emitAck, next } from "../lib/client.js";

// Over polling, a transport dropped without a packet reaches the client as an aborted HTTP
// request ("transport error"), so the "transport close" reason is checked over WebSocket.
describe("reconnection", () => {
  let server;
  let clients;
  serverForSuite({}, (s) => (server = s), () => clients);

  test("kill-transport → \"transport close\", then the client reconnects on its own", { timeout: 15_000 }, async () => {
    clients = new Clients(server.url);
    const socket = await clients.connect("/", {
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 100,
      randomizationFactor: 0,
    });
    const firstId = socket.id;
    const gone = next(socket, "disconnect", 5000);
    socket.emit("kill-transport");
    const [reason] = await gone;
    assert.equal(reason, "transport close");
    assert.equal(socket.active, true, "the client should be trying to reconnect");
    await next(socket, "connect", 10_000);
    assert.equal(socket.connected, true);
    assert.notEqual(socket.id, firstId, "a reconnected socket gets a new id");
    assert.deepEqual(await emitAck(socket, "id"), [socket.id]);
    assert.deepEqual(await emitAck(socket, "echo", "back again"), ["back again"]);
  });

  test("rooms do not survive a reconnection (new socket, fresh rooms)", { timeout: 15_000 }, async () => {
    clients = new Clients(server.url);
    const socket = await clients.connect("/", {
      transports: ["websocket"],
      reconnection: true,
      reconnectionDelay: 50,
      reconnectionDelayMax: 100,
      randomizationFactor: 0,
    });
    await emitAck(socket, "join", "before");
    const gone = next(socket, "disconnect", 5000);
    socket.emit("kill-transport");
    await gone;
    await next(socket, "connect", 10_000);
    assert.deepEqual(await emitAck(socket, "join", "after"), [["after", socket.id].sort()]);
  });
});
