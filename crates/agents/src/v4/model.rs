//! A version-4 model through the content store: registration from an ONNX file (compile,
//! lower, store, register: no key setup, nothing deployed) and loading a registered model
//! back from its program CID, checked against the roots the registry holds.
//!
//! Call order: the owner calls [`register_onnx`] (or [`lower`], then [`register_lowered`]); every other party calls [`load`] with the
//! model id, then a requester [`request_inputs`], and the parties of a response or a dispute
//! [`load_request`] and [`trace`].

use std::{collections::HashMap, sync::Arc};

use alloy_primitives::{B256, U256};
use zkopml_chain::{
    market_v4::InferenceMarketV4::RequestCreated, registry_v4::TypesV4::GameParams, ChainError,
    TxInfo,
};
use zkopml_engine::{import, Program, Tensor};
use zkopml_prover::v4::{input_state, Lowered, V4Trace};
use zkopml_store::ContentStore;

use super::game::{self, V4Model};
use crate::{
    data::{get_json, put_json},
    AgentError, Ctx, IntTensors, Result,
};

/// A version-4 model as its parties hold it: the compiled program, its lowering and trees,
/// and what the registry records.
pub struct LoadedV4 {
    /// Registry id.
    pub id: U256,
    /// The compiled program (what the content store holds under `program_cid`).
    pub program: Arc<Program>,
    /// The lowering with its model and layout trees.
    pub model: V4Model,
    /// Game parameters.
    pub params: GameParams,
    /// CID of the ONNX file.
    pub onnx_cid: String,
    /// CID of the compiled program's bytes.
    pub program_cid: String,
}

/// Compiles `onnx` (its symbolic input dims, such as batch or sequence length, fixed to
/// `dims` by name; 1 where absent) and lowers it onto the template library with
/// `ops_per_step` template operators per step. Fails with [`AgentError::V4`] when an
/// operator has no template.
pub fn lower(
    onnx: &[u8],
    ops_per_step: usize,
    dims: &HashMap<String, usize>,
) -> Result<(Program, V4Model)> {
    let graph = import::load_bytes(onnx)?;
    let program = Program::compile(&graph, dims, 1)?;
    let lowered = Lowered::new(&program, ops_per_step)?;
    Ok((program, V4Model::new(lowered)))
}

/// Registers `onnx` under version 4 as `ctx`'s account: compiles and lowers it (off the
/// async runtime), then [`register_lowered`].
pub async fn register_onnx(
    ctx: &Ctx,
    onnx: &[u8],
    ops_per_step: usize,
    params: impl FnOnce(usize) -> GameParams,
) -> Result<(LoadedV4, TxInfo)> {
    let bytes = onnx.to_vec();
    let (program, model) =
        tokio::task::spawn_blocking(move || lower(&bytes, ops_per_step, &HashMap::new()))
            .await
            .map_err(|e| AgentError::Inconsistent {
                what: "lowering task".into(),
                reason: e.to_string(),
            })??;
    register_lowered(ctx, onnx, program, model, params).await
}

/// Registers `program` (compiled from `onnx`) with its lowering `model` under version 4 as
/// `ctx`'s account: stores the ONNX file and the compiled program in the content store and
/// registers the model root and layout root with `params(steps)` (steps of the lowering).
/// Sets up no key and deploys no contract: the template verifiers are the protocol's.
pub async fn register_lowered(
    ctx: &Ctx,
    onnx: &[u8],
    program: Program,
    model: V4Model,
    params: impl FnOnce(usize) -> GameParams,
) -> Result<(LoadedV4, TxInfo)> {
    let onnx_cid = ctx.store.put(onnx)?.to_string();
    let program_cid = ctx.store.put(&program.to_bytes())?.to_string();
    let params = params(model.lowered.num_steps());
    let (id, tx) = game::register(
        &ctx.chain,
        &model,
        params.clone(),
        onnx_cid.clone(),
        program_cid.clone(),
    )
    .await?;
    ctx.record_tx(
        format!(
            "registerModel (v4) -> model {id} ({} template operators, {} steps; no keys)",
            model.lowered.ops.len(),
            model.lowered.num_steps()
        ),
        &tx,
    );
    Ok((
        LoadedV4 {
            id,
            program: Arc::new(program),
            model,
            params,
            onnx_cid,
            program_cid,
        },
        tx,
    ))
}

