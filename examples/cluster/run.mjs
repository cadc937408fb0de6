#!/usr/bin/env node
// Recipe "cluster": starts two chat nodes on Redis and nginx in front of them (sticky by
// cookie), all on loopback, and prints the URL to open. Ctrl-C stops everything.
//
//   cargo build -p cluster && npm ci --prefix tests/js
//   node examples/cluster/run.mjs                 # two Portico nodes
//   node examples/cluster/run.mjs --with-node     # one Portico node, one Node socket.io node
//
// Options: --with-node, --key-prefix K (the Redis prefix of this cluster; default "socket.io"),
// --redis URL (default redis://127.0.0.1:6379). nginx runs from a temp directory with
// examples/cluster/nginx.conf (listen address and node ports filled in), never as a service.

import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { startNginx, stopAll } from "../../tests/js/deploy/nginx.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "../..");
const { values } = parseArgs({
  options: {
    "with-node": { type: "boolean", default: false },
    "key-prefix": { type: "string", default: "socket.io" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
  },
});

const children = new Set();
process.once("exit", () => {
  for (const c of children) c.kill("SIGKILL");
});

/** Starts a node with PORT=0; resolves with {name, port} from its "listening on" line. */
function startNode(kind, name) {
  const env = { ...process.env, PORT: "0", REDIS_URL: values.redis, KEY_PREFIX: values["key-prefix"], NODE_NAME: name };
  let cmd;
  let args = [];
  if (kind === "node") {
    cmd = process.execPath;
    args = [path.join(HERE, "node-node.mjs")];
  } else {
    cmd = path.join(ROOT, "target/debug/cluster");
    if (!fs.existsSync(cmd)) throw new Error(`${cmd} is missing: build it with \`cargo build -p cluster\``);
  }
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ["ignore", "pipe", "inherit"] });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${name}: no "listening on" line within 10 s`)), 10_000);
    child.once("exit", (code) => reject(new Error(`${name} exited (code ${code}) before listening`)));
    child.stdout.setEncoding("utf8").on("data", (d) => {
      out += d;
      const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ name, port: Number(m[1]) });
      }
    });
  });
}

const template = fs.readFileSync(path.join(HERE, "nginx.conf"), "utf8");
function site(listenPort, [a, b]) {
  const replace = (text, from, to) => {
    if (text.split(from).length !== 2) throw new Error(`examples/cluster/nginx.conf: expected "${from}" once`);
    return text.replace(from, () => to);
  };
  let s = replace(template, "listen 127.0.0.1:8080;", `listen 127.0.0.1:${listenPort};`);
  s = replace(s, "server 127.0.0.1:3001;", `server 127.0.0.1:${a.port};`);
  return replace(s, "server 127.0.0.1:3002;", `server 127.0.0.1:${b.port};`);
}

const stop = async () => {
  for (const c of children) c.kill("SIGTERM");
  await stopAll();
  process.exit(0);
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);

try {
  const nodes = [await startNode("rust", "rust-1"), await startNode(values["with-node"] ? "node" : "rust", values["with-node"] ? "node-2" : "rust-2")];
  const front = await startNginx((port) => site(port, nodes));
  console.log(`cluster ready: ${front.url}/ (nginx -> ${nodes.map((n) => `${n.name} on 127.0.0.1:${n.port}`).join(", ")})`);
} catch (err) {
  console.error(`run.mjs: ${err.message}`);
  for (const c of children) c.kill("SIGTERM");
  await stopAll();
  process.exit(1);
}
