//! Typed errors of the explorer.

/// Result alias of this crate.
pub type Result<T, E = ExplorerError> = core::result::Result<T, E>;

/// What can go wrong serving the explorer.
#[derive(Debug, thiserror::Error)]
pub enum ExplorerError {
    /// A chain read failed (the node away, a value out of range).
    #[error(transparent)]
    Chain(#[from] zkopml_chain::ChainError),
    /// Reading the market through the agents' status views failed.
    #[error(transparent)]
    Agent(#[from] zkopml_agents::AgentError),
    /// The address to serve on could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The server stopped with an I/O error.
    #[error("explorer server: {0}")]
    Serve(#[source] std::io::Error),
}

impl ExplorerError {
    /// Whether the error is the node's or the network's (a later poll may succeed), rather
    /// than this process's.
    pub fn is_retryable(&self) -> bool {
        match self {
            ExplorerError::Chain(e) => e.is_retryable(),
            ExplorerError::Agent(e) => e.is_retryable(),
            ExplorerError::Bind { .. } | ExplorerError::Serve(_) => false,
        }
    }
}
