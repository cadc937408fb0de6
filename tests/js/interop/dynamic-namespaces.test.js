// Dynamic namespaces: children created on first connect by a matching parent, which lends
// them its middleware and connection handler; a parent emit reaches every child; with
// cleanup, an empty child is forgotten.

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer, serverForSuite } from "../lib/server.js";
import { Clients, emitAck, next, waitConnected } from "../lib/client.js";

for (const cleanup of [false, true]) {
  describe(`dynamic namespaces${cleanup ? " (--cleanup-children)" : ""}`, () => {
    let server;
    let clients;
    serverForSuite({ args: cleanup ? ["--cleanup-children"] : [] }, (s) => (server = s), () => clients);

    test("a matching name creates a child that runs the parent's handler", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = clients.socket("/dyn-42", { transports: ["websocket"] });
      const welcome = next(s, "welcome-dyn");
      await waitConnected(s);
      assert.deepEqual(await welcome, ["/dyn-42"]);
      const ctl = await clients.connect("/", { transports: ["websocket"] });
      assert.deepEqual(await emitAck(ctl, "dyn-children"), [["/dyn-42"]]);
    });

    test("the parent's middleware applies to children", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const bad = clients.socket("/dyn-7", { transports: ["websocket"], auth: { token: "bad" }, reconnection: false });
      const err = await next(bad, "connect_error", 5000);
      assert.equal(err[0].message, "bad token");
    });

    test("a name no parent matches is still an invalid namespace", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = clients.socket("/dyn-abc", { transports: ["websocket"], reconnection: false });
      const err = await next(s, "connect_error", 5000);
      assert.equal(err[0].message, "Invalid namespace");
    });

    test("an emit on the parent reaches every child", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const a = await clients.connect("/dyn-1", { transports: ["websocket"] });
      const b = await clients.connect("/dyn-2", { transports: ["polling"] });
      const ctl = await clients.connect("/", { transports: ["websocket"] });
      const gotA = next(a, "dyn-all");
      const gotB = next(b, "dyn-all");
      assert.deepEqual(await emitAck(ctl, "dyn-broadcast", { hi: 1 }), [true]);
      assert.deepEqual(await gotA, [{ hi: 1 }]);
      assert.deepEqual(await gotB, [{ hi: 1 }]);
    });

    test(cleanup ? "an empty child is forgotten" : "an empty child is kept", { timeout: 10_000 }, async () => {
      clients = new Clients(server.url);
      const s = await clients.connect("/dyn-99", { transports: ["websocket"] });
      const ctl = await clients.connect("/", { transports: ["websocket"] });
      assert.ok((await emitAck(ctl, "dyn-children"))[0].includes("/dyn-99"));
      s.disconnect();
      // The DISCONNECT travels on another connection than `ctl`'s acks, so nothing orders the
      // two: ask again (a bounded number of round trips, no timers) until it has been seen.
      for (let i = 0; i < 50; i++) {
        const [names] = await emitAck(ctl, "dyn-children");
        if (!cleanup || !names.includes("/dyn-99")) break;
      }
      const [names] = await emitAck(ctl, "dyn-children");
      assert.equal(names.includes("/dyn-99"), !cleanup);
    });
  });
}
