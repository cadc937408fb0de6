// Fixture servers for the `portico doctor` tests (tests/js/doctor/ and
// tests/browser/doctor-agreement.test.js): real Socket.IO servers on 127.0.0.1, each configured
// the way a user gets it wrong (or right), and the `portico doctor --json` runner.
//
// - Node `socket.io` 4.8.4 and 2.5.0 (`socket.io-v2`) run in this process, on ephemeral ports.
// - Portico runs as `portico serve --no-demo --port 0 ...` ($PORTICO_BIN), and nginx in front of
//   it comes from ../deploy/nginx.js (docs/deployment/nginx.conf with one change per case).
//
// Every fixture pings every 300 ms so that the doctor's heartbeat check sees a ping at once; the
// ping timeout stays at 1 s, as a busy machine (a debug doctor, Chromium pages running side by
// side) can answer a ping a few hundred milliseconds late, and a session closed for that looks
// like a lost session. Every server started here is stopped by
// `stopAllFixtures()` (call it in `after`); child processes are also killed on process exit by
// ../deploy/nginx.js. Waits are bounded; nothing sleeps.

import { spawn } from "node:child_process";
import http from "node:http";
import net from "node:net";
import { createRequire } from "node:module";
import { Server } from "socket.io";
import { REPO_ROOT, withTimeout } from "../lib/server.js";
import { freePort, porticoBinary } from "../lib/cors.js";
import { siteConfig, startNginx, startNode, stopAll } from "../deploy/nginx.js";

const require = createRequire(import.meta.url);
/** socket.io 2.5.0 (Engine.IO v3 only), installed as the alias `socket.io-v2`. */
const ioV2 = require("socket.io-v2");

export const PING = { pingInterval: 300, pingTimeout: 1000 };
const PING_ARGS = ["--ping-interval", String(PING.pingInterval), "--ping-timeout", String(PING.pingTimeout)];

/** The message the `/admin` middleware rejects with. */
export const ADMIN_REJECTION = "admin only: not authorized";

/** An origin that is never the page's. */
export const OTHER_ORIGIN = "http://other.example";

/** Stop functions of every running fixture (in-process servers; children via stopAll). */
const running = new Set();

/**
 * Engine.IO waits up to 30 s (closeTimeout) for a polling session that has no pending poll to
 * take its close packet; the doctor leaves such sessions behind (they end on ping timeout), and
 * those timers would keep this process alive well after the test: no wait here.
 */
function noCloseWait(io) {
  io.engine.on("connection", (socket) => {
    if (socket.transport) socket.transport.closeTimeout = 0;
  });
}

/** Closes a socket.io server (4.x or 2.x), without Engine.IO's close wait (see noCloseWait). */
function closeIo(io) {
  for (const client of Object.values(io.engine?.clients ?? {})) {
    if (client.transport) client.transport.closeTimeout = 0;
  }
  io.close();
}

/** Closes an http.Server and its open connections (bounded). */
function closeHttp(server) {
  return withTimeout(
    new Promise((resolve) => {
      server.closeAllConnections?.();
      server.close(() => resolve());
    }),
    5000,
    "closing a fixture http server",
  ).catch(() => {});
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server.address().port));
  });
}

/**
 * An http.Server whose other routes answer 404 like an Express app ("Cannot GET /path"): a
 * socket.io server on another path is then a 404, as users see it, and not a hang.
 */
function expressLike404() {
  return http.createServer((req, res) => {
    const p = (req.url ?? "/").split("?")[0];
    res.writeHead(404, { "content-type": "text/html; charset=utf-8" }).end(`Cannot ${req.method} ${p}\n`);
  });
}

/**
 * Node `socket.io` 4.8.4 in one of the configurations of issue 15, for a page on `pageOrigin`.
 * Kinds:
 * - `no-cors`: no cors option at all (no Access-Control-Allow-Origin anywhere);
 * - `wildcard-credentials`: `cors: {origin: "*", credentials: true}`;
 * - `origin-list-missing`: `cors: {origin: [OTHER_ORIGIN]}` (a list without the page);
 * - `origin-other`: `cors: {origin: OTHER_ORIGIN}` (a single string: always sent as the ACAO);
 * - `custom-path`: right cors, `path: "/custom-io/"`;
 * - `eio3-off`: right cors, allowEIO3 left off (probe with --eio 3);
 * - `admin-rejects`: right cors, a namespace `/admin` whose middleware rejects;
 * - `polling-only` / `websocket-only`: right cors, one transport;
 * - `correct`: `cors: {origin: pageOrigin, credentials: true}`.
 * Resolves with {url, port, close()}.
 */
