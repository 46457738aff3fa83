//! `GlobalAveragePool` and `AveragePool` under version 4 (`templates/pool.rs`): small models
//! built here are lowered (exact sums by `gap_block` or `conv_block` with weight 1, then
//! `avg_chunk`'s `div_round` by the counts), every leaf of the pool's operators satisfies
//! its template and is the statement the contract builds, the lowered output is the engine's
//! bit for bit, and a fault in the pooled output is caught at its operator. mobilenet_v2's
//! `GlobalAveragePool` is checked on its real input (from a run of the whole model) when
//! `testdata/mobilenet_v2` is present.

use crate::common::resolved_inputs;
use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
};

use zkopml_engine::{
    activations, evaluate,
    import::{self, Attr, Dim, Graph, GraphNode},
    io::{quantize_inputs, TensorFile},
    ops::Op,
    Program, Tensor,
};
use zkopml_prover::{
    templates::{
        plan, template_satisfied, template_stats, AvgTemplate, GapBlockTemplate, Template,
    },
    v4::{fr_u256, Data, LOpKind, LeafInstance, Lowered, V4Trace},
};

/// `y = op(x; attrs)`: one pooling node over the runtime input.
fn pool_program(shape: &[usize], op: &str, attrs: &[(&str, Attr)]) -> Program {
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
        initializers: HashMap::new(),
        inputs: vec![("x".into(), shape.iter().map(|d| Dim::Fixed(*d)).collect())],
        outputs: vec!["y".into()],
        opset: 13,
    };
    Program::compile(&graph, &HashMap::new(), 1).unwrap()
}

/// Deterministic signed input values: the `i32` range's extremes, large and small ones.
fn input(shape: &[usize], seed: u64) -> Tensor {
    let n: usize = shape.iter().product();
    let mut s = seed;
    let data = (0..n)
        .map(|i| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let v = (s >> 32) as u32 as i32;
            match i % 13 {
                0 => i32::MAX,
                1 => i32::MIN,
                2 => -1,
                _ => v >> (i % 29),
            }
        })
        .collect();
    Tensor::new(shape.to_vec(), data)
}

fn ints(n: &[i64]) -> Attr {
    Attr::Ints(n.to_vec())
}

/// Every leaf (operator, chunk) of node `node`'s operators: the contract's statement and
/// the committed digest; for the operators accepted by `which`, a satisfied template.
/// Returns the node's leaves per template (every one, checked for satisfiability or not).
fn check_node_leaves(
    l: &Lowered,
    t: &V4Trace,
    node: usize,
    which: impl Fn(&LOpKind) -> bool,
) -> BTreeMap<&'static str, usize> {
    let mut checked = BTreeMap::new();
    for o in (0..l.ops.len()).filter(|o| l.ops[*o].node == node) {
        let leaf = l.operator_leaf(o);
        let inputs = resolved_inputs(l, t, o);
        for j in 0..leaf.output_chunks as usize {
            let inst = LeafInstance::new(l, t, o, j).unwrap();
            let public: Vec<_> = inst.public_inputs().iter().map(fr_u256).collect();
            let r = inputs.len();
            assert_eq!(public.len(), r + leaf.params.len() + 2, "op {o}");
            assert_eq!(public[..r], inputs[..], "op {o} chunk {j}: inputs");
            assert_eq!(public[r + 1..public.len() - 1], leaf.params[..], "op {o}");
            assert_eq!(
                inst.digest(),
                t.tree(l.ops[o].output).unwrap().leaves()[j],
                "op {o} chunk {j}: the template's digest is the committed chunk's"
            );
            let template = inst.template();
            if which(&l.ops[o].kind) {
                assert!(
                    inst.is_satisfied().unwrap(),
                    "op {o} ({template}) chunk {j}"
                );
            }
            *checked.entry(template).or_insert(0) += 1;
        }
    }
    checked
}

