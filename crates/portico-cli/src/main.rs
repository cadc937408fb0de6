//! `portico`: run a Socket.IO server (`serve`) or the protocol conformance servers.

mod bench;
mod conformance;
mod serve;

use clap::{Parser, Subcommand};

/// Portico: a Socket.IO server that gets cross-origin right.
#[derive(Debug, Parser)]
#[command(name = "portico", version, about)]
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
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
                tracing_subscriber::EnvFilter::new("portico=info,portico_cli=info")
            }),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    // The load generator runs on one thread, as the servers it measures do (the bench pins it
    // to one core): tokio's current-thread scheduler costs it less per message.
    let mut builder = match &cli.command {
        Command::Bench(args) => {
            let mut b = tokio::runtime::Builder::new_current_thread();
            if let Some(n) = args.event_interval() {
                b.event_interval(n);
            }
            b
        }
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Conformance(args) => conformance::run(args).await,
            Command::Bench(args) => bench::run(*args).await,
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

/// Resolves when the process receives Ctrl-C (SIGINT) or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
    tracing::info!("signal received: shutting down gracefully");
}
