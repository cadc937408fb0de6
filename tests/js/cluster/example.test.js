// crates/portico-redis/examples/cluster_chat.rs, as the README shows it: two processes on one
// Redis are one chat, and `online` counts the sockets of both.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { existsSync } from "node:fs";
import { Clients, next } from "../lib/client.js";
import { freePort } from "../lib/cors.js";
import { REPO_ROOT } from "../lib/server.js";
import { REDIS_URL } from "./lib.js";

const BIN = path.join(REPO_ROOT, "target/debug/examples/cluster_chat");
const running = [];
const clients = [];

after(() => {
  for (const c of clients) c.closeAll();
  for (const p of running) p.kill("SIGKILL");
});

async function startNode() {
  assert.ok(existsSync(BIN), `${BIN} is missing: cargo build -p portico-redis --examples`);
  const port = await freePort();
  const child = spawn(BIN, [], {
    env: { ...process.env, PORT: String(port), REDIS_URL, RUST_LOG: "portico=info" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  running.push(child);
  let err = "";
  child.stderr.setEncoding("utf8");
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cluster_chat did not start:\n${err}`)), 10_000);
    child.stderr.on("data", (d) => {
      err += d;
      if (err.includes("listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`cluster_chat exited with ${code}:\n${err}`));
    });
  });
  return `http://127.0.0.1:${port}`;
}

test("two cluster_chat processes on one Redis are one chat", { timeout: 30_000 }, async () => {
  const [a, b] = [await startNode(), await startNode()];
  const ca = new Clients(a);
  const cb = new Clients(b);
  clients.push(ca, cb);
  const onA = await ca.connect("/", {});
  // The listener is on before the socket can connect (the client connects asynchronously).
  const sB = cb.socket("/", {});
  const onlineB = next(sB, "online", 5000);
  assert.equal((await onlineB)[0], 2, "online counts the sockets of both processes");
  const got = next(onA, "chat", 5000);
  sB.emit("chat", "across nodes");
  assert.deepEqual(await got, [sB.id, "across nodes"]);
});
