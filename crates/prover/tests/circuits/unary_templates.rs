//! `Tanh`, `Sigmoid`, `Erf` and `Gelu` under version 4 (`templates/activation.rs`):
//! `unary_chunk` (Tanh, Sigmoid; the exponential factor `U` of Erf/Gelu) and `erf_chunk` (Erf,
//! Gelu from `X` and `U`) reproduce the engine bit for bit over the whole `i32` domain, a
//! forged output value has no witness, the lowering proves each node in one or two leaves
//! per chunk, a fault in a GELU/Erf output is caught at its `erf_chunk` leaf, and one real
//! Groth16 proof of an Erf chunk verifies.
//!
//! Satisfiability is checked by synthesis alone (no keys) except in the one proving test,
//! whose keys are cached on disk after the first run. The lowered test synthesises every
//! leaf of one two-chunk tensor per kind (chunk 0 is the whole domain), so the templates
//! are checked there; the outputs themselves are checked against the engine without keys.

use std::{collections::HashMap, sync::OnceLock};

use ark_bn254::Fr;
use ark_ff::One;
use zkopml_commit::{chunk_digest, ChunkTree, CHUNK_VALUES};
use zkopml_engine::{
    import::{Dim, Graph, GraphNode},
    ops::D_MIN,
    Program, Tensor,
};
use zkopml_prover::{
    templates::{
        plan, second_stage, template_prove, template_satisfied, template_setup, template_stats,
        template_verify, ChunkOpening, ErfChunk, ErfTemplate, Template, TemplateKeyCache,
        TemplateKeys, UnaryChunk, UnaryFn, UnaryTemplate,
    },
    v4::{Data, LOpKind, LeafInstance, Lowered, V4Trace},
};

/// The domain's landmarks: 0, ±1, tiny and large values, the `i32` extremes, the Erf clamp
/// `6·2^F` (and Gelu's, `≈ 6√2·2^F`), the exponential's clamp `−D_MIN` (and its half, Tanh's
/// `2|x|`), `±1.0`, each with its neighbours; then a sweep and pseudo-random values, 616 in
/// all (one full chunk).
fn domain() -> Vec<i32> {
    let clamp = -D_MIN as i32;
    let mut v: Vec<i32> = Vec::new();
    for c in [
        0,
        1,
        2,
        3,
        7,
        100,
        2047,
        2048,
        4095,
        4096,
        4097,
        6 * 4096,
        34_756,
        clamp / 2,
        clamp,
        1 << 20,
        1 << 24,
        1 << 30,
        i32::MAX - 1,
    ] {
        for d in [-1, 0, 1] {
            let x = c.saturating_add(d);
            v.extend([x, x.saturating_neg()]);
        }
    }
    v.extend([i32::MIN, i32::MIN + 1, i32::MAX]);
    // A sweep over ±10 (where the functions bend), then values of every magnitude.
    let mut k = -40_960;
    while v.len() < 420 {
        v.push(k);
        k += 211;
    }
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    while v.len() < CHUNK_VALUES {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let r = (s >> 32) as u32 as i32;
        v.push(r >> (v.len() % 31));
    }
    v
}

fn opening(shape: &[usize], data: &[i32], index: usize) -> ChunkOpening {
    let tree = ChunkTree::of_values(data);
    ChunkOpening::new(shape, data, &tree, index).expect("chunk in range")
}

#[test]
fn the_two_stages_compose_to_the_engine_everywhere() {
    // Every value in ±12 (at 2^-12 the whole bend of each function), a coarser sweep out to
    // ±2^24, and the chunk domain: erf_finish(w, erf_exp(w)) is erf_q, and Gelu's is gelu_q.
    let dense = (-49_152..=49_152).step_by(1);
    let coarse = (-(1i64 << 24)..=(1 << 24)).step_by(4099).map(|v| v as i32);
    for q in dense.chain(coarse).chain(domain()) {
        for f in UnaryFn::ALL {
            let y = if f.two_stage() {
                second_stage(f, q, f.first_stage(q))
            } else {
                f.first_stage(q)
            };
            assert_eq!(y, f.apply(q), "{f:?}({q})");
        }
    }
}

