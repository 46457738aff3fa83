//! `Conv` through the fixed templates on real models: every Conv of lenet5, conv2d,
//! variable_cnn and mobilenet_v2 is decomposed into per-tap wide partial sums that rescale to
//! the engine's own output bit for bit; `conv_block` leaves at borders, strides, depthwise
//! groups, 1×1 layers and chunks spanning output channels are proved under keys made once;
//! every way of pointing a leaf at another position, tap, shape, tensor or value fails.

use std::{collections::HashMap, path::PathBuf, sync::OnceLock};

use ark_bn254::Fr;
use ark_ff::One;
use zkopml_commit::{chunk_count, chunk_digest, wide_tree, CHUNK_VALUES};
use zkopml_engine::{
    execute, import,
    io::{quantize_inputs, TensorFile},
    ops::{Conv, Op, Pool},
    program::ValueKind,
    Program, Tensor,
};
use zkopml_prover::templates::{
    template_prove, template_satisfied, template_stats, template_verify, ConvBlockChunk,
    ConvBlockTemplate, ConvDispute, ConvParams, PoolBlockTemplate, PoolDispute, RescaleChunk,
    RescaleTemplate, Template, TemplateKeyCache, TemplateKeys, WideOpening, POOL_SLOTS, SLOTS,
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

/// Every (chunk, tap) leaf of every Conv of the four models fits the table.
#[test]
fn every_leaf_fits_the_table() {
    let mut worst = 0;
    for c in all_convs() {
        let d = dispute(c);
        for j in 0..chunk_count(d.len).max(1) {
            for b in 0..d.blocks() {
                let (xs, ws) = d.chunks_read(j, b);
                let n = xs.len().max(1) + ws.len();
                if n > worst {
                    eprintln!(
                        "{} x{:?} {:?}: chunk {j} tap {b} reads {n}",
                        c.0, c.2.shape, c.1
                    );
                    worst = n;
                }
            }
        }
    }
    eprintln!("most chunks read by one leaf: {worst} (table of {SLOTS})");
    assert!(worst <= SLOTS);
}

fn keys() -> &'static TemplateKeys<ConvBlockTemplate> {
    static K: OnceLock<TemplateKeys<ConvBlockTemplate>> = OnceLock::new();
    K.get_or_init(|| key_cache().get().expect("setup"))
}

/// The template test keys, cached on disk beside the agents' and the other template tests'.
fn key_cache() -> TemplateKeyCache {
    TemplateKeyCache::new(concat!(env!("CARGO_TARGET_TMPDIR"), "/template-keys"))
}

/// The first Conv of `model` matching `pick`.
fn find(model: &str, pick: impl Fn(&Case) -> bool) -> &'static Case {
    all_convs()
        .iter()
        .find(|c| c.0 == model && pick(c))
        .expect("such a Conv")
}

/// The leaf of chunk `j`, tap `b` and the digest of `acc_{b+1}`'s chunk `j`.
fn leaf(c: &Case, j: usize, b: usize) -> (ConvBlockChunk, Fr) {
    let d = dispute(c);
    let acc = d.acc(&c.2, b);
    let inst = d.block_instance(&c.2, &acc, j, b).unwrap();
    let next: Vec<Fr> = d
        .acc(&c.2, b + 1)
        .iter()
        .map(|v| zkopml_commit::fr_from_i64(*v as i64))
        .collect();
    (inst, wide_tree(&next).leaves()[j])
}

fn named(name: &'static str, c: &Case, j: usize, b: usize) -> (&'static str, ConvBlockChunk, Fr) {
    let (inst, next) = leaf(c, j, b);
    (name, inst, next)
}

