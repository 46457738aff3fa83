//! Tensor and state commitments (normative text: `docs/commitments.md`).
//!
//! Both are one Poseidon *chain*: `h_0 = header`, then for each run of [`CHUNK`] field
//! elements (the last one padded with zeros) `h_{j+1} = Poseidon(h_j, e_0, ..., e_10)`. The
//! header fixes the element count, so zero padding cannot alias a longer input.
//!
//! A tensor's chain absorbs *packed words*: [`LIMBS`] consecutive `i32` values per field
//! element, each as the 32-bit limb `v + 2^31` (see [`pack_word`]); 7 × 32 = 224 bits fit
//! below the BN254 modulus, so packing is injective, and a tensor costs 7× fewer
//! permutations natively and in circuits than one element per field element.

use std::{cell::RefCell, collections::HashMap};

use ark_bn254::Fr;

use crate::poseidon::{poseidon_t13, CHUNK, WIDTH};

/// Headers depend on the shape (or the live count) only, and a program commits the same few
/// shapes at every run: each thread remembers the ones it hashed, so a header costs one
/// permutation per thread and shape instead of one per commitment.
#[derive(Default)]
struct HeaderCache {
    tensors: HashMap<Vec<usize>, Fr>,
    states: HashMap<usize, Fr>,
}

/// Entries kept per thread and kind before a cache starts over (bounds memory in
/// long-running processes that see many shapes).
const HEADER_CACHE_ENTRIES: usize = 4096;

thread_local! {
    static HEADERS: RefCell<HeaderCache> = RefCell::default();
}

/// Domain tag of a tensor header.
pub const TAG_TENSOR: u64 = 1;
/// Domain tag of a state header.
pub const TAG_STATE: u64 = 2;

/// Header of a tensor's chain: `Poseidon(TAG_TENSOR, len, rank, d_0, ..., d_{rank-1}, 0...)`.
///
/// Returns `None` for ranks above `WIDTH - 4` (nine), which no supported operator produces.
pub fn tensor_header(shape: &[usize]) -> Option<Fr> {
    if shape.len() > WIDTH - 4 {
        return None;
    }
    if let Some(h) = HEADERS.with_borrow(|c| c.tensors.get(shape).copied()) {
        return Some(h);
    }
    let h = hash_tensor_header(shape);
    HEADERS.with_borrow_mut(|c| {
        if c.tensors.len() >= HEADER_CACHE_ENTRIES {
            c.tensors.clear();
        }
        c.tensors.insert(shape.to_vec(), h);
    });
    Some(h)
}

fn hash_tensor_header(shape: &[usize]) -> Fr {
    let len: usize = shape.iter().product();
    let mut input = [Fr::from(0u64); WIDTH - 1];
    input[0] = Fr::from(TAG_TENSOR);
    input[1] = Fr::from(len as u64);
    input[2] = Fr::from(shape.len() as u64);
    for (slot, d) in input[3..].iter_mut().zip(shape) {
        *slot = Fr::from(*d as u64);
    }
    poseidon_t13(&input)
}

/// Folds `elems` into the chain starting at `header`.
pub(crate) fn chain(header: Fr, elems: impl ExactSizeIterator<Item = Fr>) -> Fr {
    let mut h = header;
    let mut buf = [Fr::from(0u64); WIDTH - 1];
    let mut filled = 0;
    for e in elems {
        buf[1 + filled] = e;
        filled += 1;
        if filled == CHUNK {
            buf[0] = h;
            h = poseidon_t13(&buf);
            filled = 0;
        }
    }
    if filled > 0 {
        buf[1 + filled..].fill(Fr::from(0u64));
        buf[0] = h;
        h = poseidon_t13(&buf);
    }
    h
}

/// `i32` values per packed field element of a tensor commitment.
pub const LIMBS: usize = 7;
/// Offset that maps an `i32` onto its unsigned 32-bit limb.
pub const LIMB_OFFSET: u64 = 1 << 31;

