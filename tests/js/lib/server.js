// Starts the interop fixture server and offers bounded waits. Nothing here sleeps: every wait is
// on an event, and every wait has a timeout that rejects (a test must fail, never hang).

import { spawn } from "node:child_process";
import { after, afterEach, before } from "node:test";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** Path of the fixture server: $PORTICO_INTEROP_SERVER or the Rust example binary. */
export function serverBinary() {
  const fromEnv = process.env.PORTICO_INTEROP_SERVER;
  if (fromEnv) return path.resolve(process.cwd(), fromEnv);
  return path.join(REPO_ROOT, "target/debug/examples/interop_server");
}

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;

/**
 * Spawns `cmd args` and resolves once it prints `LISTENING <port>` on stdout; rejects (and kills
 * it) when it cannot start, exits first or stays silent for START_TIMEOUT_MS. The error is
 * `describeFailure(msg, logs)`. `label` prefixes each collected stdout/stderr line (the last
 * `maxLogs` are kept); `echo` also writes them to stderr as they come; `onLine(line)` sees
 * every stdout line. Never leaves the process behind when the test process ends.
 * @returns {Promise<{port, logs, stop, process, exited}>} `stop(signal)` ends it (SIGKILL after
 *   STOP_TIMEOUT_MS) and resolves with {code, signal}; `exited()` is that, or null while it runs.
 */
export function spawnListening(cmd, args, { label, echo = false, maxLogs = 2000, describeFailure, onLine } = {}) {
  const child = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } });
  const logs = [];
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let exited = null;
  const exitPromise = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      process.removeListener("exit", killOnExit);
      resolve(exited);
    });
  });
  const collect = (stream, name, seeLine) => {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i).replace(/\r$/, "");
        buf = buf.slice(i + 1);
        logs.push(`[${label} ${name}] ${line}`);
        if (logs.length > maxLogs) logs.splice(0, logs.length - maxLogs);
        if (echo) process.stderr.write(`[${label} ${name}] ${line}\n`);
        seeLine?.(line);
      }
    });
  };
  const stop = async (signal = "SIGTERM") => {
    if (exited) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    const r = await exitPromise;
    clearTimeout(timer);
    return r;
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (msg) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(describeFailure(msg, logs)));
    };
    const timer = setTimeout(() => fail(`no "LISTENING <port>" within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS);
    child.once("error", (err) => fail(`cannot spawn: ${err.message}`));
    exitPromise.then(({ code, signal }) => fail(`exited (code ${code}, signal ${signal}) before "LISTENING <port>"`));
    collect(child.stderr, "stderr");
    collect(child.stdout, "stdout", (line) => {
      onLine?.(line);
      const m = /^LISTENING (\d+)$/.exec(line);
      if (m && !settled) {
        settled = true;
        clearTimeout(timer);
        resolve({ port: Number(m[1]), logs, stop, process: child, exited: () => exited });
      }
    });
  });
}

/**
 * Spawns the fixture with `--port 0` plus `args` and waits for its `LISTENING <port>` line.
 * PORTICO_INTEROP_LOGS=1 echoes the fixture's stdout/stderr to stderr as it comes (set
 * RUST_LOG=portico=debug too to see the server's side of a failing test).
 * @returns {Promise<{port: number, url: string, impl: string, logs: string[], stop: () => Promise<void>}>}
 *   `impl` is "node" when the fixture announced `IMPLEMENTATION node` (the Node reference
 *   server), else "portico". `logs` collects stdout and stderr lines for failure messages.
 */
export async function startServer({ args = [] } = {}) {
  const bin = serverBinary();
  const fullArgs = ["--port", "0", ...args];
  let impl = "portico";
  const started = await spawnListening(bin, fullArgs, {
    label: "fixture",
    echo: process.env.PORTICO_INTEROP_LOGS === "1",
    onLine: (line) => {
      if (line === "IMPLEMENTATION node") impl = "node";
    },
    describeFailure: (msg, logs) =>
      `fixture server: ${msg} (build it with \`cargo build -p portico --example interop_server\` ` +
      `or set PORTICO_INTEROP_SERVER)\nserver: ${bin} ${fullArgs.join(" ")}\n${logs.join("\n")}`,
  });
  const { port, logs, process: child } = started;
  const stop = async () => {
    await started.stop();
  };
  return { port, url: `http://127.0.0.1:${port}`, impl, logs, stop, process: child };
}

/**
 * Waits for one `event` on an EventEmitter, a socket.io-client/engine.io-client emitter or a
 * `ws` WebSocket. Resolves with the event's arguments as an array; rejects after `timeoutMs`.
 * An "error" event rejects too when `event` is not "error" and the emitter is a Node emitter.
 */
export function once(emitter, event, timeoutMs = 5000, { rejectOnError = false } = {}) {
  return new Promise((resolve, reject) => {
    const off = (ev, fn) =>
      typeof emitter.off === "function" ? emitter.off(ev, fn) : emitter.removeListener(ev, fn);
    const onEvent = (...args) => {
      cleanup();
      resolve(args);
    };
    const onError = (err) => {
      cleanup();
      reject(err instanceof Error ? err : new Error(`error event: ${err}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for "${event}"`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      off(event, onEvent);
      if (rejectOnError) off("error", onError);
    };
    emitter.on(event, onEvent);
    if (rejectOnError && event !== "error") emitter.on("error", onError);
  });
}

/** Like `once`, but waits for the first `event` whose arguments satisfy `predicate`. */
export function onceMatching(emitter, event, predicate, timeoutMs = 5000) {
  return new Promise((resolve, reject) => {
    const off = (ev, fn) =>
      typeof emitter.off === "function" ? emitter.off(ev, fn) : emitter.removeListener(ev, fn);
    const onEvent = (...args) => {
      if (!predicate(...args)) return;
      cleanup();
      resolve(args);
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for a matching "${event}"`));
    }, timeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      off(event, onEvent);
    };
    emitter.on(event, onEvent);
  });
}

/** Rejects if `promise` does not settle within `timeoutMs`. */
export function withTimeout(promise, timeoutMs, what = "operation") {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
    }),
  ]).finally(() => clearTimeout(timer));
}

/**
 * One fixture server for the enclosing `describe`: started before its tests (`options` as for
 * startServer), stopped after them; the Clients of each test (`current()`) closed after it.
 * `set` receives the started server.
 */
export function serverForSuite(options, set, current) {
  let server;
  before(async () => {
    server = await startServer(options);
    set(server);
  });
  after(async () => {
    await server?.stop();
  });
  afterEach(() => current()?.closeAll());
}
