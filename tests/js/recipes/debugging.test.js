// Recipe "debugging" (docs/recipes/debugging.md), run for real: examples/debugging at each
// RUST_LOG level, the official socket.io-client, and the curl commands of the doc. Every
// output the doc quotes (log lines, curl answers, the connection_error line) is produced here,
// normalised (ports, ids, times) and compared with the doc's blocks; `UPDATE_DOCS=1 node
// --test tests/js/recipes/debugging.test.js` rewrites those blocks from what the test saw.

import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Manager } from "socket.io-client";
import { REPO_ROOT } from "../lib/server.js";
import { markdownBlock } from "../lib/readme.js";
import { doctor, startRecipe } from "./paths-namespaces-lib.js";

const DOC_PATH = path.join(REPO_ROOT, "docs/recipes/debugging.md");
const PAGE = "http://localhost:5173";
const EVIL = "http://evil.example";
const T = { timeout: 20_000 };
const WAIT_MS = 5000;

/** Outputs the doc quotes, by block name (`<!-- output: NAME -->`), normalised. */
const outputs = {};
const servers = [];
after(async () => {
  for (const s of servers) await s.stop();
});

async function start(rustLog) {
  const s = await startRecipe("debugging", ["--origin", PAGE], { env: { RUST_LOG: rustLog, NO_COLOR: "1" } });
  servers.push(s);
  return s;
}

/** The shell form of a command, as the doc shows it. */
const shell = (argv) => argv.map((a) => (/^[\w./:=-]+$/.test(a) ? a : `'${a}'`)).join(" ");

