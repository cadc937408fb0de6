// The msgpack parser (socket.io-msgpack-parser from npm) against a server started with
// --msgpack: events, binary both ways, acks both ways, namespaces, middleware errors.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, emitAck, next, toBuffer } from "../lib/client.js";

const require = createRequire(import.meta.url);
const parser = require("socket.io-msgpack-parser");

for (const transports of [["polling"], ["websocket"], ["polling", "websocket"]]) {
  describe(`msgpack parser over ${transports.join("+")}`, () => {
    let server;
    let clients;
    serverForSuite({ args: ["--msgpack"] }, (s) => (server = s), () => clients);
    const opts = { transports, parser };

    test("events and acks with nested binary round-trip", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = await clients.connect("/", opts);
      const bin = Buffer.from([0, 1, 2, 250, 255]);
      const reply = await emitAck(s, "echo", "text", { nested: bin, n: 1.5 }, [bin]);
      assert.equal(reply[0], "text");
      assert.equal(reply[1].n, 1.5);
      assert.ok(toBuffer(reply[1].nested).equals(bin));
      assert.ok(toBuffer(reply[2][0]).equals(bin));
      const echoed = next(s, "echo");
      s.emit("echo", bin);
      assert.ok(toBuffer((await echoed)[0]).equals(bin));
    });

    test("server → client ack, and a namespace with a middleware error", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = await clients.connect("/", opts);
      s.on("need-ack", (data, ack) => ack({ got: data }));
      const result = next(s, "request-ack-result");
      s.emit("request-ack", { timeoutMs: 2000 });
      assert.deepEqual((await result)[0], { ok: true, reply: { got: { n: 1 } } });
      const admin = clients.socket("/admin", { ...opts, auth: { token: "nope" }, reconnection: false });
      const [err] = await next(admin, "connect_error", 5000);
      assert.equal(err.message, "not authorized");
      assert.deepEqual(err.data, { code: 401 });
      const custom = clients.socket("/custom", { ...opts, auth: { a: 1 } });
      assert.deepEqual(await next(custom, "auth"), [{ a: 1 }]);
    });
  });
}

describe("a JSON client against a msgpack server is refused cleanly", () => {
  let server;
  before(async () => {
    server = await startServer({ args: ["--msgpack"] });
  });
  after(async () => {
    await server?.stop();
  });

  test("the connection is closed, the server keeps serving msgpack clients", { timeout: 10_000 }, async () => {
    const clients = new Clients(server.url);
    try {
      const wrong = clients.socket("/", { transports: ["websocket"], reconnection: false });
      await assert.rejects(new Promise((resolve, reject) => {
        wrong.on("connect", resolve);
        wrong.on("connect_error", reject);
        wrong.io.on("close", () => reject(new Error("closed")));
      }));
      const right = await clients.connect("/", { transports: ["websocket"], parser });
      assert.deepEqual(await emitAck(right, "echo", 1), [1]);
    } finally {
      clients.closeAll();
    }
  });
});
