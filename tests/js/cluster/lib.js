// Harness of the cluster tests: starts a cluster of Socket.IO nodes sharing one Redis (Portico
// nodes and Node nodes running @socket.io/redis-adapter 8), connects official socket.io-client
// sockets to every node, and drives the nodes through the CLUSTER TEST SERVER SPEC (see
// node-cluster-server.js). Nothing here sleeps: every wait is on an event or an ack, bounded.
//
// Environment:
//   PORTICO_CLUSTER_TOPOLOGY  node kinds, comma-separated (default "portico,portico,node")
//   PORTICO_BIN               the portico CLI (default target/debug/portico)
//   REDIS_URL                 the shared Redis (default redis://127.0.0.1:6379)
//   PORTICO_CLUSTER_LOGS=1    echo every node's output to stderr

import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomBytes } from "node:crypto";
import { Clients, waitConnected } from "../lib/client.js";
import { freePort, porticoBinary } from "../lib/cors.js";
import { once, spawnListening } from "../lib/server.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const NODE_SERVER = path.join(HERE, "node-cluster-server.js");
export const REDIS_URL = process.env.REDIS_URL || "redis://127.0.0.1:6379";
export const REDIS_SERVER_BIN = "/usr/bin/redis-server";

/** Short time-outs keep the suite fast; every wait below is bounded by one of these. */
export const REQUESTS_TIMEOUT_MS = 2000; // --requests-timeout of the Node nodes
export const ACK_TIMEOUT_MS = 500; // broadcast-with-ack timeout when a client never answers
export const OP_TIMEOUT_MS = 4000; // a control request's ack
export const DELIVERY_TIMEOUT_MS = 3000; // an expected event reaching a client
const START_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 10_000;

/** Node kinds of the cluster, from PORTICO_CLUSTER_TOPOLOGY. */
export function topology() {
  const raw = process.env.PORTICO_CLUSTER_TOPOLOGY || "portico,portico,node";
  const kinds = raw.split(",").map((k) => k.trim()).filter(Boolean);
  for (const k of kinds) {
    if (k !== "portico" && k !== "node") {
      throw new Error(`PORTICO_CLUSTER_TOPOLOGY: unknown node kind "${k}" (use portico or node)`);
    }
  }
  if (kinds.length < 2) throw new Error("PORTICO_CLUSTER_TOPOLOGY needs at least two nodes");
  return kinds;
}

/**
 * Adapter modes every behaviour runs in. Sharded runs twice: every node subscribes
 * dynamically (a channel per room) or statically (the namespace channel only). All nodes of a
 * cluster must use the same mode, in Node as in Portico: a dynamic node publishes a room
 * broadcast on the room's channel, which a static node never subscribes to.
 */
export const MODES = [
  { name: "classic", sharded: false },
  { name: "sharded/dynamic", sharded: true, subscriptionMode: "dynamic" },
  { name: "sharded/static", sharded: true, subscriptionMode: "static" },
];

/** A key prefix no other test (or run) uses, so tests never see each other on Redis. */
export function uniquePrefix() {
  return `ptc-${process.pid}-${randomBytes(4).toString("hex")}`;
}

// --- processes ----------------------------------------------------------------------------------


/**
 * Starts one node of `kind` ("node" or "portico") on an ephemeral port.
 * @returns {Promise<{kind, name, port, url, logs, stop, process, exited}>}
 */
export async function startNode(kind, { redis = REDIS_URL, mode, keyPrefix, name }) {
  const common = ["--port", "0", "--redis", redis];
  if (mode.sharded) common.push("--sharded", "--subscription-mode", mode.subscriptionMode);
  common.push("--key-prefix", keyPrefix, "--name", name);
  let cmd;
  let args;
  let describe;
  if (kind === "node") {
    cmd = process.execPath;
    args = [NODE_SERVER, ...common, "--requests-timeout", String(REQUESTS_TIMEOUT_MS)];
    describe = (msg, logs) => `Node cluster server ${name} failed: ${msg}\n${cmd} ${args.join(" ")}\n${logs.join("\n")}`;
  } else {
    cmd = porticoBinary();
    args = ["conformance", "cluster", ...common, "--requests-timeout", String(REQUESTS_TIMEOUT_MS)];
    describe = (msg, logs) =>
      `portico conformance cluster is not available: ${msg}\n${cmd} ${args.join(" ")}\n${logs.join("\n")}`;
    if (!existsSync(cmd)) {
      throw new Error(
        `portico conformance cluster is not available: ${cmd} does not exist ` +
          "(build it with `cargo build -p portico-cli`, or set PORTICO_BIN)",
      );
    }
  }
  const started = await spawnListening(cmd, args, {
    label: name,
    echo: process.env.PORTICO_CLUSTER_LOGS === "1",
    maxLogs: 500,
    describeFailure: describe,
  });
  return { kind, name, url: `http://127.0.0.1:${started.port}`, ...started };
}

