//! Model registration (the owner) and loading a registered model (everyone else).

use std::{collections::HashMap, sync::Arc};

use alloy_primitives::{keccak256, Address, B256, U256};
use serde::{Deserialize, Serialize};
use zkopml_chain::{registry::Types::GameParams, TxInfo};
use zkopml_commit::{fr_to_bytes32, KeccakTree};
use zkopml_engine::{import, Program};
use zkopml_prover::evm::verifier_args;
use zkopml_store::ContentStore;

use crate::{
    data::{get_json, put_json},
    AgentError, Ctx, Result,
};

/// What the registry's `programCid` names: the compiled program and, per step, the circuit
/// digest and the verifier contract, i.e. everything needed to open a model-tree leaf.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// Manifest format version.
    pub version: u32,
    /// CID of the compiled program bytes.
    pub program: String,
    /// Per step: the step digest (a field element, big-endian).
    pub digests: Vec<B256>,
    /// Per step: the `IOperatorVerifier`.
    pub verifiers: Vec<Address>,
    /// Whether the verifying keys are local test keys (always, for now).
    pub test_keys: bool,
}

/// `keccak256(abi.encode(uint256 step, uint256 digest, address verifier))`.
pub fn model_leaf(step: usize, digest: B256, verifier: Address) -> B256 {
    let mut buf = [0u8; 96];
    buf[24..32].copy_from_slice(&(step as u64).to_be_bytes());
    buf[32..64].copy_from_slice(digest.as_slice());
    buf[76..96].copy_from_slice(verifier.as_slice());
    keccak256(buf)
}

/// A registered model as agents use it.
#[derive(Debug)]
pub struct LoadedModel {
    /// Registry id.
    pub id: U256,
    /// The compiled program.
    pub program: Arc<Program>,
    /// Its manifest.
    pub manifest: Manifest,
    /// The model tree (one leaf per step).
    pub tree: KeccakTree,
    /// Game parameters.
    pub params: GameParams,
}

impl LoadedModel {
    /// The model-tree leaf of `step`: `(digest, verifier, proof)` as `resolveLeaf` takes them.
    pub fn leaf(&self, step: usize) -> (U256, Address, Vec<B256>) {
        let proof = self
            .tree
            .prove(step)
            .expect("step within the model")
            .siblings;
        (
            U256::from_be_bytes(self.manifest.digests[step].0),
            self.manifest.verifiers[step],
            proof,
        )
    }

    /// Loads model `id`: registry record → manifest → program, checking that the program's
    /// step digests and the manifest's verifiers rebuild the registered root.
    pub async fn load(ctx: &Ctx, id: U256) -> Result<Self> {
        let m = ctx
            .chain
            .view("getModel", ctx.chain.registry().getModel(id))
            .await
            .map_err(|e| match e {
                zkopml_chain::ChainError::Reverted { .. } => {
                    AgentError::UnknownModel(id.to_string())
                }
                e => e.into(),
            })?;
        let manifest: Manifest = get_json(&ctx.store, &m.programCid, "model manifest")?;
        let program_bytes = ctx
            .store
            .get(&zkopml_store::LocalStore::parse(&manifest.program)?)?;
        let program = Program::from_bytes(&program_bytes)?;
        let n = program.num_steps();
        let inconsistent = |reason: String| AgentError::Inconsistent {
            what: format!("model {id}"),
            reason,
        };
        if n != m.numSteps as usize || manifest.digests.len() != n || manifest.verifiers.len() != n
        {
            return Err(inconsistent(format!(
                "program has {n} steps, registry says {}",
                m.numSteps
            )));
        }
        for (step, d) in manifest.digests.iter().enumerate() {
            if B256::from(fr_to_bytes32(&program.step_digest(step))) != *d {
                return Err(inconsistent(format!(
                    "step {step} digest does not match the program"
                )));
            }
        }
        let tree = KeccakTree::from_leaf_nodes(
            (0..n)
                .map(|s| model_leaf(s, manifest.digests[s], manifest.verifiers[s]))
                .collect(),
        );
        if tree.root() != m.modelRoot {
            return Err(inconsistent(
                "manifest does not rebuild the registered model root".into(),
            ));
        }
        let p = m.params;
        let params = GameParams {
            challengeWindow: p.challengeWindow,
            clockPerSide: p.clockPerSide,
            provingWindow: p.provingWindow,
            arity: p.arity,
            responseBond: p.responseBond,
            challengerBond: p.challengerBond,
        };
        Ok(Self {
            id,
            program: Arc::new(program),
            manifest,
            tree,
            params,
        })
    }
}

