//! A pure, validated origin policy for Socket.IO servers: for every request it decides both
//! the CORS response headers **and whether the request is served at all**.
//!
//! Node's socket.io only decides headers: a disallowed origin still gets a session, and a
//! WebSocket is accepted from any origin. Portico refuses: a disallowed origin gets 403 on
//! polling, on preflights and on the WebSocket upgrade (before 101), and the
//! [`DenyReason`] says what to add to the config.
//!
//! No I/O, no clock, no async: the server, `portico doctor` and tests all call the same
//! [`OriginPolicy::evaluate`].
//!
//! # Building a policy
//!
//! - [`OriginPolicy::same_origin`] (the default): only the server's own origin.
//! - [`OriginPolicy::allow`]: exact origins and `https://*.example.com` subdomain patterns,
//!   each checked as it is added; a typo is an error showing the corrected entry.
//! - [`OriginPolicy::predicate`]: a closure over the normalised [`Origin`].
//! - [`OriginPolicy::any_origin`]: `Access-Control-Allow-Origin: *`, never with credentials.
//! - [`OriginPolicy::reflect_any_origin_with_credentials_dangerously`]: what the name says.
//!
//! Chained setters refine it; [`OriginPolicy::validate`] (called by the server builder)
//! reports mistakes that span several setters, such as credentials with `any_origin()`.
//!
//! # Example
//!
//! ```
//! use http::{header, HeaderMap, HeaderValue, Method};
//! use portico_cors::{DenyKind, OriginPolicy, RequestInfo, Transport, Verdict};
//!
//! let policy = OriginPolicy::allow(["https://app.example.com", "https://*.example.com"])?
//!     .credentials(true)
//!     .build()?;
//!
//! // An allowed origin: served, with its origin echoed and credentials allowed.
//! let mut headers = HeaderMap::new();
//! headers.insert(header::ORIGIN, HeaderValue::from_static("https://chat.example.com"));
//! let request = RequestInfo::new(&Method::GET, &headers).with_transport(Transport::Polling);
//! let decision = policy.evaluate(&request);
//! assert_eq!(decision.verdict, Verdict::Allow);
//! assert_eq!(decision.headers["access-control-allow-origin"], "https://chat.example.com");
//! assert_eq!(decision.headers["access-control-allow-credentials"], "true");
//! assert_eq!(decision.headers["vary"], "Origin");
//!
//! // A lookalike: refused (403), no allow headers, and a message with the fix.
//! headers.insert(header::ORIGIN, HeaderValue::from_static("https://evil-example.com"));
//! let decision = policy.evaluate(&RequestInfo::new(&Method::GET, &headers));
//! let Verdict::Deny(reason) = &decision.verdict else { unreachable!() };
//! assert_eq!(reason.kind(), DenyKind::OriginNotAllowed);
//! assert!(reason.message().contains("add \"https://evil-example.com\" to the allowed origins"));
//! assert!(!decision.headers.contains_key("access-control-allow-origin"));
//!
//! // Wildcard plus credentials is a build error that explains the browser rule.
//! let err = OriginPolicy::any_origin().credentials(true).build().unwrap_err();
//! assert!(err.is_wildcard_with_credentials());
//! # Ok::<(), portico_cors::CorsConfigError>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod decision;
mod deny;
mod entry;
mod error;
mod evaluate;
mod guard;
pub mod headers;
mod origin;
mod own_origin;
mod pattern;
mod policy;
mod preflight;
mod request;

pub use decision::{CorsHeaders, Decision, Iter, Verdict};
pub use deny::{DenyKind, DenyReason};
pub use error::{ConfigErrorKind, CorsConfigError};
pub use origin::Origin;
pub use policy::OriginPolicy;
pub use request::{RequestHeaders, RequestInfo, Transport};
