// The origin policy at the HTTP level, against the running fixture: polling handshake, polling
// GET/POST with a sid, preflights and the WebSocket upgrade, from allowed and refused origins.
//
// Portico refuses where Node only omits headers: a disallowed origin gets 403
// {"code":4,"message":"Forbidden"} with no allow headers, no session is created, the server emits
// one connection_error (the fixture's `connection-errors` ack) and logs one warning naming the fix.
// Allowed origins get their exact CORS headers, on error responses too. Also: `portico serve`
// refuses broken origin flags with the fix, and --demo-origin allows exactly the demo origin.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../lib/server.js";
import { Clients, emitAck, waitConnected, next } from "../lib/client.js";
import { eioUrl, request, wsUrl } from "../lib/raw.js";
import {
  allowHeaders,
  corsHeaders,
  freePort,
  logLines,
  runPortico,
  startPortico,
  waitForLog,
  wsAttempt,
} from "../lib/cors.js";

// The refusal warnings are part of what is tested; the fixture logs with RUST_LOG.
process.env.RUST_LOG ??= "portico=warn";

const PAGE = "http://localhost:5173";
const FORBIDDEN = { code: 4, message: "Forbidden" };
const T = { timeout: 15_000 };

/** A fixture plus an observer client (no Origin header: served by default) to ask it questions. */
async function fixture(args) {
  const server = await startServer({ args });
  const clients = new Clients(server.url);
  try {
    const observer = await clients.connect("/", { transports: ["websocket"] });
    const ask = async (event) => (await emitAck(observer, event))[0];
    return { server, clients, observer, ask };
  } catch (err) {
    clients.closeAll();
    await server.stop();
    throw err;
  }
}

/** Asserts a refusal response: 403 code 4 "Forbidden", JSON, no allow headers, Vary: Origin. */
function assertRefused(res, what) {
  assert.equal(res.status, 403, `${what}: status`);
  assert.deepEqual(JSON.parse(res.text ?? res.body), FORBIDDEN, `${what}: body`);
  assert.deepEqual(allowHeaders(res.headers), {}, `${what}: no allow headers`);
}

/** Asserts the one connection_error and the one warning a refused request produced. */
async function assertReported(f, { origin, transport, fix, count }) {
  const errors = await f.ask("connection-errors");
  const mine = errors.filter((e) => e.origin === origin && e.transport === transport);
  assert.equal(mine.length, count ?? 1, `connection_error for ${origin} over ${transport}: ${JSON.stringify(errors)}`);
  for (const e of mine) {
    assert.equal(e.code, 4);
    assert.equal(e.message, "Forbidden");
    assert.match(e.reason, new RegExp(`from origin "${esc(origin)}"`));
    if (fix) assert.ok(e.reason.includes(fix), `reason names the fix ${JSON.stringify(fix)}: ${e.reason}`);
  }
  await waitForLog(f.server, (l) => l.includes("WARN") && l.includes(`origin "${origin}"`) && l.includes(transport));
}

/** Counts the warnings naming `origin`, after a marker refusal proves earlier lines are all in. */
async function warningsFor(f, origin) {
  const marker = `http://marker-${Math.random().toString(36).slice(2)}.test`;
  await request(eioUrl(f.server.url), { headers: { origin: marker } });
  await waitForLog(f.server, (l) => l.includes(`origin "${marker}"`));
  return logLines(f.server, (l) => l.includes("WARN") && l.includes(`origin "${origin}"`)).length;
}

