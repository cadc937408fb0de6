// Graceful shutdown (docs/operations.md): on SIGTERM/SIGINT new sessions are refused (503),
// idle connections are closed at once with the Engine.IO close (the official client reports
// `transport close` and starts reconnecting, unlike after a Socket.IO DISCONNECT), connections
// with an acknowledgement or a handler in flight are closed once it is done, all within
// --shutdown-timeout; the process logs what it closed and exits 0. A second signal exits at
// once (status 1). Waits are on events and log lines, each bounded; nothing sleeps.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { Clients } from "../lib/client.js";
import { once, startServer, withTimeout } from "../lib/server.js";
import { eioUrl, handshake, request } from "../lib/raw.js";
import { startServe } from "./serve.js";

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

function clientsFor(url) {
  const c = new Clients(url);
  cleanups.push(() => c.closeAll());
  return c;
}

const RECONNECTING = { reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 50, randomizationFactor: 0 };

for (const transport of ["websocket", "polling"]) {
  test(`portico serve, SIGTERM: a ${transport} client sees "transport close" and starts reconnecting; exit 0 with a summary`, { timeout: 30_000 }, async () => {
    const server = await startServe(["--shutdown-timeout", "5000"]);
    cleanups.push(() => server.kill());
    const socket = await clientsFor(server.url).connect("/", { transports: [transport], ...RECONNECTING });
    const disconnected = once(socket, "disconnect", 5000);
    const reconnecting = once(socket.io, "reconnect_attempt", 5000);

    const sent = performance.now();
    server.child.kill("SIGTERM");
    const [[reason]] = await Promise.all([disconnected, reconnecting]);
    assert.equal(reason, "transport close");
    const { code, signal } = await withTimeout(server.exit, 5000, "exit after SIGTERM");
    assert.deepEqual({ code, signal }, { code: 0, signal: null }, server.stderr());
    assert.ok(performance.now() - sent < 5000, `exit took ${Math.round(performance.now() - sent)} ms`);
    assert.match(server.stderr(), /SIGTERM received: shutting down gracefully/);
    assert.match(
      server.stderr(),
      /shutdown complete in [^:]+: closed 1 sessions \(0 after their pending acknowledgements, 0 left open\)/,
    );
  });
}

test("library serve, SIGINT: an acknowledgement the server awaits completes and its handler finishes; idle clients leave at once; new sessions get 503", { timeout: 30_000 }, async () => {
  // The fixture logs what RUST_LOG asks for: the shutdown's lines are INFO.
  const savedLog = process.env.RUST_LOG;
  process.env.RUST_LOG = "portico=info";
  const fixture = await startServer().finally(() => {
    if (savedLog === undefined) delete process.env.RUST_LOG;
    else process.env.RUST_LOG = savedLog;
  });
  const exited = once(fixture.process, "exit", 15_000);
  cleanups.push(() => fixture.stop());
  const clients = clientsFor(fixture.url);
  const busy = await clients.connect("/", { transports: ["websocket"] });
  const idle = await clients.connect("/", { transports: ["polling"], ...RECONNECTING });

  // The server's handler asks the client for an acknowledgement, waits for it (up to 8 s),
  // then emits the result: work in flight at the signal.
  const asked = once(busy, "need-ack", 5000);
  busy.emit("request-ack", { timeoutMs: 8000 });
  const [, answer] = await asked;
  assert.equal(typeof answer, "function");

  const idleGone = once(idle, "disconnect", 5000);
  fixture.process.kill("SIGINT");
  const logged = () => fixture.logs.join("\n");
  await withTimeout(
    (async () => {
      while (!/shutting down: 2 sessions, 1 waiting for pending acknowledgements/.test(logged())) {
        await once(fixture.process.stdout, "data", 5000); // the fixture logs to stdout
      }
    })(),
    5000,
    "the shutdown's first log line",
  );
  const [idleReason] = await idleGone;
  assert.equal(idleReason, "transport close");
  // New sessions are refused while the drain goes on.
  const refused = await request(eioUrl(fixture.url));
  assert.equal(refused.status, 503);

  const result = once(busy, "request-ack-result", 5000);
  const busyGone = once(busy, "disconnect", 5000);
  answer({ late: true });
  const [[r]] = await Promise.all([result, busyGone.then(([reason]) => assert.equal(reason, "transport close"))]);
  assert.deepEqual(r, { ok: true, reply: { late: true } });
  const [code] = await exited;
  assert.equal(code, 0, logged());
  assert.match(logged(), /closed 2 sessions \(1 after their pending acknowledgements, 0 left open\)/);
});

test("portico serve: a polling session that never collects its close packet is left at --shutdown-timeout; exit 0", { timeout: 30_000 }, async () => {
  const server = await startServe(["--shutdown-timeout", "1000"]);
  cleanups.push(() => server.kill());
  await handshake(server.url); // and no GET: its close packet is never collected
  const sent = performance.now();
  server.child.kill("SIGTERM");
  const { code } = await withTimeout(server.exit, 5000, "exit after SIGTERM");
  const took = Math.round(performance.now() - sent);
  assert.equal(code, 0, server.stderr());
  assert.ok(took >= 900 && took < 3000, `exit took ${took} ms`);
  assert.match(server.stderr(), /closed 1 sessions \(0 after their pending acknowledgements, 1 left open\)/);
});

test("portico serve: a second signal during the drain exits at once with status 1", { timeout: 30_000 }, async () => {
  const server = await startServe(["--shutdown-timeout", "60000"]);
  cleanups.push(() => server.kill());
  await handshake(server.url); // keeps the drain going (its close packet is never collected)
  server.child.kill("SIGTERM");
  await server.waitFor(/shutting down: 1 sessions/);
  const sent = performance.now();
  server.child.kill("SIGINT");
  const { code } = await withTimeout(server.exit, 2000, "exit after the second signal");
  assert.equal(code, 1, server.stderr());
  assert.ok(performance.now() - sent < 2000);
  assert.match(server.stderr(), /SIGINT received during the graceful shutdown: exiting now/);
});
