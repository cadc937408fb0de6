// Recipe examples/cors-layer in Debian's Chromium: a page on http://localhost:<A> calls the
// REST routes (CorsLayer) and connects to Portico on http://localhost:<B>, with credentials.
// The right setup works for both; each MISTAKE= gives the console message a user would search
// for (asserted here word for word, as docs/recipes/cors-layer.md quotes them).

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { startRecipe } from "../js/recipes/session-cookie-lib.js";
import { launchBrowser, openPage, pageAck, runCase, waitConsole } from "./lib/browser.js";
import { startPageServer } from "./lib/page-server.js";

const T = { timeout: 30_000 };
let browser;
let pageServer;
let contexts = [];
const servers = [];

before(async () => {
  [browser, pageServer] = await Promise.all([launchBrowser(), startPageServer()]);
});
afterEach(async () => {
  await Promise.all(contexts.map((c) => c.close()));
  contexts = [];
});
after(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  await browser?.close();
  await pageServer?.close();
});

/** The recipe with `mistake`, the page opened; resolves with {base, page, consoleLines}. */
async function setup(mistake = "") {
  const s = await startRecipe("cors-layer", { MISTAKE: mistake, APP_ORIGINS: pageServer.origin });
  servers.push(s);
  const opened = await openPage(browser, pageServer.origin);
  contexts.push(opened.context);
  return { base: `http://localhost:${s.port}`, ...opened };
}

/** fetch from the page with credentials; resolves with {status, body} or {error}. */
const pageFetch = (page, url, headers = {}) =>
  page.evaluate(
    async ([u, h]) => {
      try {
        const res = await fetch(u, { credentials: "include", headers: h });
        return { status: res.status, body: await res.json() };
      } catch (e) {
        return { error: String(e) };
      }
    },
    [url, headers],
  );

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("one policy: the page calls REST with a custom header and connects with credentials", T, async () => {
  const { base, page, consoleLines } = await setup();
  assert.deepEqual(await pageFetch(page, `${base}/api/whoami`, { "x-token": "t1" }), { status: 200, body: { token: "t1" } });
  const r = await runCase(page, "ok", { url: base, opts: { withCredentials: true, extraHeaders: { "x-token": "t1" } } });
  assert.equal(r.state, "connected", JSON.stringify(r.error));
  assert.equal(await pageAck(page, "ok", "hello"), "hi");
  assert.deepEqual(consoleLines.filter((l) => /CORS|Access-Control/.test(l)), []);
});

test("MISTAKE=portico-default: REST works, Socket.IO fails with xhr poll error, no Access-Control-Allow-Origin", T, async () => {
  const { base, page, consoleLines } = await setup("portico-default");
  assert.equal((await pageFetch(page, `${base}/api/items`)).status, 200);
  const r = await runCase(page, "sio", { url: base, opts: { withCredentials: true } });
  assert.equal(r.state, "error");
  assert.equal(r.error.message, "xhr poll error");
  const line = await waitConsole(page, consoleLines, /No 'Access-Control-Allow-Origin' header/);
  assert.match(
    line,
    new RegExp(
      escape(`Access to XMLHttpRequest at '${base}/socket.io/?EIO=4&transport=polling&t=`) +
        `[^']+` +
        escape(`' from origin '${pageServer.origin}' has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource.`),
    ),
  );
});

test("MISTAKE=no-allow-headers: the REST preflight refuses x-token", T, async () => {
  const { base, page, consoleLines } = await setup("no-allow-headers");
  const r = await pageFetch(page, `${base}/api/whoami`, { "x-token": "t1" });
  assert.equal(r.error, "TypeError: Failed to fetch");
  const line = await waitConsole(page, consoleLines, /x-token/);
  assert.ok(
    line.includes(
      `Access to fetch at '${base}/api/whoami' from origin '${pageServer.origin}' has been blocked by CORS policy: Request header field x-token is not allowed by Access-Control-Allow-Headers in preflight response.`,
    ),
    line,
  );
});

test("MISTAKE=no-credentials: Socket.IO with withCredentials is blocked for a missing Access-Control-Allow-Credentials", T, async () => {
  const { base, page, consoleLines } = await setup("no-credentials");
  const r = await runCase(page, "sio", { url: base, opts: { withCredentials: true } });
  assert.equal(r.state, "error");
  assert.equal(r.error.message, "xhr poll error");
  const line = await waitConsole(page, consoleLines, /Access-Control-Allow-Credentials/);
  assert.ok(
    line.includes(
      "has been blocked by CORS policy: The value of the 'Access-Control-Allow-Credentials' header in the response is '' which must be 'true' when the request's credentials mode is 'include'. The credentials mode of requests initiated by the XMLHttpRequest is controlled by the withCredentials attribute.",
    ),
    line,
  );
  // Without credentials the same server works.
  const plain = await runCase(page, "plain", { url: base });
  assert.equal(plain.state, "connected", JSON.stringify(plain.error));
});

test("MISTAKE=wildcard: a credentialed fetch is blocked by Access-Control-Allow-Origin '*'", T, async () => {
  const { base, page, consoleLines } = await setup("wildcard");
  const r = await pageFetch(page, `${base}/api/items`);
  assert.equal(r.error, "TypeError: Failed to fetch");
  const line = await waitConsole(page, consoleLines, /wildcard/);
  assert.ok(
    line.includes(
      `Access to fetch at '${base}/api/items' from origin '${pageServer.origin}' has been blocked by CORS policy: The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard '*' when the request's credentials mode is 'include'.`,
    ),
    line,
  );
});

test("MISTAKE=append-header: two Access-Control-Allow-Origin values block polling", T, async () => {
  const { base, page, consoleLines } = await setup("append-header");
  const r = await runCase(page, "sio", { url: base, opts: { withCredentials: true } });
  assert.equal(r.state, "error");
  assert.equal(r.error.message, "xhr poll error");
  const line = await waitConsole(page, consoleLines, /multiple values/);
  const o = pageServer.origin;
  assert.ok(
    line.includes(`has been blocked by CORS policy: The 'Access-Control-Allow-Origin' header contains multiple values '${o}, ${o}', but only one is allowed.`),
    line,
  );
});

test("MISTAKE=cors-outside: nothing visible breaks in the browser (the CorsLayer's single header replaces Portico's)", T, async () => {
  const { base, page, consoleLines } = await setup("cors-outside");
  const r = await runCase(page, "sio", { url: base, opts: { withCredentials: true, extraHeaders: { "x-token": "t1" } } });
  assert.equal(r.state, "connected", JSON.stringify(r.error));
  assert.deepEqual(consoleLines.filter((l) => /CORS|Access-Control/.test(l)), []);
});