/// The pool node's lowered output equals the engine's, bit for bit.
fn assert_engine_output(l: &Lowered, t: &V4Trace, program: &Program, inputs: &[Tensor]) {
    let expect = evaluate(program, inputs).unwrap();
    match &*t.data(l.outputs[0]).unwrap() {
        Data::Narrow(y) => assert_eq!(y, &expect[0]),
        Data::Wide(_) => panic!("outputs are narrow"),
    }
    // And the final sums divided by the counts are that output (the operator's own data is
    // the node's output, so check the arithmetic separately).
    let avg = l
        .ops
        .iter()
        .rposition(|op| matches!(op.kind, LOpKind::Average));
    let op = &l.ops[avg.expect("an avg_chunk operator")];
    let (Data::Wide(acc), Data::Narrow(counts)) = (
        &*t.data(op.inputs[0]).unwrap(),
        &*t.data(op.inputs[1]).unwrap(),
    ) else {
        panic!("avg_chunk reads wide sums and narrow counts")
    };
    let y: Vec<i32> = acc
        .iter()
        .zip(&counts.data)
        .map(|(a, c)| {
            let a = zkopml_prover::gadgets::fr_to_i128(*a).unwrap();
            zkopml_engine::fixed::div_round(a, *c as i128) as i32
        })
        .collect();
    assert_eq!(y, expect[0].data);
}

/// A fault in the pool's output (element `at`) is first visible at its `avg_chunk`
/// operator, whose leaf built from the liar's own trace proves the honest chunk.
fn assert_fault_caught(l: &Lowered, program: &Program, inputs: &[Tensor], at: usize) {
    let node = program.nodes.len() - 1;
    let honest = V4Trace::compute(l, program, inputs, None).unwrap();
    let liar = V4Trace::compute(l, program, inputs, Some((node, at))).unwrap();
    assert_ne!(liar.root(), honest.root());
    let o = (0..l.ops.len())
        .find(|o| liar.commitments[l.ops[*o].output] != honest.commitments[l.ops[*o].output])
        .expect("the fault changes an output");
    assert_eq!(l.ops[o].node, node);
    assert!(matches!(l.ops[o].kind, LOpKind::Average));
    let out = l.ops[o].output;
    let j = at / zkopml_commit::CHUNK_VALUES;
    assert_ne!(
        honest.tree(out).unwrap().leaves()[j],
        liar.tree(out).unwrap().leaves()[j]
    );
    let inst = LeafInstance::new(l, &liar, o, j).unwrap();
    assert!(inst.is_satisfied().unwrap());
    assert_eq!(inst.digest(), honest.tree(out).unwrap().leaves()[j]);
    assert_ne!(inst.digest(), liar.tree(out).unwrap().leaves()[j]);
    // The liar's chunk has no witness: the avg_chunk leaf claiming it is unsatisfiable.
    let LeafInstance::Avg(mut forged) = inst else {
        panic!("an avg_chunk leaf")
    };
    let Data::Narrow(lie) = &*liar.data(out).unwrap() else {
        panic!("narrow output")
    };
    forged.forge = Some((at % zkopml_commit::CHUNK_VALUES, lie.data[at]));
    assert_eq!(
        AvgTemplate::public_inputs(&forged)[3],
        liar.tree(out).unwrap().leaves()[j]
    );
    assert!(!template_satisfied::<AvgTemplate>(&forged).unwrap());
}

