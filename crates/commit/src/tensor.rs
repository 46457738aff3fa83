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
    debug_assert!(values.len() <= LIMBS);
    let mut limbs = [0u64; 4];
    for (k, v) in values.iter().enumerate() {
        let u = (i64::from(*v) + LIMB_OFFSET as i64) as u128;
        let bit = 32 * k;
        let (word, shift) = (bit / 64, bit % 64);
        limbs[word] |= (u << shift) as u64;
    }
    Fr::from(ark_ff::BigInt::new(limbs))
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
