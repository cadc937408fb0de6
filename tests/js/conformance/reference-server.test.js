// scripts/conformance --compare-node runs the official suites against Node's reference servers
// (tests/js/conformance/reference-server.cjs). The suites themselves never run here (they are
// not this project's code), but the comparison's other side must work: each reference server
// starts and answers a handshake as the protocol documents configure it, and the script offers
// the options the README shows.

import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, spawnListening } from "../lib/server.js";

const REFERENCE = path.join(REPO_ROOT, "tests/js/conformance/reference-server.cjs");

async function withReference(args, fn) {
  const server = await spawnListening(process.execPath, [REFERENCE, ...args, "--port", "0"], {
    label: "reference",
    describeFailure: (msg, logs) => `${msg}\n${logs.join("\n")}`,
  });
  try {
    await fn(`http://127.0.0.1:${server.port}`);
  } finally {
    await server.stop();
  }
}

test("Node's Engine.IO reference server: the suites' settings, v3 only with --allow-eio3", { timeout: 20_000 }, async () => {
  await withReference(["engineio"], async (url) => {
    const res = await fetch(`${url}/engine.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 200);
    const open = JSON.parse((await res.text()).slice(1));
    assert.deepEqual(
      [open.pingInterval, open.pingTimeout, open.maxPayload, res.headers.get("access-control-allow-origin")],
      [300, 200, 1e6, "*"],
    );
    assert.equal((await fetch(`${url}/engine.io/?EIO=3&transport=polling`)).status, 400);
  });
  await withReference(["engineio", "--allow-eio3"], async (url) => {
    const res = await fetch(`${url}/engine.io/?EIO=3&transport=polling`);
    assert.equal(res.status, 200);
    assert.match(await res.text(), /^\d+:0\{"sid":/);
  });
});

test("Node's Socket.IO reference server answers a CONNECT with the auth it got", { timeout: 20_000 }, async () => {
  await withReference(["socketio"], async (url) => {
    const res = await fetch(`${url}/socket.io/?EIO=4&transport=polling`);
    const { sid } = JSON.parse((await res.text()).slice(1));
    const q = `${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`;
    assert.equal(await (await fetch(q, { method: "POST", body: '40{"token":"t"}' })).text(), "ok");
    const body = await (await fetch(q)).text();
    assert.match(body, /^40\{"sid":"[^"]+"\}\x1e42\["auth",\{"token":"t"\}\]$/);
  });
});

test("scripts/conformance --help names the options the README shows", () => {
  const help = execFileSync(path.join(REPO_ROOT, "scripts/conformance"), ["--help"], { encoding: "utf8" });
  for (const option of ["--repeat N", "--busy", "--compare-node", "--as-published"]) assert.ok(help.includes(option), option);
});