/// Loads version-4 model `id`: registry record → program from the content store → lowering
/// with the registered `opsPerStep`, whose model root and layout root must be the
/// registered ones.
pub async fn load(ctx: &Ctx, id: U256) -> Result<LoadedV4> {
    let reg = ctx.chain.registry_v4()?;
    let m = ctx
        .chain
        .view_v4("getModel", reg.getModel(id))
        .await
        .map_err(|e| match e {
            ChainError::V4Reverted { .. } | ChainError::Reverted { .. } => {
                AgentError::UnknownModel(id.to_string())
            }
            e => e.into(),
        })?;
    let bytes = ctx
        .store
        .get(&zkopml_store::LocalStore::parse(&m.programCid)?)?;
    let program = Program::from_bytes(&bytes)?;
    let n = m.opsPerStep as usize;
    let (program, lowered) = tokio::task::spawn_blocking(move || {
        let l = Lowered::new(&program, n);
        (program, l)
    })
    .await
    .map_err(|e| AgentError::Inconsistent {
        what: "lowering task".into(),
        reason: e.to_string(),
    })?;
    let model = V4Model::new(lowered?);
    let inconsistent = |reason: &str| AgentError::Inconsistent {
        what: format!("v4 model {id}"),
        reason: reason.into(),
    };
    // INVARIANT: a party plays only the model the registry committed to.
    if model.model_root() != m.modelRoot {
        return Err(inconsistent(
            "the stored program does not lower to the registered model root",
        ));
    }
    if model.layout_root() != m.layoutRoot {
        return Err(inconsistent(
            "the stored program does not lower to the registered layout root",
        ));
    }
    Ok(LoadedV4 {
        id,
        program: Arc::new(program),
        model,
        params: m.params,
        onnx_cid: m.onnxCid,
        program_cid: m.programCid,
    })
}

/// The version-4 trace of `model` on quantised `inputs` (`fault`: the consistent wrong run
/// of [`V4Trace::compute`], for test actors), checked to start from `s0` when given (the
/// request's committed input state).
pub fn trace(
    model: &LoadedV4,
    inputs: &[Tensor],
    fault: Option<(usize, usize)>,
    s0: Option<B256>,
) -> Result<V4Trace> {
    let t = V4Trace::compute(&model.model.lowered, &model.program, inputs, fault)?;
    // INVARIANT: a party computes from the inputs the request committed to.
    if let Some(s0) = s0.filter(|s0| *s0 != t.state_roots[0]) {
        return Err(AgentError::Inconsistent {
            what: "request input".into(),
            reason: format!(
                "the inputs commit to S_0 = {}, the request to {s0}",
                t.state_roots[0]
            ),
        });
    }
    Ok(t)
}

/// Posts a request for `model` on quantised `inputs` paying `fee`: the inputs go to the
/// content store (their CID is the request's `inputCid`), `S_0` on chain (computed from the
/// inputs alone: nothing is run). Returns the request id, its transaction and `S_0`.
pub async fn request_inputs(
    ctx: &Ctx,
    model: &LoadedV4,
    inputs: Vec<Tensor>,
    fee: U256,
) -> Result<(U256, TxInfo, B256)> {
    let s0 = input_state(&model.model.lowered, &inputs)?;
    let cid = put_json(&ctx.store, &IntTensors { tensors: inputs })?;
    let m = ctx.chain.market_v4()?;
    let (tx, receipt) = ctx
        .chain
        .send_v4(
            "requestInference",
            m.requestInference(model.id, s0, cid).value(fee),
        )
        .await?;
    let id = game::event::<RequestCreated>(&receipt, "requestInference")?.requestId;
    ctx.record_tx(format!("requestInference (v4) -> request {id}"), &tx);
    Ok((id, tx, s0))
}