#[test]
fn global_average_pool_lowers_exactly_and_its_first_and_last_blocks_satisfy() {
    // 700 planes of 3×3: two output chunks (the second of 84 planes), 11 chunks of X, so
    // chunk 1's late blocks read past X's end; H·W = 9 puts plane borders inside chunks.
    let shape = [1, 700, 3, 3];
    let program = pool_program(&shape, "GlobalAveragePool", &[]);
    let inputs = vec![input(&shape, 1)];
    let l = Lowered::new(&program, 3).unwrap();
    let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    assert_engine_output(&l, &t, &program, &inputs);
    let node = program.nodes.len() - 1;
    // Satisfied: the first and last block of each output chunk and every avg_chunk leaf.
    let checked = check_node_leaves(&l, &t, node, |k| match k {
        LOpKind::GapBlock { block, .. } => [0, 8].contains(block),
        _ => true,
    });
    // B = min(H·W, chunks of X) = 9 blocks, then one avg_chunk, over 2 output chunks.
    assert_eq!(checked.get(GapBlockTemplate::NAME), Some(&(9 * 2)));
    assert_eq!(checked.get(AvgTemplate::NAME), Some(&2));
    assert_fault_caught(&l, &program, &inputs, 650);

    // A plane larger than a chunk (each chunk of X inside one or two planes); B is capped
    // at X's 8 chunks, not H·W = 1600.
    let shape = [1, 3, 40, 40];
    let program = pool_program(&shape, "GlobalAveragePool", &[]);
    let inputs = vec![input(&shape, 2)];
    let l = Lowered::new(&program, 1).unwrap();
    let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    assert_engine_output(&l, &t, &program, &inputs);
    let checked = check_node_leaves(&l, &t, program.nodes.len() - 1, |k| match k {
        LOpKind::GapBlock { block, .. } => [0, 7].contains(block),
        _ => true,
    });
    assert_eq!(checked.get(GapBlockTemplate::NAME), Some(&8));
    assert_fault_caught(&l, &program, &inputs, 2);
}

#[test]
fn average_pool_lowers_exactly_and_its_first_and_last_taps_satisfy() {
    // 10×10 planes: ceil mode adds a last window that reads past the input.
    let shape = [1, 30, 10, 10];
    let cases: [(&str, Vec<(&str, Attr)>); 3] = [
        (
            "3x3/2, pads 1, count valid",
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("pads", ints(&[1, 1, 1, 1])),
            ],
        ),
        (
            "3x3/2, pads 1, count_include_pad, ceil mode",
            vec![
                ("kernel_shape", ints(&[3, 3])),
                ("strides", ints(&[2, 2])),
                ("pads", ints(&[1, 1, 1, 1])),
                ("count_include_pad", Attr::Int(1)),
                ("ceil_mode", Attr::Int(1)),
            ],
        ),
        (
            "2x4/(1,3), pads (0,2,1,0), ceil mode, count valid",
            vec![
                ("kernel_shape", ints(&[2, 4])),
                ("strides", ints(&[1, 3])),
                ("pads", ints(&[0, 2, 1, 0])),
                ("ceil_mode", Attr::Int(1)),
            ],
        ),
    ];
    for (i, (name, attrs)) in cases.iter().enumerate() {
        let program = pool_program(&shape, "AveragePool", attrs);
        let inputs = vec![input(&shape, 10 + i as u64)];
        let l = Lowered::new(&program, 2).unwrap();
        let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
        assert_engine_output(&l, &t, &program, &inputs);
        let node = program.nodes.len() - 1;
        // Satisfied: every avg_chunk leaf and the first and last tap's conv_block leaves (the
        // taps between are the same circuit at other offsets: conv_templates.rs).
        let checked = check_node_leaves(&l, &t, node, |k| match k {
            LOpKind::ConvBlock { block, dispute } => *block == 0 || *block + 1 == dispute.blocks(),
            _ => true,
        });
        assert!(checked.contains_key("conv_block/v1"), "{name}: {checked:?}");
        assert!(
            checked.contains_key(AvgTemplate::NAME),
            "{name}: {checked:?}"
        );
        let len: usize = program.values[program.nodes[node].output]
            .shape
            .iter()
            .product();
        assert_fault_caught(&l, &program, &inputs, len - 1);
    }

    // A window that is the whole unpadded plane is a global pool (gap_block).
    let shape = [1, 8, 4, 4];
    let program = pool_program(&shape, "AveragePool", &[("kernel_shape", ints(&[4, 4]))]);
    let inputs = vec![input(&shape, 3)];
    let l = Lowered::new(&program, 1).unwrap();
    let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    assert_engine_output(&l, &t, &program, &inputs);
    let checked = check_node_leaves(&l, &t, program.nodes.len() - 1, |_| true);
    assert_eq!(checked.get(GapBlockTemplate::NAME), Some(&1));
}

