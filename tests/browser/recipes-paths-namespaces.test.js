// Recipe "paths and namespaces" in a real browser (docs/recipes/paths-namespaces.md): pages on
// other origins (the official 4.x bundle, tests/browser/lib) connect to examples/paths-namespaces
// under /ws/; what Chromium and the client say for a wrong path, an unknown namespace, the
// /admin guard and its token middleware.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, openPage, runCase, waitConsole } from "./lib/browser.js";
import { startPageServer } from "./lib/page-server.js";
import { startRecipe } from "../js/recipes/paths-namespaces-lib.js";

const T = { timeout: 30_000 };
const TOKEN = "browser-admin-token";

describe("browser: pages on other origins against examples/paths-namespaces (/ws)", () => {
  let browser, app, admin, server, url;
  const contexts = [];

  before(async () => {
    browser = await launchBrowser();
    app = await startPageServer();
    admin = await startPageServer();
    server = await startRecipe("paths-namespaces", ["--path", "/ws", "--app-origin", app.origin, "--admin-origin", admin.origin], {
      env: { ADMIN_TOKEN: TOKEN },
    });
    url = `http://localhost:${server.port}`;
  });
  after(async () => {
    for (const c of contexts) await c.close().catch(() => {});
    await browser?.close();
    await server?.stop();
    await app?.close();
    await admin?.close();
  });

  const open = async (origin) => {
    const opened = await openPage(browser, origin);
    contexts.push(opened.context);
    return opened;
  };

  test('the app page: path "/ws" connects; "/nope" is "Invalid namespace"; "/admin" is refused by its guard', T, async () => {
    const { page } = await open(app.origin);
    const ok = await runCase(page, "ok", { url, opts: { path: "/ws" } });
    assert.equal(ok.state, "connected", JSON.stringify(ok));
    const nope = await runCase(page, "nope", { url, nsp: "/nope", opts: { path: "/ws" } });
    assert.equal(nope.error?.message, "Invalid namespace");
    const adm = await runCase(page, "adm", { url, nsp: "/admin", opts: { path: "/ws", auth: { token: TOKEN } } });
    assert.equal(adm.error?.message, `origin "${app.origin}" is not allowed on namespace "/admin"`);
  });

  test("the app page on the default path: xhr poll error, and Chromium reports the 404 as a CORS error", T, async () => {
    const { page, consoleLines } = await open(app.origin);
    const wrong = await runCase(page, "wrong", { url });
    assert.equal(wrong.state, "error");
    assert.equal(wrong.error.message, "xhr poll error");
    assert.equal(wrong.error.description, "0", "status 0: the browser withheld the 404 from the page");
    // The 404 comes from the app (axum), without CORS headers: the page cannot even read it.
    const line = await waitConsole(page, consoleLines,
      /\/socket\.io\/\?EIO=4&transport=polling.* has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource\./);
    assert.match(line, new RegExp(`from origin '${app.origin}'`));
  });

  test("the admin page: without the token, the middleware's message; with it, connected", T, async () => {
    const { page } = await open(admin.origin);
    const none = await runCase(page, "none", { url, nsp: "/admin", opts: { path: "/ws" } });
    assert.equal(none.error?.message, "admin: token required");
    assert.match(none.error.data.hint, /auth: \{ token \}/);
    const ok = await runCase(page, "ok", { url, nsp: "/admin", opts: { path: "/ws", auth: { token: TOKEN } } });
    assert.equal(ok.state, "connected", JSON.stringify(ok));
  });
});
