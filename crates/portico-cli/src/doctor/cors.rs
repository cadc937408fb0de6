//! What a browser decides about a *response*: the Fetch standard's CORS check
//! (<https://fetch.spec.whatwg.org/#cors-check>), the preflight rules, and the line Chrome
//! prints for each failure. Pure: headers in, a verdict and a message out.
//!
//! The server side of CORS (which headers to send) is `portico-cors`; this module judges what
//! any server actually sent, as Chromium's network service does.

use super::findings::Id;
use super::http::Response;

/// Why the browser blocks a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// No `Access-Control-Allow-Origin`.
    MissingAllowOrigin,
    /// Several values (several header lines, or one line with a comma), as Chrome joins them.
    MultipleAllowOrigin(String),
    /// A value that is not an origin at all (e.g. with a path).
    InvalidAllowOrigin(String),
    /// A single origin that is not the page's.
    OriginMismatch(String),
    /// `*` on a request with credentials.
    WildcardWithCredentials,
    /// Credentials, and `Access-Control-Allow-Credentials` absent or not exactly `true`.
    MissingAllowCredentials(String),
    /// A preflight answered with a status outside 200..=299.
    PreflightStatus(u16),
    /// A preflight whose `Access-Control-Allow-Headers` lacks a requested header.
    HeaderNotAllowed(String),
}

impl Failure {
    /// The finding this failure is reported as; every preflight failure is
    /// `cors.preflight-failed`.
    pub fn id(&self, preflight: bool) -> Id {
        if preflight {
            return Id::CorsPreflightFailed;
        }
        match self {
            Failure::MissingAllowOrigin
            | Failure::PreflightStatus(_)
            | Failure::HeaderNotAllowed(_) => Id::CorsMissingAllowOrigin,
            Failure::MultipleAllowOrigin(_) => Id::CorsMultipleAllowOrigin,
            Failure::InvalidAllowOrigin(_) | Failure::OriginMismatch(_) => Id::CorsOriginMismatch,
            Failure::WildcardWithCredentials => Id::CorsWildcardWithCredentials,
            Failure::MissingAllowCredentials(_) => Id::CorsMissingAllowCredentials,
        }
    }

    /// Chrome's reason, the part after "has been blocked by CORS policy: ".
    pub fn chrome_reason(&self, preflight: bool) -> String {
        const XHR_CREDENTIALS: &str =
            "The credentials mode of requests initiated by the XMLHttpRequest is \
                                       controlled by the withCredentials attribute.";
        let reason = match self {
            Failure::MissingAllowOrigin => {
                "No 'Access-Control-Allow-Origin' header is present on the requested resource.".to_string()
            }
            Failure::MultipleAllowOrigin(v) => format!(
                "The 'Access-Control-Allow-Origin' header contains multiple values '{v}', but only one is allowed."
            ),
            Failure::InvalidAllowOrigin(v) => {
                format!("The 'Access-Control-Allow-Origin' header contains the invalid value '{v}'.")
            }
            Failure::OriginMismatch(v) => format!(
                "The 'Access-Control-Allow-Origin' header has a value '{v}' that is not equal to the supplied origin."
            ),
            Failure::WildcardWithCredentials => format!(
                "The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard \
                 '*' when the request's credentials mode is 'include'. {XHR_CREDENTIALS}"
            ),
            Failure::MissingAllowCredentials(v) => format!(
                "The value of the 'Access-Control-Allow-Credentials' header in the response is '{v}' which must \
                 be 'true' when the request's credentials mode is 'include'. {XHR_CREDENTIALS}"
            ),
            Failure::PreflightStatus(_) => "It does not have HTTP ok status.".to_string(),
            Failure::HeaderNotAllowed(name) => {
                // Chrome prints this one without the preflight prefix.
                return format!(
                    "Request header field {name} is not allowed by Access-Control-Allow-Headers in preflight response."
                );
            }
        };
        if preflight {
            format!("Response to preflight request doesn't pass access control check: {reason}")
        } else {
            reason
        }
    }

    /// The whole console line Chrome prints for an XMLHttpRequest to `url` from `origin`.
    pub fn chrome_line(&self, url: &str, origin: &str, preflight: bool) -> String {
        chrome_line(url, origin, &self.chrome_reason(preflight))
    }
}

/// `Access to XMLHttpRequest at 'URL' from origin 'O' has been blocked by CORS policy: REASON`.
pub(crate) fn chrome_line(url: &str, origin: &str, reason: &str) -> String {
    format!("Access to XMLHttpRequest at '{url}' from origin '{origin}' has been blocked by CORS policy: {reason}")
}

