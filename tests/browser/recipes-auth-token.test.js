// Recipe auth-token in a real browser: the React + Vite page of examples/auth-token/web, built
// with `vite build` here (node_modules from scripts/test step 1's npm ci), served from its own
// origin (as the Vite dev server would be), loaded in Debian's Chromium. It fetches a token
// from the recipe's POST /token (cross-origin: CORS from the recipe's OriginPolicy) and sends
// it in the handshake; the page shows that it connected, or the server's refusal reason.

import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { readFile } from "node:fs/promises";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { launchBrowser, WAIT_MS } from "./lib/browser.js";
import { REPO_ROOT, startAuthServer } from "../js/recipes/auth-token-lib.js";

const WEB = path.join(REPO_ROOT, "examples/auth-token/web");
const VITE = path.join(WEB, "node_modules/vite/bin/vite.js");
const T = { timeout: 30_000 };

/** `vite build` of the recipe's page into a temp dir; resolves with the dir. */
async function buildPage() {
  if (!existsSync(VITE)) {
    throw new Error(`${VITE} is missing: run \`npm ci\` in examples/auth-token/web (scripts/test step 1 does)`);
  }
  const out = mkdtempSync(path.join(os.tmpdir(), "auth-token-dist-"));
  await promisify(execFile)(process.execPath, [VITE, "build", "--outDir", out, "--emptyOutDir", "--logLevel", "error"], {
    cwd: WEB,
    timeout: 60_000,
  });
  return out;
}

const TYPES = { ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".css": "text/css" };

/** Serves `dir` on 127.0.0.1 (index.html for /); resolves with {origin, close()}. */
async function serveDir(dir) {
  const server = http.createServer(async (req, res) => {
    const route = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    const file = path.join(dir, route === "/" ? "index.html" : route);
    if (!file.startsWith(dir + path.sep)) return res.writeHead(404).end();
    try {
      const body = await readFile(file);
      res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream" }).end(body);
    } catch {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found");
    }
  });
  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  return {
    origin: `http://localhost:${server.address().port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe("browser: recipe auth-token (React useSocket hook, JWT in the handshake)", () => {
  let dist, pages, server, browser;
  let contexts = [];
  const lines = [];

  before(async () => {
    [dist, browser] = await Promise.all([buildPage(), launchBrowser()]);
    pages = await serveDir(dist);
    // The page's origin stands for the Vite dev server's: the recipe allows it.
    server = await startAuthServer({ AUTH_ALLOWED_ORIGINS: pages.origin, AUTH_TOKEN_TTL: "300" });
  });
  afterEach(async () => {
    await Promise.all(contexts.map((c) => c.close()));
    contexts = [];
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await pages?.close();
    if (dist) rmSync(dist, { recursive: true, force: true });
  });

  /** Opens the built page with `query`, connecting to `to` (a recipe server). */
  const open = async (query, to = server) => {
    const context = await browser.newContext();
    contexts.push(context);
    const page = await context.newPage();
    page.on("console", (m) => lines.push(`${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => lines.push(`pageerror: ${e.message}`));
    const target = `http://localhost:${to.port}`;
    await page.goto(`${pages.origin}/?server=${encodeURIComponent(target)}&${query}`, { timeout: WAIT_MS });
    return page;
  };
  const textOf = (page, testid) =>
    page.locator(`[data-testid=${testid}]`).textContent({ timeout: WAIT_MS });

  test("the page fetches a token, connects and shows who it is", T, async () => {
    const page = await open("user=grace");
    await page
      .locator("[data-testid=status]", { hasText: "connected as grace" })
      .waitFor({ timeout: WAIT_MS })
      .catch((e) => assert.fail(`${e.message}\nconsole:\n${lines.join("\n")}`));
    assert.match(await textOf(page, "expiry"), /^token \d+ expires at /);
    assert.equal(await page.locator("[data-testid=error]").count(), 0);
  });

  test("when its token expires the page connects again with a new token (AUTH_TOKEN_TTL=2)", T, async () => {
    const short = await startAuthServer({ AUTH_ALLOWED_ORIGINS: pages.origin, AUTH_TOKEN_TTL: "2" });
    try {
      const page = await open("", short); // no ?user=: the page's default user, ada
      const expiry = page.locator("[data-testid=expiry]");
      await expiry.waitFor({ timeout: WAIT_MS }).catch((e) => assert.fail(`${e.message}\nconsole:\n${lines.join("\n")}`));
      const first = await expiry.getAttribute("data-jti");
      // the server disconnects at expiry; the hook connects again and `auth` fetches a new token
      await page
        .locator(`[data-testid=expiry]:not([data-jti="${first}"])`)
        .waitFor({ timeout: WAIT_MS })
        .catch((e) => assert.fail(`${e.message}\nconsole:\n${lines.join("\n")}`));
      assert.equal(await textOf(page, "status"), "connected as ada");
    } finally {
      await short.stop();
    }
  });

  test("the page shows the server's refusal reason (connect_error message and data.code)", T, async () => {
    const page = await open("token=nonsense");
    await page
      .locator("[data-testid=status]", { hasText: "refused" })
      .waitFor({ timeout: WAIT_MS })
      .catch((e) => assert.fail(`${e.message}\nconsole:\n${lines.join("\n")}`));
    assert.equal(await textOf(page, "error"), "refused: malformed token (malformed_token)");
  });
});
