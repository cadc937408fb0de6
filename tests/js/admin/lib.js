// Helpers for the Admin UI tests: `portico serve --admin-ui ...` on an ephemeral port, and an
// admin client that talks to /admin as the UI does (official socket.io-client), recording
// every event it receives.

import { spawn, execFileSync } from "node:child_process";
import path from "node:path";
import { io } from "socket.io-client";
import { REPO_ROOT } from "../lib/server.js";

export const BIN = process.env.PORTICO_BIN
  ? path.resolve(process.env.PORTICO_BIN)
  : path.join(REPO_ROOT, "target/debug/portico");
const START_TIMEOUT_MS = 10_000;
export const WAIT_MS = 6000;

const LISTENING = /Portico listening on (http:\/\/127\.0\.0\.1:(\d+))/;

/** `printf %s PASSWORD | portico admin-ui-hash`. */
export function hashPassword(password) {
  return execFileSync(BIN, ["admin-ui-hash"], { input: password, encoding: "utf8" }).trim();
}

/**
 * Starts `portico serve -p 0 ...args` (run from the repository root, so it finds the UI in
 * tests/js/node_modules) and resolves once it listens: {url, port, lines, stop}.
 */
export function startServe(args, { cwd = REPO_ROOT } = {}) {
  const child = spawn(BIN, ["serve", "-p", "0", ...args], {
    cwd,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1" },
  });
  const lines = [];
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise((resolve) => child.once("exit", (code) => {
    process.removeListener("exit", killOnExit);
    resolve(code);
  }));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    await exited;
  };
  return new Promise((resolve, reject) => {
    let buf = "";
    let done = false;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`portico serve did not listen within ${START_TIMEOUT_MS} ms:\n${lines.join("\n")}`));
    }, START_TIMEOUT_MS);
    exited.then((code) => {
      if (done) return;
      clearTimeout(timer);
      reject(Object.assign(new Error(`portico serve exited (${code}):\n${lines.join("\n")}`), { lines, code }));
    });
    child.stdout.resume();
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk) => {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        lines.push(line);
        if (process.env.PORTICO_INTEROP_LOGS === "1") process.stderr.write(`[serve] ${line}\n`);
        // The Admin UI's lines come right after the listening line: wait for them too.
        const m = LISTENING.exec(lines.find((l) => LISTENING.test(l)) ?? "");
        const ready = m && (!args.includes("--admin-ui") || lines.some((l) => l.startsWith("Admin UI connection form")));
        if (ready && !done) {
          done = true;
          clearTimeout(timer);
          resolve({ url: m[1], port: Number(m[2]), lines, stop, exited });
        }
      }
    });
  });
}

/** Runs `portico serve ...args` that must fail at startup: resolves with its output lines. */
export async function serveFails(args) {
  try {
    const s = await startServe(args);
    await s.stop();
  } catch (e) {
    if (e.lines) return { lines: e.lines, code: e.code };
    throw e;
  }
  throw new Error(`portico serve ${args.join(" ")} started`);
}

/**
 * An admin client as the UI makes it (App.vue's tryConnect), recording every event:
 * `next(event, predicate)` resolves with the first recorded or future matching event's args.
 */
export function adminClient(url, { auth, namespace = "/admin" } = {}) {
  const socket = io(url + namespace, {
    forceNew: true,
    reconnection: false,
    withCredentials: true,
    transports: ["polling", "websocket"],
    auth,
  });
  const seen = [];
  const waiters = [];
  socket.onAny((event, ...args) => {
    seen.push({ event, args });
    for (const w of [...waiters]) {
      if (w.event === event && w.predicate(...args)) {
        waiters.splice(waiters.indexOf(w), 1);
        clearTimeout(w.timer);
        w.resolve(args);
      }
    }
  });
  const next = (event, predicate = () => true, timeoutMs = WAIT_MS) => {
    const found = seen.find((s) => s.event === event && predicate(...s.args));
    if (found) return Promise.resolve(found.args);
    return new Promise((resolve, reject) => {
      const w = { event, predicate, resolve };
      w.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        reject(new Error(`admin client: no matching "${event}" within ${timeoutMs} ms; got: ${seen.map((s) => s.event).join(", ")}`));
      }, timeoutMs);
      waiters.push(w);
    });
  };
  return { socket, seen, next };
}

/** Resolves on `connect`, rejects with the `connect_error`. */
export function connected(socket, timeoutMs = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no connect")), timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve();
    });
    socket.once("connect_error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Resolves with the args of the next `event` on a socket. */
export function nextEvent(socket, event, timeoutMs = WAIT_MS) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no "${event}" within ${timeoutMs} ms`)), timeoutMs);
    socket.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}
export { io };
