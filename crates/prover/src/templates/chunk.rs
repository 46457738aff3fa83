//! Opening one chunk of a version-4 tensor commitment inside a fixed circuit, and hashing an
//! output chunk the same way (`zkopml_commit::chunked`, `docs/commitments.md` "Version 4").
//!
//! Nothing here depends on the tensor's size or on a model: the length comes from the
//! opened header, the tree depth and the last chunk's value count are derived from it in the
//! circuit, and the path always has [`TREE_LEVELS`] levels of which the first `depth` count.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use zkopml_commit::{
    chunk_count, tensor_header, tree_depth, ChunkTree, CHUNK, CHUNK_VALUES, CHUNK_WORDS, LIMBS,
    LIMB_OFFSET, PERMS_PER_CHUNK, TAG_CHUNK, TAG_TENSOR, WIDTH,
};

use crate::{
    gadgets::{Cs, CsResult, Lc},
    poseidon,
};

/// Tree levels a template can climb: tensors up to `2^20` chunks (≈ 646 M values).
pub const TREE_LEVELS: usize = 20;
/// Largest rank a header opens (the header has nine dimension slots).
const MAX_RANK: usize = WIDTH - 4;

/// What a prover needs to open chunk `index` of a committed tensor: `V = i32` for the
/// tensors of a trace ([`ChunkOpening`]), `V = Fr` for the wide partial sums of a dispute
/// ([`WideOpening`]).
#[derive(Clone, Debug)]
pub struct Opening<V> {
    /// The tensor's shape (the header's preimage).
    pub shape: Vec<usize>,
    /// The tree root.
    pub root: Fr,
    /// The chunk's index.
    pub index: usize,
    /// The chunk's values (fewer than [`CHUNK_VALUES`] only for the last chunk).
    pub values: Vec<V>,
    /// Siblings bottom to top, [`TREE_LEVELS`] of them (zero past the tree's depth).
    pub siblings: Vec<Fr>,
}

/// An opening of a tensor of `i32` values.
pub type ChunkOpening = Opening<i32>;
/// An opening of a wide tensor (`zkopml_commit::wide_commitment`).
pub type WideOpening = Opening<Fr>;

impl<V: Clone> Opening<V> {
    /// Opening of chunk `index` of `data` (shape `shape`) from its tree; `None` when the
    /// index is past the last chunk, the rank is above nine or the tree is too deep for a
    /// template.
    pub fn new(shape: &[usize], data: &[V], tree: &ChunkTree, index: usize) -> Option<Self> {
        if index >= tree.chunks() || shape.len() > MAX_RANK || tree.depth() > TREE_LEVELS {
            return None;
        }
        let mut siblings = tree.prove(index)?;
        siblings.resize(TREE_LEVELS, Fr::zero());
        let lo = index * CHUNK_VALUES;
        let hi = (lo + CHUNK_VALUES).min(data.len());
        Some(Self {
            shape: shape.to_vec(),
            root: tree.root(),
            index,
            values: data[lo..hi].to_vec(),
            siblings,
        })
    }
}

/// A tensor commitment opened in the circuit: its length and tree shape.
#[derive(Clone)]
pub(crate) struct OpenedTensor {
    /// Number of values.
    pub len: Lc,
    /// Number of chunks `⌈len / CHUNK_VALUES⌉ ≥ 1`.
    pub chunks: Lc,
    /// One-hot over `0..=TREE_LEVELS`: the tree's depth.
    pub depth: Vec<Lc>,
    /// The tree root.
    pub root: Lc,
}

