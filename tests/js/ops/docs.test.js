// docs/operations.md's metrics table is the exposition: every metric a scrape of
// `portico serve --metrics` shows is in the table with its type and labels, and every metric
// of the table is in the scrape.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../lib/server.js";
import { porticoBinary, scrape, startServe } from "./serve.js";

const DOC = fs.readFileSync(path.join(REPO_ROOT, "docs/operations.md"), "utf8");

/** The rows of the metrics table: {name, type, labels} (labels: the label names). */
function documented() {
  const at = DOC.indexOf("<!-- metrics table");
  assert.ok(at >= 0, "docs/operations.md has no metrics table marker");
  const rows = [];
  for (const line of DOC.slice(at).split("\n").slice(1)) {
    if (!line.startsWith("|")) {
      if (rows.length > 0) break;
      continue;
    }
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    const name = /^`(portico_\w+)`$/.exec(cells[0]);
    if (!name) continue; // header and separator
    // "`namespace`", or "`transport` = `polling`, `websocket`": the names, not the values.
    const only = /^`(\w+)`$/.exec(cells[2]);
    const labels = only ? [only[1]] : [...cells[2].matchAll(/`(\w+)` =/g)].map((m) => m[1]);
    rows.push({ name: name[1], type: cells[1], labels });
  }
  return rows;
}

const servers = [];
after(async () => {
  for (const s of servers) await s.kill();
});

test("docs/operations.md documents exactly the metrics a scrape shows", { timeout: 20_000 }, async () => {
  const server = await startServe([], { bin: porticoBinary({ preferRelease: false }) });
  servers.push(server);
  const { text } = await scrape(server.metricsUrl);
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  const samples = new Map();
  for (const line of text.split("\n")) {
    const m = /^(portico_\w+)(?:\{([^}]*)\})? /.exec(line);
    if (!m) continue;
    const labels = m[2] ? [...m[2].matchAll(/(\w+)="/g)].map((l) => l[1]) : [];
    samples.set(m[1], [...new Set([...(samples.get(m[1]) ?? []), ...labels])]);
  }
  const rows = documented();
  assert.deepEqual(rows.map((r) => r.name).sort(), [...samples.keys()].sort(), "metric names");
  for (const row of rows) {
    const family = row.type === "counter" ? row.name.replace(/_total$/, "") : row.name;
    assert.equal(types.get(family), row.type, `${row.name}: type`);
    assert.deepEqual(samples.get(row.name), row.labels, `${row.name}: labels`);
  }
});