/// One packed word: `Σ_k (v_k + 2^31) · 2^(32k)` over up to [`LIMBS`] values (a short last
/// word simply has fewer limbs: the header's length says how many).
pub fn pack_word(values: &[i32]) -> Fr {
    Fr::from(ark_ff::BigInt::new(pack_word_limbs(values)))
}

/// [`pack_word`] as a little-endian integer (below `2^224`).
pub(crate) fn pack_word_limbs(values: &[i32]) -> [u64; 4] {
    debug_assert!(values.len() <= LIMBS);
    let mut limbs = [0u64; 4];
    for (k, v) in values.iter().enumerate() {
        let u = (i64::from(*v) + LIMB_OFFSET as i64) as u128;
        let bit = 32 * k;
        let (word, shift) = (bit / 64, bit % 64);
        limbs[word] |= (u << shift) as u64;
    }
    limbs
}

/// Commitment to a tensor of signed integers with the given shape.
///
/// Returns `None` when the shape's rank exceeds nine or `data` does not fill the shape.
pub fn tensor_commitment(shape: &[usize], data: &[i32]) -> Option<Fr> {
    if shape.iter().product::<usize>() != data.len() {
        return None;
    }
    let header = tensor_header(shape)?;
    Some(chain(header, data.chunks(LIMBS).map(pack_word)))
}

/// Commitments of many tensors: the same values as [`tensor_commitment`] of each, computed
/// faster where the CPU allows.
///
/// `next` hands out `(key, shape, data)` until it returns `None`; the result pairs each key
/// with its commitment (`None` where [`tensor_commitment`] gives `None`), in the order the
/// tensors finish. With AVX-512 IFMA, eight tensors' chains advance in lock-step, one
/// eight-lane permutation per block of each (a lane that finishes takes the next tensor);
/// the last few chains, once `next` is exhausted, finish on the scalar permutation, which is
/// faster for so few. Elsewhere every tensor is hashed on its own. Give the longest tensors
/// first: a chain is sequential, so the longest one bounds the time.
pub fn tensor_commitments<'a>(
    mut next: impl FnMut() -> Option<(usize, &'a [usize], &'a [i32])>,
) -> Vec<(usize, Option<Fr>)> {
    #[cfg(target_arch = "x86_64")]
    if crate::poseidon::ifma::available() {
        return lockstep::commitments(next);
    }
    let mut out = Vec::new();
    while let Some((key, shape, data)) = next() {
        out.push((key, tensor_commitment(shape, data)));
    }
    out
}

#[cfg(target_arch = "x86_64")]
mod lockstep {
    use super::*;
    use crate::poseidon::ifma::{chain_step, from_limbs, to_limbs, Limbs, LANES};

    /// Values absorbed per permutation.
    const BLOCK: usize = CHUNK * LIMBS;
    /// With this many chains or fewer left and no tensor to start, the scalar permutation
    /// finishes them sooner than eight-lane steps with idle lanes would (an eight-lane step
    /// costs about 1.5 scalar permutations here: `cargo bench -p zkopml-commit`).
    const SCALAR_AT_MOST: usize = 1;

