//! What a party of a version-4 dispute computes before its first move, per model: the
//! lowering (what `register` computes), then the whole trace (every template operator's
//! output committed, the states, the trace root), with wall time and peak memory.
//!
//! `cargo bench -p zkopml-prover --bench v4_trace -- [N] [model dirs…]` (default N = 1 and
//! the CNNs of testdata, mobilenet_v2 when generated). Peak memory is the process's
//! high-water mark after each model (models run in the order given, so run one model per
//! invocation for its own peak).

use std::{collections::HashMap, path::PathBuf, time::Instant};

use zkopml_engine::{
    import,
    io::{quantize_inputs, TensorFile},
    Program,
};
use zkopml_prover::v4::{Lowered, V4Trace};

fn peak_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn main() {
    let mut args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let n = args
        .first()
        .and_then(|a| a.parse::<usize>().ok())
        .inspect(|_| {
            args.remove(0);
        })
        .unwrap_or(1);
    let testdata = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let dirs: Vec<PathBuf> = if args.is_empty() {
        ["dnn", "lenet5", "conv2d", "variable_cnn", "mobilenet_v2"]
            .iter()
            .map(|m| testdata.join(m))
            .filter(|d| d.join("model.onnx").exists())
            .collect()
    } else {
        args.iter().map(PathBuf::from).collect()
    };
    println!(
        "{:<14} {:>9} {:>7} {:>3} {:>9} {:>10} {:>9}",
        "model", "template", "steps", "W", "lower s", "trace s", "peak MB"
    );
    for dir in dirs {
        let name = dir
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        let graph = import::load_file(&dir.join("model.onnx")).expect("model.onnx loads");
        let program = Program::compile(&graph, &HashMap::new(), 1).expect("model compiles");
        let input = TensorFile::read(&dir.join("input.json")).expect("input.json reads");
        let inputs = quantize_inputs(&program, &input.inputs).expect("input quantises");
        let t0 = Instant::now();
        let lowered = match Lowered::new(&program, n) {
            Ok(l) => l,
            Err(e) => {
                println!("{name:<14} refused: {e}");
                continue;
            }
        };
        let lower_s = t0.elapsed().as_secs_f64();
        let t1 = Instant::now();
        let trace = V4Trace::compute(&lowered, &program, &inputs, None).expect("trace computes");
        let trace_s = t1.elapsed().as_secs_f64();
        std::hint::black_box(trace.root());
        println!(
            "{:<14} {:>9} {:>7} {:>3} {:>9.2} {:>10.2} {:>9.0}",
            name,
            lowered.ops.len(),
            lowered.num_steps(),
            lowered.state_slots(),
            lower_s,
            trace_s,
            peak_mb()
        );
    }
}
