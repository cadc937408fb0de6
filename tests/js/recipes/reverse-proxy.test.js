// Recipe "reverse proxy" (examples/reverse-proxy, docs/recipes/reverse-proxy.md): the recipe's
// server behind a real nginx and a real Caddy (Debian's packages), each run from the recipe's
// own config file. The client connects from 127.0.0.2 and the proxy from 127.0.0.1, so "the
// address the server saw" tells the client's address from the proxy's.

import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { io } from "socket.io-client";
import WebSocket from "ws";
import { once, withTimeout } from "../lib/server.js";
import {
  CLIENT_ADDRESS,
  clientAgent,
  headerLines,
  replaceOnce,
  request,
  startApp,
  startRecipeCaddy,
  startRecipeNginx,
  stopAll,
  NGINX_FILE,
  CADDY_FILE,
} from "./reverse-proxy-lib.js";
import { brokenLinks, rustPiecesMissing } from "./recipes-docs-lib.js";

const DEV_ORIGIN = "http://localhost:5173";
const HANDSHAKE = "/socket.io/?EIO=4&transport=polling";

after(stopAll);

/** A socket.io-client from CLIENT_ADDRESS; resolves with {socket, whoami} once connected. */
async function connect(url, opts = {}) {
  const agent = clientAgent();
  const socket = io(url, { agent, localAddress: CLIENT_ADDRESS, reconnection: false, forceNew: true, ...opts });
  const whoami = once(socket, "whoami", 5000);
  await withTimeout(
    new Promise((resolve, reject) => {
      socket.once("connect", resolve);
      socket.once("connect_error", (err) => reject(new Error(`connect_error: ${err.message} ${err.description?.message ?? ""}`)));
    }),
    5000,
    "connect",
  );
  return { socket, whoami: (await whoami)[0], close: () => socket.disconnect() };
}

