// Helpers of the reverse-proxy recipe (examples/reverse-proxy): the recipe's server, and a real
// nginx or Caddy in front of it, each configured from the recipe's own file
// (examples/reverse-proxy/nginx.conf, examples/reverse-proxy/Caddyfile). A test changes only
// what must differ on a test machine (ports), plus the one line a failure case is about; each
// change must match the file exactly once, so the files cannot drift from what is tested.
// Every process started here is killed by `stopAll()`. Waits are bounded; nothing sleeps.

import { spawn } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, withTimeout } from "../lib/server.js";
import { freePort } from "../lib/cors.js";
import { startNginx, stopAll as stopTracked, track as trackChild } from "../deploy/nginx.js";

export const NGINX_FILE = "examples/reverse-proxy/nginx.conf";
export const CADDY_FILE = "examples/reverse-proxy/Caddyfile";
export const NGINX_SITE = fs.readFileSync(path.join(REPO_ROOT, NGINX_FILE), "utf8");
export const CADDYFILE = fs.readFileSync(path.join(REPO_ROOT, CADDY_FILE), "utf8");
/** A second loopback address: the client connects from it, so it differs from the proxy's. */
export const CLIENT_ADDRESS = "127.0.0.2";

const START_TIMEOUT_MS = 10_000;
const tempDirs = new Set();

/** Replaces `from` (which must occur exactly once in `text`) with `to`. */
export function replaceOnce(text, from, to, file) {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`${file}: expected "${from}" exactly once, found it ${n} times`);
  return text.replace(from, () => to);
}

/** Spawns a process, tracked by tests/js/deploy/nginx.js (so that its stopAll stops it too). */
function track(cmd, args, opts, name) {
  return trackChild(spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"], ...opts }), name);
}

/** target/debug/<name> of a recipe, or a clear error. */
export function recipeBinary(name) {
  const bin = path.join(REPO_ROOT, "target/debug", name);
  if (!fs.existsSync(bin)) throw new Error(`${bin} is missing: build it with \`cargo build -p ${name}\``);
  return bin;
}

/**
 * Starts the recipe's server (env: TRUSTED_PROXIES, ALLOWED_ORIGINS, PING_INTERVAL_MS...)
 * on a free port. Resolves with {port, url, output(), kill()}.
 */
export async function startApp(env = {}) {
  const proc = track(recipeBinary("reverse-proxy"), [], { cwd: REPO_ROOT, env: { ...process.env, PORT: "0", ...env } }, "reverse-proxy");
  const m = await proc.waitOutput(/listening on http:\/\/127\.0\.0\.1:(\d+)/, '"listening on"');
  return { ...proc, port: Number(m[1]), url: `http://127.0.0.1:${m[1]}` };
}

/** The recipe's nginx site file for these ports, then `edit(site)` (a failure case's change). */
export function nginxSite(listenPort, appPort, edit = (s) => s) {
  let site = replaceOnce(NGINX_SITE, "listen 80;", `listen 127.0.0.1:${listenPort};`, NGINX_FILE);
  site = replaceOnce(site, "server 127.0.0.1:3000;", `server 127.0.0.1:${appPort};`, NGINX_FILE);
  return edit(site);
}

/** A real nginx with the recipe's site file in front of the server on `appPort`. */
export function startRecipeNginx(appPort, edit) {
  return startNginx((listenPort) => nginxSite(listenPort, appPort, edit));
}

/** The recipe's Caddyfile for these ports, then `edit(text)`. */
export function caddyfile(listenPort, appPort, edit = (s) => s) {
  let text = replaceOnce(CADDYFILE, "http://127.0.0.1:8080 {", `http://127.0.0.1:${listenPort} {`, CADDY_FILE);
  text = replaceOnce(text, "reverse_proxy 127.0.0.1:3000 {", `reverse_proxy 127.0.0.1:${appPort} {`, CADDY_FILE);
  return edit(text);
}

/** The caddy executable: `caddy` on PATH or /usr/bin/caddy. */
export function caddyBinary() {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const dir of [...dirs, "/usr/bin", "/usr/local/bin"]) {
    const candidate = path.join(dir, "caddy");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error("caddy is not installed: scripts/test installs Debian's caddy (apt-get install caddy)");
}

/** Resolves once 127.0.0.1:`port` accepts a connection (bounded series of connect attempts). */
async function waitAccepting(port, proc) {
  const deadline = performance.now() + START_TIMEOUT_MS;
  for (;;) {
    if (proc.exited()) throw new Error(`the proxy exited before listening:\n${proc.output()}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`not accepting on 127.0.0.1:${port}:\n${proc.output()}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * A real Caddy (`caddy run`) with the recipe's Caddyfile in front of the server on `appPort`;
 * its home, config and data directories in a fresh temp directory (never the system service).
 */
export async function startRecipeCaddy(appPort, edit) {
  const bin = caddyBinary();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-caddy-"));
    tempDirs.add(dir);
    const file = path.join(dir, "Caddyfile");
    fs.writeFileSync(file, caddyfile(port, appPort, edit));
    const env = { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, "config"), XDG_DATA_HOME: path.join(dir, "data") };
    const proc = track(bin, ["run", "--config", file, "--adapter", "caddyfile"], { cwd: dir, env }, "caddy");
    const kill = async () => {
      await proc.kill();
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    };
    try {
      await waitAccepting(port, proc);
    } catch (err) {
      await kill();
      if (attempt < 3 && /address already in use/i.test(proc.output())) continue;
      throw err;
    }
    return { ...proc, kill, port, dir, url: `http://127.0.0.1:${port}` };
  }
}

/** An http.Agent whose connections come from CLIENT_ADDRESS (for socket.io-client's `agent`). */
export function clientAgent() {
  return new http.Agent({ localAddress: CLIENT_ADDRESS });
}

/**
 * One plain HTTP request from CLIENT_ADDRESS. Resolves with {status, headers, rawHeaders, body}.
 */
export function request(url, { method = "GET", headers = {}, body } = {}) {
  return withTimeout(
    new Promise((resolve, reject) => {
      const req = http.request(url, { method, headers, localAddress: CLIENT_ADDRESS }, (res) => {
        let data = "";
        res.setEncoding("utf8").on("data", (d) => (data += d));
        res.on("end", () => resolve({ status: res.statusCode, headers: res.headers, rawHeaders: res.rawHeaders, body: data }));
      });
      req.once("error", reject);
      req.end(body);
    }),
    10_000,
    `${method} ${url}`,
  );
}

/** Every value of a response header (by name, case-insensitive) as sent, one per header line. */
export function headerLines(rawHeaders, name) {
  const out = [];
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].toLowerCase() === name.toLowerCase()) out.push(rawHeaders[i + 1]);
  return out;
}

/** Kills every process this module started (nginx, Caddy, the app) and removes their temp dirs. */
export async function stopAll() {
  await stopTracked();
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}
