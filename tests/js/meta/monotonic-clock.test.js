// The tests measure time on the monotonic clock (`performance.now()`): an elapsed time or a
// deadline read on the wall clock (`Date.now()`) is wrong by however far the system clock is
// stepped meanwhile. A CI run once read a disconnect 10.7 s past a token's `exp`, 2.8 s into
// the auth-token recipe's expiry test, as the clock was stepped (mended in 236a4d2). `Date.now()` stays only where the wall
// clock is what is meant, said on its line or the line before with the words "wall clock".

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT, repoFiles } from "../lib/readme.js";

const ROOTS = ["tests/js/", "tests/browser/", "bench/"];
const SOURCE = /\.(m?js|cjs|ts)$/;
const SELF = path.relative(REPO_ROOT, fileURLToPath(import.meta.url)).split(path.sep).join("/"); // names Date.now() in its own checks

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
  const files = repoFiles().filter(
    (f) => ROOTS.some((r) => f.startsWith(r)) && SOURCE.test(f) && f !== SELF && !f.split("/").some((c) => c.startsWith(".")),
  );
  const offenders = files.flatMap((f) => unmarkedWallClockReads(fs.readFileSync(path.join(REPO_ROOT, f), "utf8")).map((hit) => `${f} ${hit}`));
  assert.ok(files.length > 50, `only ${files.length} source files found under ${ROOTS.join(", ")}`);
  assert.deepEqual(
    offenders,
    [],
    "use performance.now() for elapsed times and deadlines; where the wall clock is meant, say so " +
      'with "wall clock" on the line or the line before',
  );
});
