//! `portico bench`: a load generator on the project's own client ([`portico_client`]).
//!
//! Scenarios: `connect` (handshakes per second), `idle` (server RSS per idle WebSocket, as
//! the slope between stages), `echo` (round trips at a fixed aggregate rate), `broadcast`
//! (deliveries per second of a room emit, received vs expected), `cluster` (the same room
//! emit across the nodes of a cluster on Redis), `polling` (echo over polling-only clients,
//! HTTP requests per second), and `smoke` (a few connections for a second, for CI). Loopback only, every count and wait bounded. Method:
//! `shared/BENCH-METHOD.md`; the server side of the protocol:
//! `server.rs` (`portico bench serve`).

mod broadcast;
mod cluster;
mod connect;
mod echo;
mod idle;
mod measure;
mod pool;
mod progress;
mod report;
mod server;
mod smoke;

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context as _};
use clap::{Args as ClapArgs, ValueEnum};
use portico_client::{ClientConfig, Transport};

use measure::Probe;
use report::Report;

/// Most connections one run opens at once (ephemeral ports of one client IP).
const MAX_CLIENTS: usize = 10_000;
/// Longest duration of one phase, in seconds.
const MAX_DURATION_S: u64 = 120;
/// Most handshakes in flight.
const MAX_IN_FLIGHT: usize = 1000;
/// Highest aggregate message rate, per second.
const MAX_RATE: f64 = 1_000_000.0;
/// Finest and coarsest `--pace`, in microseconds.
const MIN_PACE_US: u64 = 50;
const MAX_PACE_US: u64 = 1000;
/// Most events one broadcast may ask for.
const MAX_EMITS: u32 = 100_000;
/// Largest payload, in bytes.
const MAX_SIZE: usize = 1 << 20;
/// Most nodes of a `cluster` run.
const MAX_NODES: usize = 16;
/// Most worker threads of `serve --workers`.
const MAX_WORKERS: u16 = 64;

