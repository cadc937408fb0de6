// Binary in both directions (Buffer / Uint8Array arguments, nested in objects and arrays),
// checked byte for byte, over each transport.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { startServer } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, isBinary, next, toBuffer } from "../lib/client.js";

function assertBytes(actual, expected, where = "value") {
  assert.ok(isBinary(actual), `${where} should be binary, got ${JSON.stringify(actual)?.slice(0, 200)}`);
  assert.ok(toBuffer(actual).equals(Buffer.from(expected)), `${where}: bytes differ`);
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

for (const mode of TRANSPORT_MODES) {
  describe(`binary over ${mode.name}`, () => {
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

    test("a Buffer argument comes back byte for byte (ack)", { timeout: 10_000 }, async () => {
      const [reply] = await emitAck(socket, "echo", ALL_BYTES);
      assertBytes(reply, ALL_BYTES);
    });

    test("a Uint8Array argument comes back byte for byte (ack)", { timeout: 10_000 }, async () => {
      const bytes = Uint8Array.from([0, 1, 2, 0x1e, 0x3a, 0xff, 0xfe, 0x80]);
      const [reply] = await emitAck(socket, "echo", bytes);
      assertBytes(reply, bytes);
    });

    test("an empty Buffer", { timeout: 10_000 }, async () => {
      const [reply] = await emitAck(socket, "echo", Buffer.alloc(0));
      assertBytes(reply, Buffer.alloc(0));
    });

    test("binary nested in objects and arrays, mixed with JSON", { timeout: 10_000 }, async () => {
      const a = randomBytes(64);
      const b = randomBytes(3);
      const c = Uint8Array.from([9, 8, 7]);
      const payload = { name: "blob", inner: { a, list: ["x", b, { c }] }, n: 1 };
      const [reply, second, third] = await emitAck(socket, "echo", payload, "plain", b);
      assert.equal(reply.name, "blob");
      assert.equal(reply.n, 1);
      assertBytes(reply.inner.a, a, "inner.a");
      assert.equal(reply.inner.list[0], "x");
      assertBytes(reply.inner.list[1], b, "inner.list[1]");
      assertBytes(reply.inner.list[2].c, c, "inner.list[2].c");
      assert.equal(second, "plain");
      assertBytes(third, b, "third argument");
    });

    test("several binary arguments without ack come back as an `echo` event", { timeout: 10_000 }, async () => {
      const parts = [randomBytes(10), randomBytes(1), randomBytes(1000)];
      const got = next(socket, "echo");
      socket.emit("echo", ...parts);
      const args = await got;
      assert.equal(args.length, 3);
      args.forEach((arg, i) => assertBytes(arg, parts[i], `argument ${i}`));
    });

    test("a large binary payload (200 KiB)", { timeout: 10_000 }, async () => {
      const big = randomBytes(200 * 1024);
      const [reply] = await emitAck(socket, "echo", { big });
      assertBytes(reply.big, big, "big");
    });

    test("binary and text events interleaved keep their order", { timeout: 10_000 }, async () => {
      const sent = Array.from({ length: 20 }, (_, i) => (i % 2 ? randomBytes(i) : `text-${i}`));
      const replies = await Promise.all(sent.map((v) => emitAck(socket, "echo", v)));
      replies.forEach(([reply], i) => {
        if (typeof sent[i] === "string") assert.equal(reply, sent[i]);
        else assertBytes(reply, sent[i], `reply ${i}`);
      });
    });

    test("an object that only looks like a placeholder stays JSON", { timeout: 10_000 }, async () => {
      // no attachments: the server must not try to resolve a placeholder in a plain event
      const fake = { _placeholder: false, num: 0 };
      assert.deepEqual(await emitAck(socket, "echo", fake), [fake]);
    });
  });
}
