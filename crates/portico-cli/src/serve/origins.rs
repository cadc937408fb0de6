//! The origin policy `portico serve` builds from its settings. Its errors speak in flags and
//! file keys (the library's speak in `OriginPolicy` calls) and name where each value came from.

use portico::OriginPolicy;

use super::settings::{
    Settings, CORS_ALLOW_HEADERS, CORS_ANY_ORIGIN, CORS_CREDENTIALS, CORS_ORIGINS, DEMO_ORIGIN,
    HOST,
};

impl Settings {
    /// The origin policy the settings describe. Errors say which flag or file key to change.
    pub(crate) fn origin_policy(&self) -> anyhow::Result<OriginPolicy> {
        let origins = self.name(CORS_ORIGINS);
        let any = self.switch_name(CORS_ANY_ORIGIN);
        let credentials = self.switch_name(CORS_CREDENTIALS);
        if self.cors_any_origin && !self.cors_origins.is_empty() {
            anyhow::bail!(
                "{any} and {origins} contradict each other: keep the list of origins \
                 (recommended) and drop {any}, or drop the list to allow every origin"
            );
        }
        if self.cors_any_origin && self.cors_credentials {
            let list = if self.in_file(CORS_ANY_ORIGIN) {
                "cors_origins = [\"https://app.example.com\"]"
            } else if self.in_file(CORS_CREDENTIALS) {
                "--cors-origin https://app.example.com"
            } else {
                "--cors-origin https://app.example.com --cors-credentials"
            };
            anyhow::bail!(
                "refusing to start: {credentials} cannot be combined with {any}:\n\
                 browsers reject \"Access-Control-Allow-Origin: *\" on credentialed requests \
                 (cookies,\nwithCredentials: true), so every such request would fail. Fix it \
                 one of two ways:\n  \
                 - list the origins that may send credentials in place of {any}:\n    \
                 {list}\n  \
                 - drop {credentials} and keep {any}"
            );
        }
        for entry in &self.cors_origins {
            self.check_entry(entry)?;
        }
        let mut policy = if self.cors_any_origin {
            OriginPolicy::any_origin()
        } else if self.cors_origins.is_empty() {
            OriginPolicy::same_origin()
        } else {
            OriginPolicy::allow(&self.cors_origins)
                .map_err(|e| anyhow::anyhow!("{origins}: {e}"))?
        };
        // Every origin is already allowed with any_origin(), the demo page's too.
        if let (Some(port), false) = (self.demo_origin, self.cors_any_origin) {
            let demo = format!("http://{}:{port}", self.url_host());
            policy = policy.also_allow([demo.as_str()]).map_err(|e| {
                anyhow::anyhow!(
                    "{}: the demo page's origin would be invalid (its host \"{}\" is from {}): {e}",
                    self.name(DEMO_ORIGIN),
                    self.host,
                    self.source(HOST),
                )
            })?;
        }
        let headers = self.name(CORS_ALLOW_HEADERS);
        for header in &self.cors_allow_headers {
            let h = header.trim();
            if http::HeaderName::from_bytes(h.as_bytes()).is_err() {
                anyhow::bail!(
                    "{headers}: \"{header}\" is not a valid header name; write names like \
                     \"authorization\" or \"x-request-id\""
                );
            }
            if h == "*" && self.cors_credentials {
                anyhow::bail!(
                    "refusing to start: {headers} \"*\" cannot be combined with {credentials}: \
                     on credentialed requests browsers read \"*\" as a literal header name, not a \
                     wildcard; list the header names instead"
                );
            }
        }
        let policy = policy
            .credentials(self.cors_credentials)
            .allow_headers(&self.cors_allow_headers)
            .trusted_proxies(self.trusted_proxies.iter().copied());
        policy.validate().map_err(|e| {
            anyhow::anyhow!("refusing to start with this origin configuration:\n{e}")
        })?;
        Ok(policy)
    }

