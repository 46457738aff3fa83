//! Chunked tensor commitments (program version 4; normative text: `docs/commitments.md`,
//! "Version 4"): a tensor opens one chunk at a time, at a cost independent of its size.
//!
//! - The row-major `i32` values are packed seven to a word as in version 3
//!   ([`crate::pack_word`]) and split into chunks of [`CHUNK_WORDS`] words
//!   ([`CHUNK_VALUES`] values; the last chunk may be shorter).
//! - Chunk `j`'s *leaf digest* is the Poseidon (t = 13) chain seeded with
//!   [`chunk_seed`]`(j)` over its words: `d_j = chain(TAG_CHUNK + 2^32·j, words_j)`.
//!   The seed binds the chunk's position, so a digest is never valid at another index.
//!   A short last chunk absorbs only its own words (`⌈values / 77⌉` permutations); a circuit
//!   runs all [`PERMS_PER_CHUNK`] and picks the state after the right one.
//! - A binary Merkle tree with circomlib Poseidon t = 3 nodes ([`poseidon_t3`]) sits above the
//!   leaf digests: depth `⌈log2 c⌉` for `c` chunks (0 for `c ≤ 1`), leaves past `c` are the
//!   empty value 0, and an all-empty pair hashes to 0 ([`tree_node`]). t = 3 because the
//!   dispute contract descends this tree on chain, where a t = 3 Poseidon is the cheapest one.
//! - The commitment is `C(T) = Poseidon_t3(header, root)` with version 3's
//!   [`tensor_header`] (tag, length, rank, dimensions): the header fixes the length, so the
//!   zero padding of the last chunk and of the tree never aliases another tensor.
//!
//! A chunk leaf costs the same permutations as version 3's chain over the same values; the
//! tree adds one t = 3 permutation per chunk. With AVX-512 IFMA, [`chunked_commitments`]
//! hashes eight chunks in lock-step (chunks are independent, unlike a chain's blocks).

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::{Field, Zero};

use crate::{
    poseidon::{dot, CHUNK},
    tensor::{chain, pack_word, tensor_header, LIMBS},
};

/// Poseidon permutations per chunk leaf.
pub const PERMS_PER_CHUNK: usize = 8;
/// Packed words per chunk.
pub const CHUNK_WORDS: usize = PERMS_PER_CHUNK * CHUNK;
/// Values per chunk (the last chunk of a tensor may hold fewer).
pub const CHUNK_VALUES: usize = CHUNK_WORDS * LIMBS;
/// Domain tag of a chunk leaf's seed.
pub const TAG_CHUNK: u64 = 3;
/// Deepest tree a tensor may have (`2^32` chunks).
pub const MAX_TREE_DEPTH: usize = 32;

/// Number of chunks of a tensor of `len` values.
pub fn chunk_count(len: usize) -> usize {
    len.div_ceil(CHUNK_VALUES)
}

/// Depth of the tree over `chunks` leaves: `⌈log2 chunks⌉`, 0 for one chunk or none.
pub fn tree_depth(chunks: usize) -> usize {
    if chunks <= 1 {
        0
    } else {
        (usize::BITS - (chunks - 1).leading_zeros()) as usize
    }
}

/// The seed of chunk `index`'s leaf chain: `TAG_CHUNK + 2^32 · index`.
pub fn chunk_seed(index: usize) -> Fr {
    Fr::from(TAG_CHUNK) + Fr::from(index as u64) * Fr::from(1u64 << 32)
}

/// Leaf digest of chunk `index` holding `values` (at most [`CHUNK_VALUES`]).
pub fn chunk_digest(index: usize, values: &[i32]) -> Fr {
    debug_assert!(values.len() <= CHUNK_VALUES);
    chain(chunk_seed(index), values.chunks(LIMBS).map(pack_word))
}

/// Domain tag of a wide chunk's seed.
pub const TAG_WIDE_CHUNK: u64 = 4;

