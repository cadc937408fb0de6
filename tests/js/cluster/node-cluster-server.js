#!/usr/bin/env node
// Reference implementation of the CLUSTER TEST SERVER SPEC with `socket.io` 4.8.4 and
// `@socket.io/redis-adapter` 8.3.0 over node-redis 4. `portico conformance cluster` implements
// the same spec; tests/js/cluster/ starts clusters mixing both (see tests/js/README.md).
//
// CLI: --port P (0 = ephemeral) --redis URL [--sharded]
//      [--subscription-mode static|dynamic|dynamic-private] (sharded only; default dynamic)
//      [--key-prefix K] (default "socket.io") [--name N] (default: the port, as a string)
//      [--requests-timeout MS] (default 2000)
// Binds 127.0.0.1; prints `IMPLEMENTATION node`, then `LISTENING <port>` once bound and both
// Redis clients are connected.
//
// Events on namespace "/" (every handler answers through its ack):
//   join (room) / leave (room)                  -> true
//   emit {rooms?, except?, event, args}         -> true   (io.to(rooms).except(except).emit)
//   emit-with-ack {rooms?, event, args, timeout}-> {err, responses (sorted by JSON text)}
//   fetch {rooms?}                              -> [{id, rooms (sorted), name, auth}] by name
//   sockets-join {rooms?, join} / sockets-leave {rooms?, leave} -> true
//   disconnect-sockets {rooms?}                 -> true, THEN io.in(rooms).disconnectSockets(true)
//   server-side-emit {event, args, timeout}     -> {err, responses (sorted by JSON text)}
//   server-count                                -> number
//   all-rooms                                   -> sorted array of every room in the cluster
// Server-side event `hello` (...args, cb) -> cb("hello from NAME " + JSON.stringify(args)).
// An operation that throws or rejects (a Redis outage, all-rooms on the sharded adapter)
// answers {error: message} instead of crashing the process.

import { createServer } from "node:http";
import { parseArgs } from "node:util";
import { Server } from "socket.io";
import { createClient } from "redis";
import redisAdapter from "@socket.io/redis-adapter";

const { createAdapter, createShardedAdapter } = redisAdapter;

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "0" },
    redis: { type: "string", default: "redis://127.0.0.1:6379" },
    sharded: { type: "boolean", default: false },
    "subscription-mode": { type: "string", default: "dynamic" },
    "key-prefix": { type: "string", default: "socket.io" },
    name: { type: "string" },
    "requests-timeout": { type: "string", default: "2000" },
  },
});

const requestsTimeout = Number(values["requests-timeout"]);
const subscriptionMode = values["subscription-mode"];
if (!["static", "dynamic", "dynamic-private"].includes(subscriptionMode)) {
  console.error(`--subscription-mode must be static, dynamic or dynamic-private, not ${subscriptionMode}`);
  process.exit(2);
}

const log = (msg) => process.stderr.write(`[node-cluster ${values.name ?? values.port}] ${msg}\n`);

// A careful Node user's guards against Redis outages:
// - an "error" listener on each client: without one, node-redis's socket error (ECONNREFUSED,
//   "Socket closed unexpectedly") is an unhandled "error" event and the process dies;
// - an unhandledRejection logger: the classic adapter calls pubClient.publish() without a
//   catch, so a publish that fails (a command in flight when the connection drops) would
//   otherwise kill Node 20.
// node-redis keeps its default offline queue and reconnect strategy (min(retries * 50, 500) ms):
// commands issued while Redis is away wait and are sent once it is back.
const pubClient = createClient({ url: values.redis });
const subClient = pubClient.duplicate();
pubClient.on("error", (err) => log(`redis pub client error: ${err.message}`));
subClient.on("error", (err) => log(`redis sub client error: ${err.message}`));
process.on("unhandledRejection", (reason) => log(`unhandled rejection: ${reason?.message ?? reason}`));
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer();
const adapter = values.sharded
  ? createShardedAdapter(pubClient, subClient, {
      channelPrefix: values["key-prefix"],
      subscriptionMode,
    })
  : createAdapter(pubClient, subClient, {
      key: values["key-prefix"],
      requestsTimeout,
    });
