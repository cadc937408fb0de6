// Starts a recipe binary (target/debug/<name>, built by scripts/test step 5) with extra
// environment and waits for its `listening on http://127.0.0.1:PORT` line. Used by the
// session-cookie and cors-layer recipe tests, in Node and in the browser.

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const START_TIMEOUT_MS = 10_000;

/**
 * @returns {Promise<{url: string, port: number, logs: string[], stop: () => Promise<void>}>}
 */
export async function startRecipe(name, env = {}) {
  const bin = path.join(REPO_ROOT, "target/debug", name);
  if (!existsSync(bin)) {
    throw new Error(`${bin} is missing: build it with \`cargo build -p ${name}\` (scripts/test step 5 does)`);
  }
  const childEnv = { ...process.env, PORT: "0", ...env };
  delete childEnv.RUST_LOG;
  const child = spawn(bin, [], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  const logs = [];
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      process.removeListener("exit", killOnExit);
      resolve({ code, signal });
    }),
  );
  for (const [stream, label] of [[child.stdout, "stdout"], [child.stderr, "stderr"]]) {
    stream.setEncoding("utf8");
    stream.on("data", (d) => logs.push(...d.split("\n").filter(Boolean).map((l) => `[${name} ${label}] ${l}`)));
  }
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name}: no "listening on" line within ${START_TIMEOUT_MS} ms:\n${logs.join("\n")}`));
    }, START_TIMEOUT_MS);
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    exited.then(({ code }) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before listening:\n${logs.join("\n")}`));
    });
  });
  return {
    url,
    port: Number(new URL(url).port),
    logs,
    stop: async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
