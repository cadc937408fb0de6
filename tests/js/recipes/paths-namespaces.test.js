// Recipe "paths and namespaces" (docs/recipes/paths-namespaces.md), run for real:
// examples/paths-namespaces with Socket.IO under /ws/, then under a Next.js-style /api/socket/
// inside an axum app beside other /api routes; the /admin namespace with its token middleware
// and its origin guard. Official socket.io-client from tests/js/node_modules; pages' origins
// are sent as the Origin header a browser would send.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io, Manager } from "socket.io-client";
import { doctor, startRecipe } from "./paths-namespaces-lib.js";

const APP = "http://localhost:5173";
const ADMIN = "http://localhost:5174";
const TOKEN = "s3cret-admin-token";
const T = { timeout: 20_000 };
const WAIT_MS = 5000;

/** Resolves with ["connect"] or ["connect_error", err]; bounded. */
function outcome(socket) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("neither connect nor connect_error within 5 s")), WAIT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      resolve(["connect"]);
    });
    socket.once("connect_error", (err) => {
      clearTimeout(timer);
      resolve(["connect_error", err]);
    });
  });
}

/** The next `event` on `socket`, bounded. */
function next(socket, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 5 s`)), WAIT_MS);
    socket.once(event, (v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

const opened = [];
/** A client socket (no reconnection, closed after the file). */
function client(url, opts = {}) {
  const s = io(url, { forceNew: true, reconnection: false, timeout: WAIT_MS, ...opts });
  opened.push(s);
  return s;
}
after(() => {
  for (const s of opened) {
    s.disconnect();
    s.io.engine?.close();
  }
});

const TRANSPORTS = [
  ["polling then websocket", {}],
  ["websocket only", { transports: ["websocket"] }],
];

describe("custom path /ws", () => {
  let server;
  before(async () => {
    server = await startRecipe("paths-namespaces", ["--path", "/ws", "--app-origin", APP, "--admin-origin", ADMIN], {
      env: { ADMIN_TOKEN: TOKEN },
    });
  });
  after(() => server?.stop());

  for (const [name, opts] of TRANSPORTS) {
    test(`the client's path "/ws" connects (${name})`, T, async () => {
      assert.match(server.url, /\/ws\/$/, "the listening line names the path, with its trailing slash");
      const s = client(server.origin, { path: "/ws", extraHeaders: { origin: APP }, ...opts });
      const welcome = next(s, "welcome");
      assert.deepEqual(await outcome(s), ["connect"]);
      assert.equal((await welcome).nsp, "/");
    });
  }

  test('a client left on the default path gets "xhr poll error" (404) or "websocket error"', T, async () => {
    const polling = client(server.origin, { extraHeaders: { origin: APP } });
    const [ev, err] = await outcome(polling);
    assert.equal(ev, "connect_error");
    assert.equal(err.message, "xhr poll error");
    assert.equal(err.description, 404, "the app answers 404 for /socket.io/: nothing lives there");
    const res = await fetch(`${server.origin}/socket.io/?EIO=4&transport=polling`);
    assert.equal(res.status, 404);
    await res.arrayBuffer();

    const ws = client(server.origin, { transports: ["websocket"], extraHeaders: { origin: APP } });
    const [ev2, err2] = await outcome(ws);
    assert.equal(ev2, "connect_error");
    assert.equal(err2.message, "websocket error");
  });

  test("portico doctor names the findings of the Symptoms table", T, async () => {
    assert.deepEqual(await doctor([server.origin, "--origin", APP]), ["path.not-found"], "the client's default path");
    assert.deepEqual(await doctor([server.origin, "--origin", APP, "--path", "/ws"]), []);
    assert.deepEqual(await doctor([`${server.origin}/nope`, "--origin", APP, "--path", "/ws"]), ["namespace.invalid"]);
    assert.deepEqual(await doctor([`${server.origin}/admin`, "--origin", APP, "--path", "/ws"]), ["namespace.rejected"], "the guard");
    assert.deepEqual(await doctor([`${server.origin}/admin`, "--origin", ADMIN, "--path", "/ws"]), ["namespace.rejected"], "the middleware");
    assert.deepEqual(await doctor([server.origin, "--origin", "http://localhost:9999", "--path", "/ws"]), ["origin.refused"]);
  });

  test('an unknown namespace gets connect_error "Invalid namespace"', T, async () => {
    const s = client(`${server.origin}/nope`, { path: "/ws", extraHeaders: { origin: APP } });
    const [ev, err] = await outcome(s);
    assert.equal(ev, "connect_error");
    assert.equal(err.message, "Invalid namespace");
  });
});

