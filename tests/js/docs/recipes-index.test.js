// docs/recipes.md is the index of the recipes (issue 17): the symptom a user sees -> the recipe
// that fixes it -> the `portico doctor` finding that detects it. The index must not drift from
// the recipes: every recipe doc (docs/recipes/*.md) and every example crate (examples/<name>) is
// indexed, every row of a recipe's own `## Symptoms` table is in the index with the same cells,
// and every finding id named is one that docs/doctor.md documents and the doctor can report.

import { test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../lib/readme.js";

const INDEX = "docs/recipes.md";
const read = (p) => fs.readFileSync(path.join(REPO_ROOT, p), "utf8");

/** The rows of the first markdown table after `heading` (or of the whole text): arrays of cells. */
function tableRows(text, heading) {
  let body = text;
  if (heading) {
    const at = text.indexOf(`\n${heading}\n`);
    if (at < 0) return null;
    body = text.slice(at + heading.length + 2).split(/\n#{1,2} /)[0];
  }
  const lines = body.split("\n").filter((l) => l.startsWith("|"));
  return lines
    .filter((l) => !/^\|\s*-/.test(l))
    .slice(1) // the header
    .map((l) =>
      l
        .slice(1, l.trimEnd().endsWith("|") ? l.trimEnd().length - 1 : undefined)
        .split(/(?<!\\)\|/)
        .map((c) => c.trim()),
    );
}

const DOCUMENTED = new Set([...read("docs/doctor.md").matchAll(/^### `([a-z]+\.[a-z0-9-]+)`/gm)].map((m) => m[1]));

/** The doctor finding ids (those docs/doctor.md documents) named in a cell, in order. */
const findingIds = (cell) => [...cell.matchAll(/[a-z]+\.[a-z][a-z0-9-]*/g)].map((m) => m[0]).filter((id) => DOCUMENTED.has(id));

const recipeDocs = () =>
  fs
    .readdirSync(path.join(REPO_ROOT, "docs/recipes"))
    .filter((f) => f.endsWith(".md"))
    .sort();
const exampleCrates = () =>
  fs
    .readdirSync(path.join(REPO_ROOT, "examples"))
    .filter((d) => fs.existsSync(path.join(REPO_ROOT, "examples", d, "Cargo.toml")))
    .sort();

const index = read(INDEX);
const indexRows = tableRows(index, "## Symptoms");

test("docs/recipes.md has a symptom table: symptom | recipe | doctor finding", () => {
  assert.ok(indexRows && indexRows.length > 0, `${INDEX} needs a '## Symptoms' table`);
  for (const row of indexRows) assert.equal(row.length, 3, `${INDEX}: a row needs 3 cells: ${row.join(" | ")}`);
});

test("every recipe doc and every example crate is linked from the index, and every link resolves", () => {
  const docs = recipeDocs();
  assert.ok(docs.length >= 8, `expected the 8 recipes of issue 17 under docs/recipes/, found ${docs.join(", ")}`);
  for (const doc of docs) assert.ok(index.includes(`](recipes/${doc})`), `${INDEX} does not link recipes/${doc}`);
  for (const name of exampleCrates()) {
    assert.ok(index.includes(`](../examples/${name})`) || index.includes(`](../examples/${name}/)`), `${INDEX} does not link examples/${name}`);
  }
  for (const m of index.matchAll(/\]\(((?:recipes\/|\.\.\/)[^)#]+)(?:#[^)]*)?\)/g)) {
    assert.ok(fs.existsSync(path.join(REPO_ROOT, "docs", m[1])), `${INDEX} links ${m[1]}, which does not exist`);
  }
});

test("every recipe's own Symptoms rows are in the index, with the same finding ids", () => {
  const byText = new Map(indexRows.map((r) => [r[0], r]));
  for (const doc of recipeDocs()) {
    const rows = tableRows(read(`docs/recipes/${doc}`), "## Symptoms");
    assert.ok(rows && rows.length > 0, `docs/recipes/${doc} needs a '## Symptoms' table (symptom | doctor finding)`);
    for (const [symptom, finding] of rows) {
      const row = byText.get(symptom);
      assert.ok(row, `${INDEX} lacks the symptom of docs/recipes/${doc}: ${symptom}`);
      assert.ok(row[1].includes(`recipes/${doc}`), `${INDEX}: the row for ${symptom} should link recipes/${doc} (has ${row[1]})`);
      assert.deepEqual(findingIds(row[2]).sort(), findingIds(finding).sort(), `${INDEX} and docs/recipes/${doc} disagree on the findings for ${symptom}`);
    }
  }
});

test("every finding id in the index is documented in docs/doctor.md and reported by the doctor's code", () => {
  const documented = DOCUMENTED;
  assert.ok(documented.size >= 20, "docs/doctor.md documents its findings under ### `id` headings");
  const srcDir = path.join(REPO_ROOT, "crates/portico-cli/src/doctor");
  const src = fs
    .readdirSync(srcDir, { recursive: true })
    .filter((f) => f.endsWith(".rs"))
    .map((f) => fs.readFileSync(path.join(srcDir, f), "utf8"))
    .join("\n");
  let named = 0;
  for (const row of indexRows) {
    // Every `a.b` in backticks is meant as a finding id: a typo must not pass as prose.
    const ids = [...row[2].matchAll(/`([a-z]+\.[a-z0-9-]+)`/g)].map((m) => m[1]);
    if (ids.length === 0) assert.match(row[2], /^(—|several)/, `${INDEX}: the finding cell of '${row[0]}' names no id and is not '—' or 'several: …'`);
    for (const id of ids) {
      assert.ok(documented.has(id), `${INDEX} names \`${id}\`, which docs/doctor.md does not document`);
      assert.ok(src.includes(`"${id}"`), `${INDEX} names \`${id}\`, which crates/portico-cli/src/doctor never reports`);
      named += 1;
    }
  }
  assert.ok(named > 0);
});
