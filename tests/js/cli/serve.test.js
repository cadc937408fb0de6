// `portico serve`: the demo chat (page, bundle route, chat between two clients), --no-demo,
// the TOML config file (honoured, overridden by flags, unknown keys refused), graceful
// shutdown on SIGINT/SIGTERM (logged once, also with --demo-origin), its log lines (plain text
// on a pipe; a refused origin as origin=<origin>) and startup errors that name the flag or the
// file key to change. Each test starts its own server on an ephemeral port.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, once, withTimeout } from "../lib/server.js";
import { Clients, next } from "../lib/client.js";
import { eioUrl, httpRequest, request } from "../lib/raw.js";
import { freePort } from "../lib/cors.js";

const BIN = process.env.PORTICO_BIN
  ? path.resolve(process.env.PORTICO_BIN)
  : path.join(REPO_ROOT, "target/debug/portico");
const START_TIMEOUT_MS = 10_000;
const LISTENING = /Portico listening on (http:\/\/127\.0\.0\.1:(\d+)) \(Socket\.IO path (\S+)\)/;
const HAS_CLIENT_BUNDLE = fs.existsSync(
  path.join(REPO_ROOT, "tests/js/node_modules/socket.io-client/dist/socket.io.min.js"),
);

const running = new Set();
const clients = new Set();
const tempDirs = new Set();

afterEach(async () => {
  for (const c of clients) c.closeAll();
  clients.clear();
  await Promise.all([...running].map((s) => s.kill()));
  running.clear();
  for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  tempDirs.clear();
});

function newClients(url) {
  const c = new Clients(url);
  clients.add(c);
  return c;
}

/**
 * Spawns `portico serve <args>` from the repo root (where it finds the client bundle).
 * Returns {child, stderr(), exit}: `exit` resolves with {code, signal}.
 */
function spawnServe(args, { env = process.env } = {}) {
  const child = spawn(BIN, ["serve", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...env, RUST_LOG: env.RUST_LOG ?? "portico=info" },
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
  child.stdout.resume();
  const exit = new Promise((resolve, reject) => {
    child.once("error", (err) =>
      reject(new Error(`cannot run ${BIN} (${err.message}); build it with \`cargo build -p portico-cli\` or set PORTICO_BIN`)),
    );
    child.once("exit", (code, signal) => {
      process.removeListener("exit", killOnExit);
      resolve({ code, signal });
    });
  });
  return { child, exit, stderr: () => stderr };
}

/** Runs `portico serve <args>` to its exit (bounded); resolves with {code, signal, stderr}. */
async function runServe(args) {
  const proc = spawnServe(args);
  const { code, signal } = await withTimeout(proc.exit, START_TIMEOUT_MS, `portico serve ${args.join(" ")}`).catch(
    (err) => {
      proc.child.kill("SIGKILL");
      throw err;
    },
  );
  return { code, signal, stderr: proc.stderr() };
}

/** The server's WARN lines so far. */
function warnLines(server) {
  return server.stderr().split("\n").filter((l) => / WARN /.test(l));
}

function escapeRe(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Starts `portico serve --port 0 <args>` and waits for its "Portico listening on" line.
 * Resolves with {url, port, path, child, exit, stderr(), kill()}. `options.env` replaces the
 * environment.
 */
async function startServe(args, options) {
  const proc = spawnServe(args, options);
  let exited = null;
  proc.exit.then((e) => (exited = e), () => {});
  const listening = await withTimeout(
    new Promise((resolve, reject) => {
      const check = () => {
        const m = LISTENING.exec(proc.stderr());
        if (m) {
          proc.child.stderr.off("data", check);
          resolve(m);
        }
      };
      proc.child.stderr.on("data", check);
      proc.exit.then(
        ({ code, signal }) => reject(new Error(`portico serve exited early (code ${code}, signal ${signal}):\n${proc.stderr()}`)),
        reject,
      );
      check();
    }),
    START_TIMEOUT_MS,
    `"Portico listening on" from portico serve ${args.join(" ")}`,
  ).catch((err) => {
    proc.child.kill("SIGKILL");
    throw err;
  });
  const server = {
    ...proc,
    url: listening[1],
    port: Number(listening[2]),
    path: listening[3],
    /** SIGKILL unless it already exited; waits for the exit. */
    kill: async () => {
      if (!exited) proc.child.kill("SIGKILL");
      await proc.exit;
    },
  };
  running.add(server);
  return server;
}

/** Waits (bounded) until the server's stderr matches `re`. */
function waitForStderr(server, re, timeoutMs = 5000) {
  return withTimeout(
    new Promise((resolve) => {
      const check = () => {
        if (re.test(server.stderr())) {
          server.child.stderr.off("data", check);
          resolve();
        }
      };
      server.child.stderr.on("data", check);
      check();
    }),
    timeoutMs,
    `stderr matching ${re}`,
  );
}

/** A temporary TOML file with `text`. */
function tomlFile(text) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-serve-"));
  tempDirs.add(dir);
  const file = path.join(dir, "portico.toml");
  fs.writeFileSync(file, text);
  return file;
}

/** A polling handshake on `path`; resolves with the parsed open packet. */
async function openPacket(url, ioPath) {
  const res = await request(eioUrl(url, {}, ioPath));
  assert.equal(res.status, 200, res.text);
  assert.ok(res.text.startsWith("0{"), res.text);
  return JSON.parse(res.text.slice(1));
}

test("the demo page is HTML that loads the client bundle, and the bundle route serves it", {
  timeout: 20_000,
  skip: HAS_CLIENT_BUNDLE ? false : "tests/js/node_modules has no socket.io-client bundle",
}, async () => {
  const server = await startServe(["--port", "0"]);
  assert.equal(server.path, "/socket.io/");
  const page = await request(`${server.url}/`);
  assert.equal(page.status, 200);
  assert.match(page.contentType, /^text\/html/);
  const scripts = [...page.text.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]);
  assert.ok(scripts.length > 0, "the page loads no script");
  for (const src of scripts) {
    const bundle = await request(new URL(src, `${server.url}/`).href);
    assert.equal(bundle.status, 200, `${src}: ${bundle.text.slice(0, 200)}`);
    assert.match(bundle.contentType, /javascript/, src);
    // The socket.io-client browser bundle (it defines the global `io`).
    assert.ok(bundle.text.length > 10_000, `${src}: ${bundle.text.length} bytes`);
    assert.match(bundle.text, /socket\.io/i, src);
  }
});

