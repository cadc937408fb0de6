// @socket.io/redis-emitter 5.1.0 (a process with no Socket.IO server, publishing on Redis)
// reaches the clients of every node: broadcast (with binary), to a room, except, to a socket id,
// socketsJoin / socketsLeave and disconnectSockets. Classic mode only: the emitter publishes
// with plain PUBLISH, which sharded nodes never see.
//
// The emitter's messages travel on one Redis connection, so every node handles them in order:
// a broadcast after socketsJoin already reaches the joined sockets, and an emitter broadcast
// to everyone is the sentinel that proves who did NOT receive an earlier one.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "redis";
import redisEmitter from "@socket.io/redis-emitter";
import { once } from "../lib/server.js";
import { isBinary, toBuffer } from "../lib/client.js";
import { MODES, topology, withCluster, freshEvent, label, request, REDIS_URL, DELIVERY_TIMEOUT_MS } from "./lib.js";

const { Emitter } = redisEmitter;
const kinds = topology();
const mode = MODES.find((m) => !m.sharded);

describe(`cluster redis-emitter [${kinds.join(",")}] ${mode.name}`, () => {
  test("emitter broadcast, rooms, except, socket id, socketsJoin/Leave and disconnectSockets reach every node", { timeout: 30_000 }, () =>
    withCluster({ mode }, async (c) => {
      const redis = createClient({ url: REDIS_URL });
      redis.on("error", () => {});
      await redis.connect();
      try {
        const emitter = new Emitter(redis, { key: c.keyPrefix });
        const sentinel = async () => {
          const event = freshEvent("em-sentinel");
          const arrivals = c.clients.map((x) => once(x.socket, event, DELIVERY_TIMEOUT_MS).catch(() => {
            throw new Error(`emitter sentinel did not reach ${x.name} (on ${label(x.node)})`);
          }));
          emitter.emit(event);
          await Promise.all(arrivals);
        };
        const check = async (what, expected, send, args) => {
          const event = freshEvent("em");
          const got = await c.expectDelivery({ event, expected, origin: sentinel, trigger: async () => send(event) })
            .catch((err) => {
              err.message = `emitter ${what}: ${err.message}`;
              throw err;
            });
          if (args) for (const [name, received] of Object.entries(got)) assert.deepEqual(received, args, `${name}, emitter ${what}`);
          return got;
        };

        const a = c.clients.filter((x) => x.name.endsWith("-a"));
        await Promise.all(a.map((x) => request(x.socket, "join", "r1")));

        const bin = Buffer.from([1, 2, 3]);
        const got = await check("broadcast to everyone", c.clients, (ev) => emitter.emit(ev, "hi", { bin }));
        for (const [name, [s, { bin: b }]] of Object.entries(got)) {
          assert.equal(s, "hi", name);
          assert.ok(isBinary(b), `${name}: the emitter's binary argument arrives as binary`);
          assert.deepEqual(toBuffer(b), bin, name);
        }

        await check("to room r1", a, (ev) => emitter.to("r1").emit(ev, 1), [1]);
        await check("to r1 except a socket id", a.slice(1), (ev) => emitter.to("r1").except(a[0].socket.id).emit(ev, 2), [2]);
        const target = c.clients[c.clients.length - 1];
        await check(`to the socket id of ${target.name}`, [target], (ev) => emitter.to(target.socket.id).emit(ev, 3), [3]);

        emitter.in("r1").socketsJoin("em-joined");
        await check("to em-joined after socketsJoin", a, (ev) => emitter.to("em-joined").emit(ev, 4), [4]);
        for (let origin = 0; origin < c.size; origin += 1) {
          const members = await c.op(origin, "fetch", { rooms: "em-joined" });
          assert.deepEqual(members.map((m) => m.name), a.map((x) => x.name), `fetch em-joined from ${label(c.nodes[origin])}`);
        }
        emitter.in("r1").socketsLeave("em-joined");
        await check("to em-joined after socketsLeave", [], (ev) => emitter.to("em-joined").emit(ev, 5));

        const victims = [];
        for (let i = 0; i < c.size; i += 1) victims.push(await c.connect(i, `victim-${i}`, i % 2 ? "polling" : "websocket"));
        await Promise.all(victims.map((v) => request(v.socket, "join", "doomed")));
        const reasons = victims.map((v) => once(v.socket, "disconnect", DELIVERY_TIMEOUT_MS).then(([r]) => [v.name, r]));
        emitter.in("doomed").disconnectSockets();
        assert.deepEqual(await Promise.all(reasons), victims.map((v) => [v.name, "io server disconnect"]));
        for (const v of victims) c.forget(v);
        await sentinel();
        for (const x of c.clients) assert.ok(x.socket.connected, `${x.name} is still connected`);
      } finally {
        await redis.disconnect();
      }
    }),
  );
});