/// circomlib Poseidon t = 3 in the circuit (textbook rounds: 243 constraints).
pub(crate) fn poseidon_t3(cs: &Cs, a: &Lc, b: &Lc) -> CsResult<Lc> {
    struct P {
        ark: Vec<Fr>,
        mds: Vec<Vec<Fr>>,
        full: usize,
        partial: usize,
    }
    static PARAMS: OnceLock<P> = OnceLock::new();
    let p = PARAMS.get_or_init(|| {
        let p = light_poseidon::parameters::bn254_x5::get_poseidon_parameters::<Fr>(3)
            .expect("width 3 is one of circomlib's parameter sets");
        P {
            ark: p.ark,
            mds: p.mds,
            full: p.full_rounds,
            partial: p.partial_rounds,
        }
    });
    let half = p.full / 2;
    let mut s = [Lc::constant(Fr::zero()), a.clone(), b.clone()];
    for round in 0..p.full + p.partial {
        for (i, x) in s.iter_mut().enumerate() {
            *x = x.add_const(p.ark[round * 3 + i]);
        }
        if round < half || round >= half + p.partial {
            for x in s.iter_mut() {
                *x = cs.pow5(x)?;
            }
        } else {
            s[0] = cs.pow5(&s[0])?;
        }
        let x = s.clone();
        for (i, out) in s.iter_mut().enumerate() {
            *out = x
                .iter()
                .zip(&p.mds[i])
                .fold(Lc::constant(Fr::zero()), |acc, (v, m)| {
                    acc.add(&v.scale(*m))
                })
                .compact();
        }
    }
    let [out, _, _] = s;
    Ok(out)
}

/// Opens the public tensor commitment `c = Poseidon_t3(header, root)`: the header's preimage
/// (tag, length, rank, dimensions) and the root are witnesses; the chunk count and the
/// tree's depth are derived from the length and constrained.
pub(crate) fn open_tensor(cs: &Cs, c: &Lc, w: Option<(&[usize], Fr)>) -> CsResult<OpenedTensor> {
    let shape = w.map(|w| w.0).unwrap_or(&[1]);
    let len_v = shape.iter().product::<usize>();
    let mut pre: [Lc; WIDTH - 1] = core::array::from_fn(|_| Lc::constant(Fr::zero()));
    pre[0] = Lc::constant(Fr::from(TAG_TENSOR));
    pre[1] = cs.witness(Fr::from(len_v as u64))?;
    pre[2] = cs.witness(Fr::from(shape.len() as u64))?;
    for (slot, k) in pre[3..].iter_mut().zip(0..) {
        *slot = cs.witness(Fr::from(shape.get(k).copied().unwrap_or(0) as u64))?;
    }
    let header = poseidon::permute(cs, &pre)?;
    debug_assert!(w.is_none() || Some(header.val) == tensor_header(shape));
    let root = cs.witness(w.map_or(Fr::zero(), |w| w.1))?;
    cs.assert_eq(&poseidon_t3(cs, &header, &root)?, c)?;
    let len = pre[1].clone();

    // chunks = ⌈len / CHUNK_VALUES⌉ ≥ 1: 0 ≤ CHUNK_VALUES·chunks − len < CHUNK_VALUES.
    let chunks_v = chunk_count(len_v).max(1);
    let chunks = cs.witness(Fr::from(chunks_v as u64))?;
    let slack = chunks.scale(Fr::from(CHUNK_VALUES as u64)).sub(&len);
    cs.range(&slack, 10)?;
    cs.range(
        &slack
            .scale(-Fr::one())
            .add_const(Fr::from(CHUNK_VALUES as u64 - 1)),
        10,
    )?;
    cs.range(&chunks.add_const(-Fr::one()), 32)?;

    // depth = ⌈log2 chunks⌉: with P = 2^depth, P ≥ chunks and 2·chunks > P.
    let (depth, _) = one_hot_at(cs, tree_depth(chunks_v) as i128, TREE_LEVELS + 1)?;
    let pow = depth
        .iter()
        .enumerate()
        .fold(Lc::constant(Fr::zero()), |acc, (l, e)| {
            acc.add(&e.scale(Fr::from(1u64 << l)))
        });
    cs.range(&pow.sub(&chunks), 33)?;
    cs.range(
        &chunks.scale(Fr::from(2u64)).sub(&pow).add_const(-Fr::one()),
        33,
    )?;
    Ok(OpenedTensor {
        len,
        chunks,
        depth,
        root,
    })
}

