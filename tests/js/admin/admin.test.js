// The Admin UI's protocol on `portico serve --admin-ui`, spoken by the official
// socket.io-client as the UI speaks it: config, all_sockets, server_stats with per-second
// events, live socket/room/event reports, the emit/join/leave/_disconnect actions, read-only
// mode, basic auth with a bcrypt hash from `portico admin-ui-hash` and the session that keeps
// the login, and the page itself served from the npm package with no CDN link.

import { test, afterEach } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startServe, serveFails, adminClient, connected, nextEvent, hashPassword } from "./lib.js";

const cleanups = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()();
});

async function serve(args) {
  const s = await startServe(args);
  cleanups.push(s.stop);
  return s;
}

function track(socket) {
  cleanups.push(async () => socket.disconnect());
  return socket;
}

async function client(url) {
  const s = track(io(url, { forceNew: true, reconnection: false }));
  await connected(s);
  return s;
}

const FULL = ["EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT", "AGGREGATED_EVENTS", "ALL_EVENTS"];

test("config, all_sockets, server_stats and live reports, as the UI receives them", { timeout: 20_000 }, async () => {
  const s = await serve(["--admin-ui"]);
  assert.ok(s.lines.some((l) => /authentication is off/.test(l)), s.lines.join("\n"));
  assert.ok(s.lines.includes(`Admin UI: open ${s.url}/admin-ui/`), s.lines.join("\n"));
  assert.ok(
    s.lines.includes(
      `Admin UI connection form: Server URL ${s.url}, username and password left empty (auth off); ` +
        "Advanced options: path /socket.io, namespace /admin",
    ),
    s.lines.join("\n"),
  );
  assert.ok(s.lines.some((l) => l.endsWith("origin policy: same origin")), s.lines.join("\n"));
  const early = await client(s.url);
  const admin = adminClient(s.url);
  track(admin.socket);
  await connected(admin.socket);

  const [config] = await admin.next("config");
  assert.deepEqual(config.supportedFeatures, FULL);
  const [all] = await admin.next("all_sockets");
  const mine = all.find((x) => x.id === early.id);
  assert.ok(mine, `all_sockets lists the client: ${JSON.stringify(all)}`);
  assert.equal(mine.nsp, "/");
  assert.deepEqual(mine.rooms, [early.id]);
  assert.equal(mine.handshake.address, "127.0.0.1");
  assert.match(mine.handshake.time, /^\d{4}-\d\d-\d\dT/);
  assert.ok(["polling", "websocket"].includes(mine.transport), mine.transport);
  assert.equal(mine.clientId.length, 12);
  assert.ok(all.some((x) => x.nsp === "/admin" && x.id === admin.socket.id), "the admin socket is listed too");

  const [stats] = await admin.next("server_stats");
  assert.equal(typeof stats.serverId, "string");
  assert.equal(typeof stats.pid, "number");
  assert.ok(stats.uptime >= 0);
  assert.ok(stats.clientsCount >= 2, JSON.stringify(stats));
  assert.deepEqual(
    stats.namespaces.find((n) => n.name === "/"),
    { name: "/", socketsCount: 1 },
  );

  // A client that connects now is reported live, with its room and its events.
  const late = track(io(s.url, { forceNew: true, reconnection: false }));
  await connected(late);
  const [socket, ts] = await admin.next("socket_connected", (x) => x.id === late.id);
  assert.equal(socket.nsp, "/");
  assert.ok(!Number.isNaN(Date.parse(ts)), ts);
  await admin.next("room_joined", (nsp, room, id) => nsp === "/" && room === late.id && id === late.id);
  // Its upgrade to WebSocket too, as the UI's transport column needs.
  await admin.next("socket_updated", (u) => u.id === late.id && u.transport === "websocket");
  assert.equal(await late.emitWithAck("join", "lobby"), true);
  await admin.next("room_joined", (nsp, room, id) => room === "lobby" && id === late.id);
  late.emit("chat", "hello admin");
  const [nsp, id, args] = await admin.next("event_received", (n, i, a) => i === late.id && a[0] === "chat");
  assert.equal(nsp, "/");
  assert.deepEqual(args, ["chat", "hello admin"]);

  // Per-second events arrive with the 2-second stats.
  const [withEvents] = await admin.next("server_stats", (st) => st.aggregatedEvents.some((e) => e.type === "packetsIn"));
  const ev = withEvents.aggregatedEvents.find((e) => e.type === "rawConnection");
  assert.ok(ev && ev.count >= 1 && ev.timestamp % 1000 === 0, JSON.stringify(withEvents.aggregatedEvents));

  const lateId = late.id; // the client forgets it on disconnect
  late.disconnect();
  const [, , reason] = await admin.next("socket_disconnected", (n, i) => i === lateId);
  assert.equal(reason, "client namespace disconnect");
  await admin.next("room_left", (n, room, i) => room === "lobby" && i === lateId);
});