#[test]
fn a_forged_gap_block_output_has_no_witness() {
    let shape = [1, 700, 3, 3];
    let program = pool_program(&shape, "GlobalAveragePool", &[]);
    let inputs = vec![input(&shape, 4)];
    let l = Lowered::new(&program, 1).unwrap();
    let t = V4Trace::compute(&l, &program, &inputs, None).unwrap();
    let o = (0..l.ops.len())
        .find(|o| matches!(l.ops[*o].kind, LOpKind::GapBlock { block: 4, .. }))
        .unwrap();
    for j in [0, 1] {
        let LeafInstance::GapBlock(honest) = LeafInstance::new(&l, &t, o, j).unwrap() else {
            panic!("a gap_block leaf")
        };
        assert!(template_satisfied::<GapBlockTemplate>(&honest).unwrap());
        // A value moved to the neighbouring plane, a value added, one taken off the last.
        for forge in [(300, 1), (301, -1), (615, 7), (0, -(1 << 40))] {
            let mut f = honest.clone();
            f.forge = Some(forge);
            assert_ne!(f.output(), honest.output());
            assert!(
                !template_satisfied::<GapBlockTemplate>(&f).unwrap(),
                "chunk {j}, forge {forge:?}"
            );
        }
    }
    // Chunk 0's X chunk claimed at another block: the opened chunk is not chunk 5 of X.
    let LeafInstance::GapBlock(mut other) = LeafInstance::new(&l, &t, o, 0).unwrap() else {
        panic!("a gap_block leaf")
    };
    other.block = 5;
    assert!(!template_satisfied::<GapBlockTemplate>(&other).unwrap());
}

#[test]
fn template_sizes() {
    for (name, n) in [
        (
            GapBlockTemplate::NAME,
            template_stats::<GapBlockTemplate>().unwrap(),
        ),
        (AvgTemplate::NAME, template_stats::<AvgTemplate>().unwrap()),
    ] {
        eprintln!("{name}: {n} constraints");
        assert!(n < 1 << 19, "{name}: {n}");
    }
}

/// mobilenet_v2's `GlobalAveragePool` on its real input: the lowered node (alone, as the
/// whole model's partial sums exceed `MAX_PARTIAL_SUMS`) gives the engine's output of the
/// whole run; all 150 leaves are the contract's statements with the committed digests, and
/// the avg_chunk leaves and the gap_block leaves at blocks 0, 1, 24, 47 and 48 of every
/// chunk satisfy their templates (all 150 take ten minutes on a loaded machine); the
/// manifest covers every node of the model.
#[test]
fn mobilenet_v2_global_average_pool_on_its_real_input() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/mobilenet_v2");
    if !dir.join("model.onnx").exists() {
        eprintln!("testdata/mobilenet_v2 absent: skipped");
        return;
    }
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let file = TensorFile::read(&dir.join("input.json")).unwrap();
    let inputs = quantize_inputs(&program, &file.inputs).unwrap();
    let covered = program
        .nodes
        .iter()
        .filter(|n| plan(&program, n).is_ok())
        .count();
    eprintln!("mobilenet_v2 coverage: {covered}/{}", program.nodes.len());
    assert_eq!(covered, program.nodes.len());

    let gap = program
        .nodes
        .iter()
        .position(|n| matches!(n.op, Op::GlobalAveragePool))
        .unwrap();
    let acts = activations(&program, &inputs, None).unwrap();
    let x = acts[program.nodes[gap].inputs[0]].clone().unwrap();
    let y = acts[program.nodes[gap].output].clone().unwrap();
    eprintln!(
        "GlobalAveragePool input {:?}, output {:?}",
        x.shape, y.shape
    );

    let single = pool_program(&x.shape, "GlobalAveragePool", &[]);
    let l = Lowered::new(&single, 1).unwrap();
    let t = V4Trace::compute(&l, &single, std::slice::from_ref(&x), None).unwrap();
    match &*t.data(l.outputs[0]).unwrap() {
        Data::Narrow(out) => assert_eq!(out.data, y.data, "the engine's output of the full run"),
        Data::Wide(_) => panic!("outputs are narrow"),
    }
    assert_engine_output(&l, &t, &single, std::slice::from_ref(&x));
    let checked = check_node_leaves(&l, &t, single.nodes.len() - 1, |k| match k {
        LOpKind::GapBlock { block, .. } => [0, 48].contains(block),
        _ => true,
    });
    eprintln!("mobilenet_v2 GlobalAveragePool leaves: {checked:?}");
    assert_eq!(checked.get(GapBlockTemplate::NAME), Some(&(49 * 3)));
    assert_eq!(checked.get(AvgTemplate::NAME), Some(&3));
    assert_fault_caught(&l, &single, std::slice::from_ref(&x), 1000);
}

