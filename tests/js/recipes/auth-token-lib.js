// Helpers for the auth-token recipe's tests (Node and browser): start the recipe binary, craft
// HS256 tokens with node:crypto (the tests know the secret they gave the server), wait on events.
// Nothing sleeps: every wait is on an event or output line, bounded by a timeout.

import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
export const BIN = path.join(REPO_ROOT, "target/debug/auth-token");
export const SECRET = "auth-token-test-secret";
export const WAIT_MS = 10_000;

/**
 * Starts target/debug/auth-token on a free port with `env` added; resolves with
 * {url, port, logs, stop()} once it prints `listening on http://127.0.0.1:PORT`.
 */
export async function startAuthServer(env = {}) {
  if (!existsSync(BIN)) {
    throw new Error(`${BIN} is missing: build it with \`cargo build -p auth-token\` (scripts/test step 5 does)`);
  }
  const child = spawn(BIN, ["--port", "0"], {
    env: { ...process.env, AUTH_TOKEN_SECRET: SECRET, RUST_LOG: "portico=warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const logs = [];
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => logs.push(d));
  child.stdout.setEncoding("utf8");
  let out = "";
  const url = await withTimeout(
    new Promise((resolve, reject) => {
      child.stdout.on("data", (d) => {
        out += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:(\d+))/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once("error", reject);
      exited.then(({ code, signal }) =>
        reject(new Error(`auth-token exited (code ${code}, signal ${signal}) before listening:\n${out}${logs.join("")}`)),
      );
    }),
    WAIT_MS,
    "auth-token's listening line",
  );
  return {
    url,
    port: Number(new URL(url).port),
    logs,
    stop: async () => {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
      process.removeListener("exit", killOnExit);
    },
  };
}

/** Rejects after `ms` with a message naming what was awaited. */
export function withTimeout(promise, ms, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** The arguments of the next `event` on `emitter`, or a rejection after WAIT_MS. */
export function next(emitter, event, ms = WAIT_MS) {
  return withTimeout(new Promise((resolve) => emitter.once(event, (...args) => resolve(args))), ms, `"${event}"`);
}

const b64url = (x) => Buffer.from(typeof x === "string" ? x : JSON.stringify(x)).toString("base64url");

/** A JWT signed with HMAC (`alg` HS256 by default) over `secret`. */
export function signToken(payload, { secret = SECRET, alg = "HS256" } = {}) {
  const hash = { HS256: "sha256", HS384: "sha384", HS512: "sha512" }[alg];
  const head = `${b64url({ alg, typ: "JWT" })}.${b64url(payload)}`;
  return `${head}.${createHmac(hash, secret).update(head).digest("base64url")}`;
}

/** An unsigned token (`alg: none`). */
export function unsignedToken(payload) {
  return `${b64url({ alg: "none", typ: "JWT" })}.${b64url(payload)}.`;
}

// wall clock: a JWT's iat and exp are seconds of the Unix epoch
export const nowSecs = () => Math.floor(Date.now() / 1000);

/** POST /token: resolves with the Response. */
export function postToken(url, body, headers = {}) {
  return fetch(`${url}/token`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

/** The claims of a JWT (no check: for reading what the server issued). */
export function claimsOf(token) {
  return JSON.parse(Buffer.from(token.split(".")[1], "base64url").toString("utf8"));
}