function esc(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function get(url, origin, init = {}) {
  return request(url, { ...init, headers: { ...(origin ? { origin } : {}), ...init.headers } });
}

function preflight(url, origin, method = "POST", requestHeaders) {
  const headers = { origin, "access-control-request-method": method };
  if (requestHeaders) headers["access-control-request-headers"] = requestHeaders;
  return request(url, { method: "OPTIONS", headers });
}

const ALLOWED_WITH_CREDENTIALS = (origin) => ({
  "access-control-allow-origin": origin,
  "access-control-allow-credentials": "true",
  vary: "Origin",
});

describe(`a listed origin with credentials (--cors-origin ${PAGE} --cors-origin http://*.portico.test:5173 --cors-credentials)`, () => {
  let f;
  before(async () => {
    f = await fixture([
      "--cors-origin", PAGE,
      "--cors-origin", "http://*.portico.test:5173",
      "--cors-credentials",
      "--guard-origin", "http://admin.portico.test:5173",
    ]);
  });
  after(async () => {
    f?.clients.closeAll();
    await f?.server.stop();
  });

  test("polling handshake: exactly ACAO = the origin, ACAC true, Vary Origin", T, async () => {
    const res = await get(eioUrl(f.server.url), PAGE);
    assert.equal(res.status, 200);
    assert.match(res.text, /^0\{"sid":/);
    assert.deepEqual(corsHeaders(res.headers), ALLOWED_WITH_CREDENTIALS(PAGE));
  });

  test("polling POST and GET with a sid carry the same headers", T, async () => {
    const hs = await get(eioUrl(f.server.url), PAGE);
    const sid = JSON.parse(hs.text.slice(1)).sid;
    const p = await request(eioUrl(f.server.url, { sid }), {
      method: "POST",
      body: "40",
      headers: { origin: PAGE, "content-type": "text/plain;charset=UTF-8" },
    });
    assert.equal(p.status, 200);
    assert.equal(p.text, "ok");
    assert.deepEqual(corsHeaders(p.headers), ALLOWED_WITH_CREDENTIALS(PAGE));
    const g = await get(eioUrl(f.server.url, { sid }), PAGE);
    assert.equal(g.status, 200);
    assert.match(g.text, /^40\{"sid":/);
    assert.deepEqual(corsHeaders(g.headers), ALLOWED_WITH_CREDENTIALS(PAGE));
  });

  test("error responses to an allowed origin carry the CORS headers too", T, async () => {
    const cases = [
      ["unknown sid (GET)", eioUrl(f.server.url, { sid: "nope" }), {}, 400, { code: 1, message: "Session ID unknown" }],
      ["unknown sid (POST)", eioUrl(f.server.url, { sid: "nope" }), { method: "POST", body: "40" }, 400, { code: 1, message: "Session ID unknown" }],
      ["bad EIO", eioUrl(f.server.url, { EIO: "5" }), {}, 400, { code: 5, message: "Unsupported protocol version" }],
      ["websocket without upgrade", eioUrl(f.server.url, { transport: "websocket" }), {}, 400, { code: 3, message: "Bad request" }],
      ["unknown transport", eioUrl(f.server.url, { transport: "carrier-pigeon" }), {}, 400, { code: 0, message: "Transport unknown" }],
      ["OPTIONS that is no preflight", eioUrl(f.server.url), { method: "OPTIONS" }, 400, { code: 2, message: "Bad handshake method" }],
      ["allow_request refusal", eioUrl(f.server.url, { deny: "closed" }), {}, 403, { code: 4, message: "closed" }],
    ];
    for (const [what, url, init, status, body] of cases) {
      const res = await get(url, PAGE, init);
      assert.equal(res.status, status, what);
      assert.deepEqual(JSON.parse(res.text), body, what);
      assert.deepEqual(corsHeaders(res.headers), ALLOWED_WITH_CREDENTIALS(PAGE), what);
    }
  });

  test("preflight (OPTIONS + Origin + Access-Control-Request-Method): 204 with the allow headers", T, async () => {
    for (const method of ["POST", "GET"]) {
      const res = await preflight(eioUrl(f.server.url), PAGE, method);
      assert.equal(res.status, 204, method);
      assert.equal(res.text, "");
      assert.deepEqual(corsHeaders(res.headers), {
        ...ALLOWED_WITH_CREDENTIALS(PAGE),
        "access-control-allow-methods": "GET, POST",
      });
    }
  });

  test("preflight for a method or request header that is not allowed: refused with the fix", T, async () => {
    const put = await preflight(eioUrl(f.server.url), PAGE, "PUT");
    assertRefused(put, "PUT preflight");
    const hdr = await preflight(eioUrl(f.server.url), PAGE, "POST", "x-custom");
    assertRefused(hdr, "x-custom preflight");
    const errors = (await f.ask("connection-errors")).filter((e) => e.origin === PAGE);
    assert.ok(errors.some((e) => /refused a preflight \(polling\)/.test(e.reason) && e.reason?.includes('add "PUT" to OriginPolicy::allow_methods')),
      JSON.stringify(errors));
    assert.ok(errors.some((e) => e.reason?.includes('add "x-custom" to OriginPolicy::allow_headers')), JSON.stringify(errors));
  });

  test("refused origin, polling handshake: 403 code 4, no allow headers, no session, reported once", T, async () => {
    const origin = "http://evil.example";
    const before = await f.ask("handshake-count");
    const res = await get(eioUrl(f.server.url), origin);
    assertRefused(res, "handshake");
    assert.equal(res.headers.get("vary"), "Origin");
    assert.equal(res.headers.get("set-cookie"), null);
    assert.equal(await f.ask("handshake-count"), before, "no session was created");
    await assertReported(f, {
      origin,
      transport: "polling",
      fix: `add "${origin}" to the allowed origins (OriginPolicy::allow / --cors-origin ${origin})`,
    });
    assert.equal(await warningsFor(f, origin), 1, "exactly one warning");
  });

  test("refused origin, polling GET and POST on an existing sid: 403, session untouched", T, async () => {
    const origin = "http://evil-sid.example";
    const hs = await get(eioUrl(f.server.url), PAGE);
    const sid = JSON.parse(hs.text.slice(1)).sid;
    const p = await request(eioUrl(f.server.url, { sid }), { method: "POST", body: "40", headers: { origin } });
    assertRefused(p, "POST");
    const g = await get(eioUrl(f.server.url, { sid }), origin);
    assertRefused(g, "GET");
    await assertReported(f, { origin, transport: "polling", count: 2 });
    // the refused POST was not delivered; the session still works for its own origin
    const p2 = await request(eioUrl(f.server.url, { sid }), { method: "POST", body: "40", headers: { origin: PAGE } });
    assert.equal(p2.text, "ok");
    const g2 = await get(eioUrl(f.server.url, { sid }), PAGE);
    assert.match(g2.text, /^40\{"sid":/);
  });

  test("refused origin, preflight: 403 code 4, no allow headers, reported as a preflight", T, async () => {
    const origin = "http://evil-preflight.example";
    const res = await preflight(eioUrl(f.server.url), origin, "POST", "content-type");
    assertRefused(res, "preflight");
    await assertReported(f, { origin, transport: "polling", fix: `--cors-origin ${origin}` });
    const errors = (await f.ask("connection-errors")).filter((e) => e.origin === origin);
    assert.match(errors[0].reason, /refused a preflight/);
  });

  test("WebSocket upgrade from an allowed origin: 101 and the open packet", T, async () => {
    const r = await wsAttempt(wsUrl(f.server.url), { origin: PAGE });
    assert.equal(r.opened, true);
    const first = await r.firstMessage;
    assert.match(first, /^0\{"sid":.*"upgrades":\[\]/);
    r.ws.terminate();
  });

  test("WebSocket upgrade from a refused origin: 403 before any 101, no session, reported once", T, async () => {
    const origin = "http://evil-ws.example";
    const before = await f.ask("handshake-count");
    const r = await wsAttempt(wsUrl(f.server.url), { origin });
    assert.equal(r.opened, false, "the upgrade must not succeed");
    assertRefused(r, "upgrade");
    assert.equal(await f.ask("handshake-count"), before, "no session was created");
    await assertReported(f, { origin, transport: "websocket", fix: `--cors-origin ${origin}` });
    assert.equal(await warningsFor(f, origin), 1, "exactly one warning");
  });

  test("WebSocket upgrade of an existing polling session from a refused origin: 403", T, async () => {
    const origin = "http://evil-upgrade.example";
    const hs = await get(eioUrl(f.server.url), PAGE);
    const sid = JSON.parse(hs.text.slice(1)).sid;
    const r = await wsAttempt(wsUrl(f.server.url, { sid }), { origin });
    assert.equal(r.opened, false);
    assertRefused(r, "upgrade with sid");
    await assertReported(f, { origin, transport: "websocket" });
    // the polling session is still there for its own origin
    const p = await request(eioUrl(f.server.url, { sid }), { method: "POST", body: "40", headers: { origin: PAGE } });
    assert.equal(p.text, "ok");
  });

  test("lookalike origins are refused; the subdomain pattern matches only subdomains", T, async () => {
    for (const origin of [
      "http://localhost:5173.evil.net",
      "http://evil-localhost:5173",
      "http://localhost.evil.net:5173",
      "https://localhost:5173",
      "http://localhost:5174",
      "http://localhost",
      "http://portico.test:5173",
      "http://evil-portico.test:5173",
      "http://portico.test.evil.net:5173",
      "http://a.portico.test.evil.net:5173",
      "http://a.portico.test:5174",
      "https://a.portico.test:5173",
      "http://aportico.test:5173",
    ]) {
      assertRefused(await get(eioUrl(f.server.url), origin), origin);
      const ws = await wsAttempt(wsUrl(f.server.url), { origin });
      assert.equal(ws.status, 403, `${origin} over websocket`);
    }
    for (const origin of ["http://app.portico.test:5173", "http://a.b.portico.test:5173", "http://APP.portico.test:5173"]) {
      const res = await get(eioUrl(f.server.url), origin);
      assert.equal(res.status, 200, origin);
      assert.deepEqual(corsHeaders(res.headers), ALLOWED_WITH_CREDENTIALS(origin), origin);
    }
  });

  test("Origin: null is refused by default, with the opt-in named", T, async () => {
    const res = await get(eioUrl(f.server.url), "null");
    assertRefused(res, "null");
    const ws = await wsAttempt(wsUrl(f.server.url), { origin: "null" });
    assert.equal(ws.status, 403);
    const errors = (await f.ask("connection-errors")).filter((e) => e.origin === "null");
    assert.equal(errors.length, 2);
    assert.deepEqual(errors.map((e) => e.transport).sort(), ["polling", "websocket"]);
    assert.ok(errors.every((e) => e.reason.includes("allow_null_origin(true)")), JSON.stringify(errors));
  });

  test("the server's own origin is allowed (same-origin rule); no Origin is served without ACAO", T, async () => {
    const own = f.server.url; // http://127.0.0.1:<port>
    const res = await get(eioUrl(f.server.url), own);
    assert.equal(res.status, 200);
    assert.deepEqual(corsHeaders(res.headers), ALLOWED_WITH_CREDENTIALS(own));
    const none = await get(eioUrl(f.server.url));
    assert.equal(none.status, 200);
    assert.deepEqual(corsHeaders(none.headers), { vary: "Origin" });
  });

  test("no Origin but Sec-Fetch-Site: cross-site (an <img>/<script> from another site): refused", T, async () => {
    const res = await request(eioUrl(f.server.url), { headers: { "sec-fetch-site": "cross-site" } });
    assertRefused(res, "cross-site without Origin");
    const errors = (await f.ask("connection-errors")).filter((e) => e.origin === null && e.code === 4);
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].reason, /Sec-Fetch-Site: cross-site marks it as a cross-origin browser request/);
    const same = await request(eioUrl(f.server.url), { headers: { "sec-fetch-site": "same-origin" } });
    assert.equal(same.status, 200);
  });

  test("namespace origin guard: CONNECT_ERROR names the origin; / still works; the guard origin connects", T, async () => {
    const clients = new Clients(f.server.url);
    try {
      const opts = { transports: ["websocket"], extraHeaders: { origin: PAGE } };
      const guarded = clients.socket("/guarded", opts);
      const [err] = await next(guarded, "connect_error", 5000);
      assert.equal(err.message, `origin "${PAGE}" is not allowed on namespace "/guarded"`);
      await waitForLog(f.server, (l) => l.includes("WARN") &&
        l.includes(`add "${PAGE}" to the origin guard of namespace "/guarded"`));
      await waitConnected(clients.socket("/", opts));
      const admin = clients.socket("/guarded", { transports: ["websocket"], extraHeaders: { origin: "http://admin.portico.test:5173" } });
      const welcome = next(admin, "welcome", 5000);
      await waitConnected(admin);
      assert.deepEqual(await welcome, ["guarded"]);
    } finally {
      clients.closeAll();
    }
  });
});

describe("any origin (--cors-any-origin)", () => {
  let f;
  before(async () => {
    f = await fixture(["--cors-any-origin"]);
  });
  after(async () => {
    f?.clients.closeAll();
    await f?.server.stop();
  });

  test("every origin gets ACAO * without ACAC or Vary, on errors and preflights too", T, async () => {
    for (const origin of ["http://anywhere.example", "https://other.example:8443", "null"]) {
      const hs = await get(eioUrl(f.server.url), origin);
      assert.equal(hs.status, 200, origin);
      assert.deepEqual(corsHeaders(hs.headers), { "access-control-allow-origin": "*" }, origin);
      const bad = await get(eioUrl(f.server.url, { sid: "nope" }), origin);
      assert.equal(bad.status, 400);
      assert.deepEqual(corsHeaders(bad.headers), { "access-control-allow-origin": "*" }, origin);
      const pre = await preflight(eioUrl(f.server.url), origin);
      assert.equal(pre.status, 204);
      assert.deepEqual(corsHeaders(pre.headers), {
        "access-control-allow-origin": "*",
        "access-control-allow-methods": "GET, POST",
      }, origin);
      const ws = await wsAttempt(wsUrl(f.server.url), { origin });
      assert.equal(ws.opened, true, `${origin} over websocket`);
      ws.ws.terminate();
    }
    const refusals = (await f.ask("connection-errors")).filter((e) => e.code === 4);
    assert.deepEqual(refusals, []);
  });
});

describe("default policy (same origin only)", () => {
  let f;
  before(async () => {
    f = await fixture([]);
  });
  after(async () => {
    f?.clients.closeAll();
    await f?.server.stop();
  });

  test("a cross-origin page is refused with its own origin named; the same origin is served", T, async () => {
    const res = await get(eioUrl(f.server.url), PAGE);
    assertRefused(res, "cross-origin");
    const [e] = (await f.ask("connection-errors")).filter((x) => x.origin === PAGE);
    assert.ok(e.reason.includes(`(this server's own origin is "${f.server.url}")`), e.reason);
    assert.ok(e.reason.includes(`--cors-origin ${PAGE}`), e.reason);
    const ws = await wsAttempt(wsUrl(f.server.url), { origin: PAGE });
    assert.equal(ws.status, 403, "Node would accept this WebSocket; Portico refuses it");
    const own = await get(eioUrl(f.server.url), f.server.url);
    assert.equal(own.status, 200);
    assert.equal(own.headers.get("access-control-allow-origin"), f.server.url);
    assert.equal(own.headers.get("access-control-allow-credentials"), null);
  });
});

describe("portico serve origin flags", () => {
  test("--cors-any-origin --cors-credentials: refuses to start and explains both fixes", T, async () => {
    const r = await runPortico(["serve", "--port", "0", "--no-demo", "--cors-any-origin", "--cors-credentials"]);
    assert.notEqual(r.code, 0, "must not start");
    assert.match(r.stderr, /refusing to start/);
    assert.match(r.stderr, /browsers reject "Access-Control-Allow-Origin: \*" on credentialed requests/);
    // The advice is in flags, not Rust: this is the command line.
    assert.match(r.stderr, /--cors-origin https:\/\/app\.example\.com --cors-credentials/);
    assert.match(r.stderr, /drop --cors-credentials/);
    assert.doesNotMatch(r.stderr, /Portico listening/);
  });

  test("--cors-origin https://app.example.com/: refuses to start and shows the corrected entry", T, async () => {
    const r = await runPortico(["serve", "--port", "0", "--no-demo", "--cors-origin", "https://app.example.com/"]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--cors-origin/);
    assert.match(r.stderr, /trailing slash/);
    assert.match(r.stderr, /use "https:\/\/app\.example\.com"/);
  });

  test("--cors-any-origin with --cors-origin: refuses to start", T, async () => {
    const r = await runPortico(["serve", "--port", "0", "--no-demo", "--cors-any-origin", "--cors-origin", PAGE]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /--cors-any-origin and --cors-origin contradict each other/);
  });

  test("--demo-origin PORT: prints both URLs; the demo origin is allowed, others refused", T, async () => {
    const demoPort = await freePort();
    const p = await startPortico(
      ["serve", "--host", "127.0.0.1", "--port", "0", "--demo-origin", String(demoPort)],
      [/Portico listening on http:\/\/127\.0\.0\.1:(\d+) /, /open (http:\/\/127\.0\.0\.1:(\d+))\/ .*connects to (http:\/\/127\.0\.0\.1:(\d+))/],
    );
    try {
      const serverUrl = `http://127.0.0.1:${p.matches[0][1]}`;
      const [, demoUrl, port, connectsTo] = p.matches[1];
      assert.equal(Number(port), demoPort);
      assert.equal(connectsTo, serverUrl);
      const page = await request(`${demoUrl}/`);
      assert.equal(page.status, 200);
      assert.ok(page.text.includes(serverUrl), "the demo page connects to the main port");
      const ok = await get(eioUrl(serverUrl), demoUrl);
      assert.equal(ok.status, 200);
      assert.equal(ok.headers.get("access-control-allow-origin"), demoUrl);
      const okWs = await wsAttempt(wsUrl(serverUrl), { origin: demoUrl });
      assert.equal(okWs.opened, true);
      okWs.ws.terminate();
      for (const origin of [`http://127.0.0.1:${demoPort + 1}`, `http://localhost:${demoPort}`, PAGE]) {
        assertRefused(await get(eioUrl(serverUrl), origin), origin);
        assert.equal((await wsAttempt(wsUrl(serverUrl), { origin })).status, 403, origin);
      }
      await p.waitFor(new RegExp(`WARN.*refused a websocket request from origin "${PAGE}"`));
    } finally {
      await p.stop();
    }
  });
});
