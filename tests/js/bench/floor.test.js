// The floor of the bench (bench/peers/floor): the least a server can do for the polling,
// connect-websocket, connect-upgrade and echo cases. bench/run checks it with `check-peer.mjs
// --only echo`; here the official socket.io-client gets its handshake and echo acks (0, 1 and 3
// arguments) over WebSocket, polling and polling upgraded to WebSocket, the full check refuses it
// (it is not a Socket.IO server: no rooms, no broadcast), and bytes no client sends (an endless head, an oversized frame) close
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

test("check-peer.mjs --only echo: the official client's handshake and echo over WebSocket, polling and polling + upgrade", { timeout: 60_000 }, async () => {
  const url = await start();
  const { code, out } = await checkPeer(["--url", url, "--only", "echo"]);
  assert.equal(code, 0, out);
  assert.match(out, /websocket: ok/);
  assert.match(out, /polling: ok/);
  // The official client probes while its poll waits, and waits for that poll to end (the
  // floor's noop) before it sends the upgrade; the echo then goes over the WebSocket.
  assert.match(out, /upgrade: ok/);
});

test("the full check refuses the floor: it has no rooms", { timeout: 60_000 }, async () => {
  const url = await start();
  const { code, out } = await checkPeer(["--url", url]);
  assert.equal(code, 1, out);
  assert.match(out, /websocket: FAILED: join ack: no answer/);
  assert.match(out, /upgrade: FAILED: join ack: no answer/);
});

test("an upgrade of an unknown session is refused, and a finished upgrade frees its polling session", { timeout: 60_000 }, async () => {
  const url = await start();
  const ws = (sid) =>
    "GET /socket.io/?EIO=4&transport=websocket&sid=" + sid + " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n" +
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  await closedAfter(floor.port, ws("nope"));
  const open = await (await fetch(`${url}/socket.io/?EIO=4&transport=polling`)).text();
  assert.match(open, /"upgrades":\["websocket"\]/);
  const sid = JSON.parse(open.slice(1)).sid;
  // Masked frames (key 0): 2probe once the 101 came, then 5 and a ping in one write; the
  // pong says the floor has read the 5.
  const text = (t) => Buffer.concat([Buffer.from([0x81, 0x80 | t.length, 0, 0, 0, 0]), Buffer.from(t)]);
  const ping = Buffer.from([0x89, 0x80, 0, 0, 0, 0]);
  const frames = await withTimeout(
    new Promise((resolve, reject) => {
      let bytes = Buffer.alloc(0);
      let step = 0;
      const s = net.connect(floor.port, "127.0.0.1", () => s.write(ws(sid)));
      s.on("data", (d) => {
        bytes = Buffer.concat([bytes, d]);
        const head = bytes.indexOf("\r\n\r\n");
        if (head < 0) return;
        const body = bytes.subarray(head + 4);
        if (step === 0) {
          step = 1;
          s.write(text("2probe"));
        }
        if (step === 1 && body.length >= 8) {
          step = 2;
          s.write(Buffer.concat([text("5"), ping]));
        }
        if (step === 2 && body.length >= 10) {
          s.end();
          resolve(body);
        }
      });
      s.once("error", reject);
    }),
    10_000,
    "3probe and the pong",
  );
  assert.deepEqual([...frames], [0x81, 6, ...Buffer.from("3probe"), 0x8a, 0]);
  // Upgraded: the polling session is gone, a poll of it is refused.
  const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`);
  await res.text();
  assert.equal(res.status, 400);
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
