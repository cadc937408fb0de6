//! The findings catalogue: every finding id `doctor` reports, with its title, why it
//! happens and the fix for Portico, Node's socket.io and (where a proxy can be the cause)
//! nginx. The ids are stable API (scripts match on them); the texts are not.

use serde::Serialize;

/// The tested nginx configuration, linked from proxy fixes.
const DEPLOYMENT_DOC: &str = "docs/deployment.md";

/// A finding id. [`Id::as_str`] is the stable spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum Id {
    UnreachableRefused,
    UnreachableDns,
    UnreachableTimeout,
    TlsError,
    HttpUnexpectedStatus,
    PathNotFound,
    EioVersionMismatch,
    OriginRefused,
    CorsMissingAllowOrigin,
    CorsOriginMismatch,
    CorsWildcardWithCredentials,
    CorsMissingAllowCredentials,
    CorsMultipleAllowOrigin,
    CorsPreflightFailed,
    PollingDisabled,
    NamespaceInvalid,
    NamespaceRejected,
    NamespaceNoAnswer,
    StickySessionUnknown,
    WebsocketProxyDroppedUpgrade,
    WebsocketDisabled,
    WebsocketOriginRefused,
    WebsocketFailed,
    HeartbeatMissing,
    HandshakeUnusual,
}

impl Id {
    /// Every id, in report order.
    #[cfg(test)]
    pub const ALL: [Id; 25] = [
        Id::UnreachableRefused,
        Id::UnreachableDns,
        Id::UnreachableTimeout,
        Id::TlsError,
        Id::HttpUnexpectedStatus,
        Id::PathNotFound,
        Id::EioVersionMismatch,
        Id::OriginRefused,
        Id::CorsMissingAllowOrigin,
        Id::CorsOriginMismatch,
        Id::CorsWildcardWithCredentials,
        Id::CorsMissingAllowCredentials,
        Id::CorsMultipleAllowOrigin,
        Id::CorsPreflightFailed,
        Id::PollingDisabled,
        Id::NamespaceInvalid,
        Id::NamespaceRejected,
        Id::NamespaceNoAnswer,
        Id::StickySessionUnknown,
        Id::WebsocketProxyDroppedUpgrade,
        Id::WebsocketDisabled,
        Id::WebsocketOriginRefused,
        Id::WebsocketFailed,
        Id::HeartbeatMissing,
        Id::HandshakeUnusual,
    ];

