#![doc = include_str!("../README.md")]

mod cid_of;
mod error;
mod local;

pub use cid_of::{cid_of, CHUNK_SIZE};
pub use error::{Result, StoreError};
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