/**
 * A private redis-server on a free port (no persistence), for tests that kill Redis.
 * `kill()` SIGKILLs it; `restart()` starts it again on the same port.
 */
export async function startPrivateRedis() {
  const port = await freePort();
  const start = () =>
    new Promise((resolve, reject) => {
      const child = spawn(
        REDIS_SERVER_BIN,
        ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        { stdio: ["ignore", "pipe", "pipe"] },
      );
      const killOnExit = () => child.kill("SIGKILL");
      process.once("exit", killOnExit);
      const exit = new Promise((r) => child.once("exit", () => {
        process.removeListener("exit", killOnExit);
        r();
      }));
      let out = "";
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`redis-server on port ${port} not ready within ${START_TIMEOUT_MS} ms:\n${out}`));
      }, START_TIMEOUT_MS);
      child.once("error", (err) => {
        clearTimeout(timer);
        reject(new Error(`cannot spawn ${REDIS_SERVER_BIN}: ${err.message}`));
      });
      exit.then(() => {
        clearTimeout(timer);
        reject(new Error(`redis-server on port ${port} exited before it was ready:\n${out}`));
      });
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk) => {
        out += chunk;
        if (out.includes("Ready to accept connections")) {
          clearTimeout(timer);
          resolve({ child, exit });
        }
      });
    });
  let current = await start();
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    async kill() {
      current.child.kill("SIGKILL");
      await current.exit;
    },
    async restart() {
      current = await start();
    },
    async stop() {
      current.child.kill("SIGKILL");
      await current.exit;
    },
  };
}

// --- requests and waits -------------------------------------------------------------------------

/**
 * Emits a control `event` (with `payload` unless undefined) from `socket` and resolves with the
 * ack's first argument; rejects after `timeoutMs`.
 */
export function request(socket, event, payload, timeoutMs = OP_TIMEOUT_MS) {
  return new Promise((resolve, reject) => {
    const args = payload === undefined ? [] : [payload];
    socket.timeout(timeoutMs).emit(event, ...args, (err, reply) => {
      if (err) reject(new Error(`no ack for "${event}" within ${timeoutMs} ms`));
      else resolve(reply);
    });
  });
}

/** Sorts like the spec's "sorted by their JSON text" (code-unit order of JSON.stringify). */
export function byJson(values) {
  return values
    .map((v) => [JSON.stringify(v), v])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);
}

