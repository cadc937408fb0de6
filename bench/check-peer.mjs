// Checks that a bench server speaks the bench protocol exactly as the others do, with the
// official socket.io-client (tests/js/node_modules). bench/run calls it on every server before
// measuring, so a peer that drifts (a lost argument, a dropped event, another maxPayload) stops
// the run instead of skewing it.
//
//   node bench/check-peer.mjs --url http://127.0.0.1:PORT [--only echo]
//
// Per transport (websocket, polling, polling+upgrade): the handshake's ping settings and
// maxPayload; echo with 0, 1 and 3 arguments; join; broadcast of 10 events to a room of 2
// (sender included) while a third client outside the room receives none. Exits 1 on the
// first difference. Loopback only; every wait is bounded.
//
// `--only echo` checks the handshake and echo only (over websocket, polling and polling+upgrade):
// what the floor (bench/peers/floor) serves, for the cases it runs (polling, connect-websocket,
// connect-upgrade, echo).

import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "../tests/js/package.json"));
const { io } = require("socket.io-client");

const TIMEOUT_MS = 5000;
const EXPECTED_HANDSHAKE = { pingInterval: 25000, pingTimeout: 20000, maxPayload: 1000000 };

function flag(name) {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const url = flag("--url");
const only = flag("--only");
if (!url || (only !== undefined && only !== "echo")) {
  console.error("usage: node bench/check-peer.mjs --url http://127.0.0.1:PORT [--only echo]");
  process.exit(2);
}
const host = new URL(url).hostname;
if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) {
  console.error(`--url ${url}: loopback only`);
  process.exit(2);
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer in ${TIMEOUT_MS} ms`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function same(what, got, want) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new Error(`${what}: got ${g}, expected ${w}`);
}

// Connects one client; resolves with it and the engine's handshake once connected.
function connect(transport) {
  const opts = {
    path: "/socket.io/",
    forceNew: true,
    reconnection: false,
    timeout: TIMEOUT_MS,
    transports: transport === "websocket" ? ["websocket"] : ["polling", "websocket"],
    upgrade: transport === "upgrade",
  };
  const socket = io(url, opts);
  const handshake = new Promise((resolve) => socket.io.engine.once("handshake", resolve));
  const connected = new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("connect_error", reject);
  });
  return withTimeout(
    Promise.all([handshake, connected]).then(([hs]) => ({ socket, hs })),
    `connect (${transport})`,
  );
}

// emit with an ack; resolves with the ack's arguments.
function call(socket, event, ...args) {
  return withTimeout(
    new Promise((resolve) => socket.emit(event, ...args, (...reply) => resolve(reply))),
    `${event} ack`,
  );
}

// Resolves when the client is on `want` (after the upgrade, for "upgrade").
async function settledTransport(socket, want) {
  const engine = socket.io.engine;
  if (want === "upgrade" && engine.transport.name !== "websocket") {
    await withTimeout(new Promise((resolve) => engine.once("upgrade", resolve)), "upgrade");
  }
  const name = engine.transport.name;
  const expected = want === "polling" ? "polling" : "websocket";
  same(`transport (${want})`, name, expected);
}

async function checkTransport(transport) {
  const clients = [];
  try {
    const a = await connect(transport);
    const b = await connect(transport);
    const outsider = await connect(transport);
    clients.push(a.socket, b.socket, outsider.socket);
    for (const { hs } of [a, b, outsider]) {
      const got = {
        pingInterval: hs.pingInterval,
        pingTimeout: hs.pingTimeout,
        maxPayload: hs.maxPayload,
      };
      same(`handshake (${transport})`, got, EXPECTED_HANDSHAKE);
    }
    await settledTransport(a.socket, transport);

    same(`echo 0 args (${transport})`, await call(a.socket, "echo"), []);
    same(`echo 1 arg (${transport})`, await call(a.socket, "echo", "héllo"), ["héllo"]);
    const three = ["s", { n: 1, l: [true, null, 2.5] }, 42];
    same(`echo 3 args (${transport})`, await call(a.socket, "echo", ...three), three);
    if (only === "echo") return;

    const room = `check-${transport}`;
    same(`join (${transport})`, await call(a.socket, "join", room), [true]);
    same(`join (${transport})`, await call(b.socket, "join", room), [true]);

    const count = 10;
    const size = 5;
    const got = new Map(clients.map((s) => [s, []]));
    for (const s of clients) s.on("b", (...args) => got.get(s).push(args));
    const delivered = Promise.all(
      [a.socket, b.socket].map(
        (s) =>
          new Promise((resolve) => {
            const check = () => (got.get(s).length >= count ? resolve() : setTimeout(check, 10));
            check();
          }),
      ),
    );
    same(
      `broadcast ack (${transport})`,
      await call(a.socket, "broadcast", { room, count, size }),
      [true],
    );
    await withTimeout(delivered, `broadcast deliveries (${transport})`);
    // Give a stray event to the outsider, or an extra one to a member, time to arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const want = Array.from({ length: count }, () => ["x".repeat(size)]);
    same(`broadcast to sender (${transport})`, got.get(a.socket), want);
    same(`broadcast to member (${transport})`, got.get(b.socket), want);
    same(`broadcast outside the room (${transport})`, got.get(outsider.socket), []);
  } finally {
    for (const s of clients) s.disconnect();
  }
}

let failed = false;
for (const transport of ["websocket", "polling", "upgrade"]) {
  try {
    await checkTransport(transport);
    console.log(`check-peer ${url} ${transport}: ok`);
  } catch (err) {
    console.error(`check-peer ${url} ${transport}: FAILED: ${err.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
