// Rooms: join/leave, emitting to a room, broadcast excluding the sender, `except`.
//
// "X did not receive Y" is proven without sleeping: after Y reached everyone who should get it,
// a sentinel event is sent that X does receive; the server delivers in order, so if Y had been
// sent to X it would have arrived before the sentinel.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, TRANSPORT_MODES, emitAck, next, record } from "../lib/client.js";

for (const mode of TRANSPORT_MODES) {
  describe(`rooms over ${mode.name}`, () => {
    let server;
    let clients;
    serverForSuite({}, (s) => (server = s), () => clients);

    async function three() {
      clients = new Clients(server.url);
      return Promise.all([0, 1, 2].map(() => clients.connect("/", mode.opts)));
    }

    /** `from` broadcasts a sentinel; resolves once each of `targets` received it. */
    async function sentinel(from, targets, tag) {
      const got = targets.map((t) =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`sentinel ${tag} not received`)), 5000);
          const onB = (p) => {
            if (p === tag) {
              clearTimeout(timer);
              t.off("broadcast", onB);
              resolve();
            }
          };
          t.on("broadcast", onB);
        }),
      );
      from.emit("broadcast", tag);
      await Promise.all(got);
    }

    test("join and leave answer the sorted room list, including the socket's own id", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const a = await clients.connect("/", mode.opts);
      assert.deepEqual(await emitAck(a, "join", "r1"), [[a.id, "r1"].sort()]);
      assert.deepEqual(await emitAck(a, "join", "a-room"), [[a.id, "r1", "a-room"].sort()]);
      assert.deepEqual(await emitAck(a, "join", "r1"), [[a.id, "r1", "a-room"].sort()], "joining twice is a no-op");
      assert.deepEqual(await emitAck(a, "leave", "r1"), [[a.id, "a-room"].sort()]);
      assert.deepEqual(await emitAck(a, "leave", "not-joined"), [[a.id, "a-room"].sort()]);
      assert.deepEqual(await emitAck(a, "leave", "a-room"), [[a.id]]);
    });

    test("to-room reaches the members (sender included) and no one else", { timeout: 10_000 }, async () => {
      const [a, b, c] = await three();
      await emitAck(a, "join", "r1");
      await emitAck(b, "join", "r1");
      const cSeen = record(c, "room-message");
      const aGot = next(a, "room-message");
      const bGot = next(b, "room-message");
      a.emit("to-room", "r1", { hello: "members" });
      assert.deepEqual(await aGot, [{ hello: "members" }]);
      assert.deepEqual(await bGot, [{ hello: "members" }]);
      await sentinel(a, [c], "s1");
      assert.deepEqual(cSeen, [], "a non-member received a room message");
    });

    test("to-room from a non-member reaches the members only", { timeout: 10_000 }, async () => {
      const [a, b, c] = await three();
      await emitAck(a, "join", "r2");
      const bSeen = record(b, "room-message");
      const cSeen = record(c, "room-message");
      const aGot = next(a, "room-message");
      c.emit("to-room", "r2", "from outside");
      assert.deepEqual(await aGot, ["from outside"]);
      await sentinel(a, [b, c], "s2");
      assert.deepEqual(bSeen, []);
      assert.deepEqual(cSeen, [], "the non-member sender received the room message");
    });

    test("a socket that left a room no longer receives its messages", { timeout: 10_000 }, async () => {
      const [a, b] = await three();
      await emitAck(a, "join", "r3");
      await emitAck(b, "join", "r3");
      assert.deepEqual(await emitAck(a, "leave", "r3"), [[a.id]]);
      const aSeen = record(a, "room-message");
      const bGot = next(b, "room-message");
      b.emit("to-room", "r3", "after leave");
      assert.deepEqual(await bGot, ["after leave"]);
      await sentinel(b, [a], "s3");
      assert.deepEqual(aSeen, []);
    });

    test("every socket is in a room named after its id", { timeout: 10_000 }, async () => {
      const [a, b] = await three();
      const bGot = next(b, "room-message");
      a.emit("to-room", b.id, "direct");
      assert.deepEqual(await bGot, ["direct"]);
    });

    test("broadcast reaches every other socket but not the sender", { timeout: 10_000 }, async () => {
      const [a, b, c] = await three();
      const aSeen = record(a, "broadcast");
      const bGot = next(b, "broadcast");
      const cGot = next(c, "broadcast");
      a.emit("broadcast", { from: "a" });
      assert.deepEqual(await bGot, [{ from: "a" }]);
      assert.deepEqual(await cGot, [{ from: "a" }]);
      await sentinel(b, [a], "s4");
      assert.deepEqual(aSeen, [["s4"]], "the sender received its own broadcast");
    });

    test("except(room) reaches everyone outside the room, sender included", { timeout: 10_000 }, async () => {
      const [a, b, c] = await three();
      await emitAck(a, "join", "vip");
      await emitAck(b, "join", "vip");
      const aSeen = record(a, "except-message");
      const bSeen = record(b, "except-message");
      const cGot = next(c, "except-message");
      c.emit("except-room", "vip", "not for vips");
      assert.deepEqual(await cGot, ["not for vips"]);
      await sentinel(c, [a, b], "s5");
      assert.deepEqual(aSeen, []);
      assert.deepEqual(bSeen, []);
    });

    test("rooms are per socket: a disconnected member no longer counts", { timeout: 10_000 }, async () => {
      const [a, b] = await three();
      await emitAck(a, "join", "r4");
      await emitAck(b, "join", "r4");
      const bGone = next(b, "disconnect");
      b.disconnect();
      await bGone;
      const aGot = next(a, "room-message");
      a.emit("to-room", "r4", "still works");
      assert.deepEqual(await aGot, ["still works"]);
    });
  });
}
