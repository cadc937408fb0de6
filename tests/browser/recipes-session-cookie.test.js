// Recipe examples/session-cookie in Debian's Chromium: the login session cookie set by the
// axum app authenticates the Socket.IO connection; anonymous sockets are refused and the page
// shows why. Same origin (the recipe's own page), cross-origin same-site (a page on
// http://localhost:<A>, the server on http://localhost:<B>) and cross-site (the server on
// http://127.0.0.1:<B>: another site than localhost).

import { after, afterEach, before, test } from "node:test";
import assert from "node:assert/strict";
import { startRecipe } from "../js/recipes/session-cookie-lib.js";
import { launchBrowser, openPage, pageAck, runCase, WAIT_MS } from "./lib/browser.js";
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

async function recipe(env) {
  const s = await startRecipe("session-cookie", env);
  servers.push(s);
  return s;
}

/** The recipe's own page; resolves with the text of #status once it matches `re`. */
async function statusMatching(page, re) {
  await page.waitForFunction((src) => new RegExp(src).test(document.getElementById("status").textContent), re.source, {
    timeout: WAIT_MS,
  });
  return page.textContent("#status");
}

/** From the harness page (another origin): log in with fetch, cookies included. */
const loginFrom = (page, base, user) =>
  page.evaluate(
    async ([b, u]) => {
      const res = await fetch(`${b}/login`, {
        method: "POST",
        credentials: "include",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ user: u }),
      });
      return { status: res.status, body: await res.json() };
    },
    [base, user],
  );

test("same origin: the page shows the refusal, then logs in with its form and connects", T, async () => {
  const server = await recipe({});
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  await page.goto(`${server.url}/`, { timeout: WAIT_MS });

  await page.click("#connect");
  const refused = await statusMatching(page, /^refused: /);
  assert.match(refused, /^refused: not logged in: the handshake carried no "id" cookie/);

  await page.fill("#user", "ada");
  await page.click("#login");
  assert.equal(await statusMatching(page, /^logged in as /), "logged in as ada");
  const cookies = await context.cookies(server.url);
  assert.deepEqual(
    cookies.map((c) => [c.name, c.httpOnly, c.sameSite, c.secure]),
    [["id", true, "Lax", false]],
  );
  await page.click("#connect");
  assert.equal(await statusMatching(page, /^connected as /), "connected as ada");

  await page.click("#logout");
  await statusMatching(page, /^logged out$/);
  await page.click("#connect");
  // tower-sessions expires the cookie on logout: the next handshake carries none.
  assert.match(await statusMatching(page, /^refused: /), /^refused: not logged in: the handshake carried no "id" cookie/);
});

test("cross-origin, same site (localhost:A -> localhost:B): SameSite=Lax works with credentials", T, async () => {
  const server = await recipe({ ALLOWED_ORIGINS: pageServer.origin });
  const base = `http://localhost:${server.port}`;
  const { page, context } = await openPage(browser, pageServer.origin);
  contexts.push(context);

  assert.deepEqual(await loginFrom(page, base, "bob"), { status: 200, body: { user: "bob" } });
  const withCreds = await runCase(page, "creds", { url: base, opts: { withCredentials: true } });
  assert.equal(withCreds.state, "connected", JSON.stringify(withCreds.error));
  assert.equal(await pageAck(page, "creds", "whoami"), "bob");

  // The classic omission: without withCredentials the browser sends no cookie.
  const without = await runCase(page, "nocreds", { url: base });
  assert.equal(without.state, "error");
  assert.match(without.error.message, /^not logged in: the handshake carried no "id" cookie/);
});

for (const sameSite of ["lax", "none"]) {
  test(`cross-site (localhost -> 127.0.0.1), COOKIE_SAMESITE=${sameSite}: the login answers 200 but no cookie reaches the handshake`, T, async () => {
    const server = await recipe({ ALLOWED_ORIGINS: pageServer.origin, COOKIE_SAMESITE: sameSite });
    const { page, context } = await openPage(browser, pageServer.origin);
    contexts.push(context);

    assert.deepEqual(await loginFrom(page, server.url, "cy"), { status: 200, body: { user: "cy" } });
    // Chromium does not even store it: a Lax cookie from a cross-site response is rejected,
    // and a None; Secure one is a third-party cookie, blocked.
    assert.deepEqual(await context.cookies(server.url), []);
    const r = await runCase(page, sameSite, { url: server.url, opts: { withCredentials: true } });
    assert.equal(r.state, "error");
    assert.match(r.error.message, /^not logged in: the handshake carried no "id" cookie/);
  });
}

test("SameSite=None; Secure over plain http://localhost: stored and sent (localhost counts as a secure context)", T, async () => {
  const server = await recipe({ ALLOWED_ORIGINS: pageServer.origin, COOKIE_SAMESITE: "none" });
  const base = `http://localhost:${server.port}`;
  const { page, context } = await openPage(browser, pageServer.origin);
  contexts.push(context);

  assert.deepEqual(await loginFrom(page, base, "dee"), { status: 200, body: { user: "dee" } });
  const stored = (await context.cookies(base)).map((c) => [c.name, c.sameSite, c.secure]);
  assert.deepEqual(stored, [["id", "None", true]]);
  const r = await runCase(page, "none", { url: base, opts: { withCredentials: true } });
  assert.equal(r.state, "connected", JSON.stringify(r.error));
  assert.equal(await pageAck(page, "none", "whoami"), "dee");
});
