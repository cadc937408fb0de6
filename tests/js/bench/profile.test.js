// bench/profile: the bench server under callgrind with a fixed, small load; it prints the
// instructions per operation and the parts of the request path bench/README.md names
// ("Profiles"). Run on the release build (scripts/test builds it before these tests) with
// --quick (a fifth of the load); counts are not checked against figures, only that each part
// the README names was found in the server's profile (a refactor that renames a function
// must rename it in bench/profile.py too).

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { REPO_ROOT } from "../lib/server.js";

const run = promisify(execFile);
const RELEASE = path.join(REPO_ROOT, "target/release/portico");

/** Runs bench/profile CASE --quick; returns {total, parts: Map(label -> count)}. */
async function profile(kase) {
  const { stdout } = await run(path.join(REPO_ROOT, "bench/profile"), [kase, "--quick"], {
    cwd: REPO_ROOT,
    timeout: 240_000,
  });
  const lines = stdout.trim().split("\n");
  const head = lines.find((l) => l.startsWith(`${kase}: `));
  assert.ok(head, `no summary line in:\n${stdout}`);
  const total = Number(head.match(/^[\w-]+: ([\d,]+) instructions per /)[1].replaceAll(",", ""));
  const parts = new Map();
  for (const l of lines.slice(lines.indexOf(head) + 1)) {
    const m = l.match(/^\s+(\S.*?)\s+([\d,]+)$/);
    if (m) parts.set(m[1], Number(m[2].replaceAll(",", "")));
  }
  return { total, parts, stdout };
}

// Each case: the unit its summary line names, the most instructions per operation that are
// plausible, how many parts bench/profile.py names for it (the allocator line included), and
// whether every part must be smaller than the whole (not checked for a handshake, as before).
const CASES = [
  { kase: "polling", unit: "HTTP request", most: 1_000_000, count: 10, partsBelowTotal: true },
  { kase: "connect-websocket", unit: "handshake", most: 5_000_000, count: 10, partsBelowTotal: false },
  { kase: "echo", unit: "message", most: 1_000_000, count: 7, partsBelowTotal: true },
  { kase: "broadcast", unit: "delivery", most: 100_000, count: 6, partsBelowTotal: true },
];

for (const { kase, unit, most, count, partsBelowTotal } of CASES) {
  test(
    `bench/profile ${kase}: instructions per ${unit}, every named part found`,
    { skip: !fs.existsSync(RELEASE) && "no release build (cargo build --release -p portico-cli)" },
    async () => {
      const { total, parts, stdout } = await profile(kase);
      assert.match(stdout, new RegExp(`^${kase}: [\\d,]+ instructions per ${unit} `, "m"));
      assert.ok(total > 100 && total < most, `implausible total ${total}:\n${stdout}`);
      assert.equal(parts.size, count, stdout);
      for (const [label, n] of parts) {
        assert.ok(n > 0, `part "${label}" not found in the profile:\n${stdout}`);
        if (partsBelowTotal) assert.ok(n < total, `part "${label}" larger than the whole:\n${stdout}`);
      }
    },
  );
}

test("bench/profile refuses an unknown case and says which exist", async () => {
  await assert.rejects(
    run(path.join(REPO_ROOT, "bench/profile"), ["nope"], { cwd: REPO_ROOT }),
    (e) => /unknown case nope \(polling, connect-websocket/.test(e.stderr),
  );
});
