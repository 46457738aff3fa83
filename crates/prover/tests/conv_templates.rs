//! `Conv` through the fixed templates on real models: every Conv of lenet5, conv2d,
//! variable_cnn and mobilenet_v2 is decomposed into per-tap wide partial sums that rescale to
//! the engine's own output bit for bit; `conv_block` leaves at borders, strides, depthwise
//! groups, 1×1 layers and chunks spanning output channels are proved under keys made once;
//! every way of pointing a leaf at another position, tap, shape, tensor or value fails.

use std::{collections::HashMap, path::PathBuf, sync::OnceLock};

use ark_bn254::Fr;
use ark_ff::One;
use zkopml_commit::{chunk_count, chunk_digest, wide_tree, ChunkTree, CHUNK_VALUES};
use zkopml_engine::{
    execute, import,
    io::{quantize_inputs, TensorFile},
    ops::{Conv, Op},
    program::ValueKind,
    Program, Tensor,
};
use zkopml_prover::templates::{
    template_prove, template_satisfied, template_setup, template_stats, template_verify,
    ChunkOpening, ConvBlockChunk, ConvBlockTemplate, ConvDispute, RescaleChunk, RescaleTemplate,
    Template, TemplateKeys, WideOpening, SLOTS,
};

/// One Conv node of a model run: `(model, conv, x, w, bias, y)`.
type Case = (&'static str, Conv, Tensor, Tensor, Option<Tensor>, Tensor);

fn convs(model: &'static str) -> Vec<Case> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(model);
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
            Op::Conv(c) => Some((
                model,
                c.clone(),
                value(n.inputs[0]),
                value(n.inputs[1]),
                n.inputs.get(2).map(|v| value(*v)),
                value(n.output),
            )),
            _ => None,
        })
        .collect()
}

fn all_convs() -> &'static [Case] {
    static C: OnceLock<Vec<Case>> = OnceLock::new();
    C.get_or_init(|| {
        ["lenet5", "conv2d", "variable_cnn", "mobilenet_v2"]
            .into_iter()
            .flat_map(convs)
            .collect()
    })
}

fn dispute(c: &Case) -> ConvDispute {
    ConvDispute::new(&c.1, &c.2, &c.3, c.4.as_ref()).unwrap()
}

#[test]
fn decomposition_reproduces_the_engine_on_every_conv() {
    let cases = all_convs();
    let count = |m: &str| cases.iter().filter(|c| c.0 == m).count();
    assert_eq!(
        [count("lenet5"), count("conv2d"), count("variable_cnn")],
        [2, 10, 2]
    );
    assert_eq!(count("mobilenet_v2"), 52);
    for c in cases {
        let d = dispute(c);
        assert_eq!(d.y, c.5.data, "{}: {:?}", c.0, c.1);
        assert_eq!(d.len, c.5.data.len());
    }
}

/// Every (chunk, tap) of the small models, and of mobilenet_v2 every chunk at the first,
/// a middle and the last taps (and every tap of the first input channel), fits the table.
#[test]
fn every_leaf_fits_the_table() {
    let mut worst = 0;
    for c in all_convs() {
        let d = dispute(c);
        let chunks = chunk_count(d.len).max(1);
        let kk = d.params.kernel[0] * d.params.kernel[1];
        let taps: Vec<usize> = if c.0 == "mobilenet_v2" {
            let mut t: Vec<usize> = (0..kk).collect();
            t.extend([d.blocks() / 2, d.blocks() - 1]);
            t
        } else {
            (0..d.blocks()).collect()
        };
        for j in 0..chunks {
            for &b in &taps {
                let (xs, ws) = d.chunks_read(j, b);
                let n = xs.len().max(1) + ws.len();
                if n > worst {
                    eprintln!("{} x{:?} {:?}: chunk {j} tap {b} reads {n}", c.0, c.2.shape, c.1);
                    worst = n;
                }
            }
        }
    }
    eprintln!("most chunks read by one leaf: {worst} (table of {SLOTS})");
    assert!(worst <= SLOTS);
}
