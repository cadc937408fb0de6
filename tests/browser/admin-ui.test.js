// The official Socket.IO Admin UI, served by `portico serve --admin-ui` at /admin-ui/, in real
// Chromium: a wrong password is refused, the right one logs in; the dashboard, Sockets, Rooms
// and Events pages show the test clients (one connects after the UI is open); the UI's join
// puts a socket in a room; an `emit` action (UI 0.5.1 has no button for it) sent over the
// page's own admin WebSocket reaches the client; the UI's disconnect disconnects the client
// (`io server disconnect`); a reload keeps the login (the session arrives after CONNECT).
// Saves the dashboard's screenshot to target/admin-ui.png (UPDATE_DOCS=1: docs/admin-ui.png).

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { launchBrowser, WAIT_MS } from "./lib/browser.js";
import { REPO_ROOT } from "../js/lib/server.js";
import { startServe, hashPassword, connected, nextEvent, io } from "../js/admin/lib.js";

let browser;
const cleanups = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  while (cleanups.length) await cleanups.pop()();
  await browser?.close();
});

async function client(url) {
  const s = io(url, { forceNew: true, reconnection: false });
  cleanups.push(async () => s.disconnect());
  await connected(s);
  return s;
}

/** The text of the page's main area, once it matches `re`. */
async function mainText(page, re) {
  await page.locator("main").getByText(re).first().waitFor({ timeout: WAIT_MS });
  return page.locator("main").innerText();
}

test("the Admin UI in Chromium: login, dashboard, sockets, rooms, events, join, emit, disconnect", { timeout: 90_000 }, async () => {
  const hash = hashPassword("s3cret");
  const s = await startServe(["--admin-ui", "--admin-ui-user", "ops", "--admin-ui-password-hash", hash]);
  cleanups.push(s.stop);
  const early = await client(s.url);
  assert.equal(await early.emitWithAck("join", "lobby"), true);

  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  cleanups.push(() => context.close());
  const page = await context.newPage();
  const outside = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(s.url)) outside.push(r.url());
  });
  // The page's admin WebSocket goes through Playwright, which can add a frame of its own.
  let adminWs = null;
  await page.routeWebSocket(/\/socket\.io\//, (ws) => {
    adminWs = ws.connectToServer();
  });

  await page.goto(`${s.url}/admin-ui/`);
  await page.getByLabel("Server URL").fill(s.url);
  await page.getByLabel("Username").fill("ops");
  await page.getByLabel("Password").fill("wrong");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText("Invalid credentials").waitFor({ timeout: WAIT_MS });
  await page.getByLabel("Password").fill("s3cret");
  await page.getByRole("button", { name: "Connect" }).click();
  await page.getByText(/^connected$/i).first().waitFor({ timeout: WAIT_MS });

  const late = await client(s.url);
  late.emit("chat", "hello from the late client");

  // Dashboard: one healthy server, the namespaces with their sockets.
  const dash = await mainText(page, /^\/admin$/);
  await page.locator("main tr", { hasText: /^\s*\/\s*2\s*$/ }).waitFor({ timeout: WAIT_MS });
  assert.match(dash, /HEALTHY\s+1\s+100\.0 %/i, dash);
  await page.locator("main").getByText("Bytes received and sent").waitFor();
  const shot = path.join(REPO_ROOT, "target/admin-ui.png");
  fs.mkdirSync(path.dirname(shot), { recursive: true });
  await page.screenshot({ path: shot });
  if (process.env.UPDATE_DOCS === "1") fs.copyFileSync(shot, path.join(REPO_ROOT, "docs/admin-ui.png"));

  await page.getByRole("link", { name: "Sockets" }).click();
  const sockets = await mainText(page, late.id);
  assert.ok(sockets.includes(early.id), sockets);

  await page.getByRole("link", { name: "Rooms" }).click();
  await mainText(page, /^lobby$/);

  await page.getByRole("link", { name: "Events" }).click();
  const events = await mainText(page, "Event name: chat");
  assert.ok(events.includes(late.id), events);

  // The socket's page: join a room with the UI.
  await page.getByRole("link", { name: "Sockets" }).click();
  await page.locator("main").getByText(early.id).click();
  await page.getByLabel("Join a room").fill("vip");
  await page.locator("main button:has(i.mdi-tag-plus-outline)").click();
  await mainText(page, /^vip$/);

  // emit: no button in UI 0.5.1; the action goes over the page's own admin connection.
  assert.ok(adminWs, "the page's admin connection runs on a WebSocket");
  const notice = nextEvent(early, "notice");
  adminWs.send(`42/admin,${JSON.stringify(["emit", "/", "vip", "notice", "from the Admin UI"])}`);
  assert.deepEqual(await notice, ["from the Admin UI"]);

  // Disconnect from the UI (the socket card's button).
  const bye = nextEvent(early, "disconnect");
  await page.locator("main button.ml-3:has(i.mdi-logout)").click();
  assert.equal((await bye)[0], "io server disconnect");

  // A reload connects again with the stored session, without asking for the password.
  await page.reload();
  await page.getByText(/^connected$/i).first().waitFor({ timeout: WAIT_MS });
  assert.equal(await page.getByRole("button", { name: "Connect" }).isVisible(), false);
  assert.deepEqual(outside, [], "the page loads nothing from another host");
});
