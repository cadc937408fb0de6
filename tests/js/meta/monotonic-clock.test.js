// The tests measure time on the monotonic clock (`performance.now()`): an elapsed time or a
// deadline read on the wall clock (`Date.now()`) is wrong by however far the system clock is
// stepped meanwhile, and a CI run once saw it step 10.7 s in the middle of a test (the
// auth-token recipe's expiry test, mended in 236a4d2). `Date.now()` stays only where the wall
// clock is what is meant, said on its line or the line before with the words "wall clock".

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "../lib/readme.js";

const ROOTS = ["tests/js", "tests/browser", "bench"];
const SOURCE = /\.(m?js|cjs|ts)$/;
const SELF = fileURLToPath(import.meta.url); // names Date.now() in its own checks

function* sources(dir) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === "node_modules" || entry.name.startsWith(".")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) yield* sources(full);
    else if (SOURCE.test(entry.name)) yield full;
  }
}

/** `Date.now()` uses in `text` not marked as meaning the wall clock: "line N: code". */
function unmarkedWallClockReads(text) {
  const lines = text.split("\n");
  const found = [];
  lines.forEach((line, i) => {
    if (!line.includes("Date.now()")) return;
    if (/wall clock/.test(line) || (i > 0 && /wall clock/.test(lines[i - 1]))) return;
    found.push(`line ${i + 1}: ${line.trim()}`);
  });
  return found;
}

test("the check finds an unmarked Date.now() and passes a marked one", () => {
  assert.deepEqual(unmarkedWallClockReads("const t = Date.now();\n"), ["line 1: const t = Date.now();"]);
  assert.deepEqual(unmarkedWallClockReads("const t = Date.now(); // wall clock: a JWT's iat\n"), []);
  assert.deepEqual(unmarkedWallClockReads("// wall clock: unique names only\nconst p = `x-${Date.now()}`;\n"), []);
  assert.deepEqual(unmarkedWallClockReads("const t = performance.now();\n"), []);
});

test("tests and bench scripts time waits on the monotonic clock, not Date.now()", () => {
  const offenders = [];
  let read = 0;
  for (const root of ROOTS) {
    const dir = path.join(REPO_ROOT, root);
    if (!fs.existsSync(dir)) continue;
    for (const file of sources(dir)) {
      if (file === SELF) continue;
      read += 1;
      for (const hit of unmarkedWallClockReads(fs.readFileSync(file, "utf8"))) {
        offenders.push(`${path.relative(REPO_ROOT, file)} ${hit}`);
      }
    }
  }
  assert.ok(read > 50, `only ${read} source files found under ${ROOTS.join(", ")}`);
  assert.deepEqual(
    offenders,
    [],
    "use performance.now() for elapsed times and deadlines; where the wall clock is meant, say so " +
      'with "wall clock" on the line or the line before',
  );
});
