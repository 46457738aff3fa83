//! `matmul_block` (`templates/linear.rs`): `MatMul` — a Linear's many rows against a constant
//! `B`, attention's batched `Q·Kᵀ` (a computed, transposed `B`) and `P·V` — and a `Gemm` of
//! several rows lowered onto the template library. The lowered output is the engine's bit
//! for bit, every leaf is the statement the contract builds with the committed digest, and
//! sampled leaves satisfy their templates; every MatMul node of the committed torch exports
//! plans, and its decomposition reproduces the engine's output of a real run; a forged
//! value, a value of another row and a chunk opened at another chunk's index have no
//! witness; a fault in a MatMul's output is caught at its leaf; one real Groth16 proof.

use crate::common::resolved_inputs;
use std::{collections::BTreeMap, collections::HashMap, path::PathBuf};

use zkopml_commit::{chunk_count, ChunkTree, CHUNK_VALUES};
use zkopml_engine::{
    activations, evaluate,
    import::{self, Attr, Const, ConstData, Dim, Graph, GraphNode},
    io::{quantize_inputs, FloatTensor},
    ops::Op,
    Program, Tensor,
};
use zkopml_prover::{
    templates::{
        plan, template_id, template_prove, template_satisfied, template_stats, template_verify,
        MatMulBlockChunk, MatMulBlockTemplate, MatMulDispute, RescaleTemplate, Template,
        TemplateKeyCache, MATMUL_SLOTS, TEMPLATES,
    },
    v4::{fr_u256, Data, LOpKind, LeafInstance, Lowered, V4Trace},
};

/// A node `(op, inputs, output, attrs)`.
type NodeSpec<'a> = (&'a str, &'a [&'a str], &'a str, Vec<(&'a str, Attr)>);

/// A graph of `nodes` over runtime inputs `inputs` and float initializers `consts`.
fn program(
    nodes: &[NodeSpec<'_>],
    inputs: &[(&str, &[usize])],
    consts: &[(&str, &[usize], Vec<f64>)],
    output: &str,
) -> Program {
    let graph = Graph {
        nodes: nodes
            .iter()
            .map(|(op, ins, out, attrs)| GraphNode {
                name: out.to_string(),
                op_type: op.to_string(),
                inputs: ins.iter().map(|s| s.to_string()).collect(),
                outputs: vec![out.to_string()],
                attrs: attrs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.clone()))
                    .collect(),
            })
            .collect(),
        initializers: consts
            .iter()
            .map(|(n, s, v)| {
                (
                    n.to_string(),
                    Const {
                        shape: s.to_vec(),
                        data: ConstData::Float(v.clone()),
                    },
                )
            })
            .collect(),
        inputs: inputs
            .iter()
            .map(|(n, s)| (n.to_string(), s.iter().map(|d| Dim::Fixed(*d)).collect()))
            .collect(),
        outputs: vec![output.into()],
        opset: 13,
    };
    Program::compile(&graph, &HashMap::new(), 1).unwrap()
}

/// Deterministic values: fixed-point activations of magnitude below `2^bits`, with a few
/// `i32` extremes when `extremes`.
fn values(n: usize, seed: u64, bits: u32, extremes: bool) -> Vec<i32> {
    let mut s = seed;
    (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            match i % 97 {
                0 if extremes => i32::MAX,
                1 if extremes => i32::MIN,
                _ => ((s >> 33) as i64 % (1i64 << bits)) as i32,
            }
        })
        .collect()
}

fn tensor(shape: &[usize], seed: u64, bits: u32) -> Tensor {
    Tensor::new(
        shape.to_vec(),
        values(shape.iter().product(), seed, bits, true),
    )
}

/// Float weights in `(−1, 1)`.
fn weights(n: usize, seed: u64) -> Vec<f64> {
    values(n, seed, 20, false)
        .iter()
        .map(|v| *v as f64 / (1 << 20) as f64)
        .collect()
}

