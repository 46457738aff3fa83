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
