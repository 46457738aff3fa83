//! `gather_index` (`templates/gather.rs`): `Gather` and `GatherElements` with computed
//! indices — the embedding lookup of the transformer exports (a constant table, token ids
//! from the input) and xgboost's tree walk — and `Conv1d` on `conv_block` as a 2-D
//! convolution of height 1, and `ArgMax` through `argmax_mark`. Every leaf is the statement the contract builds and the lowered
//! output is the engine's bit for bit (first and last rows, negative indices, indices that
//! round half up, indices out of range reading 0, `i32` extremes); a forged value, a table
//! chunk the indices do not name and indices opened at another chunk have no witness; a
//! fault is caught at its leaf; one real Groth16 proof verifies.

use std::collections::HashMap;

use crate::common::{check_leaves_where, input};
use zkopml_engine::{
    import::{Attr, Const, ConstData, Dim, Graph, GraphNode},
    Program, Tensor,
};
use zkopml_prover::{
    templates::{
        plan, template_prove, template_satisfied, template_stats, template_verify,
        ArgMaxMarkTemplate, GatherIndexChunk, GatherIndexTemplate, GatherTemplate, Template,
        TemplateKeyCache, INDEX_SLOTS,
    },
    v4::{LeafInstance, Lowered, V4Trace},
};

const CHUNK: usize = zkopml_commit::CHUNK_VALUES;
/// `2^F`: an index `k` is the fixed-point value `k·2^F`.
const ONE: i32 = 1 << zkopml_engine::fixed::FRAC_BITS;

