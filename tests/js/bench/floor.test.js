// The floor of the bench (bench/peers/floor): the least a server can do for the polling,
// connect-websocket and echo cases. bench/run checks it with `check-peer.mjs --only echo`; here
// the official socket.io-client gets its handshake and echo acks (0, 1 and 3 arguments) over
// WebSocket and polling, the full check refuses it (it is not a Socket.IO server: no rooms, no
// broadcast, no upgrade), and bytes no client sends (an endless head, an oversized frame) close
// only their own connection, and a polling session that never reads cannot grow its answers past
// the cap.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { REPO_ROOT, spawnListening, withTimeout } from "../lib/server.js";

const BIN = process.env.FLOOR_BIN
  ? path.resolve(process.env.FLOOR_BIN)
  : path.join(REPO_ROOT, "bench/peers/floor/target/debug/floor-bench-peer");
const CHECK = path.join(REPO_ROOT, "bench/check-peer.mjs");

let floor;
async function start() {
  floor ??= await spawnListening(BIN, ["--port", "0"], {
    label: "floor",
    describeFailure: (msg, logs) =>
      `${BIN}: ${msg} (build it with \`cargo build --manifest-path bench/peers/floor/Cargo.toml\` or set FLOOR_BIN)\n${logs.join("\n")}`,
  });
  return `http://127.0.0.1:${floor.port}`;
}
after(async () => {
  await floor?.stop("SIGKILL");
});

/** Runs check-peer.mjs with `args`; resolves with {code, out}. */
async function checkPeer(args) {
  const child = spawn(process.execPath, [CHECK, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (out += d));
  const code = await withTimeout(new Promise((resolve) => child.once("exit", resolve)), 40_000, "check-peer.mjs");
  return { code, out };
}

/**
 * Writes `bytes` on a fresh connection; resolves once the server has closed it (a reset counts:
 * closing with unread bytes resets the connection).
 */
function closedAfter(port, bytes) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1", () => s.write(bytes));
      s.on("data", () => {});
      s.once("error", (e) => (["ECONNRESET", "EPIPE"].includes(e.code) ? resolve() : reject(e)));
      s.once("close", resolve);
    }),
    10_000,
    "the server closing the connection",
  );
}

test("check-peer.mjs --only echo: the official client's handshake and echo over WebSocket and polling", { timeout: 60_000 }, async () => {
  const url = await start();
  const { code, out } = await checkPeer(["--url", url, "--only", "echo"]);
  assert.equal(code, 0, out);
  assert.match(out, /websocket: ok/);
  assert.match(out, /polling: ok/);
  assert.doesNotMatch(out, /upgrade/);
});

test("the full check refuses the floor: it has no rooms and no upgrade", { timeout: 60_000 }, async () => {
  const url = await start();
  const { code, out } = await checkPeer(["--url", url]);
  assert.equal(code, 1, out);
  assert.match(out, /websocket: FAILED: join ack: no answer/);
  assert.match(out, /upgrade: FAILED/);
});

test("an endless request head and an oversized WebSocket frame close their own connection only", { timeout: 60_000 }, async () => {
  const url = await start();
  await closedAfter(floor.port, "GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\nX: " + "a".repeat(64 * 1024));
  const upgrade =
    "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  const huge = Buffer.from([0x81, 0xff, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 1, 2, 3, 4]);
  await closedAfter(floor.port, Buffer.concat([Buffer.from(upgrade), huge]));
  const { code, out } = await checkPeer(["--url", url, "--only", "echo"]);
  assert.equal(code, 0, out);
});

test("a polling session that posts and never polls is refused once its unread answers pass 1,000,000 bytes", { timeout: 60_000 }, async () => {
  const url = await start();
  const open = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  const sid = JSON.parse(open.slice(1)).sid;
  const post = (body) =>
    fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: "POST", body }).then((r) => r.status);
  // Each POST queues ~600 KB of acks (the echo answers its argument back).
  const body = `421["echo","${"x".repeat(600_000)}"]`;
  assert.equal(await post(body), 200);
  assert.equal(await post(body), 200);
  assert.equal(await post(body), 400);
  const { code, out } = await checkPeer(["--url", url, "--only", "echo"]);
  assert.equal(code, 0, out);
});
