//! The template library: one set of keys proves chunks of any tensor, and every way of
//! pointing a true proof at another statement fails (`docs/commitments.md` "Version 4").

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::One;
use zkopml_commit::{chunk_digest, ChunkTree, CHUNK_VALUES};
use zkopml_engine::ops::{BinaryKind, Clip};
use zkopml_prover::templates::{
    template_prove, template_satisfied, template_setup, template_stats, template_verify,
    BinaryChunk, BinaryTemplate, ChunkOpening, ClipChunk, ClipTemplate, Template, TemplateKeys,
};

fn keys() -> &'static TemplateKeys<ClipTemplate> {
    static K: OnceLock<TemplateKeys<ClipTemplate>> = OnceLock::new();
    K.get_or_init(|| template_setup::<ClipTemplate>().expect("setup"))
}

fn binary_keys() -> &'static TemplateKeys<BinaryTemplate> {
    static K: OnceLock<TemplateKeys<BinaryTemplate>> = OnceLock::new();
    K.get_or_init(|| template_setup::<BinaryTemplate>().expect("setup"))
}

fn opening(shape: &[usize], data: &[i32], index: usize) -> ChunkOpening {
    ChunkOpening::new(shape, data, &ChunkTree::of_values(data), index).expect("inside")
}

fn tensor(len: usize, salt: i32) -> Vec<i32> {
    (0..len as i32)
        .map(|i| i.wrapping_mul(-7919).wrapping_add(salt) ^ (i << 18))
        .collect()
}

fn instance(shape: &[usize], data: &[i32], index: usize, clip: Clip) -> ClipChunk {
    let tree = ChunkTree::of_values(data);
    ClipChunk {
        input: ChunkOpening::new(shape, data, &tree, index).expect("index inside the tensor"),
        clip,
    }
}

const RELU6: Clip = Clip { lo: 0, hi: 6 << 16 };
const RELU: Clip = Clip {
    lo: 0,
    hi: i32::MAX,
};

#[test]
fn templates_are_small_and_fixed() {
    let clip = template_stats::<ClipTemplate>().unwrap();
    let binary = template_stats::<BinaryTemplate>().unwrap();
    eprintln!("{}: {clip} constraints", ClipTemplate::NAME);
    eprintln!("{}: {binary} constraints", BinaryTemplate::NAME);
    assert!(clip < 1 << 17, "{clip} constraints");
    assert!(binary < 1 << 18, "{binary} constraints");
}

#[test]
fn binary_template_proves_add_sub_mul_with_saturation() {
    let shape = [2, 700];
    let mut a = tensor(1400, 5);
    let mut b = tensor(1400, -9);
    // Saturating corners in the last (short) chunk.
    a[1300] = i32::MAX;
    b[1300] = i32::MAX;
    a[1301] = i32::MIN;
    b[1301] = 1 << 20;
    for (kind, index) in [
        (BinaryKind::Add, 2),
        (BinaryKind::Sub, 0),
        (BinaryKind::Mul, 2),
    ] {
        let inst = BinaryChunk {
            a: opening(&shape, &a, index),
            b: opening(&shape, &b, index),
            kind,
        };
        let p = template_prove(binary_keys(), &inst).unwrap();
        template_verify(binary_keys(), &p.public, &p.proof).unwrap();
        let want: Vec<i32> = inst
            .a
            .values
            .iter()
            .zip(&inst.b.values)
            .map(|(x, y)| kind.apply(*x, *y, 0))
            .collect();
        assert_eq!(p.public[4], chunk_digest(index, &want));
        // The same proof says nothing about another operation or the operands swapped.
        let mut public = p.public.clone();
        public[3] = Fr::from((BinaryChunk::code(kind).unwrap() + 1) % 3);
        assert!(template_verify(binary_keys(), &public, &p.proof).is_err());
        let mut swapped = p.public.clone();
        swapped.swap(0, 1);
        assert!(template_verify(binary_keys(), &swapped, &p.proof).is_err());
    }
    // Operands of different lengths, an unproved kind, a chunk of B from another position.
    let short = tensor(1300, 2);
    let unequal = BinaryChunk {
        a: opening(&shape, &a, 0),
        b: opening(&[1300], &short, 0),
        kind: BinaryKind::Add,
    };
    assert!(!template_satisfied::<BinaryTemplate>(&unequal).unwrap());
    let div = BinaryChunk {
        a: opening(&shape, &a, 0),
        b: opening(&shape, &b, 0),
        kind: BinaryKind::Div,
    };
    assert!(!template_satisfied::<BinaryTemplate>(&div).unwrap());
    let mut moved = BinaryChunk {
        a: opening(&shape, &a, 0),
        b: opening(&shape, &b, 1),
        kind: BinaryKind::Add,
    };
    moved.b.index = 0;
    assert!(!template_satisfied::<BinaryTemplate>(&moved).unwrap());
}

