// Recipe auth-token (examples/auth-token, docs/recipes/auth-token.md) run for real: the recipe
// binary, its POST /token route, and the official socket.io-client sending `auth: { token }`.
// Every refusal of the table reaches connect_error with its message and data.code; a socket is
// disconnected when its token expires; a reconnection fetches a new token.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { io } from "socket.io-client";
import {
  REPO_ROOT,
  claimsOf,
  next,
  nowSecs,
  postToken,
  signToken,
  startAuthServer,
  unsignedToken,
} from "./auth-token-lib.js";

const T = { timeout: 20_000 };
const VITE = "http://localhost:5173";
const PORTICO_BIN = process.env.PORTICO_BIN
  ? path.resolve(process.env.PORTICO_BIN)
  : path.join(REPO_ROOT, "target/debug/portico");

/** `portico doctor URL --origin VITE --json [--auth JSON]`: resolves with {code, report}. */
function doctor(url, auth) {
  if (!existsSync(PORTICO_BIN)) {
    throw new Error(`${PORTICO_BIN} is missing: cargo build -p portico-cli (or set PORTICO_BIN)`);
  }
  const args = ["doctor", url, "--origin", VITE, "--json", ...(auth ? ["--auth", JSON.stringify(auth)] : [])];
  return new Promise((resolve, reject) => {
    execFile(PORTICO_BIN, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== "number") return reject(err);
      try {
        resolve({ code: err ? err.code : 0, report: JSON.parse(stdout) });
      } catch {
        reject(new Error(`portico doctor printed no JSON (exit ${err?.code ?? 0}):\n${stdout}${stderr}`));
      }
    });
  });
}

const sockets = [];
/** A client that does not reconnect by itself unless `opts` says so. */
function client(url, opts = {}) {
  const socket = io(url, { forceNew: true, reconnection: false, timeout: 5000, ...opts });
  sockets.push(socket);
  return socket;
}

/** Connects with `auth` and resolves with the connect_error it gets (fails if it connects). */
async function refusal(url, auth) {
  const socket = client(url, { auth });
  const outcome = await Promise.race([next(socket, "connect_error"), next(socket, "connect").then(() => null)]);
  assert.ok(outcome, "the server accepted a handshake it should refuse");
  const [err] = outcome;
  return { message: err.message, data: err.data };
}

async function freshToken(url, user = "ada") {
  const res = await postToken(url, { user });
  assert.equal(res.status, 200, await res.clone().text());
  return res.json();
}

describe("recipe auth-token: JWT in the handshake", () => {
  let server;
  before(async () => {
    server = await startAuthServer({ AUTH_TOKEN_TTL: "300" });
  });
  after(async () => {
    for (const s of sockets) s.disconnect();
    await server?.stop();
  });

  test("POST /token issues an HS256 JWT for the user, unique, expiring after the TTL", T, async () => {
    const before = nowSecs();
    const a = await freshToken(server.url);
    const b = await freshToken(server.url);
    const header = JSON.parse(Buffer.from(a.token.split(".")[0], "base64url").toString());
    assert.equal(header.alg, "HS256");
    const claims = claimsOf(a.token);
    assert.equal(claims.sub, "ada");
    assert.equal(claims.exp, claims.iat + 300);
    assert.ok(claims.iat >= before && claims.iat <= nowSecs(), `iat ${claims.iat}`);
    assert.equal(a.expiresAt, claims.exp);
    assert.notEqual(a.token, b.token, "two tokens in the same second must differ (jti)");
  });

  test("POST /token refuses an empty user with 400", T, async () => {
    const res = await postToken(server.url, { user: "  " });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /user must be 1 to 64 bytes/);
  });

  test("a valid token connects, and the server knows who it is", T, async () => {
    const { token } = await freshToken(server.url, "grace");
    const socket = client(server.url, { auth: { token } });
    await next(socket, "connect");
    const me = await socket.timeout(5000).emitWithAck("whoami");
    assert.equal(me.sub, "grace");
    assert.equal(me.jti, claimsOf(token).jti);
  });

  const refusals = [
    ["no auth at all", undefined, "missing token", "missing_token"],
    ["auth without token", { user: "ada" }, "missing token", "missing_token"],
    ["an empty token", { token: "" }, "missing token", "missing_token"],
    ["a null token", { token: null }, "missing token", "missing_token"],
    ["not a JWT", { token: "nonsense" }, "malformed token", "malformed_token"],
    ["a number for a token", { token: 42 }, "malformed token", "malformed_token"],
    ["a token over 4096 bytes", { token: signToken({ sub: "ada", exp: nowSecs() + 60, pad: "x".repeat(4096) }) }, "malformed token", "malformed_token"],
    ["an unsigned token (alg none)", { token: unsignedToken({ sub: "ada", exp: nowSecs() + 60 }) }, "malformed token", "malformed_token"],
    ["a token signed with another secret", { token: signToken({ sub: "ada", exp: nowSecs() + 60 }, { secret: "not-the-secret" }) }, "invalid token", "invalid_token"],
    ["a token signed with HS512", { token: signToken({ sub: "ada", exp: nowSecs() + 60 }, { alg: "HS512" }) }, "invalid token", "invalid_token"],
    ["a token without sub", { token: signToken({ exp: nowSecs() + 60 }) }, "invalid token", "invalid_token"],
    ["a token past its exp", { token: signToken({ sub: "ada", iat: nowSecs() - 120, exp: nowSecs() - 60 }) }, "token expired", "token_expired"],
  ];
  test("each refusal reaches connect_error with its message and data.code", T, async (t) => {
    for (const [what, auth, message, code] of refusals) {
      await t.test(what, async () => {
        const err = await refusal(server.url, auth);
        assert.deepEqual(err, { message, data: { code } });
      });
    }
  });

  test("portico doctor: each refusal is namespace.rejected with the client's message; a valid token is healthy", T, async () => {
    const { token } = await freshToken(server.url);
    const cases = [
      [undefined, "missing token"],
      [{ token: "nonsense" }, "malformed token"],
      [{ token: signToken({ sub: "ada", exp: nowSecs() + 60 }, { secret: "not-the-secret" }) }, "invalid token"],
      [{ token: signToken({ sub: "ada", iat: nowSecs() - 120, exp: nowSecs() - 60 }) }, "token expired"],
    ];
    const runs = await Promise.all(cases.map(([auth]) => doctor(server.url, auth)));
    cases.forEach(([, message], i) => {
      const { code, report } = runs[i];
      assert.equal(code, 1, report.summary);
      assert.deepEqual(report.findings.map((f) => [f.id, f.client_error]), [["namespace.rejected", message]]);
    });
    const ok = await doctor(server.url, { token });
    assert.equal(ok.code, 0, ok.report.summary);
    assert.equal(ok.report.healthy, true);
  });

  test("POST /token: CORS for the Vite dev origin, 403 with the reason for another", T, async () => {
    const pre = await fetch(`${server.url}/token`, {
      method: "OPTIONS",
      headers: { origin: VITE, "access-control-request-method": "POST", "access-control-request-headers": "content-type" },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get("access-control-allow-origin"), VITE);
    assert.match(pre.headers.get("access-control-allow-headers") ?? "", /content-type/);
    const ok = await postToken(server.url, { user: "ada" }, { origin: VITE });
    assert.equal(ok.status, 200);
    assert.equal(ok.headers.get("access-control-allow-origin"), VITE);
    const evil = await postToken(server.url, { user: "ada" }, { origin: "http://evil.test" });
    assert.equal(evil.status, 403);
    assert.equal(evil.headers.get("access-control-allow-origin"), null);
    assert.match(await evil.text(), /add "http:\/\/evil\.test" to the allowed origins/);
  });
});

