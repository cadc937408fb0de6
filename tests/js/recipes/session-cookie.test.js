// Recipe examples/session-cookie, run for real: the HTTP app's tower-sessions login session
// authenticates Socket.IO connections (official socket.io-client; the Node client sends the
// browser's Cookie header through extraHeaders).

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startRecipe } from "./session-cookie-lib.js";

const TIMEOUT_MS = 5000;
let lax;
before(async () => {
  lax = await startRecipe("session-cookie");
});
after(() => lax?.stop());

async function login(base, user, headers = {}) {
  const res = await fetch(`${base}/login`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ user }),
  });
  return { res, body: await res.json(), cookie: res.headers.get("set-cookie") };
}

/** `id=…` from a Set-Cookie value. */
const pair = (setCookie) => setCookie.split(";")[0];

/** Connects; resolves with {socket} on connect or {error} on connect_error. */
function connect(base, opts = {}) {
  const socket = io(base, { forceNew: true, reconnection: false, timeout: TIMEOUT_MS, ...opts });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("neither connect nor connect_error")), TIMEOUT_MS);
    socket.once("connect", () => (clearTimeout(timer), resolve({ socket })));
    socket.once("connect_error", (error) => (clearTimeout(timer), socket.close(), resolve({ error })));
  });
}

test("the page and the client bundle are served beside the REST routes", async () => {
  const page = await fetch(`${lax.url}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script src="\/socket\.io\/socket\.io\.min\.js"><\/script>/);
  const bundle = await fetch(`${lax.url}/socket.io/socket.io.min.js`);
  assert.equal(bundle.status, 200);
  await bundle.arrayBuffer();
  assert.deepEqual(await (await fetch(`${lax.url}/me`)).json(), { user: null });
});

test("an anonymous socket is refused with connect_error 'not logged in: …'", async () => {
  const { error, socket } = await connect(lax.url);
  assert.equal(socket, undefined, "connected without a session");
  assert.match(error.message, /^not logged in: the handshake carried no "id" cookie/);
  assert.match(error.message, /withCredentials: true/);
});

test("POST /login sets an HttpOnly SameSite=Lax session cookie (no Secure) and /me reads it", async () => {
  const { res, body, cookie } = await login(lax.url, "ada");
  assert.equal(res.status, 200);
  assert.deepEqual(body, { user: "ada" });
  assert.match(cookie, /^id=[A-Za-z0-9_-]{22}; HttpOnly; SameSite=Lax; Path=\/$/);
  const me = await fetch(`${lax.url}/me`, { headers: { cookie: pair(cookie) } });
  assert.deepEqual(await me.json(), { user: "ada" });
  const bad = await fetch(`${lax.url}/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user: "  " }),
  });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get("set-cookie"), null, "no session for a refused login");
});

for (const transports of [["polling", "websocket"], ["websocket"]]) {
  test(`a logged-in socket connects (${transports.join(" then ")}) and the server knows its user`, async () => {
    const { cookie } = await login(lax.url, "bob");
    const { socket, error } = await connect(lax.url, { transports, extraHeaders: { cookie: `theme=dark; ${pair(cookie)}` } });
    assert.equal(error, undefined, error?.message);
    try {
      assert.equal(await socket.timeout(TIMEOUT_MS).emitWithAck("whoami"), "bob");
    } finally {
      socket.close();
    }
  });
}

test("a forged or unknown session id is refused", async () => {
  for (const value of ["not-base64!", "AAAAAAAAAAAAAAAAAAAAAA"]) {
    const { error } = await connect(lax.url, { extraHeaders: { cookie: `id=${value}` } });
    assert.equal(error?.message, "not logged in: unknown or expired session", value);
  }
});

test("after POST /logout the same cookie no longer connects; a socket already connected stays", async () => {
  const { cookie } = await login(lax.url, "cy");
  const headers = { cookie: pair(cookie) };
  const { socket } = await connect(lax.url, { extraHeaders: headers });
  assert.ok(socket, "connects while logged in");
  try {
    const out = await fetch(`${lax.url}/logout`, { method: "POST", headers });
    assert.equal(out.status, 204);
    const { error } = await connect(lax.url, { extraHeaders: headers });
    assert.equal(error?.message, "not logged in: unknown or expired session");
    assert.equal(await socket.timeout(TIMEOUT_MS).emitWithAck("whoami"), "cy");
  } finally {
    socket.close();
  }
});

test("cross-site setup: SameSite=None; Secure cookie, credentials allowed for the listed origin only", async () => {
  const app = "http://localhost:5173";
  const server = await startRecipe("session-cookie", { COOKIE_SAMESITE: "none", ALLOWED_ORIGINS: app });
  try {
    const { cookie } = await login(server.url, "dee", { origin: app });
    assert.match(cookie, /; HttpOnly; SameSite=None; Secure; Path=\/$/);

    // The REST routes: a preflight from the app, answered with credentials.
    const pre = await fetch(`${server.url}/login`, {
      method: "OPTIONS",
      headers: { origin: app, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    assert.equal(pre.headers.get("access-control-allow-origin"), app);
    assert.equal(pre.headers.get("access-control-allow-credentials"), "true");

    // Portico: the same origin, with credentials, on the handshake.
    const hs = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: app, cookie: pair(cookie) } });
    assert.equal(hs.status, 200);
    assert.equal(hs.headers.get("access-control-allow-origin"), app);
    assert.equal(hs.headers.get("access-control-allow-credentials"), "true");
    await hs.text();
    const { socket, error } = await connect(server.url, { extraHeaders: { origin: app, cookie: pair(cookie) } });
    assert.equal(error, undefined, error?.message);
    socket.close();

    // Another origin: refused by Portico (403), no allow headers from the REST routes.
    const evil = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers: { origin: "http://evil.test" } });
    assert.equal(evil.status, 403);
    await evil.text();
    const evilPre = await fetch(`${server.url}/login`, {
      method: "OPTIONS",
      headers: { origin: "http://evil.test", "access-control-request-method": "POST" },
    });
    assert.equal(evilPre.headers.get("access-control-allow-origin"), null);
  } finally {
    await server.stop();
  }
});

test("a bad COOKIE_SAMESITE is a startup error that names the choices", async () => {
  await assert.rejects(startRecipe("session-cookie", { COOKIE_SAMESITE: "None;" }), /expected lax, strict or none/);
});
