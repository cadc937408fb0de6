// Recipe "cluster" in Chromium: examples/cluster/run.mjs (two nodes on Redis, a real nginx
// sticky by cookie); pages opened in fresh browser contexts (each its own cookie) until both
// nodes have one, then a line typed on a page of each node appears on every page.

import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { launchBrowser, WAIT_MS } from "./lib/browser.js";
import { MAX_CLIENTS, startRun, stopAllRuns, stopRun } from "../js/recipes/cluster-lib.js";

const T = { timeout: 60_000 };

describe("browser: the cluster recipe", () => {
  let browser;
  after(async () => {
    await browser?.close();
    await stopAllRuns();
  });

  for (const [label, args, names] of [
    ["two Portico nodes", [], ["rust-1", "rust-2"]],
    ["a Portico node and a Node socket.io node", ["--with-node"], ["rust-1", "node-2"]],
  ]) {
    test(`${label}: pages on both nodes see every chat line`, T, async () => {
      browser ??= await launchBrowser();
      const run = await startRun(args);
      const pages = [];
      try {
        for (let i = 0; i < MAX_CLIENTS && !names.every((n) => pages.some((p) => p.node === n)); i++) {
          const context = await browser.newContext();
          const page = await context.newPage();
          await page.goto(`${run.url}/`, { timeout: WAIT_MS });
          await page.waitForFunction(() => window.welcome, null, { timeout: WAIT_MS });
          pages.push({ context, page, node: await page.evaluate(() => window.welcome.node) });
        }
        assert.ok(names.every((n) => pages.some((p) => p.node === n)), `all pages on ${pages[0]?.node}`);
        for (const name of names) {
          const from = pages.find((p) => p.node === name);
          const text = `typed on a page of ${name}`;
          await from.page.fill("#text", text);
          await from.page.click("button");
          for (const p of pages) {
            await p.page.waitForFunction((t) => window.received.some((m) => m.text === t), text, { timeout: WAIT_MS });
            assert.deepEqual(await p.page.evaluate((t) => window.received.filter((m) => m.text === t), text), [{ text, via: name }]);
          }
        }
      } finally {
        for (const p of pages) await p.context.close();
        await stopRun(run.child);
      }
    });
  }
});
