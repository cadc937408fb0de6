// The README's "Try it", run as a new user would, in real Chromium: its setup commands in an
// empty directory (a new cargo crate, `cargo add`, `npm install socket.io-client`), its
// src/main.rs and page/index.html, `cargo run` and `python3 -m http.server`; then what the
// README says the server prints and the page shows, the wrong-token and other-origin claims,
// and a graceful stop on SIGTERM.
//
// What the test changes, and only this: portico comes from this checkout (`--path`) instead
// of git; the project's Cargo.lock seeds the new crate's, so CI builds the versions it tested;
// npm prefers its cache; ports 3000/8080 become free ports; builds go to target/try-it.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { launchBrowser, WAIT_MS } from "./lib/browser.js";
import { REPO_ROOT, readmeBlock } from "../js/lib/readme.js";
import { freePort } from "../js/lib/cors.js";

const BUILD_TIMEOUT_MS = 20 * 60_000;
const GIT_SOURCE = "--git https://github.com/portico-rs/portico";

let browser;
const children = new Set();
let workDir;

before(async () => {
  browser = await launchBrowser();
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), "portico-try-it-"));
});

after(async () => {
  for (const c of children) {
    try {
      process.kill(-c.pid, "SIGKILL");
    } catch {}
  }
  await browser?.close();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** Spawns `cmd` through bash in its own process group; collects output; resolves nothing. */
function spawnShell(cmd, cwd, env) {
  const child = spawn("bash", ["-c", cmd], { cwd, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  children.add(child);
  let out = "";
  child.stdout.setEncoding("utf8").on("data", (d) => (out += d));
  child.stderr.setEncoding("utf8").on("data", (d) => (out += d));
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  return { child, exit, output: () => out };
}

/** Resolves once the output of `proc` matches `re` (rejects if it exits first or on timeout). */
function waitOutput(proc, re, timeoutMs, what) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error(`${what}: no output matching ${re} within ${timeoutMs} ms:\n${proc.output()}`)), timeoutMs);
    const check = () => {
      const m = re.exec(proc.output());
      if (m) done(null, m);
    };
    const onExit = ({ code, signal }) => done(new Error(`${what} exited (code ${code}, signal ${signal}):\n${proc.output()}`));
    const done = (err, m) => {
      clearTimeout(timer);
      proc.child.stdout.off("data", check);
      proc.child.stderr.off("data", check);
      if (err) reject(err);
      else resolve(m);
    };
    proc.child.stdout.on("data", check);
    proc.child.stderr.on("data", check);
    proc.exit.then(onExit);
    check();
  });
}

/** Opens http://127.0.0.1:<port>/ in a new context, collecting its console lines. */
async function openPage(port) {
  const context = await browser.newContext();
  const page = await context.newPage();
  const consoleLines = [];
  page.on("console", (msg) => consoleLines.push(`${msg.type()}: ${msg.text()}`));
  await page.goto(`http://127.0.0.1:${port}/`, { timeout: WAIT_MS });
  return { context, page, consoleLines };
}

/** Waits until the page's #log has `lines` lines; resolves with them. */
async function pageLog(page, lines, consoleLines) {
  try {
    await page.waitForFunction((n) => document.getElementById("log").textContent.trim().split("\n").length >= n, lines, { timeout: WAIT_MS });
  } catch (err) {
    const shown = await page.textContent("#log").catch(() => "(no page)");
    throw new Error(`the page did not show ${lines} lines: ${err.message}\npage:\n${shown}\nconsole:\n${consoleLines.join("\n")}`);
  }
  return (await page.textContent("#log")).trim().split("\n");
}