/// Arguments of `portico bench`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct BenchArgs {
    /// What to measure.
    #[arg(value_enum)]
    scenario: Scenario,
    /// The server, e.g. http://127.0.0.1:3000 (loopback only). `smoke` without it starts an
    /// in-process Portico bench server. `cluster` takes one per node (repeated or
    /// comma-separated); the first node's first client triggers the broadcast.
    #[arg(long, value_delimiter = ',')]
    url: Vec<String>,
    /// The Engine.IO path.
    #[arg(long, default_value = "/socket.io/")]
    path: String,
    /// Number of clients (echo, broadcast, polling: default 100; connect: a cap on the
    /// handshakes per transport). At most 10000.
    #[arg(long)]
    clients: Option<usize>,
    /// Aggregate message rate of echo/polling, messages per second (default 10000 for echo,
    /// 1000 for polling).
    #[arg(long)]
    rate: Option<f64>,
    /// Seconds to send for (connect: 5, echo/polling: 10) or to wait for deliveries
    /// (broadcast: 30). At most 120.
    #[arg(long)]
    duration: Option<u64>,
    /// Echo/polling: send in steps of this many microseconds, from a pacer thread (50 to
    /// 1000). Without it the steps are tokio's timer's, 1 ms: at 30k msg/s, 30 sends at once.
    #[arg(long, value_name = "MICROS")]
    pace: Option<u64>,
    /// Events per broadcast.
    #[arg(long, default_value_t = 100)]
    emits: u32,
    /// Cluster: events of the unmeasured broadcast that must reach every client before the
    /// measured one (proves every node is subscribed; more warms the servers up).
    #[arg(long, default_value_t = 1)]
    ready_emits: u32,
    /// Payload size in characters (echo payload, broadcast event string).
    #[arg(long, default_value_t = 16)]
    size: usize,
    /// Transport (connect without it runs websocket and upgrade).
    #[arg(long, value_enum)]
    transport: Option<TransportArg>,
    /// Connection counts of the idle stages, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,5000,10000")]
    stages: Vec<usize>,
    /// Most handshakes in flight at once. At most 1000.
    #[arg(long, default_value_t = 50)]
    in_flight: usize,
    /// A header the clients send on every request, `Name: value` (repeatable): a browser's,
    /// say, to measure what a server spends on them (`bench/profile --browser-headers`). The
    /// report's parameters list them. Default none.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// The server's pid, to read its CPU and RSS from /proc. `cluster`: one per node (repeated
    /// or comma-separated); CPU and RSS are summed over them.
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Cluster: the Redis server's pid, to report its CPU separately (not in the server CPU).
    #[arg(long)]
    redis_pid: Option<u32>,
    /// With `serve`: be one node of a cluster on this Redis (e.g. redis://127.0.0.1:6379).
    #[arg(long, value_name = "URL")]
    redis: Option<String>,
    /// With `serve --redis`: the channel prefix (Node's `key`), so that clusters sharing a Redis
    /// do not see each other.
    #[arg(long, default_value = "socket.io", value_name = "PREFIX")]
    redis_key_prefix: String,
    /// With `serve`: the port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// With `serve`: run on tokio's multi-thread runtime with this many worker threads (1 to
    /// 64), as `portico serve` does. Without it, one thread (tokio's current-thread runtime),
    /// as every server in bench/run's comparison gets. The load client is always one thread.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=MAX_WORKERS as i64))]
    workers: Option<u16>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Handshakes per second (websocket-only and polling+upgrade).
    Connect,
    /// Server RSS per idle WebSocket connection, slope between --stages.
    Idle,
    /// Round trips (emit with ack) at a fixed aggregate rate.
    Echo,
    /// One emit to a room of --clients, --emits events: deliveries per second.
    Broadcast,
    /// Broadcast across a cluster: --clients spread round-robin over the --url nodes, one
    /// client of the first node asks for --emits events to the room; deliveries per second on
    /// all nodes, server CPU summed over the --server-pid of every node.
    Cluster,
    /// Echo over polling-only clients: HTTP requests per second.
    Polling,
    /// A few connections for a second (echo + broadcast); fails on any loss. For CI.
    Smoke,
    /// Run the bench server (echo, join, broadcast) on 127.0.0.1:--port until Ctrl-C or
    /// SIGTERM; prints `LISTENING <port>`. What bench/run measures as Portico.
    Serve,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportArg {
    Websocket,
    Upgrade,
    Polling,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Transport {
        match t {
            TransportArg::Websocket => Transport::WebSocket,
            TransportArg::Upgrade => Transport::Upgrade,
            TransportArg::Polling => Transport::Polling,
        }
    }
}

impl BenchArgs {
    /// The runtime this command runs on: tokio's current-thread scheduler (the load client,
    /// and the bench server by default), or its multi-thread one for `serve --workers N`, and
    /// with one worker for the `broadcast` client (see [`BenchArgs::burst_client`]).
    /// Fails when `--workers` is given to anything but `serve`.
    pub(crate) fn runtime(&self) -> anyhow::Result<tokio::runtime::Builder> {
        let mut builder = match (self.scenario, self.workers) {
            (Scenario::Serve, Some(n)) => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(usize::from(n));
                b
            }
            (_, Some(_)) => bail!("--workers is an option of `portico bench serve`"),
            (_, None) if self.burst_client() => {
                let mut b = tokio::runtime::Builder::new_multi_thread();
                b.worker_threads(1);
                b
            }
            (_, None) => {
                let mut b = tokio::runtime::Builder::new_current_thread();
                if let Some(n) = self.event_interval() {
                    b.event_interval(n);
                }
                b
            }
        };
        builder.enable_all();
        Ok(builder)
    }

    /// Whether this is the `broadcast` load client, which runs on tokio's multi-thread
    /// scheduler with one worker (pinned to the client's core like any other client) instead
    /// of the current-thread one, for its LIFO slot: a task that wakes another runs it next.
    /// Each client's connection task decodes what a read brought (up to its 1,000 events of
    /// the burst) and wakes the task that counts them. On the current-thread scheduler every
    /// connection task ran before any counting task, so the whole burst (1,000,000 events
    /// and the read buffers they point into, ~56 MB) was held at once, and touching that
    /// fresh memory was a fifth of the client's CPU (~14,000 page faults). With the LIFO slot
    /// each client's events are counted and freed before the next connection's are decoded:
    /// 5,400 page faults instead of 19,000-20,000, 0.14 s of client CPU instead of 0.17 s
    /// per run (2026-12-04, `perf stat`, 3 runs each on one Portico server).
    fn burst_client(&self) -> bool {
        self.scenario == Scenario::Broadcast
    }

    /// How many tasks the load generator's scheduler runs before it looks for I/O again, where
    /// it differs from tokio's default (61): echo and polling. Their sender wakes up to 30
    /// connection tasks at once (one 1 ms step at 30k msg/s); with the default, answers that
    /// have already arrived wait for every one of those sends, and the latency measured is the
    /// client's own queue. `serve` is a server and keeps the default, as the peers it is
    /// compared with do; so do the other scenarios, whose figures are rates.
    fn event_interval(&self) -> Option<u32> {
        matches!(self.scenario, Scenario::Echo | Scenario::Polling).then_some(8)
    }
}

