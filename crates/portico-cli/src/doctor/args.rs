//! The arguments of `portico doctor`, checked into [`Options`]. A bad value is an error that
//! names its flag (exit code 2).

use std::time::Duration;

use clap::Args as ClapArgs;

use super::http::Target;

/// Arguments of `portico doctor`.
#[derive(Debug, Clone, ClapArgs)]
pub(crate) struct DoctorArgs {
    /// The server's URL as the page gives it to io(URL): http(s)://host[:port][/namespace]
    /// (ws:// and wss:// too). A path in the URL is the namespace, as for the client.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The origin of the page that runs the client: scheme://host[:port], e.g.
    /// http://localhost:5173.
    #[arg(long, value_name = "ORIGIN")]
    pub origin: String,
    /// The client's `path` option. Default: /socket.io/.
    #[arg(long, value_name = "PATH", default_value = "/socket.io/")]
    pub path: String,
    /// The namespace to connect to. Default: the URL's path, else /.
    #[arg(long, value_name = "NSP")]
    pub namespace: Option<String>,
    /// The client sends credentials (cookies): `withCredentials: true`.
    #[arg(long)]
    pub credentials: bool,
    /// The client's `auth` payload, a JSON object, e.g. '{"token":"x"}'.
    #[arg(long, value_name = "JSON")]
    pub auth: Option<String>,
    /// The client's `transports`, in order. Default: polling,websocket (polling, then the
    /// upgrade), as the official client.
    #[arg(long, value_name = "LIST", default_value = "polling,websocket")]
    pub transports: String,
    /// Engine.IO protocol: 4 (socket.io-client 3.x/4.x) or 3 (socket.io-client 2.x).
    /// Default: 4.
    #[arg(long, value_name = "3|4", default_value_t = 4)]
    pub eio: u8,
    /// An extra request header of the client (`extraHeaders`), 'Name: value' (repeatable);
    /// headers that are not CORS-safelisted make the browser send a preflight.
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    pub headers: Vec<String>,
    /// Print one JSON object on stdout instead of the report (schema in docs/doctor.md).
    #[arg(long)]
    pub json: bool,
    /// Milliseconds each request may take. Default: 5000.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub timeout_ms: u64,
    /// Milliseconds the whole run may take. Default: 20000.
    #[arg(long, value_name = "N", default_value_t = 20000)]
    pub deadline_ms: u64,
}

/// A transport of the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    Polling,
    Websocket,
}

/// The checked options of a run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// The URL as given.
    pub url: String,
    pub target: Target,
    /// The page's origin, normalised.
    pub origin: String,
    /// The client's path, with a trailing slash.
    pub path: String,
    pub namespace: String,
    pub credentials: bool,
    pub auth: Option<serde_json::Value>,
    pub transports: Vec<Transport>,
    pub eio: u8,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    pub json: bool,
    pub timeout: Duration,
    pub deadline: Duration,
}

impl Options {
    /// Whether the page and the server share an origin (no CORS then).
    pub fn same_origin(&self) -> bool {
        self.origin == self.target.origin()
    }

    /// Whether the client uses this transport.
    pub fn wants(&self, t: Transport) -> bool {
        self.transports.contains(&t)
    }

    /// Whether the client starts with polling (then upgrades if it may).
    pub fn polling_first(&self) -> bool {
        self.transports.first() == Some(&Transport::Polling)
    }
}

