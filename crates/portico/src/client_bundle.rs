//! Serving the socket.io-client browser bundle under the Socket.IO path (Node's
//! `serveClient`), from the npm package you installed — Portico ships no copy.

use std::collections::HashMap;
use std::path::Path;

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use http::{Method, Response, StatusCode};
use http_body_util::Full;
use portico_cors::RequestHeaders;

use crate::config::ConfigError;
use crate::http::Body;

/// The files Node's socket.io serves, relative to the package's `dist/`.
const FILES: &[&str] = &[
    "socket.io.js",
    "socket.io.js.map",
    "socket.io.min.js",
    "socket.io.min.js.map",
    "socket.io.msgpack.min.js",
    "socket.io.msgpack.min.js.map",
    "socket.io.esm.min.js",
    "socket.io.esm.min.js.map",
];

/// The socket.io-client bundle, loaded once from an installed npm package and served at
/// `<path>socket.io.js`, `<path>socket.io.min.js` (and the other files of its `dist/`, with
/// their `.map`), with an `ETag` of the package version, 304 on `If-None-Match`, and the
/// CORS headers of the origin policy.
#[derive(Debug, Clone)]
pub struct ClientBundle {
    etag: HeaderValue,
    version: String,
    files: HashMap<&'static str, Bytes>,
}

impl ClientBundle {
    /// Load the bundle from the package directory, e.g. `node_modules/socket.io-client`.
    pub fn from_package_dir(dir: impl AsRef<Path>) -> Result<ClientBundle, ConfigError> {
        let dir = dir.as_ref();
        let manifest = std::fs::read(dir.join("package.json")).map_err(|e| {
            ConfigError::new(format!(
                "cannot read {}/package.json ({e}): serve_client needs the socket.io-client npm package \
                 (npm install socket.io-client)",
                dir.display()
            ))
        })?;
        let version = serde_json::from_slice::<serde_json::Value>(&manifest)
            .ok()
            .and_then(|v| v.get("version").and_then(|v| v.as_str()).map(str::to_owned))
            .ok_or_else(|| {
                ConfigError::new(format!("{}/package.json has no version", dir.display()))
            })?;
        let mut files = HashMap::new();
        for name in FILES {
            if let Ok(bytes) = std::fs::read(dir.join("dist").join(name)) {
                files.insert(*name, Bytes::from(bytes));
            }
        }
        if !files.contains_key("socket.io.js") && !files.contains_key("socket.io.min.js") {
            return Err(ConfigError::new(format!(
                "{}/dist has no socket.io.js or socket.io.min.js: is this the socket.io-client package?",
                dir.display()
            )));
        }
        let etag = HeaderValue::from_str(&format!("\"{version}\""))
            .map_err(|_| ConfigError::new(format!("unusable package version {version:?}")))?;
        Ok(ClientBundle {
            etag,
            version,
            files,
        })
    }

    /// The package version (also the `ETag`).
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The response for `file` (a name under the Socket.IO path), if it is one of the bundle's.
    pub(crate) fn serve<H: RequestHeaders + ?Sized>(
        &self,
        file: &str,
        method: &Method,
        headers: &H,
    ) -> Option<Response<Body>> {
        let body = self.files.get(file)?;
        if method != Method::GET && method != Method::HEAD {
            return None;
        }
        let weak = format!("W/{}", self.etag.to_str().unwrap_or_default());
        let matches = headers
            .get_all(&IF_NONE_MATCH)
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim() == self.etag || t.trim() == weak);
        let mut res = if matches {
            let mut r = Response::new(Full::new(Bytes::new()));
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else if method == Method::HEAD {
            Response::new(Full::new(Bytes::new()))
        } else {
            Response::new(Full::new(body.clone()))
        };
        let h = res.headers_mut();
        h.insert(ETAG, self.etag.clone());
        h.insert(CACHE_CONTROL, HeaderValue::from_static("public, max-age=0"));
        if !matches {
            let kind = if file.ends_with(".map") {
                "application/json; charset=utf-8"
            } else {
                "application/javascript; charset=utf-8"
            };
            h.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        }
        Some(res)
    }
}
