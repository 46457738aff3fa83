//! Version 4 end to end off chain: a real model lowered onto the template library, its trace,
//! and every leaf's statement. For each operator and chunk, the public inputs a contract would
//! build (the committed inputs, j, the leaf's params) are the template's, and the digest the
//! template computes is the committed chunk's in an honest trace — and not in a faulty one.

use std::{collections::HashMap, path::PathBuf};

use alloy_primitives::U256;
use zkopml_commit::fr_to_bytes32;
use zkopml_engine::{
    evaluate, import,
    io::{quantize_inputs, TensorFile},
    Program, Tensor,
};
use zkopml_prover::{
    templates::{template_id, ClipTemplate, Template},
    v4::{
        fr_u256, input_state, output_state, LeafInstance, LeafProver, Lowered, Origin, Source,
        V4Error, V4Trace, CONST_FLAG,
    },
};

fn load(name: &str) -> (Program, Vec<Tensor>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(name);
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let input = TensorFile::read(&dir.join("input.json")).unwrap();
    let inputs = quantize_inputs(&program, &input.inputs).unwrap();
    (program, inputs)
}

/// A committed export of `testdata/exports` and the inputs of its first case.
fn export(name: &str) -> (Program, Vec<Tensor>) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/exports")
        .join(name);
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    #[derive(serde::Deserialize)]
    struct Cases {
        cases: Vec<TensorFile>,
    }
    let cases: Cases =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let inputs = quantize_inputs(&program, &cases.cases[0].inputs).unwrap();
    (program, inputs)
}

/// The input commitments of operator `o` as the contract resolves them: a constant inline, a
/// slot of S_lo, or an entry of P_lo.
fn resolved_inputs(l: &Lowered, t: &V4Trace, o: usize) -> Vec<U256> {
    let step = o / l.ops_per_step;
    l.ops[o]
        .inputs
        .iter()
        .map(|v| match l.input_source(o, *v) {
            Source::Const(c) => {
                let enc = Source::Const(c).encode();
                assert_eq!(enc & CONST_FLAG, CONST_FLAG);
                enc ^ CONST_FLAG
            }
            Source::State(s) => fr_u256(&t.states[step][s]),
            Source::Output(p) => fr_u256(&t.outputs[step][p]),
            Source::Empty => panic!("operator {o} reads an empty slot"),
        })
        .collect()
}

/// The leaf (o, j) of `t`: asserts that its public inputs are the statement the contract
/// builds (inputs resolved from S_lo / P_lo / inline constants, j, the leaf's params) and its
/// digest the committed chunk's.
fn check_statement(l: &Lowered, t: &V4Trace, o: usize, j: usize) -> LeafInstance {
    let leaf = l.operator_leaf(o);
    let inputs = resolved_inputs(l, t, o);
    let inst = LeafInstance::new(l, t, o, j).unwrap();
    let public: Vec<U256> = inst.public_inputs().iter().map(fr_u256).collect();
    let r = inputs.len();
    assert_eq!(public.len(), r + leaf.params.len() + 2, "op {o}");
    assert_eq!(public[..r], inputs[..], "op {o} chunk {j}: inputs");
    assert_eq!(public[r], U256::from(j), "op {o}: j");
    assert_eq!(
        public[r + 1..public.len() - 1],
        leaf.params[..],
        "op {o}: params"
    );
    assert_eq!(
        inst.digest(),
        t.tree(l.ops[o].output).unwrap().leaves()[j],
        "op {o} chunk {j}: the template's digest is the committed chunk's"
    );
    inst
}

#[test]
fn every_leaf_of_an_honest_dnn_trace_is_the_templates_statement() {
    let (program, inputs) = load("dnn");
    for n in [1, 3] {
        let l = Lowered::new(&program, n).unwrap();
        let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
        // The lowered outputs are the engine's.
        let expect = evaluate(&program, &inputs).unwrap();
        for (o, e) in l.outputs.iter().zip(&expect) {
            match &*t.data(*o).unwrap() {
                zkopml_prover::v4::Data::Narrow(x) => assert_eq!(x, e),
                _ => panic!("outputs are narrow"),
            }
        }
        assert_eq!(t.leaves.len(), l.num_steps() + 1);
        for o in 0..l.ops.len() {
            let leaf = l.operator_leaf(o);
            for j in 0..leaf.output_chunks as usize {
                check_statement(&l, &t, o, j);
            }
            assert!(matches!(
                LeafInstance::new(&l, &t, o, leaf.output_chunks as usize),
                Err(V4Error::ChunkOutOfRange { .. })
            ));
            assert_eq!(
                leaf.template_id,
                U256::from(template_id(l.ops[o].template()).unwrap())
            );
        }
        // Padding leaves past the last operator name no template.
        let count = l.num_steps() * n;
        assert!((l.ops.len()..count).all(|o| l.operator_leaf(o).template_id == U256::ZERO));
    }
}

