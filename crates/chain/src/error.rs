//! Typed errors of the chain client.

/// Result alias of this crate.
pub type Result<T, E = ChainError> = core::result::Result<T, E>;

/// What can go wrong talking to the chain.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// The node could not be reached or dropped the connection (retryable).
    #[error("node at {rpc} unavailable: {reason}")]
    Unavailable {
        /// RPC URL.
        rpc: String,
        /// Transport error text.
        reason: String,
    },
    /// A call or transaction reverted; `reason` is the decoded custom error when known.
    #[error("{call} reverted: {reason}")]
    Reverted {
        /// The contract function.
        call: &'static str,
        /// Decoded custom error, or the raw revert data.
        reason: String,
    },
    /// A version-4 contract reverted with one of its typed custom errors.
    #[error("{call} reverted: {error:?}")]
    V4Reverted {
        /// The contract function.
        call: &'static str,
        /// The decoded error.
        error: Box<crate::v4::V4Revert>,
    },
    /// Any other RPC or ABI error.
    #[error("{call}: {reason}")]
    Rpc {
        /// The contract function.
        call: &'static str,
        /// The error text.
        reason: String,
    },
    /// A transaction that was mined but failed.
    #[error("{call}: transaction {tx} failed on chain: {reason}")]
    Failed {
        /// The contract function.
        call: &'static str,
        /// Transaction hash.
        tx: String,
        /// The decoded revert, from replaying the call on the state it was mined on (or
        /// why that was not possible).
        reason: String,
        /// That replay's error, when the replay reverted.
        #[source]
        cause: Option<Box<ChainError>>,
    },
    /// The node refused a transaction because its account's nonce is taken: by this very
    /// transaction (re-sent after the answer to its first send was lost: it is in) or by
    /// another transaction of the same key (another agent signing with it). Retryable: the
    /// next attempt reads the nonce and the state again.
    #[error("{call}: nonce taken ({reason})")]
    NonceTaken {
        /// The contract function.
        call: &'static str,
        /// The node's message (`nonce too low`, `transaction already imported`, ...).
        reason: String,
    },
    /// A sent transaction whose receipt did not come: the node stopped knowing it (dropped
    /// by a reorganisation or a node restarted from older state), or it was still pending
    /// after the client's receipt timeout.
    /// Retryable: the next attempt reads the state again.
    #[error("{call}: transaction {tx} not mined after {waited_s} s (dropped or still pending)")]
    NotMined {
        /// The contract function.
        call: &'static str,
        /// Transaction hash.
        tx: String,
        /// How long the client waited.
        waited_s: u64,
    },
    /// A value read from a contract that is not one of its type's values (an enum out of
    /// range: the contract and this client disagree).
    #[error("{what}: {value} is not a value of this contract type")]
    Decode {
        /// The contract type.
        what: &'static str,
        /// The value read.
        value: String,
    },
    /// The node serves another chain, or has no contract where the deployment says one is:
    /// the config and the RPC URL do not belong together.
    #[error("the node at {rpc} does not hold this deployment: {reason}")]
    WrongChain {
        /// RPC URL.
        rpc: String,
        /// What differs (chain id, or a missing contract).
        reason: String,
    },
    /// A malformed key or address.
    #[error("invalid {what}: {reason}")]
    Config {
        /// What was being parsed.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
}

impl ChainError {
    /// Whether retrying the same operation later may succeed: the node came back, a
    /// dropped transaction can be sent again, a taken nonce is read afresh.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            ChainError::Unavailable { .. }
                | ChainError::NonceTaken { .. }
                | ChainError::NotMined { .. }
        )
    }

    /// Whether this is a version-4 revert that says the chain moved on since the caller
    /// read it ([`crate::v4::V4Revert::is_stale`]), at estimation or mined: the same call
    /// will not succeed, but a caller that reads the state again decides afresh.
    pub fn is_stale(&self) -> bool {
        match self {
            ChainError::V4Reverted { error, .. } => error.is_stale(),
            ChainError::Failed { cause: Some(c), .. } => c.is_stale(),
            _ => false,
        }
    }
}