/// Checks the arguments. The error names the flag and says what is expected.
pub(crate) fn check(args: DoctorArgs) -> Result<Options, String> {
    let (target, url_path) =
        parse_url(&args.url).map_err(|e| format!("URL {:?}: {e}", args.url))?;
    let origin = portico_cors::Origin::parse(args.origin.trim())
        .map_err(|e| format!("--origin: {e}"))?
        .as_str()
        .to_string();
    let path = normalise_path(&args.path).map_err(|e| format!("--path: {e}"))?;
    let namespace = match args.namespace {
        Some(n) if !n.starts_with('/') => {
            return Err(format!("--namespace: {n:?} must start with '/', e.g. /{n}"));
        }
        Some(n) if n.contains(',') => return Err(format!("--namespace: {n:?} cannot contain ','")),
        Some(n) => n,
        None => url_path,
    };
    let auth = match args.auth {
        None => None,
        Some(text) => match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v @ serde_json::Value::Object(_)) => Some(v),
            Ok(_) => {
                return Err(format!(
                    "--auth: {text:?} is not a JSON object; use e.g. '{{\"token\":\"x\"}}'"
                ))
            }
            Err(e) => {
                return Err(format!(
                    "--auth: {text:?} is not JSON ({e}); use e.g. '{{\"token\":\"x\"}}'"
                ))
            }
        },
    };
    let mut transports = Vec::new();
    for t in args
        .transports
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let t = match t.to_ascii_lowercase().as_str() {
            "polling" => Transport::Polling,
            "websocket" => Transport::Websocket,
            _ => {
                return Err(format!(
                    "--transports: unknown transport {t:?}; use polling and/or websocket"
                ))
            }
        };
        if transports.contains(&t) {
            return Err(format!("--transports: {t:?} is listed twice"));
        }
        transports.push(t);
    }
    if transports.is_empty() {
        return Err("--transports: give at least one of polling, websocket".into());
    }
    if args.eio != 3 && args.eio != 4 {
        return Err(format!("--eio: {} is not 3 or 4", args.eio));
    }
    let mut headers = Vec::new();
    for h in &args.headers {
        let Some((name, value)) = h.split_once(':') else {
            return Err(format!("--header: {h:?} is not 'Name: value'"));
        };
        let name = name.trim();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if !valid {
            return Err(format!("--header: {name:?} is not a header name"));
        }
        if super::cors::is_forbidden_header(name) {
            return Err(format!(
                "--header: a page cannot set {name:?} (a forbidden header name: the browser drops it), so the \
                 official client never sends it"
            ));
        }
        let value = value.trim();
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(format!(
                "--header: the value of {name:?} contains a line break"
            ));
        }
        headers.push((name.to_string(), value.to_string()));
    }
    if args.timeout_ms == 0 {
        return Err("--timeout-ms: must be at least 1".into());
    }
    if args.deadline_ms == 0 {
        return Err("--deadline-ms: must be at least 1".into());
    }
    Ok(Options {
        url: args.url,
        target,
        origin,
        path,
        namespace,
        credentials: args.credentials,
        auth,
        transports,
        eio: args.eio,
        headers,
        json: args.json,
        timeout: Duration::from_millis(args.timeout_ms),
        deadline: Duration::from_millis(args.deadline_ms),
    })
}

/// Splits `scheme://host[:port][/path][?query]` into the target and the path (the
/// namespace, `/` when empty).
pub(crate) fn parse_url(url: &str) -> Result<(Target, String), String> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or("no scheme: write http://host:port")?;
    let tls = match scheme.to_ascii_lowercase().as_str() {
        "http" | "ws" => false,
        "https" | "wss" => true,
        other => {
            return Err(format!(
                "unsupported scheme {other:?}: use http, https, ws or wss"
            ))
        }
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if authority.contains('@') {
        return Err("user info (user@host) is not supported".into());
    }
    let (host, port) = if let Some(end) = authority.strip_prefix('[').and_then(|a| a.find(']')) {
        let host = &authority[..end + 2];
        let port = authority[end + 2..].strip_prefix(':');
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("no host".into());
    }
    let port = match port {
        None | Some("") => {
            if tls {
                443
            } else {
                80
            }
        }
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("port {p:?} is not a number from 1 to 65535"))?,
    };
    if port == 0 {
        return Err("port 0 is not a port to connect to".into());
    }
    let path = path.trim_end_matches('/');
    let namespace = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    Ok((
        Target {
            tls,
            host: host.to_ascii_lowercase(),
            port,
        },
        namespace,
    ))
}

