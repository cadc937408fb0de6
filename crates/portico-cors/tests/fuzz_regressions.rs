//! Inputs the `cors_origin` fuzz target (fuzz/) found, each exactly as found, with what it
//! broke. The target's checks are repeated here so that `cargo test` keeps them fixed.
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use portico_cors::OriginPolicy;

/// The corrected entry an error suggests must be accepted itself.
fn assert_suggestion_is_valid(entry: &str) {
    if let Err(e) = OriginPolicy::allow([entry]) {
        if let Some(fixed) = e.suggestion() {
            if let Err(again) = OriginPolicy::allow([fixed]) {
                panic!("{entry:?} suggests {fixed:?}, which is refused: {again}");
            }
        }
    }
}

/// crash-e1702bf70e458e0628cdc623d1b1ccf8d437c50e (fields `\n\n*W.12.12`: the entry is
/// `*W.12.12`). A wildcard inside the leftmost label was corrected to `https://*.w.12.12`,
/// which the breadth rule then refused (a range of IP addresses): now it is refused at once,
/// as too broad, with no suggestion.
#[test]
fn wildcard_inside_a_label_of_an_ip_range_is_too_broad() {
    for entry in ["*W.12.12", "https://*w.10.0.0.1", "https://*x.com."] {
        assert_suggestion_is_valid(entry);
    }
    let err = OriginPolicy::allow(["*W.12.12"]).unwrap_err();
    assert!(err.to_string().contains("too broad"), "{err}");
    assert_eq!(err.suggestion(), None);
}
