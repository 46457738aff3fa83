//! `div_chunk` (`templates/binary.rs`), `sqrt_chunk`, `pow_chunk` and `sqrt_wide`
//! (`templates/math.rs`): `Div` (a computed or a constant divisor; `Reciprocal` is
//! `Div(1, x)`), `Sqrt`, `Pow` with a constant integer exponent and `ReduceL2` lowered onto the
//! template library — the normalisation arithmetic of transformer exports (T5's RMSNorm,
//! attention scaling, mean pooling). Every leaf is the statement the contract builds and the
//! lowered output is the engine's bit for bit (division by zero, signs, `i32` extremes,
//! exponents 0 to 8, saturating norms, chunk borders); forged values and operands opened at
//! another chunk have no witness; a fault is caught at its leaf; the export nodes of the
//! family plan. Real Groth16 proofs: `sqrt_chunk` always, the other three behind `--ignored`
//! (`prove_times`, also the release timing of the report).

use crate::common::{check_leaves, input, program};
use zkopml_engine::{import::Attr, ops::BinaryKind, Program, Tensor};
use zkopml_prover::{
    templates::{
        plan, template_id, template_prove, template_satisfied, template_stats, template_verify,
        DivChunk, DivTemplate, PowChunk, PowTemplate, SqrtChunk, SqrtTemplate, SqrtWideChunk,
        SqrtWideTemplate, Template, TemplateKeyCache,
    },
    v4::{LeafInstance, Lowered, V4Trace},
};

const CHUNK: usize = zkopml_commit::CHUNK_VALUES;

/// The values every kernel is tested at.
const EDGES: [i32; 15] = [
    i32::MIN,
    i32::MIN + 1,
    -(1 << 24),
    -4097,
    -4096,
    -2048,
    -1,
    0,
    1,
    2047,
    2048,
    4096,
    1 << 24,
    i32::MAX - 1,
    i32::MAX,
];

/// `a` and `b` of `shape` holding every pair of [`EDGES`] first, then `input`'s values with
/// zeros in `b` at every fifth position.
fn operands(shape: &[usize]) -> (Tensor, Tensor) {
    let mut a = input(shape, 11);
    let mut b = input(shape, 12);
    for v in b.data.iter_mut().step_by(5) {
        *v = 0;
    }
    for (i, x) in EDGES.iter().enumerate() {
        for (k, y) in EDGES.iter().enumerate() {
            a.data[i * EDGES.len() + k] = *x;
            b.data[i * EDGES.len() + k] = *y;
        }
    }
    (a, b)
}

/// The only leaf instance of template operator `o`, chunk `j`, of `p` on `inputs`.
fn leaf(p: &Program, inputs: &[Tensor], o: usize, j: usize) -> LeafInstance {
    let l = Lowered::new(p, 1).unwrap();
    let t = V4Trace::compute(&l, p, inputs, None).unwrap();
    LeafInstance::new(&l, &t, o, j).unwrap()
}

fn div_leaf(j: usize) -> DivChunk {
    let shape = [2, 700];
    let (a, b) = operands(&shape);
    let p = program("Div", &[("a", &shape), ("b", &shape)], &[], &[]);
    match leaf(&p, &[a, b], 0, j) {
        LeafInstance::Div(i) => i,
        other => panic!("a div_chunk leaf, not {}", other.template()),
    }
}

