//! `LayerNormalization` (`templates/norm.rs`) and `ReduceSum`/`ReduceMean`/`ReduceMax`
//! (`templates/reduce.rs`) on the template library. A LayerNorm lowers to `group_block` (sum
//! `S1`, sum of squares `S2`) → `layernorm_stats` (`T`) → `layernorm_finish` (`y`); a
//! reduction to an optional `gather_chunk` (reduced axes last) → `group_block` →
//! `rescale_chunk` (sum, max) or `avg_chunk` (mean). The lowered output is the engine's bit
//! for bit (edge groups, and natively on every LayerNorm node of the committed exports); every
//! leaf is the statement the contract builds, its digest the committed chunk's; forged `T` and
//! `y` have no witness; one real Groth16 proof per new template verifies and fails with a
//! changed public input; a fault in a LayerNorm or a ReduceMean output is first caught at its
//! finish leaf. Constraints and proving times are printed (`--nocapture`).

use crate::common::resolved_inputs;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    path::PathBuf,
};

use serde::Deserialize;
use zkopml_engine::{
    activations, evaluate,
    fixed::dequantize,
    import::{self, Attr, Const, ConstData, Dim, Graph, GraphNode},
    io::{quantize_inputs, FloatTensor},
    ops::Op,
    program::ValueKind,
    Program, Tensor,
};
use zkopml_prover::{
    templates::{
        layernorm_element, plan, template_id, template_prove, template_satisfied, template_stats,
        template_verify, AvgTemplate, GroupBlockTemplate, LayerNormFinishTemplate, LayerNormPlan,
        LayerNormStatsTemplate, ReducePlan, Template, TemplateKeyCache, TEMPLATES,
    },
    v4::{fr_u256, Data, LOpKind, LeafInstance, Lowered, V4Trace},
};

/// One node over the runtime input `x` of `shape` and float constants `(name, shape, values)`.
fn one_node(
    op: &str,
    shape: &[usize],
    consts: &[(&str, Vec<usize>, Vec<f64>)],
    attrs: &[(&str, Attr)],
) -> Program {
    let graph = Graph {
        nodes: vec![GraphNode {
            name: "y".into(),
            op_type: op.into(),
            inputs: std::iter::once("x".to_string())
                .chain(consts.iter().map(|(n, _, _)| n.to_string()))
                .collect(),
            outputs: vec!["y".into()],
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }],
        initializers: consts
            .iter()
            .map(|(n, s, v)| {
                let data = if *n == "axes" {
                    ConstData::Int(v.iter().map(|a| *a as i64).collect())
                } else {
                    ConstData::Float(v.clone())
                };
                (
                    n.to_string(),
                    Const {
                        shape: s.clone(),
                        data,
                    },
                )
            })
            .collect(),
        inputs: vec![("x".into(), shape.iter().map(|d| Dim::Fixed(*d)).collect())],
        outputs: vec!["y".into()],
        opset: 17,
    };
    Program::compile(&graph, &HashMap::new(), 1).unwrap()
}

/// A LayerNorm over the last `tail` dims of `shape` with the scale `g` and bias `b` (floats,
/// of shape `tail`; no bias when `b` is `None`).
fn layernorm(shape: &[usize], tail: usize, eps: f32, g: &[f64], b: Option<&[f64]>) -> Program {
    let ts = shape[shape.len() - tail..].to_vec();
    let mut consts = vec![("scale", ts.clone(), g.to_vec())];
    if let Some(b) = b {
        consts.push(("bias", ts, b.to_vec()));
    }
    one_node(
        "LayerNormalization",
        shape,
        &consts,
        &[
            ("axis", Attr::Int(-(tail as i64))),
            ("epsilon", Attr::Float(eps)),
        ],
    )
}

/// Deterministic signed values within `±spread`, with `i32` extremes when `extremes`.
fn input(shape: &[usize], seed: u64, spread: i64, extremes: bool) -> Tensor {
    let mut s = seed;
    let data = (0..shape.iter().product::<usize>())
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match i % 89 {
                0 if extremes => i32::MAX,
                1 if extremes => i32::MIN,
                _ => ((s >> 33) as i64 % (2 * spread + 1) - spread) as i32,
            }
        })
        .collect();
    Tensor::new(shape.to_vec(), data)
}

/// Deterministic floats in `[-2, 2)` (a scale or bias).
fn floats(n: usize, seed: u64) -> Vec<f64> {
    (0..n as u64)
        .map(|i| (((i * 7919 + seed * 104_729) % 4096) as f64) / 1024.0 - 2.0)
        .collect()
}