/// What every scenario needs: where the server is and how to read it.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub url: String,
    pub path: String,
    pub probe: Probe,
    pub in_flight: usize,
    /// Headers sent on every request (`--header`).
    pub headers: Vec<(String, String)>,
}

impl Target {
    pub fn config(&self, transport: Transport) -> ClientConfig {
        let mut config = ClientConfig::new(self.url.clone())
            .path(self.path.clone())
            .transport(transport)
            .connect_timeout(Duration::from_secs(10));
        config.extra_headers.clone_from(&self.headers);
        config
    }
}

/// A `--header`: `Name: value`.
fn header_arg(arg: &str) -> anyhow::Result<(String, String)> {
    match arg.split_once(':') {
        Some((name, value)) if !name.trim().is_empty() => {
            Ok((name.trim().to_owned(), value.trim().to_owned()))
        }
        _ => bail!("--header {arg:?}: expected `Name: value`"),
    }
}

/// Run `portico bench`.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.scenario == Scenario::Serve {
        let cluster = args.redis.clone().map(|url| server::Cluster {
            url,
            key_prefix: args.redis_key_prefix.clone(),
        });
        return server::serve(args.port, cluster).await;
    }
    if args.redis.is_some() {
        bail!("--redis is an option of `portico bench serve`");
    }
    validate(&args)?;
    let mut _server = None;
    let url = match (args.url.as_slice(), args.scenario) {
        ([url, ..], _) => url.clone(),
        ([], Scenario::Smoke) => {
            let (url, guard) = server::start_in_process().await?;
            _server = Some(guard);
            url
        }
        ([], _) => bail!("--url is required (e.g. --url http://127.0.0.1:3000)"),
    };
    let target = Target {
        url,
        path: args.path.clone(),
        probe: Probe {
            server_pids: args.server_pid.clone(),
        },
        in_flight: args.in_flight,
        headers: args
            .headers
            .iter()
            .map(|h| header_arg(h))
            .collect::<anyhow::Result<_>>()?,
    };
    let mut report = scenario(&args, &target).await?;
    if !args.headers.is_empty() {
        if let Some(params) = report.params.as_object_mut() {
            params.insert("headers".to_owned(), args.headers.clone().into());
        }
    }
    report.check();
    print!("{}", report.table());
    if let Some(file) = &args.json {
        let json = serde_json::to_string_pretty(&report.to_json())?;
        std::fs::write(file, json + "\n")
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    if !report.ok() {
        bail!(
            "{}: received {} of {} expected, {} failures",
            report.scenario,
            report.received(),
            report.expected(),
            report.failures()
        );
    }
    Ok(())
}

