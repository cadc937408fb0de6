// Echo of strings, objects and several arguments, with and without acks, over each transport.

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, next } from "../lib/client.js";

const VALUES = [
  ["a string", "hello"],
  ["unicode", "héllo wörld ✓ 🚀 \u2028 \x1e record-separator"],
  ["an empty string", ""],
  ["a number", 42.5],
  ["a negative integer", -7],
  ["booleans", true],
  ["null", null],
  ["an object", { a: 1, b: "two", c: [1, 2, { d: null }], e: { f: { g: true } } }],
  ["an array", [1, "2", [3], { four: 4 }]],
  ["a long string", "x".repeat(100_000)],
];

for (const mode of TRANSPORT_MODES) {
  describe(`echo over ${mode.name}`, () => {
    let server;
    let clients;
    let socket;
    before(async () => {
      server = await startServer();
      clients = new Clients(server.url);
      socket = await clients.connect("/", mode.opts);
    });
    after(async () => {
      clients?.closeAll();
      await server?.stop();
    });

    for (const [label, value] of VALUES) {
      test(`ack echo: ${label}`, { timeout: 10_000 }, async () => {
        assert.deepEqual(await emitAck(socket, "echo", value), [value]);
      });
    }

    test("ack echo: several arguments of mixed types", { timeout: 10_000 }, async () => {
      const args = ["one", 2, { three: [3] }, [4], null, false];
      assert.deepEqual(await emitAck(socket, "echo", ...args), args);
    });

    test("ack echo: no arguments", { timeout: 10_000 }, async () => {
      assert.deepEqual(await emitAck(socket, "echo"), []);
    });

    test("emitWithAck resolves with the first ack argument", { timeout: 10_000 }, async () => {
      assert.deepEqual(await socket.timeout(3000).emitWithAck("echo", { k: "v" }), { k: "v" });
    });

    test("echo without ack comes back as an `echo` event", { timeout: 10_000 }, async () => {
      const args = ["s", 1, { o: [true] }];
      const got = next(socket, "echo");
      socket.emit("echo", ...args);
      assert.deepEqual(await got, args);
    });

    test("many events keep their order", { timeout: 10_000 }, async () => {
      const got = [];
      const done = new Promise((resolve) => {
        const onEcho = (i) => {
          got.push(i);
          if (got.length === 100) {
            socket.off("echo", onEcho);
            resolve();
          }
        };
        socket.on("echo", onEcho);
      });
      for (let i = 0; i < 100; i++) socket.emit("echo", i);
      await done;
      assert.deepEqual(got, Array.from({ length: 100 }, (_, i) => i));
    });

    test("the `id` ack returns this socket's id", { timeout: 10_000 }, async () => {
      assert.deepEqual(await emitAck(socket, "id"), [socket.id]);
    });
  });
}