/// The CORS check of the Fetch standard, in Chromium's order: the response to a request from
/// `origin` (with credentials or not) may be read by the page.
pub(crate) fn check(origin: &str, credentials: bool, response: &Response) -> Result<(), Failure> {
    let values = response.header_all("access-control-allow-origin");
    if values.is_empty() {
        return Err(Failure::MissingAllowOrigin);
    }
    // The network stack joins repeated lines with ", ", as Chrome shows them.
    let joined = values.join(", ");
    if joined == "*" {
        return if credentials {
            Err(Failure::WildcardWithCredentials)
        } else {
            Ok(())
        };
    }
    if joined != origin {
        if joined.contains([',', ' ']) {
            return Err(Failure::MultipleAllowOrigin(joined));
        }
        if joined != "null" && portico_cors::Origin::parse(&joined).is_err() {
            return Err(Failure::InvalidAllowOrigin(joined));
        }
        return Err(Failure::OriginMismatch(joined));
    }
    if credentials {
        let acac = response
            .header_all("access-control-allow-credentials")
            .join(", ");
        if acac != "true" {
            return Err(Failure::MissingAllowCredentials(acac));
        }
    }
    Ok(())
}

/// The preflight check: the CORS check with the actual request's credentials mode, then an
/// ok status, then every requested header listed in `Access-Control-Allow-Headers` (`*`
/// counts only without credentials, and never for `authorization`). The methods the client
/// uses (GET, POST) are CORS-safelisted, so `Access-Control-Allow-Methods` never blocks them.
pub(crate) fn check_preflight(
    origin: &str,
    credentials: bool,
    requested_headers: &[String],
    response: &Response,
) -> Result<(), Failure> {
    check(origin, credentials, response)?;
    if !(200..=299).contains(&response.status) {
        return Err(Failure::PreflightStatus(response.status));
    }
    let allowed: Vec<String> = response
        .header_all("access-control-allow-headers")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    let wildcard = !credentials && allowed.iter().any(|n| n == "*");
    for name in requested_headers {
        let name = name.to_ascii_lowercase();
        let by_wildcard = wildcard && name != "authorization";
        if !by_wildcard && !allowed.contains(&name) {
            return Err(Failure::HeaderNotAllowed(name));
        }
    }
    Ok(())
}

/// Header names a page can never set on an XMLHttpRequest (the browser drops them), per
/// the Fetch standard's forbidden request-header names.
pub(crate) fn is_forbidden_header(name: &str) -> bool {
    const FORBIDDEN: &[&str] = &[
        "accept-charset",
        "accept-encoding",
        "access-control-request-headers",
        "access-control-request-method",
        "connection",
        "content-length",
        "cookie",
        "cookie2",
        "date",
        "dnt",
        "expect",
        "host",
        "keep-alive",
        "origin",
        "referer",
        "set-cookie",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
    ];
    let lower = name.to_ascii_lowercase();
    FORBIDDEN.contains(&lower.as_str()) || lower.starts_with("proxy-") || lower.starts_with("sec-")
}

/// The headers (lowercase names, sorted, as Chrome lists them in
/// `Access-Control-Request-Headers`) that are not CORS-safelisted and so make the browser
/// send a preflight. Empty: no preflight.
pub(crate) fn unsafe_headers(headers: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .filter(|(name, value)| !is_safelisted(name, value))
        .map(|(name, _)| name.to_ascii_lowercase())
        .collect();
    names.sort();
    names.dedup();
    names
}

