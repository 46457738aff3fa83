//! Version-4 commitments of real runs: the same tensors give the same trace on any thread
//! count, every `C(T)` is the one-by-one chunked commitment, and a wrong operator output
//! changes the trace exactly from its step on.

use std::{collections::HashMap, path::PathBuf};

use zkopml_commit::chunked_commitment;
use zkopml_engine::{
    chunked_trace::ChunkedTrace, execute, execute_with_fault, import, io::quantize_inputs,
    io::TensorFile, Program,
};

fn testdata(model: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(model)
}

fn program_and_inputs(model: &str, n: usize) -> (Program, Vec<zkopml_engine::Tensor>) {
    let graph = import::load_file(&testdata(model).join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), n).unwrap();
    let input = TensorFile::read(&testdata(model).join("input.json")).unwrap();
    let inputs = quantize_inputs(&program, &input.inputs).unwrap();
    (program, inputs)
}

#[test]
fn same_trace_on_one_and_two_threads_and_per_tensor() {
    for (model, n) in [("lenet5", 1), ("conv2d", 3), ("dnn", 1)] {
        let (program, inputs) = program_and_inputs(model, n);
        let trace = execute(&program, &inputs).unwrap();
        let on = |threads: usize| {
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap()
                .install(|| ChunkedTrace::commit(&program, &trace.values))
        };
        let one = on(1);
        assert_eq!(one, on(2), "{model}");
        assert_eq!(one.states.len(), program.num_steps() + 1);
        assert_eq!(one.leaves.len(), program.num_steps() + 1);
        for (v, c) in trace.values.iter().zip(&one.commitments) {
            if let Some(t) = v {
                assert_eq!(*c, chunked_commitment(&t.shape, &t.data), "{model}");
            }
        }
    }
}

#[test]
fn a_faulty_step_changes_the_trace_from_that_step_on() {
    let (program, inputs) = program_and_inputs("lenet5", 1);
    let honest = ChunkedTrace::commit(&program, &execute(&program, &inputs).unwrap().values);
    let fault = 5;
    let bad = execute_with_fault(&program, &inputs, Some(fault)).unwrap();
    let lying = ChunkedTrace::commit(&program, &bad.values);
    assert_eq!(honest.leaves[..=fault], lying.leaves[..=fault]);
    assert_ne!(honest.leaves[fault + 1], lying.leaves[fault + 1]);
    assert_ne!(honest.steps[fault], lying.steps[fault]);
    assert_ne!(honest.root(), lying.root());
}