#[test]
fn div_lowers_exactly_at_zero_divisors_signs_and_extremes() {
    // Two whole chunks and a partial one (the 225 edge pairs in chunk 0).
    let shape = [2, 700];
    let (a, b) = operands(&shape);
    let p = program("Div", &[("a", &shape), ("b", &shape)], &[], &[]);
    let (_, _, leaves) = check_leaves(&p, &[a, b], false);
    assert_eq!(leaves[DivTemplate::NAME], 3);
    // The kernel at the edges, as the template proves it (the committed output is the
    // engine's, checked above): division by zero by the sign of a, i32::MIN / −1 saturated.
    let d = |x, y| BinaryKind::Div.apply(x, y, 0);
    assert_eq!(d(5, 0), i32::MAX);
    assert_eq!(d(-5, 0), i32::MIN);
    assert_eq!(d(0, 0), 0);
    assert_eq!(d(i32::MIN, -4096), i32::MAX);
    assert_eq!(d(-4097, 8192), -2048); // −0.50012 rounds half up to −0.5
    assert_eq!(d(4096, -8192), -2048);
}

#[test]
fn constant_divisors_reciprocal_and_broadcast_divisors_lower_exactly() {
    let shape = [2, 300];
    let (a, b) = operands(&shape);
    // Attention scaling: a constant scalar committed broadcast; also a zero divisor.
    for c in [4, 0] {
        let p = program("Div", &[("a", &shape)], &[("c", vec![], vec![c])], &[]);
        let (_, _, leaves) = check_leaves(&p, std::slice::from_ref(&a), true);
        assert_eq!(leaves[DivTemplate::NAME], 1, "Div by {c}");
    }
    // T5's Reciprocal(Sqrt(…)): Div(1, x), zeros and negatives in x.
    let p = program("Reciprocal", &[("b", &shape)], &[], &[]);
    check_leaves(&p, std::slice::from_ref(&b), true);
    // Mean pooling: a computed divisor of shape [2, 1] broadcast by a gather.
    let p = program("Div", &[("a", &shape), ("n", &[2, 1])], &[], &[]);
    let n = Tensor::new(vec![2, 1], vec![0, -7 << 12]);
    let (_, _, leaves) = check_leaves(&p, &[a, n], true);
    assert_eq!(leaves[DivTemplate::NAME], 1);
    assert_eq!(leaves["gather_chunk/v1"], 1);
    // Neg is Sub(0, x): binary_chunk with a broadcast constant (planned, not proved here).
    let p = program("Neg", &[("b", &shape)], &[], &[]);
    assert_eq!(plan(&p, &p.nodes[0]).unwrap().template, "binary_chunk/v1");
}

#[test]
fn sqrt_and_pow_lower_exactly_for_every_exponent() {
    // One chunk (the other tests cover chunk borders).
    let shape = [1, 600];
    let mut x = input(&shape, 5);
    x.data[3..3 + EDGES.len()].copy_from_slice(&EDGES);
    // Perfect squares and the rounding boundary of sqrt_q around 1.0 and 2.0.
    for (k, v) in [4095, 4097, 1, 2, 3, 16384, 16383, 16385]
        .into_iter()
        .enumerate()
    {
        x.data[40 + k] = v;
    }
    let p = program("Sqrt", &[("x", &shape)], &[], &[]);
    let (_, _, leaves) = check_leaves(&p, std::slice::from_ref(&x), true);
    assert_eq!(leaves[SqrtTemplate::NAME], 1);
    // Small values too, where powers neither saturate nor vanish.
    for (k, v) in x.data.iter_mut().enumerate().filter(|(k, _)| k % 3 == 0) {
        *v = (*v >> 16) + (k as i32 % 9 - 4);
    }
    for e in [0, 1, 2, 3, 8] {
        let p = program("Pow", &[("x", &shape)], &[("e", vec![], vec![e])], &[]);
        let (_, _, leaves) = check_leaves(&p, std::slice::from_ref(&x), true);
        assert_eq!(leaves[PowTemplate::NAME], 1, "exponent {e}");
    }
}