/// Setup and proving time of the two templates on mobilenet_v2's `GlobalAveragePool`
/// shape (the bench's leaves, in the test profile: `cargo test -p zkopml-prover --test
/// avgpool_templates -- --ignored --nocapture`).
#[test]
#[ignore = "timing: minutes of setup"]
fn prove_times() {
    use std::time::Instant;
    use zkopml_prover::templates::{
        template_prove, template_setup, template_verify, AvgChunk, AvgDispute, ChunkOpening,
        GapDispute, WideOpening,
    };
    fn time<T: Template>(inst: &T::Instance) {
        let t = Instant::now();
        let keys = template_setup::<T>().unwrap();
        let setup = t.elapsed().as_secs_f64();
        let mut times: Vec<f64> = (0..3)
            .map(|_| {
                let t = Instant::now();
                let p = template_prove(&keys, inst).unwrap();
                let s = t.elapsed().as_secs_f64();
                template_verify(&keys, &p.public, &p.proof).unwrap();
                s
            })
            .collect();
        times.sort_by(f64::total_cmp);
        eprintln!(
            "{}: {} constraints, setup {setup:.1} s, prove {:.2} s (median of 3)",
            T::NAME,
            template_stats::<T>().unwrap(),
            times[1]
        );
    }
    let x = input(&[1, 1280, 7, 7], 5);
    let g = GapDispute::new(&x.shape).unwrap();
    // Baseline under the same profile and load: rescale_chunk (the bench's leaf shape).
    let sums: Vec<_> = (0..1000i64)
        .map(|i| zkopml_commit::fr_from_i64((i * 7919) % 900_001 - 450_000))
        .collect();
    time::<zkopml_prover::templates::RescaleTemplate>(&zkopml_prover::templates::RescaleChunk {
        acc: WideOpening::new(&[1000], &sums, &zkopml_commit::wide_tree(&sums), 1).unwrap(),
        shift: 12,
        len: 1000,
    });
    let acc = g.acc(&x, 3);
    time::<GapBlockTemplate>(&g.block_instance(&x, &acc, 2, 3).unwrap());
    let avg = AvgDispute::global(&x.shape, &[1, 1280, 1, 1]).unwrap();
    let acc: Vec<_> = g
        .acc(&x, g.blocks())
        .iter()
        .map(|v| zkopml_commit::fr_from_i64(*v as i64))
        .collect();
    let c = &avg.counts;
    time::<AvgTemplate>(&AvgChunk {
        acc: WideOpening::new(&[1280], &acc, &zkopml_commit::wide_tree(&acc), 2).unwrap(),
        counts: ChunkOpening::new(
            &c.shape,
            &c.data,
            &zkopml_commit::ChunkTree::of_values(&c.data),
            2,
        )
        .unwrap(),
        forge: None,
    });
}

/// The manifest (what `zkopml circuits --templates` prints) covers both
/// `GlobalAveragePool`s of the vision_gates export (a squeeze-excite gate and the pooled
/// features).
#[test]
fn the_manifest_covers_the_global_pools_of_an_export() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/exports/vision_gates/model.onnx");
    let graph = import::load_file(&path).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let pools: Vec<_> = program
        .nodes
        .iter()
        .filter(|n| matches!(n.op, Op::GlobalAveragePool | Op::AveragePool(_)))
        .collect();
    assert_eq!(pools.len(), 2);
    for n in pools {
        let p = plan(&program, n).unwrap();
        assert_eq!(p.template, AvgTemplate::NAME, "{}", n.name);
    }
    let covered = program
        .nodes
        .iter()
        .filter(|n| plan(&program, n).is_ok())
        .count();
    eprintln!("vision_gates coverage: {covered}/{}", program.nodes.len());
}
