// scripts/conformance runs the official Engine.IO v3 suite with its `waitFor` rewritten to keep a
// WebSocket's events from creation (tests/js/conformance/buffer-events.cjs), because the
// published helper misses a frame that comes in the same read as the 101. This file proves both
// halves on a real `ws` client: a server that writes the 101 and its first frame in one write
// makes the published helper miss that frame every time, and the rewritten one get it.

import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { WebSocket } from "ws";

const require = createRequire(import.meta.url);
const { bufferEvents } = require("./buffer-events.cjs");

// The published v3 suite's shape: a helper that listens only once called, a WebSocket created
// with `new WebSocket(`, and a test that awaits "open" before it waits for the first message.
const SUITE_SHAPED = `
function waitFor(socket, eventType) {
  return new Promise((resolve) => {
    socket.addEventListener(
      eventType,
      (event) => {
        resolve(event);
      },
      { once: true }
    );
  });
}

async function firstMessageAfterOpen(url) {
  const socket = new WebSocket(url);
  await waitFor(socket, "open");
  // Ask the server for a second frame, so a missed first one cannot hang the test.
  socket.send("again");
  const { data } = await waitFor(socket, "message");
  socket.close();
  return String(data);
}
`;

function load(source) {
  return new Function("WebSocket", `${source}\nreturn firstMessageAfterOpen;`)(WebSocket);
}

function textFrame(text) {
  const payload = Buffer.from(text);
  return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
}

// A WebSocket server that answers the upgrade with the 101 and the frame "first" in one write,
// then answers any frame from the client with the frame "second".
async function oneWriteServer() {
  const conns = new Set();
  const server = net.createServer((conn) => {
    conns.add(conn);
    conn.on("close", () => conns.delete(conn));
    let head = "";
    let upgraded = false;
    conn.on("data", (chunk) => {
      if (upgraded) {
        // A masked client frame: its opcode says text (the test's "again") or close.
        conn.write((chunk[0] & 0x0f) === 0x8 ? Buffer.from([0x88, 0]) : textFrame("second"));
        return;
      }
      head += chunk.toString("latin1");
      if (!head.includes("\r\n\r\n")) return;
      upgraded = true;
      const key = /sec-websocket-key: *(\S+)/i.exec(head)[1];
      const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      const response = Buffer.from(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
          `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
        "latin1",
      );
      conn.write(Buffer.concat([response, textFrame("first")]));
    });
    conn.on("error", () => {});
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const close = () => {
    for (const conn of conns) conn.destroy();
    server.close();
  };
  return { url: `ws://127.0.0.1:${server.address().port}/`, close };
}

test("the published v3 helper misses a frame that shares the 101's read; the rewritten one keeps it", { timeout: 20_000 }, async () => {
  const server = await oneWriteServer();
  try {
    assert.equal(await load(SUITE_SHAPED)(server.url), "second", "the published helper's race, reproduced");
    assert.equal(await load(bufferEvents(SUITE_SHAPED))(server.url), "first");
  } finally {
    server.close();
  }
});

test("the rewrite refuses a suite whose helper it does not recognise", () => {
  assert.throws(() => bufferEvents("const x = new WebSocket(url);"), /exactly one/);
  assert.throws(() => bufferEvents(SUITE_SHAPED + SUITE_SHAPED), /exactly one/);
  assert.throws(() => bufferEvents(SUITE_SHAPED.replaceAll("new WebSocket(", "make(")), /no "new WebSocket\("/);
});
