//! Times one model's native inference four ways in one process, on one thread:
//! our fixed-point kernels alone (`evaluate`), the kernels plus the output commitment `S_n`
//! (what a challenger pays to check a response), our full traced execution with every state
//! commitment (`execute`) and how many values it commits, and tract's optimised f32 plan.
//! Prints one JSON object.
//!
//! The model directory holds `model.onnx` and either `input.json` (`{"inputs": ...}`) or
//! `cases.json` (`{"cases": [{"inputs": ...}, ...]}`, the first case is timed).
//! tract may refuse a graph: then `tract_ms` is `null` and `tract_refused` says why.
//!
//! With `PROFILE_OPS=1`, also times each node's kernel alone on the activations of one run
//! (median of the iterations) and prints the totals per operator type and the slowest nodes
//! to stderr.
//!
//! With `KERNELS_ONLY=1`, times the kernels only (for profilers) and prints just that figure.
//!
//! Usage: zkopml-bench-peers MODEL_DIR [ITERATIONS]

use std::{
    collections::{BTreeMap, HashMap},
    path::{Path, PathBuf},
    time::Instant,
};

use anyhow::Context;
use serde::Deserialize;
use tract_onnx::{prelude::*, tract_hir::infer::Factoid};
use zkopml_engine::{
    activations, evaluate, execute, import,
    io::{quantize_inputs, FloatTensor, TensorFile},
    output_commitment, Program, Tensor as Fixed, ValueKind,
};

/// Median of `n` timed runs of `f`, in milliseconds.
fn median_ms(n: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut v: Vec<f64> = (0..n)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    v.sort_by(f64::total_cmp);
    v[n / 2]
}

