//! Origin parsing and policy decisions (portico-cors) on arbitrary bytes.
//!
//! Input: up to four fields separated by `\n`: the `Origin` header value, the `Host` header
//! value, an allow-list entry as written in a config, and a namespace.
//!
//! Checks: nothing panics; a parsed origin serialises to text that parses to the same origin;
//! the corrected entry an error suggests is itself a valid entry; a policy built from an exact
//! origin allows that origin (and its namespaces); an allowed origin is echoed byte for byte,
//! a refused one gets no allow header; the normalised origin a predicate sees, sent back as an
//! `Origin` header, reaches the predicate unchanged.
#![no_main]

use std::sync::{Arc, Mutex};

use http::header::{ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_REQUEST_METHOD, HOST, ORIGIN};
use http::{HeaderMap, HeaderValue, Method};
use libfuzzer_sys::fuzz_target;
use portico_cors::{Decision, Origin, OriginPolicy, RequestInfo, Transport, Verdict};

fn check_entry(entry: &str) {
    match Origin::parse(entry) {
        Ok(o) => {
            let again = Origin::parse(o.as_str()).expect("a normalised origin parses");
            assert_eq!(again, o);
            assert_eq!(again.as_str(), o.as_str());
            assert_eq!(o.to_string(), o.as_str());
            if !o.is_null() {
                let port = o.port().map(|p| format!(":{p}")).unwrap_or_default();
                assert_eq!(o.as_str(), format!("{}://{}{port}", o.scheme(), o.host()));
            }
        }
        Err(e) => {
            let _ = e.to_string();
            if let Some(fixed) = e.suggestion() {
                if let Err(again) = OriginPolicy::allow([fixed]) {
                    panic!("{entry:?} suggests {fixed:?}, which is refused: {again}");
                }
            }
        }
    }
    let Ok(policy) = OriginPolicy::allow([entry]) else {
        return;
    };
    let Ok(o) = Origin::parse(entry) else {
        return;
    };
    if o.is_null() {
        return;
    }
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(o.as_str()).expect("an origin is a header value");
    headers.insert(ORIGIN, value.clone());
    let d = policy.evaluate(&RequestInfo::new(&Method::GET, &headers));
    assert_eq!(d.verdict, Verdict::Allow, "{entry:?} does not allow {o:?}");
    assert_eq!(d.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN), Some(&value));
    assert!(policy.check_namespace("/", Some(o.as_str())).is_ok());
}

fn check_decision(headers: &HeaderMap, d: &Decision) {
    let acao = d.headers.get(ACCESS_CONTROL_ALLOW_ORIGIN);
    match &d.verdict {
        Verdict::Deny(reason) => {
            assert_eq!(acao, None, "refused but allowed: {reason:?}");
            let _ = (reason.message(), reason.fix(), reason.explain());
            let _ = reason.public_message();
        }
        _ => {
            if let Some(acao) = acao.filter(|v| v.as_bytes() != b"*") {
                assert_eq!(Some(acao), headers.get(ORIGIN));
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let mut fields = data.splitn(4, |&b| b == b'\n');
    let origin = fields.next().unwrap_or_default();
    let host = fields.next().unwrap_or_default();
    let entry = fields.next().and_then(|e| std::str::from_utf8(e).ok());
    let nsp = fields
        .next()
        .and_then(|n| std::str::from_utf8(n).ok())
        .unwrap_or("/");

    if let Some(entry) = entry {
        check_entry(entry);
    }

    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_bytes(origin) {
        headers.insert(ORIGIN, v);
    }
    if let Ok(v) = HeaderValue::from_bytes(host) {
        headers.insert(HOST, v);
    }
    let seen: Arc<Mutex<Option<Origin>>> = Arc::default();
    let record = Arc::clone(&seen);
    let mut policies = vec![
        OriginPolicy::same_origin(),
        OriginPolicy::any_origin(),
        OriginPolicy::reflect_any_origin_with_credentials_dangerously(),
        OriginPolicy::predicate(move |o| {
            *record.lock().expect("not poisoned") = Some(o.clone());
            true
        })
        .allow_same_origin(false)
        .allow_null_origin(true),
    ];
    if let Some(Ok(p)) = entry.map(|e| OriginPolicy::allow([e])) {
        policies.push(p.credentials(true));
    }
    for policy in &policies {
        for method in [Method::GET, Method::OPTIONS] {
            let mut headers = headers.clone();
            if method == Method::OPTIONS {
                headers.insert(
                    ACCESS_CONTROL_REQUEST_METHOD,
                    HeaderValue::from_static("GET"),
                );
            }
            let req = RequestInfo::new(&method, &headers).with_transport(Transport::Polling);
            check_decision(&headers, &policy.evaluate(&req));
        }
        if let Ok(text) = std::str::from_utf8(origin) {
            let _ = policy.check_namespace(nsp, Some(text));
        }
    }

    // The origin a predicate saw, sent again, is seen the same.
    let first = seen.lock().expect("not poisoned").take();
    if let Some(o) = first {
        let mut again = HeaderMap::new();
        again.insert(
            ORIGIN,
            HeaderValue::from_str(o.as_str()).expect("an origin is a header value"),
        );
        let d = policies[3].evaluate(&RequestInfo::new(&Method::GET, &again));
        assert!(d.is_allowed(), "{o:?} sent again: {d:?}");
        let second = seen.lock().expect("not poisoned").take();
        assert_eq!(
            second.as_ref(),
            Some(&o),
            "normalised origin is not a fixed point"
        );
    }
});