const io = new Server(httpServer, { adapter });
const nsp = io.of("/");

const list = (x) => (x == null ? [] : Array.isArray(x) ? x : [x]);
const byJson = (values) =>
  values
    .map((v) => [JSON.stringify(v), v])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([, v]) => v);
const byName = (a, b) => {
  const x = String(a.name);
  const y = String(b.name);
  return x < y ? -1 : x > y ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
};
const ackFn = (args) => (typeof args[args.length - 1] === "function" ? args.pop() : () => {});
const errorReply = (err) => ({ error: String(err?.message ?? err) });

// Runs an operation for a client event; a throw or a rejection answers {error}.
function handle(socket, event, op) {
  socket.on(event, async (...args) => {
    const ack = ackFn(args);
    try {
      await op(ack, ...args);
    } catch (err) {
      log(`${event} failed: ${err?.message ?? err}`);
      ack(errorReply(err));
    }
  });
}

io.on("connection", (socket) => {
  socket.data = { name: socket.handshake.auth?.name ?? null };

  handle(socket, "join", (ack, room) => {
    socket.join(room);
    ack(true);
  });

  handle(socket, "leave", (ack, room) => {
    socket.leave(room);
    ack(true);
  });

  handle(socket, "emit", (ack, { rooms, except, event, args = [] }) => {
    io.to(list(rooms)).except(list(except)).emit(event, ...args);
    ack(true);
  });

  handle(socket, "emit-with-ack", (ack, { rooms, event, args = [], timeout }) => {
    io.to(list(rooms))
      .timeout(timeout)
      .emit(event, ...args, (err, responses) => {
        ack({ err: err ? err.message : null, responses: byJson(responses ?? []) });
      });
  });

  handle(socket, "fetch", async (ack, { rooms } = {}) => {
    const sockets = await io.in(list(rooms)).timeout(requestsTimeout).fetchSockets();
    ack(
      sockets
        .map((s) => ({
          id: s.id,
          rooms: [...s.rooms].sort(),
          name: s.data?.name ?? null,
          auth: s.handshake.auth,
        }))
        .sort(byName),
    );
  });

  handle(socket, "sockets-join", (ack, { rooms, join }) => {
    io.in(list(rooms)).socketsJoin(join);
    ack(true);
  });

  handle(socket, "sockets-leave", (ack, { rooms, leave }) => {
    io.in(list(rooms)).socketsLeave(leave);
    ack(true);
  });

  handle(socket, "disconnect-sockets", (ack, { rooms } = {}) => {
    ack(true);
    io.in(list(rooms)).disconnectSockets(true);
  });

  // Node's serverSideEmit takes no per-call timeout: the classic adapter waits
  // --requests-timeout, the sharded one a fixed 5000 ms. `timeout` is accepted and unused.
  handle(socket, "server-side-emit", (ack, { event, args = [] }) => {
    nsp.serverSideEmit(event, ...args, (err, responses) => {
      ack({ err: err?.message ?? null, responses: byJson(responses ?? []) });
    });
  });

  handle(socket, "server-count", async (ack) => {
    ack(await nsp.adapter.serverCount());
  });

  // The sharded adapter has no allRooms(): this throws a TypeError there, answered as {error}.
  handle(socket, "all-rooms", async (ack) => {
    ack([...(await nsp.adapter.allRooms())].sort());
  });
});

let name = values.name;
nsp.on("hello", (...args) => {
  const cb = ackFn(args);
  cb(`hello from ${name} ${JSON.stringify(args)}`);
});

httpServer.listen(Number(values.port), "127.0.0.1", () => {
  const { port } = httpServer.address();
  name ??= String(port);
  process.stdout.write(`IMPLEMENTATION node\nLISTENING ${port}\n`);
});

// The test harness stops a node with SIGTERM: exit at once (the OS closes the Redis
// connections, and Redis drops the node's subscriptions with them).
process.on("SIGTERM", () => process.exit(0));
process.on("SIGINT", () => process.exit(0));
