// Connection state recovery: after a forced transport close, a client that reconnects in time
// gets its socket id, rooms and data back, and the events emitted meanwhile, in order.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, emitAck, next, record } from "../lib/client.js";

for (const transports of [["websocket"], ["polling"]]) {
  describe(`connection state recovery (--recovery) over ${transports[0]}`, () => {
    let server;
    let clients;
    serverForSuite({ args: ["--recovery"] }, (s) => (server = s), () => clients);

    test("a forced transport close is recovered: same id, rooms, data, missed events in order", { timeout: 15_000 }, async () => {
      clients = new Clients(server.url);
      const opts = { transports, reconnection: true, reconnectionDelay: 300, randomizationFactor: 0 };
      const a = await clients.connect("/", opts);
      const b = await clients.connect("/", { transports: ["websocket"] });
      assert.equal(a.recovered, false);
      assert.deepEqual(await emitAck(a, "recovered"), [false]);
      await emitAck(a, "join", "rec");
      await emitAck(a, "set-data", { user: "ann" });
      const id = a.id;
      const before = record(a, "room-message");
      // One event before the drop: the client then holds an offset.
      const first = next(a, "room-message");
      b.emit("to-room", "rec", "m0");
      await first;
      const dropped = next(a, "disconnect", 5000);
      a.emit("kill-transport");
      assert.equal((await dropped)[0], "transport close");
      // While `a` is away (it waits 300 ms before reconnecting), two events for its room.
      const reconnected = next(a, "connect", 10_000);
      b.emit("to-room", "rec", "m1");
      b.emit("to-room", "rec", "m2");
      await emitAck(b, "id"); // b's events were processed before this ack
      await reconnected;
      assert.equal(a.recovered, true, "the client saw the same private id");
      assert.equal(a.id, id, "same socket id");
      const gotAll = before.length >= 3 ? Promise.resolve() : new Promise((resolve) => {
        a.on("room-message", () => before.length >= 3 && resolve());
      });
      await gotAll;
      // The offset the server appends is the last argument; the payload comes first.
      assert.deepEqual(before.map((args) => args[0]), ["m0", "m1", "m2"]);
      assert.deepEqual(await emitAck(a, "recovered"), [true]);
      const [rooms] = await emitAck(a, "join", "another");
      assert.deepEqual(rooms, [id, "another", "rec"].sort());
      const [mine] = await emitAck(a, "fetch", "rec");
      assert.deepEqual(mine.map((x) => x.data), [{ user: "ann" }]);
    });

    test("a client that left on purpose starts fresh", { timeout: 15_000 }, async () => {
      clients = new Clients(server.url);
      const a = await clients.connect("/", { transports });
      const id = a.id;
      a.disconnect();
      a.connect();
      await next(a, "connect", 5000);
      assert.equal(a.recovered, false);
      assert.notEqual(a.id, id);
    });
  });
}
