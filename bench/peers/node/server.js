// The Node peer of the Portico bench: socket.io 4.8 with the same protocol, CLI and settings as
// `portico bench serve` (crates/portico-cli/src/bench/server.rs) and bench/peers/socketioxide:
// - `echo` (args..., ack) -> ack(args...)
// - `join` (room, ack) -> join the room, ack(true)
// - `broadcast` ({room, count, size}, ack) -> emit `count` events `b` with a string of `size`
//   chars to everyone in the room (sender included), then ack(true)
//
// Usage: node bench/peers/node/server.js [--port N] [--redis URL [--redis-key-prefix P]];
// prints `LISTENING <port>` once bound on 127.0.0.1. socket.io is resolved from
// tests/js/node_modules (pinned by tests/js/package.json and its lockfile), so the bench adds no
// second lockfile.
//
// --redis URL (the bench's cluster case): the classic `@socket.io/redis-adapter` 8.x
// (createAdapter, PUBLISH/PSUBSCRIBE) over two node-redis 4 clients, key
// --redis-key-prefix (default "socket.io"); LISTENING once both clients are connected.
// `io.to(room).emit` then reaches the room on every node.

"use strict";

const { createServer } = require("node:http");
const { createRequire } = require("node:module");
const path = require("node:path");

const fromTests = createRequire(path.join(__dirname, "../../../tests/js/package.json"));
const { Server } = fromTests("socket.io");

// Listen backlog, as Portico's and the socketioxide peer's (Node's default is 511).
const BACKLOG = 1024;

function flag(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const port = Number(flag("--port") ?? 0);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`--port: not a port: ${flag("--port")}`);
  process.exit(2);
}

// Node's http server sets TCP_NODELAY on accepted sockets by default (noDelay: true).
const httpServer = createServer({ noDelay: true });
const redisUrl = flag("--redis");
const keyPrefix = flag("--redis-key-prefix") ?? "socket.io";

const io = new Server(httpServer, {
  path: "/socket.io/",
  transports: ["polling", "websocket"],
  // The defaults, spelled out so the results file can quote them: ping 25 s / 20 s, 1e6 bytes.
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 1e6,
});

io.on("connection", (socket) => {
  socket.on("echo", (...args) => {
    const ack = args.pop();
    if (typeof ack === "function") ack(...args);
  });
  socket.on("join", (room, ack) => {
    socket.join(room);
    if (typeof ack === "function") ack(true);
  });
  socket.on("broadcast", (req, ack) => {
    const payload = "x".repeat(req.size);
    const toRoom = io.to(req.room);
    for (let i = 0; i < req.count; i++) toRoom.emit("b", payload);
    if (typeof ack === "function") ack(true);
  });
});

async function attachRedis() {
  const { createClient } = fromTests("redis");
  const { createAdapter } = fromTests("@socket.io/redis-adapter");
  const pubClient = createClient({ url: redisUrl });
  const subClient = pubClient.duplicate();
  for (const [name, client] of [["pub", pubClient], ["sub", subClient]]) {
    client.on("error", (err) => console.error(`redis ${name} client: ${err.message}`));
  }
  await Promise.all([pubClient.connect(), subClient.connect()]);
  io.adapter(createAdapter(pubClient, subClient, { key: keyPrefix }));
}

(redisUrl ? attachRedis() : Promise.resolve()).then(
  () => {
    httpServer.listen({ port, host: "127.0.0.1", backlog: BACKLOG }, () => {
      process.stdout.write(`LISTENING ${httpServer.address().port}\n`);
    });
  },
  (err) => {
    console.error(`--redis ${redisUrl}: ${err.message}`);
    process.exit(1);
  },
);

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => process.exit(0));
}