/// Leaf digest of chunk `index` of a *wide* tensor (accumulators: integers beyond `i32`,
/// one field element per value, unpacked): `chain(TAG_WIDE_CHUNK + 2^32·index, values)`
/// over exactly [`CHUNK_VALUES`] elements (a short chunk is zero-padded), so a circuit
/// hashes every wide chunk the same way. Wide tensors exist only inside a dispute (the
/// partial sums of one operator), never in a trace.
pub fn wide_chunk_digest(index: usize, values: &[Fr]) -> Fr {
    debug_assert!(values.len() <= CHUNK_VALUES);
    let seed = wide_chunk_seed(index);
    let pad = CHUNK_VALUES - values.len();
    chain(
        seed,
        values
            .iter()
            .copied()
            .chain(std::iter::repeat_n(Fr::zero(), pad))
            .collect::<Vec<_>>()
            .into_iter(),
    )
}

/// Seed of wide chunk `index`'s chain: `TAG_WIDE_CHUNK + 2^32·index`.
fn wide_chunk_seed(index: usize) -> Fr {
    Fr::from(TAG_WIDE_CHUNK) + Fr::from(index as u64) * Fr::from(1u64 << 32)
}

/// Chunk trees of many wide tensors at once: the same trees as [`wide_tree`] of each, with
/// the leaf digests of all of them computed eight at a time in lock-step where the CPU has
/// AVX-512 IFMA (a wide chunk is 56 permutations, seven times a narrow one's eight, so this
/// is where a trace with partial sums spends its time).
pub fn wide_trees(tensors: &[&[Fr]]) -> Vec<ChunkTree> {
    let lens: Vec<usize> = tensors.iter().map(|d| d.len()).collect();
    trees_from_jobs(&lens, |jobs| {
        let chunk = |(t, j): (usize, usize)| {
            let d = tensors[t];
            &d[j * CHUNK_VALUES..((j + 1) * CHUNK_VALUES).min(d.len())]
        };
        #[cfg(target_arch = "x86_64")]
        if crate::poseidon::ifma::available() {
            return lockstep::wide_leaf_digests(jobs, chunk);
        }
        jobs.iter()
            .map(|&(t, j)| wide_chunk_digest(j, chunk((t, j))))
            .collect()
    })
}

/// Chunk trees of tensors of `lens` values, their leaf digests computed by `digests` over
/// the `(tensor, chunk)` jobs, in order.
fn trees_from_jobs(
    lens: &[usize],
    digests: impl FnOnce(&[(usize, usize)]) -> Vec<Fr>,
) -> Vec<ChunkTree> {
    let jobs: Vec<(usize, usize)> = lens
        .iter()
        .enumerate()
        .flat_map(|(t, n)| (0..chunk_count(*n)).map(move |j| (t, j)))
        .collect();
    let mut leaves: Vec<Vec<Fr>> = lens
        .iter()
        .map(|n| Vec::with_capacity(chunk_count(*n)))
        .collect();
    for ((t, _), d) in jobs.iter().zip(digests(&jobs)) {
        leaves[*t].push(d);
    }
    leaves.into_iter().map(ChunkTree::from_leaves).collect()
}

/// The chunk tree of a wide tensor.
pub fn wide_tree(values: &[Fr]) -> ChunkTree {
    wide_trees(&[values]).pop().expect("one tree per tensor")
}

/// Commitment of a wide tensor: `Poseidon_t3(header, root)` as for `i32` tensors (the leaf
/// tag keeps the two kinds apart).
pub fn wide_commitment(shape: &[usize], values: &[Fr]) -> Option<Fr> {
    if shape.iter().product::<usize>() != values.len() {
        return None;
    }
    Some(chunked_commitment_of(
        tensor_header(shape)?,
        wide_tree(values).root(),
    ))
}

/// circomlib constants of Poseidon t = 3, in the shape the round loop reads.
struct T3 {
    ark: Vec<[Fr; 3]>,
    mds: [[Fr; 3]; 3],
    half_full: usize,
    partial: usize,
}

