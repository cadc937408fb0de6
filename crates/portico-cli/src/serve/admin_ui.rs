//! `portico serve --admin-ui`: the official Socket.IO Admin UI, served from its npm package
//! at `/admin-ui/` on the server's own port, with its icon font from `@mdi/font` (the page
//! would load both from CDNs). Being on the same origin as the server, the page is allowed by
//! the same-origin rule that every origin policy has: nothing else is opened.

use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;
use axum::extract::Path as UrlPath;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use clap::Args as ClapArgs;
use portico::AdminOptions;

/// Where the page is served.
pub(crate) const ROUTE: &str = "/admin-ui/";
/// The icon font's files, under [`ROUTE`].
const MDI: &str = "mdi/";

/// The Admin UI flags of `portico serve` (flags only, not config-file keys).
#[derive(Debug, Default, Clone, ClapArgs)]
pub(crate) struct AdminUiArgs {
    /// Serve the official Socket.IO Admin UI at /admin-ui/ on the same port, and its
    /// namespace /admin (docs/admin-ui.md). Without --admin-ui-user, anyone who reaches the
    /// port may use it.
    #[arg(long)]
    admin_ui: bool,
    /// The user name the Admin UI asks for (with --admin-ui-password-hash).
    #[arg(long, value_name = "NAME", requires = "admin_ui_password_hash")]
    admin_ui_user: Option<String>,
    /// The bcrypt hash of the Admin UI's password (`portico admin-ui-hash` makes one).
    #[arg(long, value_name = "HASH", requires = "admin_ui_user")]
    admin_ui_password_hash: Option<String>,
    /// Admin UI in read-only mode: it shows everything and can act on nothing.
    #[arg(long)]
    admin_ui_readonly: bool,
    /// The Admin UI's files (the `ui/dist` folder of the npm package @socket.io/admin-ui).
    /// Default: looked up in node_modules (npm ci --prefix tests/js installs it).
    #[arg(long, value_name = "DIR")]
    admin_ui_dir: Option<PathBuf>,
}

/// The Admin UI, ready to serve.
pub(crate) struct AdminUi {
    dir: PathBuf,
    mdi: Option<PathBuf>,
    user: Option<String>,
}

fn find(explicit: Option<&Path>, rel: &str, marker: &str) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    ["node_modules", "tests/js/node_modules"]
        .iter()
        .map(|base| Path::new(base).join(rel))
        .find(|p| p.join(marker).is_file())
}

impl AdminUiArgs {
    pub(crate) fn readonly(&self) -> bool {
        self.admin_ui_readonly
    }

    /// The namespace options and the files, or `None` without `--admin-ui`.
    pub(crate) fn resolve(&self) -> anyhow::Result<Option<(AdminOptions, AdminUi)>> {
        if !self.admin_ui {
            if self.admin_ui_user.is_some() || self.admin_ui_readonly || self.admin_ui_dir.is_some()
            {
                anyhow::bail!("the --admin-ui-* flags need --admin-ui");
            }
            return Ok(None);
        }
        let dir = find(
            self.admin_ui_dir.as_deref(),
            "@socket.io/admin-ui/ui/dist",
            "index.html",
        )
        .context(
            "--admin-ui: the Admin UI's files were not found in node_modules: run \
             `npm ci --prefix tests/js`, or pass --admin-ui-dir path/to/@socket.io/admin-ui/ui/dist",
        )?;
        if !dir.join("index.html").is_file() {
            anyhow::bail!(
                "--admin-ui-dir {}: no index.html there (it is the ui/dist folder of the npm \
                 package @socket.io/admin-ui)",
                dir.display()
            );
        }
        let mdi = find(None, "@mdi/font", "css/materialdesignicons.min.css");
        let mut opts = AdminOptions::new().readonly(self.admin_ui_readonly);
        if let (Some(user), Some(hash)) = (&self.admin_ui_user, &self.admin_ui_password_hash) {
            opts = opts.basic_auth(user.clone(), hash.clone());
        }
        Ok(Some((
            opts,
            AdminUi {
                dir,
                mdi,
                user: self.admin_ui_user.clone(),
            },
        )))
    }
}