/// Request `request_id` as a party reads it: its model and quantised inputs from the chain
/// and the content store, and its committed `S_0` (pass it to [`trace`]).
pub async fn load_request(ctx: &Ctx, request_id: U256) -> Result<(LoadedV4, Vec<Tensor>, B256)> {
    let m = ctx.chain.market_v4()?;
    let r = ctx
        .chain
        .view_v4("getRequest", m.getRequest(request_id))
        .await?;
    if r.status == 0 {
        return Err(AgentError::UnknownRequest(request_id.saturating_to()));
    }
    let model = load(ctx, r.modelId).await?;
    let inputs: IntTensors = get_json(&ctx.store, &r.inputCid, "request input")?;
    Ok((model, inputs.tensors, r.inputCommitment))
}

/// Where a test actor lies: a template operator (its index in the lowering, whose engine
/// node's output is changed) or an engine node by name. Parsed from the CLI's
/// `--defect-at`/`--lie-at`: a number is an operator index, anything else a node name.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Defect {
    /// Template operator `o` of the lowering (its engine node lies).
    Op(usize),
    /// The engine node of this name.
    Node(String),
}

impl std::str::FromStr for Defect {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        Ok(match s.parse() {
            Ok(o) => Defect::Op(o),
            Err(_) => Defect::Node(s.to_string()),
        })
    }
}

impl std::fmt::Display for Defect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Defect::Op(o) => write!(f, "template operator {o}"),
            Defect::Node(n) => write!(f, "node `{n}`"),
        }
    }
}

impl Defect {
    /// The engine node this defect changes in `model`; an operator index past the lowering or
    /// an unknown node name is [`AgentError::Inconsistent`].
    pub fn node(&self, model: &LoadedV4) -> Result<usize> {
        let bad = |reason: String| AgentError::Inconsistent {
            what: format!("defect at {self}"),
            reason,
        };
        match self {
            Defect::Op(o) => model
                .model
                .lowered
                .ops
                .get(*o)
                .map(|op| op.node)
                .ok_or_else(|| {
                    bad(format!(
                        "the model lowers to {} template operators",
                        model.model.lowered.ops.len()
                    ))
                }),
            Defect::Node(name) => model
                .program
                .nodes
                .iter()
                .position(|n| &n.name == name)
                .ok_or_else(|| bad("no engine node of that name".into())),
        }
    }
}

/// A test actor's lie: the faulty trace that flips the low bit of the first element of
/// `node`'s output whose flip reaches the program's outputs, hence `S_n` (a flip can be
/// rounded or clipped away downstream). Candidates are screened by running the operators
/// only, the first 64 elements then 64 spread over the whole output (the first ones of a
/// convolution's output can all be masked downstream, e.g. negative before a Relu); the
/// faulty trace reuses `honest` for every value the fault does not reach. Returns the element
/// and the trace; [`AgentError::Inconsistent`] if no candidate reaches `S_n`.
pub fn lie(
    model: &LoadedV4,
    inputs: &[Tensor],
    honest: &V4Trace,
    node: usize,
) -> Result<(usize, V4Trace)> {
    let p = &model.program;
    let truth = zkopml_engine::activations(p, inputs, None)?;
    let len: usize = p.values[p.nodes[node].output].shape.iter().product();
    let spread = (0..64).map(|i| i * len / 64).filter(|e| *e >= 64);
    for element in (0..64.min(len)).chain(spread) {
        let run = zkopml_engine::activations(p, inputs, Some((node, element)))?;
        if p.outputs.iter().all(|o| run[*o] == truth[*o]) {
            continue;
        }
        let t =
            V4Trace::compute_faulty_from(honest, &model.model.lowered, p, inputs, (node, element))?;
        if t.final_state() != honest.final_state() {
            return Ok((element, t));
        }
    }
    Err(AgentError::Inconsistent {
        what: format!("a lie at node {node}"),
        reason: "no flipped bit among 128 of its output's elements reaches the output: choose another defect".into(),
    })
}
