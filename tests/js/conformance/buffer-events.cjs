// Rewrites the official Engine.IO v3 suite so that each WebSocket keeps its events from the
// moment it is created, as upstream did for the v4 and v5 suites (socket.io commit e95f6abf,
// "docs: fix message handler latency in test suites", for socketio/socket.io-protocol#32).
//
// Why: the v3 suite's `waitFor` adds a listener only when it is called. One test awaits "open"
// and only then waits for the open packet. With `ws`, a frame that arrives in the same read as
// the 101 is emitted before that second listener exists, so the test fails or passes on how the
// server's two writes fall into the client's reads. Real clients (engine.io-client, browsers)
// listen from creation and never see this. scripts/conformance applies this rewrite to the v3
// suite unless it is run with --as-published; the suite itself is never committed.
//
//   node tests/js/conformance/buffer-events.cjs <suite.js> <out.js>
"use strict";

const fs = require("node:fs");

// Our helper: every "open", "message" and "close" is queued from creation until a waitFor takes
// it. Any other event type is waited for as the published helper does.
const HELPER = `
const BUFFERED_EVENTS = ["open", "message", "close"];

function createWebSocket(url) {
  const socket = new WebSocket(url);
  const queues = new Map();
  for (const type of BUFFERED_EVENTS) {
    const queue = { events: [], waiters: [] };
    queues.set(type, queue);
    socket.addEventListener(type, (event) => {
      const waiter = queue.waiters.shift();
      if (waiter) waiter(event);
      else queue.events.push(event);
    });
  }
  socket.__porticoQueues = queues;
  return socket;
}

function waitFor(socket, eventType) {
  const queue = socket.__porticoQueues && socket.__porticoQueues.get(eventType);
  if (!queue) {
    return new Promise((resolve) => socket.addEventListener(eventType, resolve, { once: true }));
  }
  if (queue.events.length > 0) return Promise.resolve(queue.events.shift());
  return new Promise((resolve) => queue.waiters.push(resolve));
}
`;

const DEFINITION = "function waitFor(socket, eventType) {";

/** Returns `source` with the buffering helper in place of the published `waitFor`. */
function bufferEvents(source) {
  const start = source.indexOf(DEFINITION);
  if (start < 0 || source.indexOf(DEFINITION, start + 1) >= 0) {
    throw new Error(`expected exactly one "${DEFINITION}" in the suite; has upstream changed it?`);
  }
  // The published helper ends at the first line that is a lone "}" after its start.
  const end = source.indexOf("\n}\n", start);
  if (end < 0) throw new Error("the published waitFor has no closing brace at column 0");
  const before = source.slice(0, start);
  const after = source.slice(end + 3);
  const creations = (before + after).split("new WebSocket(").length - 1;
  if (creations === 0) throw new Error('no "new WebSocket(" in the suite; has upstream changed it?');
  return (
    before.replaceAll("new WebSocket(", "createWebSocket(") +
    HELPER.trimStart() +
    after.replaceAll("new WebSocket(", "createWebSocket(")
  );
}

module.exports = { bufferEvents };

if (require.main === module) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error("usage: buffer-events.cjs <suite.js> <out.js>");
    process.exit(2);
  }
  fs.writeFileSync(output, bufferEvents(fs.readFileSync(input, "utf8")));
}