/// Lowers and runs `p` on `x`: the output is the engine's, every leaf of every operator is
/// the contract's statement with the committed digest, the plan counts the leaves, and the
/// last chunk of the first operator of each template in `satisfy` satisfies it.
fn check(p: &Program, x: &Tensor, satisfy: &[&str]) -> (Lowered, V4Trace) {
    let expect = evaluate(p, std::slice::from_ref(x)).unwrap().remove(0);
    let l = Lowered::new(p, 3).unwrap();
    let t = V4Trace::compute(&l, p, std::slice::from_ref(x), None).unwrap();
    let Data::Narrow(y) = &*t.data(l.outputs[0]).unwrap() else {
        panic!("narrow output")
    };
    assert_eq!(y, &expect, "the lowered output is the engine's");
    let mut leaves = 0;
    let mut satisfied: HashSet<&str> = HashSet::new();
    for o in 0..l.ops.len() {
        let leaf = l.operator_leaf(o);
        let ins = resolved_inputs(&l, &t, o);
        let chunks = leaf.output_chunks as usize;
        for j in 0..chunks {
            let inst = LeafInstance::new(&l, &t, o, j).unwrap();
            let public: Vec<_> = inst.public_inputs().iter().map(fr_u256).collect();
            let r = ins.len();
            assert_eq!(public.len(), r + leaf.params.len() + 2, "op {o}");
            assert_eq!(public[..r], ins[..], "op {o} chunk {j}: inputs");
            assert_eq!(public[r + 1..public.len() - 1], leaf.params[..], "op {o}");
            assert_eq!(
                inst.digest(),
                t.tree(l.ops[o].output).unwrap().leaves()[j],
                "op {o} ({}) chunk {j}: the template's digest is the committed chunk's",
                inst.template()
            );
            if j + 1 == chunks
                && satisfy.contains(&inst.template())
                && satisfied.insert(inst.template())
            {
                assert!(
                    inst.is_satisfied().unwrap(),
                    "op {o} ({}) chunk {j}",
                    inst.template()
                );
            }
            leaves += 1;
        }
    }
    assert_eq!(
        satisfied.len(),
        satisfy.len(),
        "every template asked for was checked"
    );
    assert_eq!(
        plan(p, &p.nodes[0]).unwrap().leaves,
        leaves,
        "plan's leaves"
    );
    (l, t)
}

const LN_NEW: [&str; 2] = [LayerNormStatsTemplate::NAME, LayerNormFinishTemplate::NAME];

#[test]
fn layernorm_edge_groups_lower_bit_exactly_and_their_leaves_satisfy() {
    // Constant groups with ε = 0 (V = 0: y = β), a group of extremes, small values.
    let p = layernorm(&[4, 6], 1, 0.0, &floats(6, 1), Some(&floats(6, 2)));
    let mut data = vec![7; 6];
    data.extend([i32::MIN, i32::MAX, 0, i32::MAX, -1, i32::MIN]);
    data.extend([i32::MAX; 6]);
    data.extend([3, -3, 1, 0, 2, -1]);
    let x = Tensor::new(vec![4, 6], data);
    let y = evaluate(&p, std::slice::from_ref(&x)).unwrap().remove(0);
    let ValueKind::Const(beta) = &p.values[p.nodes[0].inputs[2]].kind else {
        panic!("a constant bias")
    };
    assert_eq!(&y.data[..6], &beta.data[..], "a constant group gives β");
    check(&p, &x, &LN_NEW);

    // Groups of one (D = 0, V = E·n²), no bias, ε = 1e-5.
    let p = layernorm(&[5, 1], 1, 1e-5, &[1.5], None);
    check(&p, &input(&[5, 1], 3, 1 << 20, true), &[]);

    // Groups longer than a chunk (1500 values over two axes: three chunks each, not
    // aligned), a large ε.
    let p = layernorm(
        &[3, 3, 500],
        2,
        0.1,
        &floats(1500, 3),
        Some(&floats(1500, 4)),
    );
    let (l, _) = check(&p, &input(&[3, 3, 500], 5, 40_000, true), &LN_NEW);
    let blocks = l
        .ops
        .iter()
        .filter(|o| matches!(o.kind, LOpKind::GroupBlock { .. }))
        .count();
    assert_eq!(blocks, 2 * 8, "min(n, chunks(X)) blocks per sum");
}