/// The client's path with a leading and a trailing slash (the client adds the trailing one).
fn normalise_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("{path:?} must start with '/', e.g. /{path}"));
    }
    if path.contains(['?', '#', ' ']) {
        return Err(format!(
            "{path:?} must be a path alone, without '?', '#' or spaces"
        ));
    }
    Ok(if path.ends_with('/') {
        path.to_string()
    } else {
        format!("{path}/")
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: DoctorArgs,
    }

    fn parse(argv: &[&str]) -> Result<Options, String> {
        let cli = Cli::try_parse_from(std::iter::once("doctor").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        check(cli.args)
    }

    #[test]
    fn defaults() {
        let o = parse(&["http://localhost:3000", "--origin", "http://localhost:5173"]).unwrap();
        assert_eq!(
            o.target,
            Target {
                tls: false,
                host: "localhost".into(),
                port: 3000
            }
        );
        assert_eq!(
            (o.path.as_str(), o.namespace.as_str()),
            ("/socket.io/", "/")
        );
        assert_eq!(o.transports, [Transport::Polling, Transport::Websocket]);
        assert_eq!(
            (o.eio, o.timeout, o.deadline),
            (4, Duration::from_secs(5), Duration::from_secs(20))
        );
        assert!(!o.same_origin() && o.polling_first());
    }

    #[test]
    fn url_forms() {
        let (t, nsp) = parse_url("https://App.Example.com/admin/").unwrap();
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, nsp.as_str()),
            (true, "app.example.com", 443, "/admin")
        );
        let (t, _) = parse_url("ws://[::1]:3000?x=1").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("[::1]", 3000));
        assert!(parse_url("localhost:3000").is_err());
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://x:99999").is_err());
    }

    #[test]
    fn errors_name_the_flag() {
        let base = ["http://localhost:3000", "--origin"];
        let err = |extra: &[&str]| parse(&[base.as_slice(), extra].concat()).unwrap_err();
        assert!(err(&["http://a.test/"]).starts_with("--origin:"));
        assert!(err(&["http://a.test", "--path", "x"]).starts_with("--path:"));
        assert!(err(&["http://a.test", "--namespace", "admin"]).starts_with("--namespace:"));
        assert!(err(&["http://a.test", "--auth", "[1]"]).starts_with("--auth:"));
        assert!(err(&["http://a.test", "--auth", "{"]).starts_with("--auth:"));
        assert!(err(&["http://a.test", "--transports", "polling,xhr"]).starts_with("--transports:"));
        assert!(err(&["http://a.test", "--eio", "5"]).starts_with("--eio:"));
        assert!(err(&["http://a.test", "--header", "nocolon"]).starts_with("--header:"));
        assert!(err(&["http://a.test", "--header", "Cookie: a=b"]).starts_with("--header:"));
        assert!(err(&["http://a.test", "--timeout-ms", "0"]).starts_with("--timeout-ms:"));
        assert!(parse(&["nope", "--origin", "http://a.test"])
            .unwrap_err()
            .starts_with("URL"));
    }

    #[test]
    fn options() {
        let o = parse(&[
            "http://127.0.0.1:3000/chat",
            "--origin",
            "HTTP://LOCALHOST:5173",
            "--path",
            "/ws",
            "--transports",
            "websocket",
            "--header",
            "X-Token: abc",
            "--auth",
            r#"{"token":"x"}"#,
            "--eio",
            "3",
        ])
        .unwrap();
        assert_eq!(o.origin, "http://localhost:5173");
        assert_eq!((o.path.as_str(), o.namespace.as_str()), ("/ws/", "/chat"));
        assert_eq!(o.transports, [Transport::Websocket]);
        assert_eq!(o.headers, [("X-Token".to_string(), "abc".to_string())]);
        assert_eq!(o.eio, 3);
        assert!(!o.polling_first());
    }
}