/// Little-endian bits of a chunk index with `index < chunks` of `t` (so the bits above the
/// tree's depth are zero).
pub(crate) fn index_bits(cs: &Cs, index: &Lc, t: &OpenedTensor) -> CsResult<Vec<Lc>> {
    let bits = cs.bits(index, TREE_LEVELS)?;
    cs.range(&t.chunks.sub(index).add_const(-Fr::one()), 32)?;
    Ok(bits)
}

/// `valid[k] = 1` iff position `k` of chunk `index` holds a value (`index·CHUNK_VALUES + k <
/// len`): a non-increasing boolean vector whose sum is the chunk's value count.
pub(crate) fn valid_mask(cs: &Cs, index: &Lc, t: &OpenedTensor) -> CsResult<(Vec<Lc>, Lc)> {
    let last = cs.is_zero(&t.chunks.sub(index).add_const(-Fr::one()))?;
    let full = Lc::constant(Fr::from(CHUNK_VALUES as u64));
    let tail = t
        .len
        .sub(&t.chunks.scale(Fr::from(CHUNK_VALUES as u64)))
        .add_const(Fr::from(CHUNK_VALUES as u64));
    let count = cs.select(&last, &tail, &full)?;
    let count_v = count.val;
    let n = crate::gadgets::fr_to_i128(count_v).unwrap_or(0).max(0) as usize;
    let mut mask = Vec::with_capacity(CHUNK_VALUES);
    let mut sum = Lc::constant(Fr::zero());
    for k in 0..CHUNK_VALUES {
        let t_k = cs.witness(if k < n { Fr::one() } else { Fr::zero() })?;
        cs.enforce(
            &t_k,
            &Lc::constant(Fr::one()).sub(&t_k),
            &Lc::constant(Fr::zero()),
        )?;
        if let Some(prev) = mask.last() {
            // t_k ≤ t_{k−1}: t_k · (1 − t_{k−1}) = 0.
            cs.enforce(
                &t_k,
                &Lc::constant(Fr::one()).sub(prev),
                &Lc::constant(Fr::zero()),
            )?;
        }
        sum = sum.add(&t_k);
        mask.push(t_k);
    }
    cs.assert_eq(&sum, &count)?;
    Ok((mask, count))
}

/// One-hot `e_1 … e_P` (`P = PERMS_PER_CHUNK`) naming the permutations a chunk of `count ≥ 1`
/// values absorbs: `q = ⌈count / 77⌉`, i.e. `77(q − 1) < count ≤ 77q`.
pub(crate) fn perms_of(cs: &Cs, count: &Lc) -> CsResult<Vec<Lc>> {
    let block = (CHUNK * LIMBS) as u64;
    let n = crate::gadgets::fr_to_i128(count.val).unwrap_or(1).max(1) as u64;
    let q_v = n.div_ceil(block) as i128;
    // e_k for k = 1..=P: slot k − 1 of a one-hot; q = slot + 1.
    let (e, slot) = one_hot_at(cs, q_v - 1, PERMS_PER_CHUNK)?;
    let q = slot.add_const(Fr::one());
    let b = Fr::from(block);
    cs.range(&q.scale(b).sub(count), 7)?;
    cs.range(&count.sub(&q.scale(b)).add_const(b - Fr::one()), 7)?;
    Ok(e)
}