/// Lowers and runs `p`: the output is the engine's; every leaf of every operator is the
/// contract's statement with the committed digest; sampled leaves of the first and last
/// block satisfy the template. Returns the number of `matmul_block`
/// operators.
fn check(p: &Program, inputs: &[Tensor]) -> (Lowered, V4Trace, usize) {
    let l = Lowered::new(p, 3).unwrap();
    let t = V4Trace::compute(&l, p, inputs, None).unwrap();
    let expect = evaluate(p, inputs).unwrap();
    let Data::Narrow(y) = &*t.data(l.outputs[0]).unwrap() else {
        panic!("narrow output")
    };
    assert_eq!(y, &expect[0], "the lowered output is the engine's");
    let mut blocks = 0;
    for o in 0..l.ops.len() {
        let leaf = l.operator_leaf(o);
        let ins = resolved_inputs(&l, &t, o);
        // Satisfiability (a synthesis each, the costly part) of the first block at the last
        // chunk and the last block at the first chunk (`rescale_chunk` is tested on its own).
        let chunks = leaf.output_chunks as usize;
        let sample = match &l.ops[o].kind {
            LOpKind::MatMulBlock { block, dispute } => {
                blocks += 1;
                match *block {
                    0 => Some(chunks - 1),
                    b if b + 1 == dispute.blocks() => Some(0),
                    _ => None,
                }
            }
            _ => None,
        };
        for j in 0..leaf.output_chunks as usize {
            let inst = LeafInstance::new(&l, &t, o, j).unwrap();
            let public: Vec<_> = inst.public_inputs().iter().map(fr_u256).collect();
            let r = ins.len();
            assert_eq!(public.len(), r + leaf.params.len() + 2, "op {o}");
            assert_eq!(public[..r], ins[..], "op {o} chunk {j}: inputs");
            assert_eq!(public[r], alloy_primitives::U256::from(j), "op {o}: j");
            assert_eq!(public[r + 1..public.len() - 1], leaf.params[..], "op {o}");
            assert_eq!(
                inst.digest(),
                t.tree(l.ops[o].output).unwrap().leaves()[j],
                "op {o} chunk {j}: the template's digest is the committed chunk's"
            );
            if sample == Some(j) {
                assert!(inst.is_satisfied().unwrap(), "op {o} chunk {j}");
            }
        }
    }
    (l, t, blocks)
}

#[test]
fn the_template_is_appended_to_the_library_and_bounded() {
    // Appended as the sixteenth template; ids never move (later templates follow it).
    assert_eq!(TEMPLATES[15], MatMulBlockTemplate::NAME, "ids never move");
    assert_eq!(template_id(MatMulBlockTemplate::NAME), Some(16));
    let n = template_stats::<MatMulBlockTemplate>().unwrap();
    println!(
        "{}: {n} constraints ({MATMUL_SLOTS} slots)",
        MatMulBlockTemplate::NAME
    );
    assert!(n <= 1 << 19, "{n} constraints");
}

#[test]
fn a_multi_row_linear_and_a_gemm_lower_exactly() {
    // A Linear over a sequence: [1, 40, 32] x [32, 20] (constant): 800 outputs, 2 chunks
    // (the second of 184), rows crossing the chunk border; A spans 3 chunks.
    let p = program(
        &[("MatMul", &["x", "w"], "y", vec![])],
        &[("x", &[1, 40, 32])],
        &[("w", &[32, 20], weights(640, 1))],
        "y",
    );
    let node_plan = plan(&p, &p.nodes[0]).unwrap();
    assert_eq!(node_plan.template, MatMulBlockTemplate::NAME);
    let (l, _, blocks) = check(&p, &[tensor(&[1, 40, 32], 2, 22)]);
    assert_eq!(blocks, 32);
    assert_eq!(node_plan.leaves, 2 * (32 + 1), "the plan's leaf count");
    assert_eq!(l.ops.len(), 33);
    // A Gemm of several rows with transB and a bias: [5, 40] x [30, 40]ᵀ + C.
    let p = program(
        &[(
            "Gemm",
            &["a", "b", "c"],
            "y",
            vec![("transB", Attr::Int(1))],
        )],
        &[("a", &[5, 40])],
        &[
            ("b", &[30, 40], weights(1200, 3)),
            ("c", &[30], weights(30, 4)),
        ],
        "y",
    );
    assert!(matches!(p.nodes[0].op, Op::Gemm(_)));
    assert_eq!(
        plan(&p, &p.nodes[0]).unwrap().template,
        MatMulBlockTemplate::NAME
    );
    let (_, _, blocks) = check(&p, &[tensor(&[5, 40], 5, 22)]);
    assert_eq!(blocks, 40);
}

