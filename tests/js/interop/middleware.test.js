// Connect middleware on /admin: rejection with message and data, acceptance with the token.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, next, waitConnected } from "../lib/client.js";

for (const mode of TRANSPORT_MODES) {
  describe(`middleware over ${mode.name}`, () => {
    let server;
    let clients;
    serverForSuite({}, (s) => (server = s), () => clients);

    for (const [label, auth] of [
      ["no auth", undefined],
      ["a wrong token", { token: "wrong" }],
      ["a token of the wrong type", { token: 12345 }],
    ]) {
      test(`/admin with ${label} → connect_error "not authorized" with data {code: 401}`, { timeout: 10_000 }, async () => {
        clients = new Clients(server.url);
        const socket = clients.socket("/admin", { ...mode.opts, ...(auth ? { auth } : {}) });
        let welcomed = false;
        socket.on("welcome", () => (welcomed = true));
        const [err] = await next(socket, "connect_error", 5000);
        assert.equal(err.message, "not authorized");
        assert.deepEqual(err.data, { code: 401 });
        assert.equal(socket.connected, false);
        assert.equal(welcomed, false);
      });
    }

    test("/admin with token \"secret\" connects and receives `welcome`", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = clients.socket("/admin", { ...mode.opts, auth: { token: "secret" } });
      const welcome = next(socket, "welcome", 5000);
      await waitConnected(socket);
      assert.deepEqual(await welcome, ["admin"]);
    });

    test("a rejection on /admin does not affect / on the same connection", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const manager = clients.manager(mode.opts);
      const main = manager.socket("/");
      main.connect();
      await waitConnected(main);
      const admin = manager.socket("/admin", { auth: { token: "nope" } });
      const failed = next(admin, "connect_error", 5000);
      admin.connect();
      const [err] = await failed;
      assert.equal(err.message, "not authorized");
      assert.deepEqual(await emitAck(main, "echo", "ok"), ["ok"]);

      // retrying with the right token on the same connection succeeds
      admin.auth = { token: "secret" };
      const welcome = next(admin, "welcome", 5000);
      admin.connect();
      await waitConnected(admin);
      assert.deepEqual(await welcome, ["admin"]);
    });
  });
}
