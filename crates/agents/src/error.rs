//! Typed errors of the agents.

use zkopml_chain::ChainError;

/// Result alias of this crate.
pub type Result<T, E = AgentError> = core::result::Result<T, E>;

/// What can stop an agent action.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The chain (node down: retryable; revert: not).
    #[error(transparent)]
    Chain(#[from] ChainError),
    /// The content store (missing or mismatching content).
    #[error(transparent)]
    Store(#[from] zkopml_store::StoreError),
    /// The engine (bad model or input).
    #[error(transparent)]
    Engine(#[from] zkopml_engine::EngineError),
    /// The prover.
    #[error(transparent)]
    Prover(#[from] zkopml_prover::ProverError),
    /// Version 4: a program the template library cannot prove yet (lowering), or a trace
    /// or leaf that cannot be built.
    #[error(transparent)]
    V4(#[from] zkopml_prover::v4::V4Error),
    /// A model id the registry does not know.
    #[error("model {0} is not registered")]
    UnknownModel(String),
    /// A request id the market does not know.
    #[error("request {0} does not exist")]
    UnknownRequest(u64),
    /// A request without an output to show: never answered, or its response disproven.
    #[error("request {request} has no result ({status}): no response yet, or it was disproven")]
    NoResult {
        /// The request.
        request: u64,
        /// Its status (the market's name for it).
        status: String,
    },
    /// Content that parsed but does not match what the chain committed to.
    #[error("{what}: {reason}")]
    Inconsistent {
        /// Which artefact.
        what: String,
        /// How it disagrees.
        reason: String,
    },
    /// A game parameter below the floor the deployment's registry enforces (version 4:
    /// `TIME_FLOOR` for clocks and windows, `BOND_FLOOR` for bonds).
    #[error("{what} {value} is below this deployment's {floor_name} {floor}: register with {floor} or more")]
    BelowFloor {
        /// The parameter (and its unit).
        what: &'static str,
        /// Its value.
        value: String,
        /// The registry's floor constant.
        floor_name: &'static str,
        /// The floor.
        floor: String,
    },
    /// `devnet up` on a port something else already listens on.
    #[error("port {port} is taken (another anvil or another server listens on it): stop it or pass another --port")]
    PortTaken {
        /// The port.
        port: u16,
    },
    /// The devnet's anvil exited before it served a request.
    #[error("anvil exited before it started ({status}); its log: {log}")]
    AnvilExited {
        /// Its exit status.
        status: String,
        /// The end of its log.
        log: String,
    },
    /// Local state file I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A JSON artefact that does not parse.
    #[error("{what}: {source}")]
    Json {
        /// Which artefact.
        what: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

impl AgentError {
    /// Whether the agent should retry on its next tick: the chain or kubo node went away,
    /// a transaction was dropped or its nonce taken, or a version-4 move reverted because
    /// the chain moved on since the tick read it (`ChainError::is_stale`: the next tick
    /// reads the state again and decides afresh).
    pub fn is_retryable(&self) -> bool {
        match self {
            AgentError::Chain(e) => e.is_retryable() || e.is_stale(),
            AgentError::Store(e) => e.is_retryable(),
            _ => false,
        }
    }

    /// Whether the error is the request's own, not the agent's: its model does not load or
    /// lower, its inputs are missing from the store, malformed, or not what the request
    /// committed to, or the engine refuses them. An agent skips such a request (with a
    /// warning) and serves the others; any other error stops the pass.
    pub fn is_request_fault(&self) -> bool {
        match self {
            AgentError::Engine(_)
            | AgentError::V4(_)
            | AgentError::UnknownModel(_)
            | AgentError::Inconsistent { .. }
            | AgentError::Json { .. } => true,
            AgentError::Store(e) => !e.is_retryable(),
            _ => false,
        }
    }
}
