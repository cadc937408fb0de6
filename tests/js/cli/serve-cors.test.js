// `portico serve` origin flags: --demo-origin serves the demo page from a second port and
// allows exactly that origin; broken combinations refuse to start with the fix.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { REPO_ROOT } from "../lib/server.js";
import { eioUrl, request } from "../lib/raw.js";

const BIN = process.env.PORTICO_BIN ? path.resolve(process.env.PORTICO_BIN) : path.join(REPO_ROOT, "target/debug/portico");

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs `portico serve args` until it prints `lines` matching stderr lines (or exits). */
function serve(args, { until, timeoutMs = 10_000 }) {
  const child = spawn(BIN, ["serve", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  const done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timeout; stderr so far:\n${stderr}`)), timeoutMs);
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (d) => {
      stderr += d;
      if (until && until(stderr)) {
        clearTimeout(timer);
        resolve({ child, stderr, code: null });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ child, stderr, code });
    });
  });
  return done;
}

test("--cors-any-origin with --cors-credentials refuses to start and explains both fixes", { timeout: 15_000 }, async () => {
  const { code, stderr } = await serve(["--port", "0", "--cors-any-origin", "--cors-credentials"], {});
  assert.notEqual(code, 0);
  assert.match(stderr, /credentials/);
  assert.match(stderr, /list the origins/);
  assert.match(stderr, /drop credentials/);
});

test("an origin with a trailing slash refuses to start and shows the corrected entry", { timeout: 15_000 }, async () => {
  const { code, stderr } = await serve(["--port", "0", "--cors-origin", "https://app.example.com/"], {});
  assert.notEqual(code, 0);
  assert.match(stderr, /use "https:\/\/app\.example\.com"/);
});

test("--demo-origin: both URLs printed, that origin allowed, another refused", { timeout: 20_000 }, async () => {
  const demoPort = await freePort();
  const { child, stderr } = await serve(["--port", "0", "--demo-origin", String(demoPort)], {
    until: (s) => /Demo chat \(cross-origin\)/.test(s),
  });
  try {
    const main = /Portico listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(stderr)?.[1];
    assert.ok(main, stderr);
    const demoOrigin = `http://127.0.0.1:${demoPort}`;
    assert.match(stderr, new RegExp(`open ${demoOrigin}/ .*connects to ${main}`));
    const page = await fetch(`${demoOrigin}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), new RegExp(`const url = "${main}"`));
    const allowed = await request(eioUrl(main), { headers: { origin: demoOrigin } });
    assert.equal(allowed.status, 200);
    assert.equal(allowed.headers.get("access-control-allow-origin"), demoOrigin);
    const refused = await request(eioUrl(main), { headers: { origin: "http://127.0.0.1:1" } });
    assert.equal(refused.status, 403);
    assert.deepEqual(JSON.parse(refused.text), { code: 4, message: "Forbidden" });
  } finally {
    child.kill("SIGINT");
    await new Promise((r) => child.once("exit", r));
  }
});
