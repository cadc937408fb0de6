// Namespaces: auth on a custom namespace, unknown namespaces, multiplexing on one connection.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, next, waitConnected } from "../lib/client.js";

for (const mode of TRANSPORT_MODES) {
  describe(`namespaces over ${mode.name}`, () => {
    let server;
    let clients;
    serverForSuite({}, (s) => (server = s), () => clients);

    test("/custom echoes the auth object it received", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const auth = { token: "abc", nested: { n: 1, list: [true, null] } };
      const socket = clients.socket("/custom", { ...mode.opts, auth });
      const got = next(socket, "auth", 5000);
      await waitConnected(socket);
      assert.deepEqual(await got, [auth]);
    });

    test("/custom without auth receives an empty object", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = clients.socket("/custom", mode.opts);
      const got = next(socket, "auth", 5000);
      await waitConnected(socket);
      assert.deepEqual(await got, [{}]);
    });

    test("unknown namespace /nope → connect_error \"Invalid namespace\"", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = clients.socket("/nope", mode.opts);
      const [err] = await next(socket, "connect_error", 5000);
      assert.equal(err.message, "Invalid namespace");
      assert.equal(socket.connected, false);
    });

    test("two namespaces multiplexed on one Engine.IO connection", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const manager = clients.manager(mode.opts);
      const main = manager.socket("/");
      const custom = manager.socket("/custom", { auth: { who: "custom" } });
      const gotAuth = next(custom, "auth", 5000);
      main.connect();
      custom.connect();
      await Promise.all([waitConnected(main), waitConnected(custom)]);
      assert.deepEqual(await gotAuth, [{ who: "custom" }]);
      assert.equal(main.io, custom.io);
      assert.notEqual(main.id, custom.id, "each namespace has its own socket id");
      const engineId = manager.engine.id;
      assert.deepEqual(await emitAck(main, "echo", "on main"), ["on main"]);

      // leaving /custom (41/custom) must not close the shared connection
      const customGone = next(custom, "disconnect", 5000);
      custom.disconnect();
      assert.equal((await customGone)[0], "io client disconnect");
      assert.deepEqual(await emitAck(main, "echo", "still on main"), ["still on main"]);
      assert.equal(manager.engine.id, engineId);

      // and it can come back on the same connection
      const gotAuthAgain = next(custom, "auth", 5000);
      custom.connect();
      await waitConnected(custom);
      assert.deepEqual(await gotAuthAgain, [{ who: "custom" }]);
      assert.equal(manager.engine.id, engineId);
    });

    test("a rejected namespace leaves the other namespaces of the connection working", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const manager = clients.manager(mode.opts);
      const main = manager.socket("/");
      main.connect();
      await waitConnected(main);
      const engineId = manager.engine.id;
      const nope = manager.socket("/nope");
      const failed = next(nope, "connect_error", 5000);
      nope.connect();
      const [err] = await failed;
      assert.equal(err.message, "Invalid namespace");
      assert.deepEqual(await emitAck(main, "echo", "fine"), ["fine"]);
      assert.equal(manager.engine.id, engineId);
    });
  });
}