fn t3() -> &'static T3 {
    static PARAMS: OnceLock<T3> = OnceLock::new();
    PARAMS.get_or_init(|| {
        let p = light_poseidon::parameters::bn254_x5::get_poseidon_parameters::<Fr>(3)
            .expect("width 3 is one of circomlib's parameter sets");
        assert_eq!(p.alpha, 5, "circomlib Poseidon uses x^5");
        T3 {
            ark: p.ark.chunks(3).map(|c| [c[0], c[1], c[2]]).collect(),
            mds: core::array::from_fn(|i| core::array::from_fn(|j| p.mds[i][j])),
            half_full: p.full_rounds / 2,
            partial: p.partial_rounds,
        }
    })
}

/// The t = 3 constants for the eight-lane hash: round constants, MDS, half the full rounds,
/// the partial rounds.
#[cfg(target_arch = "x86_64")]
pub(crate) fn t3_params() -> (&'static [[Fr; 3]], &'static [[Fr; 3]; 3], usize, usize) {
    let p = t3();
    (&p.ark, &p.mds, p.half_full, p.partial)
}

fn sbox(x: Fr) -> Fr {
    let x2 = x.square();
    x2.square() * x
}

/// circomlib `Poseidon(2)` of `(a, b)`: the tree's node hash (the same function as the
/// dispute contract's `PoseidonT3.hash([a, b])`).
pub fn poseidon_t3(a: Fr, b: Fr) -> Fr {
    let p = t3();
    let mut s = [Fr::zero(), a, b];
    for (round, ark) in p.ark.iter().enumerate() {
        for (x, c) in s.iter_mut().zip(ark) {
            *x += c;
        }
        if round < p.half_full || round >= p.half_full + p.partial {
            s.iter_mut().for_each(|x| *x = sbox(*x));
        } else {
            s[0] = sbox(s[0]);
        }
        // One reduction per lane: the three products accumulate unreduced.
        let x = s;
        s = core::array::from_fn(|i| dot(&p.mds[i], &x));
    }
    s[0]
}

/// A tree node: `Poseidon_t3(left, right)`, except that an all-empty pair is empty (0).
pub fn tree_node(left: Fr, right: Fr) -> Fr {
    if left.is_zero() && right.is_zero() {
        Fr::zero()
    } else {
        poseidon_t3(left, right)
    }
}

/// The level above `below`: [`tree_node`] of each pair (the last one padded with the empty
/// value), eight at a time where the CPU has AVX-512 IFMA.
fn tree_level(below: &[Fr]) -> Vec<Fr> {
    let pairs: Vec<(Fr, Fr)> = below
        .chunks(2)
        .map(|p| (p[0], p.get(1).copied().unwrap_or_default()))
        .collect();
    #[cfg(target_arch = "x86_64")]
    if pairs.len() > 1 && crate::poseidon::ifma::available() {
        use crate::poseidon::ifma::{poseidon_t3_x8, LANES};
        let mut out = Vec::with_capacity(pairs.len());
        for group in pairs.chunks(LANES) {
            let a = core::array::from_fn(|l| group.get(l).map_or(Fr::zero(), |p| p.0));
            let b = core::array::from_fn(|l| group.get(l).map_or(Fr::zero(), |p| p.1));
            let h = poseidon_t3_x8(&a, &b);
            out.extend(group.iter().zip(h).map(|((l, r), h)| {
                if l.is_zero() && r.is_zero() {
                    Fr::zero()
                } else {
                    h
                }
            }));
        }
        return out;
    }
    pairs.into_iter().map(|(l, r)| tree_node(l, r)).collect()
}

/// The root a leaf at `index` reaches with `siblings` (bottom to top).
pub fn root_from_leaf(leaf: Fr, index: usize, siblings: &[Fr]) -> Fr {
    siblings.iter().enumerate().fold(leaf, |node, (level, s)| {
        if (index >> level) & 1 == 1 {
            tree_node(*s, node)
        } else {
            tree_node(node, *s)
        }
    })
}

/// A tensor's chunk tree: every level, leaves first (levels are not padded; missing nodes
/// are the empty value 0).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChunkTree {
    levels: Vec<Vec<Fr>>,
}

impl ChunkTree {
    /// The tree over these leaf digests.
    pub fn from_leaves(leaves: Vec<Fr>) -> Self {
        let depth = tree_depth(leaves.len());
        let mut levels = Vec::with_capacity(depth + 1);
        levels.push(leaves);
        for _ in 0..depth {
            let below = levels.last().expect("leaves are level 0");
            levels.push(tree_level(below));
        }
        Self { levels }
    }

