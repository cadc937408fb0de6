// The server API beyond the basics: catch-all listeners, per-socket event middleware,
// `disconnecting` with rooms, socket data and server-wide operations (fetch, join, leave,
// disconnect), broadcast with acknowledgements, volatile emits, server count.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, onceMatching, serverForSuite } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, next, record } from "../lib/client.js";

for (const mode of TRANSPORT_MODES) {
  describe(`server API over ${mode.name}`, () => {
    let server;
    let clients;
    serverForSuite({}, (s) => (server = s), () => clients);

    test("on_any sees incoming events, on_any_outgoing the socket's emits", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = await clients.connect("/", mode.opts);
      const echoed = next(s, "echo");
      s.emit("echo", "x");
      await echoed;
      const [log] = await emitAck(s, "any-log");
      assert.deepEqual(log.incoming, ["echo", "any-log"]);
      assert.deepEqual(log.outgoing, ["echo"]);
    });

    test("event middleware: an error reaches the client, a silent drop does not, others pass", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = await clients.connect("/", mode.opts);
      const errors = record(s, "error");
      const errorEvent = next(s, "error");
      const [reply] = await emitAck(s, "forbidden", 1);
      assert.deepEqual(reply, { error: "not allowed" });
      assert.deepEqual((await errorEvent)[0], { event: "forbidden", message: "not allowed" });
      await assert.rejects(s.timeout(300).emitWithAck("silently-dropped", 1));
      assert.deepEqual(await emitAck(s, "echo", "still"), ["still"]);
      assert.equal(errors.length, 1, "the silent drop sent no error event");
      const [log] = await emitAck(s, "any-log");
      assert.ok(!log.incoming.includes("forbidden"), "stopped events never reach on_any");
    });

    test("disconnecting still sees the socket's rooms", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const w = await clients.connect("/", { transports: ["websocket"] });
      assert.deepEqual(await emitAck(w, "watch-disconnects"), [true]);
      const s = await clients.connect("/", mode.opts);
      const sid = s.id;
      await emitAck(s, "join", "r-disconnecting");
      const seen = onceMatching(w, "peer-disconnecting", (i) => i?.sid === sid, 5000);
      s.disconnect();
      const [info] = await seen;
      assert.equal(info.reason, "client namespace disconnect");
      assert.deepEqual(info.rooms, [sid, "r-disconnecting"].sort());
    });

    test("socket data and fetch_sockets, all and by room", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const a = await clients.connect("/", mode.opts);
      const b = await clients.connect("/", mode.opts);
      await emitAck(a, "set-data", { user: "ann" });
      await emitAck(b, "set-data", { user: "bob" });
      await emitAck(b, "join", "fetch-room");
      const [all] = await emitAck(a, "fetch");
      const byId = Object.fromEntries(all.map((x) => [x.id, x]));
      assert.deepEqual(byId[a.id].data, { user: "ann" });
      assert.deepEqual(byId[b.id].data, { user: "bob" });
      const [inRoom] = await emitAck(a, "fetch", "fetch-room");
      assert.deepEqual(inRoom.map((x) => x.id), [b.id]);
      assert.deepEqual(inRoom[0].rooms, [b.id, "fetch-room"].sort());
    });

    test("sockets_join / sockets_leave move a whole selection", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const a = await clients.connect("/", mode.opts);
      const b = await clients.connect("/", mode.opts);
      const c = await clients.connect("/", mode.opts);
      await emitAck(a, "join", "src");
      await emitAck(b, "join", "src");
      await emitAck(c, "sockets-join", "src", "dst");
      const [dst] = await emitAck(c, "fetch", "dst");
      assert.deepEqual(dst.map((x) => x.id).sort(), [a.id, b.id].sort());
      await emitAck(c, "sockets-leave", "src", "dst");
      const [after] = await emitAck(c, "fetch", "dst");
      assert.deepEqual(after, []);
    });

    test("disconnect_sockets on a room → its members see io server disconnect", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const a = await clients.connect("/", mode.opts);
      const other = await clients.connect("/", mode.opts);
      await emitAck(a, "join", "doomed");
      const gone = next(a, "disconnect", 5000);
      await emitAck(other, "disconnect-room", "doomed", false);
      assert.equal((await gone)[0], "io server disconnect");
      assert.ok(other.connected);
    });

    test("disconnect_sockets(close) → its members see io server disconnect, not transport close", { timeout: 10_000 }, async () => {
      // Over polling the DISCONNECT and the close packet must not share one response: the
      // client handles a decoded packet on the next tick, after the close in the same payload.
      clients = new Clients(server.url);
      const a = await clients.connect("/", mode.opts);
      const other = await clients.connect("/", mode.opts);
      await emitAck(a, "join", "doomed-close");
      const gone = next(a, "disconnect", 5000);
      await emitAck(other, "disconnect-room", "doomed-close", true);
      assert.equal((await gone)[0], "io server disconnect");
      assert.ok(other.connected);
    });

    test("broadcast with acks: replies and timeouts per socket", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const yes = await clients.connect("/", mode.opts);
      const silent = await clients.connect("/", mode.opts);
      const asker = await clients.connect("/", mode.opts);
      yes.on("poll", (q, ack) => ack({ answer: "yes", q }));
      silent.on("poll", () => {}); // never acknowledges
      await emitAck(yes, "join", "pollers");
      await emitAck(silent, "join", "pollers");
      const [results] = await emitAck(asker, "broadcast-ack", "pollers", 300);
      const bySid = Object.fromEntries(results.map((r) => [r.sid, r]));
      assert.deepEqual(bySid[yes.id], { sid: yes.id, ok: true, reply: { answer: "yes", q: { q: "ready?" } } });
      assert.deepEqual(bySid[silent.id], { sid: silent.id, ok: false, error: "operation has timed out" });
      assert.equal(results.length, 2);
    });

    test("volatile: what the transport cannot take at once is dropped, the rest arrives", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = await clients.connect("/", mode.opts);
      const got = record(s, "v");
      const [sent] = await emitAck(s, "volatile-burst", 100);
      // Packets leave in order: every volatile packet that was sent is in before the ack.
      assert.equal(got.length, sent);
      assert.ok(sent < 100, `a burst of 100 cannot all be writable at once (sent ${sent})`);
      assert.deepEqual(got.map(([i]) => i), [...Array(sent).keys()].map((k) => got[k][0]));
    });

    test("server_count is 1 on a single node", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = await clients.connect("/", mode.opts);
      assert.deepEqual(await emitAck(s, "server-count"), [1]);
    });
  });
}
