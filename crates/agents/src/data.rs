//! Artefacts exchanged through the content store: integer tensors (inputs, outputs) and
//! published traces.

use alloy_primitives::B256;
use serde::{Deserialize, Serialize};
use zkopml_engine::Tensor;
use zkopml_store::{Cid, ContentStore, LocalStore};

use crate::{AgentError, Result};

/// Integer tensors in program input (or output) order: the canonical form stored by CID, so
/// every party derives the same `S_0` from the same bytes.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct IntTensors {
    /// The tensors.
    pub tensors: Vec<Tensor>,
}

/// The states `S_0..S_n` a submitter publishes so challengers can dispute in one step.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct PublishedTrace {
    /// `S_0..S_n` as 32-byte words.
    pub states: Vec<B256>,
}

/// Stores a JSON artefact, returning its CID string.
pub(crate) fn put_json<T: Serialize>(store: &impl ContentStore, value: &T) -> Result<String> {
    Ok(store
        .put(&serde_json::to_vec(value).expect("artefacts serialize"))?
        .to_string())
}

/// Loads and parses a JSON artefact by CID string (the CID is checked by the store).
pub(crate) fn get_json<T: for<'de> Deserialize<'de>>(
    store: &impl ContentStore,
    cid: &str,
    what: &str,
) -> Result<T> {
    let cid: Cid = LocalStore::parse(cid)?;
    let bytes = store.get(&cid)?;
    serde_json::from_slice(&bytes).map_err(|source| AgentError::Json {
        what: format!("{what} {cid}"),
        source,
    })
}
