//! Commands that need no chain: `run`, `prove`, `verify-proof`.

use std::{collections::HashMap, path::PathBuf, time::Instant};

use anyhow::Context;
use clap::Args;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use zkopml_commit::fr_to_bytes32;
use zkopml_engine::{
    execute,
    fixed::dequantize,
    import,
    io::{quantize_inputs, TensorFile},
    Program, Trace,
};
use zkopml_prover::{circuit_stats, evm, KeyCache, StepProof};

/// Model and input shared by the local commands.
#[derive(Args, Debug)]
pub(crate) struct ModelInput {
    /// ONNX model file.
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Input tensors (JSON: `{"inputs": {name: {shape, data}}}`).
    #[arg(long)]
    pub(crate) input: PathBuf,
    /// Operators per dispute step (`N`).
    #[arg(long, visible_alias = "n", default_value_t = 1)]
    pub(crate) ops_per_step: usize,
}

/// `--dim NAME=SIZE` (repeatable): the size of a symbolic input dim of the model.
#[derive(Args, Debug, Default)]
pub(crate) struct DimArgs {
    /// Fix a symbolic input dim (a `dim_param` such as `batch` or `sequence`, or
    /// `INPUT:AXIS` for an unnamed one) to a size: `--dim batch=4` (repeatable; a dim not
    /// given is 1, or takes its size from `--input` where the command has one).
    #[arg(long = "dim", value_name = "NAME=SIZE", value_parser = parse_dim)]
    pub(crate) dims: Vec<(String, usize)>,
}

impl DimArgs {
    /// The dims by name.
    pub(crate) fn map(&self) -> HashMap<String, usize> {
        self.dims.iter().cloned().collect()
    }
}

fn parse_dim(s: &str) -> Result<(String, usize), String> {
    let (name, size) = s
        .rsplit_once('=')
        .ok_or_else(|| format!("expected NAME=SIZE, got `{s}`"))?;
    match size.parse::<usize>() {
        Ok(n) if n > 0 && !name.is_empty() => Ok((name.to_string(), n)),
        _ => Err(format!("expected NAME=SIZE with a size above 0, got `{s}`")),
    }
}

/// The symbolic dims of `graph` bound to the shapes of the tensors in `file` (the input at
/// hand decides batch and sequence length).
pub(crate) fn input_dims(
    graph: &import::Graph,
    file: &TensorFile,
) -> anyhow::Result<HashMap<String, usize>> {
    let shapes = file
        .inputs
        .iter()
        .map(|(name, t)| (name.clone(), t.shape.clone()))
        .collect();
    Ok(import::bind_dims(graph, &shapes)?)
}

impl ModelInput {
    pub(crate) fn load(&self) -> anyhow::Result<(Program, Trace, f64)> {
        let graph = import::load_file(&self.model)?;
        let file = TensorFile::read(&self.input)?;
        let program = Program::compile(&graph, &input_dims(&graph, &file)?, self.ops_per_step)?;
        let inputs = quantize_inputs(&program, &file.inputs)?;
        let spinner = ProgressBar::new_spinner()
            .with_message(format!("executing {} operators", program.nodes.len()));
        spinner.enable_steady_tick(std::time::Duration::from_millis(100));
        let t = Instant::now();
        let trace = execute(&program, &inputs)?;
        let secs = t.elapsed().as_secs_f64();
        spinner.finish_and_clear();
        Ok((program, trace, secs))
    }
}

#[derive(Args, Debug)]
pub(crate) struct RunArgs {
    #[command(flatten)]
    io: ModelInput,
    /// Reference outputs (JSON `{"outputs": ...}`, e.g. from ONNX Runtime) for fidelity.
    #[arg(long)]
    reference: Option<PathBuf>,
    /// Write the states `S_0..S_n` here.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Run this many times and report the fastest (for benchmarks).
    #[arg(long, default_value_t = 1)]
    repeat: usize,
    /// 3: the version-3 trace (every state). 4: what a version-4 party computes per request
    /// on the happy path — the input's `S_0` (checked against the request), the kernels and
    /// the outputs' `S_n` (the response) — each timed, and no trace.
    #[arg(long, default_value = "3", value_parser = crate::devnet::parse_protocol)]
    protocol: u8,
}