#[test]
fn one_set_of_keys_proves_chunks_of_tensors_of_any_size() {
    // A lenet5-sized activation (one short chunk), a mobilenet_v2-sized one (1 × 32 × 112 ×
    // 112: 652 chunks, depth 10), middle and last chunks, Relu and ReLU6.
    let small_shape = [1, 6, 14, 14];
    let small = tensor(6 * 14 * 14, 3);
    let big_shape = [1, 32, 112, 112];
    let big = tensor(32 * 112 * 112, -5);
    let last = big.len().div_ceil(CHUNK_VALUES) - 1;
    for (shape, data, index, clip) in [
        (&small_shape[..], &small[..], 0, RELU),
        (&big_shape[..], &big[..], 300, RELU6),
        (&big_shape[..], &big[..], last, RELU6),
    ] {
        let inst = instance(shape, data, index, clip.clone());
        let p = template_prove(keys(), &inst).unwrap();
        template_verify(keys(), &p.public, &p.proof).unwrap();
        // The public output digest is the engine's chunk.
        let want: Vec<i32> = inst
            .input
            .values
            .iter()
            .map(|v| (*v).clamp(clip.lo, clip.hi))
            .collect();
        assert_eq!(p.public[4], chunk_digest(index, &want));
    }
}

#[test]
fn a_true_proof_decides_nothing_about_another_statement() {
    let shape = [3, 1000];
    let data = tensor(3000, 11);
    let inst = instance(&shape, &data, 2, RELU6);
    let p = template_prove(keys(), &inst).unwrap();
    let other = |k: usize, v: Fr| {
        let mut public = p.public.clone();
        public[k] = v;
        template_verify(keys(), &public, &p.proof).is_err()
    };
    // Another position, another tensor, other bounds, another output.
    assert!(other(1, Fr::from(3u64)), "wrong position");
    let other_tensor = instance(&[3, 1000], &tensor(3000, 12), 2, RELU6);
    assert!(
        other(0, ClipTemplate::public_inputs(&other_tensor)[0]),
        "another tensor"
    );
    let reshaped = instance(&[1000, 3], &data, 2, RELU6);
    assert!(
        other(0, ClipTemplate::public_inputs(&reshaped)[0]),
        "another shape"
    );
    assert!(other(2, Fr::from(1u64)), "another lower bound");
    assert!(other(3, Fr::from(5u64 << 16)), "another upper bound");
    assert!(other(4, p.public[4] + Fr::one()), "another output digest");
}

#[test]
fn false_statements_have_no_proof() {
    let shape = [5000];
    let data = tensor(5000, 1);
    let tree = ChunkTree::of_values(&data);
    let good = instance(&shape, &data, 4, RELU6);
    assert!(template_satisfied::<ClipTemplate>(&good).unwrap());

    // A chunk opened at the wrong position (values of chunk 4, claimed as chunk 5).
    let mut moved = good.clone();
    moved.input.index = 5;
    assert!(!template_satisfied::<ClipTemplate>(&moved).unwrap());

    // A changed input value (the opening no longer matches the root).
    let mut forged = good.clone();
    forged.input.values[17] ^= 1;
    assert!(!template_satisfied::<ClipTemplate>(&forged).unwrap());

    // An index past the end: no opening exists, and a hand-made one is unsatisfiable.
    let chunks = tree.chunks();
    assert!(ChunkOpening::new(&shape, &data, &tree, chunks).is_none());
    let mut past = good.clone();
    past.input.index = chunks;
    past.input.values.clear();
    past.input.siblings = tree.prove(chunks).unwrap();
    past.input
        .siblings
        .resize(zkopml_prover::templates::TREE_LEVELS, Fr::from(0u64));
    assert!(!template_satisfied::<ClipTemplate>(&past).unwrap());

    // The last, short chunk: values past the tensor's end cannot be smuggled in.
    let last = instance(&shape, &data, chunks - 1, RELU6);
    assert!(template_satisfied::<ClipTemplate>(&last).unwrap());
    let mut padded = last.clone();
    padded.input.values.push(7);
    assert!(!template_satisfied::<ClipTemplate>(&padded).unwrap());

    // Proving a false statement is an error, not a proof.
    assert!(template_prove(keys(), &forged).is_err());
}
