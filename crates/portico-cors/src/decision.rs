//! [`Decision`] and [`Verdict`]: what to do with a request, and the headers to send.

use std::ops::Index;

use http::header::{
    ACCESS_CONTROL_ALLOW_CREDENTIALS, ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS,
    ACCESS_CONTROL_ALLOW_ORIGIN, ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, VARY,
};
use http::{HeaderMap, HeaderName, HeaderValue};

use crate::headers::ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK;
use crate::DenyReason;

/// The outcome of [`OriginPolicy::evaluate`](crate::OriginPolicy::evaluate).
#[derive(Debug, Clone)]
pub struct Decision {
    /// Serve, answer the preflight, or refuse.
    pub verdict: Verdict,
    /// Headers to add to the response — to every response of this request, error responses
    /// included, so the browser shows the real error. For [`Verdict::Deny`] only `Vary`,
    /// never an `Access-Control-Allow-*` header.
    pub headers: CorsHeaders,
}

/// What the server does with the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the request normally (with [`Decision::headers`]).
    Allow,
    /// A CORS preflight that passed: answer `204 No Content` with [`Decision::headers`] and
    /// do not route it further.
    Preflight,
    /// Refuse: answer `403` with `{"code":4,"message":"Forbidden"}`, create no session, and
    /// report the reason (`connection_error` event, one warning log).
    Deny(DenyReason),
}

impl Decision {
    /// Whether the request is served ([`Verdict::Allow`]).
    pub fn is_allowed(&self) -> bool {
        self.verdict == Verdict::Allow
    }

    /// The refusal, for [`Verdict::Deny`].
    pub fn deny_reason(&self) -> Option<&DenyReason> {
        match &self.verdict {
            Verdict::Deny(reason) => Some(reason),
            _ => None,
        }
    }

    /// Adds [`headers`](Self::headers) to a response's headers: `Vary` is appended to any
    /// existing `Vary`, the others replace a header of the same name.
    pub fn apply_to(&self, response: &mut HeaderMap) {
        for (name, value) in self.headers.iter() {
            if name == VARY {
                response.append(name, value.clone());
            } else {
                response.insert(name, value.clone());
            }
        }
    }
}

/// How many headers a [`CorsHeaders`] can hold: one for each [`Slot`].
const COUNT: usize = Slot::ALL.len();

/// The CORS headers of a [`Decision`]: at most one value for each of `Vary`,
/// `Access-Control-Allow-Origin`, `-Allow-Credentials`, `-Allow-Methods`, `-Allow-Headers`,
/// `-Max-Age`, `-Allow-Private-Network` and `-Expose-Headers`, listed in that order.
///
/// Held inline, without the allocation and hashing of a [`HeaderMap`]: a decision is made for
/// every request. Read it like a header map (names in any case):
///
/// ```
/// use http::{HeaderMap, HeaderValue, Method};
/// use portico_cors::{OriginPolicy, RequestInfo};
///
/// let policy = OriginPolicy::allow(["https://app.example.com"]).unwrap();
/// let mut request = HeaderMap::new();
/// request.insert("origin", HeaderValue::from_static("https://app.example.com"));
/// let decision = policy.evaluate(&RequestInfo::new(&Method::GET, &request));
///
/// assert_eq!(decision.headers["Access-Control-Allow-Origin"], "https://app.example.com");
/// assert_eq!(decision.headers.get("vary").unwrap(), "Origin");
/// assert!(!decision.headers.contains_key("access-control-allow-credentials"));
/// assert_eq!(decision.headers.len(), 2);
/// assert_eq!(decision.headers.to_header_map().len(), 2);
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct CorsHeaders {
    values: [Option<HeaderValue>; COUNT],
}

/// Where each name's value is kept in [`CorsHeaders::values`] (at index `slot as usize`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Slot {
    Vary = 0,
    AllowOrigin,
    AllowCredentials,
    AllowMethods,
    AllowHeaders,
    MaxAge,
    AllowPrivateNetwork,
    ExposeHeaders,
}

// `Slot::ALL[i]` is slot `i`: a slot out of place there fails the build.
const _: () = {
    let mut i = 0;
    while i < Slot::ALL.len() {
        assert!(Slot::ALL[i] as usize == i, "Slot::ALL out of order");
        i += 1;
    }
};

