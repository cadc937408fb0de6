// README.md quotes `portico` output in blocks marked `<!-- output of: portico ARGS -->`
// followed by a ```text block: the help of `portico serve` and its startup errors. Each marked
// command is run here and its output must equal the block exactly: stdout for a command that
// succeeds (exit 0), stderr for one that refuses (exit 1). A new marked block is checked too.

import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { REPO_ROOT } from "../lib/server.js";
import { porticoBinary } from "../lib/cors.js";
import { README, readmeBlock } from "../lib/readme.js";

// Commands that must stay quoted (the README's promises about the CLI).
const REQUIRED = [
  "serve --help",
  "serve --cors-any-origin --cors-credentials",
  "serve --cors-origin https://app.example.com/",
];

/** Splits a command line on spaces, with '...' and "..." quoting (no escapes). */
function words(line) {
  const out = [];
  for (const m of line.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)) out.push(m[1] ?? m[2] ?? m[3]);
  return out;
}

const commands = [...README.matchAll(/<!-- output of: portico ([^\n]*?) -->/g)].map((m) => m[1]);

test("README.md quotes the required `portico` outputs", () => {
  for (const args of REQUIRED) assert.ok(commands.includes(args), `README.md no longer quotes \`portico ${args}\``);
});

for (const args of commands) {
  test(`README.md quotes \`portico ${args}\` exactly`, { timeout: 20_000 }, () => {
    const expected = readmeBlock(`output of: portico ${args}`); // throws without a fenced block
    const env = { ...process.env, COLUMNS: "200" }; // wider than the 100 columns help is capped at
    delete env.NO_COLOR;
    delete env.RUST_LOG;
    const r = spawnSync(porticoBinary(), words(args), {
      cwd: REPO_ROOT,
      env,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"], // no terminal: the width comes from COLUMNS
      timeout: 10_000, // a command that starts a server would never exit
      killSignal: "SIGKILL",
    });
    if (r.error) throw new Error(`portico ${args}: ${r.error.message} (is ${porticoBinary()} built?)\n${r.stderr}`);
    assert.equal(r.signal, null, `portico ${args} was killed:\n${r.stderr}`);
    if (r.status === 0) {
      assert.equal(r.stderr, "", `portico ${args} wrote to stderr`);
      assert.equal(r.stdout, expected, `README.md's block differs from \`portico ${args}\`; paste its output`);
    } else {
      assert.equal(r.status, 1, `portico ${args} exited with ${r.status} (signal ${r.signal}):\n${r.stderr}`);
      assert.equal(r.stdout, "", `portico ${args} wrote to stdout`);
      assert.equal(r.stderr, expected, `README.md's block differs from \`portico ${args}\`'s stderr; paste it`);
    }
  });
}