#[test]
fn reduce_l2_lowers_exactly_on_trailing_and_moved_axes() {
    let shape = [3, 400];
    let mut x = input(&shape, 7);
    // A group of zeros (norm 0) and a small one; the last holds i32 extremes (saturating).
    x.data[..400].fill(0);
    for (k, v) in x.data[400..800].iter_mut().enumerate() {
        *v = (k as i32 % 11) - 5;
    }
    let axes = |a: Vec<i64>| vec![("axes", Attr::Ints(a)), ("keepdims", Attr::Int(1))];
    let p = program("ReduceL2", &[("x", &shape)], &[], &axes(vec![1]));
    let (_, _, leaves) = check_leaves(&p, std::slice::from_ref(&x), true);
    assert_eq!(leaves[SqrtWideTemplate::NAME], 1);
    // Blocks: min(n, chunks of X) = 2.
    assert_eq!(leaves["group_block/v1"], 2);
    let y = zkopml_engine::evaluate(&p, std::slice::from_ref(&x)).unwrap();
    assert_eq!(y[0].data[0], 0);
    assert_eq!(y[0].data[2], i32::MAX);
    // Axis 0 of [3, 200]: the groups are strided, moved to the end by a gather first.
    let shape = [3, 200];
    let x = Tensor::new(shape.to_vec(), x.data[600..1200].to_vec());
    let p = program("ReduceL2", &[("x", &shape)], &[], &axes(vec![0]));
    let (_, _, leaves) = check_leaves(&p, &[x], true);
    assert_eq!(leaves["gather_chunk/v1"], 1);
    assert_eq!(leaves["group_block/v1"], 1);
    assert_eq!(leaves[SqrtWideTemplate::NAME], 1);
}

#[test]
fn forged_values_and_misplaced_operands_have_no_witness() {
    // div_chunk: a forged value at a zero divisor, and the divisor of another chunk.
    let honest = div_leaf(0);
    assert!(template_satisfied::<DivTemplate>(&honest).unwrap());
    let zero_at = 7 * EDGES.len() + 7; // 0 / 0
    assert_eq!(honest.output()[zero_at], 0);
    for (at, v) in [(zero_at, 1), (zero_at + 1, i32::MIN)] {
        let mut forged = honest.clone();
        forged.forge = Some((at, v));
        assert_ne!(forged.output(), honest.output());
        assert!(!template_satisfied::<DivTemplate>(&forged).unwrap(), "{at}");
    }
    let mut moved = honest.clone();
    moved.b = div_leaf(1).b;
    assert!(!template_satisfied::<DivTemplate>(&moved).unwrap());

    // sqrt_chunk and pow_chunk: one off the rounded value; pow under another exponent.
    let shape = [1, 700];
    let mut x = input(&shape, 9);
    x.data[616] = 9 << 12; // chunk 1 differs from chunk 0 at its first value
    let p = program("Sqrt", &[("x", &shape)], &[], &[]);
    let LeafInstance::Sqrt(s) = leaf(&p, std::slice::from_ref(&x), 0, 0) else {
        panic!("sqrt leaf")
    };
    assert!(template_satisfied::<SqrtTemplate>(&s).unwrap());
    let k = (0..CHUNK).find(|k| s.output()[*k] > 10).unwrap();
    let mut f = s.clone();
    f.forge = Some((k, s.output()[k] - 1));
    assert!(!template_satisfied::<SqrtTemplate>(&f).unwrap());
    // Chunk 1's values and path claimed at chunk 0.
    let mut f: SqrtChunk = s.clone();
    f.x = match leaf(&p, std::slice::from_ref(&x), 0, 1) {
        LeafInstance::Sqrt(o) => o.x,
        _ => panic!("sqrt leaf"),
    };
    f.x.index = 0;
    assert!(!template_satisfied::<SqrtTemplate>(&f).unwrap());

    let small = Tensor::new(shape.to_vec(), x.data.iter().map(|v| v >> 14).collect());
    let p = program("Pow", &[("x", &shape)], &[("e", vec![], vec![3])], &[]);
    let LeafInstance::Pow(pw) = leaf(&p, std::slice::from_ref(&small), 0, 0) else {
        panic!("pow leaf")
    };
    assert!(template_satisfied::<PowTemplate>(&pw).unwrap());
    let k = (0..CHUNK).find(|k| pw.output()[*k].abs() > 10).unwrap();
    let mut f = pw.clone();
    f.forge = Some((k, pw.output()[k] + 1));
    assert!(!template_satisfied::<PowTemplate>(&f).unwrap());
    // The cube's outputs claimed under exponent 2.
    let claim = PowChunk {
        exponent: 2,
        forge: Some((k, pw.output()[k])),
        ..pw.clone()
    };
    assert_ne!(
        claim.output()[k],
        PowChunk {
            forge: None,
            ..claim.clone()
        }
        .output()[k]
    );
    assert!(!template_satisfied::<PowTemplate>(&claim).unwrap());

    // sqrt_wide: a forged norm.
    let shape = [3, 700];
    let p = program(
        "ReduceL2",
        &[("x", &shape)],
        &[],
        &[("axes", Attr::Ints(vec![1]))],
    );
    let x = Tensor::new(
        shape.to_vec(),
        input(&shape, 2).data.iter().map(|v| v >> 12).collect(),
    );
    let l = Lowered::new(&p, 1).unwrap();
    let last = l.ops.len() - 1;
    let LeafInstance::SqrtWide(w) = leaf(&p, &[x], last, 0) else {
        panic!("sqrt_wide leaf")
    };
    assert!(template_satisfied::<SqrtWideTemplate>(&w).unwrap());
    let f = SqrtWideChunk {
        forge: Some((1, w.output()[1] + 1)),
        ..w.clone()
    };
    assert!(!template_satisfied::<SqrtWideTemplate>(&f).unwrap());
}