#[test]
fn attention_scores_and_values_lower_exactly() {
    // Q·Kᵀ with Kᵀ a computed transpose (a gather operator), then P·V: both operands
    // computed, batch and head dims [1, 2, ·, ·].
    let (s, dh) = (8, 16);
    let qkv: &[usize] = &[1, 2, s, dh];
    let p = program(
        &[
            (
                "Transpose",
                &["k"],
                "kt",
                vec![("perm", Attr::Ints(vec![0, 1, 3, 2]))],
            ),
            ("MatMul", &["q", "kt"], "scores", vec![]),
            ("MatMul", &["scores", "v"], "y", vec![]),
        ],
        &[("q", qkv), ("k", qkv), ("v", qkv)],
        &[],
        "y",
    );
    for n in &p.nodes {
        assert!(plan(&p, n).is_ok(), "{}: {:?}", n.name, plan(&p, n));
    }
    let inputs = [tensor(qkv, 6, 18), tensor(qkv, 7, 18), tensor(qkv, 8, 18)];
    let (l, t, blocks) = check(&p, &inputs);
    assert_eq!(blocks, dh + s, "K = dh for the scores, S for P·V");
    // The scores are the engine's intermediate value too.
    let acts = activations(&p, &inputs, None).unwrap();
    let scores = p.nodes[1].output;
    let Data::Narrow(got) = &*t.data(l.of_engine[scores].unwrap()).unwrap() else {
        panic!("narrow")
    };
    assert_eq!(Some(got), acts[scores].as_ref());
}

