//! `zkopml`: the (ZK+OP)ML command line. Argument parsing only; the work is in the crates.

mod ceremony;
mod cli;
mod demo;
mod devnet;
mod local;

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ZKOPML_LOG")
                .unwrap_or_else(|_| cli.log_filter().into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match cli::dispatch(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(cli::exit_code(&e))
        }
    }
}
