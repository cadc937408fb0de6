// maxPayload over WebSocket: a message larger than the advertised maxPayload closes that
// connection (as 413 does for a polling POST), and the server keeps serving the others.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, onceMatching, serverForSuite } from "../lib/server.js";
import { Clients, emitAck } from "../lib/client.js";
import { RawWebSocket, wsUrl } from "../lib/raw.js";

const MAX_PAYLOAD = 1000;

describe(`WebSocket messages over maxPayload (--max-payload ${MAX_PAYLOAD})`, () => {
  let server;
  let clients;
  serverForSuite({ args: ["--max-payload", String(MAX_PAYLOAD)] }, (s) => (server = s), () => clients);

  for (const kind of ["text", "binary"]) {
    test(`a ${kind} message over maxPayload closes the connection; others keep working`, { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const watcher = await clients.connect("/", { transports: ["websocket"] });
      assert.deepEqual(await emitAck(watcher, "watch-disconnects"), [true]);
      const raw = new RawWebSocket(wsUrl(server.url));
      try {
        const open = JSON.parse((await raw.next()).slice(1));
        assert.equal(open.maxPayload, MAX_PAYLOAD);
        raw.send("40");
        const { sid } = JSON.parse((await raw.nextNonPing()).slice(2));
        // Just under the limit is served.
        raw.send(`42["echo","${"a".repeat(MAX_PAYLOAD - 20)}"]`);
        assert.match(await raw.nextNonPing(), /^42\["echo","a+"\]$/);
        const gone = onceMatching(watcher, "peer-disconnect", (info) => info?.sid === sid, 5000);
        const big = "x".repeat(MAX_PAYLOAD + 1);
        if (kind === "text") raw.send(`42["echo","${big}"]`);
        else raw.send(Buffer.from(big));
        const [info] = await gone;
        assert.equal(info.reason, "transport error");
        const closed = await raw.waitClose(3000);
        assert.notEqual(closed.code, 1000, "closed for a reason, not normally");
        // The server keeps serving everybody else.
        assert.deepEqual(await emitAck(watcher, "echo", "still here"), ["still here"]);
      } finally {
        raw.close();
      }
    });
  }
});
