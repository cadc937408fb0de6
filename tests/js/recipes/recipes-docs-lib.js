// Checks shared by the reverse-proxy and cluster recipe tests: the Rust code a recipe's doc shows
// is in the example's source (each piece between `// ...` lines, indentation aside), and every
// relative link of the doc points to a file of the repository.

import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../lib/server.js";

const norm = (lines) => lines.map((l) => l.trim()).filter((l) => l !== "");

/** The pieces of the doc's ```rust blocks that are not in `srcFile` (empty when all are). */
export function rustPiecesMissing(docFile, srcFile) {
  const doc = fs.readFileSync(path.join(REPO_ROOT, docFile), "utf8");
  const src = norm(fs.readFileSync(path.join(REPO_ROOT, srcFile), "utf8").split("\n")).join("\n");
  const missing = [];
  let pieces = 0;
  for (const [, block] of doc.matchAll(/```rust\n([\s\S]*?)```/g)) {
    for (const piece of block.split(/^\s*\/\/ \.\.\.\s*$/m)) {
      const lines = norm(piece.split("\n"));
      if (lines.length === 0) continue;
      pieces++;
      if (!src.includes(lines.join("\n"))) missing.push(lines.join("\n"));
    }
  }
  if (pieces === 0) missing.push(`${docFile}: no rust block found`);
  return missing;
}

/** The doc's relative links whose target does not exist. */
export function brokenLinks(docFile) {
  const doc = fs.readFileSync(path.join(REPO_ROOT, docFile), "utf8");
  const dir = path.dirname(path.join(REPO_ROOT, docFile));
  return [...doc.matchAll(/\]\(([^)#\s]+)\)/g)]
    .map((m) => m[1])
    .filter((l) => !/^[a-z]+:/.test(l))
    .filter((l) => !fs.existsSync(path.join(dir, l)));
}