    struct Lane<'a> {
        key: usize,
        data: &'a [i32],
        /// Values absorbed so far (a multiple of [`BLOCK`]).
        pos: usize,
    }

    pub(super) fn commitments<'a>(
        mut next: impl FnMut() -> Option<(usize, &'a [usize], &'a [i32])>,
    ) -> Vec<(usize, Option<Fr>)> {
        let mut out = Vec::new();
        let mut lanes: [Option<Lane<'a>>; LANES] = Default::default();
        let mut h: [Limbs; LANES] = [[0; 5]; LANES];
        let mut exhausted = false;
        loop {
            for (lane, h) in lanes.iter_mut().zip(h.iter_mut()) {
                while lane.is_none() && !exhausted {
                    let Some((key, shape, data)) = next() else {
                        exhausted = true;
                        break;
                    };
                    let header = (shape.iter().product::<usize>() == data.len())
                        .then(|| tensor_header(shape))
                        .flatten();
                    match header {
                        Some(header) if !data.is_empty() => {
                            *h = to_limbs(&header);
                            *lane = Some(Lane { key, data, pos: 0 });
                        }
                        // Nothing to absorb (an empty tensor is its header) or no commitment.
                        _ => out.push((key, header)),
                    }
                }
            }
            let active = lanes.iter().flatten().count();
            if active == 0 {
                return out;
            }
            if exhausted && active <= SCALAR_AT_MOST {
                for (lane, h) in lanes.iter_mut().zip(&h) {
                    if let Some(l) = lane.take() {
                        let rest = l.data[l.pos..].chunks(LIMBS).map(pack_word);
                        out.push((l.key, Some(chain(from_limbs(*h), rest))));
                    }
                }
                return out;
            }
            let mut words = [[[0u64; 4]; LANES]; CHUNK];
            for (l, lane) in lanes.iter().enumerate() {
                if let Some(lane) = lane {
                    let end = (lane.pos + BLOCK).min(lane.data.len());
                    for (j, w) in lane.data[lane.pos..end].chunks(LIMBS).enumerate() {
                        words[j][l] = pack_word_limbs(w);
                    }
                }
            }
            chain_step(&mut h, &words);
            for (lane, h) in lanes.iter_mut().zip(&h) {
                if let Some(l) = lane {
                    l.pos += BLOCK;
                    if l.pos >= l.data.len() {
                        out.push((l.key, Some(from_limbs(*h))));
                        *lane = None;
                    }
                }
            }
        }
    }
}

/// Which tensors are live at a step boundary, in slot order (value ids of the program).
pub type StateLayout = Vec<usize>;

/// State commitment over the commitments of the live tensors, in slot order:
/// the chain from `Poseidon(TAG_STATE, count, 0...)`.
pub fn state_commitment(tensor_commitments: &[Fr]) -> Fr {
    chain(
        state_header(tensor_commitments.len()),
        tensor_commitments.iter().copied(),
    )
}