/// Leaf digest of the chunk at `index` from its limbs (`v + 2^31`, 0 where no value):
/// `chain(TAG_CHUNK + 2^32·index, words)` over the chunk's own words: all
/// [`PERMS_PER_CHUNK`] permutations run, and `perms` ([`perms_of`]) picks the state after the
/// chunk's last one.
pub(crate) fn chunk_leaf(cs: &Cs, index: &Lc, limbs: &[Lc], perms: &[Lc]) -> CsResult<Lc> {
    debug_assert_eq!(limbs.len(), CHUNK_VALUES);
    let seed = index
        .scale(Fr::from(1u64 << 32))
        .add_const(Fr::from(TAG_CHUNK));
    let shift = Fr::from(1u64 << 32);
    let words: Vec<Lc> = limbs
        .chunks(LIMBS)
        .map(|c| {
            let mut word = Lc::constant(Fr::zero());
            let mut pow = Fr::one();
            for l in c {
                word = word.add(&l.scale(pow));
                pow *= shift;
            }
            word.compact()
        })
        .collect();
    debug_assert_eq!(words.len(), CHUNK_WORDS);
    let mut h = seed;
    let mut leaf = Lc::constant(Fr::zero());
    for (block, e) in words.chunks(CHUNK).zip(perms) {
        let mut input: [Lc; WIDTH - 1] = core::array::from_fn(|_| Lc::constant(Fr::zero()));
        input[0] = h;
        for (slot, w) in input[1..].iter_mut().zip(block) {
            *slot = w.clone();
        }
        h = poseidon::permute(cs, &input)?;
        leaf = leaf.add(&cs.mul(e, &h)?);
    }
    Ok(leaf)
}

/// Climbs from `leaf` at the position given by `bits` with `siblings` and enforces that the
/// node at the tree's depth is `t.root`.
pub(crate) fn check_path(
    cs: &Cs,
    t: &OpenedTensor,
    leaf: &Lc,
    bits: &[Lc],
    siblings: &[Lc],
) -> CsResult<()> {
    let mut node = leaf.clone();
    let mut at_depth = cs.mul(&t.depth[0], &node)?;
    for l in 0..TREE_LEVELS {
        // (left, right) = bit ? (sibling, node) : (node, sibling)
        let left = cs.select(&bits[l], &siblings[l], &node)?;
        let right = siblings[l].add(&node).sub(&left);
        node = poseidon_t3(cs, &left, &right)?;
        at_depth = at_depth.add(&cs.mul(&t.depth[l + 1], &node)?);
    }
    cs.assert_eq(&at_depth, &t.root)
}

/// A chunk opened in the circuit.
pub(crate) struct OpenedChunk {
    /// The chunk's values, in the `i32` range (`−2^31` past the tensor's end, limb 0).
    pub values: Vec<Lc>,
    /// `1` where the position holds a value.
    pub mask: Vec<Lc>,
    /// The tensor's length (from its header).
    pub len: Lc,
    /// The chunk's permutation count, one-hot ([`perms_of`]).
    pub perms: Vec<Lc>,
}

/// Opens chunk `index` of the tensor committed as `c`.
pub(crate) fn open_chunk(
    cs: &Cs,
    c: &Lc,
    index: &Lc,
    w: Option<&ChunkOpening>,
) -> CsResult<OpenedChunk> {
    let t = open_tensor(cs, c, w.map(|w| (w.shape.as_slice(), w.root)))?;
    open_chunk_in(cs, t, index, w)
}

/// Opens chunk `index` of the tensor `t` already opened by [`open_tensor`] (for a caller
/// that derives the index from the tensor's length).
pub(crate) fn open_chunk_in(
    cs: &Cs,
    t: OpenedTensor,
    index: &Lc,
    w: Option<&ChunkOpening>,
) -> CsResult<OpenedChunk> {
    let bits = index_bits(cs, index, &t)?;
    let (mask, count) = valid_mask(cs, index, &t)?;
    let perms = perms_of(cs, &count)?;
    let mut values = Vec::with_capacity(CHUNK_VALUES);
    let mut limbs = Vec::with_capacity(CHUNK_VALUES);
    for (k, m) in mask.iter().enumerate() {
        let v = w.and_then(|w| w.values.get(k).copied()).unwrap_or(i32::MIN);
        let v = cs.witness_int(v as i128)?;
        cs.i32_bits(&v)?;
        let limb = v.add_const(Fr::from(LIMB_OFFSET));
        // Past the end the limb is 0: (1 − valid) · limb = 0.
        cs.enforce(
            &Lc::constant(Fr::one()).sub(m),
            &limb,
            &Lc::constant(Fr::zero()),
        )?;
        values.push(v);
        limbs.push(limb);
    }
    let leaf = chunk_leaf(cs, index, &limbs, &perms)?;
    let siblings: Vec<Lc> = (0..TREE_LEVELS)
        .map(|l| cs.witness(w.map_or(Fr::zero(), |w| w.siblings[l])))
        .collect::<CsResult<_>>()?;
    check_path(cs, &t, &leaf, &bits, &siblings)?;
    Ok(OpenedChunk {
        values,
        mask,
        len: t.len,
        perms,
    })
}