/// The leaves the brief names: a 5×5 and a 3×3 stride-1 chunk at the border, stride 2, a
/// depthwise chunk, a 1×1 chunk, and chunks spanning 2 and 16 output channels.
fn named_leaves() -> Vec<(&'static str, ConvBlockChunk, Fr)> {
    let lenet0 = find("lenet5", |c| c.1.pads[0] == 2);
    let lenet1 = find("lenet5", |c| c.1.pads[0] == 0);
    let stride2 = find("variable_cnn", |c| c.1.strides[0] == 2);
    let conv2d_first = find("conv2d", |c| c.2.shape[1] == 3);
    let conv2d_tiny = find("conv2d", |c| c.2.shape[2] == 2);
    let dw = find("mobilenet_v2", |c| c.1.group == 96 && c.1.strides[0] == 2);
    let pointwise = find("mobilenet_v2", |c| {
        c.1.kernel == [1, 1] && c.2.shape[2] == 7
    });
    vec![
        // Chunk 0 at tap (0, 0): the top-left corner reads the padding.
        named("lenet5 5x5 pad 2, top border", lenet0, 0, 0),
        // 5×5 valid on a 10×10 map: chunk 2 spans output channels 12..16.
        named("lenet5 5x5 valid, 4 channels", lenet1, 2, 37),
        named("variable_cnn stride 2", stride2, 1, 4),
        // 32×32 maps: chunk 1 spans output channels 0 and 1; tap 8 is the bottom-right.
        named("conv2d 3x3 two channels", conv2d_first, 1, 8),
        named("conv2d 2x2 map, 16 channels", conv2d_tiny, 0, 100),
        named("mobilenet depthwise stride 2", dw, 9, 4),
        named("mobilenet 1x1 on 7x7", pointwise, 3, 17),
    ]
}

#[test]
fn conv_block_is_fixed_and_under_2_pow_19() {
    let n = template_stats::<ConvBlockTemplate>().unwrap();
    eprintln!("{}: {n} constraints", ConvBlockTemplate::NAME);
    assert!(n < 1 << 19, "{n} constraints");
}

/// Every named leaf is a true statement whose output is the next partial sum's chunk; the
/// same leaf with one gathered value forged (inside the window, and in the padding) is not.
#[test]
fn named_leaves_are_satisfied_and_forgeries_are_not() {
    for (name, inst, next) in named_leaves() {
        assert_eq!(
            *ConvBlockTemplate::public_inputs(&inst).last().unwrap(),
            next,
            "{name}: the leaf's digest is acc_(b+1)'s chunk"
        );
        assert!(
            template_satisfied::<ConvBlockTemplate>(&inst).unwrap(),
            "{name}"
        );
    }
    // lenet5's first conv, chunk 0, tap 0: position 0 reads the padding, position 100
    // (row 3, column 16) reads the image.
    let (inst, _) = leaf(find("lenet5", |c| c.1.pads[0] == 2), 0, 0);
    for (at, v) in [(100, 12345), (0, 777)] {
        let mut bad = inst.clone();
        bad.forge = Some((at, v));
        assert!(
            !template_satisfied::<ConvBlockTemplate>(&bad).unwrap(),
            "forged x at {at}"
        );
    }
}

/// A real proof under keys made once: a 3×3 stride-1 chunk at the border spanning two output
/// channels verifies; the same proof at another chunk, tap, shape (stride, padding), input
/// tensor or output digest does not. (One proof: the binding is the verifier's, the same for
/// every leaf; the other named leaves' statements — stride 2, depthwise, 1×1 — are checked
/// for satisfiability in `named_leaves_are_satisfied_and_forgeries_are_not`.)
#[test]
fn leaves_prove_and_proofs_bind_their_statement() {
    let picks = [3];
    let leaves = named_leaves();
    for &i in &picks {
        let (name, inst, next) = &leaves[i];
        let p = template_prove(keys(), inst).unwrap();
        template_verify(keys(), &p.public, &p.proof).unwrap();
        assert_eq!(p.public[6], *next, "{name}");
        let stride = ConvParams {
            strides: [inst.params.strides[0] % 2 + 1; 2],
            ..inst.params
        };
        let pad = ConvParams {
            pad: [inst.params.pad[0] + 1, inst.params.pad[1]],
            ..inst.params
        };
        let other_x = leaves[(i + 1) % leaves.len()].1.clone();
        for (k, v, what) in [
            (3, p.public[3] + Fr::one(), "another chunk"),
            (4, p.public[4] + Fr::one(), "another tap"),
            (5, stride.packed(), "another stride"),
            (5, pad.packed(), "another padding"),
            (
                1,
                ConvBlockTemplate::public_inputs(&other_x)[1],
                "another X",
            ),
            (6, p.public[6] + Fr::one(), "another output"),
        ] {
            let mut public = p.public.clone();
            public[k] = v;
            assert!(
                template_verify(keys(), &public, &p.proof).is_err(),
                "{name}: {what}"
            );
        }
    }
}

