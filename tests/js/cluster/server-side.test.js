// Node-to-node operations, started on every node: server-side emit with an ack (one answer
// from every OTHER node, never from the origin), server-count, and all-rooms (classic: every
// room of every node, socket ids included; the sharded adapter has no all-rooms request, and
// the operation answers {error}, as Node's adapter has no allRooms() there).

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MODES, topology, withCluster, label, request, byJson, REQUESTS_TIMEOUT_MS } from "./lib.js";

const kinds = topology();

for (const mode of MODES) {
  describe(`cluster server-side [${kinds.join(",")}] ${mode.name}`, () => {
    test("server-side emit with ack gets one answer from every other node", { timeout: 20_000 }, () =>
      withCluster({ mode }, async (c) => {
        for (let origin = 0; origin < c.size; origin += 1) {
          const o = c.nodes[origin].name;
          const args = [o, 42, { x: [1, "two"], y: null }];
          const expected = byJson(
            c.nodes.filter((_, i) => i !== origin).map((n) => `hello from ${n.name} ${JSON.stringify(args)}`),
          );
          assert.deepEqual(
            await c.op(origin, "server-side-emit", { event: "hello", args, timeout: REQUESTS_TIMEOUT_MS }),
            { err: null, responses: expected },
            `server-side emit from ${label(c.nodes[origin])}`,
          );
        }
      }),
    );

    test("server-count counts every node, from every node", { timeout: 20_000 }, () =>
      withCluster({ mode }, async (c) => {
        for (let origin = 0; origin < c.size; origin += 1) {
          assert.equal(await c.op(origin, "server-count"), c.size, `server-count on ${label(c.nodes[origin])}`);
        }
      }),
    );

    if (!mode.sharded) {
      test("all-rooms lists the rooms of every node, socket ids included", { timeout: 20_000 }, () =>
        withCluster({ mode }, async (c) => {
          const joined = new Set();
          await Promise.all(
            c.clients.map((x, i) => {
              const room = i % 2 === 0 ? "shared" : `own-${x.name}`;
              joined.add(room);
              return request(x.socket, "join", room);
            }),
          );
          const expected = [...joined, ...c.clients.map((x) => x.socket.id)].sort();
          for (let origin = 0; origin < c.size; origin += 1) {
            assert.deepEqual(await c.op(origin, "all-rooms"), expected, `all-rooms on ${label(c.nodes[origin])}`);
          }
        }),
      );
    } else {
      test("all-rooms answers {error}: the sharded adapter has no all-rooms request", { timeout: 20_000 }, () =>
        withCluster({ mode }, async (c) => {
          for (let origin = 0; origin < c.size; origin += 1) {
            const reply = await c.op(origin, "all-rooms");
            assert.equal(typeof reply?.error, "string", `all-rooms on ${label(c.nodes[origin])} answered ${JSON.stringify(reply)}`);
          }
        }),
      );
    }
  });
}
