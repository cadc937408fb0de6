// Operations on the sockets of the whole cluster, started on every node: fetch (id, rooms,
// name from socket.data, handshake auth), sockets-join / sockets-leave (checked with fetch and
// with a room broadcast) and disconnect-sockets (the client sees "io server disconnect").
//
// A Node node applies sockets-join/leave to its own sockets only when its request comes back
// from Redis (classic) or after its publish was acknowledged (sharded), after it acked the
// control request: on a Node origin the fetch that checks it is repeated until it matches
// (bounded). A Portico origin must already answer the first fetch right (see README).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { once } from "../lib/server.js";
import { MODES, topology, withCluster, freshEvent, label, request, eventually, DELIVERY_TIMEOUT_MS } from "./lib.js";

const kinds = topology();

/** Room membership as the test made it, to compute what fetch must answer. */
class Model {
  constructor(clients) {
    this.rooms = new Map(clients.map((x) => [x, new Set()]));
  }

  join(clients, rooms) {
    for (const x of clients) for (const r of [rooms].flat()) this.rooms.get(x).add(r);
  }

  leave(clients, rooms) {
    for (const x of clients) for (const r of [rooms].flat()) this.rooms.get(x).delete(r);
  }

  members(room) {
    return [...this.rooms].filter(([, rooms]) => rooms.has(room)).map(([x]) => x);
  }

  /** The fetch answer for `clients`: sorted by name, rooms sorted, the socket id included. */
  entries(clients) {
    return clients
      .map((x) => ({
        id: x.socket.id,
        rooms: [x.socket.id, ...this.rooms.get(x)].sort(),
        name: x.name,
        auth: x.auth,
      }))
      .sort((p, q) => (p.name < q.name ? -1 : p.name > q.name ? 1 : 0));
  }
}

/** Fetches from node `origin`; a Node origin may need a few tries (see the file comment). */
async function expectFetch(c, origin, payload, expected, what) {
  const node = c.nodes[origin];
  const where = `fetch ${JSON.stringify(payload)} from ${label(node)} ${what}`;
  if (node.kind === "portico") {
    assert.deepEqual(await c.op(origin, "fetch", payload), expected, where);
    return;
  }
  let last;
  await eventually(async () => {
    last = await c.op(origin, "fetch", payload);
    return JSON.stringify(last) === JSON.stringify(expected) ? true : last;
  }, 3000, where).catch(() => assert.deepEqual(last, expected, where));
}