impl AdminUi {
    /// The startup lines: where the page is and what to type in its connection form.
    pub(crate) fn announce(&self, server_url: &str, path: &str, readonly: bool) {
        if self.user.is_none() {
            tracing::warn!(
                "admin UI: authentication is off: anyone who reaches this port can see and act on \
                 every socket (use --admin-ui-user and --admin-ui-password-hash)"
            );
        }
        if self.mdi.is_none() {
            tracing::warn!("admin UI: @mdi/font not found in node_modules: the page has no icons");
        }
        let login = match &self.user {
            Some(u) => format!("username {u} and its password"),
            None => "username and password left empty (auth off)".to_owned(),
        };
        let mode = if readonly { " (read-only)" } else { "" };
        eprintln!("Admin UI{mode}: open {server_url}{ROUTE}");
        eprintln!(
            "Admin UI connection form: Server URL {server_url}, {login}; Advanced options: \
             path {}, namespace /admin",
            path.trim_end_matches('/')
        );
    }

    /// `/admin-ui/`: the page (its CDN links replaced by local files) and its files.
    pub(crate) fn router(&self) -> axum::Router {
        let index = std::fs::read_to_string(self.dir.join("index.html")).unwrap_or_default();
        let page = rewrite_index(&index);
        let dir = self.dir.clone();
        let mdi = self.mdi.clone();
        axum::Router::new()
            .route(
                ROUTE.trim_end_matches('/'),
                get(|| async { Redirect::permanent(ROUTE) }),
            )
            .route(ROUTE, get(move || async move { Html(page) }))
            .route(
                &format!("{ROUTE}{{*file}}"),
                get(move |UrlPath(file): UrlPath<String>| {
                    let (dir, mdi) = (dir.clone(), mdi.clone());
                    async move {
                        match file.strip_prefix(MDI) {
                            Some(rest) => match mdi {
                                Some(m) => send_file(&m, rest).await,
                                None => not_found(),
                            },
                            None => send_file(&dir, &file).await,
                        }
                    }
                }),
            )
    }
}

/// The page without its CDN links: the icon font comes from [`MDI`]; Roboto falls back to
/// the system's sans-serif.
fn rewrite_index(index: &str) -> String {
    let mut out = String::with_capacity(index.len());
    let mut rest = index;
    while let Some(start) = rest.find("<link") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('>') else {
            rest = &rest[start..];
            break;
        };
        let tag = &rest[start..=start + len];
        if tag.contains("materialdesignicons") {
            out.push_str(&format!(
                r#"<link rel="stylesheet" href="{MDI}css/materialdesignicons.min.css">"#
            ));
        } else if !tag.contains("https://") {
            out.push_str(tag);
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn not_found() -> Response {
    (http::StatusCode::NOT_FOUND, "not found").into_response()
}

/// `rel` under `base`, if it names a file there (no `..`, no absolute path).
async fn send_file(base: &Path, rel: &str) -> Response {
    let rel = Path::new(rel);
    if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return not_found();
    }
    let path = base.join(rel);
    let read = {
        let path = path.clone();
        tokio::task::spawn_blocking(move || std::fs::read(path)).await
    };
    let Ok(Ok(bytes)) = read else {
        return not_found();
    };
    let kind = match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "js" => "application/javascript",
        "css" => "text/css",
        "html" => "text/html; charset=utf-8",
        "png" => "image/png",
        "svg" => "image/svg+xml",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "json" | "map" => "application/json",
        _ => "application/octet-stream",
    };
    ([(http::header::CONTENT_TYPE, kind)], bytes).into_response()
}

#[cfg(test)]
mod tests {
    use super::rewrite_index;

    #[test]
    fn cdn_links_are_replaced() {
        let page = r#"<head><link rel="stylesheet" href="https://fonts.example/css?family=Roboto"><link rel="stylesheet" href="https://cdn.example/npm/@mdi/font@latest/css/materialdesignicons.min.css"><link href="css/app.css" rel="stylesheet"></head>"#;
        let out = rewrite_index(page);
        assert!(!out.contains("https://"), "{out}");
        assert!(
            out.contains(r#"href="mdi/css/materialdesignicons.min.css""#),
            "{out}"
        );
        assert!(out.contains(r#"href="css/app.css""#), "{out}");
    }
}