/// One node `y = op(node_inputs…)` whose operands are runtime inputs (`runtime`) or integer
/// initializers (`consts`), in the node's own order.
fn one_node(
    op: &str,
    node_inputs: &[&str],
    runtime: &[(&str, &[usize])],
    consts: &[(&str, Vec<usize>, Vec<i64>)],
    attrs: &[(&str, Attr)],
) -> Program {
    let graph = Graph {
        nodes: vec![GraphNode {
            name: "y".into(),
            op_type: op.into(),
            inputs: node_inputs.iter().map(|n| n.to_string()).collect(),
            outputs: vec!["y".into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }],
        initializers: consts
            .iter()
            .map(|(n, shape, v)| {
                (
                    n.to_string(),
                    Const {
                        shape: shape.clone(),
                        data: ConstData::Int(v.clone()),
                    },
                )
            })
            .collect(),
        inputs: runtime
            .iter()
            .map(|(n, s)| (n.to_string(), s.iter().map(|d| Dim::Fixed(*d)).collect()))
            .collect(),
        outputs: vec!["y".into()],
        opset: 13,
    };
    Program::compile(&graph, &HashMap::new(), 1).unwrap()
}

/// An embedding table `[v, d]` (distinct small integers) looked up by `ids` of shape `[1, n]`.
fn embedding(v: usize, d: usize, n: usize) -> Program {
    let table = (0..v * d).map(|i| (i % 4001) as i64 - 2000).collect();
    one_node(
        "Gather",
        &["table", "ids"],
        &[("ids", &[1, n])],
        &[("table", vec![v, d], table)],
        &[("axis", Attr::Int(0))],
    )
}

/// Token ids at the edges of a table of `v` rows: first, last, negative (from the end),
/// rounding half up, out of range either side, the `i32` extremes; then a cycle.
fn edge_ids(v: usize, n: usize) -> Tensor {
    let v = v as i32;
    let mut ids = vec![
        0,
        (v - 1) * ONE,
        -ONE,                    // v − 1
        -v * ONE,                // 0
        v * ONE,                 // out of range: zeros
        -(v + 1) * ONE,          // out of range: zeros
        2 * ONE + ONE / 2,       // 2.5 rounds to 3
        2 * ONE + ONE / 2 - 1,   // just below: 2
        -(2 * ONE + ONE / 2),    // −2.5 rounds to −2: v − 2
        (v - 1) * ONE + ONE / 2, // rounds to v: out of range
        i32::MAX,
        i32::MIN,
    ];
    let mut k = 1;
    while ids.len() < n {
        ids.push((k * 7 % v) * ONE);
        k += 1;
    }
    ids.truncate(n);
    Tensor::new(vec![1, n], ids)
}

/// The new templates' leaves are synthesised (every chunk); the others' statements are
/// checked, their circuits have their own tests.
fn new_only(_: usize, t: &str, _: usize, _: usize) -> bool {
    t == GatherIndexTemplate::NAME || t == ArgMaxMarkTemplate::NAME
}

/// [`new_only`] at the first and the last chunk.
fn new_ends(o: usize, t: &str, j: usize, chunks: usize) -> bool {
    new_only(o, t, j, chunks) && (j == 0 || j + 1 == chunks)
}

#[test]
fn embedding_lookups_lower_exactly_at_every_index_edge() {
    // 100 × 32 (six chunks: the table's whole), 24 ids: two output chunks, rows across
    // chunk borders.
    let p = embedding(100, 32, 24);
    let ids = edge_ids(100, 24);
    let (_, t, leaves) = check_leaves_where(&p, std::slice::from_ref(&ids), &new_only);
    assert_eq!(leaves[GatherIndexTemplate::NAME], 2);
    assert_eq!(
        leaves[GatherTemplate::NAME],
        2,
        "the ids moved to the output positions"
    );
    // The engine's semantics, spelled out: out of range reads zeros, −1 the last row.
    let y = zkopml_engine::evaluate(&p, &[ids]).unwrap().remove(0);
    assert!(y.data[4 * 32..6 * 32].iter().all(|v| *v == 0));
    assert_eq!(y.data[2 * 32..3 * 32], y.data[32..2 * 32]);
    drop(t);
}

#[test]
fn a_large_vocabulary_costs_the_same_leaf() {
    // MiniLM's row width (384) over 1,000 rows: 624 chunks of table, each output chunk
    // opens at most INDEX_SLOTS of them, chosen by the ids.
    let (v, d) = (1000, 384);
    let p = embedding(v, d, 5);
    let node_plan = plan(&p, &p.nodes[0]).unwrap();
    assert_eq!(node_plan.leaves, 2 * (5 * d).div_ceil(CHUNK));
    let ids = Tensor::new(
        vec![1, 5],
        vec![0, 999 * ONE, 500 * ONE + 7, -ONE, 123 * ONE],
    );
    let (_, _, leaves) = check_leaves_where(&p, &[ids], &new_ends);
    assert_eq!(leaves[GatherIndexTemplate::NAME], 4);
    assert!((v * d).div_ceil(CHUNK) > INDEX_SLOTS);
}

#[test]
fn gather_elements_and_inner_axes_lower_exactly() {
    // xgboost's pattern: GatherElements along axis 1 of a computed tensor by computed
    // indices (no move: the indices have the output's shape).
    let p = one_node(
        "GatherElements",
        &["x", "i"],
        &[("x", &[3, 5]), ("i", &[3, 4])],
        &[],
        &[("axis", Attr::Int(1))],
    );
    let x = input(&[3, 5], 5);
    let i = Tensor::new(
        vec![3, 4],
        vec![
            0,
            4 * ONE,
            -ONE,
            -5 * ONE,
            5 * ONE,
            -6 * ONE,
            ONE + ONE / 2,
            i32::MIN,
            2 * ONE,
            3 * ONE,
            i32::MAX,
            -3 * ONE,
        ],
    );
    let (_, _, leaves) = check_leaves_where(&p, &[x, i], &new_only);
    assert_eq!(leaves.get(GatherTemplate::NAME), None);
    assert_eq!(leaves[GatherIndexTemplate::NAME], 1);

    // Gather along a middle axis of computed data (outer and inner both above 1), 1,344
    // values: three chunks.
    let p = one_node(
        "Gather",
        &["x", "i"],
        &[("x", &[4, 9, 28]), ("i", &[2, 6])],
        &[],
        &[("axis", Attr::Int(1))],
    );
    let x = input(&[4, 9, 28], 7);
    let i = Tensor::new(
        vec![2, 6],
        vec![
            0,
            8 * ONE,
            -ONE,
            -9 * ONE,
            9 * ONE,
            4 * ONE,
            3 * ONE,
            ONE,
            -2 * ONE,
            i32::MAX,
            5 * ONE,
            7 * ONE,
        ],
    );
    let (_, _, leaves) = check_leaves_where(&p, &[x, i], &new_ends);
    assert_eq!(leaves[GatherIndexTemplate::NAME], 3);

    // A gather whose output chunk may read more table chunks than the leaf holds is
    // refused by the plan and the lowering alike (rows of 32 over a 3,200-row table).
    let p = embedding(3200, 32, 30);
    let e = plan(&p, &p.nodes[0]).unwrap_err();
    assert!(e.contains("gather_index's table"), "{e}");
    assert!(Lowered::new(&p, 1).is_err());
}

/// The `gather_index` leaf of chunk `j` of the 100 × 32 embedding (operator 1, after the
/// ids' move).
fn embedding_leaf(j: usize) -> GatherIndexChunk {
    let p = embedding(100, 32, 24);
    let l = Lowered::new(&p, 2).unwrap();
    let t = V4Trace::compute(&l, &p, &[edge_ids(100, 24)], None).unwrap();
    match LeafInstance::new(&l, &t, 1, j).unwrap() {
        LeafInstance::GatherIndex(i) => i,
        other => panic!("a gather_index leaf, not {}", other.template()),
    }
}

#[test]
fn forged_values_wrong_table_chunks_and_moved_indices_have_no_witness() {
    // (The honest leaf satisfies: `embedding_lookups_lower_exactly_at_every_index_edge`.)
    let honest = embedding_leaf(0);
    // A forged value where an index names a row, and where it names none (claimed ≠ 0).
    for k in [0, 4 * 32 + 3] {
        let mut forged = honest.clone();
        forged.y[k] = forged.y[k].wrapping_add(1);
        assert_ne!(
            GatherIndexTemplate::public_inputs(&forged)[6],
            GatherIndexTemplate::public_inputs(&honest)[6]
        );
        assert!(
            !template_satisfied::<GatherIndexTemplate>(&forged).unwrap(),
            "position {k}"
        );
    }
    // A table chunk the indices do not name in place of one they do (the claimed values
    // unchanged): no multiplicities fit.
    let mut wrong = honest.clone();
    let unread = (0..6)
        .find(|c| honest.slots.iter().all(|s| s.index != *c))
        .expect("a chunk of the table the leaf does not read");
    let named = honest.slots[0].index;
    let p = embedding(100, 32, 24);
    let l = Lowered::new(&p, 2).unwrap();
    let t = V4Trace::compute(&l, &p, &[edge_ids(100, 24)], None).unwrap();
    let x = l.ops[1].inputs[0];
    let zkopml_prover::v4::Data::Narrow(table) = &*t.data(x).unwrap() else {
        panic!("a narrow table")
    };
    let other = zkopml_prover::templates::ChunkOpening::new(
        &table.shape,
        &table.data,
        &t.tree(x).unwrap(),
        unread,
    )
    .unwrap();
    for s in wrong.slots.iter_mut().filter(|s| s.index == named) {
        *s = other.clone();
    }
    assert!(!template_satisfied::<GatherIndexTemplate>(&wrong).unwrap());
    // The indices opened at another chunk of J.
    let mut moved = honest.clone();
    moved.idx = embedding_leaf(1).idx;
    assert!(!template_satisfied::<GatherIndexTemplate>(&moved).unwrap());
}

/// A fault in a gather's output is first visible at its leaf: built from the liar's own
/// trace, the leaf proves the honest chunk.
#[test]
fn a_fault_in_an_embedding_lookup_is_caught_at_its_leaf() {
    let p = embedding(100, 32, 24);
    let l = Lowered::new(&p, 2).unwrap();
    let inputs = [edge_ids(100, 24)];
    let at = 700;
    let honest = V4Trace::compute(&l, &p, &inputs, None).unwrap();
    let liar = V4Trace::compute(&l, &p, &inputs, Some((0, at))).unwrap();
    let (out, j) = (l.ops[1].output, at / CHUNK);
    let (h, w) = (
        honest.tree(out).unwrap().leaves()[j],
        liar.tree(out).unwrap().leaves()[j],
    );
    assert_ne!(h, w);
    let inst = LeafInstance::new(&l, &liar, 1, j).unwrap();
    assert!(inst.is_satisfied().unwrap());
    assert_eq!(inst.digest(), h, "the leaf proves the honest chunk");
}

#[test]
fn conv1d_lowers_onto_conv_block_exactly() {
    // whisper's second convolution in small: kernel 3, pads 1, stride 2, with a bias.
    let (c, w, m) = (2, 40, 4);
    let weights: Vec<i64> = (0..m * c * 3).map(|i| (i as i64 % 7) - 3).collect();
    let p = one_node(
        "Conv",
        &["x", "w", "b"],
        &[("x", &[1, c, w])],
        &[
            ("w", vec![m, c, 3], weights),
            ("b", vec![m], vec![1, -2, 3, 0]),
        ],
        &[
            ("kernel_shape", Attr::Ints(vec![3])),
            ("pads", Attr::Ints(vec![1, 1])),
            ("strides", Attr::Ints(vec![2])),
        ],
    );
    let mut x = input(&[1, c, w], 11);
    x.data.iter_mut().for_each(|v| *v >>= 12);
    // conv_block's first and last tap with the lifted shape parameters.
    let taps = c * 3;
    let (_, _, leaves) = check_leaves_where(&p, &[x], &|o, _, _, _| o == 0 || o + 1 == taps);
    assert_eq!(leaves["conv_block/v1"], taps);
}

#[test]
fn a_real_proof_verifies_and_the_constraint_count_is_bounded() {
    let n = template_stats::<GatherIndexTemplate>().unwrap();
    println!("{}: {n} constraints", GatherIndexTemplate::NAME);
    assert!(n <= 1 << 19, "{n} constraints");
    let inst = embedding_leaf(1);
    let keys = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"))
        .get::<GatherIndexTemplate>()
        .unwrap();
    let t = std::time::Instant::now();
    let p = template_prove(&keys, &inst).unwrap();
    println!("template_prove: {:.2} s", t.elapsed().as_secs_f64());
    template_verify(&keys, &p.public, &p.proof).unwrap();
    // Not for another table, indices, chunk index, parameters or digest.
    for at in 0..7 {
        let mut public = p.public.clone();
        public[at] += ark_bn254::Fr::from(1u64);
        assert!(
            template_verify(&keys, &public, &p.proof).is_err(),
            "input {at}"
        );
    }
}

/// ArgMax rows with ties (first and last index), a constant row, the `i32` extremes.
fn argmax_input(shape: &[usize]) -> Tensor {
    let mut x = input(shape, 13);
    let n = shape[shape.len() - 1];
    // Row 0: the maximum at 5 and at n − 100 (a tie across chunks); row 1: constant.
    x.data[..n]
        .iter_mut()
        .for_each(|v| *v = (*v).min(i32::MAX - 1));
    x.data[5] = i32::MAX;
    x.data[n - 100] = i32::MAX;
    x.data[n..2 * n].iter_mut().for_each(|v| *v = -7);
    x
}

fn argmax(shape: &[usize], last: bool, keepdims: bool) -> Program {
    one_node(
        "ArgMax",
        &["x"],
        &[("x", shape)],
        &[],
        &[
            ("axis", Attr::Int(shape.len() as i64 - 1)),
            ("keepdims", Attr::Int(keepdims as i64)),
            ("select_last_index", Attr::Int(last as i64)),
        ],
    )
}

#[test]
fn argmax_lowers_exactly_with_ties_either_way() {
    let shape = [3, 700];
    let x = argmax_input(&shape);
    for (last, keepdims) in [(false, false), (true, true)] {
        let p = argmax(&shape, last, keepdims);
        let y = zkopml_engine::evaluate(&p, std::slice::from_ref(&x))
            .unwrap()
            .remove(0);
        let expect = if last { [600, 699] } else { [5, 0] };
        assert_eq!(
            y.data[..2],
            [expect[0] * ONE, expect[1] * ONE],
            "last {last}"
        );
        let (_, _, leaves) = check_leaves_where(&p, std::slice::from_ref(&x), &new_ends);
        assert_eq!(leaves[ArgMaxMarkTemplate::NAME], 4);
        assert_eq!(leaves.get("binary_chunk/v1").copied(), (!last).then_some(1));
    }
    // xgboost's label: two classes.
    let p = argmax(&[1, 2], false, false);
    check_leaves_where(&p, &[Tensor::new(vec![1, 2], vec![-3, 9])], &new_only);
    check_leaves_where(&p, &[Tensor::new(vec![1, 2], vec![4, 4])], &new_only);
    // An axis that is not last is refused.
    let p = one_node(
        "ArgMax",
        &["x"],
        &[("x", &[4, 3])],
        &[],
        &[("axis", Attr::Int(0))],
    );
    assert!(plan(&p, &p.nodes[0]).is_err());
}

#[test]
fn a_forged_argmax_mark_has_no_witness() {
    let shape = [3, 700];
    let p = argmax(&shape, false, false);
    let l = Lowered::new(&p, 4).unwrap();
    let t = V4Trace::compute(&l, &p, &[argmax_input(&shape)], None).unwrap();
    let o = l
        .ops
        .iter()
        .position(|op| op.template() == ArgMaxMarkTemplate::NAME)
        .unwrap();
    let LeafInstance::ArgMaxMark(honest) = LeafInstance::new(&l, &t, o, 0).unwrap() else {
        panic!("an argmax_mark leaf")
    };
    // (The honest leaf satisfies: `argmax_lowers_exactly_with_ties_either_way`.)
    assert_eq!(honest.output()[5], -5 * ONE);
    for (k, e) in [(5, i32::MIN), (6, -6 * ONE), (5, 5 * ONE)] {
        let mut forged = honest.clone();
        forged.forge = Some((k, e));
        assert!(
            !template_satisfied::<ArgMaxMarkTemplate>(&forged).unwrap(),
            "{k}: {e}"
        );
    }
    // The marks of the other tie rule under this leaf's parameter.
    let mut other = honest.clone();
    other.last = true;
    let mut claim = honest.clone();
    claim.forge = Some((5, other.output()[5]));
    assert!(!template_satisfied::<ArgMaxMarkTemplate>(&claim).unwrap());
    let n = template_stats::<ArgMaxMarkTemplate>().unwrap();
    println!("{}: {n} constraints", ArgMaxMarkTemplate::NAME);
    assert!(n <= 1 << 19, "{n} constraints");
}

/// The computed-index gathers of the committed exports and xgboost, and whisper's two
/// convolutions, plan.
#[test]
fn export_gathers_and_convolutions_plan() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let mut planned = Vec::new();
    for model in [
        "xgboost",
        "exports/bert_mask",
        "exports/t5_encoder",
        "exports/t5_decoder",
        "exports/whisper",
    ] {
        let graph = zkopml_engine::import::load_file(&root.join(model).join("model.onnx")).unwrap();
        let p = Program::compile(&graph, &HashMap::new(), 1).unwrap();
        for node in &p.nodes {
            use zkopml_engine::ops::Op;
            if !matches!(
                node.op,
                Op::Gather(_) | Op::GatherElements(_) | Op::Conv1d(_) | Op::ArgMax(_)
            ) {
                continue;
            }
            let r = plan(&p, node);
            assert!(r.is_ok(), "{model}: {}: {r:?}", node.name);
            planned.push(format!("{model}:{}", node.name));
        }
    }
    println!("{} nodes plan: {planned:?}", planned.len());
    for name in [
        "xgboost:gatherelements_0",
        "xgboost:argmax_0",
        "exports/bert_mask:/Gather_0",
        "exports/whisper:/Conv_0",
        "exports/whisper:/Conv_6",
    ] {
        assert!(planned.iter().any(|p| p == name), "{name} in {planned:?}");
    }
}