export async function startNodeV4(kind, pageOrigin) {
  const right = { origin: pageOrigin, credentials: true };
  const options = {
    "no-cors": {},
    "wildcard-credentials": { cors: { origin: "*", credentials: true } },
    "origin-list-missing": { cors: { origin: [OTHER_ORIGIN] } },
    "origin-other": { cors: { origin: OTHER_ORIGIN } },
    "custom-path": { cors: right, path: "/custom-io/" },
    "eio3-off": { cors: right },
    "admin-rejects": { cors: right },
    "polling-only": { cors: right, transports: ["polling"] },
    "websocket-only": { cors: right, transports: ["websocket"] },
    correct: { cors: right },
  }[kind];
  if (!options) throw new Error(`unknown node fixture ${kind}`);
  const httpServer = expressLike404();
  const io = new Server(httpServer, { ...PING, ...options });
  noCloseWait(io);
  io.on("connection", (socket) => socket.on("echo", (v, ack) => ack?.(v)));
  io.of("/admin").use((_socket, next) => next(new Error(ADMIN_REJECTION)));
  const port = await listen(httpServer);
  const close = async () => {
    running.delete(close);
    closeIo(io);
    await closeHttp(httpServer);
  };
  running.add(close);
  return { url: `http://127.0.0.1:${port}`, port, close };
}

/** Node `socket.io` 2.5.0 (Engine.IO v3 only; reflects any origin with credentials). */
export async function startNodeV2() {
  const httpServer = expressLike404();
  const io = ioV2(httpServer, PING);
  noCloseWait(io);
  io.on("connection", (socket) => socket.on("echo", (v, ack) => ack?.(v)));
  const port = await listen(httpServer);
  const close = async () => {
    running.delete(close);
    closeIo(io);
    await closeHttp(httpServer);
  };
  running.add(close);
  return { url: `http://127.0.0.1:${port}`, port, close };
}

/** `portico serve --no-demo --port 0` with short pings and `args`; {url, port, kill()}. */
export async function startPortico(args = []) {
  return startNode(["--no-demo", ...PING_ARGS, ...args]);
}

/**
 * nginx in front of Portico nodes, from docs/deployment/nginx.conf (../deploy/nginx.js). The
 * nodes allow `pageOrigin` and trust nginx's X-Forwarded-Host. `variant`:
 * - `no-upgrade`: the Upgrade/Connection lines removed (one node behind both upstream entries
 *   is enough, but the template has two: two nodes, ip_hash keeps a client on one);
 * - `double-acao`: `add_header Access-Control-Allow-Origin *` in the location, on top of the
 *   node's own header;
 * - `round-robin`: the `ip_hash` line removed (no stickiness).
 * Resolves with {url, nodes, front}.
 */
export async function startBehindNginx(variant, pageOrigin) {
  const nodes = [];
  try {
    for (let i = 0; i < 2; i++) nodes.push(await startPortico(["--cors-origin", pageOrigin, "--trusted-proxy", "127.0.0.1"]));
    const ports = nodes.map((n) => n.port);
    const makeSite = {
      "no-upgrade": (listenPort) => siteConfig({ listenPort, nodePorts: ports, upgrade: false }),
      "round-robin": (listenPort) => siteConfig({ listenPort, nodePorts: ports, balance: "round-robin" }),
      "double-acao": (listenPort) => {
        const site = siteConfig({ listenPort, nodePorts: ports });
        const anchor = "        proxy_pass http://portico;\n";
        if (site.split(anchor).length !== 2) throw new Error("nginx template: proxy_pass line not found exactly once");
        return site.replace(anchor, `${anchor}        add_header Access-Control-Allow-Origin *;\n`);
      },
    }[variant];
    if (!makeSite) throw new Error(`unknown nginx variant ${variant}`);
    const front = await startNginx(makeSite);
    return { url: front.url, nodes, front };
  } catch (err) {
    await Promise.all(nodes.map((n) => n.kill()));
    throw err;
  }
}

/**
 * A TCP server that accepts connections and never answers (the doctor's request timeout), and
 * keeps them open until closed. Resolves with {url, port, close()}.
 */
export async function startSilent() {
  const sockets = new Set();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
  });
  const port = await listen(server);
  const close = async () => {
    running.delete(close);
    for (const s of sockets) s.destroy();
    await new Promise((resolve) => server.close(() => resolve()));
  };
  running.add(close);
  return { url: `http://127.0.0.1:${port}`, port, close };
}