#[test]
fn weights_are_committed_in_the_model_root() {
    let (program, _) = load("dnn");
    let l = Lowered::new(&program, 2).unwrap();
    let root = l.model_tree().root();
    // Another weight (one bit of the first constant) → another model root.
    let mut other = program.clone();
    let c = other
        .values
        .iter_mut()
        .find_map(|v| match &mut v.kind {
            zkopml_engine::ValueKind::Const(t) => Some(t),
            _ => None,
        })
        .unwrap();
    c.data[0] ^= 1;
    let l2 = Lowered::new(&other, 2).unwrap();
    assert_ne!(l2.model_tree().root(), root);
    assert_eq!(l2.layout_tree().root(), l.layout_tree().root());
    // Constants never occupy a state slot.
    for b in 0..=l.num_steps() {
        assert!(l
            .layout(b)
            .iter()
            .all(|v| !matches!(l.values[*v].origin, Origin::Const { .. })));
    }
}

#[test]
fn a_faulty_trace_is_caught_at_the_first_wrong_operator() {
    let (program, inputs) = load("dnn");
    let l = Lowered::new(&program, 1).unwrap();
    let honest = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    for node in 0..program.nodes.len() {
        // Past the first chunk where the output has one.
        let len: usize = program.values[program.nodes[node].output]
            .shape
            .iter()
            .product();
        let liar = V4Trace::compute(&l, &program, &inputs, Some((node, 700.min(len - 1)))).unwrap();
        assert_ne!(liar.root(), honest.root());
        // The first operator whose output differs: its inputs are agreed, so the leaf built
        // from the liar's own trace proves the honest chunk, not the liar's.
        let o = (0..l.ops.len())
            .find(|o| liar.commitments[l.ops[*o].output] != honest.commitments[l.ops[*o].output])
            .expect("the fault changes an output");
        assert_eq!(l.ops[o].node, node, "the fault is in node {node}");
        let out = l.ops[o].output;
        let j = (0..honest.tree(out).unwrap().chunks())
            .find(|j| {
                honest.tree(out).unwrap().leaves()[*j] != liar.tree(out).unwrap().leaves()[*j]
            })
            .unwrap();
        let inst = LeafInstance::new(&l, &liar, o, j).unwrap();
        assert_eq!(inst.digest(), honest.tree(out).unwrap().leaves()[j]);
        assert_ne!(inst.digest(), liar.tree(out).unwrap().leaves()[j]);
        // The states before the step agree; the leaves from there on differ.
        let step = o / l.ops_per_step;
        assert_eq!(liar.leaves[..=step], honest.leaves[..=step]);
        assert_ne!(liar.leaves[step + 1], honest.leaves[step + 1]);
    }
}

/// A faulty trace made from the honest one (only what the fault reaches recomputed) is the
/// faulty trace made from scratch, commitment for commitment, with a fault in the first node,
/// one in the middle and the last, on a CNN and on a transformer export (masks, Softmax,
/// LayerNorm, Erf, MatMul partial sums).
#[test]
fn a_faulty_trace_reusing_the_honest_one_equals_one_made_from_scratch() {
    for (name, (program, inputs)) in [
        ("lenet5", load("lenet5")),
        ("bert_mask", export("bert_mask")),
    ] {
        let l = Lowered::new(&program, 3).unwrap();
        let honest = V4Trace::compute(&l, &program, &inputs, None).unwrap();
        let n = program.nodes.len();
        for node in [0, n / 2, n - 1] {
            let fault = (node, 0);
            let fresh = V4Trace::compute(&l, &program, &inputs, Some(fault)).unwrap();
            let reused =
                V4Trace::compute_faulty_from(&honest, &l, &program, &inputs, fault).unwrap();
            assert_eq!(reused.commitments, fresh.commitments, "{name}, node {node}");
            assert_eq!(reused.states, fresh.states, "{name}, node {node}");
            assert_eq!(reused.leaves, fresh.leaves, "{name}, node {node}");
            assert_eq!(reused.root(), fresh.root(), "{name}, node {node}");
            // What a leaf opens is re-derived from the reused values alike.
            for o in [0, l.ops.len() / 2, l.ops.len() - 1] {
                let out = l.ops[o].output;
                assert_eq!(
                    reused.tree(out).unwrap().root(),
                    fresh.tree(out).unwrap().root(),
                    "{name}, node {node}, operator {o}"
                );
            }
        }
    }
}

