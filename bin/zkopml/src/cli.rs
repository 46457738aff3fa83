//! Subcommands and exit codes.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{ceremony, demo, devnet, local, status};

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
    /// Use the RPC API of a kubo (go-ipfs) node you run, e.g. `http://127.0.0.1:5001`, as
    /// the content store instead of the embedded one. CIDs are still computed and checked
    /// here: the node must add like `ipfs add --cid-version 1 --raw-leaves` (the defaults).
    #[arg(long, global = true, env = "ZKOPML_KUBO_API", value_name = "URL")]
    pub(crate) kubo_api: Option<String>,
    #[command(flatten)]
    pub(crate) chain: ChainArgs,
    #[command(subcommand)]
    pub(crate) cmd: Cmd,
}

/// The node and the signer, when not the config file's (a devnet's anvil and its actor
/// keys): any Ethereum RPC, a key as `cast`/`forge` take them. The environment variables are
/// ours (`ZKOPML_*`), not foundry's `ETH_RPC_URL`, so a shell set up for another chain never
/// points the devnet's commands at it.
#[derive(clap::Args, Debug, Default, Clone)]
pub(crate) struct ChainArgs {
    /// JSON-RPC URL of the node, in place of the config's; checked to serve the chain and
    /// hold the contracts the config names.
    #[arg(long, global = true, env = "ZKOPML_RPC_URL", value_name = "URL")]
    pub(crate) rpc_url: Option<String>,
    /// Sign with this private key (hex), whatever role the command plays.
    #[arg(
        long,
        global = true,
        env = "ZKOPML_PRIVATE_KEY",
        value_name = "HEX",
        hide_env_values = true
    )]
    pub(crate) private_key: Option<String>,
    /// Sign with the key in this encrypted JSON keystore (as `cast wallet import` writes).
    #[arg(long, global = true, env = "ZKOPML_KEYSTORE", value_name = "PATH")]
    pub(crate) keystore: Option<PathBuf>,
    /// The keystore's password, read from this file (its first line).
    #[arg(long, global = true, env = "ZKOPML_PASSWORD_FILE", value_name = "PATH")]
    pub(crate) password_file: Option<PathBuf>,
    /// The keystore's password.
    #[arg(long, global = true, env = "ZKOPML_PASSWORD", hide_env_values = true)]
    pub(crate) password: Option<String>,
}

/// A signer given on the command line that cannot be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SignerError {
    /// Both a raw key and a keystore: which one signs is ambiguous.
    #[error("both a private key and a keystore were given: pass one")]
    Ambiguous,
    /// A keystore without its password.
    #[error("the keystore {0} needs --password-file or --password (or ZKOPML_PASSWORD_FILE)")]
    NoPassword(PathBuf),
    /// A command that signs or reaches a node was given none.
    #[error("{0} needs {1}")]
    Missing(&'static str, &'static str),
    /// The password file could not be read.
    #[error("password file {0}: {1}")]
    PasswordFile(PathBuf, std::io::Error),
    /// A password for no keystore.
    #[error("a keystore password was given but no --keystore")]
    NoKeystore,
}

impl ChainArgs {
    /// The signing key these flags name, if any.
    pub(crate) fn key(&self) -> anyhow::Result<Option<String>> {
        let password = match (&self.password, &self.password_file) {
            (Some(p), _) => Some(p.clone()),
            (None, Some(f)) => {
                let text = std::fs::read_to_string(f)
                    .map_err(|e| SignerError::PasswordFile(f.clone(), e))?;
                Some(text.lines().next().unwrap_or_default().to_string())
            }
            (None, None) => None,
        };
        match (&self.private_key, &self.keystore, password) {
            (Some(_), Some(_), _) => Err(SignerError::Ambiguous.into()),
            (Some(k), None, None) => Ok(Some(k.trim().to_string())),
            (_, None, Some(_)) => Err(SignerError::NoKeystore.into()),
            (None, Some(path), Some(password)) => {
                Ok(Some(zkopml_chain::signer::keystore_key(path, &password)?))
            }
            (None, Some(path), None) => Err(SignerError::NoPassword(path.clone()).into()),
            (None, None, None) => Ok(None),
        }
    }
}