/// Digest of an output chunk at `index` whose values are `values` where `mask` is set, for
/// a chunk of `count` values.
pub(crate) fn output_leaf_with(
    cs: &Cs,
    index: &Lc,
    values: &[Lc],
    mask: &[Lc],
    count: &Lc,
) -> CsResult<Lc> {
    let perms = perms_of(cs, count)?;
    let limbs: Vec<Lc> = values
        .iter()
        .zip(mask)
        .map(|(v, m)| cs.mul(m, &v.add_const(Fr::from(LIMB_OFFSET))))
        .collect::<CsResult<_>>()?;
    chunk_leaf(cs, index, &limbs, &perms)
}

/// Digest of an output chunk at `index` of the same length as the opened chunk `like`,
/// whose values are `values` (where `like.mask` is set).
pub(crate) fn output_leaf(cs: &Cs, index: &Lc, values: &[Lc], like: &OpenedChunk) -> CsResult<Lc> {
    let mask = &like.mask;
    let limbs: Vec<Lc> = values
        .iter()
        .zip(mask)
        .map(|(v, m)| cs.mul(m, &v.add_const(Fr::from(LIMB_OFFSET))))
        .collect::<CsResult<_>>()?;
    chunk_leaf(cs, index, &limbs, &like.perms)
}

/// A wide chunk opened in the circuit: its [`CHUNK_VALUES`] values (0 past the tensor's
/// end).
pub(crate) struct OpenedWide {
    pub values: Vec<Lc>,
    /// `1` where the position holds a value.
    pub mask: Vec<Lc>,
    /// The tensor's length (from its header).
    pub len: Lc,
}

/// Leaf digest of a wide chunk: the chain over all [`CHUNK_VALUES`] elements.
pub(crate) fn wide_leaf(cs: &Cs, index: &Lc, values: &[Lc]) -> CsResult<Lc> {
    let seed = index
        .scale(Fr::from(1u64 << 32))
        .add_const(Fr::from(zkopml_commit::TAG_WIDE_CHUNK));
    poseidon::chain_from(cs, seed, values)
}

/// Opens chunk `index` of the wide tensor committed as `c`.
pub(crate) fn open_wide(
    cs: &Cs,
    c: &Lc,
    index: &Lc,
    w: Option<&WideOpening>,
) -> CsResult<OpenedWide> {
    let t = open_tensor(cs, c, w.map(|w| (w.shape.as_slice(), w.root)))?;
    open_wide_in(cs, &t, index, w)
}

/// Opens chunk `index` of the wide tensor `t` already opened by [`open_tensor`] (for a
/// caller that opens two chunks of one tensor, or needs its length).
pub(crate) fn open_wide_in(
    cs: &Cs,
    t: &OpenedTensor,
    index: &Lc,
    w: Option<&WideOpening>,
) -> CsResult<OpenedWide> {
    let bits = index_bits(cs, index, t)?;
    let (mask, _) = valid_mask(cs, index, t)?;
    let mut values = Vec::with_capacity(CHUNK_VALUES);
    for (k, m) in mask.iter().enumerate() {
        let v = cs.witness(w.and_then(|w| w.values.get(k).copied()).unwrap_or_default())?;
        // Past the end the element is the zero padding: (1 − valid) · v = 0.
        cs.enforce(
            &Lc::constant(Fr::one()).sub(m),
            &v,
            &Lc::constant(Fr::zero()),
        )?;
        values.push(v);
    }
    let leaf = wide_leaf(cs, index, &values)?;
    let siblings: Vec<Lc> = (0..TREE_LEVELS)
        .map(|l| cs.witness(w.map_or(Fr::zero(), |w| w.siblings[l])))
        .collect::<CsResult<_>>()?;
    check_path(cs, t, &leaf, &bits, &siblings)?;
    Ok(OpenedWide {
        values,
        mask,
        len: t.len.clone(),
    })
}

