//! `logic_chunk` (`templates/logic.rs`): comparisons, `Not`/`And`/`Or`/`Xor`, `Where` and
//! `Cast` lowered onto the template library — the masking path of transformer exports and
//! the branch tests of tree ensembles. Every leaf is the statement the contract builds and
//! the lowered output is the engine's bit for bit (chunk borders, the partial last chunk,
//! `i32` extremes, zeros, equal operands); a forged value, an operand opened at another
//! chunk and a fault in a `Where` have no witness; one real Groth16 proof verifies and fails
//! for another kind or bounds.

use crate::common::{check_leaves, input, program};
use zkopml_engine::{import::Attr, Program, Tensor};
use zkopml_prover::{
    templates::{
        plan, template_prove, template_satisfied, template_stats, template_verify, LogicChunk,
        LogicTemplate, Template, TemplateKeyCache,
    },
    v4::{LeafInstance, Lowered, V4Trace},
};

const CHUNK: usize = zkopml_commit::CHUNK_VALUES;

/// `b` equal to `a` at every third position, its own values elsewhere.
fn pair(shape: &[usize]) -> (Tensor, Tensor) {
    let a = input(shape, 3);
    let mut b = input(shape, 4);
    for (k, v) in b.data.iter_mut().enumerate().filter(|(k, _)| k % 3 == 0) {
        *v = a.data[k];
    }
    (a, b)
}

#[test]
fn comparisons_and_connectives_lower_exactly_and_every_leaf_satisfies() {
    // 1,400 values: two whole chunks and a partial one.
    let shape = [2, 700];
    let (a, b) = pair(&shape);
    for op in [
        "Less",
        "LessOrEqual",
        "Greater",
        "GreaterOrEqual",
        "Equal",
        "And",
        "Or",
        "Xor",
    ] {
        let p = program(op, &[("a", &shape), ("b", &shape)], &[], &[]);
        let (_, _, leaves) = check_leaves(&p, &[a.clone(), b.clone()], false);
        assert_eq!(leaves[LogicTemplate::NAME], 3, "{op}");
    }
    let p = program("Not", &[("a", &shape)], &[], &[]);
    check_leaves(&p, &[a], false);
}

#[test]
fn where_with_a_broadcast_mask_and_a_broadcast_constant() {
    // The attention-mask pattern: a computed mask broadcast over rows (a gather operator),
    // a constant fill committed broadcast.
    let p = program(
        "Where",
        &[("mask", &[1, 700]), ("x", &[3, 700])],
        &[("fill", vec![1], vec![-40_000])],
        &[],
    );
    let (a, b) = pair(&[3, 700]);
    let mask = Tensor::new(vec![1, 700], a.data[..700].to_vec());
    let (_, _, leaves) = check_leaves(&p, &[mask, b], false);
    assert_eq!(leaves[LogicTemplate::NAME], 4);
    assert_eq!(leaves["gather_chunk/v1"], 4);
}

#[test]
fn casts_truncate_clamp_and_test_exactly() {
    let shape = [1, 1300];
    let mut x = input(&shape, 9);
    // Fractions either side of zero, exact integers, values past u8's range.
    for (k, v) in [
        -1,
        1,
        -4095,
        4095,
        -4096,
        4096,
        -4097,
        300 << 12,
        -(300 << 12),
    ]
    .into_iter()
    .enumerate()
    {
        x.data[3 + k] = v;
    }
    for to in [1, 2, 3, 7, 9] {
        let p = program("Cast", &[("x", &shape)], &[], &[("to", Attr::Int(to))]);
        check_leaves(&p, std::slice::from_ref(&x), false);
    }
}

/// The `Where` leaf of chunk `j` from a 3-chunk program.
fn where_leaf(j: usize) -> LogicChunk {
    let shape = [2, 700];
    let (a, b) = pair(&shape);
    let p = program(
        "Where",
        &[("c", &shape), ("x", &shape), ("y", &shape)],
        &[],
        &[],
    );
    let l = Lowered::new(&p, 1).unwrap();
    let t = V4Trace::compute(&l, &p, &[a.clone(), b, a], None).unwrap();
    match LeafInstance::new(&l, &t, 0, j).unwrap() {
        LeafInstance::Logic(i) => i,
        other => panic!("a logic_chunk leaf, not {}", other.template()),
    }
}

