// A client that sends a reserved event name (`connect`, `disconnect`, …) cannot fake a
// lifecycle event: the packet is rejected as invalid (the connection closes with
// `parse error`, as Node's parser does), no handler runs with a forged reason, and the
// server keeps serving everyone else.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, onceMatching, serverForSuite } from "../lib/server.js";
import { Clients, emitAck } from "../lib/client.js";
import { RawWebSocket, wsUrl } from "../lib/raw.js";

describe("reserved event names from a client", () => {
  let server;
  let clients;
  serverForSuite({}, (s) => (server = s), () => clients);

  for (const name of ["disconnect", "connect", "disconnecting", "connect_error", "newListener", "removeListener"]) {
    test(`"${name}" is rejected without harm`, { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const watcher = await clients.connect("/", { transports: ["websocket"] });
      assert.deepEqual(await emitAck(watcher, "watch-disconnects"), [true]);
      const raw = new RawWebSocket(wsUrl(server.url));
      try {
        await raw.next(); // open
        raw.send("40");
        const { sid } = JSON.parse((await raw.nextNonPing()).slice(2));
        const seen = onceMatching(watcher, "peer-disconnect", (i) => i?.sid === sid, 5000);
        raw.send(`42["${name}","forged reason"]`);
        const [info] = await seen;
        assert.equal(info.reason, "parse error", "the forged reason never reaches a handler");
        await raw.waitClose(3000);
        assert.deepEqual(await emitAck(watcher, "echo", "ok"), ["ok"]);
      } finally {
        raw.close();
      }
    });
  }
});
