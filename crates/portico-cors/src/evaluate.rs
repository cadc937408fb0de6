//! [`OriginPolicy::evaluate`]: the per-request decision.

use http::header::ORIGIN;
use http::HeaderValue;

use crate::decision::Slot;
use crate::headers::{
    SEC_FETCH_SITE, TRUE, VARY_BOTH, VARY_ORIGIN, VARY_REQUEST_HEADERS, WILDCARD,
};
use crate::origin::{parse_header, Parts};
use crate::own_origin::own_origin;
use crate::policy::Mode;
use crate::preflight;
use crate::{
    CorsHeaders, Decision, DenyKind, DenyReason, Origin, OriginPolicy, RequestHeaders, RequestInfo,
    Verdict,
};

/// How an allowed request's origin is answered.
enum Grant<'a> {
    /// `Access-Control-Allow-Origin: *`.
    Wildcard,
    /// `Access-Control-Allow-Origin: <the Origin header, byte for byte>`.
    Reflect(&'a HeaderValue),
    /// No `Origin` header: nothing to answer.
    NoOrigin,
}

impl OriginPolicy {
    /// Decides whether to serve a request and which headers its responses carry. Pure and
    /// cheap: no I/O, and no allocation unless the request is refused or a predicate runs.
    ///
    /// In order:
    /// 1. A preflight is `OPTIONS` + `Origin` + `Access-Control-Request-Method`; any other
    ///    `OPTIONS` is judged like a `GET` (Engine.IO then answers it with 400, code 2).
    /// 2. Without `Origin`: `Sec-Fetch-Site: cross-site` or `same-site` is refused unless
    ///    [`any_origin`](Self::any_origin); otherwise served per
    ///    [`serve_requests_without_origin`](Self::serve_requests_without_origin).
    /// 3. With `Origin`: [`any_origin`](Self::any_origin) answers `*`; `null` needs
    ///    [`allow_null_origin`](Self::allow_null_origin); a malformed or repeated `Origin`
    ///    is refused; then the same-origin rule, exact origins, patterns and predicates.
    ///    An allowed origin is echoed byte for byte in `Access-Control-Allow-Origin`, with
    ///    `Access-Control-Allow-Credentials: true` when [`credentials`](Self::credentials)
    ///    is on (never next to `*`, even if [`validate`](Self::validate) was skipped).
    /// 4. A preflight asking for a method or request header that is not allowed is
    ///    **refused** (403, no allow headers), not answered with a partial list: a refusal
    ///    never depends on how a browser reads allow lists, and the server log names the
    ///    exact fix. `Access-Control-Max-Age` goes on preflights only,
    ///    `Access-Control-Expose-Headers` on other responses only.
    /// 5. `Vary: Origin` whenever the answer depends on `Origin` (every policy but
    ///    [`any_origin`](Self::any_origin)), plus `Access-Control-Request-Headers` on
    ///    preflights when [`reflect_request_headers`](Self::reflect_request_headers) is on.
    ///    A refusal carries only `Vary`.
    pub fn evaluate<H: RequestHeaders + ?Sized>(&self, req: &RequestInfo<'_, H>) -> Decision {
        let mut headers = CorsHeaders::default();
        let verdict = self.evaluate_into(req, &mut headers);
        Decision { verdict, headers }
    }

    /// [`evaluate`](Self::evaluate), with the headers put in `headers` (an empty
    /// `CorsHeaders::default()`, where the caller keeps them) rather than returned: a server
    /// that writes them itself saves moving them, a few hundred bytes, through each level of
    /// its call chain. The headers and the verdict are `evaluate`'s.
    // Out of line: Portico's bench/profile reads the policy's cost per request by this name,
    // which a build that inlines it into its caller would not keep.
    #[inline(never)]
    pub fn evaluate_into<H: RequestHeaders + ?Sized>(
        &self,
        req: &RequestInfo<'_, H>,
        headers: &mut CorsHeaders,
    ) -> Verdict {
        let preflight = preflight::is_preflight(req);
        if let Some(vary) = self.vary(preflight) {
            headers.set(Slot::Vary, vary);
        }
        let grant = match self.grant(req) {
            Ok(grant) => grant,
            Err(reason) => return deny(reason, preflight),
        };
        if preflight {
            if let Err((kind, name)) = preflight::check(self, req.headers) {
                let origin = req.headers.get(&ORIGIN).and_then(|v| v.to_str().ok());
                let reason = DenyReason::new(kind, origin, req.transport).with_detail(&name);
                return deny(reason, preflight);
            }
        }
        match grant {
            Grant::Wildcard => {
                headers.set(Slot::AllowOrigin, WILDCARD);
            }
            Grant::Reflect(origin) => {
                headers.set(Slot::AllowOrigin, origin.clone());
                if self.credentials {
                    headers.set(Slot::AllowCredentials, TRUE);
                }
            }
            Grant::NoOrigin => {}
        }
        if preflight {
            preflight::add_headers(self, req.headers, headers);
            return Verdict::Preflight;
        }
        if let (Some(expose), false) =
            (&self.expose_headers.value, matches!(grant, Grant::NoOrigin))
        {
            headers.set(Slot::ExposeHeaders, expose.clone());
        }
        Verdict::Allow
    }

