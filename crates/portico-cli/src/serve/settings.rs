//! The settings `portico serve` runs with: flags over the TOML file over the defaults, and
//! where each value came from, so that an error names the flag or the file key to change.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use serde::Deserialize;

use super::limits::Limits;
use super::ServeArgs;

/// The config file (`--config`). Every key is optional; each one is also listed in the help
/// of `--config` (a unit test checks it).
#[derive(Debug, Default, Deserialize, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize))]
#[serde(deny_unknown_fields)]
pub(crate) struct FileConfig {
    host: Option<String>,
    port: Option<u16>,
    path: Option<String>,
    ping_interval_ms: Option<u64>,
    ping_timeout_ms: Option<u64>,
    max_payload: Option<u64>,
    demo: Option<bool>,
    client_bundle: Option<PathBuf>,
    cors_origins: Option<Vec<String>>,
    cors_credentials: Option<bool>,
    cors_any_origin: Option<bool>,
    cors_allow_headers: Option<Vec<String>>,
    trusted_proxies: Option<Vec<IpAddr>>,
    demo_origin: Option<u16>,
    allow_eio3: Option<bool>,
    redis: Option<String>,
    redis_key_prefix: Option<String>,
    redis_sharded: Option<bool>,
    redis_subscription_mode: Option<String>,
    metrics: Option<SocketAddr>,
    shutdown_timeout_ms: Option<u64>,
    max_sessions: Option<usize>,
    max_sessions_per_ip: Option<usize>,
    max_buffer_bytes: Option<usize>,
    max_buffer_packets: Option<usize>,
    event_rate: Option<u32>,
    event_burst: Option<u32>,
    max_attachments: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    upgrade_timeout_ms: Option<u64>,
}

impl FileConfig {
    /// Reads and parses `path`; unknown keys are errors.
    pub(crate) fn read(path: &Path) -> anyhow::Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }
}

/// A setting as the user writes it: its flag and its key in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Name {
    pub(crate) flag: &'static str,
    pub(crate) key: &'static str,
}

pub(crate) const HOST: Name = Name::new("--host", "host");
pub(crate) const PORT: Name = Name::new("--port", "port");
pub(crate) const PATH: Name = Name::new("--path", "path");
pub(crate) const PING_INTERVAL: Name = Name::new("--ping-interval", "ping_interval_ms");
pub(crate) const PING_TIMEOUT: Name = Name::new("--ping-timeout", "ping_timeout_ms");
pub(crate) const MAX_PAYLOAD: Name = Name::new("--max-payload", "max_payload");
pub(crate) const DEMO: Name = Name::new("--no-demo", "demo");
pub(crate) const CLIENT_BUNDLE: Name = Name::new("--client-bundle", "client_bundle");
pub(crate) const CORS_ORIGINS: Name = Name::new("--cors-origin", "cors_origins");
pub(crate) const CORS_CREDENTIALS: Name = Name::new("--cors-credentials", "cors_credentials");
pub(crate) const CORS_ANY_ORIGIN: Name = Name::new("--cors-any-origin", "cors_any_origin");
pub(crate) const CORS_ALLOW_HEADERS: Name = Name::new("--cors-allow-header", "cors_allow_headers");
pub(crate) const TRUSTED_PROXIES: Name = Name::new("--trusted-proxy", "trusted_proxies");
pub(crate) const DEMO_ORIGIN: Name = Name::new("--demo-origin", "demo_origin");
pub(crate) const ALLOW_EIO3: Name = Name::new("--allow-eio3", "allow_eio3");
pub(crate) const REDIS: Name = Name::new("--redis", "redis");
pub(crate) const REDIS_KEY_PREFIX: Name = Name::new("--redis-key-prefix", "redis_key_prefix");
pub(crate) const REDIS_SHARDED: Name = Name::new("--redis-sharded", "redis_sharded");
pub(crate) const REDIS_SUBSCRIPTION_MODE: Name =
    Name::new("--redis-subscription-mode", "redis_subscription_mode");