    /// The tree of a tensor's values (the leaf digests hashed one by one).
    pub fn of_values(data: &[i32]) -> Self {
        chunk_trees(&[data]).pop().expect("one tree per tensor")
    }

    /// The root (0 for a tree without leaves).
    pub fn root(&self) -> Fr {
        self.levels
            .last()
            .and_then(|l| l.first())
            .copied()
            .unwrap_or_default()
    }

    /// Depth (number of siblings in a proof).
    pub fn depth(&self) -> usize {
        self.levels.len() - 1
    }

    /// Number of chunks.
    pub fn chunks(&self) -> usize {
        self.levels[0].len()
    }

    /// The leaf digests.
    pub fn leaves(&self) -> &[Fr] {
        &self.levels[0]
    }

    /// The node at `level` (0 = leaves) and `index`, empty (0) past the last one.
    pub fn node(&self, level: usize, index: usize) -> Fr {
        self.levels
            .get(level)
            .and_then(|l| l.get(index))
            .copied()
            .unwrap_or_default()
    }

    /// Siblings of the leaf at `index`, bottom to top; `None` past `2^depth`. Positions in
    /// `[chunks, 2^depth)` are valid: their leaf is the empty value 0.
    pub fn prove(&self, index: usize) -> Option<Vec<Fr>> {
        if index >> self.depth() != 0 {
            return None;
        }
        Some(
            (0..self.depth())
                .map(|level| self.node(level, (index >> level) ^ 1))
                .collect(),
        )
    }

    /// Whether `leaf` sits at `index` of the tree with this `root` and `depth`.
    pub fn verify(root: Fr, depth: usize, index: usize, leaf: Fr, siblings: &[Fr]) -> bool {
        siblings.len() == depth
            && depth <= MAX_TREE_DEPTH
            && index >> depth == 0
            && root_from_leaf(leaf, index, siblings) == root
    }
}

/// `C(T) = Poseidon_t3(header, root)`.
pub fn chunked_commitment_of(header: Fr, root: Fr) -> Fr {
    poseidon_t3(header, root)
}

/// Version 4 commitment of a tensor: `None` when the rank exceeds nine, `data` does not fill
/// the shape, or the tree would be deeper than [`MAX_TREE_DEPTH`].
pub fn chunked_commitment(shape: &[usize], data: &[i32]) -> Option<Fr> {
    if shape.iter().product::<usize>() != data.len()
        || tree_depth(chunk_count(data.len())) > MAX_TREE_DEPTH
    {
        return None;
    }
    let header = tensor_header(shape)?;
    Some(chunked_commitment_of(
        header,
        ChunkTree::of_values(data).root(),
    ))
}

/// Chunk trees of many tensors at once: the same trees as [`ChunkTree::of_values`] of each,
/// with the leaf digests of all of them computed eight at a time in lock-step where the CPU
/// has AVX-512 IFMA.
pub fn chunk_trees(tensors: &[&[i32]]) -> Vec<ChunkTree> {
    let lens: Vec<usize> = tensors.iter().map(|d| d.len()).collect();
    trees_from_jobs(&lens, |jobs| leaf_digests(tensors, jobs))
}

/// Version 4 commitments of many tensors (`(shape, data)`), the same values as
/// [`chunked_commitment`] of each, faster where the CPU allows ([`chunk_trees`]).
pub fn chunked_commitments(tensors: &[(&[usize], &[i32])]) -> Vec<Option<Fr>> {
    let valid: Vec<bool> = tensors
        .iter()
        .map(|(s, d)| {
            s.iter().product::<usize>() == d.len()
                && tree_depth(chunk_count(d.len())) <= MAX_TREE_DEPTH
        })
        .collect();
    let data: Vec<&[i32]> = tensors
        .iter()
        .zip(&valid)
        .map(|((_, d), ok)| if *ok { *d } else { &[][..] })
        .collect();
    let trees = chunk_trees(&data);
    tensors
        .iter()
        .zip(valid)
        .zip(trees)
        .map(|(((shape, _), ok), tree)| {
            ok.then(|| tensor_header(shape))
                .flatten()
                .map(|h| chunked_commitment_of(h, tree.root()))
        })
        .collect()
}

