//! Config mistakes as a table: input → error kind, message substring, corrected entry.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use portico_cors::{ConfigErrorKind, CorsConfigError, Origin, OriginPolicy};

/// (entry, message substring, suggested entry)
const ENTRY_ERRORS: &[(&str, &str, Option<&str>)] = &[
    (
        "https://app.example.com/",
        "origin entry \"https://app.example.com/\" has a trailing slash; browsers send origins without one: use \"https://app.example.com\"",
        Some("https://app.example.com"),
    ),
    ("https://app.example.com/chat", "has a path (\"/chat\")", Some("https://app.example.com")),
    ("https://app.example.com?x=1", "has a path (\"?x=1\")", Some("https://app.example.com")),
    ("app.example.com", "has no scheme", Some("https://app.example.com")),
    ("*.example.com", "has no scheme", Some("https://*.example.com")),
    ("localhost:5173", "has no scheme", Some("http://localhost:5173")),
    ("127.0.0.1:8080", "has no scheme", Some("http://127.0.0.1:8080")),
    ("//app.example.com", "has no scheme", Some("https://app.example.com")),
    ("APP.Example.com/", "has no scheme", Some("https://app.example.com")),
    (" https://app.example.com ", "has surrounding whitespace", Some("https://app.example.com")),
    ("https://user@app.example.com", "contains user info (\"user@\")", Some("https://app.example.com")),
    ("wss://app.example.com", "uses the WebSocket scheme \"wss\"", Some("https://app.example.com")),
    ("ws://localhost:3000", "uses the WebSocket scheme \"ws\"", Some("http://localhost:3000")),
    ("https://app.example.com:", "has an empty port", Some("https://app.example.com")),
    ("https://*example.com", "wildcard inside a label", Some("https://*.example.com")),
    ("https://*example.com:8443", "also add \"https://example.com:8443\"", Some("https://*.example.com:8443")),
    ("https://example.*", "wildcard in the wrong place", None),
    ("https://a.*.example.com", "wildcard in the wrong place", None),
    ("https://app*.example.com", "wildcard in the wrong place", None),
    ("https://*.*.example.com", "wildcard in the wrong place", None),
    ("https://*", "use OriginPolicy::any_origin()", None),
    ("*", "use OriginPolicy::any_origin()", None),
    ("https://*.com", "too broad", None),
    ("https://*.10.0.0.1", "too broad", None),
    ("https://example.com:*", "wildcard port", None),
    ("https://example.com:99999", "invalid port \"99999\"", None),
    ("https://example.com:http", "invalid port \"http\"", None),
    ("null", "allow_null_origin(true)", None),
    ("", "is empty", None),
    ("https://", "has no host", None),
    ("https://exa mple.com", "invalid host", None),
    ("https://example..com", "invalid host", None),
    ("https://example.com.", "invalid host", None),
    ("https://bücher.example", "punycode", None),
    ("1https://example.com", "invalid scheme", None),
    ("http://[::1", "unbalanced", None),
    ("http://[::g]", "invalid IPv6 address", None),
];