test("--no-demo: no page at /, Socket.IO still served", { timeout: 20_000 }, async () => {
  const server = await startServe(["--port", "0", "--no-demo"]);
  const page = await request(`${server.url}/`);
  assert.equal(page.status, 404);
  const open = await openPacket(server.url, "/socket.io/");
  assert.equal(typeof open.sid, "string");
  const socket = await newClients(server.url).connect("/");
  assert.equal(socket.connected, true);
});

test("the config file is honoured, and a flag overrides it", { timeout: 30_000 }, async () => {
  const file = tomlFile('port = 0\nping_interval_ms = 1234\npath = "/custom-io/"\n');

  const fromFile = await startServe(["--config", file]);
  assert.equal(fromFile.path, "/custom-io/");
  const open = await openPacket(fromFile.url, "/custom-io/");
  assert.equal(open.pingInterval, 1234);
  // The default path is not Socket.IO any more.
  const defaultPath = await request(eioUrl(fromFile.url));
  assert.equal(defaultPath.status, 404);
  const socket = await newClients(fromFile.url).connect("/", { path: "/custom-io/" });
  assert.equal(socket.connected, true);
  await fromFile.kill();

  const overridden = await startServe(["--config", file, "--ping-interval", "4321"]);
  assert.equal(overridden.path, "/custom-io/");
  const open2 = await openPacket(overridden.url, "/custom-io/");
  assert.equal(open2.pingInterval, 4321);
});

test("a config file with an unknown key refuses to start and names the key", { timeout: 20_000 }, async () => {
  const file = tomlFile('port = 0\nping_interval_ms = 1234\nping_intervall_ms = 99\n');
  const proc = spawnServe(["--config", file]);
  const { code } = await withTimeout(proc.exit, START_TIMEOUT_MS, "portico serve with a bad config file");
  assert.notEqual(code, 0, proc.stderr());
  assert.match(proc.stderr(), /ping_intervall_ms/);
  assert.doesNotMatch(proc.stderr(), /Portico listening on/);
});

test("demo chat: two clients exchange a chat message", { timeout: 20_000 }, async () => {
  const server = await startServe(["--port", "0"]);
  const c = newClients(server.url);
  const alice = await c.connect("/");
  const bob = await c.connect("/", { transports: ["websocket"] });
  const atBob = next(bob, "chat");
  const atAlice = next(alice, "chat");
  alice.emit("chat", "hello from alice");
  const [toBob] = await atBob;
  const [toAlice] = await atAlice;
  assert.deepEqual(toBob, { from: alice.id, text: "hello from alice" });
  assert.deepEqual(toAlice, toBob);
});

