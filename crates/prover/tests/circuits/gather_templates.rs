//! `gather_chunk` (`templates/gather.rs`): `Transpose`, `Slice` (steps, negative ones),
//! `Expand`, `Tile` and broadcasting `Add`/`Mul` lowered onto the template library. Every
//! leaf of their operators satisfies the template and is the statement the contract builds,
//! the lowered output is the engine's bit for bit (chunk borders and the last, partial chunk
//! included), and a forged output value, a value read from the wrong source, or a chunk
//! opened at the wrong index has no witness; a fault in a transpose's output is caught at its
//! operator. One real Groth16 proof under the cached test keys; the constraint count and the
//! proving time are printed (`--nocapture`).

use crate::common::check_leaves;
use std::collections::HashMap;

use zkopml_engine::{
    evaluate,
    import::{Attr, Const, ConstData, Dim, Graph, GraphNode},
    Program, Tensor,
};
use zkopml_prover::{
    templates::{
        plan, template_prove, template_satisfied, template_stats, template_verify, GatherChunk,
        GatherTemplate, GatherView, Template, TemplateKeyCache, GATHER_SLOTS,
    },
    v4::{Data, LOpKind, LeafInstance, Lowered, V4Trace},
};

/// One node `y = op(inputs…)` over runtime inputs `inputs` and integer initializers.
fn program(
    op: &str,
    inputs: &[(&str, &[usize])],
    consts: &[(&str, Vec<i64>)],
    attrs: &[(&str, Attr)],
) -> Program {
    let graph = Graph {
        nodes: vec![GraphNode {
            name: "y".into(),
            op_type: op.into(),
            inputs: inputs
                .iter()
                .map(|(n, _)| n.to_string())
                .chain(consts.iter().map(|(n, _)| n.to_string()))
                .collect(),
            outputs: vec!["y".into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }],
        initializers: consts
            .iter()
            .map(|(n, v)| {
                (
                    n.to_string(),
                    Const {
                        shape: vec![v.len()],
                        data: ConstData::Int(v.clone()),
                    },
                )
            })
            .collect(),
        inputs: inputs
            .iter()
            .map(|(n, s)| (n.to_string(), s.iter().map(|d| Dim::Fixed(*d)).collect()))
            .collect(),
        outputs: vec!["y".into()],
        opset: 13,
    };
    Program::compile(&graph, &HashMap::new(), 1).unwrap()
}

/// Deterministic distinct-ish signed values with the `i32` extremes.
fn input(shape: &[usize], seed: u64) -> Tensor {
    let mut s = seed;
    let data = (0..shape.iter().product::<usize>())
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match i % 17 {
                0 => i32::MAX,
                1 => i32::MIN,
                _ => (s >> 32) as u32 as i32 >> (i % 23),
            }
        })
        .collect();
    Tensor::new(shape.to_vec(), data)
}

/// Lowers and runs `p`; checks the output against the engine, every gather operator's data
/// against its view, and every leaf of every operator (statement, digest; satisfied at the
/// first and the last chunk). Returns the number of gather leaves.
fn check(p: &Program, inputs: &[Tensor]) -> (Lowered, V4Trace, usize) {
    let (l, t, leaves) = check_leaves(p, inputs, false);
    for o in 0..l.ops.len() {
        if let LOpKind::Gather(view) = &l.ops[o].kind {
            let (Data::Narrow(x), Data::Narrow(y)) = (
                &*t.data(l.ops[o].inputs[0]).unwrap(),
                &*t.data(l.ops[o].output).unwrap(),
            ) else {
                panic!("gather reads and writes narrow tensors")
            };
            assert_eq!(view.apply(&x.data).unwrap(), y.data, "op {o}: the view");
        }
    }
    let chunks = zkopml_commit::chunk_count(evaluate(p, inputs).unwrap()[0].data.len()).max(1);
    assert_eq!(
        plan(p, &p.nodes[0]).unwrap().leaves,
        chunks * l.ops.len(),
        "the plan's leaf count"
    );
    let gathers = leaves.get(GatherTemplate::NAME).copied().unwrap_or(0);
    (l, t, gathers)
}

fn ints(v: &[i64]) -> Attr {
    Attr::Ints(v.to_vec())
}