#[derive(Deserialize)]
struct Case {
    inputs: BTreeMap<String, FloatTensor>,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

/// The inputs to time: `input.json`, or else the first case of `cases.json`.
fn read_inputs(dir: &Path) -> anyhow::Result<BTreeMap<String, FloatTensor>> {
    let single = dir.join("input.json");
    if single.exists() {
        return Ok(TensorFile::read(&single)?.inputs);
    }
    let path = dir.join("cases.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let cases: Cases = serde_json::from_str(&text)?;
    let first = cases
        .cases
        .into_iter()
        .next()
        .context("cases.json has no case")?;
    Ok(first.inputs)
}

/// tract's optimised plan on `inputs` (each converted to the type the graph declares), in ms.
fn time_tract(
    onnx: &Path,
    inputs: &BTreeMap<String, FloatTensor>,
    iters: usize,
) -> anyhow::Result<f64> {
    let model = tract_onnx::onnx().model_for_path(onnx)?;
    let mut feeds = TVec::new();
    for (i, outlet) in model.input_outlets()?.iter().enumerate() {
        let name = &model.node(outlet.node).name;
        let t = inputs
            .get(name)
            .with_context(|| format!("no input {name}"))?;
        let dt = model
            .input_fact(i)?
            .datum_type
            .concretize()
            .unwrap_or(f32::datum_type());
        let data = t.data.iter().map(|v| v.unwrap_or(f64::NAN));
        let tensor: Tensor = if dt == i64::datum_type() {
            tract_ndarray::ArrayD::from_shape_vec(
                t.shape.clone(),
                data.map(|v| v as i64).collect(),
            )?
            .into()
        } else if dt == i32::datum_type() {
            tract_ndarray::ArrayD::from_shape_vec(
                t.shape.clone(),
                data.map(|v| v as i32).collect(),
            )?
            .into()
        } else if dt == bool::datum_type() {
            tract_ndarray::ArrayD::from_shape_vec(
                t.shape.clone(),
                data.map(|v| v != 0.0).collect(),
            )?
            .into()
        } else {
            tract_ndarray::ArrayD::from_shape_vec(
                t.shape.clone(),
                data.map(|v| v as f32).collect(),
            )?
            .into()
        };
        feeds.push(tensor);
    }
    let mut model = model;
    for (i, t) in feeds.iter().enumerate() {
        model.set_input_fact(i, InferenceFact::from(TypedFact::shape_and_dt_of(t)))?;
    }
    let plan = model.into_optimized()?.into_runnable()?;
    let run = || plan.run(feeds.iter().cloned().map(|t| t.into()).collect());
    run()?;
    Ok(median_ms(iters, || {
        run().expect("tract ran once, runs again");
    }))
}

/// Per-node kernel times (`PROFILE_OPS=1`): each node's `eval` on the activations of one run.
fn profile_ops(program: &Program, inputs: &[Fixed], iters: usize) -> anyhow::Result<()> {
    let acts = activations(program, inputs, None)?;
    let value = |v: usize| -> &Fixed {
        match &program.values[v].kind {
            ValueKind::Const(t) => t,
            _ => acts[v].as_ref().expect("computed before use"),
        }
    };
    let mut by_op: BTreeMap<&str, (f64, usize)> = BTreeMap::new();
    let mut by_node = Vec::new();
    for node in &program.nodes {
        let ins: Vec<&Fixed> = node.inputs.iter().map(|v| value(*v)).collect();
        let shape = &program.values[node.output].shape;
        let ms = median_ms(iters, || {
            std::hint::black_box(node.op.eval(&ins, shape));
        });
        let e = by_op.entry(node.op.name()).or_default();
        e.0 += ms;
        e.1 += 1;
        by_node.push((ms, node.name.clone(), node.op.name(), shape.clone()));
    }
    let total: f64 = by_op.values().map(|e| e.0).sum();
    let mut ops: Vec<_> = by_op.into_iter().collect();
    ops.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
    eprintln!("per operator type (sum of per-node medians {total:.4} ms):");
    for (op, (ms, n)) in ops {
        eprintln!(
            "  {op:<22} {n:>4} nodes {ms:>9.4} ms {:>5.1}%",
            100.0 * ms / total
        );
    }
    by_node.sort_by(|a, b| b.0.total_cmp(&a.0));
    eprintln!("slowest nodes:");
    for (ms, name, op, shape) in by_node.iter().take(15) {
        eprintln!("  {ms:>9.4} ms {op:<18} {name} {shape:?}");
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .context("usage: zkopml-bench-peers MODEL_DIR [ITERATIONS]")?,
    );
    let iters: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(50);
    let onnx = dir.join("model.onnx");
    let named = read_inputs(&dir)?;

    let program = Program::compile(&import::load_file(&onnx)?, &HashMap::new(), 1)?;
    let inputs = quantize_inputs(&program, &named)?;
    let ours = median_ms(iters, || {
        evaluate(&program, &inputs).expect("evaluate");
    });
    if std::env::var_os("KERNELS_ONLY").is_some_and(|v| v == "1") {
        println!("{}", serde_json::json!({ "ours_kernels_ms": ours }));
        return Ok(());
    }
    let verify = median_ms(iters, || {
        let outputs = evaluate(&program, &inputs).expect("evaluate");
        output_commitment(&program, &outputs).expect("outputs of the program");
    });
    let traced = median_ms(iters.min(10), || {
        execute(&program, &inputs).expect("execute");
    });
    // Values the trace commits to (every tensor it hashes), for per-value costs.
    let committed_values: usize = execute(&program, &inputs)?
        .commitments
        .iter()
        .zip(&program.values)
        .filter(|(c, _)| c.is_some())
        .map(|(_, v)| v.shape.iter().product::<usize>())
        .sum();
    if std::env::var_os("PROFILE_OPS").is_some_and(|v| v == "1") {
        profile_ops(&program, &inputs, iters)?;
    }

    // tract may refuse a graph (or panic on one): report why instead of failing the row.
    let tract = std::panic::catch_unwind(|| time_tract(&onnx, &named, iters))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("panicked")));
    let (tract_ms, tract_refused) = match tract {
        Ok(ms) => (Some(ms), None),
        Err(e) => (
            None,
            Some(format!("{e:#}").lines().next().unwrap_or("").to_string()),
        ),
    };
    println!(
        "{}",
        serde_json::json!({
            "model": dir.file_name().map(|s| s.to_string_lossy().to_string()),
            "inputs": named.keys().collect::<Vec<_>>(),
            "iterations": iters,
            "ours_kernels_ms": ours,
            "ours_verify_ms": verify,
            "ours_traced_ms": traced,
            "committed_values": committed_values,
            "tract_ms": tract_ms,
            "tract_refused": tract_refused,
        })
    );
    Ok(())
}