/// A fault in a `Div`'s output is first visible at its leaf: built from the liar's own
/// trace, the leaf proves the honest chunk.
#[test]
fn a_fault_in_a_div_is_caught_at_its_leaf() {
    let shape = [2, 700];
    let (a, b) = operands(&shape);
    let p = program("Div", &[("a", &shape), ("b", &shape)], &[], &[]);
    let l = Lowered::new(&p, 1).unwrap();
    let inputs = [a, b];
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

/// Constraint counts, and a real proof of `sqrt_chunk` that verifies and fails for another
/// chunk index or digest.
#[test]
fn a_real_sqrt_proof_verifies_and_the_constraint_counts_are_bounded() {
    for (name, n) in [
        (DivTemplate::NAME, template_stats::<DivTemplate>().unwrap()),
        (
            SqrtTemplate::NAME,
            template_stats::<SqrtTemplate>().unwrap(),
        ),
        (PowTemplate::NAME, template_stats::<PowTemplate>().unwrap()),
        (
            SqrtWideTemplate::NAME,
            template_stats::<SqrtWideTemplate>().unwrap(),
        ),
    ] {
        println!("{name}: {n} constraints");
        assert!(n <= 1 << 18, "{name}: {n} constraints");
    }
    // Appended after the eighteen earlier templates (16 + gather_index, argmax_mark), in this order; ids never move.
    for (k, name) in [
        DivTemplate::NAME,
        SqrtTemplate::NAME,
        PowTemplate::NAME,
        SqrtWideTemplate::NAME,
    ]
    .into_iter()
    .enumerate()
    {
        assert_eq!(template_id(name), Some(19 + k as u64), "{name}");
    }
    let shape = [1, 700];
    let p = program("Sqrt", &[("x", &shape)], &[], &[]);
    let LeafInstance::Sqrt(inst) = leaf(&p, &[input(&shape, 4)], 0, 1) else {
        panic!("sqrt leaf")
    };
    let keys = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"))
        .get::<SqrtTemplate>()
        .unwrap();
    let t = std::time::Instant::now();
    let proof = template_prove(&keys, &inst).unwrap();
    println!("sqrt_chunk prove: {:.2} s", t.elapsed().as_secs_f64());
    template_verify(&keys, &proof.public, &proof.proof).unwrap();
    for at in [1, 2] {
        let mut public = proof.public.clone();
        public[at] += ark_bn254::Fr::from(1u64);
        assert!(template_verify(&keys, &public, &proof.proof).is_err());
    }
}

/// One real proof of each of the four templates, timed (`cargo test --release -p
/// zkopml-prover --test circuits -- --ignored arith_templates::prove_times --nocapture`).
#[test]
#[ignore = "four key setups: minutes"]
fn prove_times() {
    fn timed<T: Template>(inst: &T::Instance) {
        let cache = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"));
        let t = std::time::Instant::now();
        let keys = cache.get::<T>().unwrap();
        let setup = t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        let proof = template_prove(&keys, inst).unwrap();
        let prove = t.elapsed().as_secs_f64();
        template_verify(&keys, &proof.public, &proof.proof).unwrap();
        let mut public = proof.public.clone();
        *public.last_mut().unwrap() += ark_bn254::Fr::from(1u64);
        assert!(template_verify(&keys, &public, &proof.proof).is_err());
        println!(
            "{}: {} constraints, keys {setup:.2} s, prove {prove:.2} s",
            T::NAME,
            template_stats::<T>().unwrap()
        );
    }
    timed::<DivTemplate>(&div_leaf(0));
    let shape = [1, 700];
    let x = input(&shape, 4);
    let p = program("Sqrt", &[("x", &shape)], &[], &[]);
    let LeafInstance::Sqrt(s) = leaf(&p, std::slice::from_ref(&x), 0, 0) else {
        panic!("sqrt leaf")
    };
    timed::<SqrtTemplate>(&s);
    let p = program("Pow", &[("x", &shape)], &[("e", vec![], vec![2])], &[]);
    let LeafInstance::Pow(pw) = leaf(&p, std::slice::from_ref(&x), 0, 0) else {
        panic!("pow leaf")
    };
    timed::<PowTemplate>(&pw);
    let shape = [616, 8];
    let p = program(
        "ReduceL2",
        &[("x", &shape)],
        &[],
        &[("axes", Attr::Ints(vec![1]))],
    );
    let l = Lowered::new(&p, 1).unwrap();
    let last = l.ops.len() - 1;
    let LeafInstance::SqrtWide(w) = leaf(&p, &[input(&shape, 8)], last, 0) else {
        panic!("sqrt_wide leaf")
    };
    timed::<SqrtWideTemplate>(&w);
}

/// Every Div, Sqrt, Pow, ReduceL2, Reciprocal and Neg node of the committed transformer
/// exports plans (Reciprocal lowers to Div, Neg to Sub).
#[test]
fn export_nodes_of_the_family_plan() {
    use zkopml_engine::ops::{Op, ReduceKind, UnaryKind};
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut planned = std::collections::BTreeMap::<&str, usize>::new();
    for model in [
        "exports/bert_mask",
        "exports/t5_encoder",
        "exports/t5_decoder",
        "exports/whisper",
    ] {
        let graph = zkopml_engine::import::load_file(&root.join(model).join("model.onnx")).unwrap();
        let p = Program::compile(&graph, &std::collections::HashMap::new(), 1).unwrap();
        for node in &p.nodes {
            let family = match &node.op {
                Op::Binary(BinaryKind::Div) => "Div",
                Op::Unary(UnaryKind::Sqrt) => "Sqrt",
                Op::Pow(_) => "Pow",
                Op::Reduce(r) if r.kind == ReduceKind::L2 => "ReduceL2",
                _ => continue,
            };
            let r = plan(&p, node);
            assert!(r.is_ok(), "{model}: {}: {r:?}", node.name);
            *planned.entry(family).or_default() += 1;
        }
    }
    println!("{planned:?}");
    assert_eq!(planned.len(), 4, "{planned:?}");
}
