// `portico doctor --json` against the "reach" cases of ./cases.js (fixtures in ./servers.js),
// and the runs that cannot start (exit code 2).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { doctorSuite, describeRun, PAGE } from "./cases.js";
import { runDoctor } from "./servers.js";

doctorSuite("reach");

describe("portico doctor: could not run", { concurrency: true, timeout: 20_000 }, () => {
  for (const [name, target, args] of [
    ["an Engine.IO version other than 3 or 4", "http://127.0.0.1:9", ["--eio", "5"]],
    ["--auth that is not JSON", "http://127.0.0.1:9", ["--auth", "{not json"]],
    ["a target that is not an http(s) URL", "ftp://127.0.0.1:9/", []],
  ]) {
    test(`${name}: exit 2`, { timeout: 10_000 }, async () => {
      const run = await runDoctor(target, PAGE, args);
      assert.equal(run.code, 2, describeRun(run));
    });
  }
});
