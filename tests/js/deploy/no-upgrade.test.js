// docs/deployment/nginx.conf without the two lines that pass on Upgrade and Connection (what a
// proxy that strips them looks like): the WebSocket request reaches Portico as a plain GET and
// gets 400 code 3, a WebSocket-only client cannot connect, and a default client stays on
// long-polling, connected.

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once, onceMatching } from "../lib/server.js";
import { Clients, record } from "../lib/client.js";
import { wsUrl } from "../lib/raw.js";
import { wsAttempt } from "../lib/cors.js";
import { startCluster, stopAll } from "./nginx.js";

describe("nginx without the Upgrade/Connection headers", { timeout: 30_000 }, () => {
  let cluster;
  let clients;
  before(async () => {
    cluster = await startCluster({ upgrade: false });
    clients = new Clients(cluster.front.url);
  });
  afterEach(() => clients.closeAll());
  after(() => stopAll());

  test("a WebSocket request gets 400 Bad request instead of 101", { timeout: 10_000 }, async () => {
    const attempt = await wsAttempt(wsUrl(cluster.front.url));
    assert.equal(attempt.opened, false, "the WebSocket opened although nginx strips Upgrade");
    assert.equal(attempt.status, 400, attempt.body);
    assert.deepEqual(JSON.parse(attempt.body), { code: 3, message: "Bad request" });
  });

  test("a WebSocket-only client cannot connect: connect_error \"websocket error\"", { timeout: 10_000 }, async () => {
    const socket = clients.socket("/", { transports: ["websocket"] });
    const [err] = await once(socket, "connect_error", 5000);
    assert.equal(err.message, "websocket error");
    assert.equal(socket.connected, false);
  });

  test("a default client stays on long-polling, connected, after its upgrade fails", { timeout: 10_000 }, async () => {
    const socket = clients.socket("/");
    const upgradeError = once(socket.io.engine, "upgradeError", 5000);
    await once(socket, "connect", 5000);
    const disconnects = record(socket, "disconnect");
    const [err] = await upgradeError;
    assert.match(err.message, /^probe error/); // "probe error: Error: websocket error"
    assert.equal(socket.io.engine.transport.name, "polling");
    const text = "still polling";
    const back = onceMatching(socket, "chat", (m) => m?.text === text && m?.from === socket.id, 3000);
    socket.emit("chat", text);
    await back;
    assert.ok(socket.connected);
    assert.deepEqual(disconnects, []);
  });
});
