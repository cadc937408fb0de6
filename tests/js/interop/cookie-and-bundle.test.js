// The sticky-session cookie and the client bundle served under the Socket.IO path.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { startServer, REPO_ROOT } from "../lib/server.js";
import { RawWebSocket, eioUrl, request, wsUrl } from "../lib/raw.js";

const PKG = path.join(REPO_ROOT, "tests/js/node_modules/socket.io-client");
const VERSION = JSON.parse(fs.readFileSync(path.join(PKG, "package.json"), "utf8")).version;

describe("sticky cookie (--sticky-cookie) and serve_client (--serve-client)", () => {
  let server;
  let own;
  before(async () => {
    server = await startServer({ args: ["--sticky-cookie", "--serve-client", PKG] });
    own = new URL(server.url).origin;
  });
  after(async () => {
    await server?.stop();
  });

  test("polling handshake sets io=<sid>; Path=/; HttpOnly; SameSite=Lax", { timeout: 10_000 }, async () => {
    const res = await request(eioUrl(server.url));
    const sid = JSON.parse(res.text.slice(1)).sid;
    assert.equal(res.headers.get("set-cookie"), `io=${sid}; Path=/; HttpOnly; SameSite=Lax`);
    const next = await request(eioUrl(server.url, { sid }), { method: "POST", body: "40" });
    assert.equal(next.text, "ok");
    assert.equal(next.headers.get("set-cookie"), null, "only the handshake sets it");
  });

  test("WebSocket handshake sets the cookie on the 101", { timeout: 10_000 }, async () => {
    const raw = new RawWebSocket(wsUrl(server.url));
    try {
      const upgrade = await new Promise((resolve, reject) => {
        raw.ws.once("upgrade", resolve);
        raw.ws.once("close", () => reject(new Error("closed before upgrade")));
      });
      const open = JSON.parse((await raw.next()).slice(1));
      assert.equal(upgrade.headers["set-cookie"]?.[0], `io=${open.sid}; Path=/; HttpOnly; SameSite=Lax`);
    } finally {
      raw.close();
    }
  });

  for (const file of ["socket.io.js", "socket.io.min.js", "socket.io.min.js.map"]) {
    test(`serves ${file} from the npm package with an ETag`, { timeout: 10_000 }, async () => {
      const res = await fetch(`${server.url}/socket.io/${file}`);
      assert.equal(res.status, 200);
      const body = Buffer.from(await res.arrayBuffer());
      assert.ok(body.equals(fs.readFileSync(path.join(PKG, "dist", file))), "byte-identical to the package file");
      assert.equal(res.headers.get("etag"), `"${VERSION}"`);
      assert.match(res.headers.get("content-type"), file.endsWith(".map") ? /^application\/json/ : /^application\/javascript/);
    });
  }

  test("If-None-Match with the version → 304 (strong or weak)", { timeout: 10_000 }, async () => {
    for (const tag of [`"${VERSION}"`, `W/"${VERSION}"`]) {
      const res = await fetch(`${server.url}/socket.io/socket.io.js`, { headers: { "if-none-match": tag } });
      assert.equal(res.status, 304);
    }
    const stale = await fetch(`${server.url}/socket.io/socket.io.js`, { headers: { "if-none-match": '"0.0.0"' } });
    assert.equal(stale.status, 200);
    await stale.arrayBuffer();
  });

  test("the bundle obeys the origin policy: own origin gets CORS headers, others 403", { timeout: 10_000 }, async () => {
    const ok = await fetch(`${server.url}/socket.io/socket.io.min.js`, { headers: { origin: own } });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("access-control-allow-origin"), own);
    await ok.arrayBuffer();
    const refused = await fetch(`${server.url}/socket.io/socket.io.min.js`, { headers: { origin: "http://evil.test" } });
    assert.equal(refused.status, 403);
    assert.equal(refused.headers.get("access-control-allow-origin"), null);
    await refused.arrayBuffer();
  });

  test("a <script src> load of the bundle from another site (no Origin, Sec-Fetch-Site: cross-site) is served", { timeout: 10_000 }, async () => {
    // What Chromium sends for a classic script tag on a page of another origin: no Origin
    // header, so the policy cannot know the page; the same request to the Engine.IO endpoint
    // is refused (below), the public script is not.
    const headers = { "sec-fetch-site": "cross-site", "sec-fetch-mode": "no-cors", "sec-fetch-dest": "script" };
    const res = await fetch(`${server.url}/socket.io/socket.io.min.js`, { headers });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("access-control-allow-origin"), null);
    assert.match(res.headers.get("content-type"), /^application\/javascript/);
    await res.arrayBuffer();
    const poll = await fetch(`${server.url}/socket.io/?EIO=4&transport=polling`, { headers });
    assert.equal(poll.status, 403);
    await poll.arrayBuffer();
  });

  test("unknown files under the path are Engine.IO requests (400 code 0), not files", { timeout: 10_000 }, async () => {
    // (fetch normalises `..` away: this one is outside the path altogether)
    const res = await request(`${server.url}/socket.io/../../etc/passwd`);
    assert.equal(res.status, 404);
    const other = await request(`${server.url}/socket.io/secret.js`);
    assert.equal(other.status, 400);
    assert.deepEqual(JSON.parse(other.text), { code: 0, message: "Transport unknown" });
  });
});