    /// The stable id, e.g. `cors.origin-mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Id::UnreachableRefused => "unreachable.refused",
            Id::UnreachableDns => "unreachable.dns",
            Id::UnreachableTimeout => "unreachable.timeout",
            Id::TlsError => "tls.error",
            Id::HttpUnexpectedStatus => "http.unexpected-status",
            Id::PathNotFound => "path.not-found",
            Id::EioVersionMismatch => "eio.version-mismatch",
            Id::OriginRefused => "origin.refused",
            Id::CorsMissingAllowOrigin => "cors.missing-allow-origin",
            Id::CorsOriginMismatch => "cors.origin-mismatch",
            Id::CorsWildcardWithCredentials => "cors.wildcard-with-credentials",
            Id::CorsMissingAllowCredentials => "cors.missing-allow-credentials",
            Id::CorsMultipleAllowOrigin => "cors.multiple-allow-origin",
            Id::CorsPreflightFailed => "cors.preflight-failed",
            Id::PollingDisabled => "polling.disabled",
            Id::NamespaceInvalid => "namespace.invalid",
            Id::NamespaceRejected => "namespace.rejected",
            Id::NamespaceNoAnswer => "namespace.no-answer",
            Id::StickySessionUnknown => "sticky.session-unknown",
            Id::WebsocketProxyDroppedUpgrade => "websocket.proxy-dropped-upgrade",
            Id::WebsocketDisabled => "websocket.disabled",
            Id::WebsocketOriginRefused => "websocket.origin-refused",
            Id::WebsocketFailed => "websocket.failed",
            Id::HeartbeatMissing => "heartbeat.missing",
            Id::HandshakeUnusual => "handshake.unusual",
        }
    }

    /// The one-line title.
    pub fn title(self) -> &'static str {
        match self {
            Id::UnreachableRefused => "Connection refused: nothing listens at this address",
            Id::UnreachableDns => "The host name does not resolve",
            Id::UnreachableTimeout => "The server does not answer in time",
            Id::TlsError => "The TLS handshake fails",
            Id::HttpUnexpectedStatus => "The handshake gets an HTTP error that is not Socket.IO's",
            Id::PathNotFound => "No Socket.IO server at this path",
            Id::EioVersionMismatch => "Engine.IO protocol versions do not match",
            Id::OriginRefused => "The server refuses this origin",
            Id::CorsMissingAllowOrigin => {
                "No Access-Control-Allow-Origin header: the browser hides the response"
            }
            Id::CorsOriginMismatch => "Access-Control-Allow-Origin names another origin",
            Id::CorsWildcardWithCredentials => {
                "Access-Control-Allow-Origin is * on a request with credentials"
            }
            Id::CorsMissingAllowCredentials => {
                "Credentials sent, but Access-Control-Allow-Credentials is not true"
            }
            Id::CorsMultipleAllowOrigin => "Access-Control-Allow-Origin is sent twice",
            Id::CorsPreflightFailed => "The CORS preflight (OPTIONS) fails",
            Id::PollingDisabled => "The server refuses HTTP long-polling",
            Id::NamespaceInvalid => "The namespace does not exist on the server",
            Id::NamespaceRejected => "The namespace refuses the connection",
            Id::NamespaceNoAnswer => "The namespace never answers the CONNECT",
            Id::StickySessionUnknown => "Requests of one session reach different server instances",
            Id::WebsocketProxyDroppedUpgrade => "A proxy drops the WebSocket upgrade headers",
            Id::WebsocketDisabled => "The server does not offer WebSocket",
            Id::WebsocketOriginRefused => "The server refuses this origin's WebSocket",
            Id::WebsocketFailed => "The WebSocket connection fails",
            Id::HeartbeatMissing => "No heartbeat (ping) from the server",
            Id::HandshakeUnusual => "Unusual handshake settings",
        }
    }
}

/// How bad a finding is: errors and warnings make the run unhealthy (exit 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Error,
    Warning,
    Info,
}

/// The fix, per server and proxy, as config snippets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Fix {
    pub portico: String,
    pub node: String,
    pub nginx: Option<String>,
}

/// One finding as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub id: Id,
    pub severity: Severity,
    pub title: String,
    pub client_error: String,
    pub browser_console: Option<String>,
    pub evidence: Vec<String>,
    pub why: String,
    pub fix: Fix,
}

/// What the catalogue's texts are filled with: the run's options and what was observed.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    /// The page's origin (`--origin`).
    pub origin: String,
    /// The client's path (`--path`, normalised with a trailing slash).
    pub path: String,
    /// The namespace.
    pub namespace: String,
    /// `--credentials`.
    pub credentials: bool,
    /// Whether the client was given `--auth`.
    pub auth: bool,
    /// A detail observed for this finding (the path that answers, the middleware's
    /// message, the refused header, the proxy's name, ...).
    pub detail: Option<String>,
}

impl Finding {
    /// A finding from the catalogue, with its default severity; `why_detail` is what was
    /// observed, put before the general explanation.
    pub fn new(id: Id, facts: &Facts, why_detail: impl Into<String>) -> Finding {
        let (severity, why, fix) = describe(id, facts);
        let detail: String = why_detail.into();
        let why = if detail.is_empty() {
            why
        } else {
            format!("{detail} {why}")
        };
        Finding {
            id,
            severity,
            title: id.title().to_string(),
            client_error: String::new(),
            browser_console: None,
            evidence: Vec::new(),
            why,
            fix,
        }
    }

    /// Sets what the official client reports.
    pub fn client(mut self, error: impl Into<String>) -> Finding {
        self.client_error = error.into();
        self
    }

    /// Sets the Chrome console line.
    pub fn console(mut self, line: impl Into<String>) -> Finding {
        self.browser_console = Some(line.into());
        self
    }

