// bench/aggregate.py on synthetic runs (no server, no timing): the echo-mt and broadcast-mt
// sections (current-thread and multi-thread figures, the ratio multi-thread/current-thread) and
// the target "multi-thread runtime (2 workers) within 1.2× of current-thread": PASS within it,
// MISS above it, MISS on any loss, N/A when the cases did not run. And the broadcast target of
// issue 19, judged per repetition: one repetition under 2× socketioxide's rate is a MISS. And the
// floor (bench/peers/floor): a column and a floor/socketioxide ratio in the cases where it ran
// only, and its ratio beside the CPU targets. And the four CPU targets measured above the floor:
// PASS when Portico's CPU above the floor is at most half socketioxide's on all four paths.
// And the attempts bench/run repeated because the hypervisor took too much of the server's core:
// left out of the medians, listed under Runs with their steal, and their loss still a loss.

import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, withTimeout } from "../lib/server.js";

const AGGREGATE = path.join(REPO_ROOT, "bench/aggregate.py");
const TARGET = "multi-thread runtime (2 workers) within 1.2× of current-thread: CPU per message and per delivery";
const dirs = [];

after(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** One run's JSON as `portico bench --json` writes it (the fields aggregate.py reads). */
function doc(scenario, { cpu, received, expected, rate = 4e6 }) {
  const metrics =
    scenario === "polling" || scenario === "connect"
      ? [[scenario === "polling" ? "server CPU per request" : "server CPU per handshake", cpu]]
      : scenario === "echo"
      ? [
          ["achieved rate", 30000],
          ["round trip p50", 0.3],
          ["round trip p99", 0.9],
          ["round trip max", 4],
          ["server CPU per message", cpu],
        ]
      : [
          ["deliveries/s", rate],
          ["time to last delivery", 250],
          ["server CPU per delivery", cpu],
        ];
  return {
    scenario,
    received,
    expected,
    failures: 0,
    ok: received === expected,
    phases: [
      {
        name: `${scenario} (websocket)`,
        metrics: metrics.map(([name, value]) => ({ name, value, unit: "" })),
        usage: { client_cores: 0.5, steal_ms: 0, server_rss_kb_after: 20000 },
        received,
        expected,
        failures: 0,
      },
    ],
    warnings: [],
  };
}

/**
 * Runs aggregate.py on a work directory with `runs`: [{case, rep, server, cpu, received?,
 * attempt?, repeated?, steal?}] (echo cases expect 300,000 messages, broadcast ones 1,000,000
 * deliveries; `steal`: ms of the server's core the hypervisor took in the run's 10,000 ms).
 * Resolves with {md, json, target} (`target`: the multi-thread row of the JSON).
 */
async function aggregate(cases, runs, servers = ["portico"]) {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "portico-aggregate-"));
  dirs.push(work);
  const meta = { date_utc: "test", quick: false, repetitions: 2, servers, cases, versions: {}, settings: {}, params: {} };
  fs.writeFileSync(path.join(work, "meta.json"), JSON.stringify(meta));
  const lines = runs.map((r) => {
    const scenario = r.case.startsWith("echo")
      ? "echo"
      : r.case === "polling"
        ? "polling"
        : r.case.startsWith("connect")
          ? "connect"
          : "broadcast";
    const expected = scenario === "echo" ? 300_000 : 1_000_000;
    const attempt = r.attempt ?? 1;
    const file = `${r.case}-${r.rep}-${r.server}${attempt > 1 ? `-attempt${attempt}` : ""}.json`;
    fs.writeFileSync(path.join(work, file), JSON.stringify(doc(scenario, { cpu: r.cpu, rate: r.rate, received: r.received ?? expected, expected })));
    return JSON.stringify({
      case: r.case, rep: r.rep, server: r.server, exit_code: 0, wall_s: 20,
      listen_overflows_before: "0", listen_overflows_after: "0", server_alive_at_end: true, json: file,
      attempt, server_core_steal_ms: r.steal ?? 0, run_ms: 10_000, max_steal_percent: 2,
      repeated: r.repeated ?? false,
    });
  });
  fs.writeFileSync(path.join(work, "runs.jsonl"), lines.join("\n") + "\n");
  const md = path.join(work, "out.md");
  const json = path.join(work, "out.json");
  const child = spawn("python3", [AGGREGATE, "--work", work, "--md", md, "--json", json], { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
  const code = await withTimeout(
    new Promise((resolve, reject) => {
      child.once("error", (e) => reject(new Error(`cannot run python3 (${e.message}): bench/aggregate.py needs it`)));
      child.once("exit", resolve);
    }),
    10_000,
    "bench/aggregate.py",
  );
  assert.equal(code, 0, stderr);
  const out = JSON.parse(fs.readFileSync(json, "utf8"));
  const target = out.targets.find((t) => t.target === TARGET);
  assert.ok(target, `no target row "${TARGET}" in ${JSON.stringify(out.targets)}`);
  return { md: fs.readFileSync(md, "utf8"), json: out, target };
}

/** Two repetitions of both -mt cases: CPU per message and per delivery, current-thread then multi-thread. */
function mtRuns({ echo: [echoCt, echoMt], broadcast: [bcCt, bcMt] }, lossy = {}) {
  const runs = [];
  for (const rep of [1, 2]) {
    runs.push({ case: "echo-mt", rep, server: "portico", cpu: echoCt[rep - 1] });
    runs.push({ case: "echo-mt", rep, server: "portico-mt2", cpu: echoMt[rep - 1] });
    runs.push({ case: "broadcast-mt", rep, server: "portico", cpu: bcCt[rep - 1] });
    runs.push({ case: "broadcast-mt", rep, server: "portico-mt2", cpu: bcMt[rep - 1], received: lossy[rep] });
  }
  return runs;
}

test("within 1.2× on both: PASS, with both figures and the ratios in their own sections", { timeout: 20_000 }, async () => {
  const { md, json, target } = await aggregate(
    ["echo-mt", "broadcast-mt"],
    mtRuns({ echo: [[7.9, 8.1], [9.0, 9.4]], broadcast: [[0.1, 0.1], [0.11, 0.11]] }),
  );
  assert.equal(target.status, "PASS", JSON.stringify(target));
  assert.match(target.figures, /server CPU per message 1\.15× \(9\.20 vs 8\.00 µs\)/);
  assert.match(target.figures, /server CPU per delivery 1\.10× \(0\.110 vs 0\.100 µs\)/);
  const ratios = json.ratios["echo-mt"]["multi-thread/current-thread"];
  assert.ok(Math.abs(ratios.cpu_op - 1.15) < 1e-9, JSON.stringify(ratios));
  assert.ok(Math.abs(json.ratios["broadcast-mt"]["multi-thread/current-thread"].cpu_op - 1.1) < 1e-9);
  assert.equal(json.summary["echo-mt"]["portico-mt2"].valid, 2);
  for (const [kase, row] of [
    ["echo-mt", "| **server CPU per message (µs)** | 8.00 (7.90–8.10) | 9.20 (9.00–9.40) | 1.15× ↓ |"],
    ["broadcast-mt", "| **server CPU per delivery (µs)** | 0.100 | 0.110 | 1.10× ↓ |"],
  ]) {
    assert.match(md, new RegExp(`^## ${kase}: Portico on tokio's multi-thread runtime \\(2 workers\\) vs current-thread$`, "m"));
    assert.ok(md.includes(row), `${kase}: no row ${row}\n${md}`);
  }
  assert.ok(md.includes("| received / expected (valid runs) | 600,000 / 600,000 | 600,000 / 600,000 | |"), md);
  assert.ok(md.includes(`| ${TARGET} | **PASS** |`), md);
});

test("above 1.2× on either figure: MISS", { timeout: 20_000 }, async () => {
  const { target } = await aggregate(
    ["echo-mt", "broadcast-mt"],
    mtRuns({ echo: [[8, 8], [8.8, 8.8]], broadcast: [[0.1, 0.1], [0.13, 0.13]] }),
  );
  assert.equal(target.status, "MISS", JSON.stringify(target));
  assert.match(target.figures, /per message 1\.10×.*per delivery 1\.30×/);
});

test("a lost delivery is a MISS however good the ratios, and the section says LOSS", { timeout: 20_000 }, async () => {
  const { md, target } = await aggregate(
    ["echo-mt", "broadcast-mt"],
    mtRuns({ echo: [[8, 8], [8, 8]], broadcast: [[0.1, 0.1], [0.1, 0.1]] }, { 2: 999_999 }),
  );
  assert.equal(target.status, "MISS", JSON.stringify(target));
  assert.match(target.note, /portico-mt2 lost messages in broadcast-mt \(1,999,999 \/ 2,000,000 received\)/);
  assert.ok(md.includes("| 2,000,000 / 2,000,000 | 1,999,999 / 2,000,000 **LOSS** | |"), md);
});

test("the -mt cases not run: N/A", { timeout: 20_000 }, async () => {
  const { target } = await aggregate(["echo"], [{ case: "echo", rep: 1, server: "portico", cpu: 8 }]);
  assert.equal(target.status, "N/A", JSON.stringify(target));
  assert.match(target.note, /did not run echo-mt/);
});

const BROADCAST_TARGET =
  "broadcast ≥ 2× socketioxide's deliveries/s in every repetition, CPU per delivery ≤ 0.25×";

/** Broadcast runs of Portico and socketioxide: [[portico rate, socketioxide rate], ...] by repetition. */
function broadcastRuns(rates, [cpuPortico, cpuPeer]) {
  return rates.flatMap(([p, x], i) => [
    { case: "broadcast", rep: i + 1, server: "portico", cpu: cpuPortico, rate: p },
    { case: "broadcast", rep: i + 1, server: "socketioxide", cpu: cpuPeer, rate: x },
  ]);
}

test("broadcast: 2× in every repetition and CPU ≤ 0.25× is a PASS; one repetition under 2× is a MISS", { timeout: 20_000 }, async () => {
  const pass = await aggregate(["broadcast"], broadcastRuns([[5e6, 2.4e6], [4.9e6, 2.4e6], [5.2e6, 2.5e6]], [0.1, 0.41]));
  const row = pass.json.targets.find((t) => t.target === BROADCAST_TARGET);
  assert.equal(row.status, "PASS", JSON.stringify(row));
  assert.match(row.figures, /deliveries\/s 2\.08×, 2\.04×, 2\.08× \(by repetition\); server CPU per delivery 0\.24×/);
  // The medians (4.9 M/s vs 2.4 M/s) would pass; the second repetition (1.9×) does not.
  const miss = await aggregate(["broadcast"], broadcastRuns([[5e6, 2.4e6], [4.6e6, 2.42e6], [4.9e6, 2.4e6]], [0.1, 0.41]));
  const row2 = miss.json.targets.find((t) => t.target === BROADCAST_TARGET);
  assert.equal(row2.status, "MISS", JSON.stringify(row2));
  assert.match(row2.figures, /2\.08×, 1\.90×, 2\.04×/);
});

test("the floor: its column and floor/socketioxide ratio where it ran, and its ratio beside the echo target", { timeout: 20_000 }, async () => {
  const runs = [];
  for (const rep of [1, 2]) {
    runs.push({ case: "echo", rep, server: "portico", cpu: 8 });
    runs.push({ case: "echo", rep, server: "socketioxide", cpu: 12 });
    runs.push({ case: "echo", rep, server: "floor", cpu: 7.8 });
    runs.push({ case: "broadcast", rep, server: "portico", cpu: 0.1, rate: 5e6 });
    runs.push({ case: "broadcast", rep, server: "socketioxide", cpu: 0.4, rate: 2.4e6 });
  }
  const { md, json } = await aggregate(["echo", "broadcast"], runs, ["portico", "socketioxide", "node", "floor"]);
  const echo = json.targets.find((t) => t.target === "echo: server CPU per message ≤ 0.6× socketioxide, p99 ≤ 1 ms");
  assert.equal(echo.status, "MISS", JSON.stringify(echo));
  assert.match(echo.figures, /CPU per message 0\.67× socketioxide's/);
  assert.match(echo.note, /the floor \(the same system calls, no Socket\.IO work\): 0\.65× socketioxide's \(7\.80 µs\), over the 0\.6× target; above the floor, Portico 0\.200 µs vs socketioxide 4\.20 µs \(0\.05×\); the floor's own p99 0\.90 ms \(0\.90–0\.90\): the tail this machine gives a server that does no work$/);
  assert.ok(Math.abs(json.ratios.echo["floor/socketioxide"].cpu_op - 0.65) < 1e-9, JSON.stringify(json.ratios.echo));
  assert.equal(json.ratios.broadcast["floor/socketioxide"], undefined);
  const section = (name) => md.split(`\n## ${name}\n`)[1].split("\n## ")[0];
  assert.match(section("echo"), /^\| metric \| portico \| socketioxide \| node \| floor \| portico\/socketioxide \| portico\/node \| floor\/socketioxide \|$/m);
  assert.match(section("echo"), /^\| server CPU per message \(µs\) \| 8\.00 \| 12\.0 \| – \| 7\.80 \| 0\.67× ↓ \| – \| 0\.65× ↓ \|$/m);
  assert.match(section("broadcast"), /^\| metric \| portico \| socketioxide \| node \| portico\/socketioxide \| portico\/node \|$/m);
});

const ABOVE_FLOOR =
  "CPU above the floor ≤ 0.5× socketioxide's: polling, WebSocket handshake, polling + upgrade, echo";

/** Two repetitions of the four floor cases, CPU per operation of [portico, socketioxide, floor]. */
function floorRuns(cpus) {
  const runs = [];
  for (const rep of [1, 2]) {
    for (const [kase, [portico, socketioxide, floor]] of Object.entries(cpus)) {
      runs.push({ case: kase, rep, server: "portico", cpu: portico });
      runs.push({ case: kase, rep, server: "socketioxide", cpu: socketioxide });
      runs.push({ case: kase, rep, server: "floor", cpu: floor });
    }
  }
  return runs;
}

test("CPU above the floor: each path's ratio, PASS at most 0.5× on all four, MISS over it on one, N/A without the floor", { timeout: 30_000 }, async () => {
  const cases = ["polling", "connect-websocket", "connect-upgrade", "echo"];
  const servers = ["portico", "socketioxide", "node", "floor"];
  const cpus = {
    polling: [30, 46, 23],
    "connect-websocket": [38, 51, 32],
    "connect-upgrade": [84, 101, 75],
    echo: [8.8, 14.1, 8.06],
  };
  const pass = await aggregate(cases, floorRuns(cpus), servers);
  const row = pass.json.targets.find((t) => t.target === ABOVE_FLOOR);
  assert.equal(row.status, "PASS", JSON.stringify(row));
  assert.equal(row.figures, "polling 0.30×; WebSocket handshake 0.32×; polling + upgrade 0.35×; echo 0.12×");
  assert.equal(row.note, "the floor's own CPU / socketioxide's: polling 0.50×, WebSocket handshake 0.63×, polling + upgrade 0.74×, echo 0.57×");
  // The raw target of polling + upgrade misses on these figures (0.83×): the floor is over it.
  const raw = pass.json.targets.find((t) => t.target === "polling + upgrade: server CPU per handshake ≤ 0.7× socketioxide");
  assert.equal(raw.status, "MISS", JSON.stringify(raw));

  const miss = await aggregate(cases, floorRuns({ ...cpus, "connect-upgrade": [90, 101, 75] }), servers);
  const missed = miss.json.targets.find((t) => t.target === ABOVE_FLOOR);
  assert.equal(missed.status, "MISS", JSON.stringify(missed));
  assert.match(missed.figures, /polling \+ upgrade 0\.58×/);

  const { floor: _floor, ...withoutFloor } = Object.fromEntries(servers.map((s) => [s, s]));
  const none = await aggregate(cases, floorRuns(cpus).filter((r) => r.server !== "floor"), Object.keys(withoutFloor));
  const na = none.json.targets.find((t) => t.target === ABOVE_FLOOR);
  assert.equal(na.status, "N/A", JSON.stringify(na));
});

const POLLING_TARGET = "polling: server CPU per HTTP request ≤ 0.7× socketioxide";

test("an attempt repeated for the hypervisor's steal is left out of the medians and listed under Runs", { timeout: 20_000 }, async () => {
  const { md, json } = await aggregate(["polling"], [
    // Repetition 1 of Portico ran twice: the first attempt lost 3 s of its core.
    { case: "polling", rep: 1, server: "portico", cpu: 90, steal: 3050, repeated: true },
    { case: "polling", rep: 1, server: "portico", cpu: 40, steal: 20, attempt: 2 },
    { case: "polling", rep: 1, server: "socketioxide", cpu: 60, steal: 30 },
    { case: "polling", rep: 2, server: "portico", cpu: 42, steal: 10 },
    { case: "polling", rep: 2, server: "socketioxide", cpu: 62, steal: 0 },
  ], ["portico", "socketioxide"]);
  const e = json.summary.polling.portico;
  assert.equal(e.runs, 3);
  assert.equal(e.valid, 2);
  assert.equal(e.metrics.cpu_req.median, 41, JSON.stringify(e.metrics.cpu_req));
  assert.deepEqual(e.repeated, [{ rep: 1, attempt: 1, server_core_steal_ms: 3050, run_ms: 10_000, max_steal_percent: 2 }]);
  const row = json.targets.find((t) => t.target === POLLING_TARGET);
  assert.equal(row.status, "PASS", JSON.stringify(row));
  assert.match(row.figures, /0\.67× \(41\.0 vs 61\.0 µs per request\)/);
  assert.ok(md.includes("| valid runs | 2 of 3 | 2 of 2 |"), md);
  assert.match(md, /- portico: 1 attempt\(s\) repeated, the hypervisor having taken more than 2% of the server's core \(3,050 ms of 10,000\)/);
  assert.ok(!md.includes("invalid run(s): repeated"), md);
  assert.ok(md.includes("| polling | 1 | portico | 0 | 1000000 / 1000000 | 3,050 ms of 10,000 (30.5%) | no: repeated:"), md);
  assert.ok(md.includes("| polling | 1, attempt 2 | portico | 0 | 1000000 / 1000000 | 20 ms of 10,000 (0.2%) | yes |"), md);
  const runs = json.runs.filter((r) => r.server === "portico" && r.rep === 1);
  assert.deepEqual(runs.map((r) => [r.attempt, r.repeated, r.server_core_steal_ms]), [[1, true, 3050], [2, false, 20]]);
});

test("a repeated attempt that lost messages is still a loss", { timeout: 20_000 }, async () => {
  const { md, json } = await aggregate(["polling"], [
    { case: "polling", rep: 1, server: "portico", cpu: 40, steal: 900, repeated: true, received: 999_999 },
    { case: "polling", rep: 1, server: "portico", cpu: 40, attempt: 2 },
    { case: "polling", rep: 1, server: "socketioxide", cpu: 60 },
  ], ["portico", "socketioxide"]);
  assert.equal(json.summary.polling.portico.lossy_runs, 1);
  // As for a loss in a run that counts: the target is not met, and the note says why.
  const row = json.targets.find((t) => t.target === POLLING_TARGET);
  assert.notEqual(row.status, "PASS", JSON.stringify(row));
  assert.match(row.note, /portico lost messages in 1 polling run\(s\)/);
  assert.match(md, /\*\*LOSS\*\*/);
});
