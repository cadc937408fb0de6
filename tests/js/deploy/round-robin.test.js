// docs/deployment/nginx.conf without its `ip_hash;` line: nginx's default round robin, no
// stickiness. With two nodes, one nginx process and no other traffic, round robin alternates
// strictly, so the request after a handshake always reaches the other node: the session is
// unknown there (HTTP 400, code 1), and an official polling client never connects.

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { onceMatching } from "../lib/server.js";
import { Clients, record } from "../lib/client.js";
import { eioUrl, handshake, post, request } from "../lib/raw.js";
import { startCluster, stopAll } from "./nginx.js";

const SESSION_ID_UNKNOWN = { code: 1, message: "Session ID unknown" };

describe("nginx round robin (no stickiness) in front of two nodes", { timeout: 30_000 }, () => {
  let cluster;
  let clients;
  before(async () => {
    cluster = await startCluster({ balance: "round-robin" });
    clients = new Clients(cluster.front.url);
  });
  afterEach(() => clients.closeAll());
  after(() => stopAll());

  test("the poll after a handshake reaches the other node: 400 Session ID unknown", { timeout: 10_000 }, async () => {
    const { front, nodes } = cluster;
    const { sid } = await handshake(front.url); // through nginx: lands on one node
    const next = await request(eioUrl(front.url, { sid })); // the next request: the other node
    assert.equal(next.status, 400, next.text);
    assert.match(next.contentType ?? "", /^application\/json/);
    assert.deepEqual(JSON.parse(next.text), SESSION_ID_UNKNOWN);

    // Which node holds the session, asked directly (a CONNECT packet: answered at once):
    // exactly one of them, so the 400 came from the other one.
    const answers = await Promise.all(nodes.map((n) => post(n.url, sid, "40")));
    const holders = answers.map((r, i) => (r.status === 200 && r.text === "ok" ? i : null)).filter((i) => i !== null);
    assert.equal(holders.length, 1, `answers: ${JSON.stringify(answers.map((r) => [r.status, r.text]))}`);
    const other = answers[1 - holders[0]];
    assert.equal(other.status, 400);
    assert.deepEqual(JSON.parse(other.text), SESSION_ID_UNKNOWN);
  });

  test("a polling-only official client gets HTTP 400 after its handshake and reconnects in a loop", { timeout: 10_000 }, async () => {
    const socket = clients.socket("/", {
      transports: ["polling"],
      reconnection: true,
      reconnectionDelay: 20,
      reconnectionDelayMax: 20,
      randomizationFactor: 0,
    });
    const connects = record(socket, "connect");
    // The error's context is the client's XMLHttpRequest, which the client aborts (emptying
    // responseText) right after the event: read the body now.
    const errors = [];
    socket.on("connect_error", (err) => errors.push({ err, body: err.context?.responseText }));
    const opens = record(socket.io, "open"); // each attempt's handshake succeeded...
    // ...and each attempt failed on its next request: wait for the third failure.
    await onceMatching(socket, "connect_error", () => errors.length >= 3, 8000);
    socket.io.reconnection(false);
    assert.deepEqual(connects, [], "the client connected although the session cannot be sticky");
    assert.ok(opens.length >= 3, `only ${opens.length} handshakes for ${errors.length} failures`);
    for (const { err, body } of errors) {
      assert.match(err.message, /^xhr (poll|post) error$/);
      assert.equal(err.description, 400); // the HTTP status
      assert.deepEqual(JSON.parse(body), SESSION_ID_UNKNOWN);
    }
  });
});
