//! The policy as a table: origin × config × method/headers → verdict and the exact
//! response headers.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::net::IpAddr;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use portico_cors::{CorsHeaders, DenyKind, OriginPolicy, RequestInfo, Transport, Verdict};

// Request header names.
const ORIGIN: &str = "origin";
const HOST: &str = "host";
const ACRM: &str = "access-control-request-method";
const ACRH: &str = "access-control-request-headers";
const ACRPN: &str = "access-control-request-private-network";
const SFS: &str = "sec-fetch-site";
const XFH: &str = "x-forwarded-host";
const XFP: &str = "x-forwarded-proto";
// Response header names.
const ACAO: &str = "access-control-allow-origin";
const ACAC: &str = "access-control-allow-credentials";
const ACAM: &str = "access-control-allow-methods";
const ACAH: &str = "access-control-allow-headers";
const ACEH: &str = "access-control-expose-headers";
const MAX_AGE: &str = "access-control-max-age";
const ACAPN: &str = "access-control-allow-private-network";
const VARY: &str = "vary";

const APP: &str = "https://app.example.com";

type Pairs = &'static [(&'static str, &'static str)];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    Allow,
    Preflight,
    Deny(DenyKind),
}

struct Row {
    name: &'static str,
    policy: fn() -> OriginPolicy,
    method: &'static str,
    headers: Pairs,
    tls: bool,
    peer: Option<&'static str>,
    authority: Option<&'static str>,
    transport: Transport,
    expect: Expect,
    want: Pairs,
}

fn r(
    name: &'static str,
    policy: fn() -> OriginPolicy,
    method: &'static str,
    headers: Pairs,
) -> Row {
    Row {
        name,
        policy,
        method,
        headers,
        tls: false,
        peer: None,
        authority: None,
        transport: Transport::Polling,
        expect: Expect::Allow,
        want: &[],
    }
}

impl Row {
    fn tls(mut self) -> Self {
        self.tls = true;
        self
    }
    fn peer(mut self, peer: &'static str) -> Self {
        self.peer = Some(peer);
        self
    }
    fn authority(mut self, authority: &'static str) -> Self {
        self.authority = Some(authority);
        self
    }
    fn ws(mut self) -> Self {
        self.transport = Transport::WebSocket;
        self
    }
    fn allow(mut self, want: Pairs) -> Self {
        self.expect = Expect::Allow;
        self.want = want;
        self
    }
    fn preflight(mut self, want: Pairs) -> Self {
        self.expect = Expect::Preflight;
        self.want = want;
        self
    }
    fn deny(mut self, kind: DenyKind, want: Pairs) -> Self {
        self.expect = Expect::Deny(kind);
        self.want = want;
        self
    }
}

// ---- policies -------------------------------------------------------------------------

fn same() -> OriginPolicy {
    OriginPolicy::same_origin()
}
fn list() -> OriginPolicy {
    OriginPolicy::allow([APP, "https://*.example.com"]).unwrap()
}
fn list_cred() -> OriginPolicy {
    list().credentials(true)
}
fn port_pattern() -> OriginPolicy {
    OriginPolicy::allow(["https://*.example.com:8443"]).unwrap()
}
fn any() -> OriginPolicy {
    OriginPolicy::any_origin()
}
fn any_unvalidated_cred() -> OriginPolicy {
    OriginPolicy::any_origin().credentials(true)
}
fn any_reflect_headers() -> OriginPolicy {
    OriginPolicy::any_origin().reflect_request_headers()
}
fn reflect_danger() -> OriginPolicy {
    OriginPolicy::reflect_any_origin_with_credentials_dangerously()
}
fn pred() -> OriginPolicy {
    OriginPolicy::predicate(|o| o.scheme() == "https" && o.host().ends_with(".internal.test"))
}
fn null_cred() -> OriginPolicy {
    OriginPolicy::allow([APP])
        .unwrap()
        .allow_null_origin(true)
        .credentials(true)
}
fn origin_required() -> OriginPolicy {
    OriginPolicy::allow([APP])
        .unwrap()
        .serve_requests_without_origin(false)
}
/// Node's capture `E_full_options`, minus `optionsSuccessStatus`.
fn full() -> OriginPolicy {
    OriginPolicy::allow(["http://good-domain.com"])
        .unwrap()
        .allow_methods(["GET", "PUT", "POST"])
        .allow_headers(["my-header"])
        .expose_headers(["my-exposed-header"])
        .credentials(true)
        .max_age(Duration::from_secs(123))
}
fn reflect_headers() -> OriginPolicy {
    OriginPolicy::allow([APP])
        .unwrap()
        .reflect_request_headers()
}
fn pna() -> OriginPolicy {
    OriginPolicy::allow([APP])
        .unwrap()
        .allow_private_network(true)
}
fn proxied() -> OriginPolicy {
    OriginPolicy::same_origin().trusted_proxies(["10.0.0.1".parse::<IpAddr>().unwrap()])
}
fn loopback_proxy() -> OriginPolicy {
    OriginPolicy::same_origin().trust_loopback_proxies(true)
}
fn local_dev() -> OriginPolicy {
    OriginPolicy::allow(["http://localhost:5173"]).unwrap()
}
fn no_same() -> OriginPolicy {
    OriginPolicy::allow([APP]).unwrap().allow_same_origin(false)
}
fn wild_headers() -> OriginPolicy {
    OriginPolicy::allow([APP]).unwrap().allow_headers(["*"])
}
fn any_methods() -> OriginPolicy {
    OriginPolicy::allow([APP]).unwrap().allow_methods(["*"])
}

