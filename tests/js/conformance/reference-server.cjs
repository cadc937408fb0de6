#!/usr/bin/env node
// Node's reference servers for the official protocol suites, configured as the protocol
// documents say the JavaScript server must be to pass them (engine.io and socket.io from
// tests/js/node_modules). Same command line as `portico conformance`, so scripts/conformance
// can run the suites against either side:
//
//   PORTICO_CONFORMANCE_CMD="node tests/js/conformance/reference-server.cjs" scripts/conformance
//
//   reference-server.cjs engineio [--allow-eio3] --port N
//   reference-server.cjs socketio --port N
//
// It prints `LISTENING <port>` once it listens (`--port 0` picks a free port).
"use strict";

const path = require("node:path");

const modules = path.join(__dirname, "..", "node_modules");

function usage(message) {
  if (message) console.error(`error: ${message}`);
  console.error("usage: reference-server.cjs engineio [--allow-eio3] --port N | socketio --port N");
  process.exit(2);
}

const args = process.argv.slice(2);
const kind = args.shift();
let port = 3000;
let allowEIO3 = false;
while (args.length > 0) {
  const a = args.shift();
  if (a === "--port") {
    port = Number(args.shift());
    if (!Number.isInteger(port)) usage("--port needs a number");
  } else if (a === "--allow-eio3") {
    allowEIO3 = true;
  } else {
    usage(`unknown argument ${a}`);
  }
}

const common = { pingInterval: 300, pingTimeout: 200, cors: { origin: "*" } };

if (kind === "engineio") {
  const { listen } = require(path.join(modules, "engine.io"));
  const server = listen(port, { ...common, maxPayload: 1e6, allowEIO3 }, () =>
    console.log(`LISTENING ${server.httpServer.address().port}`),
  );
  server.on("connection", (socket) => {
    socket.on("data", (...a) => socket.send(...a));
  });
} else if (kind === "socketio") {
  const { Server } = require(path.join(modules, "socket.io"));
  const io = new Server(port, { ...common, maxPayload: 1000000, connectTimeout: 1000 });
  io.on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
    socket.on("message", (...a) => socket.emit("message-back", ...a));
    socket.on("message-with-ack", (...a) => {
      const ack = a.pop();
      ack(...a);
    });
  });
  io.of("/custom").on("connection", (socket) => {
    socket.emit("auth", socket.handshake.auth);
  });
  const announce = () => console.log(`LISTENING ${io.httpServer.address().port}`);
  if (io.httpServer.listening) announce();
  else io.httpServer.once("listening", announce);
} else {
  usage(kind ? `unknown server kind ${kind}` : "missing server kind");
}
