// Recipe examples/cors-layer, run for real: tower-http's CorsLayer on the REST routes and
// Portico beside them, both from one OriginPolicy. Every response the app origin can get (REST,
// REST preflight, polling handshake and POST, Portico's preflight, the WebSocket upgrade)
// carries exactly one Access-Control-Allow-Origin; other origins get none, and Portico refuses
// them. Then each MISTAKE= shows what it breaks.

import { test, after, before } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import { startRecipe } from "./session-cookie-lib.js";
import { raw, allowOrigins } from "./cors-layer-lib.js";

const APP = "http://localhost:5173";
const EVIL = "http://evil.test";
const TIMEOUT_MS = 5000;
const servers = {};

/** The recipe with MISTAKE=`mistake` ("" = the right setup), started once per file. */
async function recipe(mistake = "") {
  servers[mistake] ??= startRecipe("cors-layer", { MISTAKE: mistake, APP_ORIGINS: APP });
  return servers[mistake];
}
before(() => recipe());
after(async () => {
  for (const s of Object.values(servers)) await (await s).stop();
});

const polling = (base) => `${base}/socket.io/?EIO=4&transport=polling`;
const preflight = (origin, headers = "x-token", method = "GET") => ({
  method: "OPTIONS",
  headers: { origin, "access-control-request-method": method, "access-control-request-headers": headers },
});

/** Every response the app's page can get from the server, by name. */
async function everyResponse(base, origin) {
  const hs = await raw(polling(base), { headers: { origin } });
  const out = { "REST GET": await raw(`${base}/api/items`, { headers: { origin } }) };
  out["REST POST"] = await raw(`${base}/api/items`, {
    method: "POST",
    headers: { origin, "content-type": "application/json" },
    body: '"plum"',
  });
  out["REST preflight"] = await raw(`${base}/api/whoami`, preflight(origin));
  out["polling handshake"] = hs;
  if (hs.status === 200) {
    const sid = JSON.parse(hs.body.slice(1)).sid;
    out["polling POST"] = await raw(`${polling(base)}&sid=${sid}`, {
      method: "POST",
      headers: { origin, "content-type": "text/plain;charset=UTF-8" },
      body: "40",
    });
  }
  out["Portico preflight"] = await raw(polling(base), preflight(origin, "x-token", "POST"));
  out["WebSocket upgrade"] = await raw(`${base}/socket.io/?EIO=4&transport=websocket`, { upgrade: true, headers: { origin } });
  return out;
}

test("every response to the app origin carries exactly one Access-Control-Allow-Origin, with credentials", async () => {
  const { url } = await recipe();
  const all = await everyResponse(url, APP);
  assert.equal(Object.keys(all).length, 7);
  for (const [name, res] of Object.entries(all)) {
    assert.ok([200, 204, 101].includes(res.status), `${name}: status ${res.status}`);
    assert.deepEqual(res.all("access-control-allow-origin"), [APP], name);
    assert.deepEqual(res.all("access-control-allow-credentials"), ["true"], name);
  }
  assert.equal(all["WebSocket upgrade"].status, 101);
});

test("what each one governs: the CorsLayer only adds headers, Portico refuses other origins", async () => {
  const { url } = await recipe();
  const all = await everyResponse(url, EVIL);
  for (const [name, res] of Object.entries(all)) {
    assert.deepEqual(res.all("access-control-allow-origin"), [], `${name} allows ${EVIL}`);
  }
  // The REST handler still ran (the browser, not the server, hides the answer from the page).
  assert.equal(all["REST GET"].status, 200);
  assert.match(all["REST POST"].body, /"added":"plum"/);
  // Portico: no session, no preflight, no WebSocket for that origin.
  assert.equal(all["polling handshake"].status, 403);
  assert.equal(all["Portico preflight"].status, 403);
  assert.equal(all["WebSocket upgrade"].status, 403);
});

test("the preflights: the CorsLayer lists x-token for the REST routes, Portico for /socket.io/", async () => {
  const { url } = await recipe();
  const rest = await raw(`${url}/api/whoami`, preflight(APP));
  assert.match(rest.all("access-control-allow-headers").join(), /x-token/);
  const sio = await raw(polling(url), preflight(APP, "x-token", "POST"));
  assert.equal(sio.status, 204);
  assert.deepEqual(sio.all("access-control-allow-headers"), ["x-token"]);
  const other = await raw(polling(url), preflight(APP, "x-other", "POST"));
  assert.equal(other.status, 403, "Portico refuses a header that the policy does not list");
});

