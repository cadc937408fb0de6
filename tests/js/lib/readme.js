// Reads the fenced blocks of README.md that follow a marker comment, so tests run what the
// README shows instead of a copy of it.

import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const README = readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");

/**
 * The content of the fenced block right after `<!-- MARKER -->` in README.md (the text
 * between the fences, ending with a newline). Throws when the marker or its block is missing.
 */
export function readmeBlock(marker) {
  const tag = `<!-- ${marker} -->`;
  const at = README.indexOf(tag);
  if (at < 0) throw new Error(`README.md has no ${tag}`);
  const rest = README.slice(at + tag.length);
  const m = /^\s*\n(`{3,})[^\n]*\n([\s\S]*?)\n\1\n/.exec(rest);
  if (!m) throw new Error(`README.md: no fenced block right after ${tag}`);
  return `${m[2]}\n`;
}

/** Every `<!-- file: PATH ... -->` marker of README.md: [{marker, path}]. */
export function readmeFileMarkers() {
  return [...README.matchAll(/<!-- (file: ([^ ]+)(?: = ([^ ]+))?) -->/g)].map((m) => ({
    marker: m[1],
    shown: m[2],
    repoFile: m[3] ?? m[2],
  }));
}
