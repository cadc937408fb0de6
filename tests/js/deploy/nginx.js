// Two `portico serve` nodes behind a real nginx, configured from the site file that
// docs/deployment.md shows (docs/deployment/nginx.conf). The tests change only what must differ
// on a test machine (listen address, node addresses) and, for the failure cases, take out one
// directive; every change must match the template exactly once, so the template cannot drift
// away from what is tested.
//
// Every process started here is tracked and killed by `stopAll()` (call it in `after`), and by
// a process "exit" hook if a test file dies first. Waits are bounded; nothing sleeps.

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, withTimeout } from "../lib/server.js";
import { freePort, porticoBinary } from "../lib/cors.js";

export const TEMPLATE_FILE = "docs/deployment/nginx.conf";
export const TEMPLATE = fs.readFileSync(path.join(REPO_ROOT, TEMPLATE_FILE), "utf8");
/** The cookie-based alternative to the template's upstream block. */
export const COOKIE_FILE = "docs/deployment/nginx-cookie.conf";
export const COOKIE_UPSTREAM = fs.readFileSync(path.join(REPO_ROOT, COOKIE_FILE), "utf8");

const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
const LISTENING = /Portico listening on (http:\/\/127\.0\.0\.1:(\d+)) \(Socket\.IO path (\S+)\)/;