/// Witnesses that point a leaf elsewhere have no satisfying assignment: a chunk presented
/// at another index, a tap past the group's last, and an X chunk whose values changed.
#[test]
fn tampered_leaves_are_unsatisfiable() {
    let c = find("conv2d", |c| c.2.shape[1] == 3);
    let (inst, _) = leaf(c, 1, 8);
    let mut moved = inst.clone();
    moved.acc_in.index = 2;
    assert!(
        !template_satisfied::<ConvBlockTemplate>(&moved).unwrap(),
        "position"
    );
    let mut past = inst.clone();
    past.block = dispute(c).blocks();
    assert!(
        !template_satisfied::<ConvBlockTemplate>(&past).unwrap(),
        "tap past the end"
    );
    let mut changed = inst.clone();
    let slot = changed.slots.iter().position(|(w, _)| !w).unwrap();
    changed.slots[slot].1.values[5] ^= 1;
    assert!(
        !template_satisfied::<ConvBlockTemplate>(&changed).unwrap(),
        "changed X value"
    );
    let mut changed_w = inst.clone();
    let slot = changed_w.slots.iter().position(|(w, _)| *w).unwrap();
    changed_w.slots[slot].1.values[0] += 1;
    assert!(
        !template_satisfied::<ConvBlockTemplate>(&changed_w).unwrap(),
        "changed weight"
    );
    // Index past the output's last chunk: no opening exists, and the decomposition says so.
    let d = dispute(c);
    assert!(d
        .block_instance(&c.2, &d.acc0, chunk_count(d.len), 0)
        .is_err());
}

/// The last tap's partial sums end at the engine's output through the Gemm's rescale leaf.
#[test]
fn rescale_leaf_ends_at_the_engine_output() {
    let c = find("conv2d", |c| c.2.shape[1] == 3);
    let d = dispute(c);
    let acc: Vec<Fr> = d
        .acc_final
        .iter()
        .map(|v| zkopml_commit::fr_from_i64(*v as i64))
        .collect();
    let tree = wide_tree(&acc);
    let j = 1;
    let inst = RescaleChunk {
        acc: WideOpening::new(&[d.len], &acc, &tree, j).unwrap(),
        shift: d.shift,
        len: d.len,
    };
    assert!(template_satisfied::<RescaleTemplate>(&inst).unwrap());
    assert_eq!(
        RescaleTemplate::public_inputs(&inst)[4],
        chunk_digest(j, &c.5.data[j * CHUNK_VALUES..(j + 1) * CHUNK_VALUES])
    );
}

/// The MaxPool nodes of `model` with their input and output.
fn pools(model: &'static str) -> Vec<(Pool, Tensor, Tensor)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata")
        .join(model);
    let graph = import::load_file(&dir.join("model.onnx")).unwrap();
    let program = Program::compile(&graph, &HashMap::new(), 1).unwrap();
    let input = TensorFile::read(&dir.join("input.json")).unwrap();
    let trace = execute(&program, &quantize_inputs(&program, &input.inputs).unwrap()).unwrap();
    program
        .nodes
        .iter()
        .filter_map(|n| match &n.op {
            Op::MaxPool(p) => Some((
                p.clone(),
                trace.values[n.inputs[0]].clone().unwrap(),
                trace.values[n.output].clone().unwrap(),
            )),
            _ => None,
        })
        .collect()
}