#[test]
fn forged_outputs_have_no_witness() {
    let data = domain();
    let shape = [CHUNK_VALUES];
    let x = opening(&shape, &data, 0);
    // One lie per kind, off by one either way, at the start, middle and end of the chunk.
    for (f, k, delta) in [
        (UnaryFn::Tanh, 5, 1),
        (UnaryFn::Sigmoid, 300, -1),
        (UnaryFn::Erf, 0, 1),
    ] {
        let honest = UnaryChunk {
            input: x.clone(),
            kind: f,
            forge: None,
        };
        let lie = honest.output()[k].wrapping_add(delta);
        let forged = UnaryChunk {
            forge: Some((k, lie)),
            ..honest.clone()
        };
        assert!(
            !template_satisfied::<UnaryTemplate>(&forged).unwrap(),
            "{f:?}: value {k} claimed {lie}"
        );
    }
    for f in [UnaryFn::Erf, UnaryFn::Gelu] {
        let u: Vec<i32> = data.iter().map(|q| f.first_stage(*q)).collect();
        let honest = ErfChunk {
            x: x.clone(),
            u: opening(&shape, &u, 0),
            kind: f,
            forge: None,
        };
        let k = if f == UnaryFn::Erf { 40 } else { 615 };
        let forged = ErfChunk {
            forge: Some((k, honest.output()[k].wrapping_add(1))),
            ..honest.clone()
        };
        assert!(
            !template_satisfied::<ErfTemplate>(&forged).unwrap(),
            "{f:?} {k}"
        );
        if f == UnaryFn::Gelu {
            continue;
        }
        // A kind erf_chunk does not prove, and a U of another length.
        let tanh = ErfChunk {
            kind: UnaryFn::Tanh,
            ..honest.clone()
        };
        assert!(!template_satisfied::<ErfTemplate>(&tanh).unwrap());
        let short = ErfChunk {
            u: opening(&[CHUNK_VALUES - 1], &u[..CHUNK_VALUES - 1], 0),
            ..honest.clone()
        };
        assert!(!template_satisfied::<ErfTemplate>(&short).unwrap());
    }
}

#[test]
fn template_sizes() {
    let unary = template_stats::<UnaryTemplate>().unwrap();
    let erf = template_stats::<ErfTemplate>().unwrap();
    eprintln!(
        "{}: {unary} constraints; {}: {erf} constraints",
        UnaryTemplate::NAME,
        ErfTemplate::NAME
    );
    assert!(unary <= 1 << 19, "unary_chunk {unary}");
    assert!(erf <= 1 << 19, "erf_chunk {erf}");
}

/// `y = op(x)`, one node over the runtime input `x` of `shape`.
fn unary_program(shape: &[usize], op: &str, opset: i64) -> Program {
    let graph = Graph {
        nodes: vec![GraphNode {
            name: "y".into(),
            op_type: op.into(),
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            // Gelu's `approximate` defaults to `none`.
            attrs: Default::default(),
        }],
        initializers: HashMap::new(),
        inputs: vec![("x".into(), shape.iter().map(|d| Dim::Fixed(*d)).collect())],
        outputs: vec!["y".into()],
        opset,
    };
    Program::compile(&graph, &HashMap::new(), 1).unwrap()
}

#[test]
fn every_kind_lowers_bit_exact_over_the_domain_and_a_fault_is_caught() {
    let data: Vec<i32> = domain().iter().chain(&domain()[..100]).copied().collect();
    let shape = [1, data.len()];
    let x = Tensor::new(shape.to_vec(), data.clone());
    for (op, f, opset) in [
        ("Erf", UnaryFn::Erf, 13),
        ("Gelu", UnaryFn::Gelu, 20),
        ("Tanh", UnaryFn::Tanh, 13),
        ("Sigmoid", UnaryFn::Sigmoid, 13),
    ] {
        let program = unary_program(&shape, op, opset);
        let node = &program.nodes[0];
        let p = plan(&program, node).unwrap();
        let per_chunk = if f.two_stage() { 2 } else { 1 };
        assert_eq!(p.leaves, 2 * per_chunk, "{op}");
        let l = Lowered::new(&program, 4).unwrap();
        assert_eq!(l.ops.len(), per_chunk, "{op}");
        let t = V4Trace::compute(&l, &program, std::slice::from_ref(&x), None).unwrap();
        let want: Vec<i32> = data.iter().map(|q| f.apply(*q)).collect();
        match &*t.data(l.outputs[0]).unwrap() {
            Data::Narrow(y) => assert_eq!(y.data, want, "{op}"),
            Data::Wide(_) => panic!("narrow output"),
        }
        // The leaves satisfy their templates: chunk 0 (the whole domain) of every kind, and
        // Erf's chunk 1 (a short last chunk of 100 values); every digest is the committed
        // chunk's.
        for o in 0..l.ops.len() {
            for j in 0..2 {
                let inst = LeafInstance::new(&l, &t, o, j).unwrap();
                if j == 0 || f == UnaryFn::Erf {
                    assert!(inst.is_satisfied().unwrap(), "{op}: op {o} chunk {j}");
                }
                assert_eq!(
                    inst.digest(),
                    t.tree(l.ops[o].output).unwrap().leaves()[j],
                    "{op}: op {o} chunk {j}"
                );
            }
        }
        if !f.two_stage() {
            continue;
        }
        // A fault in the node's output (value 650: chunk 1) is first visible at erf_chunk,
        // whose leaf from the liar's own trace proves the honest chunk; the lie has none.
        let at = 650;
        let liar = V4Trace::compute(&l, &program, std::slice::from_ref(&x), Some((0, at))).unwrap();
        let o = (0..l.ops.len())
            .find(|o| liar.commitments[l.ops[*o].output] != t.commitments[l.ops[*o].output])
            .expect("the fault changes an output");
        assert!(matches!(l.ops[o].kind, LOpKind::ErfFinish(_)), "{op}");
        let out = l.ops[o].output;
        let inst = LeafInstance::new(&l, &liar, o, 1).unwrap();
        assert_eq!(inst.digest(), t.tree(out).unwrap().leaves()[1]);
        let LeafInstance::Erf(mut forged) = inst else {
            panic!("an erf_chunk leaf")
        };
        let Data::Narrow(lie) = &*liar.data(out).unwrap() else {
            panic!("narrow output")
        };
        forged.forge = Some((at % CHUNK_VALUES, lie.data[at]));
        assert_eq!(
            ErfTemplate::public_inputs(&forged)[4],
            liar.tree(out).unwrap().leaves()[1]
        );
        assert!(!template_satisfied::<ErfTemplate>(&forged).unwrap(), "{op}");
    }
}