impl Cli {
    pub(crate) fn log_filter(&self) -> &'static str {
        // alloy's WebSocket client logs each dropped connection as an error; the agents'
        // new-heads stream (`zkopml_chain::heads`) says it once, as a warning, and polls.
        match self.verbose {
            0 => "warn,alloy_pubsub=off,alloy_transport_ws=off",
            1 => "info,alloy_pubsub=off,alloy_transport_ws=off",
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
    /// Deploy the contracts to any Ethereum node (`--rpc-url`, signed with `--private-key`
    /// or `--keystore`) and write the config every actor then reads.
    Deploy(devnet::DeployArgs),
    /// Start, stop or inspect the local devnet (anvil + contracts + content store).
    #[command(subcommand)]
    Devnet(devnet::DevnetCmd),
    /// Register a model: compile, store, set up keys, deploy verifiers, register (protocol 3);
    /// compile, lower, store, register, no keys (`--protocol 4`).
    Register(devnet::RegisterArgs),
    /// Request an inference.
    Request(devnet::RequestArgs),
    /// Run the submitter agent (honest, or with `--defect K`).
    Submit(devnet::SubmitArgs),
    /// Run the challenger agent (verify every response, dispute wrong ones).
    Challenge(devnet::ChallengeArgs),
    /// Requests, responses and games: statuses, whose move, clocks and deadlines.
    Status(status::StatusArgs),
    /// A request's output as real numbers, checked against its commitment on chain.
    Result(status::ResultArgs),
    /// Watch the version-4 market with no stake: alert on wrong responses, games the side
    /// that is right may lose or lost, unclaimed balances.
    Monitor(crate::monitor::MonitorArgs),
    /// Serve the dispute explorer: a live web page of the version-4 market's models,
    /// requests, responses and games (each bisection as it narrowed, the leaf proof, gas).
    Explore(crate::explore::ExploreArgs),
    /// Groth16 phase 2 for the template library: keys made once for every model.
    #[command(subcommand)]
    Ceremony(ceremony::CeremonyCmd),
    /// The whole story on a fresh devnet: register, a defective response lost to a
    /// challenger, then an honest response finalised.
    Demo(demo::DemoArgs),
}

/// Exit codes: 2 bad input (model, input, proof, content), 3 chain or node (an Ethereum
/// node or a kubo node), 4 a game went against the agent, 1 anything else.
/// The error and its causes, `: `-separated, each said once: many errors already quote
/// their cause in their own text, which `{:#}` would then print twice.
pub(crate) fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}

pub(crate) fn exit_code(e: &anyhow::Error) -> u8 {
    e.chain().find_map(classify).unwrap_or(1)
}

