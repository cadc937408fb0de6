// What `portico doctor` says against what the browser does. For every case of
// tests/js/doctor/cases.js with a browser verdict (every CORS and origin finding, the other
// findings a page can see, and the healthy setups), the fixture is configured for the test page's real origin (http://localhost:<A>),
// `portico doctor <fixture> --origin <page> --json` runs with the case's flags, and the page in
// Debian's Chromium connects with the same client options (path, transports, withCredentials,
// extraHeaders, auth, namespace):
// - doctor reports a finding that stops the client (every cors.* and origin finding, and the
//   path, version, namespace, polling, reachability and TLS ones) → the page gets connect_error
//   with the finding's `client_error`; for the CORS/origin ids Chromium's console shows the key
//   phrase of BROWSER_PHRASES, which the doctor's `browser_console` must name too; and for
//   every finding with a `browser_console`, its URL-independent part (after "CORS policy: ",
//   after "failed: ", or the network error after the URL) is what Chromium printed;
// - doctor says healthy (or only warns, e.g. a proxy that drops the upgrade) → the page
//   connects, and any warning's console line shows up too.
//
// Run from the repo root: node --test tests/browser/   (packages come from tests/js/node_modules)

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, openPage, waitConsole, WAIT_MS } from "./lib/browser.js";
import { startPageServer } from "./lib/page-server.js";
import { assertDoctor, BROWSER_PHRASES, CASES, clientOptions, describeRun } from "../js/doctor/cases.js";
import { problems, runDoctor, stopAllFixtures } from "../js/doctor/servers.js";

const escape = (s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * The part of a console line that does not depend on the request URL: the sentence after
 * "CORS policy: " (XMLHttpRequest), after "failed: " (WebSocket), or what follows the URL in a
 * network error ("GET <url> net::ERR_CONNECTION_REFUSED", "POST <url> 400 (Bad Request)"; the
 * console API reports those as "Failed to load resource: ... 400 (Bad Request)").
 */
function sentence(line) {
  for (const marker of ["CORS policy: ", "failed: "]) {
    const i = line.indexOf(marker);
    if (i >= 0) return line.slice(i + marker.length).trim();
  }
  const m = /^(?:GET|POST|OPTIONS) \S+ (.+)$/.exec(line);
  return m ? m[1].trim() : null;
}

/**
 * lib/browser.js's runCase, polling on a 50 ms timer rather than on animation frames (several
 * pages run at once and need not be in front), and saying what the page saw when it times out.
 */
async function runCase(page, key, spec) {
  await page.evaluate(([k, s]) => window.startCase(k, s), [key, spec]);
  try {
    await page.waitForFunction((k) => window.cases[k].state !== "connecting", key, { timeout: WAIT_MS, polling: 50 });
  } catch (err) {
    const seen = await page.evaluate((k) => window.cases[k], key).catch(() => null);
    throw new Error(`${err.message}; the page so far: ${JSON.stringify(seen)}`);
  }
  return page.evaluate((k) => window.cases[k], key);
}

describe("browser agrees with portico doctor", { concurrency: 2, timeout: 150_000 }, () => {
  let browser;
  let pageServer;
  let PAGE;

  before(async () => {
    [browser, pageServer] = await Promise.all([launchBrowser(), startPageServer()]);
    PAGE = pageServer.origin;
  });
  after(async () => {
    await stopAllFixtures();
    await browser?.close();
    await pageServer?.close();
  });

  for (const c of CASES.filter((k) => k.browser)) {
    const verdict = Object.keys(c.expect).join(", ") || "healthy";
    test(`${c.name}: doctor ${verdict}, the page ${c.browser === "fails" ? "fails" : "connects"}`,
      { timeout: 30_000, ...(c.todo ? { todo: c.todo } : {}) }, async () => {
        const fixture = await c.start(PAGE);
        let context; // this test's own (tests run concurrently)
        try {
          const run = await runDoctor(fixture.url, PAGE, c.args ?? [], c.timeoutMs ? { timeoutMs: c.timeoutMs } : {});
          const report = assertDoctor(run, c);
          const findings = problems(report);

          const { opts, nsp } = clientOptions(c.args);
          const p = await openPage(browser, PAGE);
          context = p.context;
          const r = await runCase(p.page, "case", { url: fixture.url, nsp, opts: { ...opts, ...c.clientExtra } });
          const seen = () => `the page: ${JSON.stringify(r)}\nconsole:\n${p.consoleLines.join("\n")}\n${describeRun(run)}`;

          if (c.browser === "connects") {
            assert.equal(r.state, "connected", `doctor: ${verdict}; ${seen()}`);
          } else {
            assert.equal(r.state, "error", `doctor reports ${verdict}, yet ${seen()}`);
          }
          for (const f of findings) {
            if (c.browser === "fails") {
              assert.ok(f.client_error?.includes(r.error.message),
                `${f.id}: the page's connect_error is "${r.error.message}", the doctor's client_error "${f.client_error}"\n${seen()}`);
            }
            const phrase = BROWSER_PHRASES[f.id];
            if (phrase) {
              assert.ok(f.browser_console?.includes(phrase),
                `${f.id}: the doctor's browser_console lacks "${phrase}": ${f.browser_console}`);
              await waitConsole(p.page, p.consoleLines, new RegExp(escape(phrase)));
            }
            if (f.browser_console) {
              const said = sentence(f.browser_console);
              assert.ok(said, `${f.id}: cannot read the doctor's browser_console: ${f.browser_console}`);
              const line = await waitConsole(p.page, p.consoleLines, new RegExp(escape(said)));
              assert.ok(line.startsWith("error: "), line);
            }
          }
        } finally {
          await context?.close();
          await fixture.stop();
        }
      });
  }
});
