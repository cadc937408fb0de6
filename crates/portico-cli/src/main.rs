//! `portico`: run a Socket.IO server (`serve`) or the protocol conformance servers.

mod bench;
mod cluster_server;
mod conformance;
mod doctor;
mod serve;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Portico: a Socket.IO server that gets cross-origin right.
// Help is wrapped at the terminal's width, at most 100 columns: README.md quotes
// `portico serve --help` as printed at 100 (tests/js/cli/readme.test.js checks it).
#[derive(Debug, Parser)]
#[command(
    name = "portico",
    bin_name = "portico",
    version,
    about,
    max_term_width = 100
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Socket.IO server (with a demo chat page unless --no-demo).
    Serve(Box<serve::ServeArgs>),
    /// Run the reference test servers of the official protocol test suites.
    Conformance(conformance::ConformanceArgs),
    /// Load-test a Socket.IO server on loopback with the project's own client.
    Bench(Box<bench::BenchArgs>),
    /// Print the bcrypt hash of the password read from stdin, for --admin-ui-password-hash.
    AdminUiHash,
    /// Diagnose a Socket.IO server as the official client in a browser page on --origin sees it.
    Doctor(Box<doctor::DoctorArgs>),
}

fn main() -> std::process::ExitCode {
    use std::io::IsTerminal as _;
    let colour = colour_logs(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("portico=info,portico_cli=info")
            }),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let cli = Cli::parse();
    let command = match cli.command {
        // Exit codes of its own: 0 healthy, 1 problems found, 2 could not run.
        Command::Doctor(args) => return doctor::main(*args),
        Command::AdminUiHash => return admin_ui_hash(),
        other => other,
    };
    // The load generator runs on one thread, as the servers it measures do (the bench pins it
    // to one core): tokio's current-thread scheduler costs it less per message. `bench serve
    // --workers N` runs the bench server on the multi-thread runtime `serve` uses.
    let builder = match &command {
        Command::Bench(args) => args.runtime(),
        _ => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.enable_all();
            Ok(b)
        }
    };
    let runtime =
        match builder.and_then(|mut b| b.build().context("cannot start the async runtime")) {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: {e:#}");
                return std::process::ExitCode::FAILURE;
            }
        };
    let result = runtime.block_on(async {
        match command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Conformance(args) => conformance::run(args).await,
            Command::Bench(args) => bench::run(*args).await,
            Command::Doctor(_) | Command::AdminUiHash => Ok(()),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `portico admin-ui-hash`: one line of stdin (the password, without its line end) to a
/// bcrypt hash on stdout.
fn admin_ui_hash() -> std::process::ExitCode {
    let mut line = String::new();
    if let Err(e) = std::io::stdin().read_line(&mut line) {
        eprintln!("error: cannot read the password from stdin: {e}");
        return std::process::ExitCode::FAILURE;
    }
    let password = line.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("error: no password on stdin (try: printf %s 'secret' | portico admin-ui-hash)");
        return std::process::ExitCode::FAILURE;
    }
    match portico::admin::hash_password(password) {
        Ok(hash) => {
            println!("{hash}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Whether log lines get ANSI colours: only when stderr is a terminal, and not when
/// `NO_COLOR` is set to a non-empty value (<https://no-color.org>). A file or a pipe gets
/// plain text.
fn colour_logs(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::colour_logs;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(colour_logs(true, None));
        assert!(colour_logs(true, Some(OsStr::new(""))));
        assert!(!colour_logs(true, Some(OsStr::new("1"))));
        assert!(!colour_logs(false, None));
        assert!(!colour_logs(false, Some(OsStr::new("1"))));
    }
}

/// mimalloc instead of the system allocator: a handshake allocates and frees dozens of
/// blocks (tokio's 128-byte-aligned task cells among them), and glibc's `malloc`, `free`
/// and `posix_memalign` were a fifth of the server's instructions per WebSocket handshake
/// (see bench/README.md, "Profiles"). Built without its request for transparent huge pages
/// (Cargo.toml, `no_thp`; bench/README.md, "Allocator and huge pages").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
