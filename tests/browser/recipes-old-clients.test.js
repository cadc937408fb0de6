// Recipe "old clients" in a real browser (docs/recipes/old-clients.md): Debian's Chromium opens
// the 2.x page that examples/old-clients serves (socket.io-client 2.5.0's bundle, from
// /socket.io/socket.io.js) and connects, same-origin and cross-origin (a page on one instance
// of the example connecting to another); and the symptoms without allow_eio3 and without
// credentials, with Chromium's own console text.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, waitConsole, WAIT_MS } from "./lib/browser.js";
import { startRecipe } from "../js/recipes/paths-namespaces-lib.js";

const T = { timeout: 30_000 };

describe("browser: a socket.io-client 2.x page against examples/old-clients", () => {
  let browser;
  const servers = [];
  const contexts = [];

  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    for (const s of servers) await s.stop();
  });

  const start = async (args = [], env = {}) => {
    const s = await startRecipe("old-clients", args, { env });
    servers.push(s);
    // Pages open the example as localhost (a dev setup), not 127.0.0.1.
    s.localhost = `http://localhost:${s.port}`;
    return s;
  };

  /** Opens `url` in a fresh context; resolves with {page, consoleLines}. */
  const open = async (url) => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const consoleLines = [];
    page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
    await page.goto(url, { timeout: WAIT_MS });
    await page.waitForFunction(() => window.state !== undefined, null, { timeout: WAIT_MS });
    return { page, consoleLines };
  };
  const waitState = (page, fn, arg) => page.waitForFunction(fn, arg, { timeout: WAIT_MS });
  const state = (page) => page.evaluate(() => window.state);

  test("same origin: the page served by the example connects over 2.x, acks, upgrades to WebSocket", T, async () => {
    const s = await start();
    const { page, consoleLines } = await open(`${s.localhost}/`);
    await waitState(page, () => window.state.hello !== null);
    const st = await state(page);
    assert.equal(st.version, 4, "socket.io-client 2.x speaks Socket.IO protocol 4");
    assert.deepEqual(st.hello, { echo: "from a 2.x page", eio: "3" });
    assert.deepEqual(st.errors, []);
    await waitState(page, () => window.socket.io.engine.transport.name === "websocket");
    assert.deepEqual(consoleLines.filter((l) => /^(error|pageerror)/.test(l)), []);
  });

  test("cross-origin with credentials (the 2.x default): connects", T, async () => {
    const pages = await start();
    const s = await start(["--origin", pages.localhost]);
    const { page, consoleLines } = await open(`${pages.localhost}/?server=${encodeURIComponent(s.localhost)}`);
    await waitState(page, () => window.state.hello !== null);
    assert.deepEqual((await state(page)).hello, { echo: "from a 2.x page", eio: "3" });
    assert.deepEqual(consoleLines.filter((l) => /^(error|pageerror)/.test(l)), []);
  });

  test("cross-origin without Access-Control-Allow-Credentials: xhr poll error, Chromium says why", T, async () => {
    const pages = await start();
    const s = await start(["--origin", pages.localhost, "--without-credentials"]);
    const { page, consoleLines } = await open(`${pages.localhost}/?server=${encodeURIComponent(s.localhost)}`);
    await waitState(page, () => window.state.errors.length > 0);
    const st = await state(page);
    assert.equal(st.connected, false);
    assert.equal(st.errors[0].message, "xhr poll error");
    const line = await waitConsole(page, consoleLines,
      /The value of the 'Access-Control-Allow-Credentials' header in the response is '' which must be 'true' when the request's credentials mode is 'include'\. The credentials mode of requests initiated by the XMLHttpRequest is controlled by the withCredentials attribute\./);
    assert.match(line, /has been blocked by CORS policy/);
    await page.evaluate(() => window.socket.close());

    // The page-side fix: withCredentials: false (no cookies, no credentials header needed).
    const fixed = await open(`${pages.localhost}/?server=${encodeURIComponent(s.localhost)}&withCredentials=false`);
    await waitState(fixed.page, () => window.state.hello !== null);
    assert.deepEqual((await state(fixed.page)).hello, { echo: "from a 2.x page", eio: "3" });
  });

  test("without allow_eio3: xhr poll error (400), retried forever; Chromium logs the 400", T, async () => {
    const s = await start(["--without-eio3"]);
    const { page, consoleLines } = await open(`${s.localhost}/`);
    await waitConsole(page, consoleLines, /^error: Failed to load resource: the server responded with a status of 400 \(Bad Request\)$/);
    await waitState(page, () => window.state.attempts >= 2);
    const st = await state(page);
    assert.equal(st.connected, false);
    assert.equal(st.errors[0].message, "xhr poll error");
    assert.equal(st.errors[0].description, "400");
    await page.evaluate(() => window.socket.close());
  });
});
