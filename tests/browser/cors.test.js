// The origin policy as a real browser sees it: a page on one origin loads the official
// socket.io-client and connects to Portico on another port. Each case asserts what the page
// observed, and for refusals what the server recorded.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { startServer } from "../js/lib/server.js";
import { Clients, emitAck } from "../js/lib/client.js";
import { launch, startPageServer, connectInPage } from "./lib.js";

describe("CORS in Chromium", () => {
  let browser;
  let app;
  before(async () => {
    browser = await launch();
    app = await startPageServer();
  });
  after(async () => {
    await browser?.close();
    await app?.close();
  });

  /** Runs `fn(page, server)` with a fixture started with `args` and a fresh browser context. */
  async function withPage(args, fn) {
    const server = await startServer({ args });
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(app.origin + "/");
      await fn(page, server);
    } finally {
      await context.close();
      await server.stop();
    }
  }

  /** The fixture's view, asked from Node (no Origin header: served by default). */
  async function serverView(server) {
    const clients = new Clients(server.url);
    try {
      const s = await clients.connect("/", { transports: ["websocket"] });
      const [errors] = await emitAck(s, "connection-errors");
      const [engines] = await emitAck(s, "engine-count");
      return { errors, engines: engines - 1 };
    } finally {
      clients.closeAll();
    }
  }

  test("allowed origin: polling, then upgrade to WebSocket", { timeout: 20_000 }, async () => {
    await withPage(["--cors-origin", app.origin], async (page, server) => {
      const seen = await connectInPage(page, { url: server.url, upgrade: true });
      assert.deepEqual(seen, { connected: true, error: null, transport: "websocket", echo: "from the page", welcome: null });
    });
  });

  test("allowed origin: WebSocket only", { timeout: 20_000 }, async () => {
    await withPage(["--cors-origin", app.origin], async (page, server) => {
      const seen = await connectInPage(page, { url: server.url, opts: { transports: ["websocket"] } });
      assert.equal(seen.connected, true);
      assert.equal(seen.transport, "websocket");
      assert.equal(seen.echo, "from the page");
    });
  });

  for (const transports of [["polling"], ["websocket"]]) {
    test(`refused origin over ${transports[0]}: connect_error, logged refusal, no session`, { timeout: 20_000 }, async () => {
      await withPage(["--cors-origin", "http://app.example.com"], async (page, server) => {
        const seen = await connectInPage(page, { url: server.url, opts: { transports } });
        assert.equal(seen.connected, false);
        assert.ok(seen.error && seen.error !== "timeout", `the page saw connect_error (${seen.error})`);
        const view = await serverView(server);
        const refusal = view.errors.find((e) => e.origin === app.origin);
        assert.ok(refusal, `the server recorded the refusal: ${JSON.stringify(view.errors)}`);
        assert.equal(refusal.code, 4);
        assert.equal(refusal.transport, transports[0]);
        assert.match(refusal.reason, new RegExp(`add "${app.origin}"`));
        assert.equal(view.engines, 0, "no session exists for the refused page");
      });
    });
  }

  test("credentials: the server's cookie comes back from the browser", { timeout: 20_000 }, async () => {
    const args = ["--cors-origin", app.origin, "--cors-credentials", "--cookie", "portico_test=1"];
    await withPage(args, async (page, server) => {
      const seen = await connectInPage(page, { url: server.url, opts: { transports: ["polling"], withCredentials: true } });
      assert.equal(seen.connected, true);
      assert.equal(seen.echo, "from the page");
      const clients = new Clients(server.url);
      try {
        const s = await clients.connect("/", { transports: ["websocket"] });
        const [count] = await emitAck(s, "cookie-count");
        assert.ok(count > 0, `requests after the handshake carried the cookie (${count})`);
      } finally {
        clients.closeAll();
      }
    });
  });

  test("any_origin without credentials", { timeout: 20_000 }, async () => {
    await withPage(["--cors-any-origin"], async (page, server) => {
      const seen = await connectInPage(page, { url: server.url, opts: { transports: ["polling"] } });
      assert.equal(seen.connected, true);
      assert.equal(seen.echo, "from the page");
    });
  });

  test("custom path", { timeout: 20_000 }, async () => {
    await withPage(["--cors-origin", app.origin, "--path", "/custom-io/"], async (page, server) => {
      const seen = await connectInPage(page, { url: server.url, opts: { path: "/custom-io/" }, upgrade: true });
      assert.equal(seen.connected, true);
      assert.equal(seen.transport, "websocket");
      const wrong = await connectInPage(page, { url: server.url, opts: { transports: ["polling"] }, timeoutMs: 3000 });
      assert.equal(wrong.connected, false, "the default path is not served");
    });
  });

  test("namespace origin guard: refused at CONNECT from another origin, / unaffected", { timeout: 20_000 }, async () => {
    await withPage(["--cors-origin", app.origin, "--guard-origin", "http://admin.example.com"], async (page, server) => {
      const guarded = await connectInPage(page, { url: server.url, nsp: "/guarded", echo: false });
      assert.equal(guarded.connected, false);
      assert.match(guarded.error, /origin/i);
      const root = await connectInPage(page, { url: server.url });
      assert.equal(root.connected, true);
    });
    await withPage(["--cors-origin", app.origin, "--guard-origin", app.origin], async (page, server) => {
      const guarded = await connectInPage(page, { url: server.url, nsp: "/guarded", echo: false });
      assert.equal(guarded.connected, true);
      assert.equal(guarded.welcome, "guarded");
    });
  });
});