test("SIGINT: websocket and polling clients are disconnected, exit code 0 within 5 s", { timeout: 20_000 }, async () => {
  const server = await startServe(["--port", "0"]);
  const c = newClients(server.url);
  const ws = await c.connect("/", { transports: ["websocket"] });
  const polling = await c.connect("/", { transports: ["polling"] });
  assert.equal(ws.io.engine.transport.name, "websocket");
  assert.equal(polling.io.engine.transport.name, "polling");
  const wsGone = once(ws, "disconnect", 5000);
  const pollingGone = once(polling, "disconnect", 5000);

  const sent = performance.now();
  server.child.kill("SIGINT");
  const [[wsReason], [pollingReason]] = await Promise.all([wsGone, pollingGone]);
  const { code, signal } = await withTimeout(server.exit, 5000, "exit after SIGINT");
  const tookMs = Math.round(performance.now() - sent);
  assert.equal(signal, null, server.stderr());
  assert.equal(code, 0, server.stderr());
  assert.ok(tookMs < 5000, `exit took ${tookMs} ms`);
  assert.ok(["transport close", "io server disconnect"].includes(wsReason), `websocket: ${wsReason}`);
  assert.ok(["transport close", "io server disconnect"].includes(pollingReason), `polling: ${pollingReason}`);
});