#[test]
fn reductions_lower_bit_exactly_and_their_leaves_satisfy() {
    // ReduceSum over a middle axis (bert_mask's pooling: moved last by a gather), with
    // saturation from the extremes.
    let p = one_node(
        "ReduceSum",
        &[2, 8, 40],
        &[("axes", vec![1], vec![1.0])],
        &[("keepdims", Attr::Int(0))],
    );
    let x = input(&[2, 8, 40], 7, 1 << 30, true);
    let (l, _) = check(&p, &x, &[GroupBlockTemplate::NAME, "gather_chunk/v1"]);
    assert!(l.ops.iter().any(|o| matches!(o.kind, LOpKind::Gather(_))));
    let y = evaluate(&p, std::slice::from_ref(&x)).unwrap().remove(0);
    assert!(y.data.contains(&i32::MAX) || y.data.contains(&i32::MIN));

    // ReduceMean over the last axis, keepdims (t5's RMS norm), rounding half up.
    let p = one_node(
        "ReduceMean",
        &[3, 700],
        &[],
        &[("axes", Attr::Ints(vec![-1])), ("keepdims", Attr::Int(1))],
    );
    let (l, _) = check(
        &p,
        &input(&[3, 700], 8, 1 << 31, true),
        &[AvgTemplate::NAME],
    );
    assert!(l.ops.iter().all(|o| !matches!(o.kind, LOpKind::Gather(_))));
    let p = one_node(
        "ReduceMean",
        &[1, 2],
        &[],
        &[("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(1))],
    );
    let x = Tensor::new(vec![1, 2], vec![1, 2]);
    check(&p, &x, &[]);
    assert_eq!(
        evaluate(&p, &[x]).unwrap()[0].data,
        vec![2],
        "1.5 rounds up"
    );

    // ReduceMax over every axis; over leading axes of size one (no move).
    let p = one_node("ReduceMax", &[4, 3, 50], &[], &[("keepdims", Attr::Int(0))]);
    check(&p, &input(&[4, 3, 50], 9, 1 << 31, true), &[]);
    let p = one_node(
        "ReduceSum",
        &[1, 2, 3],
        &[("axes", vec![1], vec![2.0])],
        &[("keepdims", Attr::Int(0))],
    );
    let (l, _) = check(&p, &input(&[1, 2, 3], 10, 100, false), &[]);
    assert!(l.ops.iter().all(|o| !matches!(o.kind, LOpKind::Gather(_))));

    // ReduceMin plans and lowers exactly (ReduceMax between two complements:
    // reduce_templates.rs has its edge cases).
    let p = one_node("ReduceMin", &[2, 3], &[], &[("keepdims", Attr::Int(0))]);
    assert!(plan(&p, &p.nodes[0]).is_ok());
    check(&p, &input(&[2, 3], 11, 1 << 31, true), &[]);
}

#[derive(Deserialize)]
struct Case {
    inputs: BTreeMap<String, FloatTensor>,
}

#[derive(Deserialize)]
struct Cases {
    cases: Vec<Case>,
}

/// Every LayerNormalization, ReduceSum and ReduceMean node of the committed exports (and
/// xgboost's ReduceSum) plans; on the first case's activations every LayerNorm node's
/// output is `layernorm_element` of its packed statistics, bit for bit. The first LayerNorm
/// node of bert_mask lowers as a one-node program over its input shape, scale and bias with
/// every leaf's statement and digest checked.
#[test]
fn export_nodes_plan_and_layernorm_is_bit_exact() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata");
    let models = [
        ("bert_mask", "exports/bert_mask/model.onnx"),
        ("t5_encoder", "exports/t5_encoder/model.onnx"),
        ("t5_decoder", "exports/t5_decoder/model.onnx"),
        ("whisper", "exports/whisper/model.onnx"),
        ("xgboost", "xgboost/model.onnx"),
    ];
    for (model, path) in models {
        let path = root.join(path);
        let graph = import::load_file(&path).unwrap();
        let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
        let mut seen = 0;
        for node in &program.nodes {
            if !matches!(node.op, Op::LayerNorm(_) | Op::Reduce(_)) {
                continue;
            }
            let name = node.op.name();
            if !matches!(name, "LayerNormalization" | "ReduceSum" | "ReduceMean") {
                continue;
            }
            let lp = plan(&program, node)
                .unwrap_or_else(|e| panic!("{model} {} ({name}) refused: {e}", node.name));
            println!(
                "{model}: {} {name} {:?}: {} leaves, {} ({} constraints)",
                node.name,
                program.values[node.inputs[0]].shape,
                lp.leaves,
                lp.template,
                lp.constraints
            );
            seen += 1;
        }
        assert!(seen > 0, "{model} has nodes of the family");
        let cases = path.with_file_name("cases.json");
        if model == "xgboost" || !cases.exists() {
            continue;
        }
        let cases: Cases = serde_json::from_str(&std::fs::read_to_string(cases).unwrap()).unwrap();
        let inputs = quantize_inputs(&program, &cases.cases[0].inputs).unwrap();
        let acts = activations(&program, &inputs, None).unwrap();
        let mut first = true;
        for node in &program.nodes {
            let Op::LayerNorm(ln) = &node.op else {
                continue;
            };
            let x = acts[node.inputs[0]].clone().unwrap();
            let y = acts[node.output].clone().unwrap();
            let p = LayerNormPlan::new(ln, &x.shape).unwrap();
            let t = p.stats(&x.data);
            let affine: Vec<Tensor> = node.inputs[1..]
                .iter()
                .map(|v| match &program.values[*v].kind {
                    ValueKind::Const(c) => c.clone(),
                    _ => panic!("constant scale and bias"),
                })
                .collect();
            let at = |k: usize, i: usize| {
                affine
                    .get(k)
                    .map_or(0, |c| c.data[(i % p.n) % c.data.len().max(1)])
            };
            let native: Vec<i32> = x
                .data
                .iter()
                .enumerate()
                .map(|(i, q)| layernorm_element(p.n, *q, t[i / p.n], at(0, i), at(1, i)))
                .collect();
            assert_eq!(native, y.data, "{model} {}", node.name);
            if first && model == "bert_mask" {
                first = false;
                let deq = |c: &Tensor| c.data.iter().map(|q| dequantize(*q)).collect::<Vec<_>>();
                let g = deq(&affine[0]);
                let b = affine.get(1).map(deq);
                let tail = x.shape.len() - ln.axis;
                let one = layernorm(&x.shape, tail, 1e-5, &g, b.as_deref());
                assert_eq!(evaluate(&one, std::slice::from_ref(&x)).unwrap()[0], y);
                check(&one, &x, &[]);
            }
        }
    }
}

/// A `[2, 700]` LayerNorm (groups of 700 over chunk borders) lowered and run.
fn ln_700() -> (Program, Tensor, Lowered, V4Trace) {
    let p = layernorm(&[2, 700], 1, 1e-5, &floats(700, 5), Some(&floats(700, 6)));
    let x = input(&[2, 700], 11, 50_000, true);
    let l = Lowered::new(&p, 3).unwrap();
    let t = V4Trace::compute(&l, &p, std::slice::from_ref(&x), None).unwrap();
    (p, x, l, t)
}

fn find(l: &Lowered, f: &dyn Fn(&LOpKind) -> bool) -> usize {
    l.ops.iter().position(|o| f(&o.kind)).unwrap()
}

#[test]
fn forged_statistics_and_outputs_have_no_witness() {
    let (_, _, l, t) = ln_700();
    let stats = find(&l, &|k| matches!(k, LOpKind::LayerNormStats { .. }));
    let LeafInstance::LayerNormStats(mut s) = LeafInstance::new(&l, &t, stats, 0).unwrap() else {
        panic!("a layernorm_stats leaf")
    };
    assert!(template_satisfied::<LayerNormStatsTemplate>(&s).unwrap());
    // T off by one (P + 1), by 2^59 (s + 1), at a group and in the zero padding.
    for (q, d) in [(1, 1), (0, 1 << 59), (5, 1)] {
        s.forge = Some((q, d));
        assert!(
            !template_satisfied::<LayerNormStatsTemplate>(&s).unwrap(),
            "T[{q}] + {d}"
        );
    }
    let finish = find(&l, &|k| matches!(k, LOpKind::LayerNormFinish { .. }));
    let LeafInstance::LayerNormFinish(mut y) = LeafInstance::new(&l, &t, finish, 2).unwrap() else {
        panic!("a layernorm_finish leaf")
    };
    let good = y.output()[100];
    y.forge = Some((100, good - 1));
    assert!(!template_satisfied::<LayerNormFinishTemplate>(&y).unwrap());
}

/// A real proof of `inst` under the cached test keys verifies, and not with a changed
/// digest or `n`. Constraints, id, key and proving times are printed.
fn real_proof<T: Template>(inst: &T::Instance, n_at: usize) {
    let cache = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"));
    let n = template_stats::<T>().unwrap();
    assert!(n <= 1 << 19, "{}: {n} constraints", T::NAME);
    let at = std::time::Instant::now();
    let keys = cache.get::<T>().unwrap();
    let setup = at.elapsed().as_secs_f64();
    let at = std::time::Instant::now();
    let proof = template_prove(&keys, inst).unwrap();
    println!(
        "{} (id {}): {n} constraints, keys {setup:.1} s, prove {:.1} s",
        T::NAME,
        template_id(T::NAME).unwrap(),
        at.elapsed().as_secs_f64()
    );
    template_verify(&keys, &proof.public, &proof.proof).unwrap();
    let last = proof.public.len() - 1;
    for i in [n_at, last] {
        let mut public = proof.public.clone();
        public[i] += ark_bn254::Fr::from(1u64);
        assert!(template_verify(&keys, &public, &proof.proof).is_err());
    }
}

/// Ignored by default to keep this file's run short on the shared machine (the two proofs
/// take 34 s in the test profile at load ≈ 8 with keys cached, ≈ 40 s more each the first
/// time its keys are made); run with `--include-ignored`.
#[test]
#[ignore]
fn real_proofs_verify_and_fail_with_a_changed_public_input() {
    let (_, _, l, t) = ln_700();
    let stats = find(&l, &|k| matches!(k, LOpKind::LayerNormStats { .. }));
    let LeafInstance::LayerNormStats(s) = LeafInstance::new(&l, &t, stats, 0).unwrap() else {
        panic!()
    };
    real_proof::<LayerNormStatsTemplate>(&s, 3);
    let finish = find(&l, &|k| matches!(k, LOpKind::LayerNormFinish { .. }));
    let LeafInstance::LayerNormFinish(y) = LeafInstance::new(&l, &t, finish, 1).unwrap() else {
        panic!()
    };
    real_proof::<LayerNormFinishTemplate>(&y, 5);
    // The new templates are appended after the library's earlier ones.
    for name in LN_NEW {
        let id = template_id(name).unwrap() as usize;
        assert_eq!(TEMPLATES[id - 1], name);
        assert!(id > template_id("matmul_block/v1").unwrap() as usize);
    }
}

/// A fault in a LayerNorm's (a ReduceMean's) output: the sums and statistics agree, so the
/// first operator whose output differs is `layernorm_finish` (`avg_chunk`); the leaf built
/// from the liar's own trace proves the honest chunk, and the liar's chunk has no witness.
#[test]
fn a_fault_is_first_caught_at_its_finish_leaf() {
    let (p, x, _, _) = ln_700();
    let mean = one_node(
        "ReduceMean",
        &[700, 2],
        &[],
        &[("axes", Attr::Ints(vec![1])), ("keepdims", Attr::Int(0))],
    );
    let xm = input(&[700, 2], 12, 1 << 30, true);
    for (p, x, at) in [(&p, &x, 700), (&mean, &xm, 650)] {
        let l = Lowered::new(p, 1).unwrap();
        let honest = V4Trace::compute(&l, p, std::slice::from_ref(x), None).unwrap();
        let liar = V4Trace::compute(&l, p, std::slice::from_ref(x), Some((0, at))).unwrap();
        let first = (0..l.ops.len())
            .find(|o| {
                let v = l.ops[*o].output;
                honest.commitments[v] != liar.commitments[v]
            })
            .unwrap();
        let out = l.ops[first].output;
        let j = at / zkopml_commit::CHUNK_VALUES;
        let (h, w) = (
            honest.tree(out).unwrap().leaves()[j],
            liar.tree(out).unwrap().leaves()[j],
        );
        assert_ne!(h, w);
        let inst = LeafInstance::new(&l, &liar, first, j).unwrap();
        assert_eq!(inst.digest(), h);
        assert!(inst.is_satisfied().unwrap());
        let Data::Narrow(lie) = &*liar.data(out).unwrap() else {
            panic!("narrow output")
        };
        let k = at % zkopml_commit::CHUNK_VALUES;
        match inst {
            LeafInstance::LayerNormFinish(mut f) => {
                f.forge = Some((k, lie.data[at]));
                assert_eq!(
                    *LayerNormFinishTemplate::public_inputs(&f).last().unwrap(),
                    w
                );
                assert!(!template_satisfied::<LayerNormFinishTemplate>(&f).unwrap());
            }
            LeafInstance::Avg(mut f) => {
                f.forge = Some((k, lie.data[at]));
                assert_eq!(*AvgTemplate::public_inputs(&f).last().unwrap(), w);
                assert!(!template_satisfied::<AvgTemplate>(&f).unwrap());
            }
            other => panic!("first caught at {}", other.template()),
        }
    }
    // The plans agree with the lowering's shape of the reduction.
    let r = ReducePlan::new(
        match &mean.nodes[0].op {
            Op::Reduce(r) => r,
            _ => unreachable!(),
        },
        &[700, 2],
    )
    .unwrap();
    assert_eq!((r.n, r.groups, r.mean), (2, 700, true));
}
