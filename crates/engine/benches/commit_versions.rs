//! What committing a run costs under version 3 (Poseidon chains over the tensors live at step
//! boundaries, `execute`) and under version 4 (chunk trees over every input and operator
//! output, `ChunkedTrace::commit`), on the same run, same thread pool: seconds and ns per
//! committed value (median of 5). Models absent from `testdata/` are skipped.
//!
//! Usage: `RAYON_NUM_THREADS=1 cargo bench -p zkopml-engine --bench commit_versions`

use std::{collections::HashMap, path::PathBuf, time::Instant};

use zkopml_engine::{
    chunked_trace::ChunkedTrace, execute, import, io::quantize_inputs, io::TensorFile, Program,
};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    println!(
        "threads: {}; per value = seconds / values committed by that version",
        rayon::current_num_threads()
    );
    for model in ["dnn", "lenet5", "conv2d", "mobilenet_v2"] {
        let dir = root.join(model);
        if !dir.join("model.onnx").exists() {
            println!("{model}: skipped (not generated)");
            continue;
        }
        let graph = import::load_file(&dir.join("model.onnx")).expect("model");
        let program = Program::compile(&graph, &HashMap::new(), 1).expect("compile");
        let input = TensorFile::read(&dir.join("input.json")).expect("input");
        let inputs = quantize_inputs(&program, &input.inputs).expect("quantise");
        let mut v3 = Vec::new();
        let mut v4 = Vec::new();
        let mut trace = None;
        for _ in 0..5 {
            let t = execute(&program, &inputs).expect("run");
            v3.push(t.timings.commit_s);
            let started = Instant::now();
            std::hint::black_box(ChunkedTrace::commit(&program, &t.values));
            v4.push(started.elapsed().as_secs_f64());
            trace = Some(t);
        }
        let trace = trace.expect("ran");
        let v3_values: usize = trace
            .commitments
            .iter()
            .zip(&trace.values)
            .filter(|(c, _)| c.is_some())
            .map(|(_, t)| t.as_ref().map_or(0, |t| t.data.len()))
            .sum();
        let v4_values: usize = trace.values.iter().flatten().map(|t| t.data.len()).sum();
        let (s3, s4) = (median(v3), median(v4));
        println!(
            "{model}: v3 {:.1} ms ({} values, {:.1} ns/value); v4 {:.1} ms ({} values, {:.1} ns/value); per value v4/v3 = {:.2}",
            s3 * 1e3,
            v3_values,
            s3 * 1e9 / v3_values as f64,
            s4 * 1e3,
            v4_values,
            s4 * 1e9 / v4_values as f64,
            (s4 / v4_values as f64) / (s3 / v3_values as f64)
        );
    }
}