/// `erf_chunk`'s test keys, cached on disk beside the agents' (`CARGO_TARGET_TMPDIR`).
fn erf_keys() -> &'static TemplateKeys<ErfTemplate> {
    static K: OnceLock<TemplateKeys<ErfTemplate>> = OnceLock::new();
    K.get_or_init(|| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("template-keys");
        TemplateKeyCache::new(dir)
            .get::<ErfTemplate>()
            .expect("setup")
    })
}

#[test]
fn a_real_erf_proof_verifies() {
    let data = domain();
    let shape = [CHUNK_VALUES];
    let f = UnaryFn::Erf;
    let u: Vec<i32> = data.iter().map(|q| f.first_stage(*q)).collect();
    let inst = ErfChunk {
        x: opening(&shape, &data, 0),
        u: opening(&shape, &u, 0),
        kind: f,
        forge: None,
    };
    let p = template_prove(erf_keys(), &inst).unwrap();
    template_verify(erf_keys(), &p.public, &p.proof).unwrap();
    let want: Vec<i32> = data.iter().map(|q| f.apply(*q)).collect();
    assert_eq!(p.public[4], chunk_digest(0, &want));
    // Not a proof of another output or of Gelu.
    let mut other = p.public.clone();
    other[4] += Fr::one();
    assert!(template_verify(erf_keys(), &other, &p.proof).is_err());
    let mut gelu = p.public.clone();
    gelu[3] = Fr::from(UnaryFn::Gelu.code());
    assert!(template_verify(erf_keys(), &gelu, &p.proof).is_err());
}

/// Release timings (`cargo test --release -p zkopml-prover --test circuits --
/// --ignored --nocapture unary_templates::`): setup, proving key size and prove time of both templates.
#[test]
#[ignore = "timing: minutes of setup"]
fn prove_times() {
    use ark_serialize::CanonicalSerialize;
    let data = domain();
    let shape = [CHUNK_VALUES];
    let x = opening(&shape, &data, 0);
    let started = std::time::Instant::now();
    let keys = template_setup::<UnaryTemplate>().unwrap();
    let setup = started.elapsed();
    let inst = UnaryChunk {
        input: x.clone(),
        kind: UnaryFn::Erf,
        forge: None,
    };
    let started = std::time::Instant::now();
    let p = template_prove(&keys, &inst).unwrap();
    eprintln!(
        "{}: setup {:.1} s, pk {:.1} MB, prove {:.2} s",
        UnaryTemplate::NAME,
        setup.as_secs_f64(),
        keys.pk.compressed_size() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    template_verify(&keys, &p.public, &p.proof).unwrap();
    drop(keys);
    let started = std::time::Instant::now();
    let keys = &template_setup::<ErfTemplate>().unwrap();
    let setup = started.elapsed();
    let u: Vec<i32> = data.iter().map(|q| UnaryFn::Gelu.first_stage(*q)).collect();
    let inst = ErfChunk {
        x,
        u: opening(&shape, &u, 0),
        kind: UnaryFn::Gelu,
        forge: None,
    };
    let started = std::time::Instant::now();
    let p = template_prove(keys, &inst).unwrap();
    eprintln!(
        "{}: setup {:.1} s, pk {:.1} MB, prove {:.2} s",
        ErfTemplate::NAME,
        setup.as_secs_f64(),
        keys.pk.compressed_size() as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    template_verify(keys, &p.public, &p.proof).unwrap();
}
