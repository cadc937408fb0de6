// `portico bench serve`, the server bench/run measures as Portico: by default on one thread
// (tokio's current-thread runtime, as every server in the comparison), with `--workers N` on
// tokio's multi-thread runtime with N worker threads (bench/run's echo-mt and broadcast-mt
// cases). Both print `LISTENING <port>` and serve the bench protocol (echo, join, broadcast) to
// the official client; `--workers` outside 1..=64, or on another scenario, is refused.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, spawnListening, withTimeout } from "../lib/server.js";
import { Clients, emitAck, ACK_TIMEOUT_MS } from "../lib/client.js";

const BIN = process.env.PORTICO_BIN
  ? path.resolve(process.env.PORTICO_BIN)
  : path.join(REPO_ROOT, "target/debug/portico");
const HAS_PROC = fs.existsSync("/proc/self/status");

const running = new Set();
const clients = new Set();

afterEach(async () => {
  for (const c of clients) c.closeAll();
  clients.clear();
  await Promise.all([...running].map((s) => s.stop("SIGKILL")));
  running.clear();
});

/** Starts `portico bench serve --port 0 <args>`; resolves with {url, pid, stop}. */
async function startBenchServer(args) {
  const fullArgs = ["bench", "serve", "--port", "0", ...args];
  const server = await spawnListening(BIN, fullArgs, {
    label: "bench serve",
    describeFailure: (msg, logs) =>
      `${BIN} ${fullArgs.join(" ")}: ${msg} (build it with \`cargo build -p portico-cli\` or set PORTICO_BIN)\n${logs.join("\n")}`,
  });
  running.add(server);
  return { ...server, url: `http://127.0.0.1:${server.port}`, pid: server.process.pid };
}

/** The number of threads of `pid` (`Threads:` of /proc/PID/status). */
function threads(pid) {
  const m = /^Threads:\s+(\d+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"));
  assert.ok(m, `no Threads: line in /proc/${pid}/status`);
  return Number(m[1]);
}

/** Resolves once `socket` has received `n` `event`s; rejects after ACK_TIMEOUT_MS. */
function receive(socket, event, n) {
  const seen = [];
  return withTimeout(
    new Promise((resolve) => {
      socket.on(event, (...args) => {
        seen.push(args);
        if (seen.length === n) resolve(seen);
      });
    }),
    ACK_TIMEOUT_MS,
    `${n} "${event}" events (got ${seen.length})`,
  );
}

/** Echo with 0 and 3 arguments, join, and a 20-event broadcast reaching both room members. */
async function speaksTheBenchProtocol(url) {
  const c = new Clients(url);
  clients.add(c);
  const [a, b] = await Promise.all([
    c.connect("/", { transports: ["websocket"] }),
    c.connect("/", { transports: ["websocket"] }),
  ]);
  assert.deepEqual(await emitAck(a, "echo"), []);
  assert.deepEqual(await emitAck(a, "echo", 1, "two", { k: [3] }), [1, "two", { k: [3] }]);
  assert.deepEqual(await emitAck(a, "join", "room"), [true]);
  assert.deepEqual(await emitAck(b, "join", "room"), [true]);
  const atA = receive(a, "b", 20);
  const atB = receive(b, "b", 20);
  assert.deepEqual(await emitAck(a, "broadcast", { room: "room", count: 20, size: 5 }), [true]);
  for (const got of await Promise.all([atA, atB])) {
    assert.deepEqual(got, Array(20).fill(["xxxxx"]));
  }
}

test("bench serve --workers 2: tokio's multi-thread runtime, 2 worker threads, serves the bench protocol", {
  timeout: 20_000,
}, async () => {
  const server = await startBenchServer(["--workers", "2"]);
  await speaksTheBenchProtocol(server.url);
  // The main thread (blocked on the runtime) and at least the two workers.
  if (HAS_PROC) assert.ok(threads(server.pid) >= 3, `${threads(server.pid)} threads`);
  assert.deepEqual(await server.stop("SIGTERM"), { code: 0, signal: null });
});

test("bench serve without --workers: one thread, serves the bench protocol", { timeout: 20_000 }, async () => {
  const server = await startBenchServer([]);
  await speaksTheBenchProtocol(server.url);
  // What bench/run's comparison relies on: every server gets one thread.
  if (HAS_PROC) assert.equal(threads(server.pid), 1);
  assert.deepEqual(await server.stop("SIGTERM"), { code: 0, signal: null });
});

/** Runs `portico <args>` to its exit (bounded); resolves with {code, stderr}. */
function run(args) {
  const child = spawn(BIN, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
  return withTimeout(
    new Promise((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code) => resolve({ code, stderr }));
    }),
    10_000,
    `portico ${args.join(" ")}`,
  ).finally(() => child.kill("SIGKILL"));
}

test("--workers outside 1..=64 or on another scenario is refused, naming the flag", { timeout: 20_000 }, async () => {
  for (const n of ["0", "65", "many"]) {
    const { code, stderr } = await run(["bench", "serve", "--port", "0", "--workers", n]);
    assert.equal(code, 2, stderr);
    assert.match(stderr, /invalid value .* for '--workers <N>'/, stderr);
  }
  const { code, stderr } = await run(["bench", "echo", "--workers", "2", "--url", "http://127.0.0.1:9"]);
  assert.equal(code, 1, stderr);
  assert.match(stderr, /^error: --workers is an option of `portico bench serve`$/m);
});