/**
 * A hand-written Engine.IO v4 polling server (no WebSocket, `upgrades: []`) that completes the
 * handshake and the Socket.IO CONNECT of "/", then never pings: what a server whose heartbeat
 * is broken looks like to a client (the client closes with "ping timeout"). It allows
 * `pageOrigin` with credentials. Resolves with {url, port, close()}.
 */
export async function startNoPing(pageOrigin) {
  const sid = "doctor-no-ping-sid";
  const held = new Set();
  let connectPending = false;
  const server = http.createServer((req, res) => {
    const u = new URL(req.url ?? "/", "http://x");
    const cors = { "access-control-allow-origin": pageOrigin, "access-control-allow-credentials": "true" };
    if (u.pathname !== "/socket.io/") return res.writeHead(404, cors).end();
    if (req.method === "OPTIONS") return res.writeHead(204, { ...cors, "access-control-allow-methods": "GET, POST" }).end();
    const text = { ...cors, "content-type": "text/plain; charset=UTF-8" };
    if (u.searchParams.get("transport") !== "polling") {
      return res.writeHead(400, { ...cors, "content-type": "application/json" }).end('{"code":0,"message":"Transport unknown"}');
    }
    if (!u.searchParams.get("sid")) {
      const open = { sid, upgrades: [], pingInterval: PING.pingInterval, pingTimeout: PING.pingTimeout, maxPayload: 1000000 };
      return res.writeHead(200, text).end(`0${JSON.stringify(open)}`);
    }
    const CONNECT = '40{"sid":"doctor-no-ping-socket"}';
    if (req.method === "POST") {
      // the client's CONNECT: answer it on the held poll, or on the next one
      req.resume();
      req.on("end", () => {
        const [poll] = held;
        if (poll) {
          held.delete(poll);
          poll.writeHead(200, text).end(CONNECT);
        } else {
          connectPending = true;
        }
        res.writeHead(200, text).end("ok");
      });
      return undefined;
    }
    if (connectPending) {
      connectPending = false;
      return res.writeHead(200, text).end(CONNECT);
    }
    // any other poll: held open, never answered (no ping, ever)
    held.add(res);
    res.on("close", () => held.delete(res));
    return undefined;
  });
  const port = await listen(server);
  const close = async () => {
    running.delete(close);
    await closeHttp(server);
  };
  running.add(close);
  return { url: `http://127.0.0.1:${port}`, port, close };
}

/** A loopback port that nothing listens on (bound a moment ago, then closed). */
export const closedPort = freePort;

/** Stops every fixture of this module and every child process of ../deploy/nginx.js. */
export async function stopAllFixtures() {
  await Promise.all([...running].map((close) => close()));
  await stopAll();
}

// --- the doctor ---------------------------------------------------------------------------------

/** Kills the doctor if it has not exited this long after its own --deadline-ms. */
const KILL_GRACE_MS = 5000;

/** Doctor processes still running: killed if this process exits first. */
const doctors = new Set();
process.once("exit", () => {
  for (const child of doctors) child.kill("SIGKILL");
});

/**
 * Runs `portico doctor <target> --origin <origin> ... --json` and parses its report. `args` are
 * the extra flags. Resolves with {code, report, stdout, stderr, ms}; `report` is null when
 * stdout is not JSON (the test then fails with stdout and stderr in the message).
 */
export function runDoctor(target, origin, args = [], { deadlineMs = 8000, timeoutMs = 2000 } = {}) {
  const argv = ["doctor", target, "--origin", origin, ...args, "--json", "--timeout-ms", String(timeoutMs), "--deadline-ms", String(deadlineMs)];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(porticoBinary(), argv, {
      cwd: REPO_ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NO_COLOR: "1" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c) => (stderr += c));
    doctors.add(child);
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`portico ${argv.join(" ")} still running ${deadlineMs + KILL_GRACE_MS} ms after its start (deadline ${deadlineMs} ms): killed\n${stdout}\n${stderr}`));
    }, deadlineMs + KILL_GRACE_MS);
    child.once("error", (err) => {
      clearTimeout(timer);
      doctors.delete(child);
      reject(new Error(`cannot run ${porticoBinary()}: ${err.message} (cargo build -p portico-cli --bin portico, or set PORTICO_BIN)`));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      doctors.delete(child);
      let report = null;
      try {
        report = JSON.parse(stdout);
      } catch {
        // left null: the caller reports stdout/stderr
      }
      resolve({ code, signal, report, stdout, stderr, ms: Math.round(performance.now() - started), argv });
    });
  });
}

/** The findings of a report at `severity` levels (default: the problems, error and warning). */
export function problems(report, severities = ["error", "warning"]) {
  return (report?.findings ?? []).filter((f) => severities.includes(f.severity));
}
