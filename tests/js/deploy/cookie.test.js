// docs/deployment/nginx-cookie.conf in place of the template's upstream block: nginx sets a
// random `portico_node` cookie and hashes on it, so clients from one address (all of these
// come from 127.0.0.1) spread over both nodes, and each stays on its node as long as it keeps
// the cookie (socket.io-client in Node keeps cookies with `withCredentials: true`).

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { once, onceMatching } from "../lib/server.js";
import { Clients, record } from "../lib/client.js";
import { startCluster, stopAll } from "./nginx.js";

const CLIENTS = 16; // all on one node by chance: 2 in 2^16
const ROUNDS = 3;

describe("nginx sticky by cookie in front of two nodes", { timeout: 30_000 }, () => {
  let cluster;
  let clients;
  before(async () => {
    cluster = await startCluster({ balance: "cookie" });
    clients = new Clients(cluster.front.url);
  });
  afterEach(() => clients.closeAll());
  after(() => stopAll());

  test("polling clients from one address spread over both nodes and keep their sessions", { timeout: 15_000 }, async () => {
    const run = async (n) => {
      const socket = await clients.connect("/", { transports: ["polling"], withCredentials: true });
      const id = socket.id;
      const sid = socket.io.engine.id;
      const disconnects = record(socket, "disconnect");
      for (let i = 0; i < ROUNDS; i++) {
        await once(socket.io, "ping", 3000); // each ping: a new long-poll through nginx
        const text = `client ${n} round ${i}`;
        const back = onceMatching(socket, "chat", (m) => m?.text === text && m?.from === socket.id, 3000);
        socket.emit("chat", text);
        await back;
      }
      assert.deepEqual(disconnects, [], `client ${n} was disconnected`);
      assert.equal(socket.id, id);
      assert.equal(socket.io.engine.id, sid);
      return sid;
    };
    const sids = await Promise.all(Array.from({ length: CLIENTS }, (_, n) => run(n)));

    const bySid = cluster.front.upstreamsBySid();
    const nodes = new Set();
    for (const sid of sids) {
      const reached = [...(bySid.get(sid) ?? [])];
      assert.equal(reached.length, 1, `session ${sid} reached ${reached.join(", ") || "no node"}`);
      nodes.add(reached[0]);
    }
    const addrs = cluster.nodes.map((n) => `127.0.0.1:${n.port}`).sort();
    assert.deepEqual([...nodes].sort(), addrs, "the clients did not spread over both nodes");
  });
});
