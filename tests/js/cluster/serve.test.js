// `portico serve --redis`: two demo-chat nodes on one Redis are one chat. A chat message sent
// on one node reaches the clients of the other, presence counts every node's sockets, the
// TOML keys work like the flags, and a Redis that does not answer at start is a startup error
// that names the flag and the URL.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { Clients, next } from "../lib/client.js";
import { freePort, runPortico, startPortico } from "../lib/cors.js";
import { REDIS_URL } from "./lib.js";

const LISTENING = /Portico listening on (http:\/\/127\.0\.0\.1:(\d+))/;
const running = new Set();
const clientSets = new Set();
const dirs = new Set();

afterEach(async () => {
  for (const c of clientSets) c.closeAll();
  clientSets.clear();
  await Promise.all([...running].map((s) => s.stop()));
  running.clear();
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  dirs.clear();
});

async function startNode(extra) {
  const node = await startPortico(["serve", "--port", "0", ...extra], [LISTENING]);
  running.add(node);
  return { node, url: node.matches[0][1] };
}

/** The first `event` on `socket` whose payload satisfies `pred` (bounded). */
function nextMatching(socket, event, pred, ms = 5000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.off(event, on);
      reject(new Error(`no matching "${event}" within ${ms} ms`));
    }, ms);
    function on(payload) {
      if (!pred(payload)) return;
      clearTimeout(timer);
      socket.off(event, on);
      resolve(payload);
    }
    socket.on(event, on);
  });
}

function clientsOf(url) {
  const c = new Clients(url);
  clientSets.add(c);
  return c;
}

for (const mode of ["classic", "sharded", "sharded/static"]) {
  test(`two serve nodes on one Redis (${mode}) are one chat`, { timeout: 30_000 }, async () => {
    const prefix = `serve-${randomBytes(4).toString("hex")}`;
    const modeFlags = {
      classic: [],
      sharded: ["--redis-sharded"],
      "sharded/static": ["--redis-sharded", "--redis-subscription-mode", "static"],
    }[mode];
    const flags = ["--redis", REDIS_URL, "--redis-key-prefix", prefix, ...modeFlags];
    const a = await startNode(flags);
    const b = await startNode(flags);
    const onA = await clientsOf(a.url).connect("/", { transports: ["polling"] });
    // The presence line of a client joining on B counts both nodes' sockets.
    const cb = clientsOf(b.url);
    const joined = nextMatching(onA, "presence", (p) => p.event === "joined" && p.id !== onA.id);
    const onB = await cb.connect("/", { transports: ["websocket"] });
    const presence = await joined;
    assert.equal(presence.id, onB.id);
    assert.equal(presence.online, 2, "online counts the sockets of both nodes");
    // Chat in both directions.
    const atB = next(onB, "chat", 5000);
    const atA = next(onA, "chat", 5000);
    onA.emit("chat", "hello from A");
    assert.deepEqual((await atB)[0], { from: onA.id, text: "hello from A" });
    assert.deepEqual((await atA)[0], { from: onA.id, text: "hello from A" });
    const back = next(onA, "chat", 5000);
    onB.emit("chat", "hello from B");
    assert.deepEqual((await back)[0], { from: onB.id, text: "hello from B" });
  });
}

test("the TOML keys redis, redis_key_prefix and redis_sharded work like the flags", { timeout: 30_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-serve-redis-"));
  dirs.add(dir);
  const file = path.join(dir, "portico.toml");
  const prefix = `toml-${randomBytes(4).toString("hex")}`;
  fs.writeFileSync(file, `redis = "${REDIS_URL}"\nredis_key_prefix = "${prefix}"\nredis_sharded = true\n`);
  const a = await startNode(["--config", file]);
  // The second node uses the flags: same cluster only if the file meant the same thing.
  const b = await startNode(["--redis", REDIS_URL, "--redis-key-prefix", prefix, "--redis-sharded"]);
  const onA = await clientsOf(a.url).connect("/", {});
  const onB = await clientsOf(b.url).connect("/", {});
  const atB = next(onB, "chat", 5000);
  onA.emit("chat", "via toml");
  assert.deepEqual((await atB)[0], { from: onA.id, text: "via toml" });
});

test("a Redis that does not answer at start is a startup error naming --redis and the URL", { timeout: 20_000 }, async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  const run = await runPortico(["serve", "--no-demo", "--port", "0", "--redis", url]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /error: --redis: cannot use Redis: cannot connect to Redis at redis:\/\/127\.0\.0\.1:\d+/);
  assert.ok(run.stderr.includes(url), run.stderr);
  assert.match(run.stderr, /check that redis-server is running/);
});

test("a sharded subscription mode must be one of Node's and needs --redis-sharded", { timeout: 20_000 }, async () => {
  const base = ["serve", "--no-demo", "--port", "0", "--redis", REDIS_URL];
  let run = await runPortico([...base, "--redis-subscription-mode", "static"]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /error: --redis-subscription-mode applies to sharded mode only: add --redis-sharded/);
  run = await runPortico([...base, "--redis-sharded", "--redis-subscription-mode", "sometimes"]);
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /error: --redis-subscription-mode: "sometimes" is not a subscription mode: use static, dynamic or dynamic-private/);
});

test("--redis-key-prefix and --redis-sharded without --redis are refused", { timeout: 20_000 }, async () => {
  for (const flag of [["--redis-key-prefix", "x"], ["--redis-sharded"]]) {
    const run = await runPortico(["serve", "--no-demo", "--port", "0", ...flag]);
    assert.equal(run.code, 1, run.stderr);
    assert.match(run.stderr, new RegExp(`error: ${flag[0]} needs --redis`));
  }
});
