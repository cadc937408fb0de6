// Real-browser harness: Debian's Chromium driven by playwright-core (from tests/js's
// lockfile), a page server on one origin, and the Portico fixture on another.

import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { REPO_ROOT } from "../js/lib/server.js";

const require = createRequire(path.join(REPO_ROOT, "tests/js/package.json"));
const { chromium } = require("playwright-core");

export const CHROMIUM = process.env.PORTICO_CHROMIUM || "/usr/bin/chromium";
const BUNDLE = path.join(REPO_ROOT, "tests/js/node_modules/socket.io-client/dist/socket.io.min.js");

/** Launches headless Chromium with the flags this machine needs (no network of its own). */
export function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--disable-quic",
    ],
  });
}

/**
 * Serves a blank page and the official socket.io-client bundle on http://127.0.0.1:<port>:
 * the "app" origin of the tests. Resolves with {origin, close()}.
 */
export function startPageServer() {
  const bundle = fs.readFileSync(BUNDLE);
  const server = http.createServer((req, res) => {
    if (req.url === "/socket.io.min.js") {
      res.writeHead(200, { "content-type": "application/javascript" });
      res.end(bundle);
    } else {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
      res.end('<!doctype html><html><head><script src="/socket.io.min.js"></script></head><body>app</body></html>');
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({
        origin: `http://127.0.0.1:${port}`,
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

/**
 * In the page, connects with the official client and reports what the page observed:
 * {connected, error, transport, echo, welcome}. Everything is bounded by `timeoutMs`.
 */
export function connectInPage(page, { url, nsp = "/", opts = {}, upgrade = false, echo = true, timeoutMs = 5000 }) {
  return page.evaluate(
    ({ url, nsp, opts, upgrade, echo, timeoutMs }) =>
      new Promise((resolve) => {
        const out = { connected: false, error: null, transport: null, echo: null, welcome: null };
        const socket = window.io(url + (nsp === "/" ? "" : nsp), { reconnection: false, ...opts });
        const done = () => {
          clearTimeout(timer);
          socket.close();
          resolve(out);
        };
        const timer = setTimeout(() => {
          out.error = out.error || "timeout";
          done();
        }, timeoutMs);
        socket.on("welcome", (w) => (out.welcome = w));
        socket.on("connect_error", (err) => {
          out.error = err.message;
          done();
        });
        socket.on("connect", async () => {
          out.connected = true;
          if (upgrade && socket.io.engine.transport.name !== "websocket") {
            await new Promise((r) => socket.io.engine.once("upgrade", r));
          }
          out.transport = socket.io.engine.transport.name;
          if (echo) out.echo = await socket.timeout(timeoutMs).emitWithAck("echo", "from the page");
          if (nsp !== "/" && out.welcome === null) {
            await new Promise((r) => (socket.once("welcome", (w) => { out.welcome = w; r(); })));
          }
          done();
        });
      }),
    { url, nsp, opts, upgrade, echo, timeoutMs },
  );
}
