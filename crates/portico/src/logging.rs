//! The default log output of [`crate::serve`] and its siblings, for servers that set no
//! `tracing` subscriber of their own.

use std::io::IsTerminal as _;

/// What is logged when `RUST_LOG` is unset: Portico's startup, shutdown and warnings.
const DEFAULT_FILTER: &str = "portico=info";

/// Install a stderr subscriber (filter from `RUST_LOG`, else [`DEFAULT_FILTER`]) unless the
/// program already set a global one. Colours only when stderr is a terminal and `NO_COLOR`
/// is unset.
pub(crate) fn init_default() {
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_FILTER));
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    // Fails only when another thread set a subscriber meanwhile: theirs is kept.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .try_init();
}
