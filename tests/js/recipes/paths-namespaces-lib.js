// Runs a recipe binary (target/debug/<name>) and waits for its `listening on http://…` line on
// stdout. Shared by the paths-namespaces, debugging and old-clients recipe tests. Every wait is
// on an output line, bounded; the process is killed when the test process ends.

import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "../lib/server.js";

const START_TIMEOUT_MS = 15_000;
const WAIT_MS = 5_000;

export function recipeBinary(name) {
  const bin = path.join(REPO_ROOT, "target/debug", name);
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: build it with \`cargo build -p ${name}\` (scripts/test builds every recipe)`);
  }
  return bin;
}

/** Strips ANSI colours (none are expected on a pipe, but a failure message should be readable). */
const plain = (s) => s.replace(/\x1b\[[0-9;]*m/g, "");

/**
 * Starts `target/debug/<name> --port 0 ...args` with `env` added to (or, for `undefined`
 * values, removed from) this process's environment. Resolves once stdout says `listening on
 * <url>` with {url, origin, port, stdout, stderr, waitStderr(re), stop()}; `stdout`/`stderr`
 * are arrays of lines so far.
 */
export async function startRecipe(name, args = [], { env = {} } = {}) {
  const bin = recipeBinary(name);
  const fullEnv = { ...process.env };
  delete fullEnv.RUST_LOG;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete fullEnv[k];
    else fullEnv[k] = v;
  }
  const child = spawn(bin, ["--port", "0", ...args], { env: fullEnv, stdio: ["ignore", "pipe", "pipe"] });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stdout = [];
  const stderr = [];
  const waiters = new Set();
  let exited = null;
  const exitPromise = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      process.removeListener("exit", killOnExit);
      for (const w of waiters) w.fail(new Error(`${name} exited (${code ?? signal}) while waiting for ${w.re}\n${describe()}`));
      resolve(exited);
    }),
  );
  const describe = () => `stdout:\n${stdout.join("\n")}\nstderr:\n${stderr.join("\n")}`;
  const lines = (stream, into) => {
    let buf = "";
    stream.setEncoding("utf8");
    stream.on("data", (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        const line = plain(buf.slice(0, i));
        buf = buf.slice(i + 1);
        into.push(line);
        for (const w of waiters) if (w.into === into && w.re.test(line)) w.done(line);
      }
    });
  };
  lines(child.stdout, stdout);
  lines(child.stderr, stderr);

  /** Waits for a line of `into` matching `re` (a line already there counts). */
  const waitLine = (into, re, timeoutMs = WAIT_MS) => {
    const found = into.find((l) => re.test(l));
    if (found) return Promise.resolve(found);
    if (exited) return Promise.reject(new Error(`${name} has exited; no line matches ${re}\n${describe()}`));
    return new Promise((resolve, reject) => {
      const w = {
        re,
        into,
        done: (line) => {
          cleanup();
          resolve(line);
        },
        fail: (err) => {
          cleanup();
          reject(err);
        },
      };
      const timer = setTimeout(() => w.fail(new Error(`no line matching ${re} within ${timeoutMs} ms\n${describe()}`)), timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(w);
      };
      waiters.add(w);
    });
  };

  const listening = await waitLine(stdout, /^listening on http:\/\/127\.0\.0\.1:\d+/, START_TIMEOUT_MS);
  const url = /^listening on (\S+)/.exec(listening)[1];
  const origin = new URL(url).origin;
  const stop = async (signal = "SIGTERM") => {
    if (exited) return exited;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), WAIT_MS);
    const r = await exitPromise;
    clearTimeout(timer);
    return r;
  };
  return {
    url,
    origin,
    port: Number(new URL(url).port),
    stdout,
    stderr,
    waitStderr: (re, timeoutMs) => waitLine(stderr, re, timeoutMs),
    waitStdout: (re, timeoutMs) => waitLine(stdout, re, timeoutMs),
    describe,
    stop,
  };
}

/** `portico doctor ARGS --json`: resolves with the ids of its findings. */
export function doctor(args) {
  const bin = process.env.PORTICO_BIN ? path.resolve(process.env.PORTICO_BIN) : path.join(REPO_ROOT, "target/debug/portico");
  if (!existsSync(bin)) throw new Error(`${bin} is missing: cargo build -p portico-cli (or set PORTICO_BIN)`);
  return new Promise((resolve, reject) => {
    execFile(bin, ["doctor", ...args, "--json"], { timeout: 15_000 }, (err, stdout, stderr) => {
      if (err && err.code !== 1) return reject(new Error(`portico doctor ${args.join(" ")}: ${err.message}\n${stderr}`));
      try {
        resolve(JSON.parse(stdout).findings.map((f) => f.id));
      } catch (e) {
        reject(new Error(`portico doctor ${args.join(" ")}: ${e.message}\n${stdout}\n${stderr}`));
      }
    });
  });
}
