// socket.io-client 2.x (Engine.IO v3, Socket.IO protocol v4) against a server started with
// --allow-eio3; and without the switch, the reference refusal (400 code 5).

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { startServer, once } from "../lib/server.js";
import { eioUrl, request } from "../lib/raw.js";

const require = createRequire(import.meta.url);
const ioV2 = require("socket.io-client-v2");

/**
 * Connects a 2.x client; resolves once `connect` fires (rejects on error/timeout). Events named
 * in `early` are listened to from the start (they may arrive with the connect itself):
 * `socket.early[name]` is a promise of their arguments.
 */
function connectV2(url, opts = {}, early = []) {
  const socket = ioV2(url, { forceNew: true, reconnection: false, ...opts });
  socket.early = Object.fromEntries(early.map((ev) => [ev, once(socket, ev, 5000)]));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connect within 5 s")), 5000);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once("error", (e) => {
      clearTimeout(timer);
      socket.close();
      reject(Object.assign(new Error("error event"), { data: e }));
    });
    socket.once("connect_error", (e) => {
      clearTimeout(timer);
      socket.close();
      reject(e);
    });
  });
}

function ack(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), 5000);
    socket.emit(event, ...args, (...reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

for (const transports of [["polling"], ["websocket"], ["polling", "websocket"]]) {
  describe(`socket.io-client 2.x over ${transports.join("+")} (--allow-eio3)`, () => {
    let server;
    before(async () => {
      server = await startServer({ args: ["--allow-eio3"] });
    });
    after(async () => {
      await server?.stop();
    });

    test("joins / implicitly; acks, binary and server events work", { timeout: 15_000 }, async () => {
      const s = await connectV2(server.url, { transports });
      try {
        assert.deepEqual(await ack(s, "echo", "a", { n: 1 }), ["a", { n: 1 }]);
        const bin = Buffer.from([1, 2, 3, 255]);
        const [back] = await ack(s, "echo", bin);
        assert.ok(Buffer.from(back).equals(bin));
        s.on("need-ack", (data, cb) => cb({ got: data }));
        const result = once(s, "request-ack-result", 5000);
        s.emit("request-ack", { timeoutMs: 2000 });
        assert.deepEqual((await result)[0], { ok: true, reply: { got: { n: 1 } } });
        if (transports.length === 2) {
          if (s.io.engine.transport.name !== "websocket") await once(s.io.engine, "upgrade", 5000);
          assert.equal(s.io.engine.transport.name, "websocket");
        }
      } finally {
        s.close();
      }
    });

    test("the public socket id is not the Engine.IO session id", { timeout: 15_000 }, async () => {
      const s = await connectV2(server.url, { transports });
      try {
        const [serverId] = await ack(s, "id");
        assert.equal(typeof serverId, "string");
        assert.notEqual(serverId, s.io.engine.id);
      } finally {
        s.close();
      }
    });

    test("namespaces: query as auth, middleware refusal, invalid namespace", { timeout: 15_000 }, async () => {
      const custom = await connectV2(server.url + "/custom", { transports, query: { token: "abc" } }, ["auth"]);
      try {
        const [auth] = await custom.early.auth;
        assert.equal(auth.token, "abc");
      } finally {
        custom.close();
      }
      const refused = await connectV2(server.url + "/admin", { transports, query: { token: "wrong" } }).catch((e) => e);
      assert.deepEqual(refused.data, { code: 401 }, "2.x clients receive the data of the refusal");
      const admin = await connectV2(server.url + "/admin", { transports, query: { token: "secret" } });
      admin.close();
      const invalid = await connectV2(server.url + "/nope", { transports }).catch((e) => e);
      assert.equal(invalid.data, "Invalid namespace");
    });

    test("server-side disconnect is seen as io server disconnect", { timeout: 15_000 }, async () => {
      const s = await connectV2(server.url, { transports });
      const gone = once(s, "disconnect", 5000);
      s.emit("server-disconnect");
      assert.equal((await gone)[0], "io server disconnect");
      s.close();
    });
  });
}

describe("without --allow-eio3", () => {
  let server;
  before(async () => {
    server = await startServer();
  });
  after(async () => {
    await server?.stop();
  });

  test("an Engine.IO v3 handshake gets 400 code 5", { timeout: 10_000 }, async () => {
    const res = await request(eioUrl(server.url, { EIO: "3" }));
    assert.equal(res.status, 400);
    assert.deepEqual(JSON.parse(res.text), { code: 5, message: "Unsupported protocol version" });
  });
});
