//! Fixtures shared by the version-4 anvil test files: the repository, the template test
//! keys (made once per target dir, under one lock), a devnet that goes down when dropped.

use std::{path::PathBuf, sync::Mutex};

use zkopml_agents::{devnet, v4, DevnetConfig};

/// Serialises the first template key setup (the cache is shared by every test).
static KEYS: Mutex<()> = Mutex::new(());

pub(crate) fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The template test keys, shared by every v4 test (and `demo_v4`).
pub(crate) fn key_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("template-keys")
}

/// A devnet, taken down when dropped.
pub(crate) struct Net {
    pub(crate) cfg: DevnetConfig,
    pub(crate) _dir: tempfile::TempDir,
}

impl Drop for Net {
    fn drop(&mut self) {
        devnet::down(&self.cfg);
    }
}

/// A devnet with version 3 and version 4 deployed (the template keys made once, cached
/// across tests).
pub(crate) async fn v4_net() -> Net {
    let anvil = repo().join(".tools/bin/anvil");
    assert!(
        anvil.exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    std::env::set_var("ZKOPML_ANVIL", &anvil);
    {
        let _g = KEYS.lock().unwrap_or_else(|e| e.into_inner());
        v4::template_key_args(&key_dir()).expect("template keys");
    }
    let dir = tempfile::tempdir().unwrap();
    let port = devnet::free_port().unwrap();
    let opts = devnet::UpOptions {
        v4: true,
        template_keys: Some(key_dir()),
    };
    let cfg = devnet::up_with(&dir.path().join("devnet.json"), port, None, &opts)
        .await
        .expect("devnet up");
    Net { cfg, _dir: dir }
}