use DenyKind::*;

// ---- the table ------------------------------------------------------------------------

#[rustfmt::skip] // a table reads best as one row per line
fn rows() -> Vec<Row> {
    vec![
        // Same-origin only (the default): the Origin must be the server's own.
        r("same: own origin", same, "GET", &[(ORIGIN, "http://localhost:3000"), (HOST, "localhost:3000")])
            .allow(&[(ACAO, "http://localhost:3000"), (VARY, "Origin")]),
        r("same: other port", same, "GET", &[(ORIGIN, "http://localhost:5173"), (HOST, "localhost:3000")])
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("same: no Origin served", same, "GET", &[(HOST, "localhost:3000")]).allow(&[(VARY, "Origin")]),
        r("same: https page, plain listener", same, "GET", &[(ORIGIN, "https://localhost:3000"), (HOST, "localhost:3000")])
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("same: tls, default port in Host", same, "GET", &[(ORIGIN, "https://api.example.com"), (HOST, "api.example.com:443")])
            .tls()
            .allow(&[(ACAO, "https://api.example.com"), (VARY, "Origin")]),
        r("same: tls, other port", same, "GET", &[(ORIGIN, "https://api.example.com:8443"), (HOST, "api.example.com")])
            .tls()
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("same: uppercase Origin echoed as sent", same, "GET", &[(ORIGIN, "HTTP://LOCALHOST:3000"), (HOST, "localhost:3000")])
            .allow(&[(ACAO, "HTTP://LOCALHOST:3000"), (VARY, "Origin")]),
        r("same: explicit :80 normalises", same, "GET", &[(ORIGIN, "http://localhost:80"), (HOST, "localhost")])
            .allow(&[(ACAO, "http://localhost:80"), (VARY, "Origin")]),
        r("same: IPv6 host", same, "GET", &[(ORIGIN, "http://[::1]:3000"), (HOST, "[::1]:3000")])
            .allow(&[(ACAO, "http://[::1]:3000"), (VARY, "Origin")]),
        r("same: HTTP/2 authority, no Host", same, "GET", &[(ORIGIN, "https://api.example.com")])
            .tls()
            .authority("api.example.com")
            .allow(&[(ACAO, "https://api.example.com"), (VARY, "Origin")]),
        r("same: no Host at all", same, "GET", &[(ORIGIN, "http://localhost:3000")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("same: websocket from elsewhere", same, "GET", &[(ORIGIN, "http://evil.test"), (HOST, "localhost:3000")])
            .ws()
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("same: websocket own origin", same, "GET", &[(ORIGIN, "http://localhost:3000"), (HOST, "localhost:3000")])
            .ws()
            .allow(&[(ACAO, "http://localhost:3000"), (VARY, "Origin")]),
        r("same: null", same, "GET", &[(ORIGIN, "null"), (HOST, "localhost:3000")]).deny(NullOrigin, &[(VARY, "Origin")]),
        r("same: malformed, no scheme", same, "GET", &[(ORIGIN, "localhost:3000"), (HOST, "localhost:3000")])
            .deny(MalformedOrigin, &[(VARY, "Origin")]),
        r("same: malformed, trailing slash", same, "GET", &[(ORIGIN, "http://localhost:3000/"), (HOST, "localhost:3000")])
            .deny(MalformedOrigin, &[(VARY, "Origin")]),
        r("same: two Origin headers", same, "GET", &[(ORIGIN, "http://localhost:3000"), (ORIGIN, "http://localhost:3000"), (HOST, "localhost:3000")])
            .deny(MalformedOrigin, &[(VARY, "Origin")]),
        // Fetch metadata without Origin.
        r("sfs: cross-site without Origin", same, "GET", &[(SFS, "cross-site"), (HOST, "localhost:3000")])
            .deny(CrossSiteWithoutOrigin, &[(VARY, "Origin")]),
        r("sfs: same-site without Origin", same, "GET", &[(SFS, "same-site")]).deny(CrossSiteWithoutOrigin, &[(VARY, "Origin")]),
        r("sfs: same-origin without Origin", same, "GET", &[(SFS, "same-origin")]).allow(&[(VARY, "Origin")]),
        r("sfs: none (typed URL)", same, "GET", &[(SFS, "none")]).allow(&[(VARY, "Origin")]),
        r("sfs: cross-site, list policy", list, "GET", &[(SFS, "cross-site")]).deny(CrossSiteWithoutOrigin, &[(VARY, "Origin")]),
        r("sfs: Cross-Site in another case", same, "GET", &[(SFS, "Cross-Site")]).deny(CrossSiteWithoutOrigin, &[(VARY, "Origin")]),
        r("sfs: a longer word is not cross-site", same, "GET", &[(SFS, "cross-sites")]).allow(&[(VARY, "Origin")]),
        // Trusted proxies.
        r("proxy: trusted X-Forwarded-*", proxied, "GET", &[(ORIGIN, APP), (HOST, "internal:8080"), (XFH, "app.example.com"), (XFP, "https")])
            .peer("10.0.0.1")
            .allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("proxy: untrusted peer ignored", proxied, "GET", &[(ORIGIN, APP), (HOST, "internal:8080"), (XFH, "app.example.com"), (XFP, "https")])
            .peer("10.0.0.9")
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("proxy: first of several values", proxied, "GET", &[(ORIGIN, APP), (XFH, "app.example.com, internal"), (XFP, "https, http")])
            .peer("10.0.0.1")
            .allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("proxy: IPv4-mapped peer", proxied, "GET", &[(ORIGIN, APP), (XFH, "app.example.com"), (XFP, "https")])
            .peer("::ffff:10.0.0.1")
            .allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("proxy: none configured", same, "GET", &[(ORIGIN, APP), (HOST, "internal:8080"), (XFH, "app.example.com"), (XFP, "https")])
            .peer("127.0.0.1")
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("proxy: loopback trusted", loopback_proxy, "GET", &[(ORIGIN, APP), (HOST, "127.0.0.1:8080"), (XFH, "app.example.com"), (XFP, "https")])
            .peer("127.0.0.1")
            .allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("proxy: tls listener, proxy says http", proxied, "GET", &[(ORIGIN, "http://app.example.com"), (XFH, "app.example.com"), (XFP, "http")])
            .tls()
            .peer("10.0.0.1")
            .allow(&[(ACAO, "http://app.example.com"), (VARY, "Origin")]),
        r("proxy: wss from the proxy means https", proxied, "GET", &[(ORIGIN, APP), (XFH, "app.example.com"), (XFP, "wss")])
            .peer("10.0.0.1")
            .allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("proxy: forwarded host with port", proxied, "GET", &[(ORIGIN, "https://app.example.com:8443"), (XFH, "app.example.com:8443"), (XFP, "https")])
            .peer("10.0.0.1")
            .allow(&[(ACAO, "https://app.example.com:8443"), (VARY, "Origin")]),
        // Exact origins and subdomain patterns.
        r("list: exact", list, "GET", &[(ORIGIN, APP)]).allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("list: subdomain", list, "GET", &[(ORIGIN, "https://a.example.com")]).allow(&[(ACAO, "https://a.example.com"), (VARY, "Origin")]),
        r("list: nested subdomain", list, "GET", &[(ORIGIN, "https://a.b.example.com")]).allow(&[(ACAO, "https://a.b.example.com"), (VARY, "Origin")]),
        r("list: apex is not a subdomain", list, "GET", &[(ORIGIN, "https://example.com")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: lookalike evil-example.com", list, "GET", &[(ORIGIN, "https://evil-example.com")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: lookalike example.com.evil.net", list, "GET", &[(ORIGIN, "https://example.com.evil.net")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: lookalike app.example.com.evil.net", list, "GET", &[(ORIGIN, "https://app.example.com.evil.net")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: scheme must match", list, "GET", &[(ORIGIN, "http://a.example.com")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: port must match", list, "GET", &[(ORIGIN, "https://a.example.com:8443")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: uppercase normalises, echoed as sent", list, "GET", &[(ORIGIN, "HTTPS://APP.EXAMPLE.COM")])
            .allow(&[(ACAO, "HTTPS://APP.EXAMPLE.COM"), (VARY, "Origin")]),
        r("list: explicit default port", list, "GET", &[(ORIGIN, "https://app.example.com:443")])
            .allow(&[(ACAO, "https://app.example.com:443"), (VARY, "Origin")]),
        r("list: trailing-dot host", list, "GET", &[(ORIGIN, "https://app.example.com.")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: no Origin served", list, "GET", &[]).allow(&[(VARY, "Origin")]),
        r("list: polling POST", list, "POST", &[(ORIGIN, APP)]).allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("list: polling POST refused", list, "POST", &[(ORIGIN, "https://evil.test")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("list: websocket allowed", list, "GET", &[(ORIGIN, "https://chat.example.com")])
            .ws()
            .allow(&[(ACAO, "https://chat.example.com"), (VARY, "Origin")]),
        r("list: websocket lookalike refused", list, "GET", &[(ORIGIN, "https://evil-example.com")])
            .ws()
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        // OPTIONS that is not a preflight, and preflights.
        r("options: no ACRM is not a preflight", list, "OPTIONS", &[(ORIGIN, APP)]).allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("options: no Origin is not a preflight", list, "OPTIONS", &[(ACRM, "POST")]).allow(&[(VARY, "Origin")]),
        r("options: disallowed, not a preflight", list, "OPTIONS", &[(ORIGIN, "https://evil.test")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("preflight: allowed", list, "OPTIONS", &[(ORIGIN, APP), (ACRM, "POST")])
            .preflight(&[(ACAO, APP), (VARY, "Origin"), (ACAM, "GET, POST")]),
        r("preflight: method not allowed", list, "OPTIONS", &[(ORIGIN, APP), (ACRM, "PUT")]).deny(MethodNotAllowed, &[(VARY, "Origin")]),
        r("preflight: methods are case-sensitive", list, "OPTIONS", &[(ORIGIN, APP), (ACRM, "post")])
            .deny(MethodNotAllowed, &[(VARY, "Origin")]),
        r("preflight: disallowed origin", list, "OPTIONS", &[(ORIGIN, "https://evil.test"), (ACRM, "POST")])
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("preflight: header not allowed", list, "OPTIONS", &[(ORIGIN, APP), (ACRM, "POST"), (ACRH, "x-foo")])
            .deny(HeaderNotAllowed, &[(VARY, "Origin")]),
        r("preflight: PNA asked, not opted in", list, "OPTIONS", &[(ORIGIN, APP), (ACRM, "GET"), (ACRPN, "true")])
            .preflight(&[(ACAO, APP), (VARY, "Origin"), (ACAM, "GET, POST")]),
        // Credentials with a list.
        r("cred: allowed", list_cred, "GET", &[(ORIGIN, APP)]).allow(&[(ACAO, APP), (ACAC, "true"), (VARY, "Origin")]),
        r("cred: disallowed gets no ACAC", list_cred, "GET", &[(ORIGIN, "https://evil.test")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("cred: no Origin gets no ACAC", list_cred, "GET", &[]).allow(&[(VARY, "Origin")]),
        r("cred: preflight", list_cred, "OPTIONS", &[(ORIGIN, "https://a.example.com"), (ACRM, "GET")])
            .preflight(&[(ACAO, "https://a.example.com"), (ACAC, "true"), (VARY, "Origin"), (ACAM, "GET, POST")]),
        // Patterns with a port.
        r("port pattern: that port", port_pattern, "GET", &[(ORIGIN, "https://a.example.com:8443")])
            .allow(&[(ACAO, "https://a.example.com:8443"), (VARY, "Origin")]),
        r("port pattern: default port", port_pattern, "GET", &[(ORIGIN, "https://a.example.com")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("port pattern: apex", port_pattern, "GET", &[(ORIGIN, "https://example.com:8443")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        // any_origin(): `*`, no Vary: Origin.
        r("any: some origin", any, "GET", &[(ORIGIN, "https://whatever.test")]).allow(&[(ACAO, "*")]),
        r("any: no Origin", any, "GET", &[]).allow(&[(ACAO, "*")]),
        r("any: null", any, "GET", &[(ORIGIN, "null")]).allow(&[(ACAO, "*")]),
        r("any: cross-site without Origin", any, "GET", &[(SFS, "cross-site")]).allow(&[(ACAO, "*")]),
        r("any: websocket", any, "GET", &[(ORIGIN, "https://whatever.test")]).ws().allow(&[(ACAO, "*")]),
        r("any: preflight", any, "OPTIONS", &[(ORIGIN, "https://whatever.test"), (ACRM, "POST")])
            .preflight(&[(ACAO, "*"), (ACAM, "GET, POST")]),
        r("any: preflight method refused", any, "OPTIONS", &[(ORIGIN, "https://whatever.test"), (ACRM, "PUT")]).deny(MethodNotAllowed, &[]),
        r("any: unvalidated credentials never sent with *", any_unvalidated_cred, "GET", &[(ORIGIN, "https://x.test")]).allow(&[(ACAO, "*")]),
        r("any+reflect headers: preflight", any_reflect_headers, "OPTIONS", &[(ORIGIN, "https://x.test"), (ACRM, "POST"), (ACRH, "content-type, x-foo")])
            .preflight(&[(ACAO, "*"), (ACAM, "GET, POST"), (ACAH, "content-type, x-foo"), (VARY, "Access-Control-Request-Headers")]),
        r("any+reflect headers: GET", any_reflect_headers, "GET", &[(ORIGIN, "https://x.test")]).allow(&[(ACAO, "*")]),
        // The dangerous reflector.
        r("danger: reflects anything with credentials", reflect_danger, "GET", &[(ORIGIN, "https://evil.test")])
            .allow(&[(ACAO, "https://evil.test"), (ACAC, "true"), (VARY, "Origin")]),
        r("danger: still refuses null", reflect_danger, "GET", &[(ORIGIN, "null")]).deny(NullOrigin, &[(VARY, "Origin")]),
        r("danger: cross-site without Origin", reflect_danger, "GET", &[(SFS, "cross-site")])
            .deny(CrossSiteWithoutOrigin, &[(VARY, "Origin")]),
        r("danger: malformed", reflect_danger, "GET", &[(ORIGIN, "evil.test")]).deny(MalformedOrigin, &[(VARY, "Origin")]),
        // Predicates.
        r("pred: accepted", pred, "GET", &[(ORIGIN, "https://svc.internal.test")])
            .allow(&[(ACAO, "https://svc.internal.test"), (VARY, "Origin")]),
        r("pred: sees the normalised origin", pred, "GET", &[(ORIGIN, "HTTPS://SVC.Internal.Test:443")])
            .allow(&[(ACAO, "HTTPS://SVC.Internal.Test:443"), (VARY, "Origin")]),
        r("pred: refused", pred, "GET", &[(ORIGIN, "http://svc.internal.test")]).deny(PredicateRefused, &[(VARY, "Origin")]),
        r("pred: never sees null", pred, "GET", &[(ORIGIN, "null")]).deny(NullOrigin, &[(VARY, "Origin")]),
        // Null opt-in.
        r("null: opted in, with credentials", null_cred, "GET", &[(ORIGIN, "null")])
            .allow(&[(ACAO, "null"), (ACAC, "true"), (VARY, "Origin")]),
        r("null: preflight", null_cred, "OPTIONS", &[(ORIGIN, "null"), (ACRM, "GET")])
            .preflight(&[(ACAO, "null"), (ACAC, "true"), (VARY, "Origin"), (ACAM, "GET, POST")]),
        // Requests without Origin refused.
        r("origin required: none sent", origin_required, "GET", &[]).deny(MissingOrigin, &[(VARY, "Origin")]),
        r("origin required: websocket none sent", origin_required, "GET", &[]).ws().deny(MissingOrigin, &[(VARY, "Origin")]),
        r("origin required: allowed", origin_required, "GET", &[(ORIGIN, APP)]).allow(&[(ACAO, APP), (VARY, "Origin")]),
        // Node's E_full_options, the Portico way.
        r("full: preflight", full, "OPTIONS", &[(ORIGIN, "http://good-domain.com"), (ACRM, "PUT"), (ACRH, "my-header")])
            .preflight(&[(ACAO, "http://good-domain.com"), (ACAC, "true"), (VARY, "Origin"), (ACAM, "GET, PUT, POST"), (ACAH, "my-header"), (MAX_AGE, "123")]),
        r("full: header names ignore case", full, "OPTIONS", &[(ORIGIN, "http://good-domain.com"), (ACRM, "GET"), (ACRH, "My-Header")])
            .preflight(&[(ACAO, "http://good-domain.com"), (ACAC, "true"), (VARY, "Origin"), (ACAM, "GET, PUT, POST"), (ACAH, "my-header"), (MAX_AGE, "123")]),
        r("full: GET exposes, no max-age", full, "GET", &[(ORIGIN, "http://good-domain.com")])
            .allow(&[(ACAO, "http://good-domain.com"), (ACAC, "true"), (VARY, "Origin"), (ACEH, "my-exposed-header")]),
        r("full: disallowed origin", full, "GET", &[(ORIGIN, "http://bad-domain.com")]).deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("full: preflight DELETE", full, "OPTIONS", &[(ORIGIN, "http://good-domain.com"), (ACRM, "DELETE")])
            .deny(MethodNotAllowed, &[(VARY, "Origin")]),
        r("full: one unlisted header", full, "OPTIONS", &[(ORIGIN, "http://good-domain.com"), (ACRM, "GET"), (ACRH, "my-header, x-other")])
            .deny(HeaderNotAllowed, &[(VARY, "Origin")]),
        r("full: no Origin, nothing exposed", full, "GET", &[]).allow(&[(VARY, "Origin")]),
        // Reflected request headers.
        r("reflect: preflight echoes ACRH", reflect_headers, "OPTIONS", &[(ORIGIN, APP), (ACRM, "POST"), (ACRH, "content-type, x-foo")])
            .preflight(&[(ACAO, APP), (VARY, "Origin, Access-Control-Request-Headers"), (ACAM, "GET, POST"), (ACAH, "content-type, x-foo")]),
        r("reflect: preflight without ACRH", reflect_headers, "OPTIONS", &[(ORIGIN, APP), (ACRM, "POST")])
            .preflight(&[(ACAO, APP), (VARY, "Origin, Access-Control-Request-Headers"), (ACAM, "GET, POST")]),
        r("reflect: GET has no ACRH vary", reflect_headers, "GET", &[(ORIGIN, APP)]).allow(&[(ACAO, APP), (VARY, "Origin")]),
        r("reflect: refused preflight keeps only Vary", reflect_headers, "OPTIONS", &[(ORIGIN, "https://evil.test"), (ACRM, "POST"), (ACRH, "x-foo")])
            .deny(OriginNotAllowed, &[(VARY, "Origin, Access-Control-Request-Headers")]),
        // Private Network Access.
        r("pna: answered", pna, "OPTIONS", &[(ORIGIN, APP), (ACRM, "GET"), (ACRPN, "true")])
            .preflight(&[(ACAO, APP), (VARY, "Origin"), (ACAM, "GET, POST"), (ACAPN, "true")]),
        r("pna: not asked", pna, "OPTIONS", &[(ORIGIN, APP), (ACRM, "GET")]).preflight(&[(ACAO, APP), (VARY, "Origin"), (ACAM, "GET, POST")]),
        r("pna: not a preflight", pna, "GET", &[(ORIGIN, APP), (ACRPN, "true")]).allow(&[(ACAO, APP), (VARY, "Origin")]),
        // Local development.
        r("dev: vite origin", local_dev, "GET", &[(ORIGIN, "http://localhost:5173"), (HOST, "localhost:3000")])
            .allow(&[(ACAO, "http://localhost:5173"), (VARY, "Origin")]),
        r("dev: 127.0.0.1 is another origin", local_dev, "GET", &[(ORIGIN, "http://127.0.0.1:5173"), (HOST, "localhost:3000")])
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("dev: same origin still allowed", local_dev, "GET", &[(ORIGIN, "http://localhost:3000"), (HOST, "localhost:3000")])
            .allow(&[(ACAO, "http://localhost:3000"), (VARY, "Origin")]),
        // Same-origin rule turned off.
        r("no-same: own origin refused", no_same, "GET", &[(ORIGIN, "http://localhost:3000"), (HOST, "localhost:3000")])
            .deny(OriginNotAllowed, &[(VARY, "Origin")]),
        r("no-same: listed origin", no_same, "GET", &[(ORIGIN, APP), (HOST, "localhost:3000")]).allow(&[(ACAO, APP), (VARY, "Origin")]),
        // Wildcard names (no credentials).
        r("wild headers: any header", wild_headers, "OPTIONS", &[(ORIGIN, APP), (ACRM, "GET"), (ACRH, "x-anything")])
            .preflight(&[(ACAO, APP), (VARY, "Origin"), (ACAM, "GET, POST"), (ACAH, "*")]),
        r("wild headers: never Authorization", wild_headers, "OPTIONS", &[(ORIGIN, APP), (ACRM, "GET"), (ACRH, "authorization")])
            .deny(HeaderNotAllowed, &[(VARY, "Origin")]),
        r("wild methods: any method", any_methods, "OPTIONS", &[(ORIGIN, APP), (ACRM, "PATCH")])
            .preflight(&[(ACAO, APP), (VARY, "Origin"), (ACAM, "*")]),
    ]
}

fn request_headers(pairs: Pairs) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    headers
}

fn sorted(headers: &CorsHeaders) -> Vec<(String, String)> {
    let mut pairs: Vec<_> = headers
        .iter()
        .map(|(n, v)| (n.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    pairs.sort();
    pairs
}

fn check(row: &Row) -> Option<String> {
    let policy = (row.policy)();
    let method = Method::from_bytes(row.method.as_bytes()).unwrap();
    let headers = request_headers(row.headers);
    let mut info = RequestInfo::new(&method, &headers)
        .with_transport(row.transport)
        .with_tls(row.tls);
    if let Some(peer) = row.peer {
        info = info.with_peer(peer.parse().unwrap());
    }
    if let Some(authority) = row.authority {
        info = info.with_authority(authority);
    }
    let decision = policy.evaluate(&info);
    // `evaluate_into` is the same decision, its headers written into the caller's.
    let mut into = CorsHeaders::default();
    let verdict = policy.evaluate_into(&info, &mut into);
    if verdict != decision.verdict || into != decision.headers {
        return Some(format!(
            "{}: evaluate_into differs from evaluate:\n  {:?} {:?}\n  {:?} {:?}",
            row.name,
            verdict,
            sorted(&into),
            decision.verdict,
            sorted(&decision.headers)
        ));
    }
    let got = match &decision.verdict {
        Verdict::Allow => Expect::Allow,
        Verdict::Preflight => Expect::Preflight,
        Verdict::Deny(reason) => {
            assert_eq!(reason.transport(), row.transport, "{}", row.name);
            Expect::Deny(reason.kind())
        }
    };
    let mut want: Vec<_> = row
        .want
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect();
    want.sort();
    let got_headers = sorted(&decision.headers);
    (got != row.expect || got_headers != want).then(|| {
        format!(
            "{}:\n  verdict {:?}, want {:?}\n  headers {:?}\n  want    {:?}",
            row.name, got, row.expect, got_headers, want
        )
    })
}

#[test]
fn policy_table() {
    let rows = rows();
    assert!(
        rows.len() >= 60,
        "the table must keep at least 60 rows, has {}",
        rows.len()
    );
    let failures: Vec<String> = rows.iter().filter_map(check).collect();
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        rows.len(),
        failures.join("\n")
    );
}

#[test]
fn refusals_never_carry_allow_headers() {
    for row in rows() {
        if let Expect::Deny(_) = row.expect {
            assert!(row.want.iter().all(|(n, _)| *n == VARY), "{}", row.name);
        }
    }
}
