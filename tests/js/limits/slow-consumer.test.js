// Limits as the official client sees them (docs/limits.md): a client that stops reading is
// disconnected with `send buffer full`, and a client that sends faster than the event rate with
// `event rate exceeded`: socket.io-client's `disconnect` handler gets the WebSocket close code
// 1008 and that reason in its details. The server counts both and keeps serving the others.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { onceMatching, serverForSuite } from "../lib/server.js";
import { Clients, emitAck } from "../lib/client.js";

const MAX_BUFFER_BYTES = 256 * 1024;
const EVENT_RATE = 50;
const EVENT_BURST = 100;

/** Resolves with `[reason, details]` of the socket's next `disconnect`. */
function disconnected(socket, timeoutMs = 10_000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no disconnect")), timeoutMs);
    socket.once("disconnect", (reason, details) => {
      clearTimeout(timer);
      resolve([reason, details]);
    });
  });
}

describe("limits seen by socket.io-client", () => {
  let server;
  let clients;
  serverForSuite(
    {
      args: [
        "--max-buffer-bytes", String(MAX_BUFFER_BYTES),
        "--event-rate", String(EVENT_RATE),
        "--event-burst", String(EVENT_BURST),
      ],
    },
    (s) => (server = s),
    () => clients,
  );

  test("a client that stops reading is disconnected with `send buffer full`", { timeout: 30_000 }, async () => {
    clients = new Clients(server.url);
    const watcher = await clients.connect("/", { transports: ["websocket"] });
    assert.deepEqual(await emitAck(watcher, "watch-disconnects"), [true]);
    const slow = await clients.connect("/", { transports: ["websocket"] });
    const slowId = slow.id;
    const gone = onceMatching(watcher, "peer-disconnect", (info) => info?.sid === slowId, 20_000);
    const seen = disconnected(slow, 25_000);
    // The client stops reading its TCP socket; the server keeps emitting 16 KB a millisecond.
    const tcp = slow.io.engine.transport.ws._socket;
    tcp.pause();
    slow.emit("flood", 20_000, 16 * 1024);
    // The server gives up on it (its queue passed max_buffer_bytes) while it still does not
    // read: what was queued is dropped, further emits to it fail.
    const deadline = performance.now() + 15_000;
    while ((await emitAck(watcher, "refusals"))[0].send_buffer_full < 1) {
      assert.ok(performance.now() < deadline, "send buffer full was never counted");
      await new Promise((r) => setTimeout(r, 50));
    }
    // The client reads again: after what was already on its way, the close frame says why.
    tcp.resume();
    const [reason, details] = await seen;
    const [info] = await gone;
    assert.equal(info.reason, "send buffer full");
    assert.equal(reason, "transport close");
    assert.equal(details?.context?.code, 1008, `details: ${details?.description}`);
    assert.equal(String(details?.context?.reason), "send buffer full");
    const counts = await emitAck(watcher, "refusals");
    assert.equal(counts[0].send_buffer_full, 1);
    assert.deepEqual(await emitAck(watcher, "echo", "still here"), ["still here"]);
  });

  test("a client over the event rate is disconnected with `event rate exceeded`", { timeout: 20_000 }, async () => {
    clients = new Clients(server.url);
    const watcher = await clients.connect("/", { transports: ["websocket"] });
    const flooder = await clients.connect("/", { transports: ["websocket"] });
    const seen = disconnected(flooder);
    for (let i = 0; i < EVENT_BURST + 50; i++) flooder.emit("noop", i);
    const [reason, details] = await seen;
    assert.equal(reason, "transport close");
    assert.equal(details?.context?.code, 1008);
    assert.equal(String(details?.context?.reason), "event rate exceeded");
    const counts = await emitAck(watcher, "refusals");
    assert.equal(counts[0].event_rate, 1);
    // Everybody else is served; a fresh client connects and gets its ack.
    const fresh = await clients.connect("/");
    assert.deepEqual(await emitAck(fresh, "echo", "hi"), ["hi"]);
  });
});
