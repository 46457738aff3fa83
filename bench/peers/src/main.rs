//! Times one model's native inference four ways in one process, on one thread:
//! our fixed-point kernels alone (`evaluate`), the kernels plus the output commitment `S_n`
//! (what a challenger pays to check a response), our full traced execution with every state
//! commitment (`execute`) and how many values it commits, and tract's optimised f32 plan.
//! Prints one JSON object.
//!
//! Usage: zkopml-bench-peers MODEL_DIR [ITERATIONS]

use std::{collections::HashMap, path::PathBuf, time::Instant};

use anyhow::Context;
use tract_onnx::prelude::*;
use zkopml_engine::{
    evaluate, execute, import, io::quantize_inputs, io::TensorFile, output_commitment, Program,
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

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().context("usage: zkopml-bench-peers MODEL_DIR [ITERATIONS]")?);
    let iters: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(50);
    let onnx = dir.join("model.onnx");
    let file = TensorFile::read(&dir.join("input.json"))?;

    let program = Program::compile(&import::load_file(&onnx)?, &HashMap::new(), 1)?;
    let inputs = quantize_inputs(&program, &file.inputs)?;
    let ours = median_ms(iters, || {
        evaluate(&program, &inputs).expect("evaluate");
    });
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

    let (name, t) = file.inputs.iter().next().context("no input")?;
    let data: Vec<f32> = t.data.iter().map(|v| v.unwrap_or(f64::NAN) as f32).collect();
    let input: Tensor = tract_ndarray::ArrayD::from_shape_vec(t.shape.clone(), data)?.into();
    let plan = tract_onnx::onnx()
        .model_for_path(&onnx)?
        .with_input_fact(0, f32::fact(&t.shape).into())?
        .into_optimized()?
        .into_runnable()?;
    let tract = median_ms(iters, || {
        plan.run(tvec!(input.clone().into())).expect("tract run");
    });
    println!(
        "{}",
        serde_json::json!({
            "model": dir.file_name().map(|s| s.to_string_lossy().to_string()),
            "input": name,
            "iterations": iters,
            "ours_kernels_ms": ours,
            "ours_verify_ms": verify,
            "ours_traced_ms": traced,
            "committed_values": committed_values,
            "tract_ms": tract,
        })
    );
    Ok(())
}