impl Slot {
    /// Every slot, in the order of its index (checked when the crate compiles, above). A new
    /// slot needs its header in [`name`](Self::name) (the compiler asks for it) and its place
    /// here.
    const ALL: [Slot; 8] = [
        Slot::Vary,
        Slot::AllowOrigin,
        Slot::AllowCredentials,
        Slot::AllowMethods,
        Slot::AllowHeaders,
        Slot::MaxAge,
        Slot::AllowPrivateNetwork,
        Slot::ExposeHeaders,
    ];

    /// The header this slot holds.
    fn name(self) -> &'static HeaderName {
        // A `static` for each: a `HeaderName` constant has a destructor, so a reference to one
        // would be to a temporary.
        macro_rules! named {
            ($name:expr) => {{
                static NAME: HeaderName = $name;
                &NAME
            }};
        }
        match self {
            Slot::Vary => named!(VARY),
            Slot::AllowOrigin => named!(ACCESS_CONTROL_ALLOW_ORIGIN),
            Slot::AllowCredentials => named!(ACCESS_CONTROL_ALLOW_CREDENTIALS),
            Slot::AllowMethods => named!(ACCESS_CONTROL_ALLOW_METHODS),
            Slot::AllowHeaders => named!(ACCESS_CONTROL_ALLOW_HEADERS),
            Slot::MaxAge => named!(ACCESS_CONTROL_MAX_AGE),
            Slot::AllowPrivateNetwork => named!(ACCESS_CONTROL_ALLOW_PRIVATE_NETWORK),
            Slot::ExposeHeaders => named!(ACCESS_CONTROL_EXPOSE_HEADERS),
        }
    }
}

impl CorsHeaders {
    /// Sets one header's value (replacing any value it had).
    pub(crate) fn set(&mut self, slot: Slot, value: HeaderValue) {
        self.values[slot as usize] = Some(value);
    }

    /// The value of header `name` (a [`HeaderName`], a reference to one, or a string in any
    /// case: what [`HeaderMap::get`] takes), if the decision sends it.
    pub fn get(&self, name: impl AsRef<str>) -> Option<&HeaderValue> {
        let name = name.as_ref();
        let slot = Slot::ALL
            .into_iter()
            .find(|s| s.name().as_str().eq_ignore_ascii_case(name))?;
        self.values[slot as usize].as_ref()
    }

    /// Whether the decision sends header `name` (as [`get`](Self::get) takes it).
    pub fn contains_key(&self, name: impl AsRef<str>) -> bool {
        self.get(name).is_some()
    }

    /// The headers, as (name, value), in a fixed order (`Vary` first).
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            inner: Slot::ALL.iter().zip(self.values.iter()),
        }
    }

    /// How many headers the decision sends.
    pub fn len(&self) -> usize {
        self.values.iter().filter(|v| v.is_some()).count()
    }

    /// Whether the decision sends no header.
    pub fn is_empty(&self) -> bool {
        self.values.iter().all(Option::is_none)
    }

    /// The headers as a [`HeaderMap`] of their own.
    pub fn to_header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.len());
        for (name, value) in self.iter() {
            map.insert(name, value.clone());
        }
        map
    }
}

impl std::fmt::Debug for CorsHeaders {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The headers of a [`CorsHeaders`], from [`CorsHeaders::iter`].
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    inner: std::iter::Zip<std::slice::Iter<'a, Slot>, std::slice::Iter<'a, Option<HeaderValue>>>,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a HeaderName, &'a HeaderValue);

    fn next(&mut self) -> Option<Self::Item> {
        self.inner
            .by_ref()
            .find_map(|(slot, value)| Some((slot.name(), value.as_ref()?)))
    }
}

