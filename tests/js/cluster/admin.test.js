// The Admin UI on a cluster: two `portico serve --admin-ui --redis` nodes. An admin connected to
// node A hears server_stats from both nodes (one row each in the UI), lists the socket of
// node B in all_sockets, hears B's live reports, and its join / emit / _disconnect actions
// reach that socket on node B.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { io } from "socket.io-client";
import { startServe, adminClient, connected, nextEvent } from "../admin/lib.js";
import { REDIS_URL } from "./lib.js";

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

test("two nodes: both report, actions reach a socket on the other node", { timeout: 30_000 }, async () => {
  const flags = ["--admin-ui", "--redis", REDIS_URL, "--redis-key-prefix", `admin-${randomBytes(4).toString("hex")}`];
  const a = await startServe(flags);
  cleanups.push(a.stop);
  const b = await startServe(flags);
  cleanups.push(b.stop);

  const onB = io(b.url, { forceNew: true, reconnection: false });
  cleanups.push(async () => onB.disconnect());
  await connected(onB);

  const admin = adminClient(a.url);
  cleanups.push(async () => admin.socket.disconnect());
  await connected(admin.socket);
  const [all] = await admin.next("all_sockets");
  const remote = all.find((x) => x.id === onB.id);
  assert.ok(remote, `all_sockets on node A lists the socket of node B: ${JSON.stringify(all)}`);
  assert.deepEqual(remote.rooms, [onB.id]);

  // One server_stats per node: B's reaches the admin connected to A.
  const ids = new Set();
  await admin.next("server_stats", (st) => {
    ids.add(st.serverId);
    return ids.size === 2;
  }, 8000);
  const [fromB] = await admin.next("server_stats", (st) => st.namespaces.some((n) => n.name === "/" && n.socketsCount === 1));
  assert.match(fromB.serverId, /#\d+$/, "a cluster node's id is host#pid");

  admin.socket.emit("join", "/", "vip", onB.id);
  await admin.next("room_joined", (nsp, room, id) => room === "vip" && id === onB.id);
  const got = nextEvent(onB, "notice");
  admin.socket.emit("emit", "/", "vip", "notice", "from the admin on A");
  assert.deepEqual(await got, ["from the admin on A"]);

  const bye = nextEvent(onB, "disconnect");
  const id = onB.id;
  admin.socket.emit("_disconnect", "/", false, id);
  assert.equal((await bye)[0], "io server disconnect");
  await admin.next("socket_disconnected", (nsp, sid) => sid === id);
});
