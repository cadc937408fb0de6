// The benchmark compares code, not build flags: every Rust server in it (Portico's bench server,
// the socketioxide peer and the floor) is built with the same release profile. Each peer is its
// own Cargo workspace, so it has its own [profile.release]; this test fails when one of them
// drifts from the workspace's (a peer left on the default profile would be measured ~10% slower
// than Portico for the flags alone: bench/README.md, "The build profile").

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../lib/server.js";

/** The `key = value` lines of a TOML file's `[profile.release]` table, as a plain object. */
function releaseProfile(manifest) {
  const text = fs.readFileSync(path.join(REPO_ROOT, manifest), "utf8");
  const profile = {};
  let inside = false;
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line.startsWith("[")) {
      inside = line === "[profile.release]";
      continue;
    }
    const m = inside && line.match(/^([A-Za-z0-9_-]+)\s*=\s*(.+)$/);
    if (m) profile[m[1]] = m[2].trim();
  }
  return profile;
}

test("the workspace and both Rust peers share one release profile, with fat LTO and one codegen unit", () => {
  const portico = releaseProfile("Cargo.toml");
  assert.equal(portico.lto, '"fat"', "the workspace's release profile has fat LTO");
  assert.equal(portico["codegen-units"], "1", "the workspace's release profile has one codegen unit");
  for (const peer of ["bench/peers/socketioxide/Cargo.toml", "bench/peers/floor/Cargo.toml"]) {
    assert.deepEqual(releaseProfile(peer), portico, `${peer}'s [profile.release] is the workspace's`);
  }
});