pub(crate) const METRICS: Name = Name::new("--metrics", "metrics");
pub(crate) const SHUTDOWN_TIMEOUT: Name = Name::new("--shutdown-timeout", "shutdown_timeout_ms");

pub(crate) const MAX_SESSIONS: Name = Name::new("--max-sessions", "max_sessions");
pub(crate) const MAX_SESSIONS_PER_IP: Name =
    Name::new("--max-sessions-per-ip", "max_sessions_per_ip");
pub(crate) const MAX_BUFFER_BYTES: Name = Name::new("--max-buffer-bytes", "max_buffer_bytes");
pub(crate) const MAX_BUFFER_PACKETS: Name = Name::new("--max-buffer-packets", "max_buffer_packets");
pub(crate) const EVENT_RATE: Name = Name::new("--event-rate", "event_rate");
pub(crate) const EVENT_BURST: Name = Name::new("--event-burst", "event_burst");
pub(crate) const MAX_ATTACHMENTS: Name = Name::new("--max-attachments", "max_attachments");
pub(crate) const HEADER_READ_TIMEOUT: Name =
    Name::new("--header-read-timeout", "header_read_timeout_ms");
pub(crate) const UPGRADE_TIMEOUT: Name = Name::new("--upgrade-timeout", "upgrade_timeout_ms");

/// Every setting that has both a flag and a file key.
#[cfg(test)]
pub(crate) const ALL: [Name; 30] = [
    HOST,
    PORT,
    PATH,
    PING_INTERVAL,
    PING_TIMEOUT,
    MAX_PAYLOAD,
    DEMO,
    CLIENT_BUNDLE,
    CORS_ORIGINS,
    CORS_CREDENTIALS,
    CORS_ANY_ORIGIN,
    CORS_ALLOW_HEADERS,
    TRUSTED_PROXIES,
    DEMO_ORIGIN,
    ALLOW_EIO3,
    REDIS,
    REDIS_KEY_PREFIX,
    REDIS_SHARDED,
    REDIS_SUBSCRIPTION_MODE,
    METRICS,
    SHUTDOWN_TIMEOUT,
    MAX_SESSIONS,
    MAX_SESSIONS_PER_IP,
    MAX_BUFFER_BYTES,
    MAX_BUFFER_PACKETS,
    EVENT_RATE,
    EVENT_BURST,
    MAX_ATTACHMENTS,
    HEADER_READ_TIMEOUT,
    UPGRADE_TIMEOUT,
];

impl Name {
    const fn new(flag: &'static str, key: &'static str) -> Name {
        Name { flag, key }
    }
}

/// The settings `serve` runs with, after merging flags, file and defaults.
#[derive(Debug, PartialEq)]
pub(crate) struct Settings {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) path: String,
    pub(crate) ping_interval: Duration,
    pub(crate) ping_timeout: Duration,
    pub(crate) max_payload: u64,
    pub(crate) demo: bool,
    pub(crate) client_bundle: Option<PathBuf>,
    pub(crate) cors_origins: Vec<String>,
    pub(crate) cors_credentials: bool,
    pub(crate) cors_any_origin: bool,
    pub(crate) cors_allow_headers: Vec<String>,
    pub(crate) trusted_proxies: Vec<IpAddr>,
    pub(crate) demo_origin: Option<u16>,
    pub(crate) allow_eio3: bool,
    /// The Redis server of the cluster, if this node is one of several.
    pub(crate) redis: Option<String>,
    pub(crate) redis_key_prefix: String,
    pub(crate) redis_sharded: bool,
    pub(crate) redis_subscription_mode: String,
    /// Where to serve `GET /metrics`, if anywhere.
    pub(crate) metrics: Option<SocketAddr>,
    /// How long a graceful shutdown waits (pending acknowledgements, in-flight requests).
    pub(crate) shutdown_timeout: Duration,
    /// The limits (see docs/limits.md).
    pub(crate) limits: Limits,
    /// The config file, if any.
    file: Option<PathBuf>,
    /// Where each setting that is not a default came from, by file key.
    given: Vec<(&'static str, Source)>,
}