/** Runs curl; resolves with {argv, out} (out: curl's stdout, CRLF made LF). */
function curl(args) {
  const argv = ["curl", ...args];
  return new Promise((resolve, reject) => {
    execFile("curl", [...args, "--max-time", "5"], { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${shell(argv)} failed: ${err.message}\n${stderr}`));
      else resolve({ argv, out: stdout.replace(/\r\n/g, "\n") });
    });
  });
}

/** `$ command` then its output: one doc block. */
const transcript = ({ argv, out }) => `$ ${shell(argv)}\n${out.replace(/\n+$/, "")}\n`;

/**
 * Makes an output reproducible: the server's port becomes 3000, client ports 50000, each
 * session/socket id a numbered placeholder (the same id, the same placeholder), times fixed.
 */
function normalise(text) {
  const ids = new Map();
  const id = (v) => {
    if (!ids.has(v)) ids.set(v, `<id-${ids.size + 1}>`);
    return ids.get(v);
  };
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z/g, "2026-01-01T00:00:00.000000Z")
    .replace(/^date: .*$/gim, "date: Thu, 01 Jan 2026 00:00:00 GMT")
    .replace(/client=127\.0\.0\.1:\d+/g, "client=127.0.0.1:50000")
    .replace(/(?<!client=)127\.0\.0\.1:\d+/g, "127.0.0.1:3000")
    // Not `\b` after the id: an id may end with `-`, and no word boundary follows it.
    .replace(/\b(sid|socket)=([A-Za-z0-9_-]{20})(?![A-Za-z0-9_-])/g, (_, k, v) => `${k}=${id(v)}`)
    .replace(/"sid":"([A-Za-z0-9_-]{20})"/g, (_, v) => `"sid":"${id(v)}"`);
}

const URL_PATH = "/socket.io/?EIO=4&transport=polling";

test("RUST_LOG unset: the listening line and a refused origin's warning; connection_error says why", T, async () => {
  const s = await start(undefined);
  const refused = await curl(["-si", `${s.origin}${URL_PATH}`, "-H", `Origin: ${EVIL}`]);
  assert.match(refused.out, /^HTTP\/1\.1 403 Forbidden\n/);
  assert.match(refused.out, /\n\{"code":4,"message":"Forbidden"\}$/);
  assert.doesNotMatch(refused.out, /access-control-allow-origin/i, "no CORS header for a refused origin");
  assert.match(refused.out, /\nx-served-by: node-a\n/, "the headers hook runs on errors too");
  const warn = await s.waitStderr(/ WARN portico::service: refused: Forbidden/);
  assert.match(warn, /refusal="origin"/);
  assert.match(warn, new RegExp(`origin=${EVIL}`));
  const line = await s.waitStdout(/^connection_error: /);
  assert.match(line, new RegExp(`origin=${EVIL} transport=polling reason=.*${EVIL}`));
  assert.ok(!s.stderr.some((l) => / DEBUG | TRACE /.test(l)), "nothing below info by default");
  outputs["log-default"] = normalise(s.stderr.join("\n") + "\n");
  outputs["curl-refused"] = normalise(transcript(refused));
  outputs["connection-error"] = normalise(line + "\n");
  // The Symptoms table's finding, after the outputs above were taken (doctor adds log lines).
  assert.deepEqual(await doctor([s.origin, "--origin", EVIL]), ["origin.refused"]);
  assert.deepEqual(await doctor([s.origin, "--origin", PAGE]), []);
});

test("RUST_LOG=portico=debug: the session, the socket, the middleware's refusal, an unknown namespace, EIO=3, a preflight", T, async () => {
  const s = await start("portico=debug");
  const manager = new Manager(s.origin, {
    transports: ["polling"],
    extraHeaders: { origin: PAGE },
    forceNew: true,
    reconnection: false,
    autoConnect: false,
    timeout: WAIT_MS,
  });
  try {
    const main = manager.socket("/");
    const settle = (socket) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("no connect/connect_error within 5 s")), WAIT_MS);
        socket.once("connect", () => (clearTimeout(timer), resolve("connect")));
        socket.once("connect_error", (e) => (clearTimeout(timer), resolve(e.message)));
      });
    main.connect();
    assert.equal(await settle(main), "connect");
    await s.waitStderr(/DEBUG portico::sio::conn: socket connected/);
    const priv = manager.socket("/private");
    priv.connect();
    assert.equal(await settle(priv), "token required");
    const mw = await s.waitStderr(/connect refused by middleware/);
    assert.match(mw, /reason="token required"/);
    const nope = manager.socket("/nope");
    nope.connect();
    assert.equal(await settle(nope), "Invalid namespace");
    await s.waitStderr(/connect to an unknown namespace/);
    const v3 = await curl(["-si", `${s.origin}/socket.io/?EIO=3&transport=polling`]);
    assert.match(v3.out, /^HTTP\/1\.1 400 Bad Request\n/);
    assert.match(v3.out, /\n\{"code":5,"message":"Unsupported protocol version"\}$/);
    const refusedV3 = await s.waitStderr(/ WARN portico::service: refused: Unsupported protocol version/);
    assert.match(refusedV3, /allow_eio3\(true\)/);
    const pre = await curl([
      "-si", "-X", "OPTIONS", `${s.origin}${URL_PATH}`,
      "-H", `Origin: ${PAGE}`, "-H", "Access-Control-Request-Method: POST", "-H", "Access-Control-Request-Headers: authorization",
    ]);
    assert.match(pre.out, /^HTTP\/1\.1 204 No Content\n/);
    assert.match(pre.out, new RegExp(`\naccess-control-allow-origin: ${PAGE}\n`));
    assert.match(pre.out, /\naccess-control-allow-methods: GET, POST\n/);
    assert.match(pre.out, /\naccess-control-allow-headers: authorization\n/);
    await s.waitStderr(/DEBUG portico::service: preflight answered/);
    const session = s.stderr.find((l) => /new polling session/.test(l));
    assert.match(session, new RegExp(`client=127\\.0\\.0\\.1:\\d+ origin=${PAGE} eio=4`));
    assert.ok(!s.stderr.some((l) => / TRACE /.test(l)));
    outputs["log-debug"] = normalise(s.stderr.join("\n") + "\n");
    outputs["curl-eio3"] = normalise(transcript(v3));
    outputs["curl-preflight"] = normalise(transcript(pre));
  } finally {
    manager.engine?.close();
  }
});

test("RUST_LOG=portico=trace: every allowed request too; the handshake's CORS and hook headers", T, async () => {
  const s = await start("portico=trace");
  const hs = await curl(["-si", `${s.origin}${URL_PATH}`, "-H", `Origin: ${PAGE}`]);
  assert.match(hs.out, /^HTTP\/1\.1 200 OK\n/);
  assert.match(hs.out, new RegExp(`\naccess-control-allow-origin: ${PAGE}\n`));
  assert.match(hs.out, /\nvary: Origin\n/i);
  assert.match(hs.out, /\nx-served-by: node-a\n/);
  assert.match(hs.out, new RegExp(`\nx-handshake-origin: ${PAGE}\n`), "the initial_headers hook, on the handshake");
  assert.match(hs.out, /\n0\{"sid":"[A-Za-z0-9_-]{20}","upgrades":\["websocket"\],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000\}$/);
  await s.waitStderr(/new polling session/);
  const allowed = await s.waitStderr(/TRACE portico::service: origin allowed/);
  assert.match(allowed, new RegExp(`origin=${PAGE} method=GET transport=polling`));
  // A second request of the session (its CONNECT to "/", a POST with its sid) is allowed:
  // trace again, and no second session.
  const sid = /"sid":"([^"]+)"/.exec(hs.out)[1];
  const post = await curl(["-si", "-X", "POST", `${s.origin}${URL_PATH}&sid=${sid}`, "-H", `Origin: ${PAGE}`, "--data", "40"]);
  assert.match(post.out, /^HTTP\/1\.1 200 OK\n/);
  assert.doesNotMatch(post.out, /x-handshake-origin/i, "initial_headers only on the handshake");
  await s.waitStderr(/socket connected/);
  assert.equal(s.stderr.filter((l) => /new polling session/.test(l)).length, 1);
  const traces = () => s.stderr.filter((l) => /origin allowed/.test(l)).length;
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`one "origin allowed" line per request:\n${s.describe()}`)), WAIT_MS);
    const check = () => (traces() >= 2 ? (clearTimeout(timer), resolve()) : setImmediate(check));
    check();
  });
  outputs["log-trace"] = normalise(s.stderr.join("\n") + "\n");
  outputs["curl-handshake"] = normalise(transcript(hs));
});

test("docs/recipes/debugging.md quotes exactly these outputs", () => {
  let doc = readFileSync(DOC_PATH, "utf8");
  const names = Object.keys(outputs);
  assert.equal(names.length, 8, `every output was produced: ${names}`);
  if (process.env.UPDATE_DOCS === "1") {
    for (const name of names) {
      const tag = `<!-- output: ${name} -->`;
      const at = doc.indexOf(tag);
      assert.ok(at >= 0, `the doc has ${tag}`);
      const rest = doc.slice(at + tag.length);
      const m = /^\s*\n(`{3,})([^\n]*)\n([\s\S]*?)\n\1\n/.exec(rest);
      assert.ok(m, `a fenced block after ${tag}`);
      const block = `\n${m[1]}${m[2]}\n${outputs[name].replace(/\n$/, "")}\n${m[1]}\n`;
      doc = doc.slice(0, at + tag.length) + block + rest.slice(m[0].length);
    }
    writeFileSync(DOC_PATH, doc);
  }
  for (const name of names) {
    assert.equal(markdownBlock(doc, `output: ${name}`, "docs/recipes/debugging.md"), outputs[name], `block "${name}" (UPDATE_DOCS=1 rewrites it)`);
  }
});