/// The quantised inputs of the first case of export `model`.
fn export(model: &str) -> (Program, Vec<Tensor>) {
    #[derive(serde::Deserialize)]
    struct Case {
        inputs: BTreeMap<String, FloatTensor>,
    }
    #[derive(serde::Deserialize)]
    struct Cases {
        cases: Vec<Case>,
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/exports")
        .join(model);
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let p = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let cases: Cases =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    let inputs = quantize_inputs(&p, &cases.cases[0].inputs).unwrap();
    (p, inputs)
}

/// Every MatMul/Gemm node of the committed transformer exports plans under `matmul_block`
/// (or `gemm_block`) and its decomposition reproduces the engine's output of a real run bit
/// for bit; in bert_mask, the last block's leaf at the last chunk of the first product with
/// a constant `B` and of the first with a computed `B`, built from the run's operands,
/// satisfies the template.
#[test]
fn every_matmul_of_the_exports_plans_and_is_the_engines_on_a_real_run() {
    for model in ["bert_mask", "t5_encoder", "t5_decoder", "whisper"] {
        let (p, inputs) = export(model);
        let acts = activations(&p, &inputs, None).unwrap();
        let value = |v: usize| -> Tensor {
            match &p.values[v].kind {
                zkopml_engine::program::ValueKind::Const(t) => t.clone(),
                _ => acts[v].clone().unwrap(),
            }
        };
        let (mut products, mut computed_b) = (0, 0);
        for node in &p.nodes {
            let d = match &node.op {
                Op::MatMul(mm) => MatMulDispute::matmul(
                    mm,
                    &p.values[node.inputs[0]].shape,
                    &p.values[node.inputs[1]].shape,
                )
                .unwrap(),
                Op::Gemm(_) => {
                    let r = plan(&p, node).unwrap();
                    println!("{model}: {} Gemm → {}", node.name, r.template);
                    continue;
                }
                _ => continue,
            };
            let r = plan(&p, node).unwrap_or_else(|e| panic!("{model}: {}: {e}", node.name));
            assert_eq!(r.template, MatMulBlockTemplate::NAME);
            let (a, b) = (value(node.inputs[0]), value(node.inputs[1]));
            assert_eq!(
                d.output(&a.data, &b.data),
                value(node.output).data,
                "{model}: {}",
                node.name
            );
            products += 1;
            let constant = matches!(
                p.values[node.inputs[1]].kind,
                zkopml_engine::program::ValueKind::Const(_)
            );
            computed_b += usize::from(!constant);
            if model != "bert_mask"
                || (constant && products - computed_b > 1)
                || (!constant && computed_b > 1)
            {
                continue;
            }
            let j = chunk_count(d.params.len()).max(1) - 1;
            let (ta, tb) = (ChunkTree::of_values(&a.data), ChunkTree::of_values(&b.data));
            let t = d.blocks() - 1;
            let inst = d
                .block_instance((&a, &ta), (&b, &tb), &d.acc(&a.data, &b.data, t), j, t)
                .unwrap();
            assert!(
                template_satisfied::<MatMulBlockTemplate>(&inst).unwrap(),
                "{model}: {} chunk {j} block {t}",
                node.name
            );
        }
        println!(
            "{model}: {products} MatMul nodes ({computed_b} with a computed B) planned and exact"
        );
        assert!(products > 0 && computed_b > 0, "{model}");
    }
}

/// Leaf `(j, t)` of a `[1, 40, 32] x [32, 20]` product with A's data.
fn linear_leaf(j: usize, t: usize) -> (MatMulBlockChunk, MatMulDispute, Tensor) {
    let mm = match &program(
        &[("MatMul", &["x", "w"], "y", vec![])],
        &[("x", &[1, 40, 32]), ("w", &[32, 20])],
        &[],
        "y",
    )
    .nodes[0]
        .op
    {
        Op::MatMul(mm) => mm.clone(),
        _ => unreachable!(),
    };
    let d = MatMulDispute::matmul(&mm, &[1, 40, 32], &[32, 20]).unwrap();
    let (a, b) = (tensor(&[1, 40, 32], 9, 22), tensor(&[32, 20], 10, 22));
    let (ta, tb) = (ChunkTree::of_values(&a.data), ChunkTree::of_values(&b.data));
    let acc = d.acc(&a.data, &b.data, t);
    let inst = d.block_instance((&a, &ta), (&b, &tb), &acc, j, t).unwrap();
    (inst, d, a)
}

#[test]
fn forged_values_other_rows_and_misplaced_chunks_have_no_witness() {
    let (honest, d, a) = linear_leaf(0, 5);
    assert!(template_satisfied::<MatMulBlockTemplate>(&honest).unwrap());
    let digest = |i: &MatMulBlockChunk| MatMulBlockTemplate::public_inputs(i)[6];

    // A forged output value: the claim reads another A value at position 300.
    let (sa, _) = d.params.sources(300, 5);
    let mut forged = honest.clone();
    forged.forge = Some((300, a.data[sa].wrapping_add(1)));
    assert_ne!(digest(&forged), digest(&honest));
    assert!(!template_satisfied::<MatMulBlockTemplate>(&forged).unwrap());

    // A genuine value of A from another row (the next row, same inner index).
    let mut other_row = honest.clone();
    other_row.forge = Some((300, a.data[sa + 32]));
    assert_ne!(a.data[sa + 32], a.data[sa]);
    assert!(!template_satisfied::<MatMulBlockTemplate>(&other_row).unwrap());

    // A chunk opened at another chunk's index: A's chunk 1 (rows 19–38) holds chunk 2's
    // values, so the rows it serves read the values 616 places on.
    let mut moved = honest.clone();
    let s = moved
        .slots
        .iter()
        .position(|(is_b, o)| !is_b && o.index == 1)
        .expect("chunk 0 reads A's chunk 1");
    let two = ChunkTree::of_values(&a.data);
    let mut o = zkopml_prover::templates::ChunkOpening::new(&a.shape, &a.data, &two, 2).unwrap();
    o.index = 1;
    moved.slots[s].1 = o;
    assert_ne!(digest(&moved), digest(&honest));
    assert!(!template_satisfied::<MatMulBlockTemplate>(&moved).unwrap());

    // A table slot opened from another tensor of B's shape (B + 1) in place of a repeat.
    let b = tensor(&[32, 20], 10, 22);
    let other: Vec<i32> = b.data.iter().map(|v| v.wrapping_add(1)).collect();
    let mut foreign = honest.clone();
    let last = foreign.slots.len() - 1;
    foreign.slots[last] = (
        true,
        zkopml_prover::templates::ChunkOpening::new(
            &b.shape,
            &other,
            &ChunkTree::of_values(&other),
            0,
        )
        .unwrap(),
    );
    assert_eq!(digest(&foreign), digest(&honest));
    assert_eq!(
        MatMulBlockTemplate::public_inputs(&foreign),
        MatMulBlockTemplate::public_inputs(&honest)
    );
    assert!(!template_satisfied::<MatMulBlockTemplate>(&foreign).unwrap());
}

#[test]
fn a_fault_in_a_matmul_is_caught_at_its_leaf() {
    let p = program(
        &[("MatMul", &["x", "w"], "y", vec![])],
        &[("x", &[1, 40, 32])],
        &[("w", &[32, 20], weights(640, 11))],
        "y",
    );
    let inputs = vec![tensor(&[1, 40, 32], 12, 22)];
    let l = Lowered::new(&p, 4).unwrap();
    let at = 700;
    let honest = V4Trace::compute(&l, &p, &inputs, None).unwrap();
    let liar = V4Trace::compute(&l, &p, &inputs, Some((0, at))).unwrap();
    assert_ne!(liar.root(), honest.root());
    // The first operator whose output differs: the rescale (the partial sums agree).
    let first = (0..l.ops.len())
        .find(|o| {
            let v = l.ops[*o].output;
            honest.commitments[v] != liar.commitments[v]
        })
        .unwrap();
    assert_eq!(l.ops[first].template(), RescaleTemplate::NAME);
    let out = l.ops[first].output;
    let j = at / CHUNK_VALUES;
    let (h, w) = (
        honest.tree(out).unwrap().leaves()[j],
        liar.tree(out).unwrap().leaves()[j],
    );
    assert_ne!(h, w);
    // The leaf built from the liar's own trace proves the honest chunk.
    let inst = LeafInstance::new(&l, &liar, first, j).unwrap();
    assert!(inst.is_satisfied().unwrap());
    assert_eq!(inst.digest(), h);
    // And its inputs (every partial sum) are agreed.
    for v in &l.ops[first].inputs {
        assert_eq!(honest.commitments[*v], liar.commitments[*v]);
    }
}

#[test]
fn a_real_proof_verifies_and_not_for_another_statement() {
    // The last chunk (184 values), last block.
    let (inst, _, _) = linear_leaf(1, 31);
    let cache = TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"));
    let t = std::time::Instant::now();
    let keys = cache.get::<MatMulBlockTemplate>().unwrap();
    println!("keys: {:.2} s", t.elapsed().as_secs_f64());
    let t = std::time::Instant::now();
    let p = template_prove(&keys, &inst).unwrap();
    println!("template_prove: {:.2} s", t.elapsed().as_secs_f64());
    template_verify(&keys, &p.public, &p.proof).unwrap();
    // Not for another j, block, shape or digest.
    for at in [3, 4, 5, 6] {
        let mut public = p.public.clone();
        public[at] += ark_bn254::Fr::from(1u64);
        assert!(template_verify(&keys, &public, &p.proof).is_err(), "{at}");
    }
}

/// Real-size transformer products fit the table: BERT-base's Linear, its 12-head scores and
/// values at S = 128, and a GPT-2-sized MLP projection.
#[test]
fn real_size_products_fit_the_table() {
    use zkopml_prover::templates::MatMulParams;
    let mm = |batch, m, k, n, a_batched, b_batched| MatMulParams {
        batch,
        m,
        k,
        n,
        a_batched,
        b_batched,
    };
    for p in [
        mm(1, 128, 768, 768, false, false),
        mm(1, 128, 768, 3072, false, false),
        mm(1, 128, 3072, 768, false, false),
        mm(12, 128, 64, 128, true, true),
        mm(12, 128, 128, 64, true, true),
    ] {
        p.fits().unwrap_or_else(|e| panic!("{p:?}: {e}"));
    }
}

/// Release figures (`cargo test --release -p zkopml-prover --test circuits --
/// --ignored matmul_templates::prove_times --nocapture`): setup, proving key (compressed), and one proof of
/// the fullest leaf of real-size attention `P·V` (12 heads, S = 128, dh = 64: chunk 132,
/// block 22 reads 7 chunks).
#[test]
#[ignore]
fn prove_times() {
    use ark_serialize::CanonicalSerialize;
    use zkopml_prover::templates::{template_setup, MatMulParams};
    let params = MatMulParams {
        batch: 12,
        m: 128,
        k: 128,
        n: 64,
        a_batched: true,
        b_batched: true,
    };
    let d = MatMulDispute {
        params,
        shift: 16,
        acc0: vec![0; params.len()],
    };
    let (a, b) = (
        tensor(&[1, 12, 128, 128], 13, 16),
        tensor(&[1, 12, 128, 64], 14, 22),
    );
    let (ta, tb) = (ChunkTree::of_values(&a.data), ChunkTree::of_values(&b.data));
    let (j, t) = (132, 22);
    let (xs, ws) = params.chunks_read(j, t);
    assert_eq!(xs.len() + ws.len(), MATMUL_SLOTS);
    let inst = d
        .block_instance((&a, &ta), (&b, &tb), &d.acc(&a.data, &b.data, t), j, t)
        .unwrap();
    let started = std::time::Instant::now();
    let keys = template_setup::<MatMulBlockTemplate>().unwrap();
    let setup = started.elapsed();
    let started = std::time::Instant::now();
    let p = template_prove(&keys, &inst).unwrap();
    eprintln!(
        "{}: {} constraints, setup {:.1} s, pk {:.1} MB, prove {:.2} s",
        MatMulBlockTemplate::NAME,
        template_stats::<MatMulBlockTemplate>().unwrap(),
        setup.as_secs_f64(),
        keys.pk.compressed_size() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    template_verify(&keys, &p.public, &p.proof).unwrap();
}
