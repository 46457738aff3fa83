//! Tensor and state commitments (normative text: `docs/commitments.md`).
//!
//! Both are one Poseidon *chain*: `h_0 = header`, then for each run of [`CHUNK`] elements
//! (the last one padded with zeros) `h_{j+1} = Poseidon(h_j, e_0, ..., e_10)`. The header
//! fixes the element count, so zero padding cannot alias a longer input.

use ark_bn254::Fr;

use crate::{
    field::fr_from_i64,
    poseidon::{poseidon_t13, CHUNK, WIDTH},
};

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
    let len: usize = shape.iter().product();
    let mut input = [Fr::from(0u64); WIDTH - 1];
    input[0] = Fr::from(TAG_TENSOR);
    input[1] = Fr::from(len as u64);
    input[2] = Fr::from(shape.len() as u64);
    for (slot, d) in input[3..].iter_mut().zip(shape) {
        *slot = Fr::from(*d as u64);
    }
    Some(poseidon_t13(&input))
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

/// Commitment to a tensor of signed integers with the given shape.
///
/// Returns `None` when the shape's rank exceeds nine or `data` does not fill the shape.
pub fn tensor_commitment(shape: &[usize], data: &[i32]) -> Option<Fr> {
    if shape.iter().product::<usize>() != data.len() {
        return None;
    }
    let header = tensor_header(shape)?;
    Some(chain(
        header,
        data.iter().map(|v| fr_from_i64(i64::from(*v))),
    ))
}

/// Which tensors are live at a step boundary, in slot order (value ids of the program).
pub type StateLayout = Vec<usize>;

/// State commitment over the commitments of the live tensors, in slot order:
/// the chain from `Poseidon(TAG_STATE, count, 0...)`.
pub fn state_commitment(tensor_commitments: &[Fr]) -> Fr {
    let mut input = [Fr::from(0u64); WIDTH - 1];
    input[0] = Fr::from(TAG_STATE);
    input[1] = Fr::from(tensor_commitments.len() as u64);
    chain(poseidon_t13(&input), tensor_commitments.iter().copied())
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
        let data: Vec<i32> = (0..22).collect();
        let h = tensor_commitment(&[22], &data).unwrap();
        let header = tensor_header(&[22]).unwrap();
        let mut block = [Fr::from(0u64); 12];
        block[0] = header;
        for i in 0..11 {
            block[1 + i] = Fr::from(i as u64);
        }
        let h1 = poseidon_t13(&block);
        block[0] = h1;
        for i in 0..11 {
            block[1 + i] = Fr::from(11 + i as u64);
        }
        assert_eq!(h, poseidon_t13(&block));
    }
}