async fn scenario(args: &BenchArgs, target: &Target) -> anyhow::Result<Report> {
    let transport = args.transport.map(Transport::from);
    let secs = |default: u64| Duration::from_secs(args.duration.unwrap_or(default));
    Ok(match args.scenario {
        Scenario::Connect => {
            let transports = match transport {
                Some(t) => vec![t],
                None => vec![Transport::WebSocket, Transport::Upgrade],
            };
            connect::run(target, &transports, secs(5), args.clients).await
        }
        Scenario::Idle => {
            idle::run(
                target,
                transport.unwrap_or(Transport::WebSocket),
                &args.stages,
            )
            .await
        }
        Scenario::Echo => {
            let params = echo::Params {
                clients: args.clients.unwrap_or(100),
                rate: args.rate.unwrap_or(10_000.0),
                duration: secs(10),
                size: args.size,
                transport: transport.unwrap_or(Transport::WebSocket),
                pace: args.pace.map(Duration::from_micros),
            };
            echo::run(target, "echo", &params).await
        }
        Scenario::Polling => {
            let params = echo::Params {
                clients: args.clients.unwrap_or(100),
                rate: args.rate.unwrap_or(1000.0),
                duration: secs(10),
                size: args.size,
                transport: Transport::Polling,
                pace: args.pace.map(Duration::from_micros),
            };
            echo::run(target, "polling", &params).await
        }
        Scenario::Broadcast => {
            let params = broadcast::Params {
                clients: args.clients.unwrap_or(100),
                emits: args.emits,
                size: args.size,
                timeout: secs(30),
                transport: transport.unwrap_or(Transport::WebSocket),
            };
            broadcast::run(target, &params).await
        }
        Scenario::Cluster => {
            let params = cluster::Params {
                broadcast: broadcast::Params {
                    clients: args.clients.unwrap_or(100),
                    emits: args.emits,
                    size: args.size,
                    timeout: secs(30),
                    transport: transport.unwrap_or(Transport::WebSocket),
                },
                urls: args.url.clone(),
                ready_emits: args.ready_emits,
                redis_pid: args.redis_pid,
            };
            cluster::run(target, &params).await
        }
        Scenario::Smoke => smoke::run(target).await,
        // Handled by `run` before any measurement is set up.
        Scenario::Serve => bail!("`serve` runs the bench server; it measures nothing"),
    })
}

fn validate(args: &BenchArgs) -> anyhow::Result<()> {
    for url in &args.url {
        check_loopback(url)?;
    }
    if args.scenario == Scenario::Cluster {
        if args.url.len() < 2 || args.url.len() > MAX_NODES {
            bail!("cluster needs between 2 and {MAX_NODES} --url, one per node");
        }
        if !args.server_pid.is_empty() && args.server_pid.len() != args.url.len() {
            bail!("cluster: give one --server-pid per --url node, or none");
        }
        if args.ready_emits == 0 || args.ready_emits > MAX_EMITS {
            bail!("--ready-emits must be between 1 and {MAX_EMITS}");
        }
    } else {
        if args.url.len() > 1 {
            bail!("only `cluster` takes several --url");
        }
        if args.server_pid.len() > 1 {
            bail!("only `cluster` takes several --server-pid");
        }
        if args.redis_pid.is_some() {
            bail!("--redis-pid is an option of `cluster`");
        }
    }
    if args.clients.is_some_and(|n| n == 0 || n > MAX_CLIENTS) {
        bail!("--clients must be between 1 and {MAX_CLIENTS}");
    }
    if args.stages.is_empty() || args.stages.iter().any(|&n| n == 0 || n > MAX_CLIENTS) {
        bail!("--stages must be counts between 1 and {MAX_CLIENTS}, e.g. 1000,5000,10000");
    }
    if args.stages.windows(2).any(|w| w[0] >= w[1]) {
        bail!("--stages must increase, e.g. 1000,5000,10000");
    }
    if args.duration.is_some_and(|d| d == 0 || d > MAX_DURATION_S) {
        bail!("--duration must be between 1 and {MAX_DURATION_S} seconds");
    }
    if args.in_flight == 0 || args.in_flight > MAX_IN_FLIGHT {
        bail!("--in-flight must be between 1 and {MAX_IN_FLIGHT}");
    }
    if args.rate.is_some_and(|r| !(r > 0.0 && r <= MAX_RATE)) {
        bail!("--rate must be above 0 and at most {MAX_RATE}");
    }
    if args
        .pace
        .is_some_and(|p| !(MIN_PACE_US..=MAX_PACE_US).contains(&p))
    {
        bail!("--pace must be between {MIN_PACE_US} and {MAX_PACE_US} microseconds");
    }
    if args.emits == 0 || args.emits > MAX_EMITS {
        bail!("--emits must be between 1 and {MAX_EMITS}");
    }
    if args.size > MAX_SIZE {
        bail!("--size must be at most {MAX_SIZE}");
    }
    Ok(())
}

