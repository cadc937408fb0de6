// Recipe "old clients" (docs/recipes/old-clients.md), run for real with Node clients:
// examples/old-clients with allow_eio3 serves socket.io-client 2.x (Node, and its browser
// bundle under /socket.io/) and 4.x side by side; without allow_eio3 a 2.x client is refused
// with 400 and retries forever. The browser half is tests/browser/recipes-old-clients.test.js.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { io as ioV4 } from "socket.io-client";
import { doctor, startRecipe } from "./paths-namespaces-lib.js";

const require = createRequire(import.meta.url);
const ioV2 = require("socket.io-client-v2");
const V2_BUNDLE = require.resolve("socket.io-client-v2/dist/socket.io.js");
const T = { timeout: 20_000 };
const WAIT_MS = 5000;

const opened = [];
after(() => {
  for (const s of opened) s.close();
});

/** Resolves with the arguments of the next `event` (bounded). */
function next(socket, event) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within 5 s`)), WAIT_MS);
    socket.once(event, (...args) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** emit with an acknowledgement (bounded); resolves with the ack's first argument. */
function ack(socket, event, ...args) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ack for ${event}`)), WAIT_MS);
    socket.emit(event, ...args, (reply) => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

const v2 = (url, opts = {}) => {
  const s = ioV2(url, { forceNew: true, reconnection: false, ...opts });
  opened.push(s);
  return s;
};
const v4 = (url, opts = {}) => {
  const s = ioV4(url, { forceNew: true, reconnection: false, ...opts });
  opened.push(s);
  return s;
};

describe("with allow_eio3", () => {
  let server;
  before(async () => {
    server = await startRecipe("old-clients");
  });
  after(() => server?.stop());

  for (const transports of [["polling", "websocket"], ["websocket"]]) {
    test(`a 2.x client joins / (${transports.join("+")}); its handshake says EIO=3`, T, async () => {
      const s = v2(server.origin, { transports });
      await next(s, "connect");
      assert.deepEqual(await ack(s, "hello", "hi"), { echo: "hi", eio: "3" });
    });
  }

  test("2.x and 4.x clients on the same server see each other's events", T, async () => {
    const old = v2(server.origin);
    const now = v4(server.origin);
    await Promise.all([next(old, "connect"), next(now, "connect")]);
    assert.deepEqual(await ack(now, "hello", "x"), { echo: "x", eio: "4" });
    const oldGets = next(old, "chat");
    const nowGets = next(now, "chat");
    now.emit("chat", { from: "4.x", text: "hello 2.x" });
    assert.deepEqual(await oldGets, [{ from: "4.x", text: "hello 2.x" }]);
    assert.deepEqual(await nowGets, [{ from: "4.x", text: "hello 2.x" }]);
    const back = next(now, "chat");
    old.emit("chat", { from: "2.x", text: "hello 4.x" });
    assert.deepEqual(await back, [{ from: "2.x", text: "hello 4.x" }]);
  });

  test("the page and the 2.x bundle under /socket.io/socket.io.js, as Node's socket.io 2.x served it", T, async () => {
    const page = await fetch(`${server.origin}/`);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<script src="\/socket\.io\/socket\.io\.js"><\/script>/);
    const bundle = await fetch(`${server.origin}/socket.io/socket.io.js`);
    assert.equal(bundle.status, 200);
    assert.match(bundle.headers.get("content-type"), /javascript/);
    assert.equal(await bundle.text(), readFileSync(V2_BUNDLE, "utf8"), "the installed 2.5.0 bundle, unchanged");
  });
});

describe("a page on another origin, 2.x's credentials", () => {
  const PAGE = "http://localhost:5173";
  let withCreds, without;
  before(async () => {
    withCreds = await startRecipe("old-clients", ["--origin", PAGE]);
    without = await startRecipe("old-clients", ["--origin", PAGE, "--without-credentials"]);
  });
  after(async () => {
    await withCreds?.stop();
    await without?.stop();
  });

  test("portico doctor --eio 3 --credentials: healthy with credentials(true), cors.missing-allow-credentials without", T, async () => {
    assert.deepEqual(await doctor([withCreds.origin, "--origin", PAGE, "--eio", "3", "--credentials"]), []);
    assert.deepEqual(await doctor([without.origin, "--origin", PAGE, "--eio", "3", "--credentials"]), ["cors.missing-allow-credentials"]);
  });
});

describe("without allow_eio3 (--without-eio3)", () => {
  let server;
  before(async () => {
    server = await startRecipe("old-clients", ["--without-eio3"], { env: { RUST_LOG: "portico=info" } });
  });
  after(() => server?.stop());

  test('a 2.x client gets "xhr poll error" (400) and retries forever; a warning at the default level names allow_eio3', T, async () => {
    const s = ioV2(server.origin, { forceNew: true, reconnectionDelay: 10, reconnectionDelayMax: 10, randomizationFactor: 0 });
    opened.push(s);
    const [err] = await next(s, "connect_error");
    assert.equal(err.message, "xhr poll error");
    assert.equal(err.description, 400);
    // It never gives up (reconnectionAttempts is Infinity): see three more attempts.
    for (let n = 1; n <= 3; n++) {
      const [attempt] = await next(s, "reconnect_attempt");
      assert.equal(attempt, n);
    }
    s.close();
    const line = await server.waitStderr(/refused: Unsupported protocol version .*allow_eio3\(true\)/);
    assert.match(line, /WARN/);
  });

  test("portico doctor --eio 3 reports eio.version-mismatch", T, async () => {
    assert.deepEqual(await doctor([server.origin, "--origin", server.origin, "--eio", "3"]), ["eio.version-mismatch"]);
  });

  test("4.x clients are unaffected", T, async () => {
    const s = v4(server.origin);
    await next(s, "connect");
    assert.deepEqual(await ack(s, "hello", "y"), { echo: "y", eio: "4" });
  });
});
