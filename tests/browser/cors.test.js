// Real-browser origin tests: Debian's Chromium (driven by playwright-core) loads a page from
// http://localhost:<A> with the official socket.io-client bundle, and the page connects to the
// Portico fixture on http://localhost:<B>. Every case asserts what the page observed (connect or
// connect_error, transports, acks, Chromium's console message), and for refusals what the server
// recorded (connection_error, the warning) and that no session exists.
//
// Run from the repo root: node --test tests/browser/   (packages come from tests/js/node_modules)

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../js/lib/server.js";
import { Clients, emitAck } from "../js/lib/client.js";
import { waitForLog } from "../js/lib/cors.js";
import { launchBrowser, openPage, pageAck, runCase, waitConsole, WAIT_MS } from "./lib/browser.js";
import { startPageServer } from "./lib/page-server.js";

// The refusal warning is part of what is tested; the fixture logs with RUST_LOG.
process.env.RUST_LOG ??= "portico=warn";

const T = { timeout: 20_000 };

/** A fixture plus a Node observer (no Origin header) to ask it questions. */
async function fixture(args) {
  const server = await startServer({ args });
  const clients = new Clients(server.url);
  const stop = async () => {
    clients.closeAll();
    await server.stop();
  };
  try {
    const i = args.indexOf("--path");
    const path = i >= 0 ? args[i + 1] : undefined;
    const observer = await clients.connect("/", { transports: ["websocket"], ...(path ? { path } : {}) });
    return {
      server,
      // the page reaches the fixture (bound on 127.0.0.1) as localhost, like a dev setup would
      url: `http://localhost:${server.port}`,
      ask: async (event) => (await emitAck(observer, event))[0],
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

describe("browser: a page on another origin connects to Portico", () => {
  let browser;
  let pageServer;
  let PAGE; // the page's origin, http://localhost:<A>
  const fixtures = [];
  let contexts = [];

  /** Starts a fixture that is stopped after the file. */
  const startFixture = async (args) => {
    const f = await fixture(args);
    fixtures.push(f);
    return f;
  };
  /** Opens the test page in a new context (closed after the test). */
  const open = async () => {
    const p = await openPage(browser, PAGE);
    contexts.push(p.context);
    return p;
  };

  before(async () => {
    [browser, pageServer] = await Promise.all([launchBrowser(), startPageServer()]);
    PAGE = pageServer.origin;
  });
  afterEach(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    contexts = [];
  });
  after(async () => {
    await Promise.all(fixtures.map((f) => f.stop()));
    await browser?.close();
    await pageServer?.close();
  });

  // --- allowed origin ------------------------------------------------------------------------

  let allowed;
  const allowedFixture = async () => (allowed ??= await startFixture(["--cors-origin", PAGE]));

  test("allowed origin, default transports: polling, then the upgrade to websocket, then an echo", T, async () => {
    const f = await allowedFixture();
    const { page } = await open();
    const r = await runCase(page, "main", { url: f.url });
    assert.equal(r.state, "connected", JSON.stringify(r.error));
    assert.equal(r.firstTransport, "polling");
    await page.waitForFunction(() => window.cases.main.upgradedTo === "websocket", null, { timeout: WAIT_MS });
    assert.equal(await page.evaluate(() => window.transportOf("main")), "websocket");
    assert.equal(await pageAck(page, "main", "echo", "hello from the page"), "hello from the page");
    const refusals = (await f.ask("connection-errors")).filter((e) => e.origin === PAGE);
    assert.deepEqual(refusals, []);
  });

  test("allowed origin, websocket only: connects over websocket, echo", T, async () => {
    const f = await allowedFixture();
    const { page } = await open();
    const r = await runCase(page, "ws", { url: f.url, opts: { transports: ["websocket"] } });
    assert.equal(r.state, "connected", JSON.stringify(r.error));
    assert.equal(r.firstTransport, "websocket");
    assert.deepEqual(await pageAck(page, "ws", "echo", { n: 1 }), { n: 1 });
  });

  test("allowed origin, a request header the policy does not allow: the preflight is refused", T, async () => {
    const f = await allowedFixture();
    const { page, consoleLines } = await open();
    const r = await runCase(page, "hdr", {
      url: f.url,
      opts: { transports: ["polling"], extraHeaders: { "x-app-token": "t" } },
    });
    assert.equal(r.state, "error");
    assert.equal(r.error.message, "xhr poll error");
    await waitConsole(page, consoleLines,
      /Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' header/);
    const refusals = (await f.ask("connection-errors")).filter((e) => e.origin === PAGE);
    assert.equal(refusals.length, 1, JSON.stringify(refusals));
    assert.match(refusals[0].reason, /refused a preflight \(polling\)/);
    assert.match(refusals[0].reason, /add "x-app-token" to OriginPolicy::allow_headers/);
  });

  // --- refused origin ------------------------------------------------------------------------

  let refused;
  const refusedFixture = async () => (refused ??= await startFixture(["--cors-origin", "http://localhost:1"]));

  for (const { name, opts, message, transport, console: consoleRe } of [
    {
      name: "polling (default transports)",
      opts: {},
      message: "xhr poll error",
      transport: "polling",
      console: /has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource/,
    },
    {
      name: "websocket only",
      opts: { transports: ["websocket"] },
      message: "websocket error",
      transport: "websocket",
      console: /WebSocket connection to 'ws:\/\/localhost:\d+\/socket\.io\/\?EIO=4&transport=websocket' failed: Error during WebSocket handshake: Unexpected response code: 403/,
    },
  ]) {
    test(`refused origin over ${name}: connect_error in the page, refusal logged, no session`, T, async () => {
      const f = await refusedFixture();
      const before = await f.ask("handshake-count");
      const seenBefore = (await f.ask("connection-errors")).filter((e) => e.transport === transport).length;
      const { page, consoleLines } = await open();
      const r = await runCase(page, "refused", { url: f.url, opts });
      assert.equal(r.state, "error");
      assert.equal(r.error.message, message);
      assert.equal(r.firstTransport, null, "the page never opened a transport");
      const line = await waitConsole(page, consoleLines, consoleRe);
      assert.ok(line.startsWith("error: "), line);
      const errors = (await f.ask("connection-errors")).filter((e) => e.transport === transport);
      assert.equal(errors.length, seenBefore + 1, JSON.stringify(errors));
      const e = errors.at(-1);
      assert.equal(e.code, 4);
      assert.equal(e.message, "Forbidden");
      assert.equal(e.origin, PAGE);
      assert.ok(e.reason.includes(`add "${PAGE}" to the allowed origins (OriginPolicy::allow / --cors-origin ${PAGE})`), e.reason);
      await waitForLog(f.server, (l) => l.includes("WARN") && l.includes(`refused a ${transport} request from origin "${PAGE}"`));
      assert.equal(await f.ask("handshake-count"), before, "no session exists");
    });
  }

  // --- credentials ---------------------------------------------------------------------------

  test("credentials: the server's cookie is stored and sent back by the browser (withCredentials)", T, async () => {
    const f = await startFixture(["--cors-origin", PAGE, "--cors-credentials", "--cookie", "portico_test=1"]);
    // without credentials: the browser neither stores the cookie nor sends it
    {
      const { page, context } = await open();
      const r = await runCase(page, "plain", { url: f.url, opts: { transports: ["polling"] } });
      assert.equal(r.state, "connected", JSON.stringify(r.error));
      assert.equal(await pageAck(page, "plain", "echo", 1), 1);
      assert.deepEqual(await context.cookies(f.url), []);
      assert.equal(await pageAck(page, "plain", "cookie-count"), 0);
    }
    // with credentials: stored from the handshake response, sent on every later request
    const { page, context } = await open();
    const r = await runCase(page, "cred", { url: f.url, opts: { transports: ["polling"], withCredentials: true } });
    assert.equal(r.state, "connected", JSON.stringify(r.error));
    const cookies = await context.cookies(f.url);
    assert.deepEqual(cookies.map((c) => `${c.name}=${c.value}`), ["portico_test=1"]);
    assert.equal(await pageAck(page, "cred", "echo", 2), 2);
    const count = await pageAck(page, "cred", "cookie-count");
    assert.ok(count > 0, `the browser sent the cookie back (cookie-count ${count})`);
  });

  // --- any origin ----------------------------------------------------------------------------

  test("any_origin without credentials: connects, upgrades, echoes; withCredentials is blocked by the browser", T, async () => {
    const f = await startFixture(["--cors-any-origin"]);
    const { page, consoleLines } = await open();
    const r = await runCase(page, "any", { url: f.url });
    assert.equal(r.state, "connected", JSON.stringify(r.error));
    await page.waitForFunction(() => window.cases.any.upgradedTo === "websocket", null, { timeout: WAIT_MS });
    assert.equal(await pageAck(page, "any", "echo", "star"), "star");
    // `*` can never carry credentials: this is why Portico refuses any_origin + credentials
    const c = await runCase(page, "anyCred", { url: f.url, opts: { transports: ["polling"], withCredentials: true } });
    assert.equal(c.state, "error");
    await waitConsole(page, consoleLines,
      /The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard '\*' when the request's credentials mode is 'include'/);
  });

  // --- custom path ---------------------------------------------------------------------------

  test("custom path: the client's path option reaches the server; the default path does not", T, async () => {
    const f = await startFixture(["--cors-origin", PAGE, "--path", "/custom-io/"]);
    const { page } = await open();
    const r = await runCase(page, "custom", { url: f.url, opts: { path: "/custom-io/" } });
    assert.equal(r.state, "connected", JSON.stringify(r.error));
    await page.waitForFunction(() => window.cases.custom.upgradedTo === "websocket", null, { timeout: WAIT_MS });
    assert.equal(await pageAck(page, "custom", "echo", "path"), "path");
    const wrong = await runCase(page, "wrongPath", { url: f.url, opts: { transports: ["polling"] } });
    assert.equal(wrong.state, "error");
  });

  // --- namespace origin guard ----------------------------------------------------------------

  test("namespace guard for another origin: /guarded refuses the page with a clear message, / works", T, async () => {
    const f = await startFixture(["--cors-origin", PAGE, "--guard-origin", "http://admin.localhost:1"]);
    const { page } = await open();
    const g = await runCase(page, "guarded", { url: f.url, nsp: "/guarded" });
    assert.equal(g.state, "error");
    assert.equal(g.error.message, `origin "${PAGE}" is not allowed on namespace "/guarded"`);
    await waitForLog(f.server, (l) => l.includes("WARN") && l.includes(`namespace "/guarded" refused a connection from origin "${PAGE}"`) &&
      l.includes(`add "${PAGE}" to the origin guard of namespace "/guarded"`));
    const root = await runCase(page, "root", { url: f.url });
    assert.equal(root.state, "connected", JSON.stringify(root.error));
    assert.equal(await pageAck(page, "root", "echo", "root"), "root");
  });

  test("namespace guard for the page's origin: /guarded connects and says welcome", T, async () => {
    const f = await startFixture(["--cors-origin", PAGE, "--guard-origin", PAGE]);
    const { page } = await open();
    const g = await runCase(page, "guarded", { url: f.url, nsp: "/guarded", events: ["welcome"] });
    assert.equal(g.state, "connected", JSON.stringify(g.error));
    await page.waitForFunction(() => window.cases.guarded.events.length > 0, null, { timeout: WAIT_MS });
    assert.deepEqual(await page.evaluate(() => window.cases.guarded.events), [["welcome", "guarded"]]);
  });
});
