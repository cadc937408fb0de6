// The README's whole app, crates/portico/examples/axum_chat.rs, run for real: static files,
// the client bundle and an axum route beside Socket.IO on one port; the chat's app state
// (history) and per-socket state (nickname); a graceful stop on SIGTERM.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import path from "node:path";
import { REPO_ROOT, once as onceArgs, withTimeout } from "../lib/server.js";
import { Clients } from "../lib/client.js";

const BIN = process.env.PORTICO_EXAMPLES_DIR
  ? path.join(process.env.PORTICO_EXAMPLES_DIR, "axum_chat")
  : path.join(REPO_ROOT, "target/debug/examples/axum_chat");

/** The first argument of the next `event`. */
const once = async (emitter, event) => (await onceArgs(emitter, event))[0];

let child;
after(() => child?.kill("SIGKILL"));

test("examples/axum_chat: page, bundle, route and chat on one port; state and nicknames; SIGTERM", { timeout: 30_000 }, async () => {
  const env = { ...process.env };
  delete env.RUST_LOG; // the default subscriber's default filter
  child = spawn(BIN, ["--port", "0"], { env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  const exit = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));
  const listening = await withTimeout(
    new Promise((resolve, reject) => {
      child.stderr.on("data", (d) => {
        stderr += d;
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)\/socket\.io\//.exec(stderr);
        if (m) resolve(m[1]);
      });
      exit.then(({ code }) => reject(new Error(`axum_chat exited (${code}):\n${stderr}`)));
    }),
    10_000,
    "the example's listening line",
  );
  assert.doesNotMatch(stderr, /\x1b\[/, "no colours on a pipe");

  const page = await fetch(`${listening}/`);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<script src="\/socket\.io\/socket\.io\.min\.js"><\/script>/);
  const bundle = await fetch(`${listening}/socket.io/socket.io.min.js`);
  assert.equal(bundle.status, 200);
  assert.match(bundle.headers.get("content-type"), /javascript/);
  await bundle.arrayBuffer();
  assert.deepEqual(await (await fetch(`${listening}/api/stats`)).json(), { messages: 0 });

  const clients = new Clients(listening);
  try {
    const ada = clients.socket("/", { auth: { nick: "ada" } });
    const adaHistory = once(ada, "history");
    await once(ada, "connect");
    assert.deepEqual(await adaHistory, []);
    const bob = clients.socket("/", { auth: { nick: "bob" } });
    await once(bob, "connect");

    const bobGets = once(bob, "chat");
    const adaGets = once(ada, "chat");
    assert.equal(await ada.timeout(3000).emitWithAck("chat", "hi"), 1);
    assert.deepEqual(await bobGets, { from: "ada", text: "hi" });
    assert.deepEqual(await adaGets, { from: "ada", text: "hi" }, "the sender gets its own message");
    assert.deepEqual(await (await fetch(`${listening}/api/stats`)).json(), { messages: 1 });

    const late = clients.socket("/");
    const lateHistory = once(late, "history");
    await once(late, "connect");
    assert.deepEqual(await lateHistory, [{ from: "ada", text: "hi" }], "history is the app state, shared");

    const left = onceArgs(bob, "left"); // a tuple is several arguments
    ada.disconnect();
    assert.deepEqual(await left, ["ada", "client namespace disconnect"], "the nickname is per-socket state");
  } finally {
    clients.closeAll();
  }

  child.kill("SIGTERM");
  const { code } = await withTimeout(exit, 15_000, "exit after SIGTERM");
  assert.equal(code, 0, stderr);
  assert.match(stderr, /SIGTERM received: shutting down gracefully/);
  assert.equal(stderr.match(/shutting down: \d+ sessions/g)?.length, 1, stderr);
});