/// Leaf digests of `(tensor, chunk)` jobs, in job order.
fn leaf_digests(tensors: &[&[i32]], jobs: &[(usize, usize)]) -> Vec<Fr> {
    let chunk = |(t, j): (usize, usize)| {
        let d = tensors[t];
        &d[j * CHUNK_VALUES..((j + 1) * CHUNK_VALUES).min(d.len())]
    };
    #[cfg(target_arch = "x86_64")]
    if crate::poseidon::ifma::available() {
        return lockstep::leaf_digests(jobs, chunk);
    }
    jobs.iter()
        .map(|&(t, j)| chunk_digest(j, chunk((t, j))))
        .collect()
}

#[cfg(target_arch = "x86_64")]
mod lockstep {
    use super::*;
    use crate::{
        poseidon::ifma::{chain_step, from_limbs, to_limbs, Limbs, LANES},
        tensor::pack_word_limbs,
    };
    use ark_ff::PrimeField;

    /// Values absorbed per permutation.
    const BLOCK: usize = CHUNK * LIMBS;

    /// Eight chunk chains per lock-step pass; a lane whose chunk is shorter (a tensor's last
    /// chunk) is read out after its own last block.
    pub(super) fn leaf_digests<'a>(
        jobs: &[(usize, usize)],
        chunk: impl Fn((usize, usize)) -> &'a [i32],
    ) -> Vec<Fr> {
        let mut out = Vec::with_capacity(jobs.len());
        for group in jobs.chunks(LANES) {
            let data: Vec<&[i32]> = group.iter().map(|j| chunk(*j)).collect();
            let mut h: [Limbs; LANES] = [[0; 5]; LANES];
            for (lane, (_, j)) in group.iter().enumerate() {
                h[lane] = to_limbs(&chunk_seed(*j));
            }
            let blocks: Vec<usize> = data.iter().map(|d| d.len().div_ceil(BLOCK)).collect();
            let mut done: [Limbs; LANES] = [[0; 5]; LANES];
            for b in 0..blocks.iter().copied().max().unwrap_or(0) {
                let mut words = [[[0u64; 4]; LANES]; CHUNK];
                for (lane, d) in data.iter().enumerate() {
                    let lo = (b * BLOCK).min(d.len());
                    let hi = ((b + 1) * BLOCK).min(d.len());
                    for (k, w) in d[lo..hi].chunks(LIMBS).enumerate() {
                        words[k][lane] = pack_word_limbs(w);
                    }
                }
                chain_step(&mut h, &words);
                for (lane, n) in blocks.iter().enumerate() {
                    if b + 1 == *n {
                        done[lane] = h[lane];
                    }
                }
            }
            out.extend(done[..group.len()].iter().map(|l| from_limbs(*l)));
        }
        out
    }

    /// Eight wide chunk chains per lock-step pass: every chain absorbs exactly
    /// [`CHUNK_VALUES`] field elements (a short chunk zero-padded), [`CHUNK`] per permutation.
    pub(super) fn wide_leaf_digests<'a>(
        jobs: &[(usize, usize)],
        chunk: impl Fn((usize, usize)) -> &'a [Fr],
    ) -> Vec<Fr> {
        const _: () = assert!(CHUNK_VALUES.is_multiple_of(CHUNK));
        let mut out = Vec::with_capacity(jobs.len());
        for group in jobs.chunks(LANES) {
            let data: Vec<&[Fr]> = group.iter().map(|j| chunk(*j)).collect();
            let mut h: [Limbs; LANES] = [[0; 5]; LANES];
            for (lane, (_, j)) in group.iter().enumerate() {
                h[lane] = to_limbs(&wide_chunk_seed(*j));
            }
            for b in 0..CHUNK_VALUES / CHUNK {
                let mut words = [[[0u64; 4]; LANES]; CHUNK];
                for (lane, d) in data.iter().enumerate() {
                    let lo = (b * CHUNK).min(d.len());
                    let hi = ((b + 1) * CHUNK).min(d.len());
                    for (k, v) in d[lo..hi].iter().enumerate() {
                        words[k][lane] = v.into_bigint().0;
                    }
                }
                chain_step(&mut h, &words);
            }
            out.extend(h[..group.len()].iter().map(|l| from_limbs(*l)));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    use ark_ff::One;
    use light_poseidon::{Poseidon, PoseidonHasher};

    #[test]
    fn tree_levels_equal_the_scalar_node_hash_at_every_width() {
        // Widths around the eight lanes, with empty pairs (both zero) inside and at the end.
        for n in [1usize, 2, 3, 15, 16, 17, 37, 100] {
            let mut leaves: Vec<Fr> = (0..n as u64).map(|i| Fr::from(i * i + 3)).collect();
            if n > 6 {
                leaves[4] = Fr::zero();
                leaves[5] = Fr::zero();
            }
            let tree = ChunkTree::from_leaves(leaves.clone());
            let mut level = leaves;
            for d in 1..=tree.depth() {
                level = level
                    .chunks(2)
                    .map(|p| tree_node(p[0], p.get(1).copied().unwrap_or_default()))
                    .collect();
                for (i, x) in level.iter().enumerate() {
                    assert_eq!(tree.node(d, i), *x, "width {n}, level {d}, node {i}");
                }
            }
            assert_eq!(tree.root(), level[0]);
        }
    }

    #[test]
    fn wide_trees_equal_one_wide_tree_each() {
        use crate::fr_from_i64;
        // Lengths around a chunk and the eight lanes, negative and large values included.
        let lens = [
            0usize,
            1,
            11,
            CHUNK_VALUES - 1,
            CHUNK_VALUES,
            CHUNK_VALUES + 5,
            9 * CHUNK_VALUES + 3,
        ];
        let tensors: Vec<Vec<Fr>> = lens
            .iter()
            .enumerate()
            .map(|(t, n)| {
                (0..*n as i64)
                    .map(|i| {
                        let v =
                            fr_from_i64((i * 7919 + t as i64) * if i % 3 == 0 { -1 } else { 1 });
                        if i % 5 == 0 {
                            v * Fr::from(1u64 << 60).square()
                        } else {
                            v
                        }
                    })
                    .collect()
            })
            .collect();
        let refs: Vec<&[Fr]> = tensors.iter().map(Vec::as_slice).collect();
        for (t, tree) in wide_trees(&refs).iter().enumerate() {
            let one = ChunkTree::from_leaves(
                tensors[t]
                    .chunks(CHUNK_VALUES)
                    .enumerate()
                    .map(|(j, c)| wide_chunk_digest(j, c))
                    .collect(),
            );
            assert_eq!(tree.root(), one.root(), "tensor {t} (length {})", lens[t]);
            assert_eq!(tree.leaves(), one.leaves(), "tensor {t}");
        }
    }

    fn values(n: usize, salt: i32) -> Vec<i32> {
        (0..n as i32)
            .map(|i| i.wrapping_mul(7919).wrapping_add(salt) ^ (i << 20))
            .collect()
    }

    #[test]
    fn poseidon_t3_is_circomlib_poseidon_2() {
        // circomlib's published poseidon([1, 2]).
        let want = Fr::from_str(
            "7853200120776062878684798364095072458815029376092732009249414926327459813530",
        )
        .unwrap();
        assert_eq!(poseidon_t3(Fr::one(), Fr::from(2u64)), want);
        let mut lib = Poseidon::<Fr>::new_circom(2).unwrap();
        for (a, b) in [(0u64, 0u64), (5, 9), (u64::MAX, 1)] {
            let (a, b) = (Fr::from(a), Fr::from(b));
            assert_eq!(poseidon_t3(a, b), lib.hash(&[a, b]).unwrap());
        }
        let m1 = -Fr::one();
        assert_eq!(poseidon_t3(m1, m1), lib.hash(&[m1, m1]).unwrap());
    }

    #[test]
    fn depths_and_counts() {
        assert_eq!(chunk_count(0), 0);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_VALUES), 1);
        assert_eq!(chunk_count(CHUNK_VALUES + 1), 2);
        let d: Vec<usize> = [0, 1, 2, 3, 4, 5, 8, 9].map(tree_depth).to_vec();
        assert_eq!(d, [0, 0, 1, 2, 2, 3, 3, 4]);
    }

    #[test]
    fn every_chunk_opens_at_its_index_and_nowhere_else() {
        for len in [
            0,
            1,
            600,
            CHUNK_VALUES,
            3 * CHUNK_VALUES + 5,
            8 * CHUNK_VALUES,
        ] {
            let data = values(len, len as i32);
            let tree = ChunkTree::of_values(&data);
            let (root, depth) = (tree.root(), tree.depth());
            assert_eq!(tree.chunks(), chunk_count(len));
            for (j, c) in data.chunks(CHUNK_VALUES).enumerate() {
                let leaf = chunk_digest(j, c);
                let proof = tree.prove(j).unwrap();
                assert!(ChunkTree::verify(root, depth, j, leaf, &proof));
                // Another index with the same siblings, or another leaf, fails.
                if depth > 0 {
                    assert!(!ChunkTree::verify(root, depth, j ^ 1, leaf, &proof));
                }
                assert!(!ChunkTree::verify(root, depth, j, leaf + Fr::one(), &proof));
                // The digest binds the index: the same values at another index differ.
                assert_ne!(chunk_digest(j + 1, c), leaf);
            }
            // Past the last position: no proof, no verification.
            assert!(tree.prove(1 << depth).is_none());
            assert!(!ChunkTree::verify(root, depth, 1 << depth, Fr::one(), &[]));
            // Padded positions hold the empty leaf.
            for j in tree.chunks()..1 << depth {
                let proof = tree.prove(j).unwrap();
                assert!(ChunkTree::verify(root, depth, j, Fr::zero(), &proof));
            }
        }
    }

    #[test]
    fn commitment_binds_shape_and_values() {
        let data = values(2 * CHUNK_VALUES + 3, 1);
        let a = chunked_commitment(&[data.len()], &data).unwrap();
        assert_ne!(
            a,
            chunked_commitment(&[1, data.len()], &data).unwrap(),
            "shape"
        );
        let mut other = data.clone();
        other[CHUNK_VALUES + 9] ^= 1;
        assert_ne!(a, chunked_commitment(&[data.len()], &other).unwrap());
        assert!(chunked_commitment(&[5], &data).is_none());
        // i32::MIN in a last chunk is not the padding: the length in the header tells.
        let short = vec![i32::MIN; 3];
        let long = vec![i32::MIN; 4];
        assert_ne!(
            chunked_commitment(&[3], &short),
            chunked_commitment(&[4], &long)
        );
    }

    #[test]
    fn batched_trees_equal_one_by_one() {
        let tensors: Vec<Vec<i32>> = [0, 1, 77, 616, 617, 5000, 20 * CHUNK_VALUES - 1]
            .iter()
            .enumerate()
            .map(|(i, n)| values(*n, i as i32 * 31))
            .collect();
        let refs: Vec<&[i32]> = tensors.iter().map(|t| &t[..]).collect();
        let batched = chunk_trees(&refs);
        // Against the scalar chain of every chunk (the lock-step path's reference).
        for (t, tree) in tensors.iter().zip(&batched) {
            let scalar = ChunkTree::from_leaves(
                t.chunks(CHUNK_VALUES)
                    .enumerate()
                    .map(|(j, c)| chunk_digest(j, c))
                    .collect(),
            );
            assert_eq!(*tree, scalar);
        }
        let shapes: Vec<[usize; 1]> = tensors.iter().map(|t| [t.len()]).collect();
        let pairs: Vec<(&[usize], &[i32])> = shapes
            .iter()
            .zip(&tensors)
            .map(|(s, t)| (&s[..], &t[..]))
            .collect();
        let commitments = chunked_commitments(&pairs);
        for ((s, t), c) in pairs.iter().zip(commitments) {
            assert_eq!(c, chunked_commitment(s, t));
        }
    }
}
