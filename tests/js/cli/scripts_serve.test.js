// `scripts/serve`, the first command of the README, run for real: it builds `portico` in
// release mode (saying so, with cargo's progress), serves Socket.IO, and stops on SIGTERM.
// The build can take minutes when the release binary is stale (scripts/test builds it before
// the Node tests, so there it is up to date); hence the long timeout.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, withTimeout } from "../lib/server.js";
import { eioUrl, request } from "../lib/raw.js";

const BUILD_TIMEOUT_MS = 15 * 60_000;
const LISTENING = /Portico listening on (http:\/\/127\.0\.0\.1:\d+) \(Socket\.IO path \/socket\.io\/\)/;

test("scripts/serve --port 0 --no-demo: builds, serves an Engine.IO handshake, exits 0 on SIGTERM", {
  timeout: BUILD_TIMEOUT_MS + 30_000,
}, async () => {
  // Its own process group, so that a failure can stop cargo too.
  const child = spawn(path.join(REPO_ROOT, "scripts/serve"), ["--port", "0", "--no-demo"], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
    env: { ...process.env, RUST_LOG: "portico=info" },
  });
  const killGroup = () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  process.once("exit", killGroup);
  let stderr = "";
  child.stdout.resume();
  child.stderr.setEncoding("utf8");
  const exit = new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  try {
    const listening = await withTimeout(
      new Promise((resolve, reject) => {
        child.stderr.on("data", (d) => {
          stderr += d;
          const m = LISTENING.exec(stderr);
          if (m) resolve(m[1]);
        });
        exit.then(({ code, signal }) => reject(new Error(`scripts/serve exited (code ${code}, signal ${signal}):\n${stderr}`)), reject);
      }),
      BUILD_TIMEOUT_MS,
      "scripts/serve's build and start",
    );
    // It said what it was doing before the (possibly long) build, and cargo reported it.
    assert.match(stderr, /^scripts\/serve: building portico \(release mode; the first build takes a few minutes\)\.\.\.$/m);
    assert.match(stderr, /Finished `release` profile/);
    const res = await request(eioUrl(listening));
    assert.equal(res.status, 200, res.text);
    assert.ok(res.text.startsWith("0{"), res.text);
    // `exec`: the pid is portico's own, so the signal reaches the server directly.
    child.kill("SIGTERM");
    const { code, signal } = await withTimeout(exit, 10_000, "exit after SIGTERM");
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, stderr);
  } finally {
    killGroup();
    process.removeListener("exit", killGroup);
  }
});
