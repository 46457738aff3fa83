//! The committed test models: compile, run, compare with ONNX Runtime within the
//! quantisation tolerance, and pin our own bit-exact trace roots (goldens).

use std::{collections::HashMap, path::PathBuf};

use zkopml_engine::{
    execute,
    fixed::dequantize,
    import,
    io::{quantize_inputs, TensorFile},
    Program,
};

fn testdata(model: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(model)
}

fn run(model: &str, ops_per_step: usize) -> (zkopml_engine::Trace, Program) {
    let graph = import::load_file(&testdata(model).join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), ops_per_step).unwrap();
    let input = TensorFile::read(&testdata(model).join("input.json")).unwrap();
    let inputs = quantize_inputs(&program, &input.inputs).unwrap();
    (execute(&program, &inputs).unwrap(), program)
}

fn max_abs_err(model: &str) -> f64 {
    let (trace, program) = run(model, 1);
    let reference = TensorFile::read(&testdata(model).join("output.json")).unwrap();
    let mut worst = 0f64;
    for (t, id) in trace.outputs.iter().zip(&program.outputs) {
        let r = &reference.outputs[&program.values[*id].name];
        assert_eq!(r.shape, t.shape);
        for (q, f) in t.data.iter().zip(&r.data) {
            worst = worst.max((dequantize(*q) - f.unwrap()).abs());
        }
    }
    worst
}

#[test]
fn float_models_agree_with_onnx_runtime_within_quantisation_error() {
    for (model, tol) in [
        ("dnn", 0.05),
        ("variable_cnn", 0.05),
        ("lenet5", 0.05),
        ("conv2d", 0.05),
    ] {
        let err = max_abs_err(model);
        eprintln!("{model}: max abs error {err:.6}");
        assert!(err < tol, "{model}: max abs error {err} >= {tol}");
    }
}

/// Our own bit-exact outputs: any change to operator semantics or commitments moves these
/// and must come with a `PROGRAM_VERSION` bump.
#[test]
fn golden_trace_roots() {
    let mut moved = Vec::new();
    for (model, root) in [
        (
            "dnn",
            "0xbb7c017b09bba8563a439a5a43310a5c18778939623af969ff659cac09493366",
        ),
        (
            "variable_cnn",
            "0x41cd16bfe3171ae55238c99c7b14e50139e744b145ce92b8c4512952ace7c0c3",
        ),
        (
            "lenet5",
            "0xdba7982ec35f9012852d0a9d51731df7b1ba2ad9b7016eedf3cdf85a858da246",
        ),
        (
            "conv2d",
            "0xcec01b9318a2e7e4debc7471089b46bcf9e897cdd5e21a9b65a47494cef19922",
        ),
    ] {
        let (trace, _) = run(model, 1);
        let got = format!("{}", trace.root());
        if got != root {
            moved.push(format!("(\"{model}\", \"{got}\") (golden {root})"));
        }
    }
    assert!(moved.is_empty(), "trace roots moved:\n{}", moved.join("\n"));
}

#[test]
fn trace_root_is_identical_across_runs_and_thread_counts() {
    let (a, _) = run("lenet5", 1);
    let (b, _) = run("lenet5", 1);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let (c, _) = pool.install(|| run("lenet5", 1));
    assert_eq!(a.root(), b.root());
    assert_eq!(a.root(), c.root());
    assert_eq!(a.states, c.states);
}

#[test]
fn program_round_trips_and_steps_group_nodes() {
    let (t1, p1) = run("lenet5", 1);
    let (t3, p3) = run("lenet5", 3);
    assert_eq!(Program::from_bytes(&p1.to_bytes()).unwrap(), p1);
    assert_eq!(p3.num_steps(), p1.nodes.len().div_ceil(3));
    assert_eq!(t1.states[0], t3.states[0]);
    assert_eq!(t1.states.last(), t3.states.last());
    assert_eq!(t1.states[3], t3.states[1]);
}