/// `run --protocol 4`: the happy path's cost, each part timed.
#[derive(Serialize)]
struct HappyPathReport {
    outputs: Vec<(String, Vec<usize>, Vec<f64>)>,
    input_state: String,
    output_state: String,
    template_operators: usize,
    /// Seconds of each part, the fastest of `--repeat` runs each.
    input_state_s: f64,
    kernels_s: f64,
    output_state_s: f64,
    /// (S_0 + kernels + S_n) / kernels.
    happy_path_over_kernels: f64,
    /// Seconds of the answer as an agent computes it (`zkopml_agents::v4::answer`: S_0
    /// checked on a second thread beside the kernels, then S_n), the fastest of `--repeat`.
    answer_s: f64,
    /// answer_s / kernels_s.
    answer_over_kernels: f64,
}

#[derive(Serialize)]
struct RunReport {
    outputs: Vec<(String, Vec<usize>, Vec<f64>)>,
    trace_root: String,
    steps: usize,
    execute_s: f64,
    ops_s: f64,
    commit_s: f64,
    max_abs_err: Option<f64>,
    top1_agrees: Option<bool>,
}

fn argmax(v: &[f64]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |b, (i, x)| if *x > v[b] { i } else { b })
}

/// The fastest of `repeat` runs of `f` (seconds) and its last result; results must agree.
fn fastest<T: PartialEq>(
    repeat: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<(T, f64)> {
    let mut best: Option<(T, f64)> = None;
    for _ in 0..repeat.max(1) {
        let t = Instant::now();
        let v = f()?;
        let s = t.elapsed().as_secs_f64();
        if let Some((prev, _)) = &best {
            anyhow::ensure!(*prev == v, "non-deterministic: two runs disagree");
        }
        if best.as_ref().is_none_or(|(_, b)| s < *b) {
            best = Some((v, s));
        }
    }
    Ok(best.expect("at least one run"))
}

/// `run --protocol 4`: lowers the model onto the template library (as `register --protocol
/// 4` does) and times what a party computes per request without a dispute.
fn run_v4(a: &RunArgs, json: bool) -> anyhow::Result<()> {
    let graph = import::load_file(&a.io.model)?;
    let file = TensorFile::read(&a.io.input)?;
    let program = Program::compile(&graph, &input_dims(&graph, &file)?, 1)?;
    let lowered = zkopml_prover::v4::Lowered::new(&program, a.io.ops_per_step)?;
    let inputs = quantize_inputs(&program, &file.inputs)?;
    let (s0, input_state_s) = fastest(a.repeat, || {
        Ok(zkopml_prover::v4::input_state(&lowered, &inputs)?)
    })?;
    let (outputs, kernels_s) =
        fastest(a.repeat, || Ok(zkopml_engine::evaluate(&program, &inputs)?))?;
    let (sn, output_state_s) = fastest(a.repeat, || {
        Ok(zkopml_prover::v4::output_state(&lowered, &outputs)?)
    })?;
    let ((_, answered), answer_s) = fastest(a.repeat, || {
        Ok(zkopml_agents::v4::answer(
            &program, &lowered, &inputs, s0, None,
        )?)
    })?;
    anyhow::ensure!(answered == sn, "the agents' answer differs from S_n");
    let report = HappyPathReport {
        outputs: named_outputs(&program, &outputs),
        input_state: s0.to_string(),
        output_state: sn.to_string(),
        template_operators: lowered.ops.len(),
        input_state_s,
        kernels_s,
        output_state_s,
        happy_path_over_kernels: (input_state_s + kernels_s + output_state_s) / kernels_s,
        answer_s,
        answer_over_kernels: answer_s / kernels_s,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_outputs(&report.outputs);
    println!("S_0 {} (the request's input state)", report.input_state);
    println!(
        "S_n {} (the response; {} template operators)",
        report.output_state, report.template_operators
    );
    println!(
        "happy path {:.3} ms = S_0 {:.3} ms + kernels {:.3} ms + S_n {:.3} ms ({:.2}x the kernels)",
        (input_state_s + kernels_s + output_state_s) * 1e3,
        input_state_s * 1e3,
        kernels_s * 1e3,
        output_state_s * 1e3,
        report.happy_path_over_kernels
    );
    println!(
        "answer as an agent computes it (S_0 checked beside the kernels): {:.3} ms ({:.2}x the kernels)",
        answer_s * 1e3,
        report.answer_over_kernels
    );
    Ok(())
}

/// The outputs by name and shape, as floats.
fn named_outputs(
    program: &Program,
    outputs: &[zkopml_engine::Tensor],
) -> Vec<(String, Vec<usize>, Vec<f64>)> {
    program
        .outputs
        .iter()
        .zip(outputs)
        .map(|(id, t)| {
            (
                program.values[*id].name.clone(),
                t.shape.clone(),
                t.data.iter().map(|q| dequantize(*q)).collect(),
            )
        })
        .collect()
}

/// Prints each output's first values (whole numbers — token ids, labels — as integers).
fn print_outputs(outputs: &[(String, Vec<usize>, Vec<f64>)]) {
    for (name, shape, data) in outputs {
        let integral = data.iter().all(|v| v.fract() == 0.0 && v.abs() < 1e9);
        let limit = if integral { 64 } else { 16 };
        let shown: Vec<String> = data
            .iter()
            .take(limit)
            .map(|v| {
                if integral {
                    format!("{v:.0}")
                } else {
                    format!("{v:.4}")
                }
            })
            .collect();
        println!(
            "{name} {shape:?}: [{}{}]",
            shown.join(", "),
            if data.len() > limit { ", ..." } else { "" }
        );
    }
}

pub(crate) fn run(a: RunArgs, json: bool) -> anyhow::Result<()> {
    if a.protocol == 4 {
        anyhow::ensure!(
            a.reference.is_none() && a.trace.is_none(),
            zkopml_engine::EngineError::BadInput {
                name: "--reference/--trace".into(),
                reason: "protocol 3 flags (run --protocol 4 computes no trace)".into(),
            }
        );
        return run_v4(&a, json);
    }
    let (program, mut trace, mut secs) = a.io.load()?;
    if a.repeat > 1 {
        let inputs: Vec<_> = program
            .inputs
            .iter()
            .map(|i| trace.values[*i].clone().expect("inputs are in the trace"))
            .collect();
        for _ in 1..a.repeat {
            let t = Instant::now();
            let again = execute(&program, &inputs)?;
            let s = t.elapsed().as_secs_f64();
            anyhow::ensure!(
                again.states == trace.states,
                "non-deterministic execution: trace roots differ between runs"
            );
            if s < secs {
                secs = s;
                trace.timings = again.timings;
            }
        }
    }
    let outputs = named_outputs(&program, &trace.outputs);
    let (mut max_abs_err, mut top1) = (None, None);
    if let Some(r) = &a.reference {
        let reference = TensorFile::read(r)?;
        let (name, _, ours) = &outputs[0];
        let theirs: Vec<f64> = reference
            .outputs
            .get(name)
            .with_context(|| format!("reference has no output `{name}`"))?
            .data
            .iter()
            .map(|v| v.unwrap_or(f64::NAN))
            .collect();
        max_abs_err = Some(
            ours.iter()
                .zip(&theirs)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max),
        );
        top1 = Some(argmax(ours) == argmax(&theirs));
    }
    if let Some(path) = &a.trace {
        let states: Vec<String> = trace.state_words().iter().map(|s| s.to_string()).collect();
        std::fs::write(path, serde_json::to_vec_pretty(&states)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let report = RunReport {
        outputs,
        trace_root: trace.root().to_string(),
        steps: program.num_steps(),
        execute_s: secs,
        ops_s: trace.timings.ops_s,
        commit_s: trace.timings.commit_s,
        max_abs_err,
        top1_agrees: top1,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    print_outputs(&report.outputs);
    if let (Some(e), Some(t)) = (report.max_abs_err, report.top1_agrees) {
        println!(
            "fidelity vs reference: max abs error {e:.6}, top-1 {}",
            if t { "agrees" } else { "DIFFERS" }
        );
    }
    println!(
        "trace root {} over {} steps",
        report.trace_root, report.steps
    );
    println!(
        "executed in {:.3} ms ({:.3} ms operators, {:.3} ms commitments)",
        secs * 1e3,
        report.ops_s * 1e3,
        report.commit_s * 1e3
    );
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct ProveArgs {
    #[command(flatten)]
    io: ModelInput,
    /// The step to prove: operators `step·N .. step·N + N - 1` (with N = 1, the operator index).
    #[arg(long, visible_alias = "op", required_unless_present = "node")]
    step: Option<usize>,
    /// Protocol 4: prove one leaf of this ONNX node instead of a step — output chunk
    /// `--chunk` of the node's heaviest template operator, under the template library's keys
    /// (`<keys>/templates`; test keys are made there on first use). Nodes and their templates:
    /// `zkopml circuits --templates`.
    #[arg(long, conflicts_with = "step")]
    node: Option<String>,
    /// Protocol 4: the output chunk of the leaf (`--node`).
    #[arg(long, requires = "node", default_value_t = 0)]
    chunk: usize,
    /// Proving key cache directory.
    #[arg(long, default_value = ".zkopml/keys")]
    keys: PathBuf,
    /// Where to write the proof.
    #[arg(long, default_value = "proof.json")]
    out: PathBuf,
}

/// A proof file.
#[derive(Serialize, Deserialize)]
pub(crate) struct ProofFile {
    step: usize,
    /// `[S_i, S_{i+1}, step digest]`, 0x-hex.
    public: [String; 3],
    /// 256-byte calldata, 0x-hex.
    proof: String,
    constraints: usize,
    setup_s: f64,
    prove_s: f64,
    /// Always true: keys from local randomness.
    test_keys: bool,
}

pub(crate) fn prove(a: ProveArgs, json: bool) -> anyhow::Result<()> {
    let Some(step) = a.step else {
        return prove_leaf(a, json);
    };
    let (program, trace, _) = a.io.load()?;
    let stats = circuit_stats(&program, step)?;
    let bar = ProgressBar::new_spinner().with_message(format!(
        "step {}: setup ({} constraints, test keys)",
        step, stats.constraints
    ));
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    let t = Instant::now();
    let keys = KeyCache::new(&a.keys).get(&program, step)?;
    let setup_s = t.elapsed().as_secs_f64();
    bar.set_message(format!("step {}: proving", step));
    let t = Instant::now();
    let proof = zkopml_prover::prove(&keys, &program, step, &trace)?;
    let prove_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let file = ProofFile {
        step,
        public: proof
            .public
            .map(|x| format!("0x{}", hex::encode(fr_to_bytes32(&x)))),
        proof: format!("0x{}", hex::encode(evm::proof_calldata(&proof.proof))),
        constraints: stats.constraints,
        setup_s,
        prove_s,
        test_keys: true,
    };
    std::fs::write(&a.out, serde_json::to_vec_pretty(&file)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&file)?);
    } else {
        println!("step {} ({} constraints): setup {setup_s:.2} s (TEST KEYS), prove {prove_s:.2} s -> {}", step, stats.constraints, a.out.display());
    }
    Ok(())
}

/// A leaf proof file (protocol 4).
#[derive(Serialize)]
struct LeafProofFile {
    /// The ONNX node and its template operator (index in the lowering).
    node: String,
    template_op: usize,
    /// The template and its constraints (the same for every model).
    template: &'static str,
    constraints: usize,
    /// The output chunk and the operator's chunk count.
    chunk: usize,
    chunks: usize,
    /// The public inputs `[C(X_1) … C(X_r), j, params…, d]`, 0x-hex.
    public: Vec<String>,
    /// 256-byte calldata, 0x-hex.
    proof: String,
    /// Loading (or, on first use, making) the template's keys.
    keys_s: f64,
    /// Witness and proof (the proof is checked before it is written).
    prove_s: f64,
    /// True: the library's deterministic test keys (`zkopml ceremony` makes real ones).
    test_keys: bool,
}

/// `prove --node`: one version-4 leaf under the template library's keys.
fn prove_leaf(a: ProveArgs, json: bool) -> anyhow::Result<()> {
    use zkopml_agents::v4::TemplateProver;
    use zkopml_prover::{
        templates::constraints,
        v4::{LeafInstance, V4Trace},
    };
    let node = a.node.as_deref().unwrap_or_default();
    let onnx =
        std::fs::read(&a.io.model).with_context(|| format!("reading {}", a.io.model.display()))?;
    let file = TensorFile::read(&a.io.input)?;
    let dims = input_dims(&import::load_bytes(&onnx)?, &file)?;
    let (program, model) = zkopml_agents::v4::lower(&onnx, a.io.ops_per_step, &dims)
        .with_context(|| format!("lowering {} for version 4", a.io.model.display()))?;
    let lowered = &model.lowered;
    let index = program
        .nodes
        .iter()
        .position(|n| n.name == node)
        .with_context(|| format!("no node named `{node}` in {}", a.io.model.display()))?;
    // The node's heaviest template operator (the first of equals).
    let o = lowered
        .ops
        .iter()
        .enumerate()
        .filter(|(_, op)| op.node == index)
        .fold(None, |best: Option<(usize, usize)>, (o, op)| {
            let c = constraints(op.template());
            match best {
                Some((_, b)) if b >= c => best,
                _ => Some((o, c)),
            }
        })
        .map(|(o, _)| o)
        .with_context(|| format!("node `{node}` has no template operator"))?;
    let inputs = quantize_inputs(&program, &file.inputs)?;
    let bar = ProgressBar::new_spinner().with_message(format!("{node}: trace"));
    bar.enable_steady_tick(std::time::Duration::from_millis(100));
    let trace = V4Trace::compute(lowered, &program, &inputs, None)?;
    let out_len: usize = lowered.values[lowered.ops[o].output].shape.iter().product();
    let chunks = zkopml_commit::chunk_count(out_len).max(1);
    let inst = LeafInstance::new(lowered, &trace, o, a.chunk)?;
    let template = inst.template();
    let prover = TemplateProver::new(&a.keys.join("templates"));
    bar.set_message(format!("{node}: keys of {template}"));
    let t = Instant::now();
    prover.prepare(&inst)?;
    let keys_s = t.elapsed().as_secs_f64();
    bar.set_message(format!("{node}: proving chunk {} with {template}", a.chunk));
    let t = Instant::now();
    let proof = prover.prove(&inst)?;
    let prove_s = t.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let out = LeafProofFile {
        node: node.to_string(),
        template_op: o,
        template,
        constraints: constraints(template),
        chunk: a.chunk,
        chunks,
        public: proof.public.iter().map(|x| format!("{x:#066x}")).collect(),
        proof: format!("{}", proof.proof),
        keys_s,
        prove_s,
        test_keys: true,
    };
    std::fs::write(&a.out, serde_json::to_vec_pretty(&out)?)
        .with_context(|| format!("writing {}", a.out.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!(
            "{node} (template operator {o}) chunk {}/{chunks}: {template} ({} constraints), keys {keys_s:.2} s (TEST KEYS), prove {prove_s:.2} s -> {}",
            a.chunk, out.constraints, a.out.display()
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct VerifyArgs {
    /// ONNX model file the proof is for.
    #[arg(long)]
    model: PathBuf,
    /// Operators per dispute step (as when proving).
    #[arg(long, default_value_t = 1)]
    ops_per_step: usize,
    /// Proof file from `prove`.
    #[arg(long, default_value = "proof.json")]
    proof: PathBuf,
    /// Proving key cache directory.
    #[arg(long, default_value = ".zkopml/keys")]
    keys: PathBuf,
    /// Also deploy the step's verifier on this node and check the proof there.
    #[arg(long)]
    rpc: Option<String>,
    /// Key paying for the verifier deployment (default: anvil account 0).
    #[arg(long, default_value = zkopml_agents::ANVIL_KEYS[0])]
    key: String,
}

fn parse_word(s: &str) -> anyhow::Result<[u8; 32]> {
    let bytes =
        hex::decode(s.trim_start_matches("0x")).with_context(|| format!("`{s}` is not hex"))?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("`{s}` is not 32 bytes"))
}

pub(crate) fn verify(a: VerifyArgs, json: bool) -> anyhow::Result<()> {
    let file: ProofFile = serde_json::from_slice(
        &std::fs::read(&a.proof).with_context(|| format!("reading {}", a.proof.display()))?,
    )
    .with_context(|| format!("{} is not a proof file", a.proof.display()))?;
    let graph = import::load_file(&a.model)?;
    let program = Program::compile(&graph, &HashMap::new(), a.ops_per_step)?;
    let calldata = hex::decode(file.proof.trim_start_matches("0x")).context("proof is not hex")?;
    let proof =
        evm::proof_from_calldata(&calldata).ok_or(zkopml_prover::ProverError::InvalidProof)?;
    let mut public = [zkopml_commit::Fr::from(0u64); 3];
    for (slot, s) in public.iter_mut().zip(&file.public) {
        *slot = zkopml_commit::fr_from_bytes32(&parse_word(s)?)
            .ok_or(zkopml_prover::ProverError::InvalidProof)?;
    }
    if public[2] != program.step_digest(file.step) {
        anyhow::bail!(zkopml_prover::ProverError::InvalidProof);
    }
    let keys = KeyCache::new(&a.keys).get(&program, file.step)?;
    zkopml_prover::verify(&keys.pvk, &StepProof { proof, public })?;
    let mut gas = None;
    if let Some(rpc) = &a.rpc {
        let rt = tokio::runtime::Runtime::new()?;
        gas = Some(rt.block_on(async {
            let dep = zkopml_chain::Deployment {
                rpc: rpc.clone(),
                chain_id: 0,
                registry: Default::default(),
                market: Default::default(),
                v4: None,
            };
            let chain = zkopml_chain::Chain::connect(&dep, &a.key)?;
            let v = evm::verifier_args(keys.vk());
            let (addr, _) = chain
                .deploy_verifier(v.alpha1, v.beta2, v.gamma2, v.delta2, v.ic)
                .await?;
            let words = public.map(|x| alloy_primitives::U256::from_be_bytes(fr_to_bytes32(&x)));
            anyhow::Ok(
                chain
                    .verify_on_chain(addr, calldata.clone().into(), words)
                    .await?,
            )
        })?);
    }
    if json {
        println!(
            "{}",
            serde_json::json!({"valid": true, "step": file.step, "onchain_gas": gas})
        );
    } else {
        println!(
            "proof of step {} is valid (natively{})",
            file.step,
            gas.map(|g| format!(", and on chain: {g} gas"))
                .unwrap_or_default()
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct CircuitsArgs {
    /// ONNX model file.
    #[arg(long)]
    model: PathBuf,
    /// Operators per dispute step.
    #[arg(long, default_value_t = 1)]
    ops_per_step: usize,
    /// Only these steps (repeatable; default: all). Large steps take minutes to synthesise.
    #[arg(long = "step")]
    steps: Vec<usize>,
    /// List the version-4 leaves instead: per operator, the template of the fixed library
    /// that proves its output chunks (or why none does yet), the number of leaves and the
    /// constraints of one leaf. Sets nothing up; takes seconds.
    #[arg(long)]
    templates: bool,
    #[command(flatten)]
    dims: DimArgs,
}

#[derive(Serialize)]
struct TemplateRow {
    step: usize,
    node: String,
    op: &'static str,
    template: Option<&'static str>,
    leaves: Option<usize>,
    constraints: Option<usize>,
    unsupported: Option<&'static str>,
}

fn template_rows(program: &Program, steps: &[usize]) -> Vec<TemplateRow> {
    steps
        .iter()
        .flat_map(|&step| {
            program.nodes[program.step_nodes(step)]
                .iter()
                .map(move |n| {
                    let plan = zkopml_prover::templates::plan(program, n);
                    TemplateRow {
                        step,
                        node: n.name.clone(),
                        op: n.op.name(),
                        template: plan.as_ref().ok().map(|p| p.template),
                        leaves: plan.as_ref().ok().map(|p| p.leaves),
                        constraints: plan.as_ref().ok().map(|p| p.constraints),
                        unsupported: plan.err(),
                    }
                })
        })
        .collect()
}

#[derive(Serialize)]
struct CircuitRow {
    step: usize,
    ops: String,
    /// ONNX node names of the step's operators.
    nodes: Vec<String>,
    constraints: Option<usize>,
    witnesses: Option<usize>,
    unsupported: Option<String>,
}

pub(crate) fn circuits(a: CircuitsArgs, json: bool) -> anyhow::Result<()> {
    let graph = import::load_file(&a.model)?;
    let program = Program::compile(&graph, &a.dims.map(), a.ops_per_step)?;
    let steps: Vec<usize> = if a.steps.is_empty() {
        (0..program.num_steps()).collect()
    } else {
        if let Some(s) = a.steps.iter().find(|s| **s >= program.num_steps()) {
            anyhow::bail!("--step {s}: the model has {} steps", program.num_steps());
        }
        a.steps.clone()
    };
    if a.templates {
        let rows = template_rows(&program, &steps);
        // What `register` computes under version 4, without any key: the lowered program's
        // operators, state width and the model and layout roots (weights included).
        let started = std::time::Instant::now();
        let lowering = match zkopml_prover::v4::Lowered::new(&program, a.ops_per_step) {
            Ok(l) => {
                let (model_root, layout_root) = (l.model_tree().root(), l.layout_tree().root());
                serde_json::json!({
                    "template_operators": l.ops.len(),
                    "steps": l.num_steps(),
                    "state_slots": l.state_slots(),
                    "model_root": model_root,
                    "layout_root": layout_root,
                    "seconds": started.elapsed().as_secs_f64(),
                })
            }
            Err(e) => serde_json::json!({ "unsupported": e.to_string() }),
        };
        if json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "operators": rows,
                    "lowering": lowering,
                }))?
            );
            return Ok(());
        }
        for r in &rows {
            match (r.template, r.unsupported) {
                (Some(t), _) => println!(
                    "step {:>3}  {:<28} {:<10} {t:<16} {:>7} leaves {:>8} constraints/leaf",
                    r.step,
                    r.node,
                    r.op,
                    r.leaves.unwrap_or(0),
                    r.constraints.unwrap_or(0)
                ),
                (None, Some(why)) => println!(
                    "step {:>3}  {:<28} {:<10} no template: {why}",
                    r.step, r.node, r.op
                ),
                _ => {}
            }
        }
        let covered = rows.iter().filter(|r| r.template.is_some()).count();
        let largest = rows.iter().filter_map(|r| r.constraints).max().unwrap_or(0);
        println!(
            "{covered} of {} operators have a template; largest leaf {largest} constraints; {} leaves in all",
            rows.len(),
            rows.iter().filter_map(|r| r.leaves).sum::<usize>()
        );
        match (lowering.get("template_operators"), lowering.get("unsupported")) {
            (Some(n), _) => println!(
                "version 4: {n} template operators in {} steps, {} state slots; model root {} (weights included), layout root {}; computed in {:.2} s, no keys",
                lowering["steps"], lowering["state_slots"], lowering["model_root"], lowering["layout_root"], lowering["seconds"].as_f64().unwrap_or(0.0)
            ),
            (_, Some(why)) => println!("version 4 lowering: {}", why.as_str().unwrap_or_default()),
            _ => {}
        }
        return Ok(());
    }
    let bar = crate::devnet::progress(steps.len(), "synthesising step circuits");
    let rows: Vec<CircuitRow> = steps
        .into_iter()
        .map(|step| {
            let nodes = &program.nodes[program.step_nodes(step)];
            let ops = nodes
                .iter()
                .map(|n| n.op.name())
                .collect::<Vec<_>>()
                .join("+");
            let nodes: Vec<String> = nodes.iter().map(|n| n.name.clone()).collect();
            let stats = circuit_stats(&program, step);
            bar.inc(1);
            match stats {
                Ok(s) => CircuitRow {
                    step,
                    ops,
                    nodes,
                    constraints: Some(s.constraints),
                    witnesses: Some(s.witnesses),
                    unsupported: None,
                },
                Err(e) => CircuitRow {
                    step,
                    ops,
                    nodes,
                    constraints: None,
                    witnesses: None,
                    unsupported: Some(e.to_string()),
                },
            }
        })
        .collect();
    bar.finish_and_clear();
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    for r in &rows {
        match (r.constraints, &r.unsupported) {
            (Some(c), _) => println!(
                "step {:>3}  {:<24} {c:>10} constraints {:>10} witnesses",
                r.step,
                r.ops,
                r.witnesses.unwrap_or(0)
            ),
            (None, Some(e)) => println!("step {:>3}  {:<24} no circuit: {e}", r.step, r.ops),
            _ => {}
        }
    }
    Ok(())
}
