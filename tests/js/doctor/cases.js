// The doctor test matrix (issue 15): each case names a fixture (./servers.js), the flags given to
// `portico doctor`, and what the doctor must report: the exact set of error/warning finding ids
// (info findings are not part of it) and one key evidence line per finding. The Node tests
// (./*.test.js) run every case; tests/browser/doctor-agreement.test.js runs those with
// `browser` set in real Chromium, with the same client options (`clientOptions`).

import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import {
  ADMIN_REJECTION,
  OTHER_ORIGIN,
  closedPort,
  problems,
  runDoctor,
  startBehindNginx,
  startNodeV2,
  startNodeV4,
  startNoPing,
  startPortico,
  startSilent,
  stopAllFixtures,
} from "./servers.js";

/**
 * What Chromium prints in the console for each browser-visible finding: the key phrase that
 * both the doctor's `browser_console` and the real console line must contain.
 */
export const BROWSER_PHRASES = {
  "cors.missing-allow-origin": "No 'Access-Control-Allow-Origin' header is present on the requested resource",
  "origin.refused": "No 'Access-Control-Allow-Origin' header is present on the requested resource",
  "cors.origin-mismatch": "that is not equal to the supplied origin",
  "cors.wildcard-with-credentials":
    "must not be the wildcard '*' when the request's credentials mode is 'include'",
  "cors.missing-allow-credentials": "which must be 'true' when the request's credentials mode is 'include'",
  "cors.multiple-allow-origin": "header contains multiple values",
  "cors.preflight-failed": "Response to preflight request doesn't pass access control check",
  "websocket.origin-refused": "Unexpected response code: 403",
};

/** A fixture normalised to {url, stop()}. */
const wrap = (f) => ({ url: f.url, stop: () => (f.close ?? f.kill)() });
const nodeV4 = (kind) => async (page) => wrap(await startNodeV4(kind, page));
const portico = (args) => async (page) =>
  wrap(await startPortico(args.map((a) => (a === "$PAGE" ? page : a))));
const nginx = (variant) => async (page) => {
  const f = await startBehindNginx(variant, page);
  return { url: f.url, stop: () => Promise.all([f.front.kill(), ...f.nodes.map((n) => n.kill())]) };
};

// Key evidence: every regex must match one line of the finding's `evidence` ({not: re}: no line
// may match); the doctor writes request lines as "> ...", response lines as "< ...", transport
// failures as "! ...".
const STATUS = (code) => new RegExp(`^< HTTP/1\\.1 ${code}\\b`);
const BODY = (text) => new RegExp(`^< ${text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`);
const ACAO_IS = (value) => new RegExp(`^< access-control-allow-origin: ${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`, "i");
const ACAO_PAGE = /^< access-control-allow-origin: http:\/\/localhost:\d+$/i;
const NO_ACAO = { not: /^< access-control-allow-origin:/i };
const UNSUPPORTED = BODY('{"code":5,"message":"Unsupported protocol version"}');

/**
 * The matrix. `group` picks the test file. `browser` (tests/browser/doctor-agreement.test.js):
 * "fails" — the page must get connect_error with the finding's `client_error`, and Chromium's
 * console must print the finding's `browser_console` sentence; "connects" — the page must
 * connect (healthy, or a warning the client survives); absent — not run in the browser (EIO 3
 * probes, disconnects after connecting). `clientExtra`: more page client options.
 */
