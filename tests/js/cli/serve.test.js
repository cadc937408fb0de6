// `portico serve`: the demo chat (page, bundle route, chat between two clients), --no-demo,
// the TOML config file (honoured, overridden by flags, unknown keys refused) and graceful
// shutdown on SIGINT. Each test starts its own server on an ephemeral port.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, once, withTimeout } from "../lib/server.js";
import { Clients, next } from "../lib/client.js";
import { eioUrl, httpRequest, request } from "../lib/raw.js";

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
function spawnServe(args) {
  const child = spawn(BIN, ["serve", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "portico=info" },
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

/**
 * Starts `portico serve --port 0 <args>` and waits for its "Portico listening on" line.
 * Resolves with {url, port, path, child, exit, stderr(), kill()}.
 */
async function startServe(args) {
  const proc = spawnServe(args);
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

  const sent = Date.now();
  server.child.kill("SIGINT");
  const [[wsReason], [pollingReason]] = await Promise.all([wsGone, pollingGone]);
  const { code, signal } = await withTimeout(server.exit, 5000, "exit after SIGINT");
  const tookMs = Date.now() - sent;
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
  const shuttingDown = waitForStderr(server, /shutting down: closing Socket\.IO connections/);
  const sent = Date.now();
  server.child.kill("SIGINT");
  await shuttingDown;
  const last = await fresh(); // the listener still accepts while the sessions close
  assert.deepEqual([last.status, last.text], [200, "1"]);
  const { code } = await withTimeout(server.exit, 5000, "exit after SIGINT");
  assert.equal(code, 0);
  assert.ok(Date.now() - sent < 1000, `exit took ${Date.now() - sent} ms`);
});