/** Every child process started by this module that has not exited yet, and nginx's temp dirs. */
const children = new Set();
const tempDirs = new Set();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** The nginx executable: `nginx` on PATH, else /usr/sbin/nginx (Debian's, outside a user's PATH). */
export function nginxBinary() {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter(Boolean);
  for (const dir of [...dirs, "/usr/sbin", "/usr/local/sbin"]) {
    const candidate = path.join(dir, "nginx");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error("nginx is not installed: scripts/test installs Debian's nginx (apt-get install nginx)");
}

/** Replaces `from` (a string that must occur exactly once in `text`) with `to`. */
function replaceOnce(text, from, to, file = TEMPLATE_FILE) {
  const n = text.split(from).length - 1;
  if (n !== 1) throw new Error(`${file}: expected "${from}" exactly once, found it ${n} times`);
  return text.replace(from, () => to);
}

/** The template's `upstream portico { ... }` block (to its closing brace at line start). */
const UPSTREAM_BLOCK = /^upstream portico \{\n[\s\S]*?^\}\n/m;

/**
 * The site file of the template for this machine: nginx listens on 127.0.0.1:`listenPort` and
 * balances over `nodePorts` (two ports on 127.0.0.1).
 * - `balance: "ip_hash"` (the template as is), `"round-robin"` (the `ip_hash;` line removed:
 *   nginx's default, no stickiness) or `"cookie"` (the upstream block replaced by
 *   docs/deployment/nginx-cookie.conf, and the location given the `add_header` line that file
 *   names);
 * - `upgrade: false` removes the two lines that pass on Upgrade and Connection.
 */
export function siteConfig({ listenPort, nodePorts, balance = "ip_hash", upgrade = true }) {
  if (nodePorts.length !== 2) throw new Error("the template has two upstream servers");
  let site = TEMPLATE;
  if (balance === "cookie") {
    if (!UPSTREAM_BLOCK.test(site)) throw new Error(`${TEMPLATE_FILE}: no "upstream portico {...}" block`);
    const addHeader = "add_header Set-Cookie $portico_node_cookie always;";
    replaceOnce(COOKIE_UPSTREAM, `#     ${addHeader}\n`, "", COOKIE_FILE); // the file says to add it
    site = site.replace(UPSTREAM_BLOCK, () => COOKIE_UPSTREAM);
    site = replaceOnce(site, "        proxy_pass http://portico;\n", `        proxy_pass http://portico;\n        ${addHeader}\n`);
  }
  site = replaceOnce(site, "listen 80;", `listen 127.0.0.1:${listenPort};`);
  site = replaceOnce(site, "server 10.0.0.11:3000;", `server 127.0.0.1:${nodePorts[0]};`);
  site = replaceOnce(site, "server 10.0.0.12:3000;", `server 127.0.0.1:${nodePorts[1]};`);
  if (balance === "round-robin") site = replaceOnce(site, "    ip_hash;\n", "");
  else if (balance !== "ip_hash" && balance !== "cookie") throw new Error(`unknown balance ${balance}`);
  if (!upgrade) {
    site = replaceOnce(site, "        proxy_set_header Upgrade $http_upgrade;\n", "");
    site = replaceOnce(site, "        proxy_set_header Connection $connection_upgrade;\n", "");
  }
  return site;
}

/**
 * The main config around a site file: everything nginx writes goes to `dir` (pid, logs, temp
 * files), so it runs as root or not, beside any system nginx. One process (`master_process
 * off`): round robin alternates strictly within one process, and a SIGKILL leaves no worker
 * behind. Not a production setting; the site file is the part under test.
 */
function mainConfig(dir) {
  const p = (name) => path.join(dir, name);
  return `daemon off;
master_process off;
worker_processes 1;
pid ${p("nginx.pid")};
error_log stderr notice;
events { worker_connections 256; }
http {
    log_format upstreams '$upstream_addr $arg_sid $status $request_method';
    access_log ${p("access.log")} upstreams;
    client_body_temp_path ${p("client_body")};
    proxy_temp_path ${p("proxy")};
    fastcgi_temp_path ${p("fastcgi")};
    uwsgi_temp_path ${p("uwsgi")};
    scgi_temp_path ${p("scgi")};
    include ${p("site.conf")};
}
`;
}

/**
 * Tracks a child: `exit` resolves with {code, signal}; `output()` is stdout + stderr so far.
 * [`stopAll`] stops every tracked child (the recipes' helpers track theirs here too).
 */
export function track(child, name) {
  children.add(child);
  let output = "";
  let exited = null;
  const listeners = new Set();
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding("utf8").on("data", (d) => {
      output += d;
      if (process.env.PORTICO_DEPLOY_LOGS === "1") process.stderr.write(`[${name}] ${d}`);
      for (const l of listeners) l();
    });
  }
  const exit = new Promise((resolve, reject) => {
    child.once("error", (err) => {
      children.delete(child);
      reject(new Error(`cannot run ${name}: ${err.message}`));
    });
    child.once("exit", (code, signal) => {
      children.delete(child);
      exited = { code, signal };
      resolve(exited);
    });
  });
  exit.catch(() => {});
  const kill = async () => {
    if (exited || !children.has(child)) return;
    child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
    await exit.catch(() => {});
    clearTimeout(t);
  };
  /** Waits (bounded) until the output matches `re`; rejects early if the process exits. */
  const waitOutput = (re, what, timeoutMs = START_TIMEOUT_MS) =>
    withTimeout(
      new Promise((resolve, reject) => {
        const check = () => {
          const m = re.exec(output);
          if (m) {
            listeners.delete(check);
            resolve(m);
          }
        };
        listeners.add(check);
        exit.then(({ code, signal }) => {
          listeners.delete(check);
          reject(new Error(`${name} exited (code ${code}, signal ${signal}) before ${what}:\n${output}`));
        }, reject);
        check();
      }),
      timeoutMs,
      `${what} from ${name}`,
    );
  return { child, exit, output: () => output, exited: () => exited, kill, waitOutput };
}

/**
 * Starts `portico serve --port 0 <args>` (the demo chat: `chat` and `presence` events) from
 * the repo root and waits for its "Portico listening on" line. Resolves with {url, port,
 * output(), kill()}.
 */
export async function startNode(args = []) {
  const bin = porticoBinary();
  const child = spawn(bin, ["serve", "--port", "0", ...args], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "portico=info", NO_COLOR: "1" },
  });
  const proc = track(child, `portico serve ${args.join(" ")}`);
  const m = await proc.waitOutput(LISTENING, '"Portico listening on"').catch(async (err) => {
    await proc.kill();
    throw new Error(`${err.message}\n(build it with \`cargo build -p portico-cli --bin portico\` or set PORTICO_BIN)`);
  });
  return { ...proc, url: m[1], port: Number(m[2]) };
}

/**
 * From the access log (format `upstreams`: upstream address, sid, status, method): a Map from
 * each Engine.IO sid to the set of node addresses its requests reached. nginx writes a line
 * once it has answered, so the requests still pending are not there yet.
 */