#[test]
fn a_clip_leaf_proves_under_the_library_keys() {
    let (program, inputs) = load("dnn");
    let l = Lowered::new(&program, 1).unwrap();
    let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    let o = (0..l.ops.len())
        .find(|o| l.ops[*o].template() == ClipTemplate::NAME)
        .unwrap();
    let inst = LeafInstance::new(&l, &t, o, 0).unwrap();
    let p = LeafProver::new().prove(&inst).unwrap();
    assert_eq!(p.public, inst.public_inputs());
    assert_eq!(
        fr_to_bytes32(p.public.last().unwrap()),
        fr_to_bytes32(&t.tree(l.ops[o].output).unwrap().leaves()[0])
    );
}

#[test]
fn the_cnns_lower_and_the_rest_is_refused_with_a_reason() {
    for name in ["lenet5", "conv2d", "variable_cnn"] {
        let (program, _) = load(name);
        let l = Lowered::new(&program, 1).unwrap();
        assert!(
            l.ops.len() > program.nodes.len(),
            "{name}: reductions lower to blocks"
        );
    }
    // xgboost lowers completely (computed-index Gathers on gather_index, ArgMax on
    // argmax_mark, ReduceSum on group_block), bit for bit.
    let (program, inputs) = load("xgboost");
    let l = Lowered::new(&program, 1).unwrap();
    let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    let expect = evaluate(&program, &inputs).unwrap();
    for (k, v) in l.outputs.iter().enumerate() {
        match &*t.data(*v).unwrap() {
            zkopml_prover::v4::Data::Narrow(y) => assert_eq!(y, &expect[k], "xgboost output {k}"),
            zkopml_prover::v4::Data::Wide(_) => panic!("outputs are narrow"),
        }
    }
    // vision_gates (HardSwish, HardSigmoid, Gelu tanh on gate_chunk; Concat on gathers and
    // Where; CumSum on matmul_block; ReduceMin between complements on group_block) lowers
    // completely and its two outputs are the engine's, bit for bit, on every case.
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/exports/vision_gates");
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let l = Lowered::new(&program, 1).unwrap();
    let cases: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    for (c, case) in cases["cases"].as_array().unwrap().iter().enumerate() {
        let file: TensorFile = serde_json::from_value(serde_json::json!({
            "inputs": case["inputs"].clone()
        }))
        .unwrap();
        let inputs = quantize_inputs(&program, &file.inputs).unwrap();
        let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
        let expect = evaluate(&program, &inputs).unwrap();
        for (k, v) in l.outputs.iter().enumerate() {
            match &*t.data(*v).unwrap() {
                zkopml_prover::v4::Data::Narrow(y) => {
                    assert_eq!(y, &expect[k], "vision_gates case {c} output {k}")
                }
                zkopml_prover::v4::Data::Wide(_) => panic!("outputs are narrow"),
            }
        }
    }
    // An operator no template proves is refused with its name: vision_gates with its
    // HardSwish renamed LeakyRelu, node name and op type (same length: the protobuf stays
    // well formed).
    let mut bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let at: Vec<usize> = (0..bytes.len() - 8)
        .filter(|i| &bytes[*i..*i + 9] == b"HardSwish")
        .collect();
    assert!(!at.is_empty(), "the op type");
    for i in at {
        bytes[i..i + 9].copy_from_slice(b"LeakyRelu");
    }
    let graph = import::load_bytes(&bytes).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    match Lowered::new(&program, 1) {
        Err(V4Error::Unsupported { op, .. }) => assert_eq!(op, "LeakyRelu"),
        other => panic!(
            "expected LeakyRelu unsupported, got {:?}",
            other.map(|l| l.ops.len())
        ),
    }
    // mobilenet_v2 (generated by the test command; absent in a bare checkout) lowers
    // completely: 8,820 Conv taps among its template operators (the partial sums are hashed
    // as they are produced, never held).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mobilenet_v2");
    if dir.join("model.onnx").exists() {
        let (program, _) = load("mobilenet_v2");
        let l = Lowered::new(&program, 1).unwrap();
        let taps = l
            .ops
            .iter()
            .filter(|o| o.template() == zkopml_prover::templates::ConvBlockTemplate::NAME)
            .count();
        assert_eq!(taps, 8820, "mobilenet_v2's Conv taps");
        assert!(l.state_slots() <= 4, "W = {}", l.state_slots());
    }
}