/// `Poseidon(TAG_STATE, count, 0...)`, cached per thread like tensor headers.
fn state_header(count: usize) -> Fr {
    if let Some(h) = HEADERS.with_borrow(|c| c.states.get(&count).copied()) {
        return h;
    }
    let mut input = [Fr::from(0u64); WIDTH - 1];
    input[0] = Fr::from(TAG_STATE);
    input[1] = Fr::from(count as u64);
    let h = poseidon_t13(&input);
    HEADERS.with_borrow_mut(|c| {
        if c.states.len() >= HEADER_CACHE_ENTRIES {
            c.states.clear();
        }
        c.states.insert(count, h);
    });
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_binds_shape_and_values() {
        let a = tensor_commitment(&[2, 3], &[1, 2, 3, 4, 5, 6]).unwrap();
        assert_ne!(a, tensor_commitment(&[3, 2], &[1, 2, 3, 4, 5, 6]).unwrap());
        assert_ne!(a, tensor_commitment(&[2, 3], &[1, 2, 3, 4, 5, 7]).unwrap());
        assert_eq!(a, tensor_commitment(&[2, 3], &[1, 2, 3, 4, 5, 6]).unwrap());
    }

    #[test]
    fn zero_padding_does_not_alias_longer_tensors() {
        let short = tensor_commitment(&[3], &[1, 2, 3]).unwrap();
        let long = tensor_commitment(&[4], &[1, 2, 3, 0]).unwrap();
        assert_ne!(short, long);
    }

    #[test]
    fn mismatched_data_is_rejected() {
        assert_eq!(tensor_commitment(&[2, 2], &[1, 2, 3]), None);
        assert_eq!(tensor_commitment(&[1; 10], &[1]), None);
    }

    #[test]
    fn chain_absorbs_exact_multiples_without_extra_block() {
        // 154 values = 22 words = exactly two blocks of 11.
        let data: Vec<i32> = (0..154).collect();
        let h = tensor_commitment(&[154], &data).unwrap();
        let mut block = [Fr::from(0u64); 12];
        block[0] = tensor_header(&[154]).unwrap();
        for (i, w) in data[..77].chunks(LIMBS).enumerate() {
            block[1 + i] = pack_word(w);
        }
        block[0] = poseidon_t13(&block);
        for (i, w) in data[77..].chunks(LIMBS).enumerate() {
            block[1 + i] = pack_word(w);
        }
        assert_eq!(h, poseidon_t13(&block));
    }

    #[test]
    fn cached_headers_are_the_hashed_ones() {
        for shape in [&[][..], &[3], &[2, 3], &[1, 1, 1, 1, 1, 1, 1, 1, 1]] {
            let first = tensor_header(shape).unwrap();
            assert_eq!(tensor_header(shape).unwrap(), first);
            assert_eq!(first, hash_tensor_header(shape));
        }
        for count in [0usize, 1, 12] {
            let mut input = [Fr::from(0u64); WIDTH - 1];
            input[0] = Fr::from(TAG_STATE);
            input[1] = Fr::from(count as u64);
            assert_eq!(state_header(count), poseidon_t13(&input));
            assert_eq!(state_header(count), poseidon_t13(&input));
        }
        // A cache that starts over still answers the same.
        let h = tensor_header(&[5, 5]).unwrap();
        HEADERS.with_borrow_mut(|c| c.tensors.clear());
        assert_eq!(tensor_header(&[5, 5]).unwrap(), h);
    }

    #[test]
    fn batched_commitments_equal_one_by_one() {
        // Lengths around block (77) and word (7) boundaries, more tensors than lanes so
        // lanes refill, an empty tensor, a bad shape, a rank above nine, extreme values.
        let lens = [
            0usize,
            1,
            6,
            7,
            8,
            76,
            77,
            78,
            154,
            155,
            400,
            1000,
            3,
            2000,
            5,
            77 * 9,
        ];
        let tensors: Vec<(Vec<usize>, Vec<i32>)> = lens
            .iter()
            .enumerate()
            .map(|(t, &n)| {
                let data = (0..n)
                    .map(|i| match (i + t) % 5 {
                        0 => i32::MIN,
                        1 => i32::MAX,
                        2 => 0,
                        _ => (i as i32).wrapping_mul(0x9e37_79b9_u32 as i32) ^ t as i32,
                    })
                    .collect();
                (vec![n], data)
            })
            .chain([(vec![2, 2], vec![1, 2, 3]), (vec![1; 10], vec![7])])
            .collect();
        for order in [false, true] {
            let mut ids: Vec<usize> = (0..tensors.len()).collect();
            if order {
                ids.sort_by_key(|&i| std::cmp::Reverse(tensors[i].1.len()));
            }
            let mut it = ids.into_iter();
            let mut got = tensor_commitments(|| {
                it.next()
                    .map(|i| (i, tensors[i].0.as_slice(), tensors[i].1.as_slice()))
            });
            got.sort_by_key(|(k, _)| *k);
            let expected: Vec<(usize, Option<Fr>)> = tensors
                .iter()
                .enumerate()
                .map(|(i, (shape, data))| (i, tensor_commitment(shape, data)))
                .collect();
            assert_eq!(got, expected);
        }
    }

    #[test]
    fn packing_is_the_offset_limb_sum() {
        use ark_ff::{BigInteger, Field, PrimeField};
        let vals = [i32::MIN, -1, 0, 1, i32::MAX, 12345, -6789];
        let expected: Fr = vals
            .iter()
            .enumerate()
            .map(|(k, v)| {
                Fr::from((i64::from(*v) + (1 << 31)) as u64) * Fr::from(2u64).pow([32 * k as u64])
            })
            .sum();
        assert_eq!(pack_word(&vals), expected);
        // The top limb ends below bit 224: words are canonical, so packing is injective.
        assert!(pack_word(&[i32::MAX; 7]).into_bigint().num_bits() <= 224);
        assert_ne!(pack_word(&[0, 1]), pack_word(&[1, 0]));
    }
}
