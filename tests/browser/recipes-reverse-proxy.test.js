// Recipe "reverse proxy" in Chromium: the recipe's page, served by the recipe's server through a
// real nginx and a real Caddy (the recipe's own config files), connects and upgrades to
// WebSocket; the failure cases of docs/recipes/reverse-proxy.md (one line of a config changed)
// show the exact console messages its Symptoms table quotes.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, runCase, waitConsole, WAIT_MS } from "./lib/browser.js";
import { startPageServer } from "./lib/page-server.js";
import { NGINX_FILE, replaceOnce, startApp, startRecipeCaddy, startRecipeNginx, stopAll } from "../js/recipes/reverse-proxy-lib.js";

const T = { timeout: 30_000 };

describe("browser: the reverse-proxy recipe", () => {
  let browser;
  let pageServer;
  const contexts = [];
  before(async () => {
    browser = await launchBrowser();
    pageServer = await startPageServer();
  });
  after(async () => {
    for (const c of contexts) await c.close();
    await browser?.close();
    await pageServer?.close();
    await stopAll();
  });

  /** Opens `url` in a fresh context; resolves with {page, consoleLines}. */
  async function open(url) {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    const consoleLines = [];
    page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
    await page.goto(url, { timeout: WAIT_MS });
    return { page, consoleLines };
  }

  for (const [name, start] of [["nginx", startRecipeNginx], ["caddy", startRecipeCaddy]]) {
    test(`${name}: the page behind the proxy connects, upgrades to WebSocket, and the server sees the forwarded address`, T, async () => {
      const app = await startApp();
      const front = await start(app.port);
      const { page, consoleLines } = await open(`${front.url}/`);
      await page.waitForFunction(() => document.getElementById("transport").textContent === "websocket", null, { timeout: WAIT_MS });
      const whoami = await page.evaluate(() => window.whoami);
      assert.equal(whoami.address, "127.0.0.1");
      assert.equal(whoami.forwardedFor, "127.0.0.1");
      assert.equal(whoami.forwardedHost, front.url.replace("http://", ""));
      // (the one 404 is Chromium asking for /favicon.ico)
      assert.deepEqual(consoleLines.filter((l) => l.startsWith("error") && !/status of 404/.test(l)), []);
    });
  }

  test("nginx without the Upgrade/Connection lines: Chromium's WebSocket handshake error, polling carries on", T, async () => {
    const app = await startApp();
    const edit = (s) => {
      s = replaceOnce(s, "        proxy_set_header Upgrade $http_upgrade;\n", "", NGINX_FILE);
      return replaceOnce(s, "        proxy_set_header Connection $connection_upgrade;\n", "", NGINX_FILE);
    };
    const front = await startRecipeNginx(app.port, edit);
    const { page, consoleLines } = await open(`${front.url}/`);
    const line = await waitConsole(page, consoleLines, /WebSocket connection to/);
    const ws = front.url.replace("http://", "ws://");
    assert.match(line, new RegExp(`^error: WebSocket connection to '${ws}/socket\\.io/\\?EIO=4&transport=websocket&sid=[^']+' failed: Error during WebSocket handshake: Unexpected response code: 400$`));
    // The failed upgrade can be reported before the Socket.IO connection (over polling) is:
    // wait for the page to show its transport rather than read it once.
    await page.waitForFunction(() => document.getElementById("transport").textContent !== "-", null, { timeout: WAIT_MS });
    assert.equal(await page.evaluate(() => document.getElementById("transport").textContent), "polling");
    await page.waitForFunction(() => window.whoami?.address !== undefined, null, { timeout: WAIT_MS });
    assert.equal(await page.evaluate(() => window.whoami?.address), "127.0.0.1");
  });

  test("nginx adding its own Access-Control-Allow-Origin: Chromium refuses the two values", T, async () => {
    const app = await startApp({ ALLOWED_ORIGINS: pageServer.origin });
    const edit = (s) => replaceOnce(s, "        proxy_buffering off;\n", "        proxy_buffering off;\n        add_header Access-Control-Allow-Origin * always;\n", NGINX_FILE);
    const front = await startRecipeNginx(app.port, edit);
    const { page, consoleLines } = await open(`${pageServer.origin}/`);
    await page.waitForFunction(() => typeof window.startCase === "function", null, { timeout: WAIT_MS });
    const r = await runCase(page, "two", { url: front.url, opts: { transports: ["polling"] } });
    assert.equal(r.state, "error");
    assert.equal(r.error.message, "xhr poll error");
    const line = await waitConsole(page, consoleLines, /multiple values/);
    assert.equal(
      line,
      `error: Access to XMLHttpRequest at '${front.url}/socket.io/?EIO=4&transport=polling&t=${line.match(/&t=([^']+)'/)?.[1]}' from origin '${pageServer.origin}' has been blocked by CORS policy: The 'Access-Control-Allow-Origin' header contains multiple values '${pageServer.origin}, *', but only one is allowed.`,
    );
    await waitConsole(page, consoleLines, /net::ERR_FAILED/);
  });

  test("no trusted proxy and a proxy that rewrites Host: the own page is refused with 403", T, async () => {
    const app = await startApp({ TRUSTED_PROXIES: "none" });
    const edit = (s) => replaceOnce(s, "proxy_set_header Host $http_host;", "proxy_set_header Host $proxy_host;", NGINX_FILE);
    const front = await startRecipeNginx(app.port, edit);
    const { page, consoleLines } = await open(`${front.url}/`);
    // The handshake's GET passes: Chromium sends no Origin on a same-origin GET, and a request
    // without one is not a cross-origin one. The client then sends its CONNECT (a POST) and
    // tries the upgrade at once; both carry Origin and both are refused with 403, and
    // Chromium reports them in the order their answers came (either first). The POST's line
    // is the one docs/recipes/reverse-proxy.md quotes.
    const line = await waitConsole(page, consoleLines, /Failed to load resource: .*403/);
    assert.equal(line, "error: Failed to load resource: the server responded with a status of 403 (Forbidden)");
    assert.equal(await page.evaluate(() => window.whoami), undefined);
    assert.equal(await page.evaluate(() => document.getElementById("transport").textContent), "-");
  });
});