describe("Next.js-style /api/socket inside an axum app", () => {
  let server;
  before(async () => {
    server = await startRecipe("paths-namespaces", ["--path", "/api/socket", "--app-origin", APP, "--admin-origin", ADMIN], {
      env: { ADMIN_TOKEN: TOKEN },
    });
  });
  after(() => server?.stop());

  test("the client's path /api/socket connects, and the app's own /api routes still answer", T, async () => {
    assert.match(server.url, /\/api\/socket\/$/);
    const s = client(server.origin, { path: "/api/socket", extraHeaders: { origin: APP } });
    assert.deepEqual(await outcome(s), ["connect"]);
    const health = await fetch(`${server.origin}/api/health`);
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { ok: true });
    // /api/socket-info starts with "/api/socket" but not with "/api/socket/": it is axum's.
    const info = await fetch(`${server.origin}/api/socket-info`);
    assert.equal(info.status, 200);
    const body = await info.json();
    assert.equal(body.path, "/api/socket/");
    assert.ok(body.connections >= 1, JSON.stringify(body));
    const missing = await fetch(`${server.origin}/api/nothing-here`);
    assert.equal(missing.status, 404);
    await missing.arrayBuffer();
  });

  test("addTrailingSlash: false asks for /api/socket (no slash): the app's 404, \"xhr poll error\"", T, async () => {
    const s = client(server.origin, { path: "/api/socket", addTrailingSlash: false, extraHeaders: { origin: APP } });
    const [ev, err] = await outcome(s);
    assert.equal(ev, "connect_error");
    assert.equal(err.message, "xhr poll error");
    assert.equal(err.description, 404);
  });

  test('a page whose origin the server does not allow: "xhr poll error" (403)', T, async () => {
    const s = client(server.origin, { path: "/api/socket", extraHeaders: { origin: "http://localhost:9999" } });
    const [ev, err] = await outcome(s);
    assert.equal(ev, "connect_error");
    assert.equal(err.message, "xhr poll error");
    assert.equal(err.description, 403);
    await server.waitStderr(/refusal="?origin"?.*http:\/\/localhost:9999/);
  });

  describe("the /admin namespace", () => {
    const admin = (origin, auth, opts = {}) =>
      client(`${server.origin}/admin`, { path: "/api/socket", extraHeaders: { origin }, ...(auth ? { auth } : {}), ...opts });

    for (const [name, opts] of TRANSPORTS) {
      test(`the admin app with the token joins (${name})`, T, async () => {
        const s = admin(ADMIN, { token: TOKEN }, opts);
        const welcome = next(s, "welcome");
        assert.deepEqual(await outcome(s), ["connect"]);
        assert.equal((await welcome).nsp, "/admin");
      });
    }

    test("no token / a wrong token: the middleware's message (and data) in connect_error", T, async () => {
      const [ev, err] = await outcome(admin(ADMIN));
      assert.equal(ev, "connect_error");
      assert.equal(err.message, "admin: token required");
      assert.match(err.data.hint, /auth: \{ token \}/);
      const [ev2, err2] = await outcome(admin(ADMIN, { token: "guess" }));
      assert.equal(ev2, "connect_error");
      assert.equal(err2.message, "admin: wrong token");
    });

    test("the guard runs first (the app's origin without a token hears of its origin); no Origin at all passes the guard", T, async () => {
      const [ev, err] = await outcome(admin(APP));
      assert.equal(ev, "connect_error");
      assert.equal(err.message, `origin "${APP}" is not allowed on namespace "/admin"`);
      const script = client(`${server.origin}/admin`, { path: "/api/socket", auth: { token: TOKEN } });
      assert.deepEqual(await outcome(script), ["connect"], "a Node script (no Origin) with the token joins");
    });

    test("the app's origin, even with the token: refused by the guard; its / connection stays up", T, async () => {
      const manager = new Manager(server.origin, {
        path: "/api/socket",
        extraHeaders: { origin: APP },
        forceNew: true,
        reconnection: false,
        autoConnect: false,
        timeout: WAIT_MS,
      });
      const main = manager.socket("/");
      const adm = manager.socket("/admin", { auth: { token: TOKEN } });
      opened.push(main, adm);
      main.connect();
      assert.deepEqual(await outcome(main), ["connect"]);
      adm.connect();
      const [ev, err] = await outcome(adm);
      assert.equal(ev, "connect_error");
      assert.equal(err.message, `origin "${APP}" is not allowed on namespace "/admin"`);
      await server.waitStderr(new RegExp(`add "${APP}" to the origin guard of namespace "/admin"`));
      assert.equal(main.connected, true, "the other namespace of the same connection is unaffected");
      main.disconnect();
      manager.engine?.close();
    });
  });
});