/// Every MaxPool of lenet5 and conv2d: the running maxima end at the engine's output bit for
/// bit, every leaf fits the pool table, and a leaf proves, binds its statement and rejects a
/// forged gathered value.
#[test]
fn maxpool_decomposes_and_proves() {
    let all: Vec<_> = ["lenet5", "conv2d"].into_iter().flat_map(pools).collect();
    assert_eq!(all.len(), 7);
    for (p, x, y) in &all {
        let d = PoolDispute::new(p, x).unwrap();
        assert_eq!(d.y, y.data, "{p:?} on {:?}", x.shape);
        for j in 0..chunk_count(d.len).max(1) {
            for b in 0..d.blocks() {
                assert!(
                    d.chunks_read(j, b).len() <= POOL_SLOTS,
                    "{p:?} chunk {j} tap {b}"
                );
            }
        }
    }
    // lenet5's first pool (6 × 28 × 28 → 6 × 14 × 14): chunk 1 spans channels 3 to 5.
    let (p, x, _) = &all[0];
    let d = PoolDispute::new(p, x).unwrap();
    let (j, b) = (1, 3);
    let inst = d.block_instance(x, &d.acc(x, b), j, b).unwrap();
    let next: Vec<Fr> = d
        .acc(x, b + 1)
        .iter()
        .map(|v| zkopml_commit::fr_from_i64(*v as i64))
        .collect();
    let keys: TemplateKeys<PoolBlockTemplate> = key_cache().get().unwrap();
    let proof = template_prove(&keys, &inst).unwrap();
    template_verify(&keys, &proof.public, &proof.proof).unwrap();
    assert_eq!(proof.public[5], wide_tree(&next).leaves()[j]);
    for k in [2, 3, 5] {
        let mut public = proof.public.clone();
        public[k] += Fr::one();
        assert!(
            template_verify(&keys, &public, &proof.proof).is_err(),
            "input {k}"
        );
    }
    let mut forged = inst.clone();
    forged.window.forge = Some((10, i32::MAX));
    assert!(!template_satisfied::<PoolBlockTemplate>(&forged).unwrap());
    eprintln!(
        "{}: {} constraints",
        PoolBlockTemplate::NAME,
        template_stats::<PoolBlockTemplate>().unwrap()
    );
}

/// Border flags on non-zero data (an image's zero margin would hide a wrong flag): odd
/// planes, padding 1 and 2, strides 1 and 2, dilation 2, a depthwise multiplier of 2, every
/// value non-zero; each leaf's digest is the next partial sum's chunk and it is satisfied.
#[test]
fn borders_hold_on_nonzero_values() {
    let nonzero = |n: usize, salt: i32| -> Vec<i32> {
        (0..n as i32)
            .map(|i| (i.wrapping_mul(7919).wrapping_add(salt)).rem_euclid(2001) - 1000)
            .map(|v| if v == 0 { 1 } else { v })
            .collect()
    };
    // (x, w, group, stride, pad, dilation)
    let cases = [
        ([1, 3, 9, 11], [5, 3, 3, 3], 1, 2, 1, 2),
        ([1, 2, 7, 5], [4, 1, 3, 3], 2, 1, 2, 1),
    ];
    for (xs, ws, group, s, p, dl) in cases {
        let conv = Conv {
            kernel: [ws[2], ws[3]],
            pads: [p; 4],
            strides: [s; 2],
            dilations: [dl; 2],
            group,
            has_bias: true,
            weight_frac_bits: 16,
            bias_frac_bits: 28,
        };
        let x = Tensor::new(xs.to_vec(), nonzero(xs.iter().product(), 3));
        let w = Tensor::new(ws.to_vec(), nonzero(ws.iter().product(), 5));
        let bias = Tensor::new(vec![ws[0]], nonzero(ws[0], 7));
        let case: Case = (
            "synthetic",
            conv,
            x,
            w,
            Some(bias),
            Tensor::new(vec![1], vec![0]),
        );
        let d = dispute(&case);
        for b in [0, 4, d.blocks() - 1] {
            let (inst, next) = leaf(&case, 0, b);
            assert_eq!(
                *ConvBlockTemplate::public_inputs(&inst).last().unwrap(),
                next
            );
            assert!(
                template_satisfied::<ConvBlockTemplate>(&inst).unwrap(),
                "x {xs:?} w {ws:?} tap {b}"
            );
        }
    }
}
