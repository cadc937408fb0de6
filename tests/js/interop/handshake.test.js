// The `handshake` ack mirrors Node's socket.handshake: headers, query, auth, address, time,
// issued, url, xdomain, secure.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck } from "../lib/client.js";

for (const mode of TRANSPORT_MODES) {
  describe(`handshake over ${mode.name}`, () => {
    let server;
    let clients;
    serverForSuite({}, (s) => (server = s), () => clients);

    test("the handshake ack carries query, auth, headers, address, time and url", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const before = Date.now(); // wall clock: compared with the server's handshake time
      const socket = await clients.connect("/", {
        ...mode.opts,
        query: { foo: "bar", "sp ace": "a&b=c" },
        auth: { token: "t-123", n: 7 },
        extraHeaders: { "x-portico-test": "yes" },
      });
      const [h] = await emitAck(socket, "handshake");
      const afterMs = Date.now(); // wall clock: as `before`

      // query: an object of strings, from the first request of the session
      assert.equal(typeof h.query, "object");
      assert.equal(h.query.foo, "bar");
      assert.equal(h.query["sp ace"], "a&b=c", "query values are percent-decoded");
      assert.equal(h.query.EIO, "4");
      assert.equal(h.query.transport, mode.name);
      for (const [k, v] of Object.entries(h.query)) assert.equal(typeof v, "string", `query.${k}`);

      assert.deepEqual(h.auth, { token: "t-123", n: 7 });

      // headers: lower-case names, as received on the first request
      assert.equal(typeof h.headers, "object");
      assert.equal(h.headers.host, `127.0.0.1:${server.port}`);
      assert.equal(h.headers["x-portico-test"], "yes");
      for (const k of Object.keys(h.headers)) assert.equal(k, k.toLowerCase(), `header name ${k}`);

      assert.match(h.address, /^(::ffff:)?127\.0\.0\.1$/);

      // time: a Date string; issued: milliseconds since the epoch
      assert.equal(typeof h.time, "string");
      const parsed = Date.parse(h.time);
      assert.ok(!Number.isNaN(parsed), `time ${h.time} should parse as a date`);
      assert.ok(Math.abs(parsed - before) < 60_000, `time ${h.time} should be now`);
      assert.equal(typeof h.issued, "number");
      assert.ok(h.issued >= before - 1000 && h.issued <= afterMs + 1000, `issued ${h.issued} should be now`);

      // url: the path and query of the first request
      assert.equal(typeof h.url, "string");
      assert.ok(h.url.startsWith("/socket.io/?"), `url ${h.url}`);
      const q = new URLSearchParams(h.url.slice(h.url.indexOf("?") + 1));
      assert.equal(q.get("EIO"), "4");
      assert.equal(q.get("transport"), mode.name);
      assert.equal(q.get("foo"), "bar");

      assert.equal(h.xdomain, false, "no Origin header was sent");
      assert.equal(h.secure, false);
    });

    test("an Origin header makes xdomain true", { timeout: 10_000 }, async () => {
      // Portico serves only its own origin by default: send exactly that one.
      const own = new URL(server.url).origin;
      clients = new Clients(server.url);
      const socket = await clients.connect("/", {
        ...mode.opts,
        extraHeaders: { origin: own },
      });
      const [h] = await emitAck(socket, "handshake");
      assert.equal(h.xdomain, true);
      assert.equal(h.headers.origin, own);
    });

    test("a foreign Origin is refused by default (Node would accept it)", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      await assert.rejects(
        clients.connect("/", { ...mode.opts, reconnection: false, extraHeaders: { origin: "http://example.test" } }),
        /connect_error/,
      );
    });

    test("without auth the handshake auth is an empty object", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const socket = await clients.connect("/", mode.opts);
      const [h] = await emitAck(socket, "handshake");
      assert.deepEqual(h.auth, {});
    });
  });
}