/// A CORS-safelisted request header (Fetch): `accept`, `accept-language`,
/// `content-language` with short, safe values, and `content-type` with one of the three
/// simple types. The polling POST's own `text/plain;charset=UTF-8` is one of them.
pub(crate) fn is_safelisted(name: &str, value: &str) -> bool {
    let unsafe_byte = |b: u8| {
        (b < 0x20 && b != b'\t')
            || b == 0x7f
            || matches!(
                b,
                b'"' | b'('
                    | b')'
                    | b':'
                    | b'<'
                    | b'>'
                    | b'?'
                    | b'@'
                    | b'['
                    | b'\\'
                    | b']'
                    | b'{'
                    | b'}'
            )
    };
    if value.len() > 128 {
        return false;
    }
    match name.to_ascii_lowercase().as_str() {
        "accept" => !value.bytes().any(unsafe_byte),
        "accept-language" | "content-language" => value.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b' ' | b'*' | b',' | b'-' | b'.' | b';' | b'=')
        }),
        "content-type" => {
            if value.bytes().any(unsafe_byte) {
                return false;
            }
            let essence = value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            matches!(
                essence.as_str(),
                "application/x-www-form-urlencoded" | "multipart/form-data" | "text/plain"
            )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test

    use super::*;

    fn response(status: u16, headers: &[(&str, &str)]) -> Response {
        Response {
            status,
            reason: String::new(),
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: Vec::new(),
        }
    }

    const O: &str = "http://localhost:5173";

    #[test]
    fn missing_allow_origin() {
        let r = response(200, &[]);
        assert_eq!(check(O, false, &r), Err(Failure::MissingAllowOrigin));
        assert_eq!(check(O, true, &r), Err(Failure::MissingAllowOrigin));
        assert_eq!(
            Failure::MissingAllowOrigin.chrome_line("http://x/socket.io/?EIO=4", O, false),
            "Access to XMLHttpRequest at 'http://x/socket.io/?EIO=4' from origin 'http://localhost:5173' has been \
             blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource."
        );
        assert_eq!(
            Failure::MissingAllowOrigin.id(false),
            Id::CorsMissingAllowOrigin
        );
    }

    #[test]
    fn wildcard_without_credentials_passes_with_credentials_fails() {
        let r = response(200, &[("access-control-allow-origin", "*")]);
        assert_eq!(check(O, false, &r), Ok(()));
        assert_eq!(check(O, true, &r), Err(Failure::WildcardWithCredentials));
        // Even with Access-Control-Allow-Credentials: true (Node's origin "*" + credentials).
        let r = response(
            200,
            &[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-credentials", "true"),
            ],
        );
        assert_eq!(check(O, true, &r), Err(Failure::WildcardWithCredentials));
        let line = Failure::WildcardWithCredentials.chrome_reason(false);
        assert!(line.starts_with(
            "The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard '*' \
             when the request's credentials mode is 'include'."
        ));
        assert!(line.ends_with("controlled by the withCredentials attribute."));
        assert_eq!(
            Failure::WildcardWithCredentials.id(false),
            Id::CorsWildcardWithCredentials
        );
    }

    #[test]
    fn exact_origin_and_credentials() {
        let r = response(200, &[("access-control-allow-origin", O)]);
        assert_eq!(check(O, false, &r), Ok(()));
        assert_eq!(
            check(O, true, &r),
            Err(Failure::MissingAllowCredentials(String::new()))
        );
        let r = response(
            200,
            &[
                ("access-control-allow-origin", O),
                ("access-control-allow-credentials", "TRUE"),
            ],
        );
        assert_eq!(
            check(O, true, &r),
            Err(Failure::MissingAllowCredentials("TRUE".into()))
        );
        let r = response(
            200,
            &[
                ("access-control-allow-origin", O),
                ("access-control-allow-credentials", "true"),
            ],
        );
        assert_eq!(check(O, true, &r), Ok(()));
        assert_eq!(
            Failure::MissingAllowCredentials(String::new()).chrome_reason(false),
            "The value of the 'Access-Control-Allow-Credentials' header in the response is '' which must be 'true' \
             when the request's credentials mode is 'include'. The credentials mode of requests initiated by the \
             XMLHttpRequest is controlled by the withCredentials attribute."
        );
        assert_eq!(
            Failure::MissingAllowCredentials(String::new()).id(false),
            Id::CorsMissingAllowCredentials
        );
    }

    #[test]
    fn mismatch_and_invalid_values() {
        let r = response(
            200,
            &[("access-control-allow-origin", "https://app.example.com")],
        );
        assert_eq!(
            check(O, false, &r),
            Err(Failure::OriginMismatch("https://app.example.com".into()))
        );
        assert_eq!(
            Failure::OriginMismatch("https://app.example.com".into()).chrome_reason(false),
            "The 'Access-Control-Allow-Origin' header has a value 'https://app.example.com' that is not equal to \
             the supplied origin."
        );
        // A trailing slash is a different string: browsers compare exactly.
        let r = response(
            200,
            &[("access-control-allow-origin", "http://localhost:5173/")],
        );
        assert_eq!(
            check(O, false, &r),
            Err(Failure::InvalidAllowOrigin("http://localhost:5173/".into()))
        );
        assert_eq!(
            Failure::InvalidAllowOrigin(String::new()).id(false),
            Id::CorsOriginMismatch
        );
        // Another port is another origin.
        let r = response(
            200,
            &[("access-control-allow-origin", "http://localhost:3000")],
        );
        assert!(matches!(
            check(O, false, &r),
            Err(Failure::OriginMismatch(_))
        ));
    }

    #[test]
    fn multiple_values() {
        // An app and a proxy both adding the header: two lines, joined as Chrome shows them.
        let r = response(
            200,
            &[
                ("access-control-allow-origin", O),
                ("access-control-allow-origin", "*"),
            ],
        );
        let f = check(O, false, &r).unwrap_err();
        assert_eq!(f, Failure::MultipleAllowOrigin(format!("{O}, *")));
        assert_eq!(
            f.chrome_reason(false),
            "The 'Access-Control-Allow-Origin' header contains multiple values 'http://localhost:5173, *', but \
             only one is allowed."
        );
        assert_eq!(f.id(false), Id::CorsMultipleAllowOrigin);
        // The same value twice is still two values.
        let r = response(
            200,
            &[
                ("access-control-allow-origin", "*"),
                ("access-control-allow-origin", "*"),
            ],
        );
        assert_eq!(
            check(O, false, &r),
            Err(Failure::MultipleAllowOrigin("*, *".into()))
        );
        // One line with a comma, too.
        let r = response(
            200,
            &[("access-control-allow-origin", "http://a.test,http://b.test")],
        );
        assert!(matches!(
            check(O, false, &r),
            Err(Failure::MultipleAllowOrigin(_))
        ));
    }

    #[test]
    fn preflight_rules() {
        let ok = [
            ("access-control-allow-origin", O),
            ("access-control-allow-headers", "X-Token, content-type"),
            ("access-control-allow-methods", "GET,POST"),
        ];
        let requested = vec!["x-token".to_string()];
        assert_eq!(
            check_preflight(O, false, &requested, &response(204, &ok)),
            Ok(())
        );
        // Status: only after the CORS check (a 403 without ACAO is a missing-ACAO failure).
        assert_eq!(
            check_preflight(O, false, &requested, &response(403, &[])),
            Err(Failure::MissingAllowOrigin)
        );
        let f = check_preflight(O, false, &requested, &response(401, &ok)).unwrap_err();
        assert_eq!(f, Failure::PreflightStatus(401));
        assert_eq!(
            f.chrome_reason(true),
            "Response to preflight request doesn't pass access control check: It does not have HTTP ok status."
        );
        // A header not listed.
        let only_ct = [
            ("access-control-allow-origin", O),
            ("access-control-allow-headers", "content-type"),
        ];
        let f = check_preflight(O, false, &requested, &response(204, &only_ct)).unwrap_err();
        assert_eq!(f, Failure::HeaderNotAllowed("x-token".into()));
        assert_eq!(
            f.chrome_reason(true),
            "Request header field x-token is not allowed by Access-Control-Allow-Headers in preflight response."
        );
        assert_eq!(f.id(true), Id::CorsPreflightFailed);
        // "*" covers any header without credentials, never authorization, nothing with credentials.
        let star = [
            ("access-control-allow-origin", O),
            ("access-control-allow-headers", "*"),
        ];
        assert_eq!(
            check_preflight(O, false, &requested, &response(204, &star)),
            Ok(())
        );
        let auth = vec!["authorization".to_string()];
        assert!(check_preflight(O, false, &auth, &response(204, &star)).is_err());
        let star_cred = [
            ("access-control-allow-origin", O),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-headers", "*"),
        ];
        assert!(check_preflight(O, true, &requested, &response(204, &star_cred)).is_err());
        // The preflight's CORS check uses the request's credentials mode.
        assert_eq!(
            check_preflight(O, true, &requested, &response(204, &ok)),
            Err(Failure::MissingAllowCredentials(String::new()))
        );
        assert!(Failure::MissingAllowOrigin.chrome_reason(true).starts_with(
            "Response to preflight request doesn't pass access control check: No 'Access-Control"
        ));
    }

    #[test]
    fn which_headers_need_a_preflight() {
        let h = |n: &str, v: &str| (n.to_string(), v.to_string());
        assert!(unsafe_headers(&[h("Content-Type", "text/plain;charset=UTF-8")]).is_empty());
        assert!(
            unsafe_headers(&[h("Accept", "*/*"), h("Accept-Language", "en-US,en;q=0.9")])
                .is_empty()
        );
        assert_eq!(
            unsafe_headers(&[
                h("X-Token", "a"),
                h("Authorization", "Bearer x"),
                h("x-token", "b")
            ]),
            ["authorization", "x-token"]
        );
        assert_eq!(
            unsafe_headers(&[h("Content-Type", "application/json")]),
            ["content-type"]
        );
        assert!(is_forbidden_header("Cookie"));
        assert!(is_forbidden_header("Sec-Fetch-Mode"));
        assert!(!is_forbidden_header("Authorization"));
    }
}