test("the UI's actions: join, emit to a room, leave, disconnect", { timeout: 20_000 }, async () => {
  const s = await serve(["--admin-ui"]);
  const target = await client(s.url);
  const other = await client(s.url);
  const admin = adminClient(s.url);
  track(admin.socket);
  await connected(admin.socket);
  await admin.next("config");

  admin.socket.emit("join", "/", "vip", target.id);
  await admin.next("room_joined", (nsp, room, id) => room === "vip" && id === target.id);

  const got = nextEvent(target, "notice");
  admin.socket.emit("emit", "/", "vip", "notice", 1, { two: 2 });
  assert.deepEqual(await got, [1, { two: 2 }]);

  admin.socket.emit("leave", "/", "vip", target.id);
  await admin.next("room_left", (nsp, room, id) => room === "vip" && id === target.id);

  const bye = nextEvent(target, "disconnect");
  const targetId = target.id; // the client forgets it on disconnect
  admin.socket.emit("_disconnect", "/", false, targetId);
  assert.equal((await bye)[0], "io server disconnect");
  await admin.next("socket_disconnected", (n, id, reason) => id === targetId && reason === "server namespace disconnect");
  assert.equal(other.connected, true, "only the selected socket is disconnected");
});

test("read-only: no actions offered, none applied", { timeout: 20_000 }, async () => {
  const s = await serve(["--admin-ui", "--admin-ui-readonly"]);
  assert.ok(s.lines.includes(`Admin UI (read-only): open ${s.url}/admin-ui/`), s.lines.join("\n"));
  const target = await client(s.url);
  const admin = adminClient(s.url);
  track(admin.socket);
  await connected(admin.socket);
  const [config] = await admin.next("config");
  assert.deepEqual(config.supportedFeatures, ["AGGREGATED_EVENTS", "ALL_EVENTS"]);
  admin.socket.emit("_disconnect", "/", false, target.id);
  admin.socket.emit("join", "/", "vip", target.id);
  target.emit("chat", "still here");
  await admin.next("event_received", (n, id, a) => id === target.id && a[1] === "still here");
  assert.equal(target.connected, true);
  assert.ok(!admin.seen.some((e) => e.event === "room_joined" && e.args[1] === "vip"), "no join happened");
});

test("basic auth: refused with a wrong password; a login gets a session that logs in again", { timeout: 30_000 }, async () => {
  const hash = hashPassword("s3cret");
  assert.match(hash, /^\$2[aby]\$10\$.{53}$/);
  const s = await serve(["--admin-ui", "--admin-ui-user", "ops", "--admin-ui-password-hash", hash]);
  assert.ok(!s.lines.some((l) => /authentication is off/.test(l)), s.lines.join("\n"));
  assert.ok(s.lines.some((l) => l.includes("username ops and its password")), s.lines.join("\n"));

  const wrong = adminClient(s.url, { auth: { username: "ops", password: "nope" } });
  track(wrong.socket);
  await assert.rejects(connected(wrong.socket), /invalid credentials/);
  const nobody = adminClient(s.url, { auth: { sessionId: "0123456789abcdef" } });
  track(nobody.socket);
  await assert.rejects(connected(nobody.socket), /invalid credentials/);

  // As the UI does: listeners are registered once connected; `session` must still reach them.
  const admin = adminClient(s.url, { auth: { username: "ops", password: "s3cret" } });
  track(admin.socket);
  const session = new Promise((resolve) => admin.socket.once("connect", () => admin.socket.once("session", resolve)));
  await connected(admin.socket);
  const id = await session;
  assert.match(id, /^[0-9a-f]{16}$/);

  const again = adminClient(s.url, { auth: { sessionId: id } });
  track(again.socket);
  await connected(again.socket);
  await again.next("config");
});

test("the page: served from the npm package, icons from @mdi/font, no outside host; flag errors", { timeout: 20_000 }, async () => {
  const s = await serve(["--admin-ui", "--no-demo"]);
  const page = await fetch(`${s.url}/admin-ui/`);
  assert.equal(page.status, 200);
  const html = await page.text();
  assert.match(html, /<title>Socket.IO Admin UI<\/title>/);
  assert.doesNotMatch(html, /https?:\/\//, "no link to another host");
  const css = await fetch(`${s.url}/admin-ui/mdi/css/materialdesignicons.min.css`);
  assert.equal(css.status, 200);
  assert.match(await css.text(), /Material Design Icons/);
  const font = await fetch(`${s.url}/admin-ui/mdi/fonts/materialdesignicons-webfont.woff2`);
  assert.equal(font.headers.get("content-type"), "font/woff2");
  const script = html.match(/src="(js\/app\.[^"]+\.js)"/)[1];
  assert.equal((await fetch(`${s.url}/admin-ui/${script}`)).status, 200);
  assert.equal((await fetch(`${s.url}/admin-ui/..%2f..%2fpackage.json`)).status, 404);

  const notHash = await serveFails(["--admin-ui", "--admin-ui-user", "ops", "--admin-ui-password-hash", "s3cret"]);
  assert.ok(notHash.lines.some((l) => /must be a bcrypt hash/.test(l)), notHash.lines.join("\n"));
  const noUi = await serveFails(["--admin-ui-readonly"]);
  assert.ok(noUi.lines.some((l) => /need --admin-ui/.test(l)), noUi.lines.join("\n"));
  const missing = await serveFails(["--admin-ui", "--admin-ui-dir", "/nonexistent"]);
  assert.ok(missing.lines.some((l) => /no index\.html there/.test(l)), missing.lines.join("\n"));
});
