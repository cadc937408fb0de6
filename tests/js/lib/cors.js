// Helpers for the origin-policy tests (tests/js/cors/ and tests/browser/): CORS header views,
// raw WebSocket attempts with an Origin, the fixture's log lines, free ports and `portico serve`.
// Every wait is on an event and bounded.

import { spawn } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { WebSocket } from "ws";
import { REPO_ROOT } from "./server.js";
import { HTTP_TIMEOUT_MS } from "./raw.js";

/** The CORS response headers (access-control-* and vary) of a fetch or node:http response. */
export function corsHeaders(headers) {
  const out = {};
  const entries = typeof headers.entries === "function" ? headers.entries() : Object.entries(headers);
  for (const [k, v] of entries) {
    const name = k.toLowerCase();
    if (name.startsWith("access-control-") || name === "vary") out[name] = Array.isArray(v) ? v.join(", ") : v;
  }
  return out;
}

/** The access-control-allow-* headers only (what a refusal must not carry). */
export function allowHeaders(headers) {
  return Object.fromEntries(
    Object.entries(corsHeaders(headers)).filter(([k]) => k.startsWith("access-control-allow-")),
  );
}

/**
 * Opens a raw `ws` WebSocket to `url` with `origin` (or none). Resolves with
 * `{opened: true, ws, headers, firstMessage}` after a 101 (`firstMessage`: a promise of the
 * first frame), or `{opened: false, status, headers, body}` when the
 * server answers the upgrade with anything else (the `unexpected-response` event).
 */
export function wsAttempt(url, { origin, headers = {}, timeoutMs = HTTP_TIMEOUT_MS } = {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ...(origin ? { origin } : {}), headers, handshakeTimeout: timeoutMs });
    let upgradeHeaders = null;
    // the open packet can arrive in the same tick as "open": listen from the start
    const firstMessage = new Promise((res) => ws.once("message", (d, isBinary) => res(isBinary ? d : d.toString())));
    let settled = false;
    const done = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(value);
    };
    const timer = setTimeout(() => {
      ws.terminate();
      done(reject, new Error(`websocket to ${url} neither opened nor was refused within ${timeoutMs} ms`));
    }, timeoutMs);
    ws.on("error", (err) => done(reject, err));
    ws.on("upgrade", (res) => {
      upgradeHeaders = res.headers;
    });
    ws.on("open", () => done(resolve, { opened: true, status: 101, ws, headers: upgradeHeaders, firstMessage }));
    ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        ws.on("error", () => {}); // terminate() while CONNECTING reports an error: expected here
        ws.terminate();
        done(resolve, { opened: false, status: res.statusCode, headers: res.headers, body });
      });
    });
  });
}

/** Removes ANSI colour codes (the fixture logs with tracing's coloured formatter). */
export function stripAnsi(s) {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, "");
}

/** The fixture's log lines (stdout and stderr, ANSI removed) that satisfy `predicate`. */
export function logLines(server, predicate) {
  return server.logs.map(stripAnsi).filter(predicate);
}

/**
 * Waits until a fixture log line satisfies `predicate` (the fixture's tracing output goes to its
 * stdout; run it with RUST_LOG including `warn`). Resolves with the line.
 */
export function waitForLog(server, predicate, timeoutMs = HTTP_TIMEOUT_MS) {
  const find = () => server.logs.map(stripAnsi).find(predicate);
  const found = find();
  if (found) return Promise.resolve(found);
  const streams = [server.process.stdout, server.process.stderr];
  return new Promise((resolve, reject) => {
    // `startServer` registered its own "data" listeners first, so `server.logs` is up to date
    // when ours run.
    const onData = () => {
      const line = find();
      if (line) {
        cleanup();
        resolve(line);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no matching fixture log line within ${timeoutMs} ms; last lines:\n` +
        server.logs.slice(-20).map(stripAnsi).join("\n")));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      for (const s of streams) s.off("data", onData);
    };
    for (const s of streams) s.on("data", onData);
  });
}

/** A TCP port that was free a moment ago (bound to 127.0.0.1:0, then closed). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Path of the `portico` CLI: $PORTICO_BIN or target/debug/portico. */
export function porticoBinary() {
  const fromEnv = process.env.PORTICO_BIN;
  if (fromEnv) return path.resolve(process.cwd(), fromEnv);
  return path.join(REPO_ROOT, "target/debug/portico");
}

/**
 * Runs `portico <args>` to completion (for configurations it must refuse). Resolves with
 * {code, signal, stdout, stderr}; kills it and rejects after `timeoutMs`.
 */
export function runPortico(args, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const child = spawn(porticoBinary(), args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c) => (stdout += c));
    child.stderr.setEncoding("utf8").on("data", (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`portico ${args.join(" ")} still running after ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run ${porticoBinary()} (${err.message}); build it with ` +
        "`cargo build -p portico-cli` or set PORTICO_BIN"));
    });
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: stripAnsi(stdout), stderr: stripAnsi(stderr) });
    });
  });
}

/**
 * Starts `portico <args>` and waits until every regexp in `waitFor` has matched its combined
 * output (stdout + stderr). Resolves with {matches, output, stop}: `matches[i]` is the match of
 * `waitFor[i]`; `stop()` sends SIGTERM and waits for the exit (SIGKILL after 5 s).
 */
export function startPortico(args, waitFor, timeoutMs = 10_000) {
  const child = spawn(porticoBinary(), args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let output = "";
  let exited = null;
  const exitPromise = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      process.removeListener("exit", killOnExit);
      resolve(exited);
    }),
  );
  const stop = async () => {
    if (exited) return;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 5000);
    await exitPromise;
    clearTimeout(t);
  };
  const listeners = new Set();
  /** Waits until the output matches `re` (bounded); resolves with the match. */
  const waitOutput = (re, ms = 5000) => {
    const m = re.exec(output);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const l = () => {
        const m2 = re.exec(output);
        if (m2) {
          clearTimeout(t);
          listeners.delete(l);
          resolve(m2);
        }
      };
      const t = setTimeout(() => {
        listeners.delete(l);
        reject(new Error(`portico output did not match ${re} within ${ms} ms:\n${output}`));
      }, ms);
      listeners.add(l);
    });
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (msg) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${msg}\n$ portico ${args.join(" ")}\n${output}`));
    };
    const check = () => {
      if (settled) return;
      const matches = waitFor.map((re) => re.exec(output));
      if (matches.every(Boolean)) {
        settled = true;
        clearTimeout(timer);
        resolve({ matches, get output() { return output; }, waitFor: waitOutput, stop });
      }
    };
    const timer = setTimeout(() => fail(`portico did not print the expected lines within ${timeoutMs} ms`), timeoutMs);
    child.once("error", (err) => fail(`cannot run ${porticoBinary()}: ${err.message}`));
    exitPromise.then(({ code, signal }) => fail(`portico exited early (code ${code}, signal ${signal})`));
    for (const s of [child.stdout, child.stderr]) {
      s.setEncoding("utf8");
      s.on("data", (c) => {
        output += stripAnsi(c);
        check();
        for (const l of [...listeners]) l();
      });
    }
  });
}
