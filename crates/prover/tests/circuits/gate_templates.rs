//! `gate_chunk` (`templates/activation.rs`): `HardSigmoid`, `HardSwish` and `Gelu` with
//! `approximate = "tanh"` (its argument and finish around `unary_chunk`'s `Tanh`) lowered
//! onto the template library — the gates of MobileNetV3-style exports. Every leaf is the
//! statement the contract builds and the lowered output is the engine's bit for bit; the
//! first chunk, synthesised, holds the edges (the `i32` extremes, `±3·2^F` and its
//! neighbours, GELU-tanh's clamp window `x_lo`, `x_hi` and their neighbours, negative
//! values, zero). A forged value, an operand opened at another chunk, another kind's outputs
//! and a fault have no witness; one real Groth16 proof (ignored by default) verifies and
//! fails for another kind or slope.

use crate::common::{check_leaves_where, input};
use zkopml_engine::{
    fixed::ONE,
    import::{Attr, Graph, GraphNode},
    ops::{gelu_tanh_arg, gelu_tanh_finish, gelu_tanh_q, hard_swish_q, tanh_q},
    Program, Tensor,
};
use zkopml_prover::{
    templates::{
        gelu_tanh_window, template_id, template_prove, template_satisfied, template_stats,
        template_verify, GateChunk, GateFn, GateTemplate, Template, TemplateKeyCache,
        UnaryTemplate, TEMPLATES,
    },
    v4::{LeafInstance, Lowered, V4Trace},
};

const CHUNK: usize = zkopml_commit::CHUNK_VALUES;

/// A one-node program `y = op(x)` at opset 20 (Gelu's).
fn gate_program(op: &str, shape: &[usize], attrs: &[(&str, Attr)]) -> Program {
    let graph = Graph {
        nodes: vec![GraphNode {
            name: "y".into(),
            op_type: op.into(),
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }],
        initializers: Default::default(),
        inputs: vec![(
            "x".into(),
            shape
                .iter()
                .map(|d| zkopml_engine::import::Dim::Fixed(*d))
                .collect(),
        )],
        outputs: vec!["y".into()],
        opset: 20,
    };
    Program::compile(&graph, &std::collections::HashMap::new(), 1).unwrap()
}

/// 1,400 values (two whole chunks and a partial one), the edges in the first chunk.
fn edge_input() -> Tensor {
    let mut x = input(&[2, 700], 5);
    let three = 3 * ONE as i32;
    let (lo, hi) = gelu_tanh_window();
    let (lo, hi) = (lo as i32, hi as i32);
    let edges = [
        i32::MIN,
        i32::MIN + 1,
        i32::MAX,
        i32::MAX - 1,
        0,
        1,
        -1,
        -three - 1,
        -three,
        -three + 1,
        three - 1,
        three,
        three + 1,
        -ONE as i32 * 3 / 2,
        -2047,
        -2048,
        -2049,
        lo - 1,
        lo,
        lo + 1,
        hi - 1,
        hi,
        hi + 1,
        -30_000,
        30_000,
        -12 << 12,
        6 << 12,
        -(1 << 20),
        1 << 20,
    ];
    for (k, v) in edges.into_iter().enumerate() {
        x.data[5 + k] = v;
    }
    // A sweep through the quadratic and the window: every 37th value of (−2^15, 2^15).
    for k in 0..300 {
        x.data[100 + k] = -(1 << 15) + 219 * k as i32;
    }
    x
}

/// The lowering's output is the engine's; every leaf is the contract's statement; the first
/// chunk's leaves (the edges) are satisfied. Returns the leaves per template.
fn check(p: &Program) -> std::collections::BTreeMap<&'static str, usize> {
    let (_, _, leaves) = check_leaves_where(p, &[edge_input()], &|_, _, j, _| j == 0);
    leaves
}

#[test]
fn hard_sigmoid_and_hard_swish_lower_exactly_at_the_edges() {
    // torch's HardSigmoid (alpha 1/6) and ONNX's default (0.2, 0.5).
    let p = gate_program(
        "HardSigmoid",
        &[2, 700],
        &[
            ("alpha", Attr::Float(1.0 / 6.0)),
            ("beta", Attr::Float(0.5)),
        ],
    );
    assert_eq!(check(&p)[GateTemplate::NAME], 3);
    let p = gate_program("HardSigmoid", &[2, 700], &[]);
    check(&p);
    let p = gate_program("HardSwish", &[2, 700], &[]);
    assert_eq!(check(&p)[GateTemplate::NAME], 3);
}

#[test]
fn gelu_tanh_lowers_in_three_leaves_per_chunk_exactly_at_the_edges() {
    let p = gate_program(
        "Gelu",
        &[2, 700],
        &[("approximate", Attr::Str("tanh".into()))],
    );
    let leaves = check(&p);
    assert_eq!(leaves[GateTemplate::NAME], 6, "argument and finish");
    assert_eq!(leaves[UnaryTemplate::NAME], 3, "tanh");
}