/// The longest `--shutdown-timeout` accepted (a typo of a few zeros would keep a stopping
/// server around for days).
const MAX_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(3600);

/// Where a setting's value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Flag,
    File,
}

/// The flag's value if given, else the file's; notes which one it was.
fn pick<T>(
    given: &mut Vec<(&'static str, Source)>,
    name: Name,
    flag: Option<T>,
    file: Option<T>,
) -> Option<T> {
    let (value, source) = match (flag, file) {
        (Some(v), _) => (v, Source::Flag),
        (None, Some(v)) => (v, Source::File),
        (None, None) => return None,
    };
    given.push((name.key, source));
    Some(value)
}

/// A repeatable flag as an option: `None` when not given.
fn list<T: Clone>(values: &[T]) -> Option<Vec<T>> {
    (!values.is_empty()).then(|| values.to_vec())
}

impl Settings {
    /// Merges the flags over the file (read from `args.config`) over the defaults.
    pub(crate) fn resolve(args: &ServeArgs, file: FileConfig) -> Settings {
        let d = portico::ServerConfig::default();
        let mut f = Vec::new();
        let f = &mut f;
        let switch = |on: bool| on.then_some(true);
        let a = &args.limits;
        let mut s = Settings {
            host: pick(f, HOST, args.host.clone(), file.host).unwrap_or_else(|| "127.0.0.1".into()),
            port: pick(f, PORT, args.port, file.port).unwrap_or(3000),
            path: pick(f, PATH, args.path.clone(), file.path).unwrap_or(d.path),
            ping_interval: pick(f, PING_INTERVAL, args.ping_interval, file.ping_interval_ms)
                .map_or(d.ping_interval, Duration::from_millis),
            ping_timeout: pick(f, PING_TIMEOUT, args.ping_timeout, file.ping_timeout_ms)
                .map_or(d.ping_timeout, Duration::from_millis),
            max_payload: pick(f, MAX_PAYLOAD, args.max_payload, file.max_payload)
                .unwrap_or(d.max_payload),
            demo: pick(f, DEMO, args.no_demo.then_some(false), file.demo).unwrap_or(true),
            client_bundle: pick(
                f,
                CLIENT_BUNDLE,
                args.client_bundle.clone(),
                file.client_bundle,
            ),
            cors_origins: pick(f, CORS_ORIGINS, list(&args.cors_origins), file.cors_origins)
                .unwrap_or_default(),
            cors_credentials: pick(
                f,
                CORS_CREDENTIALS,
                switch(args.cors_credentials),
                file.cors_credentials,
            )
            .unwrap_or(false),
            cors_any_origin: pick(
                f,
                CORS_ANY_ORIGIN,
                switch(args.cors_any_origin),
                file.cors_any_origin,
            )
            .unwrap_or(false),
            cors_allow_headers: pick(
                f,
                CORS_ALLOW_HEADERS,
                list(&args.cors_allow_headers),
                file.cors_allow_headers,
            )
            .unwrap_or_default(),
            trusted_proxies: pick(
                f,
                TRUSTED_PROXIES,
                list(&args.trusted_proxies),
                file.trusted_proxies,
            )
            .unwrap_or_default(),
            demo_origin: pick(f, DEMO_ORIGIN, args.demo_origin, file.demo_origin),
            allow_eio3: pick(f, ALLOW_EIO3, switch(args.allow_eio3), file.allow_eio3)
                .unwrap_or(false),
            redis: pick(f, REDIS, args.redis.clone(), file.redis),
            redis_key_prefix: pick(
                f,
                REDIS_KEY_PREFIX,
                args.redis_key_prefix.clone(),
                file.redis_key_prefix,
            )
            .unwrap_or_else(|| "socket.io".into()),
            redis_sharded: pick(
                f,
                REDIS_SHARDED,
                switch(args.redis_sharded),
                file.redis_sharded,
            )
            .unwrap_or(false),
            redis_subscription_mode: pick(
                f,
                REDIS_SUBSCRIPTION_MODE,
                args.redis_subscription_mode.clone(),
                file.redis_subscription_mode,
            )
            .unwrap_or_else(|| "dynamic".into()),
            metrics: pick(f, METRICS, args.metrics, file.metrics),
            shutdown_timeout: pick(
                f,
                SHUTDOWN_TIMEOUT,
                args.shutdown_timeout,
                file.shutdown_timeout_ms,
            )
            .map_or(d.shutdown_timeout, Duration::from_millis),
            limits: Limits {
                max_sessions: pick(f, MAX_SESSIONS, a.max_sessions, file.max_sessions)
                    .unwrap_or(d.max_sessions),
                max_sessions_per_ip: pick(
                    f,
                    MAX_SESSIONS_PER_IP,
                    a.max_sessions_per_ip,
                    file.max_sessions_per_ip,
                )
                .unwrap_or(d.max_sessions_per_ip),
                max_buffer_bytes: pick(
                    f,
                    MAX_BUFFER_BYTES,
                    a.max_buffer_bytes,
                    file.max_buffer_bytes,
                )
                .unwrap_or(d.max_buffer_bytes),
                max_buffer_packets: pick(
                    f,
                    MAX_BUFFER_PACKETS,
                    a.max_buffer_packets,
                    file.max_buffer_packets,
                )
                .unwrap_or(d.max_buffer_packets),
                event_rate: pick(f, EVENT_RATE, a.event_rate, file.event_rate)
                    .unwrap_or(d.event_rate),
                event_burst: pick(f, EVENT_BURST, a.event_burst, file.event_burst)
                    .unwrap_or(d.event_burst),
                max_attachments: pick(f, MAX_ATTACHMENTS, a.max_attachments, file.max_attachments)
                    .unwrap_or(d.max_attachments),
                header_read_timeout: pick(
                    f,
                    HEADER_READ_TIMEOUT,
                    a.header_read_timeout,
                    file.header_read_timeout_ms,
                )
                .map_or(d.header_read_timeout, Duration::from_millis),
                upgrade_timeout: pick(
                    f,
                    UPGRADE_TIMEOUT,
                    a.upgrade_timeout,
                    file.upgrade_timeout_ms,
                )
                .map_or(d.upgrade_timeout, Duration::from_millis),
            },
            file: args.config.clone(),
            given: Vec::new(),
        };
        s.given = std::mem::take(f);
        s
    }

    fn source_of(&self, name: Name) -> Option<Source> {
        self.given
            .iter()
            .find(|(key, _)| *key == name.key)
            .map(|&(_, source)| source)
    }

    /// Whether the value of `name` came from the config file.
    pub(crate) fn in_file(&self, name: Name) -> bool {
        self.source_of(name) == Some(Source::File)
    }

    /// How to name a setting in an error: `--cors-origin`, or `cors_origins in portico.toml`
    /// when its value came from the file.
    pub(crate) fn name(&self, name: Name) -> String {
        match &self.file {
            Some(file) if self.in_file(name) => format!("{} in {}", name.key, file.display()),
            _ => name.flag.to_string(),
        }
    }

    /// Like [`name`](Self::name) for a switch that is on: `--cors-credentials`, or
    /// `cors_credentials = true in portico.toml`.
    pub(crate) fn switch_name(&self, name: Name) -> String {
        match &self.file {
            Some(file) if self.in_file(name) => {
                format!("{} = true in {}", name.key, file.display())
            }
            _ => name.flag.to_string(),
        }
    }

    /// Where a value came from, for messages about values that have a default: `--port`,
    /// `port in portico.toml` or `the default`.
    pub(crate) fn source(&self, name: Name) -> String {
        match self.source_of(name) {
            Some(_) => self.name(name),
            None => "the default".into(),
        }
    }

    /// Checks the values the server builder would refuse, naming the flag or file key.
    pub(crate) fn check(&self) -> anyhow::Result<()> {
        let path = &self.path;
        if !path.starts_with('/') {
            anyhow::bail!(
                "{}: \"{path}\" must start with '/': use \"/{path}\" (it must match the client's \
                 `path` option)",
                self.name(PATH)
            );
        }
        if path.contains(['?', '#']) {
            anyhow::bail!(
                "{}: \"{path}\" must not contain '?' or '#'",
                self.name(PATH)
            );
        }
        for (name, value, default) in [
            (PING_INTERVAL, self.ping_interval, "25000"),
            (PING_TIMEOUT, self.ping_timeout, "20000"),
        ] {
            if value.is_zero() {
                anyhow::bail!(
                    "{}: must be at least 1 millisecond (default: {default})",
                    self.name(name)
                );
            }
        }
        if self.redis.is_none() {
            for (name, given) in [
                (REDIS_KEY_PREFIX, self.source_of(REDIS_KEY_PREFIX).is_some()),
                (REDIS_SHARDED, self.redis_sharded),
            ] {
                if given {
                    anyhow::bail!(
                        "{} needs {}: give the Redis server the nodes share, e.g. \
                         --redis redis://127.0.0.1:6379",
                        self.name(name),
                        REDIS.flag
                    );
                }
            }
        }
        if self.source_of(REDIS_SUBSCRIPTION_MODE).is_some() && !self.redis_sharded {
            anyhow::bail!(
                "{} applies to sharded mode only: add {} (every node of the cluster must use the \
                 same mode)",
                self.name(REDIS_SUBSCRIPTION_MODE),
                REDIS_SHARDED.flag
            );
        }
        self.subscription_mode()?;
        self.limits.check(self)?;
        if self.redis_key_prefix.is_empty() || self.redis_key_prefix.contains('#') {
            anyhow::bail!(
                "{}: {:?} must be non-empty and without '#' (it must match the Node nodes' `key`, \
                 default socket.io)",
                self.name(REDIS_KEY_PREFIX),
                self.redis_key_prefix
            );
        }
        if self.shutdown_timeout > MAX_SHUTDOWN_TIMEOUT {
            anyhow::bail!(
                "{}: {} ms is more than an hour: give at most 3600000 (default: 10000; an \
                 orchestrator kills the process after its own grace period, 30 s in Kubernetes)",
                self.name(SHUTDOWN_TIMEOUT),
                self.shutdown_timeout.as_millis()
            );
        }
        if self.max_payload == 0 {
            anyhow::bail!(
                "{}: must be at least 1 byte (default: 1000000)",
                self.name(MAX_PAYLOAD)
            );
        }
        Ok(())
    }

    /// The sharded subscription mode (Node's `subscriptionMode`).
    pub(crate) fn subscription_mode(&self) -> anyhow::Result<portico_redis::SubscriptionMode> {
        Ok(match self.redis_subscription_mode.as_str() {
            "static" => portico_redis::SubscriptionMode::Static,
            "dynamic" => portico_redis::SubscriptionMode::Dynamic,
            "dynamic-private" => portico_redis::SubscriptionMode::DynamicPrivate,
            other => anyhow::bail!(
                "{}: {other:?} is not a subscription mode: use static, dynamic or \
                 dynamic-private, as the Node nodes' `subscriptionMode` (default: dynamic)",
                self.name(REDIS_SUBSCRIPTION_MODE)
            ),
        })
    }

    /// The host to put in URLs: a wildcard listen address is reached via loopback, and an
    /// IPv6 address goes in brackets.
    pub(crate) fn url_host(&self) -> String {
        match self.host.as_str() {
            "0.0.0.0" => "127.0.0.1".into(),
            "::" | "[::]" => "[::1]".into(),
            h if h.contains(':') && !h.starts_with('[') => format!("[{h}]"),
            h => h.into(),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::*;

    fn file_settings(toml: &str, args: ServeArgs) -> Settings {
        let args = ServeArgs {
            config: Some("portico.toml".into()),
            ..args
        };
        Settings::resolve(&args, toml::from_str(toml).unwrap())
    }

    #[test]
    fn flags_override_file_override_defaults() {
        let file: FileConfig =
            toml::from_str("port = 4000\npath = \"/io/\"\nping_interval_ms = 1000\ndemo = false")
                .unwrap();
        let args = ServeArgs {
            port: Some(5000),
            ..Default::default()
        };
        let s = Settings::resolve(&args, file);
        assert_eq!(s.port, 5000);
        assert_eq!(s.path, "/io/");
        assert_eq!(s.ping_interval, Duration::from_millis(1000));
        assert_eq!(s.ping_timeout, Duration::from_millis(20_000));
        assert_eq!(s.host, "127.0.0.1");
        assert!(!s.demo);
    }

    #[test]
    fn unknown_keys_in_the_file_are_errors() {
        assert!(toml::from_str::<FileConfig>("prot = 1").is_err());
    }

    #[test]
    fn every_file_key_is_accepted_and_named() {
        let keys = super::super::tests::file_keys();
        let named: Vec<&str> = ALL.iter().map(|n| n.key).collect();
        assert_eq!(
            keys, named,
            "the Name table and FileConfig list different keys"
        );
    }

    #[test]
    fn errors_name_the_flag_or_the_file_key() {
        let s = file_settings("path = \"io\"", ServeArgs::default());
        let err = s.check().unwrap_err().to_string();
        assert_eq!(
            err,
            "path in portico.toml: \"io\" must start with '/': use \"/io\" (it must match the \
             client's `path` option)"
        );
        let s = file_settings(
            "path = \"io\"",
            ServeArgs {
                path: Some("/io?x".into()),
                ..Default::default()
            },
        );
        let err = s.check().unwrap_err().to_string();
        assert_eq!(err, "--path: \"/io?x\" must not contain '?' or '#'");
        let s = file_settings("ping_timeout_ms = 0", ServeArgs::default());
        let err = s.check().unwrap_err().to_string();
        assert_eq!(
            err,
            "ping_timeout_ms in portico.toml: must be at least 1 millisecond (default: 20000)"
        );
        let s = file_settings(
            "",
            ServeArgs {
                max_payload: Some(0),
                ..Default::default()
            },
        );
        let err = s.check().unwrap_err().to_string();
        assert_eq!(
            err,
            "--max-payload: must be at least 1 byte (default: 1000000)"
        );
        let s = file_settings("shutdown_timeout_ms = 36000000", ServeArgs::default());
        let err = s.check().unwrap_err().to_string();
        assert_eq!(
            err,
            "shutdown_timeout_ms in portico.toml: 36000000 ms is more than an hour: give at most \
             3600000 (default: 10000; an orchestrator kills the process after its own grace \
             period, 30 s in Kubernetes)"
        );
        let s = file_settings(
            "metrics = \"127.0.0.1:9464\"\nshutdown_timeout_ms = 2500",
            ServeArgs::default(),
        );
        assert_eq!(s.metrics, Some("127.0.0.1:9464".parse().unwrap()));
        assert_eq!(s.shutdown_timeout, Duration::from_millis(2500));
        assert!(file_settings("", ServeArgs::default()).check().is_ok());
    }

    #[test]
    fn sources_of_values_with_defaults() {
        let args = ServeArgs {
            path: Some("/io/".into()),
            ..Default::default()
        };
        let s = file_settings("port = 4000\npath = \"/x/\"", args);
        assert_eq!(s.source(PORT), "port in portico.toml");
        assert_eq!(s.source(HOST), "the default");
        assert_eq!(s.source(PATH), "--path");
    }

    #[test]
    fn url_hosts() {
        for (host, want) in [
            ("127.0.0.1", "127.0.0.1"),
            ("0.0.0.0", "127.0.0.1"),
            ("::", "[::1]"),
            ("::1", "[::1]"),
            ("[::1]", "[::1]"),
            ("localhost", "localhost"),
        ] {
            let s = file_settings(&format!("host = \"{host}\""), ServeArgs::default());
            assert_eq!(s.url_host(), want, "{host}");
        }
    }
}
