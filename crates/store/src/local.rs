//! The embedded store: one file per CID under a directory, written atomically.

use std::path::{Path, PathBuf};

use cid::Cid;

use crate::{cid_of, ContentStore, Result, StoreError};

/// An on-disk content store.
#[derive(Clone, Debug)]
pub struct LocalStore {
    dir: PathBuf,
}

impl LocalStore {
    /// A store rooted at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Parses a CID string with a typed error.
    pub fn parse(s: &str) -> Result<Cid> {
        Cid::try_from(s).map_err(|source| StoreError::BadCid {
            input: s.to_string(),
            source,
        })
    }

    fn path(&self, cid: &Cid) -> PathBuf {
        self.dir.join(cid.to_string())
    }
}

impl ContentStore for LocalStore {
    fn put(&self, bytes: &[u8]) -> Result<Cid> {
        let cid = cid_of(bytes);
        let path = self.path(&cid);
        if path.exists() {
            return Ok(cid);
        }
        let io = |source| StoreError::Io {
            path: path.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        Ok(cid)
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>> {
        let path = self.path(cid);
        let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound(cid.to_string()),
            _ => StoreError::Io {
                path: path.display().to_string(),
                source,
            },
        })?;
        let actual = cid_of(&bytes);
        if actual != *cid {
            return Err(StoreError::Mismatch {
                expected: cid.to_string(),
                actual: actual.to_string(),
            });
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path());
        let cid = store.put(b"model bytes").unwrap();
        assert_eq!(store.get(&cid).unwrap(), b"model bytes");
        std::fs::write(dir.path().join(cid.to_string()), b"evil bytes").unwrap();
        assert!(matches!(store.get(&cid), Err(StoreError::Mismatch { .. })));
        let missing = cid_of(b"never stored");
        assert!(matches!(store.get(&missing), Err(StoreError::NotFound(_))));
        assert!(matches!(
            LocalStore::parse("not-a-cid"),
            Err(StoreError::BadCid { .. })
        ));
    }
}
