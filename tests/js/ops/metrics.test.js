// `portico serve --metrics`: after known clients and requests, the scrape shows exact values
// (sessions by transport, sockets and rooms by namespace, packets and bytes, refusals by
// reason), in the OpenMetrics text format, and 404 off /metrics. Then, once the clients leave,
// the gauges are back to 0 and the counters kept their totals.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { Clients } from "../lib/client.js";
import { once } from "../lib/server.js";
import { eioUrl, request } from "../lib/raw.js";
import { porticoBinary, scrape, scrapeUntil, startServe } from "./serve.js";

const servers = [];
after(async () => {
  for (const s of servers) await s.kill();
});

test("--metrics: exact values after a WebSocket client, a polling client and three refusals", { timeout: 30_000 }, async () => {
  const server = await startServe([], { bin: porticoBinary({ preferRelease: false }) });
  servers.push(server);

  const empty = await scrape(server.metricsUrl);
  assert.equal(empty.status, 200);
  assert.equal(empty.contentType, "application/openmetrics-text; version=1.0.0; charset=utf-8");
  assert.match(empty.text, /# EOF\n$/);
  for (const name of ["portico_sessions", "portico_sockets", "portico_rooms", "portico_packets_received",
    "portico_packets_sent", "portico_received_bytes", "portico_sent_bytes", "portico_refusals",
    "portico_adapter_errors", "portico_sessions_upgrading"]) {
    assert.match(empty.text, new RegExp(`^# HELP ${name} \\S`, "m"), name);
  }
  assert.equal(empty.values.get('portico_sessions{transport="polling"}'), 0);
  assert.equal(empty.values.get("portico_packets_received_total"), 0);

  const clients = new Clients(server.url);
  try {
    const ws = await clients.connect("/", { transports: ["websocket"] });
    const polling = await clients.connect("/", { transports: ["polling"] });
    // Three refusals: a foreign origin (origin), an unknown session id (unknown_sid), a
    // socket.io-client 2.x handshake on a server without --allow-eio3 (unsupported_version).
    assert.equal((await request(eioUrl(server.url), { headers: { origin: "http://evil.example" } })).status, 403);
    assert.equal((await request(eioUrl(server.url, { sid: "nope" }))).status, 400);
    assert.equal((await request(eioUrl(server.url, { EIO: "3" }))).status, 400);

    const m = (await scrape(server.metricsUrl)).values;
    assert.equal(m.get('portico_sessions{transport="polling"}'), 1);
    assert.equal(m.get('portico_sessions{transport="websocket"}'), 1);
    assert.equal(m.get("portico_sessions_upgrading"), 0);
    assert.equal(m.get('portico_sockets{namespace="/"}'), 2);
    // Each socket's own room.
    assert.equal(m.get('portico_rooms{namespace="/"}'), 2);
    assert.equal(m.get('portico_refusals_total{reason="origin"}'), 1);
    assert.equal(m.get('portico_refusals_total{reason="unknown_sid"}'), 1);
    assert.equal(m.get('portico_refusals_total{reason="unsupported_version"}'), 1);
    assert.equal(m.get('portico_refusals_total{reason="bad_request"}'), 0);
    assert.equal(m.get('portico_refusals_total{reason="max_sessions"}'), 0);
    assert.equal(m.get('portico_limit_hits_total{limit="max_sessions"}'), 0);
    assert.equal(m.get("portico_adapter_errors_total"), 0);
    // In: one CONNECT ("40") per client. Out: each client's open packet and CONNECT reply.
    assert.equal(m.get("portico_packets_received_total"), 2);
    assert.equal(m.get("portico_received_bytes_total"), 4);
    assert.equal(m.get("portico_packets_sent_total"), 4);
    const open = (engine, upgrades) =>
      1 + JSON.stringify({ sid: engine.id, upgrades, pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 }).length;
    const reply = (socket) => `40{"sid":"${socket.id}"}`.length;
    assert.equal(
      m.get("portico_sent_bytes_total"),
      open(ws.io.engine, []) + open(polling.io.engine, ["websocket"]) + reply(ws) + reply(polling),
    );

    // Both leave: the gauges go back to 0.
    const echoed = once(ws, "disconnect", 5000);
    ws.disconnect();
    polling.disconnect();
    await echoed;
    const gone = await scrapeUntil(
      server.metricsUrl,
      (v) => v.get('portico_sessions{transport="polling"}') === 0 && v.get('portico_sessions{transport="websocket"}') === 0,
      10_000,
      "both sessions closed",
    );
    assert.equal(gone.get('portico_sockets{namespace="/"}'), 0);
    assert.equal(gone.get('portico_rooms{namespace="/"}'), 0);
    // Counters keep what the closed sessions carried (plus their DISCONNECT and close packets).
    assert.ok(gone.get("portico_packets_received_total") >= 4, String(gone.get("portico_packets_received_total")));
    assert.ok(gone.get("portico_sent_bytes_total") >= m.get("portico_sent_bytes_total"));
  } finally {
    clients.closeAll();
  }

  const elsewhere = await request(server.metricsUrl.replace(/\/metrics$/, "/other"));
  assert.equal(elsewhere.status, 404);
});
