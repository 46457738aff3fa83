//! Subcommands and exit codes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{demo, devnet, local};

/// Verifiable ML inference on Ethereum: optimistic execution settled by ZK proofs of single
/// operators.
#[derive(Parser, Debug)]
#[command(name = "zkopml", version)]
pub(crate) struct Cli {
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// More logging (`-v` info, `-vv` debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Devnet config file.
    #[arg(long, global = true, default_value = ".devnet/devnet.json")]
    pub(crate) devnet: PathBuf,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

impl Cli {
    pub(crate) fn log_filter(&self) -> &'static str {
        match self.verbose {
            0 => "warn",
            1 => "info",
            _ => "debug",
        }
    }
}

#[derive(Subcommand, Debug)]
pub(crate) enum Cmd {
    /// Run a model on an input: outputs, fidelity vs a reference, trace root, timing.
    Run(local::RunArgs),
    /// Prove one step of a model on an input and write the proof.
    Prove(local::ProveArgs),
    /// List the step circuits of a model: operators and constraint counts.
    Circuits(local::CircuitsArgs),
    /// Check a proof written by `prove`, natively or (with `--rpc`) by a deployed verifier.
    VerifyProof(local::VerifyArgs),
    /// Start, stop or inspect the local devnet (anvil + contracts + content store).
    #[command(subcommand)]
    Devnet(devnet::DevnetCmd),
    /// Register a model: compile, store, set up keys, deploy verifiers, register.
    Register(devnet::RegisterArgs),
    /// Request an inference.
    Request(devnet::RequestArgs),
    /// Run the submitter agent (honest, or with `--defect K`).
    Submit(devnet::SubmitArgs),
    /// Run the challenger agent (verify every response, dispute wrong ones).
    Challenge(devnet::ChallengeArgs),
    /// The whole story on a fresh devnet: register, a defective response lost to a
    /// challenger, then an honest response finalised.
    Demo(demo::DemoArgs),
}

/// Exit codes: 2 bad input (model, input, proof), 3 chain or node, 4 a game went against
/// the agent, 1 anything else.
pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    for cause in e.chain() {
        if cause.downcast_ref::<zkopml_engine::EngineError>().is_some()
            || cause.downcast_ref::<zkopml_store::StoreError>().is_some()
        {
            return 2;
        }
        if let Some(p) = cause.downcast_ref::<zkopml_prover::ProverError>() {
            return if matches!(p, zkopml_prover::ProverError::InvalidProof) {
                2
            } else {
                1
            };
        }
        if cause.downcast_ref::<zkopml_chain::ChainError>().is_some() {
            return 3;
        }
        if cause.downcast_ref::<demo::Lost>().is_some() {
            return 4;
        }
    }
    1
}

pub(crate) fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    match cli.cmd {
        Cmd::Run(a) => local::run(a, json),
        Cmd::Prove(a) => local::prove(a, json),
        Cmd::VerifyProof(a) => local::verify(a, json),
        Cmd::Circuits(a) => local::circuits(a, json),
        Cmd::Devnet(c) => devnet::devnet(c, &cli.devnet, json),
        Cmd::Register(a) => devnet::register(a, &cli.devnet, json),
        Cmd::Request(a) => devnet::request(a, &cli.devnet, json),
        Cmd::Submit(a) => devnet::submit(a, &cli.devnet),
        Cmd::Challenge(a) => devnet::challenge(a, &cli.devnet),
        Cmd::Demo(a) => demo::demo(a, json),
    }
}
