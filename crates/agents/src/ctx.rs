//! What every agent works with: a chain client, the content store, the key cache, a model
//! cache and the shared timeline. Also the devnet configuration file.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use serde::{Deserialize, Serialize};
use zkopml_chain::{Chain, Deployment, U256};
use zkopml_prover::KeyCache;
use zkopml_store::{AnyStore, KuboStore, LocalStore};

use crate::{model::LoadedModel, AgentError, Result, Timeline};

/// anvil's well-known development keys (mnemonic "test test ... junk"), accounts 0..=5.
/// Public knowledge: for a local devnet only.
pub const ANVIL_KEYS: [&str; 6] = [
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
];

/// The devnet file `devnet up` writes and every command reads.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct DevnetConfig {
    /// Contract addresses and RPC URL.
    pub deployment: Deployment,
    /// Keys by role: `owner`, `requester`, `submitter`, `challenger1`, ...
    pub keys: HashMap<String, String>,
    /// Content store directory (the embedded store).
    pub store: PathBuf,
    /// A kubo node's RPC API URL (e.g. `http://127.0.0.1:5001`) to use as the content store
    /// instead of the embedded one; the CLI sets it from `--kubo-api`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubo_api: Option<String>,
    /// Proving key cache directory.
    pub key_cache: PathBuf,
    /// Agent state directory.
    pub state_dir: PathBuf,
    /// PID of the anvil process, if `devnet up` started it.
    pub anvil_pid: Option<u32>,
    /// The file anvil persists its chain to, if started with
    /// [`crate::devnet::UpOptions::persist_state`] ([`crate::devnet::restart`] loads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anvil_state: Option<PathBuf>,
    /// The node's WebSocket URL, where the agents subscribe to new heads (`devnet up`:
    /// its anvil's; `deploy --ws-url`). `None`: the agents poll.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ws: Option<String>,
}

impl DevnetConfig {
    /// Reads the config file.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| AgentError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_slice(&bytes).map_err(|source| AgentError::Json {
            what: path.display().to_string(),
            source,
        })
    }

    /// Writes the config file.
    pub fn write(&self, path: &Path) -> Result<()> {
        let io = |source| AgentError::Io {
            path: path.display().to_string(),
            source,
        };
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).map_err(io)?;
        }
        std::fs::write(
            path,
            serde_json::to_vec_pretty(self).expect("config serializes"),
        )
        .map_err(io)
    }

    /// The key of a role.
    pub fn key(&self, role: &str) -> Result<&str> {
        self.keys
            .get(role)
            .map(String::as_str)
            .ok_or_else(|| AgentError::Inconsistent {
                what: "devnet config".into(),
                reason: format!(
                    "no key for role `{role}` (a devnet names one per role; a deployment made \
                     by `deploy` takes the signer from --private-key, --keystore or \
                     ZKOPML_PRIVATE_KEY)"
                ),
            })
    }

    /// The content store: the kubo node at `kubo_api` if set, else the embedded store in
    /// `store`.
    pub fn content_store(&self) -> Result<AnyStore> {
        Ok(match &self.kubo_api {
            Some(api) => KuboStore::new(api)?.into(),
            None => LocalStore::new(&self.store).into(),
        })
    }

    /// A context that reads the chain as `role` and sends nothing: with the role's key if
    /// the config has one, else with a fixed key that owns nothing (so `status`, `result`
    /// and the monitor read any deployment without a signer). An agent that transacts takes
    /// [`Self::ctx`].
    pub fn reader_ctx(&self, role: &str, timeline: Timeline) -> Result<Ctx> {
        if self.keys.contains_key(role) {
            return self.ctx(role, timeline);
        }
        /// The secp256k1 private key 1: public, so nothing of value is ever sent from it.
        const READ_ONLY: &str =
            "0x0000000000000000000000000000000000000000000000000000000000000001";
        let mut reader = self.clone();
        reader.keys.insert(role.to_string(), READ_ONLY.to_string());
        reader.ctx(role, timeline)
    }

    /// A context acting as `role`.
    pub fn ctx(&self, role: &str, timeline: Timeline) -> Result<Ctx> {
        Ok(Ctx {
            chain: Chain::connect(&self.deployment, self.key(role)?)?,
            store: self.content_store()?,
            keys: KeyCache::new(&self.key_cache),
            state_dir: self.state_dir.clone(),
            role: role.to_string(),
            timeline,
            models: Arc::default(),
        })
    }
}

/// An agent's environment.
#[derive(Clone)]
pub struct Ctx {
    /// Signing chain client.
    pub chain: Chain,
    /// Content store.
    pub store: AnyStore,
    /// Proving keys.
    pub keys: KeyCache,
    /// Where agent state files live.
    pub state_dir: PathBuf,
    /// The role name (for logs, the timeline and state file names).
    pub role: String,
    /// Shared timeline.
    pub timeline: Timeline,
    pub(crate) models: Arc<Mutex<HashMap<U256, Arc<LoadedModel>>>>,
}

impl Ctx {
    /// Loads (and caches) a registered model.
    pub async fn model(&self, id: U256) -> Result<Arc<LoadedModel>> {
        if let Some(m) = self.models.lock().expect("model cache").get(&id) {
            return Ok(m.clone());
        }
        let m = Arc::new(LoadedModel::load(self, id).await?);
        self.models
            .lock()
            .expect("model cache")
            .insert(id, m.clone());
        Ok(m)
    }

    /// Records a mined transaction in the timeline.
    pub fn record_tx(&self, what: impl Into<String>, tx: &zkopml_chain::TxInfo) {
        self.timeline.record(&self.role, what, Some(tx.gas_used));
    }
}