/// The clamp window is two comparisons of `x` because the inner argument is monotone: its
/// bounds are exactly where the engine's clamp starts, and the three stages compose to the
/// engine's GELU-tanh.
#[test]
fn the_clamp_window_is_exact_and_the_stages_compose_to_the_engine() {
    let (lo, hi) = gelu_tanh_window();
    let inner = |x: i64| {
        let x = x as i128;
        ((x << 54) + x * x * x * zkopml_engine::ops::GELU_CUBIC_Q30 as i128) >> 24
    };
    let b = 16i128 << 42;
    assert!(inner(hi) <= b && inner(hi + 1) > b, "x_hi = {hi}");
    assert!(inner(lo) >= -b && inner(lo - 1) < -b, "x_lo = {lo}");
    assert!(hi < 1 << 15 && lo > -(1 << 15));
    for x in (-(1 << 16)..(1 << 16))
        .step_by(7)
        .chain([i32::MIN, i32::MAX])
    {
        let t = tanh_q(GateFn::GeluTanhArg.apply(x, 0));
        assert_eq!(
            GateFn::GeluTanhFinish.apply(x, t),
            gelu_tanh_q(x),
            "x = {x}"
        );
        assert_eq!(
            gelu_tanh_finish(x, tanh_q(gelu_tanh_arg(x))),
            gelu_tanh_q(x)
        );
        assert_eq!(GateFn::HardSwish.apply(x, 0), hard_swish_q(x));
    }
}

/// The leaf of operator `o`, chunk `j`, of a 3-chunk GELU-tanh program (0: argument, 2:
/// finish).
fn gelu_leaf(o: usize, j: usize) -> GateChunk {
    let p = gate_program(
        "Gelu",
        &[2, 700],
        &[("approximate", Attr::Str("tanh".into()))],
    );
    let l = Lowered::new(&p, 1).unwrap();
    let t = V4Trace::compute(&l, &p, &[edge_input()], None).unwrap();
    match LeafInstance::new(&l, &t, o, j).unwrap() {
        LeafInstance::Gate(i) => i,
        other => panic!("a gate_chunk leaf, not {}", other.template()),
    }
}

#[test]
fn forged_values_misplaced_operands_and_other_kinds_have_no_witness() {
    let honest = gelu_leaf(2, 0);
    assert_eq!(honest.kind, GateFn::GeluTanhFinish);
    assert!(template_satisfied::<GateTemplate>(&honest).unwrap());
    // A forged output value at an edge (the claimed digest is the forged chunk's).
    let mut forged = honest.clone();
    forged.forge = Some((5, honest.output()[5].wrapping_add(1)));
    assert!(!template_satisfied::<GateTemplate>(&forged).unwrap());
    // T opened at another chunk of its tensor.
    let mut moved = honest.clone();
    moved.t = gelu_leaf(2, 1).t;
    assert!(!template_satisfied::<GateTemplate>(&moved).unwrap());
    // The argument's chunk claimed under HardSwish's code: the outputs differ somewhere.
    let arg = gelu_leaf(0, 0);
    let mut claim = arg.clone();
    claim.kind = GateFn::HardSwish;
    let diff = (0..CHUNK)
        .find(|k| claim.output()[*k] != arg.output()[*k])
        .unwrap();
    claim.forge = Some((diff, arg.output()[diff]));
    assert!(!template_satisfied::<GateTemplate>(&claim).unwrap());
}

/// A fault in a HardSwish's output is first visible at its leaf: built from the liar's own
/// trace, the leaf proves the honest chunk.
#[test]
fn a_fault_in_a_hard_swish_is_caught_at_its_leaf() {
    let p = gate_program("HardSwish", &[2, 700], &[]);
    let l = Lowered::new(&p, 1).unwrap();
    let at = 900;
    let x = [edge_input()];
    let honest = V4Trace::compute(&l, &p, &x, None).unwrap();
    let liar = V4Trace::compute(&l, &p, &x, Some((0, at))).unwrap();
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
fn the_constraint_count_is_bounded_and_the_template_is_appended() {
    let n = template_stats::<GateTemplate>().unwrap();
    println!("{}: {n} constraints", GateTemplate::NAME);
    assert!(n <= 1 << 19, "{n} constraints");
    let id = template_id(GateTemplate::NAME).unwrap() as usize;
    assert_eq!(TEMPLATES[id - 1], GateTemplate::NAME);
    assert!(id > template_id("layernorm_finish/v1").unwrap() as usize);
}

/// Ignored by default (its keys take minutes in the test profile on the shared machine); run
/// with `--include-ignored`.
#[test]
#[ignore]
fn a_real_proof_verifies_and_fails_for_another_kind_or_slope() {
    // The last, partial chunk (168 values) of the finish.
    let inst = gelu_leaf(2, 2);
    assert_eq!(inst.x.values.len(), 1400 - 2 * CHUNK);
    let keys = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"))
        .get::<GateTemplate>()
        .unwrap();
    let t = std::time::Instant::now();
    let p = template_prove(&keys, &inst).unwrap();
    println!("template_prove: {:.2} s", t.elapsed().as_secs_f64());
    template_verify(&keys, &p.public, &p.proof).unwrap();
    for at in [2, 3, 4, 5, 6] {
        let mut public = p.public.clone();
        public[at] += ark_bn254::Fr::from(1u64);
        assert!(
            template_verify(&keys, &public, &p.proof).is_err(),
            "input {at}"
        );
    }
}