    /// The entries the library refuses with advice about its own API (`any_origin()`,
    /// `allow_null_origin`), refused here with advice in flags and file keys.
    fn check_entry(&self, entry: &str) -> anyhow::Result<()> {
        let origins = self.name(CORS_ORIGINS);
        let (any, credentials) = if self.in_file(CORS_ORIGINS) {
            ("cors_any_origin = true", "cors_credentials")
        } else {
            ("--cors-any-origin", "--cors-credentials")
        };
        let s = entry.trim();
        let rest = s.split_once("://").map_or(s, |(_, rest)| rest);
        let host = rest.split([':', '/']).next().unwrap_or(rest);
        if host == "*" {
            anyhow::bail!(
                "{origins}: \"{entry}\" is a wildcard, not an origin: to allow every origin, use \
                 {any} instead (it sends \"Access-Control-Allow-Origin: *\" and cannot be combined \
                 with {credentials})"
            );
        }
        if s.eq_ignore_ascii_case("null") {
            anyhow::bail!(
                "{origins}: \"{entry}\" is the opaque origin of sandboxed iframes and file:// \
                 pages, which any site can produce; portico serve does not allow it"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a panic is the failure report
mod tests {
    use super::super::settings::FileConfig;
    use super::super::ServeArgs;
    use super::*;

    /// The error of `origin_policy` for these flags and this file (`portico.toml`).
    fn error(args: ServeArgs, toml: &str) -> String {
        let args = ServeArgs {
            config: (!toml.is_empty()).then(|| "portico.toml".into()),
            ..args
        };
        let file: FileConfig = toml::from_str(toml).unwrap();
        Settings::resolve(&args, file)
            .origin_policy()
            .unwrap_err()
            .to_string()
    }

    fn policy(args: ServeArgs, toml: &str) -> OriginPolicy {
        let file: FileConfig = toml::from_str(toml).unwrap();
        Settings::resolve(&args, file).origin_policy().unwrap()
    }

    fn origins(list: &[&str]) -> ServeArgs {
        ServeArgs {
            cors_origins: list.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        }
    }

    const ANY_WITH_CREDENTIALS: &str = "\
refusing to start: --cors-credentials cannot be combined with --cors-any-origin:
browsers reject \"Access-Control-Allow-Origin: *\" on credentialed requests (cookies,
withCredentials: true), so every such request would fail. Fix it one of two ways:
  - list the origins that may send credentials in place of --cors-any-origin:
    --cors-origin https://app.example.com --cors-credentials
  - drop --cors-credentials and keep --cors-any-origin";

    #[test]
    fn wildcard_with_credentials_names_both_settings_where_they_are() {
        let flags = ServeArgs {
            cors_any_origin: true,
            cors_credentials: true,
            ..Default::default()
        };
        assert_eq!(error(flags, ""), ANY_WITH_CREDENTIALS);
        let err = error(
            ServeArgs::default(),
            "cors_any_origin = true\ncors_credentials = true",
        );
        assert_eq!(
            err,
            "\
refusing to start: cors_credentials = true in portico.toml cannot be combined with cors_any_origin = true in portico.toml:
browsers reject \"Access-Control-Allow-Origin: *\" on credentialed requests (cookies,
withCredentials: true), so every such request would fail. Fix it one of two ways:
  - list the origins that may send credentials in place of cors_any_origin = true in portico.toml:
    cors_origins = [\"https://app.example.com\"]
  - drop cors_credentials = true in portico.toml and keep cors_any_origin = true in portico.toml"
        );
        let mixed = ServeArgs {
            cors_any_origin: true,
            ..Default::default()
        };
        let err = error(mixed, "cors_credentials = true");
        assert!(
            err.starts_with(
                "refusing to start: cors_credentials = true in portico.toml cannot be combined \
                 with --cors-any-origin:\n"
            ),
            "{err}"
        );
        assert!(
            err.contains(
                "in place of --cors-any-origin:\n    --cors-origin https://app.example.com\n"
            ),
            "{err}"
        );
    }

    #[test]
    fn a_bad_entry_names_the_flag_or_the_file_key() {
        assert_eq!(
            error(origins(&["https://app.example.com/"]), ""),
            "--cors-origin: origin entry \"https://app.example.com/\" has a trailing slash; \
             browsers send origins without one: use \"https://app.example.com\""
        );
        assert_eq!(
            error(
                ServeArgs::default(),
                "cors_origins = [\"https://app.example.com/\"]"
            ),
            "cors_origins in portico.toml: origin entry \"https://app.example.com/\" has a \
             trailing slash; browsers send origins without one: use \"https://app.example.com\""
        );
        // A flag overrides the file, and is the one named.
        assert!(error(
            origins(&["https://b.example.com/"]),
            "cors_origins = [\"https://a.example.com\"]"
        )
        .starts_with("--cors-origin: "));
    }

    #[test]
    fn a_wildcard_entry_points_to_the_any_origin_flag_or_key() {
        for entry in ["*", " * ", "https://*", "http://*:8080"] {
            let err = error(origins(&[entry]), "");
            assert_eq!(
                err,
                format!(
                    "--cors-origin: \"{entry}\" is a wildcard, not an origin: to allow every \
                     origin, use --cors-any-origin instead (it sends \"Access-Control-Allow-Origin: \
                     *\" and cannot be combined with --cors-credentials)"
                )
            );
            assert!(!err.contains("OriginPolicy"), "{err}");
        }
        let err = error(ServeArgs::default(), "cors_origins = [\"*\"]");
        assert_eq!(
            err,
            "cors_origins in portico.toml: \"*\" is a wildcard, not an origin: to allow every \
             origin, use cors_any_origin = true instead (it sends \"Access-Control-Allow-Origin: \
             *\" and cannot be combined with cors_credentials)"
        );
        let err = error(origins(&["null"]), "");
        assert!(
            err.starts_with("--cors-origin: \"null\" is the opaque origin"),
            "{err}"
        );
        assert!(!err.contains("allow_null_origin"), "{err}");
        // Patterns are not wildcards.
        policy(origins(&["https://*.example.com"]), "");
    }

    #[test]
    fn any_origin_contradicts_a_list() {
        let args = ServeArgs {
            cors_any_origin: true,
            ..origins(&["https://a.example.com"])
        };
        assert!(error(args, "").starts_with(
            "--cors-any-origin and --cors-origin contradict each other: keep the list of origins \
             (recommended) and drop --cors-any-origin,"
        ));
        let err = error(
            ServeArgs::default(),
            "cors_any_origin = true\ncors_origins = [\"https://a.example.com\"]",
        );
        assert!(
            err.starts_with(
                "cors_any_origin = true in portico.toml and cors_origins in portico.toml \
                 contradict each other"
            ),
            "{err}"
        );
    }

    #[test]
    fn demo_origin_is_allowed_and_its_errors_name_it() {
        let args = ServeArgs {
            demo_origin: Some(5173),
            ..Default::default()
        };
        let p = policy(args, "");
        assert!(
            p.describe().contains("http://127.0.0.1:5173"),
            "{}",
            p.describe()
        );
        // With every origin allowed, the demo origin needs no entry (and is no conflict).
        let args = ServeArgs {
            demo_origin: Some(5173),
            cors_any_origin: true,
            ..Default::default()
        };
        assert_eq!(policy(args, "").describe(), "any origin (*)");
        let p = policy(ServeArgs::default(), "host = \"::1\"\ndemo_origin = 5173");
        assert!(
            p.describe().contains("http://[::1]:5173"),
            "{}",
            p.describe()
        );
        let err = error(
            ServeArgs::default(),
            "host = \"bad host\"\ndemo_origin = 5173",
        );
        assert!(
            err.starts_with(
                "demo_origin in portico.toml: the demo page's origin would be invalid (its host \
                 \"bad host\" is from host in portico.toml): origin entry \"http://bad host:5173\""
            ),
            "{err}"
        );
    }

    #[test]
    fn allow_header_errors_name_the_flag_or_the_file_key() {
        let args = ServeArgs {
            cors_allow_headers: vec!["x y".into()],
            ..Default::default()
        };
        assert_eq!(
            error(args, ""),
            "--cors-allow-header: \"x y\" is not a valid header name; write names like \
             \"authorization\" or \"x-request-id\""
        );
        let err = error(
            ServeArgs::default(),
            "cors_origins = [\"https://a.example.com\"]\ncors_credentials = true\n\
             cors_allow_headers = [\"*\"]",
        );
        assert!(
            err.starts_with(
                "refusing to start: cors_allow_headers in portico.toml \"*\" cannot be combined \
                 with cors_credentials = true in portico.toml: "
            ),
            "{err}"
        );
    }
}