impl<'a> IntoIterator for &'a CorsHeaders {
    type Item = (&'a HeaderName, &'a HeaderValue);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl Index<&str> for CorsHeaders {
    type Output = HeaderValue;

    /// The value of header `name`; panics when the decision does not send it (as
    /// [`HeaderMap`]'s index does).
    fn index(&self, name: &str) -> &HeaderValue {
        match self.get(name) {
            Some(value) => value,
            None => panic!("no CORS header named {name:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_header_set_is_read_back_by_its_name_in_any_case_and_listed_in_order() {
        let mut h = CorsHeaders::default();
        assert!(h.is_empty());
        h.set(Slot::ExposeHeaders, HeaderValue::from_static("x-a"));
        h.set(Slot::Vary, HeaderValue::from_static("Origin"));
        h.set(
            Slot::AllowOrigin,
            HeaderValue::from_static("https://a.test"),
        );
        h.set(
            Slot::AllowOrigin,
            HeaderValue::from_static("https://b.test"),
        );
        assert_eq!(h.len(), 3);
        assert_eq!(h["ACCESS-CONTROL-ALLOW-ORIGIN"], "https://b.test");
        assert_eq!(h.get("vary").unwrap(), "Origin");
        assert!(h.get("access-control-max-age").is_none());
        assert!(h.get("content-type").is_none());
        // A header name as HeaderMap::get takes it: HeaderName, &HeaderName, &str, String.
        assert_eq!(
            h.get(ACCESS_CONTROL_ALLOW_ORIGIN).unwrap(),
            "https://b.test"
        );
        assert_eq!(h.get(&VARY).unwrap(), "Origin");
        assert!(h.contains_key(String::from("Access-Control-Expose-Headers")));
        assert!(!h.contains_key(ACCESS_CONTROL_MAX_AGE));
        let names: Vec<_> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "vary",
                "access-control-allow-origin",
                "access-control-expose-headers"
            ]
        );
        assert_eq!((&h).into_iter().count(), 3);
        let map = h.to_header_map();
        assert_eq!(map.len(), 3);
        assert_eq!(map["access-control-expose-headers"], "x-a");
        assert_eq!(
            format!("{h:?}"),
            r#"{"vary": "Origin", "access-control-allow-origin": "https://b.test", "access-control-expose-headers": "x-a"}"#
        );
    }

    #[test]
    fn each_slot_holds_its_own_header_at_its_own_index() {
        // (That `Slot::ALL[i]` is slot `i` is checked when the crate compiles.)
        let names: Vec<_> = Slot::ALL.iter().map(|slot| slot.name().as_str()).collect();
        assert_eq!(
            names,
            [
                "vary",
                "access-control-allow-origin",
                "access-control-allow-credentials",
                "access-control-allow-methods",
                "access-control-allow-headers",
                "access-control-max-age",
                "access-control-allow-private-network",
                "access-control-expose-headers",
            ]
        );
        // Every slot set, each read back by its name, listed in slot order.
        let mut h = CorsHeaders::default();
        for slot in Slot::ALL {
            h.set(slot, HeaderValue::from_static(slot.name().as_str()));
        }
        assert_eq!(h.len(), COUNT);
        for (name, value) in &h {
            assert_eq!(h.get(name).unwrap(), value);
            assert_eq!(value, name.as_str());
        }
        let listed: Vec<_> = h.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(listed, names);
    }

    #[test]
    #[should_panic(expected = "no CORS header named \"access-control-max-age\"")]
    fn indexing_a_header_not_sent_panics_as_a_header_map_does() {
        let _ = &CorsHeaders::default()["access-control-max-age"];
    }

    #[test]
    fn apply_to_appends_vary_and_replaces_the_others() {
        let mut headers = CorsHeaders::default();
        headers.set(Slot::Vary, HeaderValue::from_static("Origin"));
        headers.set(
            Slot::AllowOrigin,
            HeaderValue::from_static("https://a.test"),
        );
        let decision = Decision {
            verdict: Verdict::Allow,
            headers,
        };
        let mut response = HeaderMap::new();
        response.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
        response.insert(ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
        decision.apply_to(&mut response);
        let vary: Vec<_> = response.get_all(VARY).iter().collect();
        assert_eq!(vary, ["Accept-Encoding", "Origin"]);
        let acao: Vec<_> = response
            .get_all(ACCESS_CONTROL_ALLOW_ORIGIN)
            .iter()
            .collect();
        assert_eq!(acao, ["https://a.test"]);
    }
}