/// The largest arity [`auto_arity`] picks: a reveal of `k − 1` states at `k = 6` costs
/// 96–110k gas in a mined transaction (docs/benchmarks.md §3), under the 120k move target.
pub const AUTO_MAX_ARITY: u32 = 6;

/// The bisection arity for a model of `steps` steps when the owner does not choose one: the
/// fewest rounds any `k ≤ AUTO_MAX_ARITY` reaches, with the smallest `k` that reaches them
/// (smaller reveals). A round of `k`-ary bisection divides the disputed range by `k`, so
/// `r` rounds settle `k^r` steps: dnn (3 steps) gets `k = 3`, one round; lenet5 (12) `k = 4`
/// and conv2d (31) `k = 6`, two rounds; mobilenet_v2 (100) `k = 5`, three.
pub fn auto_arity(steps: usize) -> u32 {
    let rounds = |k: u32| {
        let (mut r, mut span) = (0u32, 1usize);
        while span < steps {
            span = span.saturating_mul(k as usize);
            r += 1;
        }
        r
    };
    let best = rounds(AUTO_MAX_ARITY);
    (2..=AUTO_MAX_ARITY)
        .find(|k| rounds(*k) == best)
        .unwrap_or(AUTO_MAX_ARITY)
}

/// Registers an ONNX model: compile with `ops_per_step` operators per step, store the file
/// and program, set up (test) keys and deploy a verifier per step, register the root.
/// `progress(step, steps)` is called after each step's verifier is deployed.
pub async fn register(
    ctx: &Ctx,
    onnx: &[u8],
    ops_per_step: usize,
    params: GameParams,
    progress: &(dyn Fn(usize, usize) + Sync),
) -> Result<(LoadedModel, Vec<TxInfo>)> {
    let graph = import::load_bytes(onnx)?;
    let program = Arc::new(Program::compile(&graph, &HashMap::new(), ops_per_step)?);
    let n = program.num_steps();
    let onnx_cid = ctx.store.put(onnx)?.to_string();
    let program_cid = ctx.store.put(&program.to_bytes())?.to_string();
    let mut txs = Vec::new();
    let mut verifiers = Vec::with_capacity(n);
    let mut digests = Vec::with_capacity(n);
    for step in 0..n {
        let (p, keys) = (program.clone(), ctx.keys.clone());
        let k = tokio::task::spawn_blocking(move || keys.get(&p, step))
            .await
            .expect("setup task")?;
        let a = verifier_args(k.vk());
        let (addr, tx) = ctx
            .chain
            .deploy_verifier(a.alpha1, a.beta2, a.gamma2, a.delta2, a.ic)
            .await?;
        ctx.record_tx(
            format!(
                "deploy verifier for step {step} ({})",
                program.nodes[program.step_nodes(step)]
                    .iter()
                    .map(|n| n.op.name())
                    .collect::<Vec<_>>()
                    .join("+")
            ),
            &tx,
        );
        txs.push(tx);
        verifiers.push(addr);
        digests.push(B256::from(fr_to_bytes32(&program.step_digest(step))));
        progress(step + 1, n);
    }
    let manifest = Manifest {
        version: 1,
        program: program_cid,
        digests,
        verifiers,
        test_keys: true,
    };
    let manifest_cid = put_json(&ctx.store, &manifest)?;
    let tree = KeccakTree::from_leaf_nodes(
        (0..n)
            .map(|s| model_leaf(s, manifest.digests[s], manifest.verifiers[s]))
            .collect(),
    );
    let (id, tx) = ctx
        .chain
        .register_model(
            tree.root(),
            n as u32,
            ops_per_step as u32,
            onnx_cid,
            manifest_cid,
            params.clone(),
        )
        .await?;
    ctx.record_tx(format!("registerModel -> model {id} ({n} steps)"), &tx);
    txs.push(tx);
    Ok((
        LoadedModel {
            id,
            program,
            manifest,
            tree,
            params,
        },
        txs,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_arity_takes_the_fewest_rounds_with_the_smallest_reveals() {
        for (steps, k) in [
            (1, 2),
            (2, 2),
            (3, 3),
            (4, 4),
            (6, 6),
            (7, 3),
            (12, 4),
            (31, 6),
            (36, 6),
            (37, 4),
            (100, 5),
            (216, 6),
            (217, 4),
        ] {
            assert_eq!(auto_arity(steps), k, "{steps} steps");
        }
    }
}