/// One-hot selection: `Σ_s sel_s · items[s]` with `sel` one-hot over `items.len()` slots and
/// `Σ_s sel_s · s = slot` (the slot is constrained by the caller's arithmetic).
pub(crate) fn one_hot(cs: &Cs, slot: &Lc, slots: usize) -> CsResult<Vec<Lc>> {
    let at = crate::gadgets::fr_to_i128(slot.val).unwrap_or(-1);
    let (sel, pos) = one_hot_at(cs, at, slots)?;
    cs.assert_eq(&pos, slot)?;
    Ok(sel)
}

/// A one-hot vector over `slots` with the witness set at `at` (none set if `at` is out of
/// range, which leaves the circuit unsatisfiable): booleans and `Σ sel = 1`. Returns the
/// selectors and their position `Σ_s s · sel_s` as a linear combination.
pub(crate) fn one_hot_at(cs: &Cs, at: i128, slots: usize) -> CsResult<(Vec<Lc>, Lc)> {
    let mut sum = Lc::constant(Fr::zero());
    let mut pos = Lc::constant(Fr::zero());
    let mut sel = Vec::with_capacity(slots);
    for s in 0..slots {
        let b = cs.witness(if s as i128 == at {
            Fr::one()
        } else {
            Fr::zero()
        })?;
        cs.enforce(
            &b,
            &Lc::constant(Fr::one()).sub(&b),
            &Lc::constant(Fr::zero()),
        )?;
        sum = sum.add(&b);
        pos = pos.add(&b.scale(Fr::from(s as u64)));
        sel.push(b);
    }
    cs.assert_eq(&sum, &Lc::constant(Fr::one()))?;
    Ok((sel, pos))
}

/// `v = q·d + r` with `0 ≤ r < d < 2^bits_d` and `q < 2^bits_q` (witnesses `q`, `r`): the
/// mixed-radix decompositions of the shape-parametrised templates.
pub(crate) fn divmod(cs: &Cs, v: &Lc, d: &Lc, bits_q: usize, bits_d: usize) -> CsResult<(Lc, Lc)> {
    let (vv, dv) = (
        crate::gadgets::fr_to_i128(v.val).unwrap_or(0),
        crate::gadgets::fr_to_i128(d.val).unwrap_or(1).max(1),
    );
    let q = cs.witness_int(vv.div_euclid(dv))?;
    let r = cs.witness_int(vv.rem_euclid(dv))?;
    cs.assert_eq(&cs.mul(&q, d)?.add(&r), v)?;
    cs.range(&q, bits_q)?;
    cs.range(&r, bits_d)?;
    cs.range(&d.sub(&r).add_const(-Fr::one()), bits_d)?;
    Ok((q, r))
}

/// A fresh variable equal to `lc` (keeps long linear combinations short).
pub(crate) fn fresh(cs: &Cs, lc: &Lc) -> CsResult<Lc> {
    let v = cs.witness(lc.val)?;
    cs.assert_eq(&v, lc)?;
    Ok(v)
}

/// Packs values known to be below `2^bits` into words of `⌊253 / bits⌋` of them.
pub(crate) fn pack(values: &[Lc], bits: usize) -> Vec<Lc> {
    let per = 253 / bits;
    values
        .chunks(per)
        .map(|c| {
            let mut word = Lc::constant(Fr::zero());
            let mut pow = Fr::one();
            for v in c {
                word = word.add(&v.scale(pow));
                pow *= Fr::from(2u64).pow([bits as u64]);
            }
            word.compact()
        })
        .collect()
}
