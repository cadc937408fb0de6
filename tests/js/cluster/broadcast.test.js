// Broadcasts started on every node reach the right sockets on every node: to everyone, to one
// room, to several rooms (each socket once), `except`, a socket id as a room (20 characters,
// which the adapter takes for a socket id), a public room whose name is also 20 characters,
// and binary arguments (top level and nested) arriving as binary.
//
// "X did not receive it" is proven without sleeping: after the expected clients received the
// event, the same node broadcasts a sentinel to everyone; broadcasts from one node reach each
// client in order, so anything sent to X would have arrived before the sentinel.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { isBinary, toBuffer } from "../lib/client.js";
import { MODES, topology, withCluster, freshEvent, label, request } from "./lib.js";

const kinds = topology();
const TWENTY = "twenty-char-room-xyz";
assert.equal(TWENTY.length, 20);

/** Joins the rooms of the layout: r1 = every "-a" client, r2 = n0-b and n1-a, TWENTY = every "-b". */
async function layout(c) {
  const rooms = new Map();
  const joins = [];
  const add = (client, room) => {
    joins.push(request(client.socket, "join", room).then((ok) => assert.equal(ok, true)));
    rooms.set(room, [...(rooms.get(room) ?? []), client]);
  };
  const a = c.clients.filter((x) => x.name.endsWith("-a"));
  const b = c.clients.filter((x) => x.name.endsWith("-b"));
  for (const x of a) add(x, "r1");
  add(b[0], "r2");
  add(a[1], "r2");
  for (const x of b) add(x, TWENTY);
  await Promise.all(joins);
  return { r1: rooms.get("r1"), r2: rooms.get("r2"), twenty: rooms.get(TWENTY), a, b };
}

for (const mode of MODES) {
  describe(`cluster broadcast [${kinds.join(",")}] ${mode.name}`, () => {
    test("to everyone, to rooms, except, to a socket id and to a 20-character room, from every node", { timeout: 30_000 }, () =>
      withCluster({ mode }, async (c) => {
        const { r1, r2, twenty, b } = await layout(c);
        const union = [...new Set([...r1, ...r2])];
        const cases = [
          { what: "everyone", payload: {}, expected: c.clients },
          { what: "room r1", payload: { rooms: "r1" }, expected: r1 },
          { what: "rooms [r1, r2] (each member once)", payload: { rooms: ["r1", "r2"] }, expected: union },
          { what: "everyone except r1", payload: { except: "r1" }, expected: c.clients.filter((x) => !r1.includes(x)) },
          { what: "r2 except r1", payload: { rooms: "r2", except: ["r1"] }, expected: r2.filter((x) => !r1.includes(x)) },
          { what: `the 20-character public room ${TWENTY}`, payload: { rooms: TWENTY }, expected: twenty },
          ...b.map((target) => ({
            what: `socket id of ${target.name} (on ${label(target.node)})`,
            payload: { rooms: target.socket.id },
            expected: [target],
          })),
          {
            what: "everyone except a socket id",
            payload: { except: b[b.length - 1].socket.id },
            expected: c.clients.filter((x) => x !== b[b.length - 1]),
          },
        ];
        for (const target of b) assert.equal(target.socket.id.length, 20, `socket id of ${target.name} is 20 characters`);
        for (let origin = 0; origin < c.size; origin += 1) {
          for (const k of cases) {
            const event = freshEvent("bcast");
            const args = [c.nodes[origin].name, { what: k.what, n: origin }];
            const got = await c.expectDelivery({
              event,
              expected: k.expected,
              origin,
              trigger: async () => assert.equal(await c.op(origin, "emit", { ...k.payload, event, args }), true),
            }).catch((err) => {
              err.message = `broadcast to ${k.what} from ${label(c.nodes[origin])}: ${err.message}`;
              throw err;
            });
            for (const [name, received] of Object.entries(got)) {
              assert.deepEqual(received, args, `${name} received the arguments of the broadcast to ${k.what}`);
            }
          }
        }
      }),
    );

    test("binary arguments (top level and nested) arrive as binary, from every node", { timeout: 20_000 }, () =>
      withCluster({ mode }, async (c) => {
        const { r1 } = await layout(c);
        for (let origin = 0; origin < c.size; origin += 1) {
          for (const [what, payload, expected] of [
            ["everyone", {}, c.clients],
            ["room r1", { rooms: "r1" }, r1],
          ]) {
            const event = freshEvent("bin");
            const top = Buffer.from([0, 1, 2, 255]);
            const deep = Buffer.from("nested bytes");
            const inList = Buffer.from([7]);
            const args = [top, { nested: { deep }, list: [1, inList], s: "text" }, "plain"];
            const got = await c.expectDelivery({
              event,
              expected,
              origin,
              trigger: async () => assert.equal(await c.op(origin, "emit", { ...payload, event, args }), true),
            });
            for (const [name, received] of Object.entries(got)) {
              const where = `${name}, binary broadcast to ${what} from ${label(c.nodes[origin])}`;
              assert.equal(received.length, 3, where);
              assert.ok(isBinary(received[0]), `${where}: top-level argument is binary`);
              assert.deepEqual(toBuffer(received[0]), top, where);
              assert.ok(isBinary(received[1].nested.deep), `${where}: nested argument is binary`);
              assert.deepEqual(toBuffer(received[1].nested.deep), deep, where);
              assert.ok(isBinary(received[1].list[1]), `${where}: argument in an array is binary`);
              assert.deepEqual(toBuffer(received[1].list[1]), inList, where);
              assert.equal(received[1].list[0], 1, where);
              assert.equal(received[1].s, "text", where);
              assert.equal(received[2], "plain", where);
            }
          }
        }
      }),
    );
  });
}