export const CASES = [
  // --- Node socket.io 4.8.4 -------------------------------------------------------------------
  { group: "node", name: "node 4.x, no cors option", start: nodeV4("no-cors"),
    expect: { "cors.missing-allow-origin": [STATUS(200), NO_ACAO] }, browser: "fails" },
  { group: "node", name: "node 4.x, cors origin * + credentials, client withCredentials", start: nodeV4("wildcard-credentials"),
    args: ["--credentials"], expect: { "cors.wildcard-with-credentials": [ACAO_IS("*")] }, browser: "fails" },
  { group: "node", name: "node 4.x, cors origin * + credentials, client without credentials", start: nodeV4("wildcard-credentials"),
    expect: {}, browser: "connects" },
  { group: "node", name: "node 4.x, cors origin list without the page", start: nodeV4("origin-list-missing"),
    expect: { "cors.missing-allow-origin": [STATUS(200), NO_ACAO] }, browser: "fails" },
  { group: "node", name: "node 4.x, cors origin another site", start: nodeV4("origin-other"),
    expect: { "cors.origin-mismatch": [ACAO_IS(OTHER_ORIGIN)] }, browser: "fails" },
  { group: "node", name: "node 4.x, custom server path the client does not use", start: nodeV4("custom-path"),
    expect: { "path.not-found": [STATUS(404)] }, browser: "fails" },
  { group: "node", name: "node 4.x, allowEIO3 off, probed with --eio 3", start: nodeV4("eio3-off"),
    args: ["--eio", "3"], expect: { "eio.version-mismatch": [STATUS(400), UNSUPPORTED] } },
  { group: "node", name: "node 4.x, /admin middleware rejects", start: nodeV4("admin-rejects"),
    args: ["--namespace", "/admin"], expect: { "namespace.rejected": [BODY(`44/admin,{"message":"${ADMIN_REJECTION}"}`)] }, browser: "fails" },
  { group: "node", name: "node 4.x, namespace the server does not have", start: nodeV4("correct"),
    args: ["--namespace", "/nope"], expect: { "namespace.invalid": [BODY('44/nope,{"message":"Invalid namespace"}')] }, browser: "fails" },
  { group: "node", name: "node 4.x, polling disabled (transports: websocket), default client", start: nodeV4("websocket-only"),
    expect: { "polling.disabled": [STATUS(400), BODY('{"code":0,"message":"Transport unknown"}')] }, browser: "fails" },
  { group: "node", name: "node 4.x, polling disabled, websocket-only client", start: nodeV4("websocket-only"),
    args: ["--transports", "websocket"], expect: {}, browser: "connects" },
  { group: "node", name: "node 4.x, websocket disabled (transports: polling), default client", start: nodeV4("polling-only"),
    expect: { "websocket.disabled": [/^< 0\{"sid":"[^"]+","upgrades":\[\]/] }, browser: "connects" },
  { group: "node", name: "node 4.x, websocket disabled, websocket-only client", start: nodeV4("polling-only"),
    args: ["--transports", "websocket"], expect: { "websocket.disabled": [/^> Upgrade: websocket$/i, STATUS(400), BODY('{"code":0,"message":"Transport unknown"}')] },
    browser: "fails" },
  { group: "node", name: "node 4.x, correct setup", start: nodeV4("correct"), expect: {}, browser: "connects" },
  { group: "node", name: "node 4.x, correct setup, credentials", start: nodeV4("correct"),
    args: ["--credentials"], expect: {}, browser: "connects" },
  { group: "node", name: "node 2.x (EIO 3 only) probed with EIO 4", start: async () => wrap(await startNodeV2()),
    expect: { "eio.version-mismatch": [/^< \d+:0\{"sid":/] }, browser: "fails" },

  // --- Portico --------------------------------------------------------------------------------
  { group: "portico", name: "portico, no --cors-origin (same origin only)", start: portico([]),
    expect: { "origin.refused": [STATUS(403), BODY('{"code":4,"message":"Forbidden"}')] }, browser: "fails" },
  { group: "portico", name: "portico, --cors-origin of another site", start: portico(["--cors-origin", OTHER_ORIGIN]),
    expect: { "origin.refused": [STATUS(403), BODY('{"code":4,"message":"Forbidden"}')] }, browser: "fails" },
  { group: "portico", name: "portico, same origin only, websocket-only client", start: portico([]),
    args: ["--transports", "websocket"], expect: { "websocket.origin-refused": [/^> Upgrade: websocket$/i, STATUS(403)] }, browser: "fails" },
  { group: "portico", name: "portico, --path the client does not use", start: portico(["--cors-origin", "$PAGE", "--path", "/custom-io/"]),
    expect: { "path.not-found": [STATUS(404)] }, browser: "fails" },
  { group: "portico", name: "portico, allow_eio3 off, probed with --eio 3", start: portico(["--cors-origin", "$PAGE"]),
    args: ["--eio", "3"], expect: { "eio.version-mismatch": [STATUS(400), UNSUPPORTED] } },
  { group: "portico", name: "portico, --allow-eio3, probed with --eio 3", start: portico(["--cors-origin", "$PAGE", "--allow-eio3"]),
    args: ["--eio", "3"], expect: {} },
  { group: "portico", name: "portico, --cors-any-origin, client withCredentials", start: portico(["--cors-any-origin"]),
    args: ["--credentials"], expect: { "cors.wildcard-with-credentials": [ACAO_IS("*")] }, browser: "fails" },
  { group: "portico", name: "portico, --cors-origin without --cors-credentials, client withCredentials", start: portico(["--cors-origin", "$PAGE"]),
    args: ["--credentials"], expect: { "cors.missing-allow-credentials": [ACAO_PAGE] }, browser: "fails" },
  { group: "portico", name: "portico, a request header the policy does not allow (preflight)", start: portico(["--cors-origin", "$PAGE"]),
    args: ["--transports", "polling", "--header", "x-app-token: t"],
    expect: { "cors.preflight-failed": [/^> OPTIONS \/socket\.io\//, /^> Access-Control-Request-Headers: x-app-token$/i, STATUS(403)] }, browser: "fails" },
  { group: "portico", name: "portico, namespace the server does not have", start: portico(["--cors-origin", "$PAGE"]),
    args: ["--namespace", "/admin"], expect: { "namespace.invalid": [BODY('44/admin,{"message":"Invalid namespace"}')] }, browser: "fails" },
  { group: "portico", name: "portico, --cors-origin <page> (right)", start: portico(["--cors-origin", "$PAGE"]),
    expect: {}, browser: "connects" },
  { group: "portico", name: "portico, --cors-origin <page> --cors-credentials, client withCredentials (right)",
    start: portico(["--cors-origin", "$PAGE", "--cors-credentials"]), args: ["--credentials"], expect: {}, browser: "connects" },
  { group: "portico", name: "portico, --cors-allow-header for the client's extra header (right)",
    start: portico(["--cors-origin", "$PAGE", "--cors-allow-header", "x-app-token"]),
    args: ["--transports", "polling", "--header", "x-app-token: t"], expect: {}, browser: "connects" },

  // --- nginx in front of Portico nodes (docs/deployment/nginx.conf, one change each) ------------
  { group: "nginx", name: "nginx without the Upgrade/Connection headers", start: nginx("no-upgrade"),
    expect: { "websocket.proxy-dropped-upgrade": [/^> Upgrade: websocket$/i, STATUS(400), BODY('{"code":3,"message":"Bad request"}')] },
    browser: "connects" },
  { group: "nginx", name: "nginx add_header Access-Control-Allow-Origin * on top of the app's", start: nginx("double-acao"),
    expect: { "cors.multiple-allow-origin": [ACAO_PAGE, ACAO_IS("*")] }, browser: "fails" },
  { group: "nginx", name: "nginx round robin over two nodes (no stickiness)", start: nginx("round-robin"),
    expect: { "sticky.session-unknown": [STATUS(400), BODY('{"code":1,"message":"Session ID unknown"}')] }, browser: "fails" },

  // --- reachability, TLS, heartbeat -----------------------------------------------------------
  { group: "reach", name: "nothing listening (connection refused)", start: async () => ({ url: `http://127.0.0.1:${await closedPort()}`, stop: async () => {} }),
    expect: { "unreachable.refused": [/^! connection refused/i] }, browser: "fails" },
  { group: "reach", name: "a host name that does not resolve", start: async () => ({ url: "http://portico-doctor-test.invalid:3000", stop: async () => {} }),
    expect: { "unreachable.dns": [/^! DNS lookup failed/i] }, browser: "fails" },
  { group: "reach", name: "a server that accepts and never answers", start: async () => wrap(await startSilent()),
    timeoutMs: 500, clientExtra: { timeout: 1000 }, expect: { "unreachable.timeout": [/^! .*no answer within/i] }, browser: "fails" },
  { group: "reach", name: "https:// to a plain HTTP server", start: async (page) => {
    const f = await startNodeV4("correct", page);
    return { url: f.url.replace("http://", "https://"), stop: f.close };
  }, expect: { "tls.error": [/^! TLS handshake failed/i] }, browser: "fails" },
  { group: "reach", name: "a server that never pings (hand-written Engine.IO, polling)", start: async (page) => wrap(await startNoPing(page)),
    args: ["--transports", "polling"], expect: { "heartbeat.missing": [/^< 40\{"sid":/, /^! no answer within/i] } },
];

/** The socket.io-client options (and namespace) that correspond to a case's doctor flags. */
export function clientOptions(args = []) {
  const opts = {};
  let nsp = "/";
  for (let i = 0; i < args.length; i++) {
    const v = args[i + 1];
    switch (args[i]) {
      case "--credentials": opts.withCredentials = true; break;
      case "--transports": opts.transports = v.split(","); i++; break;
      case "--path": opts.path = v; i++; break;
      case "--namespace": nsp = v; i++; break;
      case "--auth": opts.auth = JSON.parse(v); i++; break;
      case "--header": {
        const at = v.indexOf(":");
        opts.extraHeaders = { ...opts.extraHeaders, [v.slice(0, at).trim()]: v.slice(at + 1).trim() };
        i++;
        break;
      }
      case "--eio": throw new Error("the browser bundle speaks EIO 4 only");
      default: throw new Error(`clientOptions: unknown flag ${args[i]}`);
    }
  }
  return { opts, nsp };
}

/** A readable dump of a doctor run for assertion messages. */
export function describeRun(run) {
  return `$ portico ${run.argv.join(" ")}\nexit ${run.code} (${run.ms} ms)\nstdout: ${run.stdout}\nstderr: ${run.stderr}`;
}

/**
 * Asserts a doctor run against a case: JSON version 1, the exact set of error/warning ids,
 * `healthy` and the exit code agreeing with it, and one evidence line matching per finding.
 * Returns the report.
 */
export function assertDoctor(run, c) {
  const report = run.report;
  assert.ok(report, `doctor output is not JSON\n${describeRun(run)}`);
  assert.equal(report.version, 1, describeRun(run));
  const wanted = Object.keys(c.expect).sort();
  const got = [...new Set(problems(report).map((f) => f.id))].sort();
  assert.deepEqual(got, wanted, `error/warning finding ids\n${describeRun(run)}`);
  assert.equal(report.healthy, wanted.length === 0, describeRun(run));
  assert.equal(run.code, wanted.length === 0 ? 0 : 1, `exit code\n${describeRun(run)}`);
  for (const [id, patterns] of Object.entries(c.expect)) {
    const findings = report.findings.filter((f) => f.id === id);
    const lines = findings.flatMap((f) => f.evidence ?? []);
    for (const re of patterns) {
      if (re.not) assert.ok(!lines.some((l) => re.not.test(l)), `${id}: an evidence line matches ${re.not}\n${describeRun(run)}`);
      else assert.ok(lines.some((l) => re.test(l)), `${id}: no evidence line matches ${re}\n${describeRun(run)}`);
    }
    for (const f of findings) {
      for (const key of ["title", "why"]) assert.equal(typeof f[key], "string", `${id}.${key}\n${describeRun(run)}`);
      assert.ok(f.fix && typeof f.fix === "object", `${id}.fix\n${describeRun(run)}`);
    }
  }
  return report;
}

/** The page origin the Node tests claim (nothing is served there: only the Origin matters). */
export const PAGE = "http://localhost:5173";

/**
 * One `describe` with a test per case of `group`: start the case's fixture, run the doctor
 * (bounded by --deadline-ms and a kill after it), assert, stop the fixture. Cases run
 * concurrently: each has its own fixture.
 */
export function doctorSuite(group) {
  describe(`portico doctor --json: ${group}`, { concurrency: true, timeout: 45_000 }, () => {
    after(() => stopAllFixtures());
    for (const c of CASES.filter((k) => k.group === group)) {
      test(c.name, { timeout: 20_000, ...(c.todo ? { todo: c.todo } : {}) }, async () => {
        const fixture = await c.start(PAGE);
        try {
          const run = await runDoctor(fixture.url, PAGE, c.args ?? [], c.timeoutMs ? { timeoutMs: c.timeoutMs } : {});
          assertDoctor(run, c);
        } finally {
          await fixture.stop();
        }
      });
    }
  });
}