/** A raw WebSocket handshake from CLIENT_ADDRESS: resolves "open" or the HTTP status refused. */
function wsAttempt(url, headers = {}) {
  return withTimeout(
    new Promise((resolve) => {
      const ws = new WebSocket(url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket", { headers, localAddress: CLIENT_ADDRESS });
      ws.once("open", () => {
        ws.close();
        resolve("open");
      });
      ws.once("unexpected-response", (_req, res) => {
        resolve(res.statusCode);
        res.resume();
      });
      ws.once("error", (err) => resolve(`error: ${err.message}`));
    }),
    5000,
    "WebSocket handshake",
  );
}

const PROXIES = {
  nginx: {
    file: NGINX_FILE,
    start: startRecipeNginx,
    // The proxy sends the upstream's address as Host, as nginx does without a Host line.
    rewriteHost: (s) => replaceOnce(s, "proxy_set_header Host $http_host;", "proxy_set_header Host $proxy_host;", NGINX_FILE),
  },
  caddy: {
    file: CADDY_FILE,
    start: startRecipeCaddy,
    rewriteHost: (s) => replaceOnce(s, "flush_interval -1\n", "flush_interval -1\n\t\theader_up Host {upstream_hostport}\n", CADDY_FILE),
  },
};

for (const [name, proxy] of Object.entries(PROXIES)) {
  describe(`reverse proxy: ${name} (${proxy.file})`, () => {
    let app;
    let front;
    before(async () => {
      app = await startApp({ TRUSTED_PROXIES: "127.0.0.1", ALLOWED_ORIGINS: DEV_ORIGIN });
      front = await proxy.start(app.port);
    });
    after(async () => {
      await front?.kill();
      await app?.kill();
    });

    test("the polling handshake goes through", async () => {
      const res = await request(front.url + HANDSHAKE);
      assert.equal(res.status, 200, res.body);
      assert.match(res.body, /^0\{"sid":"[^"]+","upgrades":\["websocket"\]/);
    });

    test("a client upgrades from polling to WebSocket through the proxy", async () => {
      const { socket, close } = await connect(front.url);
      try {
        if (socket.io.engine.transport.name !== "websocket") await once(socket.io.engine, "upgrade", 5000);
        assert.equal(socket.io.engine.transport.name, "websocket");
        assert.equal(await socket.timeout(5000).emitWithAck("echo", "over ws"), "over ws");
      } finally {
        close();
      }
    });

    test("a WebSocket-only client connects through the proxy", async () => {
      const { socket, close } = await connect(front.url, { transports: ["websocket"] });
      try {
        assert.equal(socket.io.engine.transport.name, "websocket");
      } finally {
        close();
      }
    });

    test("handshake.address is the client's (X-Forwarded-For from the trusted proxy), over polling and WebSocket", async () => {
      for (const transports of [["polling"], ["websocket"]]) {
        const { whoami, close } = await connect(front.url, { transports });
        close();
        assert.equal(whoami.address, CLIENT_ADDRESS, `${transports}: ${JSON.stringify(whoami)}`);
        assert.equal(whoami.forwardedFor, CLIENT_ADDRESS, JSON.stringify(whoami));
      }
    });

    test("an allowed cross-origin request gets exactly one Access-Control-Allow-Origin", async () => {
      const res = await request(front.url + HANDSHAKE, { headers: { Origin: DEV_ORIGIN } });
      assert.equal(res.status, 200, res.body);
      assert.deepEqual(headerLines(res.rawHeaders, "access-control-allow-origin"), [DEV_ORIGIN]);
    });

    test("the page's own origin passes the same-origin check even when the proxy rewrites Host (X-Forwarded-Host)", async () => {
      const rewritten = await proxy.start(app.port, proxy.rewriteHost);
      try {
        const res = await request(rewritten.url + HANDSHAKE, { headers: { Origin: rewritten.url } });
        assert.equal(res.status, 200, res.body);
        assert.equal(await wsAttempt(rewritten.url, { Origin: rewritten.url }), "open");
      } finally {
        await rewritten.kill();
      }
    });

    test("without the trusted-proxy setting: the proxy's address, and the own page refused when Host is rewritten", async () => {
      const untrusted = await startApp({ TRUSTED_PROXIES: "none" });
      const plain = await proxy.start(untrusted.port);
      const rewritten = await proxy.start(untrusted.port, proxy.rewriteHost);
      try {
        const { whoami, close } = await connect(plain.url, { transports: ["polling"] });
        close();
        assert.equal(whoami.address, "127.0.0.1", JSON.stringify(whoami));
        const res = await request(rewritten.url + HANDSHAKE, { headers: { Origin: rewritten.url } });
        assert.equal(res.status, 403);
        assert.equal(res.body, '{"code":4,"message":"Forbidden"}');
        assert.equal(await wsAttempt(rewritten.url, { Origin: rewritten.url }), 403);
      } finally {
        await Promise.all([plain.kill(), rewritten.kill()]);
        await untrusted.kill();
      }
    });

    test("a long-poll held longer than the proxy's default read timeout is answered (the heartbeat's ping)", { timeout: 20_000 }, async () => {
      // Ping every 2.5 s: the first GET after the handshake waits that long for the ping.
      const slow = await startApp({ PING_INTERVAL_MS: "2500", PING_TIMEOUT_MS: "5000" });
      const front2 = await proxy.start(slow.port);
      try {
        const hs = await request(front2.url + HANDSHAKE);
        const sid = JSON.parse(hs.body.slice(1)).sid;
        const poll = await request(`${front2.url}${HANDSHAKE}&sid=${sid}`);
        assert.equal(poll.status, 200, poll.body);
        assert.equal(poll.body, "2");
      } finally {
        await front2.kill();
        await slow.kill();
      }
    });
  });
}

describe("reverse proxy: nginx failure cases (one line of the recipe changed)", () => {
  let app;
  before(async () => {
    app = await startApp({ ALLOWED_ORIGINS: DEV_ORIGIN, PING_INTERVAL_MS: "2500", PING_TIMEOUT_MS: "5000" });
  });
  after(() => app?.kill());

  test("without the Upgrade/Connection lines the WebSocket handshake gets 400; polling still works", async () => {
    const edit = (s) => {
      s = replaceOnce(s, "        proxy_set_header Upgrade $http_upgrade;\n", "", NGINX_FILE);
      return replaceOnce(s, "        proxy_set_header Connection $connection_upgrade;\n", "", NGINX_FILE);
    };
    const front = await startRecipeNginx(app.port, edit);
    try {
      assert.equal(await wsAttempt(front.url), 400);
      assert.equal((await request(front.url + HANDSHAKE)).status, 200);
    } finally {
      await front.kill();
    }
  });

  test("a CORS header added in the proxy is a second Access-Control-Allow-Origin", async () => {
    const edit = (s) => replaceOnce(s, "        proxy_buffering off;\n", "        proxy_buffering off;\n        add_header Access-Control-Allow-Origin * always;\n", NGINX_FILE);
    const front = await startRecipeNginx(app.port, edit);
    try {
      const res = await request(front.url + HANDSHAKE, { headers: { Origin: DEV_ORIGIN } });
      assert.deepEqual(headerLines(res.rawHeaders, "access-control-allow-origin"), [DEV_ORIGIN, "*"]);
    } finally {
      await front.kill();
    }
  });

  test("a read timeout shorter than pingInterval cuts the long-poll: 504", { timeout: 20_000 }, async () => {
    const edit = (s) => replaceOnce(s, "proxy_read_timeout 75s;", "proxy_read_timeout 1s;", NGINX_FILE);
    const front = await startRecipeNginx(app.port, edit);
    try {
      const hs = await request(front.url + HANDSHAKE);
      const sid = JSON.parse(hs.body.slice(1)).sid;
      const poll = await request(`${front.url}${HANDSHAKE}&sid=${sid}`);
      assert.equal(poll.status, 504, poll.body);
    } finally {
      await front.kill();
    }
  });
});

test("docs/recipes/reverse-proxy.md: its Rust code is examples/reverse-proxy/src/main.rs's, its links resolve", () => {
  assert.deepEqual(rustPiecesMissing("docs/recipes/reverse-proxy.md", "examples/reverse-proxy/src/main.rs"), []);
  assert.deepEqual(brokenLinks("docs/recipes/reverse-proxy.md"), []);
});
