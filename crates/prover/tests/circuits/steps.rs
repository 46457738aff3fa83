//! Step circuits against the engine: agreement on every step of the committed models, a
//! Groth16 round trip, and the soundness cases (changed output, changed pre-state, proof for
//! another step, replay against another model).

use std::{collections::HashMap, path::PathBuf};

use ark_bn254::Fr;
use ark_ff::One;
use zkopml_engine::{
    execute, import,
    io::{quantize_inputs, TensorFile},
    Program, Trace,
};
use zkopml_prover::{circuit_stats, is_satisfied, prove, setup, verify, StepProof};

fn load(model: &str, ops_per_step: usize) -> (Program, Trace) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(model);
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), ops_per_step).unwrap();
    let input = TensorFile::read(&dir.join("input.json")).unwrap();
    let trace = execute(&program, &quantize_inputs(&program, &input.inputs).unwrap()).unwrap();
    (program, trace)
}

#[test]
fn circuit_witness_equals_engine_on_every_step_of_dnn_and_variable_cnn() {
    for model in ["dnn", "variable_cnn"] {
        let (program, trace) = load(model, 1);
        for step in 0..program.num_steps() {
            assert!(
                is_satisfied(&program, step, &trace).unwrap(),
                "{model} step {step}"
            );
        }
    }
}

/// Agreement on adversarial inputs: every step of dnn, variable_cnn and lenet5 run on inputs
/// pinned at `i32::MAX`, at `i32::MIN`, alternating extremes, and pseudo-random full-range
/// values (saturation in every rescale, the most negative values through Relu/MaxPool):
/// the circuit's witness hashes to the engine's post-state on each, bit for bit. lenet5, whose
/// steps are the largest circuits here, runs two of the four cases (`min`, `random`) to keep
/// the test command's time.
#[test]
fn circuit_agrees_with_engine_on_saturating_and_random_inputs() {
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed as i32
    };
    for model in ["dnn", "variable_cnn", "lenet5"] {
        let (program, _) = load(model, 1);
        let shape = program.values[program.inputs[0]].shape.clone();
        let len: usize = shape.iter().product();
        let cases: [(&str, Vec<i32>); 4] = [
            ("max", vec![i32::MAX; len]),
            ("min", vec![i32::MIN; len]),
            (
                "alternating",
                (0..len)
                    .map(|i| if i % 2 == 0 { i32::MAX } else { i32::MIN })
                    .collect(),
            ),
            ("random", (0..len).map(|_| next()).collect()),
        ];
        for (name, data) in cases {
            if model == "lenet5" && !matches!(name, "min" | "random") {
                continue;
            }
            let trace =
                execute(&program, &[zkopml_engine::Tensor::new(shape.clone(), data)]).unwrap();
            for step in 0..program.num_steps() {
                assert!(
                    is_satisfied(&program, step, &trace).unwrap(),
                    "{model} step {step} on {name} input"
                );
            }
        }
    }
}

#[test]
fn a_tampered_trace_does_not_satisfy_the_step() {
    let (program, mut trace) = load("dnn", 1);
    // Change one output element of step 1 (Relu) and recompute its commitment and S_2, as a
    // cheating submitter would.
    let out = program.nodes[1].output;
    let t = trace.values[out].as_mut().unwrap();
    t.data[3] += 1;
    let c = t.commitment();
    trace.commitments[out] = Some(c);
    trace.states[2] = zkopml_commit::state_commitment(&[c]);
    assert!(!is_satisfied(&program, 1, &trace).unwrap());
}

#[test]
fn groth16_round_trip_and_soundness_cases() {
    let (program, trace) = load("dnn", 1);
    let step = 1; // Relu over 32 values: small, fast keys
    let stats = circuit_stats(&program, step).unwrap();
    assert!(stats.constraints > 0);
    let keys = setup(&program, step).unwrap();
    let proof = prove(&keys, &program, step, &trace).unwrap();
    verify(&keys.pvk, &proof).unwrap();

    let tampered = |f: &dyn Fn(&mut StepProof)| {
        let mut p = proof.clone();
        f(&mut p);
        verify(&keys.pvk, &p).is_err()
    };
    assert!(
        tampered(&|p| p.public[1] += Fr::one()),
        "changed post-state accepted"
    );
    assert!(
        tampered(&|p| p.public[0] += Fr::one()),
        "changed pre-state accepted"
    );
    assert!(
        tampered(&|p| p.public[2] = program.step_digest(0)),
        "proof accepted as another step"
    );

    // Replay against another model: a different program has a different step digest.
    let (other, _) = load("dnn", 3);
    assert!(
        tampered(&|p| p.public[2] = other.step_digest(0)),
        "proof replayed against another model"
    );
}
