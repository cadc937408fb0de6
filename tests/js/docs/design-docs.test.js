// The design docs stay true to the tree: every file they name exists, and "Where later work
// lives" (docs/ARCHITECTURE.md) names no builder setter that is already built.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, repoFiles } from "../lib/readme.js";

const DOCS = ["docs/ARCHITECTURE.md", "docs/admin-ui.md", "docs/cors.md", "docs/deployment.md", "docs/operations.md"];

/** The `code spans` of a markdown text. */
function codeSpans(text) {
  return [...text.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
}

const files = repoFiles();

for (const doc of DOCS) {
  test(`${doc}: every file it names is in the repository`, () => {
    const text = fs.readFileSync(path.join(REPO_ROOT, doc), "utf8");
    // Paths may be relative to a crate's src/ (`engine/conn.rs`): match whole trailing components.
    const named = codeSpans(text).filter((s) => /^[\w./-]+\.(rs|md|toml|js|json)$/.test(s));
    assert.ok(named.length > 0 || doc !== "docs/ARCHITECTURE.md", "no file names found: is the pattern still right?");
    const missing = named.filter((p) => !files.some((f) => f === p || f.endsWith(`/${p}`)));
    assert.deepEqual(missing, [], `${doc} names files that do not exist`);
  });
}

test("docs/ARCHITECTURE.md: \"Where later work lives\" names no setter that is already built", () => {
  const text = fs.readFileSync(path.join(REPO_ROOT, "docs/ARCHITECTURE.md"), "utf8");
  const section = /^## Where later work lives\n([\s\S]*?)(?=^## |(?![\s\S]))/m.exec(text)?.[1] ?? "";
  const src = files
    .filter((f) => f.startsWith("crates/portico/src/") && f.endsWith(".rs"))
    .map((f) => fs.readFileSync(path.join(REPO_ROOT, f), "utf8"))
    .join("\n");
  const built = codeSpans(section).filter((id) => /^[a-z][a-z0-9_]*$/.test(id) && new RegExp(`pub fn ${id}\\b`).test(src));
  assert.deepEqual(built, [], "listed as later work, but `pub fn` exists in crates/portico/src");
});
