// Helpers of the cluster recipe's tests: runs examples/cluster/run.mjs (two nodes on Redis and
// a real nginx, sticky by cookie) with its own Redis key prefix, and stops it.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, withTimeout } from "../lib/server.js";

const RUN = path.join(REPO_ROOT, "examples/cluster/run.mjs");
const BIN = path.join(REPO_ROOT, "target/debug/cluster");
export const MAX_CLIENTS = 24; // each new client lands on a random node: 2^-23 that all land on one

const running = new Set();
process.once("exit", () => {
  for (const c of running) c.kill("SIGKILL");
});

export function stopRun(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 8000);
  return new Promise((resolve) => child.once("exit", resolve)).finally(() => clearTimeout(t));
}

/** Runs run.mjs; resolves with {url, nodes, child, output()} once it prints "cluster ready". */
export async function startRun(args) {
  if (!fs.existsSync(BIN)) throw new Error(`${BIN} is missing: build it with \`cargo build -p cluster\``);
  // wall clock: only to make the prefix unique
  const prefix = `portico-recipe-cluster-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  const child = spawn(process.execPath, [RUN, "--key-prefix", prefix, ...args], { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  running.add(child);
  child.once("exit", () => running.delete(child));
  let output = "";
  const m = await withTimeout(
    new Promise((resolve, reject) => {
      const onData = (d) => {
        output += d;
        const m = /cluster ready: (http:\/\/127\.0\.0\.1:\d+)\/ \(nginx -> (.*)\)/.exec(output);
        if (m) resolve(m);
      };
      child.stdout.setEncoding("utf8").on("data", onData);
      child.stderr.setEncoding("utf8").on("data", onData);
      child.once("exit", (code) => reject(new Error(`run.mjs exited (code ${code}):\n${output}`)));
    }),
    30_000,
    '"cluster ready" from run.mjs',
  );
  return { url: m[1], nodes: m[2], child, output: () => output };
}

/** Stops every run.mjs started here. */
export function stopAllRuns() {
  return Promise.all([...running].map(stopRun));
}
