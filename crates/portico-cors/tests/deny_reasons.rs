//! Refusals: the log line, the fix, the explanation, and the namespace guard.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use http::header::{HeaderValue, VARY};
use http::{HeaderMap, HeaderName, Method};
use portico_cors::{DenyKind, DenyReason, OriginPolicy, RequestInfo, Transport, Verdict};

fn deny(
    policy: &OriginPolicy,
    method: Method,
    pairs: &[(&'static str, &'static str)],
    transport: Transport,
) -> DenyReason {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
    }
    let decision = policy.evaluate(&RequestInfo::new(&method, &headers).with_transport(transport));
    match decision.verdict {
        Verdict::Deny(reason) => reason,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn vite_dev_server_message_names_the_fix() {
    let reason = deny(
        &OriginPolicy::same_origin(),
        Method::GET,
        &[
            ("origin", "http://localhost:5173"),
            ("host", "localhost:3000"),
        ],
        Transport::Polling,
    );
    assert_eq!(reason.kind(), DenyKind::OriginNotAllowed);
    assert_eq!(reason.origin(), Some("http://localhost:5173"));
    assert_eq!(reason.server_origin(), Some("http://localhost:3000"));
    assert_eq!(
        reason.message(),
        "refused a polling request from origin \"http://localhost:5173\": not an allowed origin (this server's own \
         origin is \"http://localhost:3000\"); add \"http://localhost:5173\" to the allowed origins \
         (OriginPolicy::allow / --cors-origin http://localhost:5173)"
    );
    assert_eq!(reason.to_string(), reason.message());
    assert_eq!(
        reason.public_message(),
        "origin \"http://localhost:5173\" is not allowed"
    );
}

#[test]
fn tls_behind_an_untrusted_proxy_gets_a_hint() {
    let reason = deny(
        &OriginPolicy::same_origin(),
        Method::GET,
        &[
            ("origin", "https://app.example.com"),
            ("host", "app.example.com"),
        ],
        Transport::WebSocket,
    );
    let message = reason.message();
    assert!(
        message.starts_with("refused a websocket request from origin \"https://app.example.com\""),
        "{message}"
    );
    assert!(
        message.contains("the host matches but the scheme differs"),
        "{message}"
    );
    assert!(
        message.contains("OriginPolicy::trusted_proxies"),
        "{message}"
    );
}

#[test]
fn every_kind_says_what_to_do() {
    let list = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    let cases: Vec<(DenyReason, DenyKind, &str)> = vec![
        (
            deny(
                &list,
                Method::GET,
                &[("origin", "null")],
                Transport::Polling,
            ),
            DenyKind::NullOrigin,
            "allow_null_origin(true)",
        ),
        (
            deny(
                &list,
                Method::GET,
                &[("origin", "garbage")],
                Transport::Polling,
            ),
            DenyKind::MalformedOrigin,
            "fix the client",
        ),
        (
            deny(
                &list,
                Method::GET,
                &[("sec-fetch-site", "cross-site")],
                Transport::Polling,
            ),
            DenyKind::CrossSiteWithoutOrigin,
            "Sec-Fetch-Site: cross-site",
        ),
        (
            // The value as the request sent it, in its own case.
            deny(
                &list,
                Method::GET,
                &[("sec-fetch-site", "Same-Site")],
                Transport::Polling,
            ),
            DenyKind::CrossSiteWithoutOrigin,
            "Sec-Fetch-Site: Same-Site",
        ),
        (
            deny(
                &list.clone().serve_requests_without_origin(false),
                Method::GET,
                &[],
                Transport::WebSocket,
            ),
            DenyKind::MissingOrigin,
            "serve_requests_without_origin(true)",
        ),
        (
            deny(
                &OriginPolicy::predicate(|_| false),
                Method::GET,
                &[("origin", "https://x.test")],
                Transport::Polling,
            ),
            DenyKind::PredicateRefused,
            "or change the predicate",
        ),
        (
            deny(
                &list,
                Method::OPTIONS,
                &[
                    ("origin", "https://app.example.com"),
                    ("access-control-request-method", "PUT"),
                ],
                Transport::Polling,
            ),
            DenyKind::MethodNotAllowed,
            "add \"PUT\" to OriginPolicy::allow_methods",
        ),
        (
            deny(
                &list,
                Method::OPTIONS,
                &[
                    ("origin", "https://app.example.com"),
                    ("access-control-request-method", "POST"),
                    ("access-control-request-headers", "Content-Type, X-Token"),
                ],
                Transport::Polling,
            ),
            DenyKind::HeaderNotAllowed,
            "add \"content-type\" to OriginPolicy::allow_headers",
        ),
    ];
    for (reason, kind, fix) in cases {
        assert_eq!(reason.kind(), kind);
        let message = reason.message();
        assert!(message.contains(fix), "{kind:?}: {message:?} lacks {fix:?}");
        assert!(!message.contains('\n'), "{message:?}");
        let explained = reason.explain();
        assert_eq!(explained.lines().count(), 3, "{explained}");
        assert!(
            explained.contains("\nwhy: ") && explained.contains("\nfix: "),
            "{explained}"
        );
        assert!(
            !reason.public_message().contains("OriginPolicy"),
            "{}",
            reason.public_message()
        );
    }
}

#[test]
fn preflight_refusals_name_the_method_or_header() {
    let list = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    let reason = deny(
        &list,
        Method::OPTIONS,
        &[
            ("origin", "https://app.example.com"),
            ("access-control-request-method", "DELETE"),
        ],
        Transport::Polling,
    );
    assert!(reason.is_preflight());
    assert_eq!(reason.refused_name(), Some("DELETE"));
    assert!(reason
        .message()
        .starts_with("refused a preflight (polling) from origin \"https://app.example.com\""));
    assert_eq!(reason.public_message(), "method \"DELETE\" is not allowed");
    let reason = deny(
        &list,
        Method::GET,
        &[("origin", "https://evil.test")],
        Transport::Polling,
    );
    assert!(!reason.is_preflight());
    assert_eq!(reason.refused_name(), None);
}

#[test]
fn namespace_guard() {
    let admin = OriginPolicy::allow(["https://admin.example.com"]).unwrap();
    assert!(admin
        .check_namespace("/admin", Some("https://admin.example.com"))
        .is_ok());
    assert!(admin
        .check_namespace("/admin", Some("HTTPS://ADMIN.EXAMPLE.COM:443"))
        .is_ok());
    assert!(
        admin.check_namespace("/admin", None).is_ok(),
        "no Origin passes by default"
    );

    let refused = admin
        .check_namespace("/admin", Some("https://app.example.com"))
        .unwrap_err();
    assert_eq!(refused.kind(), DenyKind::OriginNotAllowed);
    assert_eq!(refused.namespace(), Some("/admin"));
    assert_eq!(
        refused.message(),
        "namespace \"/admin\" refused a connection from origin \"https://app.example.com\": not an allowed origin; \
         add \"https://app.example.com\" to the origin guard of namespace \"/admin\" (OriginPolicy::allow)"
    );
    assert_eq!(
        refused.public_message(),
        "origin \"https://app.example.com\" is not allowed on namespace \"/admin\""
    );

    let strict = admin.clone().serve_requests_without_origin(false);
    let refused = strict.check_namespace("/admin", None).unwrap_err();
    assert_eq!(refused.kind(), DenyKind::MissingOrigin);
    assert_eq!(
        refused.public_message(),
        "a request without an Origin header is not allowed on namespace \"/admin\""
    );

    assert_eq!(
        admin
            .check_namespace("/admin", Some("null"))
            .unwrap_err()
            .kind(),
        DenyKind::NullOrigin
    );
    assert_eq!(
        admin
            .check_namespace("/admin", Some("admin"))
            .unwrap_err()
            .kind(),
        DenyKind::MalformedOrigin
    );
    assert!(OriginPolicy::any_origin()
        .check_namespace("/", Some("https://x.test"))
        .is_ok());
    let same = OriginPolicy::same_origin();
    assert!(
        same.check_namespace("/", Some("http://localhost:3000"))
            .is_err(),
        "guards have no own origin"
    );
}

#[test]
fn apply_to_appends_vary_and_replaces_the_rest() {
    let policy = OriginPolicy::allow(["https://app.example.com"]).unwrap();
    let mut request = HeaderMap::new();
    request.insert(
        "origin",
        HeaderValue::from_static("https://app.example.com"),
    );
    let decision = policy.evaluate(&RequestInfo::new(&Method::GET, &request));
    assert!(decision.is_allowed());
    assert!(decision.deny_reason().is_none());

    let mut response = HeaderMap::new();
    response.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    response.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    decision.apply_to(&mut response);
    let vary: Vec<_> = response
        .get_all(VARY)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(vary, ["Accept-Encoding", "Origin"]);
    assert_eq!(
        response["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[test]
fn non_ascii_origin_is_malformed_not_a_panic() {
    let policy = OriginPolicy::same_origin();
    let mut headers = HeaderMap::new();
    headers.insert(
        "origin",
        HeaderValue::from_bytes(b"https://b\xfccher.example").unwrap(),
    );
    let decision = policy.evaluate(&RequestInfo::new(&Method::GET, &headers));
    assert_eq!(
        decision.deny_reason().unwrap().kind(),
        DenyKind::MalformedOrigin
    );
    let mut headers = HeaderMap::new();
    headers.insert("origin", HeaderValue::from_static("https://a.test"));
    headers.insert(
        "access-control-request-method",
        HeaderValue::from_static("GET"),
    );
    headers.insert(
        "access-control-request-headers",
        HeaderValue::from_bytes(b"x-\xff").unwrap(),
    );
    let policy = OriginPolicy::any_origin();
    let decision = policy.evaluate(&RequestInfo::new(&Method::OPTIONS, &headers));
    assert_eq!(
        decision.deny_reason().unwrap().kind(),
        DenyKind::HeaderNotAllowed
    );
}

#[test]
fn request_info_from_parts_reads_the_authority() {
    let request = http::Request::builder()
        .method(Method::GET)
        .uri("https://api.example.com/socket.io/?EIO=4&transport=polling")
        .header("origin", "https://api.example.com")
        .body(())
        .unwrap();
    let (parts, ()) = request.into_parts();
    let info = RequestInfo::from_parts(&parts).with_tls(true);
    assert_eq!(info.authority, Some("api.example.com"));
    assert!(OriginPolicy::same_origin().evaluate(&info).is_allowed());
    assert_eq!(Transport::Polling.to_string(), "polling");
    assert_eq!(Transport::WebSocket.to_string(), "websocket");
}