#[test]
fn transpose_slice_expand_tile_lower_exactly_and_every_leaf_satisfies() {
    // Attention's head split [1, S, H, dh] → [1, H, S, dh]: 2 048 values, 4 chunks, the
    // last of 200.
    let p = program(
        "Transpose",
        &[("x", &[1, 8, 4, 64])],
        &[],
        &[("perm", ints(&[0, 2, 1, 3]))],
    );
    let (_, _, n) = check(&p, &[input(&[1, 8, 4, 64], 1)]);
    assert_eq!(n, 4);
    // A matrix transpose: [20, 30] → [30, 20].
    let p = program(
        "Transpose",
        &[("x", &[20, 30])],
        &[],
        &[("perm", ints(&[1, 0]))],
    );
    check(&p, &[input(&[20, 30], 2)]);
    // Slice with steps 3 and 2 on two axes and a reversed third: [6, 30, 20].
    let p = program(
        "Slice",
        &[("x", &[6, 30, 20])],
        &[
            ("starts", vec![1, 2, -1]),
            ("ends", vec![30, 19, -1000]),
            ("axes", vec![1, 2, 0]),
            ("steps", vec![3, 2, -1]),
        ],
        &[],
    );
    let (_, _, n) = check(&p, &[input(&[6, 30, 20], 3)]);
    assert!(n >= 1);
    // Expand [1, 100] → [30, 100] and [7, 1] → [7, 80] (a broadcast within each row).
    let p = program(
        "Expand",
        &[("x", &[1, 100])],
        &[("shape", vec![30, 100])],
        &[],
    );
    let (_, _, n) = check(&p, &[input(&[1, 100], 4)]);
    assert_eq!(n, 5, "3 000 values: 5 chunks, the last of 536");
    let p = program("Expand", &[("x", &[7, 1])], &[("shape", vec![7, 80])], &[]);
    check(&p, &[input(&[7, 1], 5)]);
    // Tile [5, 30] by [3, 2]: the period maps.
    let p = program("Tile", &[("x", &[5, 30])], &[("repeats", vec![3, 2])], &[]);
    check(&p, &[input(&[5, 30], 6)]);
}

#[test]
fn broadcasting_binary_lowers_through_a_gather() {
    // A computed row vector added to every row, and a column multiplied into every column:
    // one gather operator (the broadcast operand) then binary_chunk.
    let p = program("Add", &[("x", &[9, 200]), ("b", &[200])], &[], &[]);
    let (l, _, n) = check(&p, &[input(&[9, 200], 7), input(&[200], 8)]);
    assert_eq!(l.ops.len(), 2);
    assert_eq!(n, 3);
    let p = program("Mul", &[("x", &[9, 200]), ("c", &[9, 1])], &[], &[]);
    let (l, _, _) = check(&p, &[input(&[9, 200], 9), input(&[9, 1], 10)]);
    assert_eq!(l.ops.len(), 2);
    // A broadcast constant is committed broadcast: no gather operator.
    let graph_const = program("Add", &[("x", &[9, 200])], &[("k", vec![1; 200])], &[]);
    let l = Lowered::new(&graph_const, 2).unwrap();
    assert_eq!(l.ops.len(), 1);
}

#[test]
fn a_transpose_reading_too_many_chunks_is_refused_with_a_reason() {
    // [700, 700] → its transpose: an output chunk (616 values of one column) reads 616 rows.
    let p = program(
        "Transpose",
        &[("x", &[700, 700])],
        &[],
        &[("perm", ints(&[1, 0]))],
    );
    let e = plan(&p, &p.nodes[0]).unwrap_err();
    assert!(e.contains("more chunks"), "{e}");
    assert!(Lowered::new(&p, 1).is_err());
}

/// The gather leaf of output chunk `j` of a transpose, with X's data.
fn transpose_leaf(j: usize) -> (GatherChunk, Tensor) {
    let shape = [1, 8, 4, 64];
    let x = input(&shape, 11);
    let view = GatherView::transpose(&shape, &[0, 2, 1, 3]).unwrap();
    let tree = zkopml_commit::ChunkTree::of_values(&x.data);
    (
        GatherChunk::new(view, &shape, &x.data, &tree, j).unwrap(),
        x,
    )
}