test("SIGINT: a polling client between two GETs still collects its close packet", { timeout: 20_000 }, async () => {
  const server = await startServe(["--port", "0", "--no-demo"]);
  const { sid } = await openPacket(server.url, "/socket.io/");
  const base = eioUrl(server.url, { sid });
  // Each request on a new connection, as socket.io-client's polling does in Node.
  const fresh = (opts) => httpRequest(base, opts).response;
  assert.equal((await fresh({ method: "POST", body: "40", headers: { "content-type": "text/plain" } })).text, "ok");
  // The CONNECT reply answers this GET: now no GET is pending, as between two polls.
  assert.match((await fresh()).text, /^40\{/);
  const shuttingDown = waitForStderr(server, /shutting down: \d+ sessions/);
  const sent = performance.now();
  server.child.kill("SIGINT");
  await shuttingDown;
  const last = await fresh(); // the listener still accepts while the sessions close
  assert.deepEqual([last.status, last.text], [200, "1"]);
  const { code } = await withTimeout(server.exit, 5000, "exit after SIGINT");
  assert.equal(code, 0);
  assert.ok(performance.now() - sent < 1000, `exit took ${Math.round(performance.now() - sent)} ms`);
});

test("log lines have no ANSI colours when stderr is a pipe", { timeout: 20_000 }, async () => {
  // NO_COLOR unset: a pipe alone must turn colours off.
  const env = { ...process.env };
  delete env.NO_COLOR;
  const server = await startServe(["--port", "0", "--no-demo"], { env });
  // A WARN line too (its level is the coloured part): a refused origin.
  const res = await httpRequest(eioUrl(server.url), { headers: { origin: "http://evil.example" } }).response;
  assert.equal(res.status, 403);
  await waitForStderr(server, / WARN /);
  assert.match(server.stderr(), / INFO .*origin policy: same origin/);
  assert.ok(!server.stderr().includes("\x1b["), JSON.stringify(server.stderr()));
});

test("a refused origin is logged as origin=<origin>, a refusal without Origin has no origin field", { timeout: 20_000 }, async () => {
  const server = await startServe(["--port", "0", "--no-demo"]);
  const evil = await httpRequest(eioUrl(server.url), { headers: { origin: "http://evil.example" } }).response;
  assert.equal(evil.status, 403);
  await waitForStderr(server, /refused a polling request from origin/);
  const [withOrigin] = warnLines(server);
  assert.ok(withOrigin.endsWith(" origin=http://evil.example transport=polling"), withOrigin);
  // A browser's cross-site request without Origin: refused, and there is no origin to log.
  const noOrigin = await httpRequest(eioUrl(server.url), { headers: { "sec-fetch-site": "cross-site" } }).response;
  assert.equal(noOrigin.status, 403);
  await waitForStderr(server, /refused a polling request without an Origin header/);
  const [, without] = warnLines(server);
  assert.ok(without.endsWith(" transport=polling"), without);
  assert.doesNotMatch(without, / origin=/);
  for (const line of warnLines(server)) assert.doesNotMatch(line, /Some\(|None/);
});

for (const signal of ["SIGINT", "SIGTERM"]) {
  test(`--demo-origin, ${signal}: the shutdown is logged once, exit code 0`, { timeout: 20_000 }, async () => {
    const demoPort = await freePort();
    const server = await startServe(["--port", "0", "--demo-origin", String(demoPort)]);
    await waitForStderr(server, /Demo chat \(cross-origin\): open (\S+)\//);
    const page = await request(`http://127.0.0.1:${demoPort}/`);
    assert.equal(page.status, 200);
    server.child.kill(signal);
    const { code } = await withTimeout(server.exit, 5000, `exit after ${signal}`);
    assert.equal(code, 0, server.stderr());
    // Each shutdown line once (the main port and the demo page's port share one shutdown).
    const lines = server
      .stderr()
      .split("\n")
      .filter((l) => /shutting down/.test(l))
      .map((l) => l.replace(/^\S+\s+/, "")); // without the timestamp
    assert.ok(lines.length > 0, server.stderr());
    assert.deepEqual(lines, [...new Set(lines)], `a shutdown line is printed twice:\n${server.stderr()}`);
  });
}

test("--demo-origin 0: the demo page gets a free port, and the origin policy allows that port", { timeout: 20_000 }, async () => {
  const server = await startServe(["--port", "0", "--demo-origin", "0"]);
  const DEMO = /Demo chat \(cross-origin\): open (http:\/\/127\.0\.0\.1:\d+)\//;
  await waitForStderr(server, DEMO);
  const [, demoUrl] = DEMO.exec(server.stderr());
  assert.doesNotMatch(demoUrl, /:0$/);
  const page = await request(`${demoUrl}/`);
  assert.equal(page.status, 200);
  const allowed = await httpRequest(eioUrl(server.url), { headers: { origin: demoUrl } }).response;
  assert.equal(allowed.status, 200, `a handshake from the demo page's origin ${demoUrl}`);
  server.child.kill("SIGKILL");
});

test("--cors-origin '*': refused with the flag that allows every origin, not the library call", { timeout: 20_000 }, async () => {
  const { code, stderr } = await runServe(["--port", "0", "--no-demo", "--cors-origin", "*"]);
  assert.equal(code, 1, stderr);
  assert.equal(
    stderr,
    'error: --cors-origin: "*" is a wildcard, not an origin: to allow every origin, use --cors-any-origin instead ' +
      '(it sends "Access-Control-Allow-Origin: *" and cannot be combined with --cors-credentials)\n',
  );
  const file = tomlFile('port = 0\ndemo = false\ncors_origins = ["*"]\n');
  const fromFile = await runServe(["--config", file]);
  assert.equal(fromFile.code, 1, fromFile.stderr);
  assert.equal(
    fromFile.stderr,
    `error: cors_origins in ${file}: "*" is a wildcard, not an origin: to allow every origin, use cors_any_origin = true ` +
      'instead (it sends "Access-Control-Allow-Origin: *" and cannot be combined with cors_credentials)\n',
  );
});

test("a setting from the config file is named by its key and the file in errors", { timeout: 20_000 }, async () => {
  const file = tomlFile('port = 0\ndemo = false\ncors_origins = ["https://app.example.com/"]\n');
  const bad = await runServe(["--config", file]);
  assert.equal(bad.code, 1, bad.stderr);
  assert.equal(
    bad.stderr,
    `error: cors_origins in ${file}: origin entry "https://app.example.com/" has a trailing slash; ` +
      'browsers send origins without one: use "https://app.example.com"\n',
  );
  // The flag overrides the file, and is the one named.
  const flag = await runServe(["--config", file, "--cors-origin", "https://b.example.com/"]);
  assert.equal(flag.code, 1, flag.stderr);
  assert.match(flag.stderr, /^error: --cors-origin: origin entry "https:\/\/b\.example\.com\/"/);
  // Settings combined from both places: each named where it was set.
  const mixed = tomlFile("port = 0\ndemo = false\ncors_credentials = true\n");
  const both = await runServe(["--config", mixed, "--cors-any-origin"]);
  assert.equal(both.code, 1, both.stderr);
  assert.match(
    both.stderr,
    new RegExp(`^error: refusing to start: cors_credentials = true in ${escapeRe(mixed)} cannot be combined with --cors-any-origin:\n`),
  );
  const demo = await runServe(["--config", tomlFile('port = 0\nhost = "bad host"\ndemo_origin = 5173\n')]);
  assert.equal(demo.code, 1, demo.stderr);
  assert.match(demo.stderr, /^error: demo_origin in \S+: the demo page's origin would be invalid \(its host "bad host" is from host in \S+\)/);
});
