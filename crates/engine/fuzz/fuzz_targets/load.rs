//! Arbitrary bytes as an ONNX file: loading and compiling either succeed or return a typed
//! error; a program that compiles runs on all-zero inputs without panicking.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use zkopml_engine::{evaluate, import, Program, Tensor};

/// Programs whose tensors exceed this many elements in total are compiled but not run
/// (the fuzzer's memory limit, not an engine limit).
const RUN_LIMIT: usize = 1 << 20;

fuzz_target!(|data: &[u8]| {
    let Ok(graph) = import::load_bytes(data) else { return };
    for n in [1, 3] {
        let Ok(program) = Program::compile(&graph, &HashMap::new(), n) else { continue };
        let total: usize = program.values.iter().map(|v| v.shape.iter().product::<usize>()).sum();
        if total > RUN_LIMIT {
            continue;
        }
        let inputs: Vec<Tensor> = program
            .inputs
            .iter()
            .map(|id| {
                let shape = program.values[*id].shape.clone();
                let len = shape.iter().product();
                Tensor::new(shape, vec![0; len])
            })
            .collect();
        evaluate(&program, &inputs).expect("compiled program runs on well-shaped inputs");
    }
});
