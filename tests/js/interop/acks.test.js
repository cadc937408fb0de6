// Acknowledgements in both directions, and their timeouts.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, next } from "../lib/client.js";

for (const mode of TRANSPORT_MODES) {
  describe(`acks over ${mode.name}`, () => {
    let server;
    let clients;
    serverForSuite({}, (s) => (server = s), () => clients);

    test("client → server: emitWithAck resolves with the server's reply", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = await clients.connect("/", mode.opts);
      assert.equal(await socket.timeout(3000).emitWithAck("echo", "ping?"), "ping?");
      assert.deepEqual(await emitAck(socket, "echo", 1, { two: 2 }, [3]), [1, { two: 2 }, [3]]);
    });

    test("client → server: concurrent acks are matched to their own ids", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = await clients.connect("/", mode.opts);
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => socket.timeout(3000).emitWithAck("echo", `n${i}`)),
      );
      assert.deepEqual(replies, Array.from({ length: 50 }, (_, i) => `n${i}`));
    });

    test("server → client: the client answers the ack", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = await clients.connect("/", mode.opts);
      const asked = new Promise((resolve) => {
        socket.once("need-ack", (data, ack) => {
          assert.equal(typeof ack, "function", "need-ack must carry an ack callback");
          ack({ got: data.n, from: "client" });
          resolve(data);
        });
      });
      const result = next(socket, "request-ack-result");
      socket.emit("request-ack", { timeoutMs: 3000 });
      assert.deepEqual(await asked, { n: 1 });
      assert.deepEqual(await result, [{ ok: true, reply: { got: 1, from: "client" } }]);
    });

    test("server → client: the client never answers → the server reports a timeout", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = await clients.connect("/", mode.opts);
      let asked = false;
      socket.once("need-ack", (data, ack) => {
        asked = typeof ack === "function";
      });
      const result = next(socket, "request-ack-result", 5000);
      const started = performance.now();
      socket.emit("request-ack", { timeoutMs: 200 });
      assert.deepEqual(await result, [{ ok: false, error: "timeout" }]);
      assert.ok(asked, "need-ack should have reached the client with an ack callback");
      assert.ok(performance.now() - started >= 150, "the server should wait about timeoutMs before giving up");
    });

    test("client timeout: an event the server never acks rejects", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = await clients.connect("/", mode.opts);
      await assert.rejects(socket.timeout(200).emitWithAck("never-ack", "anyone?"), (err) => {
        assert.match(err.message, /operation has timed out/);
        return true;
      });
      // the connection is still fine afterwards
      assert.deepEqual(await emitAck(socket, "echo", "still here"), ["still here"]);
    });
  });
}