    /// Whether and how the request's origin is allowed.
    fn grant<'a, H: RequestHeaders + ?Sized>(
        &self,
        req: &RequestInfo<'a, H>,
    ) -> Result<Grant<'a>, DenyReason> {
        let mut values = req.headers.get_all(&ORIGIN);
        let Some(value) = values.next() else {
            return self.without_origin(req);
        };
        let text = value.to_str().ok().filter(|_| values.next().is_none());
        let Some(text) = text else {
            let lossy = String::from_utf8_lossy(value.as_bytes());
            return Err(DenyReason::new(
                DenyKind::MalformedOrigin,
                Some(&lossy),
                req.transport,
            ));
        };
        let own = match (self.mode, self.same_origin) {
            (Mode::List, true) => own_origin(self, req),
            _ => None,
        };
        match self.judge(text, own.as_ref()) {
            Ok(true) => Ok(Grant::Wildcard),
            Ok(false) => Ok(Grant::Reflect(value)),
            Err(kind) => Err(DenyReason::new(kind, Some(text), req.transport)
                .with_server_origin(own.map(|own| Origin::from_parts(&own).to_string()))),
        }
    }

    /// A request without `Origin`.
    fn without_origin<'a, H: RequestHeaders + ?Sized>(
        &self,
        req: &RequestInfo<'a, H>,
    ) -> Result<Grant<'a>, DenyReason> {
        // Read as bytes: a request without `Origin` is most often a same-origin page's, whose
        // `Sec-Fetch-Site` is only compared here, and a header map that keeps values as read
        // (Portico's HTTP/1) then builds no `HeaderValue` for it.
        if let Some(site) = req.headers.get_bytes(&SEC_FETCH_SITE) {
            let cross =
                site.eq_ignore_ascii_case(b"cross-site") || site.eq_ignore_ascii_case(b"same-site");
            if cross && self.mode != Mode::Any {
                // One of the two ASCII words, in some case: the detail names it as sent.
                let site = String::from_utf8_lossy(site);
                return Err(
                    DenyReason::new(DenyKind::CrossSiteWithoutOrigin, None, req.transport)
                        .with_detail(&site),
                );
            }
        }
        if !self.serve_without_origin {
            return Err(DenyReason::new(
                DenyKind::MissingOrigin,
                None,
                req.transport,
            ));
        }
        Ok(if self.mode == Mode::Any {
            Grant::Wildcard
        } else {
            Grant::NoOrigin
        })
    }

    /// Judges an `Origin` value: `Ok(true)` to answer `*`, `Ok(false)` to reflect it.
    /// `own` is the server's own origin, when the same-origin rule applies.
    pub(crate) fn judge(&self, text: &str, own: Option<&Parts<'_>>) -> Result<bool, DenyKind> {
        if self.mode == Mode::Any {
            return Ok(true);
        }
        if text.eq_ignore_ascii_case("null") {
            return if self.allow_null {
                Ok(false)
            } else {
                Err(DenyKind::NullOrigin)
            };
        }
        let parts = parse_header(text).ok_or(DenyKind::MalformedOrigin)?;
        if self.mode == Mode::ReflectAny
            || own.is_some_and(|own| own.same_as(&parts))
            || self.exact.iter().any(|o| o.parts().same_as(&parts))
            || self.patterns.iter().any(|p| p.matches(&parts))
        {
            return Ok(false);
        }
        if self.predicates.is_empty() {
            return Err(DenyKind::OriginNotAllowed);
        }
        let origin = Origin::from_parts(&parts);
        if self.predicates.iter().any(|p| (p.0)(&origin)) {
            Ok(false)
        } else {
            Err(DenyKind::PredicateRefused)
        }
    }

    /// The `Vary` value this policy's answers need.
    fn vary(&self, preflight: bool) -> Option<HeaderValue> {
        let on_origin = self.mode != Mode::Any;
        let on_request_headers = preflight && self.reflect_headers;
        match (on_origin, on_request_headers) {
            (true, true) => Some(VARY_BOTH),
            (true, false) => Some(VARY_ORIGIN),
            (false, true) => Some(VARY_REQUEST_HEADERS),
            (false, false) => None,
        }
    }
}

/// A refusal: only `Vary` stays.
fn deny(reason: DenyReason, preflight: bool) -> Verdict {
    Verdict::Deny(if preflight {
        reason.preflight()
    } else {
        reason
    })
}