#[test]
fn forged_values_wrong_sources_and_misplaced_chunks_have_no_witness() {
    let (honest, x) = transpose_leaf(1);
    assert!(template_satisfied::<GatherTemplate>(&honest).unwrap());
    let src = |k: usize| honest.view.source(616 + k).unwrap();

    // A forged output value (the claimed digest is the forged chunk's).
    let mut forged = honest.clone();
    forged.y[100] = forged.y[100].wrapping_add(1);
    assert_ne!(
        GatherTemplate::public_inputs(&forged)[4],
        GatherTemplate::public_inputs(&honest)[4]
    );
    assert!(!template_satisfied::<GatherTemplate>(&forged).unwrap());

    // A genuine value of X read from the wrong source (the next position, same chunk).
    let mut wrong = honest.clone();
    let k = (0..616)
        .find(|k| (src(*k) + 1) % 616 != 0 && x.data[src(*k) + 1] != x.data[src(*k)])
        .unwrap();
    wrong.y[k] = x.data[src(k) + 1];
    assert!(!template_satisfied::<GatherTemplate>(&wrong).unwrap());

    // A chunk opened at the wrong index: slot 0 holds chunk c0's values but claims the
    // index of slot 1's chunk, and the output reads those values where it reads that chunk.
    let mut moved = honest.clone();
    let (c0, c1) = (moved.slots[0].index, moved.slots[1].index);
    assert_ne!(c0, c1);
    moved.slots[0].index = c1;
    for (k, y) in moved.y.iter_mut().enumerate() {
        let s = src(k);
        if s / 616 == c1 {
            *y = x.data[c0 * 616 + s % 616];
        }
    }
    assert_ne!(moved.y, honest.y);
    assert!(!template_satisfied::<GatherTemplate>(&moved).unwrap());

    // Public parameters of another view (the identity) over the same claim.
    let mut other = honest.clone();
    other.view = GatherView::new(&[(2048, 1)], 0).unwrap();
    assert!(!template_satisfied::<GatherTemplate>(&other).unwrap());
}

#[test]
fn a_real_proof_verifies_and_the_constraint_count_is_bounded() {
    let n = template_stats::<GatherTemplate>().unwrap();
    println!(
        "{}: {n} constraints ({GATHER_SLOTS} slots)",
        GatherTemplate::NAME
    );
    assert!(n <= 1 << 19, "{n} constraints");
    // The last, partial chunk (200 values).
    let (inst, _) = transpose_leaf(3);
    assert_eq!(inst.y.len(), 200);
    let cache = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"));
    let keys = cache.get::<GatherTemplate>().unwrap();
    // Wall and process CPU time (this machine is shared: CPU time is the steadier figure).
    // In this profile `template_prove` first checks satisfiability (debug assertions), so
    // that synthesis is timed alone as well.
    let cpu = || {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let f: Vec<&str> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .collect();
        let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
        (tick(11) + tick(12)) / 100.0
    };
    let (t, c) = (std::time::Instant::now(), cpu());
    assert!(template_satisfied::<GatherTemplate>(&inst).unwrap());
    println!(
        "satisfiability: {:.2} s wall, {:.2} s CPU",
        t.elapsed().as_secs_f64(),
        cpu() - c
    );
    let (t, c) = (std::time::Instant::now(), cpu());
    let p = template_prove(&keys, &inst).unwrap();
    println!(
        "template_prove: {:.2} s wall, {:.2} s CPU",
        t.elapsed().as_secs_f64(),
        cpu() - c
    );
    template_verify(&keys, &p.public, &p.proof).unwrap();
    // The same proof does not verify for another chunk index or another claimed digest.
    for at in [1, 4] {
        let mut public = p.public.clone();
        public[at] += ark_bn254::Fr::from(1u64);
        assert!(template_verify(&keys, &public, &p.proof).is_err());
    }
}

/// What the library proves of the transformer exports and xgboost: per operator type, the
/// nodes that plan and the reasons of the rest (printed with `--nocapture`). Every
/// `Transpose`, `Expand` and `Slice`-family node plans or is refused for its table only.
#[test]
fn transformer_and_xgboost_nodes_plan_or_are_refused_with_a_reason() {
    use std::collections::BTreeMap;
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    for model in [
        "xgboost",
        "exports/bert_mask",
        "exports/t5_encoder",
        "exports/t5_decoder",
        "exports/whisper",
    ] {
        let path = root.join(model).join("model.onnx");
        let graph = zkopml_engine::import::load_file(&path).unwrap();
        let p = Program::compile(&graph, &HashMap::new(), 1).unwrap();
        let mut rows: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for node in &p.nodes {
            let r = plan(&p, node);
            let op = node.op.name();
            if matches!(op, "Transpose" | "Expand" | "Select") {
                assert!(
                    r.as_ref()
                        .map_or_else(|e| e.contains("more chunks"), |_| true),
                    "{model}: {} ({op}): {r:?}",
                    node.name
                );
            }
            let reason = match r {
                Ok(l) => l.template,
                Err(e) => e,
            };
            *rows.entry((op, reason)).or_default() += 1;
        }
        println!("{model}: {} nodes", p.nodes.len());
        for ((op, reason), n) in rows {
            println!("  {op:>16} × {n:<3} {reason}");
        }
    }
}

