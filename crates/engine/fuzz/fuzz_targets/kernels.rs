//! Every kernel of the committed models on arbitrary i32 inputs (saturating values, sign
//! extremes): nothing panics; on the dnn model (whose commitments are cheap enough to fuzz)
//! plain evaluation also equals the traced execution's outputs and a fuzzer-chosen step of
//! the trace is consistent with re-running that step.
#![no_main]

use std::{collections::HashMap, sync::OnceLock};

use libfuzzer_sys::fuzz_target;
use zkopml_engine::{evaluate, execute, import, step_is_consistent, Program, Tensor};

const MODELS: [&str; 5] = ["dnn", "variable_cnn", "lenet5", "conv2d", "xgboost"];
/// Generated (git-ignored) models whose operators are fuzzed too where they exist: the
/// transformer set (Erf, Tanh, Sqrt, Log, Pow, LayerNormalization, batched MatMul, ...).
const GENERATED: [&str; 4] = ["whisper_tiny", "bert_tiny", "gte_tiny", "t5_tiny"];

fn programs() -> &'static [Program] {
    static P: OnceLock<Vec<Program>> = OnceLock::new();
    P.get_or_init(|| {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../testdata");
        let compile = |m: &str| {
            let g = import::load_file(&root.join(m).join("model.onnx")).ok()?;
            Some(Program::compile(&g, &HashMap::new(), 1).expect("test model compiles"))
        };
        let mut programs: Vec<Program> = MODELS
            .iter()
            .map(|m| compile(m).expect("committed model"))
            .collect();
        programs.extend(GENERATED.iter().filter_map(|m| compile(m)));
        eprintln!("fuzzing the kernels of {} models", programs.len());
        programs
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let programs = programs();
    let program = &programs[pick as usize % programs.len()];
    let words: Vec<i32> = rest
        .chunks(4)
        .map(|c| {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            i32::from_le_bytes(b)
        })
        .collect();
    let inputs: Vec<Tensor> = program
        .inputs
        .iter()
        .map(|id| {
            let shape = program.values[*id].shape.clone();
            let len: usize = shape.iter().product();
            let data = (0..len)
                .map(|i| if words.is_empty() { 0 } else { words[i % words.len()] })
                .collect();
            Tensor::new(shape, data)
        })
        .collect();
    let outputs = evaluate(program, &inputs).expect("well-shaped inputs");
    if pick as usize % programs.len() != 0 {
        return;
    }
    let trace = execute(program, &inputs).expect("well-shaped inputs");
    assert_eq!(outputs, trace.outputs, "evaluate and execute disagree");
    let step = words.first().map_or(0, |w| *w as u32 as usize) % program.num_steps();
    assert!(step_is_consistent(program, step, &trace), "step {step} inconsistent");
});
