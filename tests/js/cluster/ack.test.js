// Broadcast with acknowledgements across the cluster, started on every node: every client's
// answer comes back to the origin; when one client never answers, the origin reports
// "operation has timed out" with the answers received so far; a broadcast that reaches nobody
// completes at once with no answers.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { MODES, topology, withCluster, freshEvent, label, request, byJson, ACK_TIMEOUT_MS } from "./lib.js";

const kinds = topology();

for (const mode of MODES) {
  describe(`cluster broadcast with ack [${kinds.join(",")}] ${mode.name}`, () => {
    test("answers from every node; a client that never answers makes it time out with the answers so far", { timeout: 30_000 }, () =>
      withCluster({ mode }, async (c) => {
        const silent = c.clients[c.clients.length - 1];
        const event = freshEvent("ask");
        for (const x of c.clients) {
          if (x === silent) continue; // receives the event, never calls the ack
          x.socket.on(event, (...args) => {
            const cb = args.pop();
            cb({ name: x.name, args });
          });
        }
        const ackers = c.clients.filter((x) => x !== silent && (x.name.endsWith("-a") || x.nodeIndex % 2 === 0));
        await Promise.all(ackers.map((x) => request(x.socket, "join", "ackers").then((ok) => assert.equal(ok, true))));
        assert.ok(new Set(ackers.map((x) => x.nodeIndex)).size === c.size, "every node has a member of ackers");

        for (let origin = 0; origin < c.size; origin += 1) {
          const from = label(c.nodes[origin]);
          const args = [c.nodes[origin].name, { n: origin }];
          const answers = (clients) => byJson(clients.map((x) => ({ name: x.name, args })));

          const all = await c.op(origin, "emit-with-ack", { rooms: "ackers", event, args, timeout: 2000 });
          assert.deepEqual(all, { err: null, responses: answers(ackers) }, `ack broadcast to room ackers from ${from}`);

          const started = performance.now();
          const partial = await c.op(origin, "emit-with-ack", { event, args, timeout: ACK_TIMEOUT_MS });
          const took = Math.round(performance.now() - started);
          assert.deepEqual(
            partial,
            { err: "operation has timed out", responses: answers(c.clients.filter((x) => x !== silent)) },
            `ack broadcast to everyone from ${from}, ${silent.name} (on ${label(silent.node)}) never answers`,
          );
          assert.ok(took >= ACK_TIMEOUT_MS - 50, `the time-out fired after ${took} ms, before ${ACK_TIMEOUT_MS} ms`);

          const none = await c.op(origin, "emit-with-ack", { rooms: "nobody-here", event, args, timeout: 2000 });
          assert.deepEqual(none, { err: null, responses: [] }, `ack broadcast to an empty room from ${from}`);
        }
      }),
    );
  });
}
