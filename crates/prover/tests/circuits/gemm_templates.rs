//! `Gemm` through the fixed templates on a real model: lenet5's fully connected layers are
//! decomposed into wide partial sums, a block leaf and the rescale leaf are proved under
//! keys made once, and the last leaf's digest is the chunk digest of the engine's own output.

use std::{collections::HashMap, path::PathBuf, sync::OnceLock};

use ark_bn254::Fr;
use ark_ff::One;
use zkopml_commit::{chunk_digest, wide_tree, ChunkTree, CHUNK_VALUES};
use zkopml_engine::{
    execute, import,
    io::{quantize_inputs, TensorFile},
    ops::Op,
    program::ValueKind,
    Program, Tensor,
};
use zkopml_prover::templates::{
    template_prove, template_satisfied, template_verify, ChunkOpening, GemmBlockChunk,
    GemmBlockTemplate, GemmDispute, RescaleChunk, RescaleTemplate, TemplateKeyCache, TemplateKeys,
    WideOpening, KB,
};

/// The template test keys, cached on disk beside the agents' and the other template tests'.
fn key_cache() -> TemplateKeyCache {
    TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"))
}

fn block_keys() -> &'static TemplateKeys<GemmBlockTemplate> {
    static K: OnceLock<TemplateKeys<GemmBlockTemplate>> = OnceLock::new();
    K.get_or_init(|| key_cache().get().expect("setup"))
}

fn rescale_keys() -> &'static TemplateKeys<RescaleTemplate> {
    static K: OnceLock<TemplateKeys<RescaleTemplate>> = OnceLock::new();
    K.get_or_init(|| key_cache().get().expect("setup"))
}

/// lenet5's Gemm nodes with their operands from an honest run.
fn lenet5_gemms() -> Vec<(
    zkopml_engine::ops::Gemm,
    Tensor,
    Tensor,
    Option<Tensor>,
    Tensor,
)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/lenet5");
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let input = TensorFile::read(&dir.join("input.json")).unwrap();
    let trace = execute(&program, &quantize_inputs(&program, &input.inputs).unwrap()).unwrap();
    let value = |v: usize| match &program.values[v].kind {
        ValueKind::Const(t) => t.clone(),
        _ => trace.values[v].clone().unwrap(),
    };
    program
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::Gemm(g) => Some((
                g.clone(),
                value(n.inputs[0]),
                value(n.inputs[1]),
                n.inputs.get(2).map(|v| value(*v)),
                value(n.output),
            )),
            _ => None,
        })
        .collect()
}

fn block_instance(d: &GemmDispute, a: &Tensor, b: usize, j: usize) -> GemmBlockChunk {
    let acc = d.acc_fr(b);
    let acc_tree = wide_tree(&acc);
    let a_tree = ChunkTree::of_values(&a.data);
    let w_tree = ChunkTree::of_values(&d.weights.data);
    let r = d.n_pad / CHUNK_VALUES;
    GemmBlockChunk {
        acc_in: WideOpening::new(&[d.n_pad], &acc, &acc_tree, j).unwrap(),
        a: ChunkOpening::new(&a.shape, &a.data, &a_tree, b / (CHUNK_VALUES / KB)).unwrap(),
        rows: (0..KB)
            .map(|t| {
                ChunkOpening::new(
                    &d.weights.shape,
                    &d.weights.data,
                    &w_tree,
                    (KB * b + t) * r + j,
                )
                .unwrap()
            })
            .collect(),
        block: b,
        row_chunks: r,
    }
}

#[test]
fn decomposition_reproduces_the_engine() {
    let gemms = lenet5_gemms();
    assert!(gemms.len() >= 2, "lenet5 has fully connected layers");
    for (g, a, b, c, y) in &gemms {
        let d = GemmDispute::new(g, a, b, c.as_ref()).unwrap();
        assert_eq!(
            d.y, y.data,
            "the partial sums rescale to the engine's output"
        );
        assert_eq!(d.accs.len(), d.blocks() + 1);
    }
}

#[test]
fn block_and_rescale_leaves_prove_a_real_gemm() {
    let (g, a, b, c, y) = lenet5_gemms().into_iter().next().unwrap();
    let d = GemmDispute::new(&g, &a, &b, c.as_ref()).unwrap();
    // The first and the last block of chunk 0: each output is the next partial sum's chunk.
    for blk in [0, d.blocks() - 1] {
        let inst = block_instance(&d, &a, blk, 0);
        let p = template_prove(block_keys(), &inst).unwrap();
        template_verify(block_keys(), &p.public, &p.proof).unwrap();
        let next = wide_tree(&d.acc_fr(blk + 1));
        assert_eq!(p.public[6], next.leaves()[0], "block {blk}");
        // Another block, another row stride, another output: rejected.
        for (k, v) in [
            (4, Fr::from(blk as u64 + 1)),
            (5, Fr::from(7u64)),
            (6, p.public[6] + Fr::one()),
        ] {
            let mut public = p.public.clone();
            public[k] = v;
            assert!(template_verify(block_keys(), &public, &p.proof).is_err());
        }
    }
    // A block whose A values come from another block's slot has no witness.
    let mut wrong = block_instance(&d, &a, 1, 0);
    wrong.block = 2;
    assert!(!template_satisfied::<GemmBlockTemplate>(&wrong).unwrap());

    // The rescale leaf ends at the engine's output chunk.
    let acc = d.acc_fr(d.blocks());
    let tree = wide_tree(&acc);
    let inst = RescaleChunk {
        acc: WideOpening::new(&[d.n_pad], &acc, &tree, 0).unwrap(),
        shift: d.shift,
        len: d.n,
    };
    let p = template_prove(rescale_keys(), &inst).unwrap();
    template_verify(rescale_keys(), &p.public, &p.proof).unwrap();
    assert_eq!(
        p.public[4],
        chunk_digest(0, &y.data[..d.n.min(CHUNK_VALUES)])
    );
    let mut public = p.public.clone();
    public[2] = Fr::from(d.shift as u64 + 1);
    assert!(
        template_verify(rescale_keys(), &public, &p.proof).is_err(),
        "another shift"
    );
    let mut public = p.public.clone();
    public[3] = Fr::from(d.n as u64 - 1);
    assert!(
        template_verify(rescale_keys(), &public, &p.proof).is_err(),
        "another length"
    );
}