describe("recipe auth-token: expiry and refresh (AUTH_TOKEN_TTL=3)", () => {
  let server;
  before(async () => {
    server = await startAuthServer({ AUTH_TOKEN_TTL: "3" });
  });
  after(async () => {
    for (const s of sockets) s.disconnect();
    await server?.stop();
  });

  test("a connected socket gets token_expired and is disconnected when its token expires", T, async () => {
    const { token, expiresAt } = await freshToken(server.url);
    // The recipe's timer sleeps, on the monotonic clock, for the time its connection handler
    // reads as left until `exp` on the wall clock. The test measures on the same footing: `exp`
    // put on the monotonic clock now, so that a step of the wall clock during the wait (a
    // resumed VM, a time daemon) moves neither the timer nor the measure. (A CI run once read
    // the disconnect 10.7 s past `exp` on the wall clock, 2.8 s into this test.)
    const expAt = expiresAt * 1000 - (Date.now() - performance.now());
    const socket = client(server.url, { auth: { token } });
    await next(socket, "connect");
    const expired = next(socket, "token_expired");
    const [reason] = await next(socket, "disconnect");
    const at = performance.now();
    assert.deepEqual((await expired)[0], { code: "token_expired" });
    assert.equal(reason, "io server disconnect");
    // not before the token's exp (a few ms of clock granularity allowed), not long after
    assert.ok(at >= expAt - 20, `disconnected ${Math.round(expAt - at)} ms before exp`);
    assert.ok(at < expAt + 2000, `disconnected ${Math.round(at - expAt)} ms after exp`);
    // the same token is now refused
    assert.deepEqual(await refusal(server.url, { token }), { message: "token expired", data: { code: "token_expired" } });
  });

  test("auth as a function: each reconnection fetches a new token (after a dropped transport and after expiry)", T, async () => {
    const issued = [];
    const auth = (cb) => {
      postToken(server.url, { user: "ada" })
        .then((r) => r.json())
        .then(({ token }) => {
          issued.push(token);
          cb({ token });
        }, () => cb({}));
    };
    const socket = client(server.url, { auth, reconnection: true, reconnectionDelay: 50, reconnectionDelayMax: 100 });
    await next(socket, "connect");
    const first = await socket.timeout(5000).emitWithAck("whoami");
    assert.equal(first.jti, claimsOf(issued[0]).jti);

    // The connection drops (the transport closes): the client reconnects by itself and the
    // auth callback runs again.
    const again = next(socket, "connect");
    socket.io.engine.close();
    await again;
    const second = await socket.timeout(5000).emitWithAck("whoami");
    assert.equal(issued.length, 2);
    assert.equal(second.jti, claimsOf(issued[1]).jti);
    assert.notEqual(second.jti, first.jti);

    // The token expires: the server disconnects ("io server disconnect" is never retried by
    // the client), the app connects again as the recipe's hook does, with a fresh token.
    const [reason] = await next(socket, "disconnect");
    assert.equal(reason, "io server disconnect");
    socket.connect();
    await next(socket, "connect");
    const third = await socket.timeout(5000).emitWithAck("whoami");
    assert.equal(issued.length, 3);
    assert.equal(third.jti, claimsOf(issued[2]).jti);
    assert.ok(third.exp >= second.exp, "the new token expires later");
  });
});
