// docs/deployment.md names `portico serve` flags and TOML keys (the Redis ones among them):
// each must be in `portico serve --help`. Until `--redis` exists, the Redis names are skipped.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../lib/readme.js";
import { runPortico } from "../lib/cors.js";

test("docs/deployment.md names only flags and config keys that `portico serve --help` lists", { timeout: 15_000 }, async (t) => {
  const doc = fs.readFileSync(path.join(REPO_ROOT, "docs/deployment.md"), "utf8");
  const toml = fs.readFileSync(path.join(REPO_ROOT, "docs/deployment/portico.toml"), "utf8");
  const { code, stdout, stderr } = await runPortico(["serve", "--help"]);
  assert.equal(code, 0, stderr);
  const help = stdout;
  // Flags as written in the doc (`--redis-sharded`, `--trusted-proxy <…>`), keys of the TOML file.
  const flags = [...new Set([...doc.matchAll(/(?<![\w-])--[a-z][a-z-]*[a-z]/g)].map((m) => m[0]))];
  const keys = [...toml.matchAll(/^([a-z_]+) *=/gm)].map((m) => m[1]);
  assert.ok(flags.includes("--trusted-proxy") && keys.includes("redis"), "the patterns no longer find the names");
  const pending = help.includes("--redis") ? [] : flags.filter((f) => f.startsWith("--redis")).concat(keys.filter((k) => k.startsWith("redis")));
  if (pending.length) t.diagnostic(`not in portico serve yet, not checked: ${pending.join(", ")}`);
  const keyList = /Keys \(all optional\):([\s\S]*?)Unknown keys/.exec(help)?.[1].replace(/\s+/g, " ") ?? "";
  const missing = [
    ...flags.filter((f) => !pending.includes(f) && !new RegExp(`${f}(?![\\w-])`).test(help)),
    ...keys.filter((k) => !pending.includes(k) && !new RegExp(`\\b${k}\\b`).test(keyList)),
  ];
  assert.deepEqual(missing, [], "docs/deployment.md names flags or keys that portico serve does not have");
});
