// One Chromium per test file (Debian's /usr/bin/chromium through playwright-core; never a
// downloaded browser), a fresh context per test, and helpers to open the test page and wait on
// what it observed.

import { createRequire } from "node:module";
import { existsSync } from "node:fs";

const require = createRequire(new URL("../../js/package.json", import.meta.url));
const { chromium } = require("playwright-core");

export const CHROMIUM = process.env.PORTICO_CHROMIUM ?? "/usr/bin/chromium";
export const WAIT_MS = 10_000;

export async function launchBrowser() {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); scripts/test does`);
  }
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
 * Opens the test page in a new context. Resolves with {context, page, consoleLines}:
 * `consoleLines` collects "type: text" of every console message (Chromium reports CORS and
 * WebSocket failures there).
 */
export async function openPage(browser, pageOrigin) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
  page.on("pageerror", (err) => consoleLines.push(`pageerror: ${err.message}`));
  await page.goto(`${pageOrigin}/`, { timeout: WAIT_MS });
  await page.waitForFunction(() => typeof window.io === "function" && typeof window.startCase === "function", null, { timeout: WAIT_MS });
  return { context, page, consoleLines };
}

/** Starts a case in the page and waits until it connected or failed; resolves with its record. */
export async function runCase(page, key, spec) {
  await page.evaluate(([k, s]) => window.startCase(k, s), [key, spec]);
  await page.waitForFunction((k) => window.cases[k].state !== "connecting", key, { timeout: WAIT_MS });
  return page.evaluate((k) => window.cases[k], key);
}

/** emitWithAck from the page (bounded in the page); resolves with the ack value. */
export function pageAck(page, key, event, ...args) {
  return page.evaluate(([k, e, a]) => window.ack(k, e, ...a), [key, event, args]);
}

/** Waits until one console line matches `re`; resolves with it. */
export async function waitConsole(page, consoleLines, re) {
  const found = consoleLines.find((l) => re.test(l));
  if (found) return found;
  return new Promise((resolve, reject) => {
    const onConsole = () => {
      const line = consoleLines.find((l) => re.test(l));
      if (line) {
        cleanup();
        resolve(line);
      }
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no console message matching ${re} within ${WAIT_MS} ms:\n${consoleLines.join("\n")}`));
    }, WAIT_MS);
    const cleanup = () => {
      clearTimeout(timer);
      page.off("console", onConsole);
    };
    // registered after openPage's collector, so consoleLines is up to date here
    page.on("console", onConsole);
  });
}
