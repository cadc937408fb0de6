// `portico serve` for the operations tests: start it with --metrics on ephemeral ports, wait
// for its log lines, scrape and parse /metrics. Every wait is on an event or a condition and is
// bounded; nothing sleeps to synchronise.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { REPO_ROOT, withTimeout } from "../lib/server.js";

const START_TIMEOUT_MS = 10_000;
const LISTENING = /Portico listening on (http:\/\/127\.0\.0\.1:(\d+))/;
const METRICS = /Metrics on (http:\/\/127\.0\.0\.1:\d+\/metrics)/;

/**
 * The binary: $PORTICO_OPS_BIN, else the release build when present (the leak test runs 10,000
 * cycles: a debug server is several times slower), else $PORTICO_BIN, else the debug build.
 * `preferRelease: false` skips the release build.
 */
export function porticoBinary({ preferRelease = true } = {}) {
  if (process.env.PORTICO_OPS_BIN) return path.resolve(process.env.PORTICO_OPS_BIN);
  const release = path.join(REPO_ROOT, "target/release/portico");
  if (preferRelease && fs.existsSync(release)) return release;
  if (process.env.PORTICO_BIN) return path.resolve(process.env.PORTICO_BIN);
  return path.join(REPO_ROOT, "target/debug/portico");
}

/**
 * Starts `portico serve --port 0 --no-demo --metrics 127.0.0.1:0 <args>` (with the demo chat
 * when `demo`: its handlers, e.g. `join`, are on `/`). Resolves with
 * {url, metricsUrl, pid, child, exit, stderr(), waitFor(re, ms), kill()} once both listeners
 * are up; `exit` resolves with {code, signal}.
 */
export async function startServe(args = [], { bin = porticoBinary(), env = {}, demo = false } = {}) {
  const fullArgs = ["serve", "--port", "0", ...(demo ? [] : ["--no-demo"]), "--metrics", "127.0.0.1:0", ...args];
  const child = spawn(bin, fullArgs, {
    cwd: REPO_ROOT,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, RUST_LOG: "portico=info", NO_COLOR: "1", ...env },
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  let stderr = "";
  const watchers = new Set();
  child.stderr.setEncoding("utf8").on("data", (d) => {
    stderr += d;
    for (const w of watchers) w();
  });
  let exited = null;
  const exit = new Promise((resolve, reject) => {
    child.once("error", (err) =>
      reject(new Error(`cannot run ${bin} (${err.message}); build it with \`cargo build -p portico-cli\``)),
    );
    child.once("exit", (code, signal) => {
      exited = { code, signal };
      process.removeListener("exit", killOnExit);
      for (const w of watchers) w();
      resolve(exited);
    });
  });
  /** Resolves with the match once stderr matches `re`; rejects after `ms` or on exit. */
  const waitFor = (re, ms = 5000) =>
    withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(stderr);
          if (m) {
            watchers.delete(check);
            resolve(m);
          } else if (exited) {
            watchers.delete(check);
            reject(new Error(`portico serve exited (${JSON.stringify(exited)}) before ${re}:\n${stderr}`));
          }
        };
        watchers.add(check);
        check();
      }),
      ms,
      `stderr matching ${re}`,
    ).catch((err) => {
      throw new Error(`${err.message}\n--- portico serve stderr ---\n${stderr}`);
    });
  try {
    const [[, url], [, metricsUrl]] = await Promise.all([
      waitFor(LISTENING, START_TIMEOUT_MS),
      waitFor(METRICS, START_TIMEOUT_MS),
    ]);
    return {
      url,
      metricsUrl,
      pid: child.pid,
      child,
      exit,
      stderr: () => stderr,
      waitFor,
      kill: async () => {
        if (!exited) child.kill("SIGKILL");
        await exit;
      },
    };
  } catch (err) {
    child.kill("SIGKILL");
    throw err;
  }
}

/** GET /metrics: resolves with {status, contentType, text, values} (see parseMetrics). */
export async function scrape(metricsUrl) {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  return { status: res.status, contentType: res.headers.get("content-type"), text, values: parseMetrics(text) };
}

/**
 * The samples of an OpenMetrics/Prometheus text exposition as a Map from the series as written
 * (`name{label="v"}` or `name`) to its number.
 */
export function parseMetrics(text) {
  const values = new Map();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    values.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return values;
}

/** Scrapes until `predicate(values)` holds; resolves with the values. Bounded by `ms`. */
export async function scrapeUntil(metricsUrl, predicate, ms = 10_000, what = "metrics condition") {
  const deadline = performance.now() + ms;
  let last;
  for (;;) {
    last = (await scrape(metricsUrl)).values;
    if (predicate(last)) return last;
    if (performance.now() > deadline) {
      throw new Error(`${what} not reached within ${ms} ms; last scrape:\n${[...last].map(([k, v]) => `${k} ${v}`).join("\n")}`);
    }
    // A poll interval (the condition is what is waited for, within `ms`), not a synchronisation.
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resident set size of `pid` in KiB (Linux: VmRSS in /proc/<pid>/status). */
export function rssKiB(pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}