    /// Adds evidence lines.
    pub fn evidence(mut self, lines: impl IntoIterator<Item = String>) -> Finding {
        self.evidence.extend(lines);
        self
    }

    /// Overrides the severity.
    pub fn severity(mut self, severity: Severity) -> Finding {
        self.severity = severity;
        self
    }
}

/// The catalogue: default severity, the general why, and the fixes.
fn describe(id: Id, f: &Facts) -> (Severity, String, Fix) {
    let origin = f.origin.as_str();
    let path = f.path.as_str();
    let nsp = f.namespace.as_str();
    let detail = f.detail.as_deref().unwrap_or_default();
    let creds_portico = if f.credentials {
        " --cors-credentials"
    } else {
        ""
    };
    let creds_rust = if f.credentials {
        ".credentials(true)"
    } else {
        ""
    };
    let creds_node = if f.credentials {
        ", credentials: true"
    } else {
        ""
    };
    let node_cors =
        format!("new Server(httpServer, {{ cors: {{ origin: [\"{origin}\"]{creds_node} }} }});");
    let portico_cors = format!(
        "portico serve --cors-origin {origin}{creds_portico}\n\
         // library: Server::builder().origins(OriginPolicy::allow([\"{origin}\"])?{creds_rust})"
    );
    let upgrade_map = format!(
        "# http block\nmap $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}\n\
         # the location that proxies Socket.IO\nlocation {path} {{\n    proxy_pass http://app;\n    \
         proxy_http_version 1.1;\n    proxy_set_header Upgrade $http_upgrade;\n    \
         proxy_set_header Connection $connection_upgrade;\n    proxy_set_header Host $host;\n}}\n\
         # the whole tested file: {DEPLOYMENT_DOC}"
    );
    use Severity::{Error, Info, Warning};
    match id {
        Id::UnreachableRefused => (
            Error,
            "Nothing accepts TCP connections at this address: the server is not running, listens on another \
             port, or listens on another interface (127.0.0.1 only, while the client uses another address)."
                .into(),
            Fix {
                portico: "portico serve --host 0.0.0.0 --port PORT   # listen where the client looks\n\
                          // library: portico::serve((\"0.0.0.0\", PORT), io)"
                    .into(),
                node: "httpServer.listen(PORT);   // or new Server(PORT, { ... })".into(),
                nginx: Some("server { listen PORT; location / { proxy_pass http://127.0.0.1:3000; } }".into()),
            },
        ),
        Id::UnreachableDns => (
            Error,
            "The client cannot even start: the host name in the URL does not resolve (a typo, a name only \
             known inside a container network, or a missing DNS record)."
                .into(),
            Fix {
                portico: "Nothing to change in the server: give the client a URL whose host resolves.".into(),
                node: "Nothing to change in the server: give the client a URL whose host resolves.".into(),
                nginx: None,
            },
        ),
        Id::UnreachableTimeout => (
            Error,
            "Packets are dropped on the way (a firewall, a security group), or the server accepted the \
             connection and never answered (an app that does not route this path, a stuck upstream)."
                .into(),
            Fix {
                portico: "Check that `portico serve` runs and that its --host/--port are reachable from the client; \
                          RUST_LOG=portico=debug logs every request it receives."
                    .into(),
                node: "Check that the server listens (DEBUG=engine.io:* logs every request it receives) and that \
                       the http server passes this path to socket.io."
                    .into(),
                nginx: Some(format!(
                    "location {path} {{ proxy_pass http://app; proxy_connect_timeout 5s; }}   # and an upstream that runs"
                )),
            },
        ),
        Id::TlsError => (
            Error,
            "The browser refuses the connection before any HTTP request: the certificate is not trusted, \
             expired, or issued for another name, or the port does not speak TLS."
                .into(),
            Fix {
                portico: "Portico serves plain HTTP: terminate TLS in front of it with a certificate for this host \
                          (full chain), and pass --trusted-proxy PROXY_IP so it believes X-Forwarded-Proto."
                    .into(),
                node: "https.createServer({ key, cert /* full chain */ }, app); new Server(httpsServer, { ... });".into(),
                nginx: Some(
                    "listen 443 ssl;\nssl_certificate     /etc/ssl/fullchain.pem;   # the full chain, not the leaf only\n\
                     ssl_certificate_key /etc/ssl/privkey.pem;"
                        .into(),
                ),
            },
        ),
        Id::HttpUnexpectedStatus => (
            Error,
            "The handshake did not reach a Socket.IO server: something in between (a proxy whose upstream is \
             down, an auth layer, a router) answered with its own error."
                .into(),
            Fix {
                portico: "Make sure the request reaches Portico: RUST_LOG=portico=debug logs every request it receives."
                    .into(),
                node: "Make sure the request reaches socket.io: DEBUG=engine.io:* logs every request it receives."
                    .into(),
                nginx: Some(format!(
                    "location {path} {{ proxy_pass http://app; }}   # an upstream that runs; 502/504 mean it does not answer"
                )),
            },
        ),
        Id::PathNotFound => {
            let other = if detail.is_empty() { "/socket.io/" } else { detail };
            (
                Error,
                "The client's `path` option must equal the server's (default /socket.io/); Engine.IO answers only \
                 under its path, anything else gets the web server's 404 (without CORS headers)."
                    .into(),
                Fix {
                    portico: format!(
                        "portico serve --path {path}   # or change the client: io(URL, {{ path: \"{other}\" }})\n\
                         // library: Server::builder().path(\"{path}\")"
                    ),
                    node: format!(
                        "new Server(httpServer, {{ path: \"{path}\" }});   // or the client: io(URL, {{ path: \"{other}\" }})"
                    ),
                    nginx: Some(format!(
                        "location {path} {{ proxy_pass http://app; }}   # no URI part after the upstream: the path is kept"
                    )),
                },
            )
        }
        Id::EioVersionMismatch => (
            Error,
            "socket.io-client 2.x speaks Engine.IO v3, socket.io-client 3.x/4.x speaks v4. A v4 server refuses v3 \
             clients with code 5 unless allowed; a socket.io 2.x server speaks only v3."
                .into(),
            Fix {
                portico: "portico serve --allow-eio3   # accept socket.io-client 2.x too\n\
                          // library: Server::builder().allow_eio3(true)\n\
                          # a Portico server always speaks v4: for a v3-only server, upgrade the server"
                    .into(),
                node: "new Server(httpServer, { allowEIO3: true });   // accept 2.x clients on socket.io 4\n\
                       // a socket.io 2.x server: npm install socket.io@4 (or keep socket.io-client@2 on the page)"
                    .into(),
                nginx: None,
            },
        ),
        Id::OriginRefused => (
            Error,
            format!(
                "The server refused the request outright (no session, no CORS headers), so the browser shows a \
                 CORS error. Portico does this for every origin its policy does not allow (the default is same \
                 origin only); an allow_request hook (Node: allowRequest) does it too. The page's exact origin \
                 is \"{origin}\": scheme, host and port must match."
            ),
            Fix {
                portico: portico_cors.clone(),
                node: format!(
                    "{node_cors}\n// and if allowRequest refuses it: new Server(httpServer, {{ allowRequest: (req, cb) => cb(null, true) }})"
                ),
                nginx: None,
            },
        ),
        Id::CorsMissingAllowOrigin => (
            Error,
            format!(
                "Without Access-Control-Allow-Origin the browser hides the response from the page. Node's \
                 socket.io sends none without a `cors` option, or when the origin is not in the list (but still \
                 creates the session). The page's exact origin is \"{origin}\"."
            ),
            Fix { portico: portico_cors.clone(), node: node_cors.clone(), nginx: None },
        ),
        Id::CorsOriginMismatch => (
            Error,
            format!(
                "Browsers compare Access-Control-Allow-Origin with the page's origin (\"{origin}\") exactly: another \
                 host, port or scheme, or a trailing slash, fails. Node sends a fixed string `origin` to every \
                 requester; Portico only ever echoes the request's own origin, so a fixed value in front of Portico \
                 comes from a proxy or a cache."
            ),
            Fix {
                portico: portico_cors.clone(),
                node: format!("{node_cors}   // an array (or RegExp), not a fixed string"),
                nginx: Some(
                    "# remove a fixed value set by nginx; let the app send the header\n\
                     # add_header Access-Control-Allow-Origin https://other.example;   <- delete\n\
                     proxy_pass http://app;"
                        .into(),
                ),
            },
        ),
        Id::CorsWildcardWithCredentials => (
            Error,
            "The page sends credentials (withCredentials: true) and the server answered \
             Access-Control-Allow-Origin: *. Browsers never hand a credentialed response to a wildcard; the server \
             must echo the exact origin and send Access-Control-Allow-Credentials: true. Node accepts \
             `origin: \"*\"` with `credentials: true` and fails in every browser; Portico refuses that \
             combination at startup (--cors-any-origin answers * to everyone)."
                .into(),
            Fix {
                portico: format!(
                    "portico serve --cors-origin {origin} --cors-credentials   # instead of --cors-any-origin\n\
                     // library: OriginPolicy::allow([\"{origin}\"])?.credentials(true)\n\
                     // or drop withCredentials on the client"
                ),
                node: format!(
                    "new Server(httpServer, {{ cors: {{ origin: [\"{origin}\"], credentials: true }} }});   // not origin: \"*\""
                ),
                nginx: Some(
                    "# remove a wildcard set by nginx; let the app echo the origin\n\
                     # add_header Access-Control-Allow-Origin *;   <- delete"
                        .into(),
                ),
            },
        ),
        Id::CorsMissingAllowCredentials => (
            Error,
            "With credentials (withCredentials: true) the browser also needs Access-Control-Allow-Credentials: true \
             (exactly, lowercase) next to the page's exact origin."
                .into(),
            Fix {
                portico: format!(
                    "portico serve --cors-origin {origin} --cors-credentials\n\
                     // library: OriginPolicy::allow([\"{origin}\"])?.credentials(true)"
                ),
                node: format!(
                    "new Server(httpServer, {{ cors: {{ origin: [\"{origin}\"], credentials: true }} }});"
                ),
                nginx: None,
            },
        ),
        Id::CorsMultipleAllowOrigin => (
            Error,
            "Two Access-Control-Allow-Origin values arrived (browsers accept exactly one): typically the app sends \
             it and a proxy adds its own with `add_header`, or two CORS middlewares run on the same path."
                .into(),
            Fix {
                portico: "Portico sends the header once: remove the one the proxy (or another CORS layer) adds, and \
                          keep the origins in Portico (--cors-origin ...)."
                    .into(),
                node: "Keep one CORS layer: the socket.io `cors` option, or an express cors() middleware, not both \
                       on the same path."
                    .into(),
                nginx: Some(format!(
                    "location {path} {{\n    proxy_pass http://app;\n    \
                     # add_header Access-Control-Allow-Origin *;   <- delete: the app already sends it\n    \
                     # or, if nginx must own CORS: proxy_hide_header Access-Control-Allow-Origin;\n}}"
                )),
            },
        ),
        Id::CorsPreflightFailed => {
            let header = if detail.is_empty() { "x-token" } else { detail };
            (
                Error,
                "Extra request headers (the client's `extraHeaders`) make the browser send an OPTIONS preflight \
                 before each polling request; the request is sent only if the preflight answers 2xx with the \
                 page's origin and lists every requested header. Browsers never send credentials on a preflight, \
                 so an auth layer must let OPTIONS through."
                    .into(),
                Fix {
                    portico: format!(
                        "portico serve --cors-origin {origin} --cors-allow-header {header}\n\
                         // library: OriginPolicy::allow([\"{origin}\"])?.allow_headers([\"{header}\"])"
                    ),
                    node: format!(
                        "new Server(httpServer, {{ cors: {{ origin: [\"{origin}\"], allowedHeaders: [\"{header}\"]{creds_node} }} }});"
                    ),
                    nginx: Some(format!(
                        "location {path} {{\n    proxy_pass http://app;   # let OPTIONS reach the app: no `return 204`, \
                         no auth_request on OPTIONS\n}}"
                    )),
                },
            )
        }
        Id::PollingDisabled => (
            Error,
            "The server accepts only WebSocket (transports: [\"websocket\"]), but the official client starts with \
             HTTP long-polling by default and fails with `xhr poll error`."
                .into(),
            Fix {
                portico: "Server::builder().polling(true)   // the default; or the client: io(URL, { transports: [\"websocket\"] })"
                    .into(),
                node: "new Server(httpServer, { transports: [\"polling\", \"websocket\"] });   // or the client: \
                       io(URL, { transports: [\"websocket\"] })"
                    .into(),
                nginx: None,
            },
        ),
        Id::NamespaceInvalid => (
            Error,
            format!(
                "The server has no namespace \"{nsp}\": a namespace exists only once the server calls io.of(\"{nsp}\") \
                 (or a parent namespace pattern matches it). The Engine.IO connection stays open."
            ),
            Fix {
                portico: format!("io.of(\"{nsp}\").on_connection(|socket: Socket| async move {{ /* ... */ }});"),
                node: format!("io.of(\"{nsp}\").on(\"connection\", (socket) => {{ /* ... */ }});"),
                nginx: None,
            },
        ),
        Id::NamespaceRejected => {
            let hint = if f.auth {
                " The client sent the --auth payload; check what the middleware expects in it."
            } else {
                " The client sent no auth payload (try --auth '{\"token\":\"...\"}'): middlewares usually check \
                 socket.handshake.auth."
            };
            (
                Error,
                format!(
                    "A connect middleware of namespace \"{nsp}\" refused the connection; the client gets \
                     connect_error with the middleware's message.{hint}"
                ),
                Fix {
                    portico: format!(
                        "// the middleware that refuses:\nio.of(\"{nsp}\").use_connect(|socket: Socket| async move {{ \
                         /* ... */ Err(ConnectError::new(\"...\")) }});\n// give the client what it checks: io(URL, {{ auth: {{ token: \"...\" }} }})"
                    ),
                    node: format!(
                        "// the middleware that refuses:\nio.of(\"{nsp}\").use((socket, next) => next(new Error(\"...\")));\n\
                         // give the client what it checks: io(URL, {{ auth: {{ token: \"...\" }} }})"
                    ),
                    nginx: None,
                },
            )
        }
        Id::NamespaceNoAnswer => (
            Error,
            format!(
                "The CONNECT for \"{nsp}\" got neither a connect nor a connect_error answer: a connect middleware \
                 that never calls next() (Node) or never returns (Portico), or a server that drops the packet. \
                 The official client gives up after its `timeout` option (20 s)."
            ),
            Fix {
                portico: format!("// every io.of(\"{nsp}\").use_connect(..) must return Ok(()) or Err(ConnectError) promptly"),
                node: format!("// every io.of(\"{nsp}\").use((socket, next) => ...) must call next() or next(err)"),
                nginx: None,
            },
        ),
        Id::StickySessionUnknown => (
            Error,
            "A poll after the handshake got 400 {\"code\":1,\"message\":\"Session ID unknown\"}: requests of one \
             session reach different server instances, and only the one that made the handshake knows the \
             session. HTTP long-polling needs sticky sessions at the load balancer."
                .into(),
            Fix {
                portico: format!(
                    "Sticky sessions at the load balancer (see {DEPLOYMENT_DOC}), portico serve --redis redis://HOST:6379 \
                     on every node for broadcasts; or the client: io(URL, {{ transports: [\"websocket\"] }})"
                ),
                node: "@socket.io/sticky (Node cluster) or a sticky load balancer, plus @socket.io/redis-adapter; or \
                       the client: io(URL, { transports: [\"websocket\"] })"
                    .into(),
                nginx: Some(format!(
                    "upstream app {{\n    ip_hash;   # one client address, one node\n    server 10.0.0.1:3000;\n    \
                     server 10.0.0.2:3000;\n}}\n# the whole tested file: {DEPLOYMENT_DOC}"
                )),
            },
        ),
        Id::WebsocketProxyDroppedUpgrade => (
            Warning,
            format!(
                "The WebSocket request reached the Socket.IO server without its `Upgrade: websocket` and \
                 `Connection: Upgrade` headers, so the server answered 400 {{\"code\":3,\"message\":\"Bad request\"}}. \
                 These are hop-by-hop headers: a proxy drops them unless told to pass them on{}. Polling works, so \
                 the default client stays on long-polling; a WebSocket-only client cannot connect.",
                if detail.is_empty() { String::new() } else { format!(" (here: {detail})") }
            ),
            Fix {
                portico: format!("Nothing to change in Portico: fix the proxy (the nginx config in {DEPLOYMENT_DOC})."),
                node: format!("Nothing to change in socket.io: fix the proxy (the nginx config in {DEPLOYMENT_DOC})."),
                nginx: Some(upgrade_map.clone()),
            },
        ),
        Id::WebsocketDisabled => (
            Warning,
            "The server does not offer WebSocket (an empty `upgrades` list, or code 0 \"Transport unknown\" to a \
             WebSocket request): the client stays on long-polling, with more requests and latency, and a \
             WebSocket-only client cannot connect."
                .into(),
            Fix {
                portico: "Server::builder().websocket(true).allow_upgrades(true)   // both the default; portico serve \
                          always offers WebSocket"
                    .into(),
                node: "new Server(httpServer, { transports: [\"polling\", \"websocket\"], allowUpgrades: true });".into(),
                nginx: None,
            },
        ),
        Id::WebsocketOriginRefused => (
            Warning,
            format!(
                "The server refused the WebSocket from \"{origin}\" (403 before 101). Browsers apply no CORS to \
                 WebSockets, so the server's own Origin check is the only protection; Portico checks it with the \
                 same policy as polling (Node's socket.io accepts any origin). If polling from this page works, \
                 the server's view of its own origin may differ (TLS ended at a proxy)."
            ),
            Fix {
                portico: format!(
                    "{portico_cors}\n# behind a TLS proxy: portico serve --trusted-proxy PROXY_IP (X-Forwarded-Proto/-Host)"
                ),
                node: "// an allowRequest that checks req.headers.origin refuses it: allow this origin there".into(),
                nginx: Some(
                    "proxy_set_header Host $host;\nproxy_set_header X-Forwarded-Proto $scheme;\n\
                     proxy_set_header X-Forwarded-Host $host;"
                        .into(),
                ),
            },
        ),
        Id::WebsocketFailed => (
            Warning,
            "The WebSocket did not open or did not complete the Engine.IO probe (2probe/3probe): something \
             between the client and the server (a proxy, a firewall, a server that answers the path without \
             Engine.IO) breaks it."
                .into(),
            Fix {
                portico: "RUST_LOG=portico=debug portico serve ...   # logs each upgrade and why it ended".into(),
                node: "DEBUG=engine.io:* node server.js   # logs each upgrade and why it ended".into(),
                nginx: Some(upgrade_map),
            },
        ),
        Id::HeartbeatMissing => (
            Error,
            "The server pings every pingInterval; without a ping within pingInterval + pingTimeout the client \
             closes with `ping timeout` and reconnects. A proxy that buffers long-polling responses, or one whose \
             read timeout is shorter than the interval, holds the ping back."
                .into(),
            Fix {
                portico: "portico serve --ping-interval 25000 --ping-timeout 20000   # the defaults".into(),
                node: "new Server(httpServer, { pingInterval: 25000, pingTimeout: 20000 });   // the defaults".into(),
                nginx: Some(format!(
                    "location {path} {{\n    proxy_pass http://app;\n    proxy_buffering off;\n    \
                     proxy_read_timeout 120s;   # above pingInterval + pingTimeout\n}}"
                )),
            },
        ),
        Id::HandshakeUnusual => (
            Info,
            "Settings that work on loopback but fail elsewhere: proxies close idle connections after 60 s by \
             default (nginx proxy_read_timeout), a tiny maxPayload drops ordinary messages."
                .into(),
            Fix {
                portico: "portico serve --ping-interval 25000 --ping-timeout 20000 --max-payload 1000000   # the defaults"
                    .into(),
                node: "new Server(httpServer, { pingInterval: 25000, pingTimeout: 20000, maxHttpBufferSize: 1e6 });"
                    .into(),
                nginx: Some(format!(
                    "location {path} {{ proxy_pass http://app; proxy_read_timeout 120s; }}   # above pingInterval + pingTimeout"
                )),
            },
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        Facts {
            origin: "http://localhost:5173".into(),
            path: "/socket.io/".into(),
            namespace: "/".into(),
            ..Facts::default()
        }
    }

    #[test]
    fn every_id_has_a_title_why_and_fixes() {
        let mut seen = std::collections::HashSet::new();
        for id in Id::ALL {
            let s = id.as_str();
            assert!(seen.insert(s), "duplicate id {s}");
            assert!(
                s.contains('.')
                    && s.chars()
                        .all(|c| c.is_ascii_lowercase() || c == '.' || c == '-')
            );
            let f = Finding::new(id, &facts(), "");
            assert!(!f.title.is_empty(), "{s}");
            assert!(f.why.len() > 40, "{s}: why too short");
            assert!(!f.fix.portico.is_empty() && !f.fix.node.is_empty(), "{s}");
        }
    }

    #[test]
    fn the_contract_ids() {
        let contract = [
            "unreachable.refused",
            "unreachable.dns",
            "unreachable.timeout",
            "tls.error",
            "path.not-found",
            "eio.version-mismatch",
            "cors.missing-allow-origin",
            "cors.origin-mismatch",
            "cors.wildcard-with-credentials",
            "cors.missing-allow-credentials",
            "cors.multiple-allow-origin",
            "cors.preflight-failed",
            "origin.refused",
            "websocket.proxy-dropped-upgrade",
            "websocket.disabled",
            "websocket.origin-refused",
            "websocket.failed",
            "polling.disabled",
            "namespace.invalid",
            "namespace.rejected",
            "sticky.session-unknown",
            "heartbeat.missing",
            "handshake.unusual",
        ];
        let ours: Vec<&str> = Id::ALL.iter().map(|i| i.as_str()).collect();
        for id in contract {
            assert!(ours.contains(&id), "{id} missing");
        }
        // The two additions, documented in docs/doctor.md.
        assert_eq!(ours.len(), contract.len() + 2);
    }

    #[test]
    fn fixes_name_the_origin_and_flags() {
        let f = Finding::new(
            Id::CorsMissingAllowOrigin,
            &Facts {
                credentials: true,
                ..facts()
            },
            "",
        );
        assert!(f
            .fix
            .portico
            .contains("--cors-origin http://localhost:5173 --cors-credentials"));
        assert!(f
            .fix
            .portico
            .contains("OriginPolicy::allow([\"http://localhost:5173\"])?.credentials(true)"));
        assert!(f
            .fix
            .node
            .contains("cors: { origin: [\"http://localhost:5173\"], credentials: true }"));
        let f = Finding::new(Id::EioVersionMismatch, &facts(), "");
        assert!(f.fix.portico.contains("--allow-eio3") && f.fix.node.contains("allowEIO3: true"));
        let f = Finding::new(Id::WebsocketProxyDroppedUpgrade, &facts(), "");
        let nginx = f.fix.nginx.unwrap_or_default();
        assert!(
            nginx.contains("proxy_set_header Upgrade $http_upgrade;")
                && nginx.contains(DEPLOYMENT_DOC)
        );
        let f = Finding::new(Id::StickySessionUnknown, &facts(), "");
        assert!(f.fix.nginx.unwrap_or_default().contains("ip_hash;"));
        let f = Finding::new(
            Id::PathNotFound,
            &Facts {
                path: "/ws/".into(),
                ..facts()
            },
            "seen",
        );
        assert!(f.fix.portico.contains(".path(\"/ws/\")") && f.why.starts_with("seen "));
    }

    #[test]
    fn docs_describe_every_finding_and_no_other() {
        let doc = include_str!("../../../../docs/doctor.md");
        let documented: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("### `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let ours: Vec<&str> = Id::ALL.iter().map(|i| i.as_str()).collect();
        for id in &ours {
            assert!(
                documented.contains(id),
                "docs/doctor.md has no section for {id}"
            );
        }
        for id in &documented {
            assert!(
                ours.contains(id),
                "docs/doctor.md documents {id}, which doctor never reports"
            );
        }
    }
}