/// Refuse any URL whose host is not loopback: 127.0.0.0/8, ::1 or `localhost`.
fn check_loopback(url: &str) -> anyhow::Result<()> {
    let uri: http::Uri = url.parse().with_context(|| format!("--url {url:?}"))?;
    let host = uri
        .host()
        .with_context(|| format!("--url {url:?} has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        bail!(
            "--url {url:?}: the bench only targets loopback (127.0.0.0/8, ::1, localhost); \
             it is a load generator, not a tool to point at other hosts"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)] // tests: a failed expect is a failed test
    use super::*;
    use clap::Parser as _;

    /// `portico bench ARGS...` as clap parses it.
    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(flatten)]
        bench: BenchArgs,
    }

    fn parse(args: &[&str]) -> Result<BenchArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("bench").chain(args.iter().copied())).map(|c| c.bench)
    }

    #[test]
    fn headers_are_name_colon_value() {
        let args =
            parse(&["polling", "--header", "Accept: */*", "--header", "X-A:b: c"]).expect("parses");
        let headers: Vec<_> = args.headers.iter().map(|h| header_arg(h).ok()).collect();
        assert_eq!(
            headers,
            [
                Some(("Accept".to_owned(), "*/*".to_owned())),
                Some(("X-A".to_owned(), "b: c".to_owned())),
            ]
        );
        for bad in ["no colon", ": value", " : v"] {
            let err = header_arg(bad).expect_err(bad).to_string();
            assert!(err.contains("expected `Name: value`"), "{err}");
        }
    }

    #[test]
    fn the_broadcast_client_runs_on_one_multi_thread_worker_the_others_on_the_current_thread() {
        let flavor = |args: &[&str]| {
            let rt = parse(args)
                .expect("parses")
                .runtime()
                .expect("a runtime")
                .build()
                .expect("builds");
            (rt.handle().runtime_flavor(), rt.metrics().num_workers())
        };
        use tokio::runtime::RuntimeFlavor::{CurrentThread, MultiThread};
        assert_eq!(flavor(&["broadcast"]), (MultiThread, 1));
        for other in [
            "echo", "connect", "polling", "idle", "cluster", "smoke", "serve",
        ] {
            assert_eq!(flavor(&[other]), (CurrentThread, 1), "{other}");
        }
        assert_eq!(flavor(&["serve", "--workers", "2"]), (MultiThread, 2));
    }

    #[test]
    fn workers_only_on_serve_and_between_1_and_64() {
        for n in ["1", "2", "64"] {
            let args = parse(&["serve", "--workers", n]).expect(n);
            assert_eq!(args.workers.map(u32::from), n.parse().ok());
            assert!(args.runtime().is_ok(), "{n}");
        }
        assert!(parse(&["serve"]).expect("serve").runtime().is_ok());
        for bad in ["0", "65", "two", "1.5"] {
            let err = parse(&["serve", "--workers", bad]).expect_err(bad);
            assert!(err.to_string().contains("--workers"), "{bad}: {err}");
        }
        let err = parse(&["echo", "--workers", "2"])
            .expect("clap takes it")
            .runtime()
            .expect_err("echo has no --workers");
        assert_eq!(
            err.to_string(),
            "--workers is an option of `portico bench serve`"
        );
    }

    #[test]
    fn loopback_only() {
        for ok in [
            "http://127.0.0.1:3000",
            "http://127.1.2.3:1",
            "http://[::1]:3000",
            "http://localhost:80",
        ] {
            assert!(check_loopback(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:3000",
            "http://example.com",
            "http://[::2]:1",
            "http://0.0.0.0:3000",
        ] {
            assert!(check_loopback(bad).is_err(), "{bad}");
        }
    }
}
