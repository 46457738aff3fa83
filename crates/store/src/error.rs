//! Typed errors of the content store.

/// Result alias of this crate.
pub type Result<T, E = StoreError> = core::result::Result<T, E>;

/// What can go wrong storing or loading content.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A string that is not a CID.
    #[error("`{input}` is not a CID: {source}")]
    BadCid {
        /// The input.
        input: String,
        /// The parse error.
        #[source]
        source: cid::Error,
    },
    /// Nothing stored under this CID.
    #[error("{0}: not in the store")]
    NotFound(String),
    /// Stored bytes whose CID is not the one asked for (corruption or tampering).
    #[error("{expected}: stored bytes hash to {actual}")]
    Mismatch {
        /// The CID asked for.
        expected: String,
        /// The CID of the bytes found.
        actual: String,
    },
    /// A kubo RPC API URL that cannot be used.
    #[error("`{url}` is not a usable kubo RPC API URL: {reason}")]
    KuboUrl {
        /// The URL as given.
        url: String,
        /// Why not.
        reason: String,
    },
    /// The kubo node could not be reached (or the request failed before an answer came).
    #[error("cannot reach the kubo RPC API at {url}")]
    KuboUnreachable {
        /// The endpoint called.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The kubo node answered with an HTTP error status.
    #[error("kubo RPC API {url} answered HTTP {status}: {message}")]
    KuboStatus {
        /// The endpoint called.
        url: String,
        /// The HTTP status code.
        status: u16,
        /// kubo's JSON `Message`, or the body as text.
        message: String,
    },
    /// The body of a successful kubo answer could not be read to the end.
    #[error("kubo RPC API {url}: reading the answer failed")]
    KuboRead {
        /// The endpoint called.
        url: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A kubo answer that is not what the API documents (bad JSON, no CID).
    #[error("kubo RPC API {url}: unexpected answer: {reason}")]
    KuboResponse {
        /// The endpoint called.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A kubo answer larger than the bytes the request can legitimately return.
    #[error("kubo RPC API {url}: answer larger than {limit} bytes")]
    KuboTooLarge {
        /// The endpoint called.
        url: String,
        /// The cap in bytes.
        limit: u64,
    },
    /// The kubo node stored the bytes under another CID than ours: it chunks, lays out or
    /// hashes differently from `ipfs add --cid-version 1 --raw-leaves` with the defaults
    /// (check its `Import.*` settings), so other parties could not find the content by
    /// our CID.
    #[error(
        "the kubo node added the bytes as {node}, but their CID is {ours}: \
         the node chunks or hashes differently (check its Import.* settings)"
    )]
    KuboCid {
        /// The CID computed here.
        ours: String,
        /// The CID the node reported.
        node: String,
    },
    /// Disk I/O.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// A node that could not be reached, or a connection that broke mid-answer: worth
    /// retrying later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::KuboUnreachable { .. } | StoreError::KuboRead { .. }
        )
    }

    /// An error of the kubo node or the connection to it, rather than of the content
    /// (missing, mismatching) or of the caller's input.
    pub fn is_node_error(&self) -> bool {
        matches!(
            self,
            StoreError::KuboUnreachable { .. }
                | StoreError::KuboStatus { .. }
                | StoreError::KuboRead { .. }
                | StoreError::KuboResponse { .. }
                | StoreError::KuboCid { .. }
        )
    }
}