/// The exit code one error of a chain decides, if any. `AgentError` wraps the crates'
/// errors transparently (its `source` skips the wrapped error), so it is looked through.
fn classify(cause: &(dyn std::error::Error + 'static)) -> Option<u8> {
    use zkopml_agents::AgentError;
    if let Some(a) = cause.downcast_ref::<AgentError>() {
        return match a {
            AgentError::Chain(e) => classify(e),
            AgentError::Store(e) => classify(e),
            AgentError::Engine(e) => classify(e),
            AgentError::Prover(e) => classify(e),
            // A model id the registry does not know, or content that does not match what
            // the chain committed to: bad input, as the README documents.
            AgentError::UnknownModel(_)
            | AgentError::UnknownRequest(_)
            // Version 4: a program the template library cannot prove yet (lowering).
            | AgentError::V4(_)
            | AgentError::BelowFloor { .. }
            | AgentError::Inconsistent { .. } => Some(2),
            // The node could not be started: a chain or node error.
            AgentError::PortTaken { .. } | AgentError::AnvilExited { .. } => Some(3),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<zkopml_store::StoreError>() {
        return Some(if e.is_node_error() { 3 } else { 2 });
    }
    if cause.downcast_ref::<zkopml_engine::EngineError>().is_some()
        || cause.downcast_ref::<zkopml_prover::v4::V4Error>().is_some()
    {
        return Some(2);
    }
    if let Some(p) = cause.downcast_ref::<zkopml_prover::ProverError>() {
        return Some(if matches!(p, zkopml_prover::ProverError::InvalidProof) {
            2
        } else {
            1
        });
    }
    if cause
        .downcast_ref::<zkopml_ceremony::CeremonyError>()
        .is_some()
        || cause.downcast_ref::<ceremony::UnknownTemplate>().is_some()
    {
        return Some(2);
    }
    if let Some(e) = cause.downcast_ref::<zkopml_explorer::ExplorerError>() {
        use zkopml_explorer::ExplorerError;
        return match e {
            ExplorerError::Chain(c) => classify(c),
            ExplorerError::Agent(a) => classify(a),
            // The explorer's port taken, as `devnet up`'s: exit 3.
            ExplorerError::Bind { .. } => Some(3),
            ExplorerError::Serve(_) => None,
        };
    }
    if let Some(c) = cause.downcast_ref::<zkopml_chain::ChainError>() {
        // A key, keystore or URL that does not parse is the user's input; the rest is the
        // node's.
        return Some(if matches!(c, zkopml_chain::ChainError::Config { .. }) {
            2
        } else {
            3
        });
    }
    if cause.downcast_ref::<SignerError>().is_some() {
        return Some(2);
    }
    if cause.downcast_ref::<demo::Lost>().is_some() {
        return Some(4);
    }
    None
}

pub(crate) fn dispatch(cli: Cli) -> anyhow::Result<()> {
    let json = cli.json;
    let node = devnet::Node {
        kubo_api: cli.kubo_api.clone(),
        chain: cli.chain.clone(),
    };
    let kubo = &node;
    match cli.cmd {
        Cmd::Run(a) => local::run(a, json),
        Cmd::Prove(a) => local::prove(a, json),
        Cmd::VerifyProof(a) => local::verify(a, json),
        Cmd::Circuits(a) => local::circuits(a, json),
        Cmd::Devnet(c) => devnet::devnet(c, &cli.devnet, kubo, json),
        Cmd::Register(a) => devnet::register(a, &cli.devnet, kubo, json),
        Cmd::Request(a) => devnet::request(a, &cli.devnet, kubo, json),
        Cmd::Submit(a) => devnet::submit(a, &cli.devnet, kubo, json),
        Cmd::Challenge(a) => devnet::challenge(a, &cli.devnet, kubo, json),
        Cmd::Status(a) => status::status(a, &cli.devnet, kubo, json),
        Cmd::Monitor(a) => crate::monitor::monitor(a, &cli.devnet, kubo, json),
        Cmd::Explore(a) => crate::explore::explore(a, &cli.devnet, kubo, json),
        Cmd::Result(a) => status::result(a, &cli.devnet, kubo, json),
        Cmd::Demo(a) => demo::demo(a, &cli.devnet, kubo, json),
        Cmd::Deploy(a) => devnet::deploy(a, &cli.devnet, kubo, json),
        Cmd::Ceremony(c) => ceremony::ceremony(c, json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;
    use zkopml_agents::AgentError;
    use zkopml_store::StoreError;

    fn code(e: impl Into<anyhow::Error>) -> u8 {
        exit_code(&e.into().context("while doing something"))
    }

    /// A signer is one raw key or one keystore with its password; anything else is bad
    /// input (exit 2) that names what is missing, and a key that does not parse is too.
    #[test]
    fn a_signer_is_one_key_or_one_keystore_with_its_password() {
        const KEY: &str = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d";
        let keystore = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../crates/chain/tests/fixtures/keystore-anvil1.json");
        let args = |key: Option<&str>, ks: bool, pw: Option<&str>| ChainArgs {
            private_key: key.map(str::to_string),
            keystore: ks.then(|| keystore.clone()),
            password: pw.map(str::to_string),
            ..ChainArgs::default()
        };
        assert_eq!(args(None, false, None).key().unwrap(), None);
        assert_eq!(args(Some(KEY), false, None).key().unwrap().unwrap(), KEY);
        assert_eq!(
            args(None, true, Some("correct horse"))
                .key()
                .unwrap()
                .unwrap(),
            KEY
        );
        for (bad, says) in [
            (args(Some(KEY), true, Some("correct horse")), "both"),
            (args(None, true, None), "--password-file"),
            (args(Some(KEY), false, Some("x")), "no --keystore"),
            (args(None, true, Some("wrong")), "keystore"),
        ] {
            let e = bad.key().unwrap_err();
            assert_eq!(exit_code(&e), 2, "{e}");
            assert!(message(&e).contains(says), "{e}");
        }
        let e = zkopml_chain::signer::address_of("0xnot-a-key").unwrap_err();
        assert_eq!(code(e), 2);
    }

    /// Every subcommand's arguments parse (clap checks definitions only when parsing), and
    /// `--arity` takes `auto` (the default) or a number.
    #[test]
    fn arguments_parse() {
        use crate::devnet::Arity;
        use clap::{CommandFactory, Parser};
        Cli::command().debug_assert();
        let arity = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.cmd) {
            Ok(Cmd::Register(a)) => Ok(a.params.arity),
            Ok(Cmd::Demo(a)) => Ok(a.params.arity),
            Ok(other) => panic!("parsed as {other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(
            arity(&["zkopml", "register", "--model", "m.onnx"]),
            Ok(Arity::Auto)
        );
        assert_eq!(
            arity(&["zkopml", "register", "--model", "m.onnx", "--arity", "6"]),
            Ok(Arity::Fixed(6))
        );
        assert_eq!(arity(&["zkopml", "demo"]), Ok(Arity::Auto));
        assert_eq!(
            arity(&["zkopml", "demo", "--arity", "many"]),
            Err(clap::error::ErrorKind::ValueValidation)
        );
    }

    /// `--protocol` takes 3 (the default, for `register` and `demo`) or 4, nothing else.
    #[test]
    fn protocol_is_3_or_4() {
        use clap::Parser;
        let protocol = |args: &[&str]| match Cli::try_parse_from(args).map(|c| c.cmd) {
            Ok(Cmd::Register(a)) => Ok(a.protocol),
            Ok(Cmd::Demo(a)) => Ok(a.protocol),
            Ok(other) => panic!("parsed as {other:?}"),
            Err(e) => Err(e.kind()),
        };
        assert_eq!(
            protocol(&["zkopml", "register", "--model", "m.onnx"]),
            Ok(3)
        );
        assert_eq!(
            protocol(&["zkopml", "register", "--model", "m", "--protocol", "4"]),
            Ok(4)
        );
        assert_eq!(protocol(&["zkopml", "demo"]), Ok(3));
        assert_eq!(protocol(&["zkopml", "demo", "--protocol", "4"]), Ok(4));
        assert_eq!(
            protocol(&["zkopml", "demo", "--protocol", "5"]),
            Err(clap::error::ErrorKind::ValueValidation)
        );
    }

    #[test]
    fn messages_say_each_cause_once() {
        let io = std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "Unexpected EOF");
        let e = anyhow::Error::new(zkopml_engine::EngineError::Io {
            path: "m.onnx".into(),
            source: io,
        })
        .context("loading the model");
        assert_eq!(message(&e), "loading the model: m.onnx: Unexpected EOF");
    }

    #[test]
    fn exit_codes_look_through_agent_errors() {
        let mismatch = || StoreError::Mismatch {
            expected: "a".into(),
            actual: "b".into(),
        };
        let kubo_down = || StoreError::KuboStatus {
            url: "http://127.0.0.1:5001/api/v0/add".into(),
            status: 500,
            message: "boom".into(),
        };
        let chain_down = || zkopml_chain::ChainError::Unavailable {
            rpc: "http://127.0.0.1:8545".into(),
            reason: "refused".into(),
        };
        assert_eq!(code(mismatch()), 2);
        assert_eq!(code(AgentError::Store(mismatch())), 2);
        assert_eq!(code(kubo_down()), 3);
        assert_eq!(code(AgentError::Store(kubo_down())), 3);
        assert_eq!(code(AgentError::Chain(chain_down())), 3);
        assert_eq!(code(AgentError::UnknownModel("7".into())), 2);
        let unsupported = || zkopml_prover::v4::V4Error::Unsupported {
            node: "gather".into(),
            op: "Gather",
            reason: "no template",
        };
        assert_eq!(code(unsupported()), 2);
        assert_eq!(code(AgentError::V4(unsupported())), 2);
        // The explorer: its port taken, or the node away, as any chain or node error.
        let taken = zkopml_explorer::ExplorerError::Bind {
            addr: "127.0.0.1:8080".parse().unwrap(),
            source: std::io::ErrorKind::AddrInUse.into(),
        };
        assert_eq!(code(taken), 3);
        assert_eq!(code(zkopml_explorer::ExplorerError::Chain(chain_down())), 3);
        let plain: anyhow::Result<()> = Err(anyhow::anyhow!("other"));
        assert_eq!(exit_code(&plain.context("x").unwrap_err()), 1);
    }
}