function upstreamsBySid(log) {
  const out = new Map();
  for (const line of log.split("\n")) {
    const [upstream, sid] = line.split(" ");
    if (!sid || sid === "-" || !upstream || upstream === "-") continue;
    if (!out.has(sid)) out.set(sid, new Set());
    out.get(sid).add(upstream);
  }
  return out;
}

/** Resolves once a TCP connection to 127.0.0.1:`port` succeeds; rejects after `timeoutMs`. */
async function waitAccepting(port, proc, timeoutMs = START_TIMEOUT_MS) {
  const deadline = performance.now() + timeoutMs;
  // nginx prints nothing once it listens, so readiness is a bounded series of connect
  // attempts (each answered at once: refused until the socket is bound). This is the one
  // retry loop of the suite, and it synchronises with a process, not with a test's events.
  for (;;) {
    if (proc.exited()) throw new Error(`nginx exited before listening:\n${proc.output()}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) return;
    if (performance.now() > deadline) throw new Error(`nginx not accepting on 127.0.0.1:${port} within ${timeoutMs} ms:\n${proc.output()}`);
    await new Promise((resolve) => setImmediate(resolve));
  }
}

/**
 * Starts nginx with `site` (from `siteConfig`, listening on `listenPort`) in a fresh temp
 * directory and waits until it accepts connections. Resolves with {url, port, dir, site,
 * output(), accessLog(), kill()}.
 */
export async function startNginx(makeSite) {
  const bin = nginxBinary();
  // freePort() is free a moment ago only: if another process takes it first, nginx reports
  // "Address already in use" and we try another port (bounded).
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const site = makeSite(port);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-nginx-"));
    tempDirs.add(dir);
    fs.writeFileSync(path.join(dir, "site.conf"), site);
    fs.writeFileSync(path.join(dir, "nginx.conf"), mainConfig(dir));
    // -e: the error log from the first line on (else nginx opens /var/log/nginx/error.log,
    // which a non-root user cannot); -p: the prefix for anything relative.
    const child = spawn(bin, ["-p", dir, "-c", path.join(dir, "nginx.conf"), "-e", "stderr"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    const proc = track(child, "nginx");
    const kill = async () => {
      await proc.kill();
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    };
    try {
      await waitAccepting(port, proc);
    } catch (err) {
      await kill();
      if (attempt < 3 && /Address already in use/.test(proc.output())) continue;
      throw err;
    }
    return {
      ...proc,
      kill,
      port,
      dir,
      site,
      url: `http://127.0.0.1:${port}`,
      accessLog: () => fs.readFileSync(path.join(dir, "access.log"), "utf8"),
      upstreamsBySid: () => upstreamsBySid(fs.readFileSync(path.join(dir, "access.log"), "utf8")),
    };
  }
}

/**
 * Two nodes and nginx in front of them (`siteOptions` as for siteConfig, ports filled in).
 * Node args: a short ping interval, so a polling client makes a new request every few hundred
 * milliseconds, and nginx (127.0.0.1) as a trusted proxy.
 */
export async function startCluster(siteOptions = {}, { nodeArgs = ["--ping-interval", "300", "--ping-timeout", "5000"] } = {}) {
  const started = [];
  try {
    for (let i = 0; i < 2; i++) started.push(await startNode([...nodeArgs, "--trusted-proxy", "127.0.0.1"]));
    const [a, b] = started;
    const front = await startNginx((listenPort) => siteConfig({ ...siteOptions, listenPort, nodePorts: [a.port, b.port] }));
    started.push(front);
    return { nodes: [a, b], front, logs: () => started.map((p) => p.output()).join("\n") };
  } catch (err) {
    await Promise.all(started.map((p) => p.kill()));
    throw err;
  }
}

/** Kills every process this module started (SIGTERM, then SIGKILL after 5 s). */
export async function stopAll() {
  await Promise.all([...children].map((c) => {
    c.kill("SIGTERM");
    const t = setTimeout(() => c.kill("SIGKILL"), STOP_TIMEOUT_MS);
    return new Promise((resolve) => {
      if (c.exitCode !== null || c.signalCode !== null) resolve();
      else c.once("exit", resolve);
    }).finally(() => clearTimeout(t));
  }));
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}