#[test]
fn forged_values_and_misplaced_operands_have_no_witness() {
    let honest = where_leaf(1);
    assert!(template_satisfied::<LogicTemplate>(&honest).unwrap());
    // A forged output value (the claimed digest is the forged chunk's).
    let mut forged = honest.clone();
    forged.forge = Some((100, honest.output()[100].wrapping_add(1)));
    assert_ne!(
        LogicTemplate::public_inputs(&forged)[6],
        LogicTemplate::public_inputs(&honest)[6]
    );
    assert!(!template_satisfied::<LogicTemplate>(&forged).unwrap());
    // An operand opened at another chunk of its tensor.
    let other = where_leaf(0);
    let mut moved = honest.clone();
    moved.b = other.b.clone();
    assert!(!template_satisfied::<LogicTemplate>(&moved).unwrap());
    // The same chunks under another operator's code.
    let mut kind = honest.clone();
    kind.op = zkopml_prover::templates::LogicOp::Cast(zkopml_engine::ops::Cast::Real);
    kind.forge = None;
    assert_ne!(kind.output(), honest.output());
    let mut claim = kind.clone();
    claim.op = honest.op;
    // The honest operator's code with the Cast's outputs claimed.
    let diff = (0..CHUNK)
        .find(|k| kind.output()[*k] != honest.output()[*k])
        .unwrap();
    claim.forge = Some((diff, kind.output()[diff]));
    assert!(!template_satisfied::<LogicTemplate>(&claim).unwrap());
}

/// A fault in a `Where`'s output is first visible at its leaf: built from the liar's own
/// trace, the leaf proves the honest chunk.
#[test]
fn a_fault_in_a_where_is_caught_at_its_leaf() {
    let shape = [2, 700];
    let (a, b) = pair(&shape);
    let p = program(
        "Where",
        &[("c", &shape), ("x", &shape), ("y", &shape)],
        &[],
        &[],
    );
    let l = Lowered::new(&p, 1).unwrap();
    let inputs = [a.clone(), b, a];
    let at = 900;
    let honest = V4Trace::compute(&l, &p, &inputs, None).unwrap();
    let liar = V4Trace::compute(&l, &p, &inputs, Some((0, at))).unwrap();
    let (out, j) = (l.ops[0].output, at / CHUNK);
    let (h, w) = (
        honest.tree(out).unwrap().leaves()[j],
        liar.tree(out).unwrap().leaves()[j],
    );
    assert_ne!(h, w);
    let inst = LeafInstance::new(&l, &liar, 0, j).unwrap();
    assert!(inst.is_satisfied().unwrap());
    assert_eq!(inst.digest(), h, "the leaf proves the honest chunk");
}

#[test]
fn a_real_proof_verifies_and_the_constraint_count_is_bounded() {
    let n = template_stats::<LogicTemplate>().unwrap();
    println!("{}: {n} constraints", LogicTemplate::NAME);
    assert!(n <= 1 << 19, "{n} constraints");
    // The last, partial chunk (168 values).
    let inst = where_leaf(2);
    assert_eq!(inst.a.values.len(), 1400 - 2 * CHUNK);
    let keys = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"))
        .get::<LogicTemplate>()
        .unwrap();
    let t = std::time::Instant::now();
    let p = template_prove(&keys, &inst).unwrap();
    println!("template_prove: {:.2} s", t.elapsed().as_secs_f64());
    template_verify(&keys, &p.public, &p.proof).unwrap();
    // Not for another chunk index, kind, bounds or digest.
    for at in [3, 4, 5, 6] {
        let mut public = p.public.clone();
        public[at] += ark_bn254::Fr::from(1u64);
        assert!(
            template_verify(&keys, &public, &p.proof).is_err(),
            "input {at}"
        );
    }
}

/// The masking path of the committed transformer exports and xgboost's branch tests: every
/// comparison, connective, `Where` and `Cast` node plans, or is refused only for a broadcast
/// that reads more chunks than gather_chunk's table holds.
#[test]
fn export_nodes_of_the_family_plan() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut planned = 0;
    for model in [
        "xgboost",
        "exports/bert_mask",
        "exports/t5_encoder",
        "exports/t5_decoder",
        "exports/whisper",
    ] {
        let graph = zkopml_engine::import::load_file(&root.join(model).join("model.onnx")).unwrap();
        let p = Program::compile(&graph, &std::collections::HashMap::new(), 1).unwrap();
        for node in &p.nodes {
            use zkopml_engine::ops::Op;
            if !matches!(
                node.op,
                Op::Compare(_) | Op::Logic(_) | Op::Where | Op::Cast(_)
            ) {
                continue;
            }
            match plan(&p, node) {
                Ok(_) => planned += 1,
                Err(e) => assert!(e.contains("more chunks"), "{model}: {}: {e}", node.name),
            }
        }
    }
    println!("{planned} comparison/logic/Where/Cast nodes plan");
    assert!(planned > 0);
}