/// A fault in a `Transpose`'s output is first visible at its gather operator; the leaf built
/// from the liar's own trace proves the honest chunk, and the liar's chunk has no witness.
#[test]
fn a_fault_in_a_transpose_is_caught_at_its_gather_operator() {
    let shape = [1, 8, 4, 64];
    let p = program(
        "Transpose",
        &[("x", &shape)],
        &[],
        &[("perm", ints(&[0, 2, 1, 3]))],
    );
    let inputs = vec![input(&shape, 12)];
    let l = Lowered::new(&p, 1).unwrap();
    assert!(matches!(l.ops[..], [ref op] if matches!(op.kind, LOpKind::Gather(_))));
    let at = 700;
    let honest = V4Trace::compute(&l, &p, &inputs, None).unwrap();
    let liar = V4Trace::compute(&l, &p, &inputs, Some((0, at))).unwrap();
    assert_ne!(liar.root(), honest.root());
    let out = l.ops[0].output;
    let j = at / zkopml_commit::CHUNK_VALUES;
    let (h, w) = (
        honest.tree(out).unwrap().leaves()[j],
        liar.tree(out).unwrap().leaves()[j],
    );
    assert_ne!(h, w);
    let inst = LeafInstance::new(&l, &liar, 0, j).unwrap();
    assert!(inst.is_satisfied().unwrap());
    assert_eq!(inst.digest(), h);
    let LeafInstance::Gather(mut forged) = inst else {
        panic!("a gather_chunk leaf")
    };
    let Data::Narrow(lie) = &*liar.data(out).unwrap() else {
        panic!("narrow output")
    };
    let lo = j * zkopml_commit::CHUNK_VALUES;
    forged.y = lie.data[lo..(lo + zkopml_commit::CHUNK_VALUES).min(lie.data.len())].to_vec();
    assert_eq!(GatherTemplate::public_inputs(&forged)[4], w);
    assert!(!template_satisfied::<GatherTemplate>(&forged).unwrap());
}

/// A real model's head split and merge (all-MiniLM-L6-v2: 16 positions, 12 heads of 32)
/// read 19 runs of 32 values per output chunk, more chunks than the table holds: they lower
/// to two or three gather passes through intermediate layouts, bit for bit (the split's
/// leaves satisfied at their first and last chunk; the merge's output checked).
#[test]
fn a_scattered_head_split_lowers_in_passes() {
    for (shape, check_leaves) in [([1usize, 16, 12, 32], true), ([1, 12, 16, 32], false)] {
        let single = GatherView::transpose(&shape, &[0, 2, 1, 3]).unwrap();
        assert!(single.fits().is_err(), "{shape:?}: one pass does not fit");
        let p = program(
            "Transpose",
            &[("x", &shape)],
            &[],
            &[("perm", ints(&[0, 2, 1, 3]))],
        );
        let x = input(&shape, 5);
        let l = if check_leaves {
            let (l, _, n) = check(&p, std::slice::from_ref(&x));
            assert_eq!(n, l.ops.len() * zkopml_commit::chunk_count(x.data.len()));
            l
        } else {
            let l = Lowered::new(&p, 2).unwrap();
            let t = V4Trace::compute(&l, &p, std::slice::from_ref(&x), None).unwrap();
            let Data::Narrow(y) = &*t.data(l.outputs[0]).unwrap() else {
                panic!("narrow output")
            };
            assert_eq!(y, &evaluate(&p, &[x]).unwrap()[0]);
            l
        };
        assert!(
            (2..=3).contains(&l.ops.len()),
            "{shape:?}: {} passes",
            l.ops.len()
        );
    }
}

/// `GatherND` by constant tuples that read `X` in place (the dynamo exporter's read of the
/// attention mask) lowers to one strided view, bit for bit; a tuple out of range (the
/// engine's zeros, no view of `X`) is refused with the reason.
#[test]
fn gather_nd_by_constant_tuples_is_a_view() {
    // X[1, 2, :, :] of a [3, 4, 5, 40]: 200 values, one chunk.
    let p = program(
        "GatherND",
        &[("x", &[3, 4, 5, 40])],
        &[("i", vec![1, 2])],
        &[],
    );
    let (_, _, n) = check(&p, &[input(&[3, 4, 5, 40], 9)]);
    assert_eq!(n, 1);
    let p = program("GatherND", &[("x", &[3, 4, 5])], &[("i", vec![7, 0])], &[]);
    let e = plan(&p, &p.nodes[0]).unwrap_err();
    assert!(e.contains("no strided view"), "{e}");
    assert!(Lowered::new(&p, 1).is_err());
}
