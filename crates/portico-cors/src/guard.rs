//! The per-namespace origin guard.

use crate::{DenyKind, DenyReason, OriginPolicy, Transport};

impl OriginPolicy {
    /// Checks the origin of a Socket.IO CONNECT to namespace `nsp` against this policy, used
    /// as that namespace's origin guard (e.g. `/admin` only from the admin app). `origin` is
    /// the `Origin` header of the connection's handshake request.
    ///
    /// A guard has no request to derive the server's own origin from, so the same-origin
    /// rule does not apply: build guards with [`allow`](Self::allow) or
    /// [`predicate`](Self::predicate). A connection without `Origin` passes unless the guard
    /// sets [`serve_requests_without_origin(false)`](Self::serve_requests_without_origin).
    /// Headers, methods and credentials play no part.
    ///
    /// On refusal, answer CONNECT_ERROR with
    /// [`DenyReason::public_message`] and log [`DenyReason::message`].
    ///
    /// ```
    /// use portico_cors::OriginPolicy;
    ///
    /// let admin = OriginPolicy::allow(["https://admin.example.com"])?;
    /// assert!(admin.check_namespace("/admin", Some("https://admin.example.com")).is_ok());
    /// let refused = admin.check_namespace("/admin", Some("https://app.example.com")).unwrap_err();
    /// assert_eq!(refused.public_message(), "origin \"https://app.example.com\" is not allowed on namespace \"/admin\"");
    /// # Ok::<(), portico_cors::CorsConfigError>(())
    /// ```
    pub fn check_namespace(&self, nsp: &str, origin: Option<&str>) -> Result<(), DenyReason> {
        let refused = match origin {
            None if self.serve_without_origin => return Ok(()),
            None => DenyKind::MissingOrigin,
            Some(text) => match self.judge(text, None) {
                Ok(_) => return Ok(()),
                Err(kind) => kind,
            },
        };
        Err(DenyReason::new(refused, origin, Transport::Other).with_namespace(nsp))
    }
}