for (const mode of MODES) {
  describe(`cluster remote sockets [${kinds.join(",")}] ${mode.name}`, () => {
    test("fetch answers id, rooms, name and auth of the sockets of every node", { timeout: 20_000 }, () =>
      withCluster({ mode }, async (c) => {
        const model = new Model(c.clients);
        const a = c.clients.filter((x) => x.name.endsWith("-a"));
        const f2 = [c.clients.find((x) => x.name.endsWith("-b")), a[1]];
        await Promise.all(a.map((x) => request(x.socket, "join", "f1")));
        await Promise.all(f2.map((x) => request(x.socket, "join", "f2")));
        model.join(a, "f1");
        model.join(f2, "f2");
        const last = c.clients[c.clients.length - 1];
        for (let origin = 0; origin < c.size; origin += 1) {
          const from = label(c.nodes[origin]);
          assert.deepEqual(await c.op(origin, "fetch", {}), model.entries(c.clients), `fetch everyone from ${from}`);
          assert.deepEqual(await c.op(origin, "fetch", { rooms: "f1" }), model.entries(a), `fetch room f1 from ${from}`);
          assert.deepEqual(
            await c.op(origin, "fetch", { rooms: ["f1", "f2"] }),
            model.entries([...new Set([...a, ...f2])]),
            `fetch rooms [f1, f2] from ${from} (each socket once)`,
          );
          assert.deepEqual(await c.op(origin, "fetch", { rooms: "nobody-here" }), [], `fetch an empty room from ${from}`);
          assert.deepEqual(
            await c.op(origin, "fetch", { rooms: last.socket.id }),
            model.entries([last]),
            `fetch the socket id of ${last.name} (on ${label(last.node)}) from ${from}`,
          );
        }
      }),
    );

    test("sockets-join and sockets-leave reach the sockets of every node", { timeout: 30_000 }, () =>
      withCluster({ mode }, async (c) => {
        const model = new Model(c.clients);
        const a = c.clients.filter((x) => x.name.endsWith("-a"));
        await Promise.all(a.map((x) => request(x.socket, "join", "f1")));
        model.join(a, "f1");
        for (let origin = 0; origin < c.size; origin += 1) {
          const o = c.nodes[origin].name;
          const everyone = c.clients;

          assert.equal(await c.op(origin, "sockets-join", { rooms: "f1", join: `j-${o}` }), true);
          model.join(a, `j-${o}`);
          await expectFetch(c, origin, { rooms: `j-${o}` }, model.entries(a), "after sockets-join of room f1");

          assert.equal(await c.op(origin, "sockets-join", { join: [`all-${o}`, `both-${o}`] }), true);
          model.join(everyone, [`all-${o}`, `both-${o}`]);
          await expectFetch(c, origin, { rooms: `all-${o}` }, model.entries(everyone), "after sockets-join of everyone");

          assert.equal(await c.op(origin, "sockets-leave", { rooms: "f1", leave: `all-${o}` }), true);
          model.leave(a, `all-${o}`);
          const rest = everyone.filter((x) => !a.includes(x));
          await expectFetch(c, origin, { rooms: `all-${o}` }, model.entries(rest), "after sockets-leave of room f1");

          assert.equal(await c.op(origin, "sockets-leave", { leave: `both-${o}` }), true);
          model.leave(everyone, `both-${o}`);
          await expectFetch(c, origin, { rooms: `both-${o}` }, [], "after sockets-leave of everyone");
          await expectFetch(c, origin, {}, model.entries(everyone), "(every socket's rooms)");

          // the joined room is used for delivery on every node
          const event = freshEvent("joined");
          await c.expectDelivery({
            event,
            expected: a,
            origin,
            trigger: async () => assert.equal(await c.op(origin, "emit", { rooms: `j-${o}`, event, args: [o] }), true),
          });
        }
      }),
    );

    test("disconnect-sockets disconnects the sockets of every node (io server disconnect)", { timeout: 30_000 }, () =>
      withCluster({ mode }, async (c) => {
        const transports = ["websocket", "polling"];
        for (let origin = 0; origin < c.size; origin += 1) {
          const o = c.nodes[origin].name;
          const victims = [];
          for (let i = 0; i < c.size; i += 1) {
            victims.push(await c.connect(i, `v-${o}-${i}`, transports[(origin + i) % 2]));
          }
          await Promise.all(victims.map((v) => request(v.socket, "join", `doomed-${o}`)));
          const survivors = c.clients.filter((x) => !victims.includes(x));
          const reasons = victims.map((v) =>
            once(v.socket, "disconnect", DELIVERY_TIMEOUT_MS).catch(() => {
              throw new Error(`${v.name} (on ${label(v.node)}) was not disconnected by disconnect-sockets from ${label(c.nodes[origin])}`);
            }),
          );
          assert.equal(await c.op(origin, "disconnect-sockets", { rooms: `doomed-${o}` }), true);
          const got = await Promise.all(reasons);
          for (const [i, [reason]] of got.entries()) {
            assert.equal(reason, "io server disconnect", `${victims[i].name} disconnect reason`);
          }
          for (const v of victims) c.forget(v);
          await c.sentinel(origin, survivors);
          for (const x of survivors) assert.ok(x.socket.connected, `${x.name} is still connected`);
          const model = new Model(survivors);
          assert.deepEqual(await c.op(origin, "fetch", {}), model.entries(survivors), `fetch from ${label(c.nodes[origin])} after disconnect-sockets`);
        }

        // everyone, from the last node
        const reasons = c.clients.map((x) => once(x.socket, "disconnect", DELIVERY_TIMEOUT_MS).then(([r]) => [x.name, r]));
        assert.equal(await c.op(c.size - 1, "disconnect-sockets", {}), true);
        const got = await Promise.all(reasons);
        assert.deepEqual(got, c.clients.map((x) => [x.name, "io server disconnect"]), "disconnect-sockets of everyone");
      }),
    );
  });
}
