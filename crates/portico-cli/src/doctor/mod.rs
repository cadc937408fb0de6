//! `portico doctor`: connects to a Socket.IO server (Portico, Node's socket.io, behind a
//! proxy or not) as the official client in a browser page on `--origin` would, and reports
//! what breaks, in the client's and the browser's words, with the fix.
//!
//! - [`args`]: the flags, checked (a bad value names its flag; exit code 2).
//! - [`http`]: a raw HTTP/1.1 probe (every header as received, bounded in time and size; TLS
//!   through rustls).
//! - [`cors`]: the browser's CORS decision on a response, with Chrome's messages.
//! - [`engine`], [`ws`]: reading Engine.IO and Socket.IO answers; the WebSocket handshake
//!   and frames.
//! - [`run`], [`polling`], [`websocket`]: the checks, in the client's order.
//! - [`findings`]: the catalogue of finding ids, why each happens and the fixes.
//! - [`report`]: the summary, the report for people, the `--json` object.
//!
//! The ids, the JSON schema and an example of every finding: docs/doctor.md.

mod args;
mod cors;
mod engine;
mod findings;
mod http;
mod poller;
mod polling;
mod report;
mod run;
mod websocket;
mod ws;

#[cfg(test)]
mod smoke_tests;

use std::io::{IsTerminal as _, Write as _};

pub(crate) use args::DoctorArgs;

/// The `User-Agent` of every request.
pub(crate) const USER_AGENT: &str = concat!("portico-doctor/", env!("CARGO_PKG_VERSION"));

/// Runs `portico doctor`; the process exit code: 0 healthy, 1 problems found, 2 could not
/// run (bad arguments).
pub(crate) fn main(args: DoctorArgs) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    std::process::ExitCode::from(runtime.block_on(run(args)))
}

/// Checks the arguments, runs the checks, prints the report; returns the exit code.
async fn run(args: DoctorArgs) -> u8 {
    let options = match args::check(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("error: {e}");
            return 2;
        }
    };
    let json = options.json;
    let progress = std::io::stderr().is_terminal();
    let report = run::run(options, progress).await;
    let text = if json {
        let mut t = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
        t.push('\n');
        t
    } else {
        let colour = crate::colour_logs(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        );
        report.render(colour)
    };
    // A closed pipe (`| head`) is not an error worth a panic.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
    report.exit_code()
}
