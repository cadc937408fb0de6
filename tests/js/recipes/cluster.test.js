// Recipe "cluster" (examples/cluster, docs/recipes/cluster.md): examples/cluster/run.mjs starts
// two nodes on Redis and a real nginx with cookie-sticky sessions; official socket.io-client
// clients connect through nginx, land on both nodes, and a chat line sent on one node reaches
// the clients of both. Each run uses its own Redis key prefix (other clusters may share Redis).

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { once } from "../lib/server.js";
import { MAX_CLIENTS, startRun, stopAllRuns, stopRun } from "./cluster-lib.js";
import { brokenLinks, rustPiecesMissing } from "./recipes-docs-lib.js";

after(stopAllRuns);

/** A client through nginx (cookies kept, as a browser does); resolves once welcomed. */
async function connect(url, transports) {
  const socket = io(url, { transports, withCredentials: true, reconnection: false, forceNew: true });
  const [welcome] = await once(socket, "welcome", 5000);
  return { socket, node: welcome.node };
}

/** Connects clients until both nodes have at least one (bounded by MAX_CLIENTS). */
async function clientsOnBothNodes(url, names, transports) {
  const clients = [];
  for (let i = 0; i < MAX_CLIENTS; i++) {
    clients.push(await connect(url, transports));
    if (names.every((n) => clients.some((c) => c.node === n))) return clients;
  }
  for (const c of clients) c.socket.disconnect();
  throw new Error(`${MAX_CLIENTS} clients all landed on ${clients[0].node}: is nginx balancing?`);
}

/** One chat line from `from`; resolves with what every client received. */
async function broadcast(clients, from, text) {
  const got = clients.map((c) => once(c.socket, "chat", 5000));
  assert.equal(await from.socket.timeout(5000).emitWithAck("chat", text), true);
  return (await Promise.all(got)).map(([m]) => m);
}

for (const [label, args, names] of [
  ["two Portico nodes", [], ["rust-1", "rust-2"]],
  ["a Portico node and a Node socket.io node", ["--with-node"], ["rust-1", "node-2"]],
]) {
  describe(`cluster recipe: ${label} on Redis behind nginx`, () => {
    let run;
    after(async () => {
      if (run) await stopRun(run.child);
    });

    test("long-polling clients stay on their node (sticky cookie) and a chat line sent on either node reaches the clients of both", { timeout: 60_000 }, async () => {
      run = await startRun(args);
      // the line docs/recipes/cluster.md quotes
      assert.match(run.nodes, new RegExp(`^${names[0]} on 127\\.0\\.0\\.1:\\d+, ${names[1]} on 127\\.0\\.0\\.1:\\d+$`));
      const clients = await clientsOnBothNodes(run.url, names, ["polling"]);
      try {
        for (const name of names) {
          const from = clients.find((c) => c.node === name);
          const text = `hello from a client of ${name}`;
          const got = await broadcast(clients, from, text);
          assert.deepEqual(got, clients.map(() => ({ text, via: name })));
        }
        // Still polling, still connected: every poll reached the node holding its session.
        for (const c of clients) {
          assert.equal(c.socket.connected, true);
          assert.equal(c.socket.io.engine.transport.name, "polling");
        }
      } finally {
        for (const c of clients) c.socket.disconnect();
      }
    });

    test("clients that upgrade to WebSocket through nginx get the broadcasts of both nodes", { timeout: 60_000 }, async () => {
      const clients = await clientsOnBothNodes(run.url, names, ["polling", "websocket"]);
      try {
        for (const c of clients) {
          if (c.socket.io.engine.transport.name !== "websocket") await once(c.socket.io.engine, "upgrade", 5000);
        }
        const from = clients.find((c) => c.node === names[1]);
        const got = await broadcast(clients, from, "over websocket");
        assert.deepEqual(got, clients.map(() => ({ text: "over websocket", via: names[1] })));
      } finally {
        for (const c of clients) c.socket.disconnect();
      }
    });

    test("what the sticky cookie prevents: a poll that reaches the other node gets 400 Session ID unknown", async () => {
      const ports = [...run.nodes.matchAll(/127\.0\.0\.1:(\d+)/g)].map((m) => Number(m[1]));
      assert.equal(ports.length, 2, run.nodes);
      const hs = await fetch(`http://127.0.0.1:${ports[0]}/socket.io/?EIO=4&transport=polling`);
      const { sid } = JSON.parse((await hs.text()).slice(1));
      const poll = await fetch(`http://127.0.0.1:${ports[1]}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
      assert.equal(poll.status, 400);
      assert.equal(await poll.text(), '{"code":1,"message":"Session ID unknown"}');
    });
  });
}

test("docs/recipes/cluster.md: its Rust code is examples/cluster/src/main.rs's, its links resolve", () => {
  assert.deepEqual(rustPiecesMissing("docs/recipes/cluster.md", "examples/cluster/src/main.rs"), []);
  assert.deepEqual(brokenLinks("docs/recipes/cluster.md"), []);
});
