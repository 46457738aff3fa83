//! `register --protocol 4`: a model registered under version 4 (docs/protocol.md §10):
//! compiled, lowered onto the template library, stored, its model root and layout root
//! registered. No key setup, nothing deployed.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use serde::Serialize;
use zkopml_agents::{model, v4, DevnetConfig, Timeline};
use zkopml_chain::registry_v4::TypesV4::GameParams;

use crate::devnet::{
    onnx_path, read_config, Node, ParamArgs, RegisterArgs, V4_MIN_CHALLENGE_WINDOW,
};

/// Template operators per step when `--ops-per-step` is not given (the agents' tests' N).
pub(crate) const V4_OPS_PER_STEP: usize = 4;

/// The version-4 game parameters for a lowering of `steps` steps: the flags, with a
/// challenge window of at least [`V4_MIN_CHALLENGE_WINDOW`] when none is given.
pub(crate) fn params(p: &ParamArgs, steps: usize) -> GameParams {
    GameParams {
        challengeWindow: p.challenge_window.unwrap_or(V4_MIN_CHALLENGE_WINDOW),
        clockPerSide: p.clock,
        provingWindow: p.proving_window,
        arity: match p.arity {
            crate::devnet::Arity::Auto => model::auto_arity(steps),
            crate::devnet::Arity::Fixed(k) => k,
        },
        responseBond: p.response_bond,
        challengerBond: p.challenger_bond,
    }
}

/// Every file under `dir` (none if it does not exist).
pub(crate) fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(p);
            }
        }
    }
    out
}

/// What a version-4 registration did.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct Registered {
    /// Always 4.
    pub(crate) protocol: u8,
    pub(crate) model_id: String,
    pub(crate) model_root: String,
    pub(crate) layout_root: String,
    /// Template operators by template name.
    pub(crate) template_operators: BTreeMap<&'static str, usize>,
    /// All template operators (n·N minus the last step's padding).
    pub(crate) operators: usize,
    pub(crate) steps: usize,
    pub(crate) ops_per_step: usize,
    pub(crate) state_slots: usize,
    pub(crate) arity: u32,
    pub(crate) onnx_cid: String,
    pub(crate) program_cid: String,
    /// `registerModel` gas (the only transaction).
    pub(crate) gas: u64,
    /// Wall time: compile, lower, store, register.
    pub(crate) seconds: f64,
    /// Files that appeared in the devnet's key cache during registration (must be none).
    pub(crate) key_files_written: Vec<String>,
}

/// Reads and lowers the ONNX model at `path` (compile, lower onto the template library);
/// fails with the lowering's error for an operator no template proves yet.
pub(crate) fn lower(
    path: &Path,
    ops_per_step: usize,
    dims: &std::collections::HashMap<String, usize>,
) -> anyhow::Result<Lowering> {
    let onnx = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let started = Instant::now();
    let spinner = crate::devnet::spinner("compiling, lowering onto the template library");
    let r = v4::lower(&onnx, ops_per_step, dims);
    spinner.finish_and_clear();
    let (program, model) =
        r.with_context(|| format!("lowering {} for version 4", path.display()))?;
    Ok(Lowering {
        onnx,
        program,
        model,
        started,
    })
}

/// A lowered model not yet registered.
pub(crate) struct Lowering {
    onnx: Vec<u8>,
    program: zkopml_engine::Program,
    model: v4::V4Model,
    started: Instant,
}

/// Registers `lowering` under version 4 as the devnet's `owner`; the key cache is listed
/// before and after.
pub(crate) async fn register_model(
    cfg: &DevnetConfig,
    timeline: Timeline,
    lowering: Lowering,
    p: &ParamArgs,
) -> anyhow::Result<(v4::LoadedV4, Registered)> {
    let ctx = cfg.ctx("owner", timeline)?;
    let keys_before = files_under(&cfg.key_cache);
    let Lowering {
        onnx,
        program,
        model,
        started,
    } = lowering;
    let (m, tx) =
        v4::register_lowered(&ctx, &onnx, program, model, |steps| params(p, steps)).await?;
    let seconds = started.elapsed().as_secs_f64();
    let key_files_written = files_under(&cfg.key_cache)
        .difference(&keys_before)
        .map(|p| p.display().to_string())
        .collect();
    let l = &m.model.lowered;
    let mut template_operators = BTreeMap::new();
    for op in &l.ops {
        *template_operators.entry(op.template()).or_default() += 1;
    }
    let r = Registered {
        protocol: 4,
        model_id: m.id.to_string(),
        model_root: m.model.model_root().to_string(),
        layout_root: m.model.layout_root().to_string(),
        template_operators,
        operators: l.ops.len(),
        steps: l.num_steps(),
        ops_per_step: l.ops_per_step,
        state_slots: l.state_slots(),
        arity: m.params.arity,
        onnx_cid: m.onnx_cid.clone(),
        program_cid: m.program_cid.clone(),
        gas: tx.gas_used,
        seconds,
        key_files_written,
    };
    Ok((m, r))
}

/// `zkopml register --protocol 4`.
pub(crate) fn register(
    a: RegisterArgs,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    // Lowered first: a model the template library cannot prove is refused (exit 2) before
    // any chain or store is touched.
    let lowering = lower(
        &onnx_path(&a.model),
        a.ops_per_step.unwrap_or(V4_OPS_PER_STEP),
        &a.dims.map(),
    )?;
    let cfg = read_config(config_path, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    let (_, r) = rt.block_on(register_model(
        &cfg,
        Timeline::default(),
        lowering,
        &a.params,
    ))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    let templates = r
        .template_operators
        .iter()
        .map(|(t, n)| format!("{n} {t}"))
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "registered model {} under version 4 in {:.2} s ({} gas): {} template operators ({templates}) in {} steps of {}, {} state slots, bisection arity {}",
        r.model_id, r.seconds, r.gas, r.operators, r.steps, r.ops_per_step, r.state_slots, r.arity
    );
    println!(
        "model root {} (weights included), layout root {}; program {}",
        r.model_root, r.layout_root, r.program_cid
    );
    println!(
        "no key setup, nothing deployed: leaves are proved under the protocol's template keys ({} key files written)",
        r.key_files_written.len()
    );
    Ok(())
}

/// `zkopml request --protocol 4`: posts a request for version-4 model `model_id` on the
/// inputs in `input` (quantised by its program), as the devnet's `requester`. The inputs
/// go to the content store; `S_0` on chain.
pub(crate) async fn request_inference(
    cfg: &DevnetConfig,
    timeline: Timeline,
    model_id: alloy_primitives::U256,
    input: &Path,
    fee: u128,
) -> anyhow::Result<alloy_primitives::U256> {
    let ctx = cfg.ctx("requester", timeline)?;
    let m = v4::load(&ctx, model_id).await?;
    let file = zkopml_engine::io::TensorFile::read(input)?;
    let inputs = zkopml_engine::io::quantize_inputs(&m.program, &file.inputs)?;
    let (id, _, _) =
        v4::request_inputs(&ctx, &m, inputs, alloy_primitives::U256::from(fee)).await?;
    Ok(id)
}
