// The `portico` binary allocates with mimalloc built without its request for transparent huge
// pages (the crate's `no_thp` feature). Where the kernel gives huge pages only to memory that
// asks for them (THP mode "madvise", the mode of the machines this project runs on), the
// server's memory holds none, at rest and with clients connected. With the request, mimalloc's
// arenas got 2 MiB pages that the kernel zeroes whole when first touched: 6–8 MiB of them
// right after start, and under a 1,000,000-delivery broadcast the zeroing was 40 % of the server's
// CPU and made its figures swing 3× between runs (bench/README.md, "Allocator and huge
// pages").

import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import { Clients, emitAck } from "../lib/client.js";
import { startServe } from "./serve.js";

const THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled";
const mode = fs.existsSync(THP_MODE) ? /\[(\w+)\]/.exec(fs.readFileSync(THP_MODE, "utf8"))?.[1] : null;

const reportsThp =
  fs.existsSync("/proc/self/status") && /^THP_enabled:/m.test(fs.readFileSync("/proc/self/status", "utf8"));

const servers = [];
after(async () => {
  for (const s of servers) await s.kill();
});

/** `AnonHugePages` of /proc/PID/smaps_rollup, in kB. */
function anonHugePagesKb(pid) {
  const m = /^AnonHugePages:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/smaps_rollup`, "utf8"));
  assert.ok(m, `no AnonHugePages line in /proc/${pid}/smaps_rollup`);
  return Number(m[1]);
}

test(
  "portico serve holds no transparent huge page where the kernel gives them only on request",
  {
    timeout: 30_000,
    skip: mode !== "madvise" && `the kernel's THP mode is ${mode ?? "unknown"}, not madvise: it decides by itself`,
  },
  async () => {
    const server = await startServe([], { demo: true });
    servers.push(server);
    assert.equal(anonHugePagesKb(server.pid), 0, "at rest");
    const clients = new Clients(server.url);
    try {
      const sockets = [];
      for (let i = 0; i < 50; i++) sockets.push(await clients.connect("/", { transports: ["websocket"] }));
      for (const s of sockets) assert.deepEqual(await emitAck(s, "join", "lobby"), [true]);
      assert.equal(anonHugePagesKb(server.pid), 0, "with 50 clients in a room");
    } finally {
      clients.closeAll();
    }
  },
);

test(
  "MIMALLOC_ALLOW_THP=0 turns transparent huge pages off for the server's process (for THP mode always)",
  { timeout: 30_000, skip: !reportsThp && "this kernel does not report THP_enabled in /proc/PID/status" },
  async () => {
    const thpEnabled = (pid) => /^THP_enabled:\s+(\d)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    const plain = await startServe([]);
    servers.push(plain);
    const off = await startServe([], { env: { MIMALLOC_ALLOW_THP: "0" } });
    servers.push(off);
    assert.equal(thpEnabled(plain.pid), "1", "without the variable the kernel's mode applies");
    assert.equal(thpEnabled(off.pid), "0");
  },
);
