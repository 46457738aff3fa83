//! `zkopml`: the (ZK+OP)ML command line. Argument parsing only; the work is in the crates.

mod ceremony;
mod cli;
mod demo;
mod demo_v4;
mod devnet;
mod explore;
mod local;
mod monitor;
mod status;
mod v4;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Output piped into a reader that stops early (`zkopml status | head`) ends the process
    // quietly, as for any Unix tool, instead of a panic on the failed write.
    // SAFETY: called first, before any thread exists; SIG_DFL is a valid disposition.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZKOPML_LOG")
                .unwrap_or_else(|_| cli.log_filter().into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let json = cli.json;
    match cli::dispatch(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            let code = cli::exit_code(&e);
            let message = cli::message(&e);
            if json {
                // With --json an error is a JSON object on stdout too, like every result.
                println!(
                    "{}",
                    serde_json::json!({ "error": message, "exit_code": code })
                );
            } else {
                eprintln!("error: {message}");
            }
            std::process::ExitCode::from(code)
        }
    }
}
