#!/usr/bin/env node
// Recipe "cluster": the same chat node as src/main.rs, written with Node's socket.io and
// @socket.io/redis-adapter, to show a Node node and a Portico node in one cluster. The packages
// come from tests/js/node_modules (`npm ci --prefix tests/js`).
//
// Environment: PORT (default 3000; 0 picks a free one), REDIS_URL (default
// redis://127.0.0.1:6379), KEY_PREFIX (default "socket.io"), NODE_NAME (default node-<port>).
// Prints `listening on http://127.0.0.1:PORT (...)` once Redis is connected.

import { createServer } from "node:http";
import { createRequire } from "node:module";
import fs from "node:fs";

const require = createRequire(new URL("../../tests/js/package.json", import.meta.url));
const { Server } = require("socket.io");
const { createAdapter } = require("@socket.io/redis-adapter");
const { createClient } = require("redis");

const port = Number(process.env.PORT ?? "3000");
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = process.env.KEY_PREFIX ?? "socket.io";
const page = fs.readFileSync(new URL("./index.html", import.meta.url));

const pubClient = createClient({ url: redisUrl });
const subClient = pubClient.duplicate();
pubClient.on("error", (err) => console.error(`redis: ${err.message}`));
subClient.on("error", (err) => console.error(`redis: ${err.message}`));
await Promise.all([pubClient.connect(), subClient.connect()]);

const httpServer = createServer((req, res) => {
  if (req.url === "/") {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(page);
  } else {
    res.writeHead(404).end();
  }
});
const io = new Server(httpServer, { adapter: createAdapter(pubClient, subClient, { key: prefix }) });

httpServer.listen(port, "127.0.0.1", () => {
  const bound = httpServer.address().port;
  const node = process.env.NODE_NAME ?? `node-${bound}`;
  io.on("connection", (socket) => {
    socket.emit("welcome", { node, id: socket.id });
    // A chat line goes to every client of every node: io.emit through the adapter.
    socket.on("chat", (text, ack) => {
      io.emit("chat", { text: String(text), via: node });
      if (typeof ack === "function") ack(true);
    });
  });
  console.log(`listening on http://127.0.0.1:${bound} (node ${node}, Redis ${redisUrl}, prefix ${prefix})`);
});

const stop = () => {
  io.close();
  Promise.allSettled([pubClient.quit(), subClient.quit()]).then(() => process.exit(0));
};
process.once("SIGINT", stop);
process.once("SIGTERM", stop);