test("README 'Try it': from an empty directory to a page on another origin talking to the server", { timeout: BUILD_TIMEOUT_MS + 120_000 }, async () => {
  const [serverPort, pagePort, otherPort] = [await freePort(), await freePort(), await freePort()];
  const ports = (text) => text.replaceAll("3000", String(serverPort)).replaceAll("8080", String(pagePort));
  const env = {
    ...process.env,
    CARGO_TARGET_DIR: path.join(REPO_ROOT, "target/try-it"),
    npm_config_prefer_offline: "true",
    npm_config_audit: "false",
    npm_config_fund: "false",
    npm_config_update_notifier: "false",
    PYTHONUNBUFFERED: "1",
    RUST_LOG: "",
  };
  delete env.RUST_LOG;

  // 1. Set-up, as the README shows it (portico from this checkout, the lock seeded).
  const setup = readmeBlock("try-it: setup");
  assert.ok(setup.includes(GIT_SOURCE), `the setup block no longer adds portico with ${GIT_SOURCE}`);
  const lines = setup.replace(GIT_SOURCE, `--path ${path.join(REPO_ROOT, "crates/portico")}`).trimEnd().split("\n");
  assert.match(lines[0], /^cargo new hello-portico && cd hello-portico$/);
  const script = ["set -euo pipefail", lines[0], `cp ${path.join(REPO_ROOT, "Cargo.lock")} Cargo.lock`, ...lines.slice(1)].join("\n");
  execFileSync("bash", ["-c", script], { cwd: workDir, env, stdio: "inherit", timeout: BUILD_TIMEOUT_MS });
  const crate = path.join(workDir, "hello-portico");

  // 2. The two files.
  fs.writeFileSync(path.join(crate, "src/main.rs"), ports(readmeBlock("file: src/main.rs = crates/portico/examples/hello.rs")));
  fs.writeFileSync(path.join(crate, "page/index.html"), ports(readmeBlock("file: page/index.html")));

  // 3. Build (bounded, visible), then run both commands.
  execFileSync("cargo", ["build"], { cwd: crate, env, stdio: "inherit", timeout: BUILD_TIMEOUT_MS });
  const [runServer, runPage] = ports(readmeBlock("try-it: run")).trimEnd().split("\n").map((l) => l.replace(/\s+#.*$/, ""));
  assert.equal(runServer, "cargo run");
  const server = spawnShell(runServer, crate, env);
  const says = ports(readmeBlock("try-it: server says")).trim().replace(/^\S+\s+/, ""); // without the timestamp
  const listening = await waitOutput(server, /^\S+Z\s+(INFO portico::serve: listening on .*)$/m, 60_000, "cargo run");
  assert.equal(listening[1], says);
  const pages = spawnShell(runPage, crate, env);
  await waitOutput(pages, /Serving HTTP on 127\.0\.0\.1 port \d+/, 20_000, "python3 -m http.server");

  // 4. The page, as the README says it shows.
  const { context, page, consoleLines } = await openPage(pagePort);
  const expected = readmeBlock("try-it: page shows").trim().split("\n");
  const shown = await pageLog(page, expected.length, consoleLines);
  assert.equal(shown.length, expected.length, shown.join("\n"));
  assert.equal(shown[0], expected[0]);
  assert.match(shown[1], new RegExp(`^${expected[1].replace("<the socket's id>", "[A-Za-z0-9_-]{20}")}$`));
  assert.equal(shown[2], expected[2]);

  // 5. "Change the token in the page and it shows `connect_error: invalid token`".
  const refused = await page.evaluate(
    (url) =>
      new Promise((resolve) => {
        const s = io(url, { auth: { token: "wrong" }, forceNew: true, reconnection: false });
        s.on("connect_error", (err) => resolve(`connect_error: ${err.message}`));
        s.on("connect", () => resolve("connected"));
      }),
    `http://127.0.0.1:${serverPort}`,
  );
  assert.equal(refused, "connect_error: invalid token");
  await context.close();

  // 6. "Open the page from another origin and the server refuses it".
  const other = spawnShell(runPage.replace(String(pagePort), String(otherPort)), crate, env);
  await waitOutput(other, /Serving HTTP on 127\.0\.0\.1 port \d+/, 20_000, "python3 -m http.server (other origin)");
  const { context: ctx2, page: page2, consoleLines: console2 } = await openPage(otherPort);
  const [first] = await pageLog(page2, 1, console2);
  assert.equal(first, "connect_error: xhr poll error");
  assert.ok(console2.some((l) => l.includes("Access-Control-Allow-Origin")), console2.join("\n"));
  await waitOutput(server, new RegExp(`origin.*http://127\\.0\\.0\\.1:${otherPort}`), WAIT_MS, "the server's refusal");
  await ctx2.close();

  // 7. SIGTERM: a graceful stop, exit 0 (`cargo run` passes the child's status on).
  process.kill(-server.child.pid, "SIGTERM");
  const { code } = await server.exit;
  children.delete(server.child);
  assert.equal(code, 0, server.output());
  assert.match(server.output(), /SIGTERM received: shutting down gracefully/);
});