/// A CNN's operators (the first and last block of every reduction, every other operator),
/// first and last chunk: the statement the contract builds is the template's, the digest is
/// the committed chunk's, and the conv_block and pool_block witnesses satisfy their circuits.
#[test]
fn lenet5_leaves_are_the_templates_statements() {
    use zkopml_prover::v4::LOpKind;
    let (program, inputs) = load("lenet5");
    let l = Lowered::new(&program, 4).unwrap();
    let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    let expect = evaluate(&program, &inputs).unwrap();
    match &*t.data(l.outputs[0]).unwrap() {
        zkopml_prover::v4::Data::Narrow(x) => assert_eq!(x, &expect[0]),
        _ => panic!("outputs are narrow"),
    }
    let edge = |o: usize| match &l.ops[o].kind {
        LOpKind::ConvBlock { block, dispute } => *block == 0 || *block + 1 == dispute.blocks(),
        LOpKind::PoolBlock { block, dispute } => *block == 0 || *block + 1 == dispute.blocks(),
        LOpKind::GemmBlock { block, .. } => {
            *block == 0 || !matches!(l.ops[o + 1].kind, LOpKind::GemmBlock { .. })
        }
        _ => true,
    };
    let mut checked = std::collections::BTreeSet::new();
    for o in (0..l.ops.len()).filter(|o| edge(*o)) {
        let last = l.operator_leaf(o).output_chunks as usize - 1;
        for j in [0, last] {
            let inst = check_statement(&l, &t, o, j);
            let template = inst.template();
            if !checked.contains(template) && template != "clip_chunk/v1" {
                assert!(
                    inst.is_satisfied().unwrap(),
                    "op {o} ({template}) chunk {j}"
                );
                checked.insert(template);
            }
        }
    }
    assert!(checked.contains("conv_block/v1") && checked.contains("pool_block/v1"));
}

/// The happy path's commitments: `S_0` from the inputs alone and `S_n` from the engine's
/// outputs alone are the trace's first and last states — for CNNs, a tree ensemble, a
/// sentence encoder and the greedy generation programs, honest and with a lie in the
/// middle node (whose outputs are then the liar's) — so a submitter responds and a
/// challenger checks a response by inference alone. Wrong tensors are errors.
#[test]
fn input_and_output_states_from_the_tensors_alone_are_the_traces() {
    for (name, (program, inputs)) in [
        ("dnn", load("dnn")),
        ("lenet5", load("lenet5")),
        ("xgboost", load("xgboost")),
        ("bert_mask", export("bert_mask")),
        ("t5_generate", export("t5_generate")),
        ("whisper_generate", export("whisper_generate")),
    ] {
        let l = Lowered::new(&program, 4).unwrap();
        let mid = program.nodes.len() / 2;
        for fault in [None, Some((mid, 0))] {
            let t = V4Trace::compute(&l, &program, &inputs, fault).unwrap();
            let run = zkopml_engine::activations(&program, &inputs, fault).unwrap();
            let outputs: Vec<Tensor> = program
                .outputs
                .iter()
                .map(|o| run[*o].clone().unwrap())
                .collect();
            assert_eq!(
                input_state(&l, &inputs).unwrap(),
                t.state_roots[0],
                "{name}, {fault:?}: S_0"
            );
            assert_eq!(
                output_state(&l, &outputs).unwrap(),
                t.final_state(),
                "{name}, {fault:?}: S_n"
            );
        }
        // A missing output, and an output with a value too many.
        let outputs = evaluate(&program, &inputs).unwrap();
        let err = output_state(&l, &outputs[..outputs.len() - 1]).unwrap_err();
        assert!(
            matches!(err, V4Error::BoundaryTensor { .. }),
            "{name}: {err}"
        );
        let mut long = outputs.clone();
        long[0].data.push(0);
        let err = output_state(&l, &long).unwrap_err();
        assert!(
            err.to_string().contains("values, the lowered value has"),
            "{name}: {err}"
        );
    }
}