/** Runs `check` (an async function returning true when satisfied) until it passes or time runs out. */
export async function eventually(check, timeoutMs, what) {
  const deadline = performance.now() + timeoutMs;
  let last;
  for (;;) {
    last = await check();
    if (last === true) return;
    if (performance.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
  }
}

// --- the cluster --------------------------------------------------------------------------------

let eventCounter = 0;
/** A fresh event name, so no check ever mistakes an earlier delivery for its own. */
export function freshEvent(tag) {
  eventCounter += 1;
  return `${tag}-${eventCounter}`;
}

class Cluster {
  constructor(nodes, mode, keyPrefix) {
    this.nodes = nodes;
    this.mode = mode;
    this.keyPrefix = keyPrefix;
    /** Every connected client: {socket, name, node, transport}. */
    this.clients = [];
    this.clientSets = nodes.map((n) => new Clients(n.url));
  }

  get size() {
    return this.nodes.length;
  }

  /** Connects a client to node `i` with auth {name, ...extraAuth}. */
  async connect(i, name, transport, extraAuth = {}) {
    const node = this.nodes[i];
    const socket = this.clientSets[i].socket("/", {
      transports: [transport],
      auth: { name, ...extraAuth },
    });
    await waitConnected(socket);
    const client = { socket, name, node, nodeIndex: i, transport, auth: { name, ...extraAuth } };
    this.clients.push(client);
    return client;
  }

  /** Removes a client from `clients` (after it was disconnected on purpose). */
  forget(client) {
    this.clients = this.clients.filter((c) => c !== client);
  }

  /** The control socket of node `i` (its first client). */
  ctl(i) {
    return this.clients.find((c) => c.nodeIndex === i).socket;
  }

  /** Sends control `event` to node `i` (through its first client); resolves with the ack. */
  op(i, event, payload, timeoutMs) {
    return request(this.ctl(i), event, payload, timeoutMs);
  }

  /** Waits until every node reports `server-count` == size (nodes subscribe asynchronously). */
  async waitReady(timeoutMs = READY_TIMEOUT_MS) {
    const deadline = performance.now() + timeoutMs;
    for (let i = 0; i < this.size; i += 1) {
      let last;
      for (;;) {
        const left = Math.ceil(deadline - performance.now());
        if (left <= 0) {
          throw new Error(`cluster not ready: node ${this.nodes[i].name} reports server-count ${JSON.stringify(last)}, expected ${this.size}`);
        }
        try {
          last = await this.op(i, "server-count", undefined, Math.min(left, OP_TIMEOUT_MS));
        } catch (err) {
          last = err.message;
        }
        if (last === this.size) break;
        // While Redis is away the answer is a prompt error: do not spin (a node closes a
        // connection that sends faster than its event rate, docs/limits.md).
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }

  /**
   * Proves who receives `event`: `trigger()` sends it; resolves once each client of `expected`
   * received it once, then checks with a sentinel broadcast from node `origin` (delivered after
   * the event, in order, to every client) that no other client received it and no expected
   * client received it twice. `origin` may instead be an async function that sends such a
   * sentinel (the emitter tests). Resolves with {client name -> received args}.
   */
  async expectDelivery({ event, expected, origin, trigger, timeoutMs = DELIVERY_TIMEOUT_MS }) {
    const seen = new Map(this.clients.map((c) => [c, []]));
    const listeners = [];
    for (const c of this.clients) {
      const fn = (...args) => seen.get(c).push(args);
      c.socket.on(event, fn);
      listeners.push([c, fn]);
    }
    try {
      const arrivals = expected.map((c) =>
        seen.get(c).length > 0 ? Promise.resolve() : once(c.socket, event, timeoutMs).catch(() => {
          throw new Error(`${c.name} (on ${c.node.name}, ${c.node.kind}, ${c.transport}) did not receive "${event}" within ${timeoutMs} ms`);
        }),
      );
      await trigger();
      await Promise.all(arrivals);
      if (typeof origin === "function") await origin();
      else await this.sentinel(origin);
      const unexpected = this.clients.filter((c) => !expected.includes(c) && seen.get(c).length > 0);
      if (unexpected.length > 0) {
        throw new Error(`"${event}" reached clients it should not: ${unexpected.map((c) => `${c.name} (on ${c.node.name})`).join(", ")}`);
      }
      const twice = expected.filter((c) => seen.get(c).length !== 1);
      if (twice.length > 0) {
        throw new Error(`"${event}" reached ${twice.map((c) => `${c.name} ${seen.get(c).length} times`).join(", ")}`);
      }
      return Object.fromEntries(expected.map((c) => [c.name, seen.get(c)[0]]));
    } finally {
      for (const [c, fn] of listeners) c.socket.off(event, fn);
    }
  }

  /** Node `origin` broadcasts a sentinel to everyone; resolves once every client received it. */
  async sentinel(origin, clients = this.clients) {
    const event = freshEvent("sentinel");
    const arrivals = clients.map((c) =>
      once(c.socket, event, DELIVERY_TIMEOUT_MS).catch(() => {
        throw new Error(`sentinel from ${this.nodes[origin].name} did not reach ${c.name} (on ${c.node.name})`);
      }),
    );
    const ack = await this.op(origin, "emit", { event, args: [] });
    if (ack !== true) throw new Error(`emit of the sentinel answered ${JSON.stringify(ack)}`);
    await Promise.all(arrivals);
  }

  async stop() {
    for (const set of this.clientSets) set.closeAll();
    await Promise.all(this.nodes.map((n) => n.stop()));
  }

  /** Every node's logs, for failure messages. */
  logs() {
    return this.nodes.map((n) => `--- ${n.name} (${n.kind}) ---\n${n.logs.join("\n")}`).join("\n");
  }
}

/**
 * Starts a cluster of `kinds` in `mode` on `redis` with a fresh key prefix, connects
 * `clientsPerNode` clients to each node (named `<node>-a`, `<node>-b`, ...; transports
 * alternate websocket/polling, starting differently on each node so both are on every side),
 * waits until every node counts the whole cluster, runs `fn(cluster)`, and always stops it.
 * A failing `fn` gets the nodes' logs appended when PORTICO_CLUSTER_LOGS is not set.
 */
export async function withCluster({ mode, kinds = topology(), redis = REDIS_URL, clientsPerNode = 2 }, fn) {
  const keyPrefix = uniquePrefix();
  const started = await Promise.allSettled(
    kinds.map((kind, i) => startNode(kind, { redis, mode, keyPrefix, name: `n${i}` })),
  );
  const nodes = started.filter((r) => r.status === "fulfilled").map((r) => r.value);
  const failed = started.find((r) => r.status === "rejected");
  if (failed) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw failed.reason;
  }
  const cluster = new Cluster(nodes, mode, keyPrefix);
  try {
    const transports = ["websocket", "polling"];
    for (let i = 0; i < nodes.length; i += 1) {
      for (let j = 0; j < clientsPerNode; j += 1) {
        const letter = String.fromCharCode(97 + j);
        await cluster.connect(i, `${nodes[i].name}-${letter}`, transports[(i + j) % 2], { tag: `${i}.${j}` });
      }
    }
    await cluster.waitReady();
    await fn(cluster);
  } catch (err) {
    if (process.env.PORTICO_CLUSTER_LOGS !== "1" && err instanceof Error && !err.message.includes("--- n0")) {
      err.message += `\nkey prefix ${keyPrefix}; node logs:\n${cluster.logs()}`;
    }
    throw err;
  } finally {
    await cluster.stop();
  }
}

/** "n0 (portico)" */
export function label(node) {
  return `${node.name} (${node.kind})`;
}
