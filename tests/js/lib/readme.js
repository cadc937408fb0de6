// Reads the fenced blocks of README.md (or another markdown file of the repository) that follow
// a marker comment, so tests run what the docs show instead of a copy of it.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const README = readFileSync(path.join(REPO_ROOT, "README.md"), "utf8");

const SKIP_DIRS = new Set([".git", "node_modules", "target", ".suites"]);

/** Every file of the repository (build output and dependencies left out), relative, with "/". */
export function repoFiles(dir = REPO_ROOT, out = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP_DIRS.has(entry.name) || entry.name.startsWith("target-")) continue;
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) repoFiles(full, out);
    else out.push(path.relative(REPO_ROOT, full).split(path.sep).join("/"));
  }
  return out;
}

/**
 * The content of the fenced block right after `<!-- MARKER -->` in `text` (the markdown file
 * `name`): the text between the fences, ending with a newline. Throws when the marker or its
 * block is missing.
 */
export function markdownBlock(text, marker, name) {
  const tag = `<!-- ${marker} -->`;
  const at = text.indexOf(tag);
  if (at < 0) throw new Error(`${name} has no ${tag}`);
  const rest = text.slice(at + tag.length);
  const m = /^\s*\n(`{3,})[^\n]*\n([\s\S]*?)\n\1\n/.exec(rest);
  if (!m) throw new Error(`${name}: no fenced block right after ${tag}`);
  return `${m[2]}\n`;
}

/** Every `<!-- file: PATH [= REPO_FILE] -->` marker of `text`: [{marker, shown, repoFile}]. */
export function fileMarkers(text) {
  return [...text.matchAll(/<!-- (file: ([^ ]+)(?: = ([^ ]+))?) -->/g)].map((m) => ({
    marker: m[1],
    shown: m[2],
    repoFile: m[3] ?? m[2],
  }));
}

/** `markdownBlock` of README.md. */
export function readmeBlock(marker) {
  return markdownBlock(README, marker, "README.md");
}

/** `fileMarkers` of README.md. */
export function readmeFileMarkers() {
  return fileMarkers(README);
}
