// README.md shows some files whole, each under a `<!-- file: SHOWN [= REPO_FILE] -->` marker:
// every such block must equal the file in the repository (REPO_FILE, or SHOWN when it is a
// repository path), so the README shows code that compiles (cargo builds every example) and
// runs (tests/browser/try-it.test.js, tests/js/examples/). Blocks shown only in the README
// (the Try-it page) are run by the try-it test itself.
// docs/deployment.md shows the configs of docs/deployment/ the same way (tests/js/deploy/ runs
// the nginx ones); there every marker must name a file, and every file there must be shown.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, README, fileMarkers, markdownBlock, readmeBlock, readmeFileMarkers } from "../lib/readme.js";

const REQUIRED = ["crates/portico/examples/hello.rs", "crates/portico/examples/axum_chat.rs"];

test("README.md shows the Try-it server and the whole app exactly as the repository has them", () => {
  const markers = readmeFileMarkers();
  const checked = [];
  for (const { marker, repoFile } of markers) {
    const file = path.join(REPO_ROOT, repoFile);
    if (!fs.existsSync(file)) continue; // README-only (e.g. page/index.html)
    assert.equal(readmeBlock(marker), fs.readFileSync(file, "utf8"), `README.md's block for ${repoFile} differs from the file: paste the file`);
    checked.push(repoFile);
  }
  for (const f of REQUIRED) assert.ok(checked.includes(f), `README.md no longer shows ${f} (checked: ${checked.join(", ")})`);
});

test("the crate's front page is the Try-it server too (include_str of examples/hello.rs)", () => {
  const lib = fs.readFileSync(path.join(REPO_ROOT, "crates/portico/src/lib.rs"), "utf8");
  assert.match(lib, /#!\[doc = include_str!\("\.\.\/examples\/hello\.rs"\)\]/);
  assert.ok(README.includes("<!-- file: src/main.rs = crates/portico/examples/hello.rs -->"));
});

test("docs/deployment.md shows every file of docs/deployment/ exactly as the repository has it", () => {
  const doc = "docs/deployment.md";
  const text = fs.readFileSync(path.join(REPO_ROOT, doc), "utf8");
  const shown = [];
  for (const { marker, repoFile } of fileMarkers(text)) {
    const file = path.join(REPO_ROOT, repoFile);
    assert.ok(fs.existsSync(file), `${doc} shows ${repoFile}, which is not in the repository`);
    assert.equal(markdownBlock(text, marker, doc), fs.readFileSync(file, "utf8"), `${doc}'s block for ${repoFile} differs from the file: paste the file`);
    shown.push(repoFile);
  }
  const files = fs.readdirSync(path.join(REPO_ROOT, "docs/deployment")).map((f) => `docs/deployment/${f}`);
  assert.ok(files.includes("docs/deployment/nginx.conf"), "docs/deployment/nginx.conf is gone");
  assert.deepEqual(files.filter((f) => !shown.includes(f)), [], `${doc} does not show these files`);
});
