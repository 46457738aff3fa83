#![doc = include_str!("../README.md")]

mod cid_of;
mod error;
mod kubo;
mod local;

pub use cid_of::{cid_of, CHUNK_SIZE};
pub use error::{Result, StoreError};
pub use kubo::{KuboStore, DEFAULT_MAX_SIZE, DEFAULT_TIMEOUT};
pub use local::LocalStore;

pub use cid::Cid;

/// A content store: `put` returns the CID of the bytes, `get` returns bytes whose CID was
/// checked.
pub trait ContentStore {
    /// Stores `bytes`, returning their CID.
    fn put(&self, bytes: &[u8]) -> Result<Cid>;
    /// Loads the bytes of `cid`, failing if absent or if the stored bytes do not hash to it.
    fn get(&self, cid: &Cid) -> Result<Vec<u8>>;
}

/// The store an agent works with: the embedded [`LocalStore`] by default, a kubo node's
/// RPC API ([`KuboStore`]) when the user runs one. Either way every read is checked
/// against its CID.
#[derive(Clone, Debug)]
pub enum AnyStore {
    /// The embedded on-disk store.
    Local(LocalStore),
    /// A kubo node.
    Kubo(KuboStore),
}

impl ContentStore for AnyStore {
    fn put(&self, bytes: &[u8]) -> Result<Cid> {
        match self {
            AnyStore::Local(s) => s.put(bytes),
            AnyStore::Kubo(s) => s.put(bytes),
        }
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>> {
        match self {
            AnyStore::Local(s) => s.get(cid),
            AnyStore::Kubo(s) => s.get(cid),
        }
    }
}

impl From<LocalStore> for AnyStore {
    fn from(s: LocalStore) -> Self {
        AnyStore::Local(s)
    }
}

impl From<KuboStore> for AnyStore {
    fn from(s: KuboStore) -> Self {
        AnyStore::Kubo(s)
    }
}
