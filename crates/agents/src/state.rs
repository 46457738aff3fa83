//! Agent state persisted as JSON, written atomically (temp file + rename) after every
//! change, so a crash leaves either the old or the new state, never a torn one.

use std::path::{Path, PathBuf};

use serde::{de::DeserializeOwned, Serialize};

use crate::{AgentError, Ctx, Result};

/// Where an agent keeps its state: one folder per chain and market
/// (`<state_dir>/<chain id>-<market>/`), one file per role and account, so an agent pointed
/// at another chain or another deployment never resumes games that are not there.
pub(crate) fn agent_state_path(ctx: &Ctx) -> PathBuf {
    let d = &ctx.chain.deployment;
    ctx.state_dir
        .join(format!("{}-{}", d.chain_id, d.market))
        .join(format!("{}-{}.json", ctx.role, ctx.chain.address))
}

/// A JSON document on disk holding `T`.
#[derive(Debug)]
pub(crate) struct Persisted<T> {
    path: PathBuf,
    pub(crate) value: T,
}

impl<T: Serialize + DeserializeOwned + Default> Persisted<T> {
    /// Loads `path`, or starts from `T::default()` if it does not exist.
    pub(crate) fn load(path: &Path) -> Result<Self> {
        let value = match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| AgentError::Json {
                what: path.display().to_string(),
                source,
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => T::default(),
            Err(source) => {
                return Err(AgentError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(Self {
            path: path.to_path_buf(),
            value,
        })
    }

    /// Writes the current value atomically.
    pub(crate) fn save(&self) -> Result<()> {
        let io = |source| AgentError::Io {
            path: self.path.display().to_string(),
            source,
        };
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(&self.value).expect("agent state serializes");
        std::fs::write(&tmp, bytes).map_err(io)?;
        std::fs::rename(&tmp, &self.path).map_err(io)
    }
}

/// [`agent_state_path`] for a version-4 agent: the folder is named after the version-4
/// market (`<state_dir>/<chain id>-<market v4>/`), so its state never mixes with the
/// version-3 agent's of the same role.
pub(crate) fn v4_agent_state_path(ctx: &Ctx) -> Result<PathBuf> {
    let market = *ctx.chain.market_v4()?.address();
    Ok(ctx
        .state_dir
        .join(format!("{}-{market}", ctx.chain.deployment.chain_id))
        .join(format!("{}-{}.json", ctx.role, ctx.chain.address)))
}