test("the official client connects from the app origin (polling, then WebSocket) and gets acks", async () => {
  const { url } = await recipe();
  const socket = io(url, { forceNew: true, reconnection: false, extraHeaders: { origin: APP } });
  try {
    await new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", reject);
    });
    assert.equal(await socket.timeout(TIMEOUT_MS).emitWithAck("hello"), "hi");
  } finally {
    socket.close();
  }
});

test("the same list decides both: an origin outside it is refused by Portico and not allowed by the CorsLayer", async () => {
  const { url } = await recipe();
  const socket = io(url, { forceNew: true, reconnection: false, extraHeaders: { origin: EVIL } });
  const err = await new Promise((resolve, reject) => {
    socket.once("connect", () => reject(new Error("connected from a refused origin")));
    socket.once("connect_error", resolve);
  });
  socket.close();
  assert.equal(err.message, "xhr poll error");
  assert.equal(err.description, 403);
});

test("MISTAKE=cors-outside: still one Access-Control-Allow-Origin (the CorsLayer replaces Portico's), but it answers Portico's preflights", async () => {
  const { url } = await recipe("cors-outside");
  const all = await everyResponse(url, APP);
  for (const [name, res] of Object.entries(all)) {
    assert.deepEqual(res.all("access-control-allow-origin"), [APP], name);
  }
  // The preflight never reaches Portico: the CorsLayer's 200 and lists, not Portico's 204.
  const sio = all["Portico preflight"];
  assert.equal(sio.status, 200);
  assert.deepEqual(sio.all("access-control-allow-headers"), ["content-type,x-token"]);
  const other = await raw(polling(url), preflight(APP, "x-other", "POST"));
  assert.notEqual(other.status, 403, "Portico's own preflight check is bypassed");
  // Both add Vary.
  assert.equal(all["polling handshake"].all("vary").length, 2);
  // Portico still refuses other origins on real requests.
  assert.equal((await raw(polling(url), { headers: { origin: EVIL } })).status, 403);
});

test("MISTAKE=append-header: hand-written CORS appends a second Access-Control-Allow-Origin everywhere", async () => {
  const { url } = await recipe("append-header");
  const all = await everyResponse(url, APP);
  for (const [name, res] of Object.entries(all)) {
    assert.deepEqual(res.all("access-control-allow-origin"), [APP, APP], name);
  }
  // …and reflects any origin on Portico's refusals.
  const evil = await raw(polling(url), { headers: { origin: EVIL } });
  assert.equal(evil.status, 403);
  assert.deepEqual(allowOrigins(evil), [EVIL]);
});

test("MISTAKE=no-allow-headers: the REST preflight does not list x-token (Portico's still does)", async () => {
  const { url } = await recipe("no-allow-headers");
  const rest = await raw(`${url}/api/whoami`, preflight(APP));
  assert.deepEqual(rest.all("access-control-allow-headers"), ["content-type"]);
  const sio = await raw(polling(url), preflight(APP, "x-token", "POST"));
  assert.deepEqual(sio.all("access-control-allow-headers"), ["x-token"]);
});

test("MISTAKE=portico-default: REST allows the app, Portico (same origin only) refuses it with 403", async () => {
  const { url } = await recipe("portico-default");
  const rest = await raw(`${url}/api/items`, { headers: { origin: APP } });
  assert.deepEqual(rest.all("access-control-allow-origin"), [APP]);
  const hs = await raw(polling(url), { headers: { origin: APP } });
  assert.equal(hs.status, 403);
  assert.deepEqual(hs.all("access-control-allow-origin"), []);
});

test("MISTAKE=no-credentials: one Access-Control-Allow-Origin, but no Access-Control-Allow-Credentials anywhere", async () => {
  const { url } = await recipe("no-credentials");
  for (const [name, res] of Object.entries(await everyResponse(url, APP))) {
    assert.deepEqual(res.all("access-control-allow-origin"), [APP], name);
    assert.deepEqual(res.all("access-control-allow-credentials"), [], name);
  }
});

test("MISTAKE=wildcard: the REST routes answer '*', Portico keeps its own answer", async () => {
  const { url } = await recipe("wildcard");
  const rest = await raw(`${url}/api/items`, { headers: { origin: APP } });
  assert.deepEqual(rest.all("access-control-allow-origin"), ["*"]);
  assert.deepEqual(rest.all("access-control-allow-credentials"), []);
  const hs = await raw(polling(url), { headers: { origin: APP } });
  assert.deepEqual(hs.all("access-control-allow-origin"), [APP]);
});

test("an unknown MISTAKE is a startup error that lists the choices", async () => {
  await assert.rejects(startRecipe("cors-layer", { MISTAKE: "typo" }), /expected cors-outside, no-allow-headers, portico-default/);
});