#[test]
fn entry_errors() {
    let mut failures = Vec::new();
    for &(entry, substring, suggestion) in ENTRY_ERRORS {
        let err = match OriginPolicy::allow([entry]) {
            Ok(_) => {
                failures.push(format!("{entry:?}: accepted"));
                continue;
            }
            Err(err) => err,
        };
        let message = err.to_string();
        if err.kind() != ConfigErrorKind::InvalidOrigin || !err.is_invalid_origin() {
            failures.push(format!("{entry:?}: kind {:?}", err.kind()));
        }
        if !message.contains(substring) {
            failures.push(format!("{entry:?}: {message:?} lacks {substring:?}"));
        }
        if err.suggestion() != suggestion {
            failures.push(format!(
                "{entry:?}: suggestion {:?}, want {suggestion:?}",
                err.suggestion()
            ));
        }
        if let Some(suggestion) = suggestion {
            if !message.ends_with(&format!("use \"{suggestion}\"")) {
                failures.push(format!(
                    "{entry:?}: message does not end with the corrected entry: {message:?}"
                ));
            }
            if OriginPolicy::allow([suggestion]).is_err() {
                failures.push(format!(
                    "{entry:?}: suggestion {suggestion:?} is itself invalid"
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_entries_normalise() {
    let cases = [
        ("http://localhost:80", "http://localhost"),
        ("HTTPS://App.Example.COM:443", "https://app.example.com"),
        ("http://[0:0::1]:3000", "http://[::1]:3000"),
        (
            "https://xn--bcher-kva.example",
            "https://xn--bcher-kva.example",
        ),
        ("capacitor://localhost", "capacitor://localhost"),
    ];
    for (input, want) in cases {
        assert_eq!(Origin::parse(input).unwrap().as_str(), want, "{input}");
    }
    let err = Origin::parse("https://*.example.com").unwrap_err();
    assert!(
        err.to_string()
            .contains("is a subdomain pattern, not an origin"),
        "{err}"
    );
}

fn validate_err(policy: OriginPolicy) -> CorsConfigError {
    policy.validate().unwrap_err()
}

#[test]
fn wildcard_with_credentials_explains_the_rule_and_both_fixes() {
    let err = validate_err(OriginPolicy::any_origin().credentials(true));
    assert!(err.is_wildcard_with_credentials());
    let message = err.to_string();
    for part in [
        "browsers reject \"Access-Control-Allow-Origin: *\" on credentialed requests",
        "list the origins",
        "OriginPolicy::allow([\"https://app.example.com\"])?.credentials(true)",
        "drop credentials(true)",
    ] {
        assert!(message.contains(part), "{message:?} lacks {part:?}");
    }
    assert!(OriginPolicy::any_origin()
        .credentials(true)
        .build()
        .is_err());
    assert!(OriginPolicy::any_origin().build().is_ok());
}

#[test]
fn combination_errors() {
    let cases: Vec<(OriginPolicy, ConfigErrorKind, &str)> = vec![
        (
            OriginPolicy::any_origin()
                .also_allow(["https://a.com"])
                .unwrap(),
            ConfigErrorKind::ConflictingOrigins,
            "any_origin() already allows every origin",
        ),
        (
            OriginPolicy::any_origin().also_allow_if(|_| true),
            ConfigErrorKind::ConflictingOrigins,
            "remove them",
        ),
        (
            OriginPolicy::allow(["https://a.com"])
                .unwrap()
                .allow_headers(["*"])
                .credentials(true),
            ConfigErrorKind::WildcardNameWithCredentials,
            "allow_headers([\"*\"]) cannot be combined with credentials(true)",
        ),
        (
            OriginPolicy::same_origin()
                .expose_headers(["*"])
                .credentials(true),
            ConfigErrorKind::WildcardNameWithCredentials,
            "expose_headers",
        ),
        (
            OriginPolicy::same_origin()
                .allow_methods(["*"])
                .credentials(true),
            ConfigErrorKind::WildcardNameWithCredentials,
            "allow_methods",
        ),
        (
            OriginPolicy::same_origin().allow_methods(["GET", "BAD METHOD"]),
            ConfigErrorKind::InvalidMethod,
            "\"BAD METHOD\" is not an HTTP method",
        ),
        (
            OriginPolicy::same_origin().allow_headers(["x-ok", "bad:header"]),
            ConfigErrorKind::InvalidHeaderName,
            "allow_headers: \"bad:header\" is not a valid header name",
        ),
        (
            OriginPolicy::same_origin().expose_headers([""]),
            ConfigErrorKind::InvalidHeaderName,
            "expose_headers",
        ),
    ];
    for (policy, kind, substring) in cases {
        let err = validate_err(policy);
        assert_eq!(err.kind(), kind, "{err}");
        assert!(
            err.to_string().contains(substring),
            "{err:?} lacks {substring:?}"
        );
    }
}

#[test]
fn valid_combinations() {
    let ok = [
        OriginPolicy::same_origin(),
        OriginPolicy::allow(["https://a.com", "https://*.a.com"])
            .unwrap()
            .credentials(true),
        OriginPolicy::reflect_any_origin_with_credentials_dangerously(),
        OriginPolicy::any_origin()
            .allow_headers(["*"])
            .expose_headers(["*"]),
        OriginPolicy::predicate(|_| true)
            .credentials(true)
            .allow_null_origin(true),
        OriginPolicy::allow(Vec::<String>::new()).unwrap(),
        OriginPolicy::same_origin().allow_methods([http::Method::GET, http::Method::PATCH]),
    ];
    for policy in ok {
        assert!(policy.validate().is_ok(), "{policy:?}");
    }
}

#[test]
fn the_issue_sketch_compiles() {
    fn build() -> Result<OriginPolicy, CorsConfigError> {
        OriginPolicy::allow(["https://app.example.com", "https://*.example.com"])?
            .credentials(true)
            .build()
    }
    let policy = build().unwrap();
    assert_eq!(
        policy.describe(),
        "same origin, https://app.example.com, https://*.example.com; credentials"
    );
}

#[test]
fn policy_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync + Clone + 'static>() {}
    assert_send_sync::<OriginPolicy>();
    assert_send_sync::<portico_cors::DenyReason>();
    assert_send_sync::<portico_cors::Decision>();
    assert_send_sync::<CorsConfigError>();
}
