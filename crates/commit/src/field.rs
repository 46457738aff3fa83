//! Conversions between integers, 32-byte words and BN254 scalars.

use ark_bn254::Fr;
use ark_ff::{BigInteger, PrimeField};

/// A 32-byte big-endian word: how field elements and hashes travel to the chain.
pub type Digest = [u8; 32];

/// The field element of a signed integer: `v` for `v >= 0`, `r - |v|` otherwise.
pub fn fr_from_i64(v: i64) -> Fr {
    if v >= 0 {
        Fr::from(v as u64)
    } else {
        -Fr::from(v.unsigned_abs())
    }
}

/// Big-endian 32-byte encoding of a field element (a `bytes32`/`uint256` on chain).
pub fn fr_to_bytes32(x: &Fr) -> Digest {
    let bytes = x.into_bigint().to_bytes_be();
    let mut out = [0u8; 32];
    out[32 - bytes.len()..].copy_from_slice(&bytes);
    out
}

/// Decodes a big-endian word into a field element; `None` when it is not below the modulus
/// (a non-canonical encoding must never alias a canonical one).
pub fn fr_from_bytes32(bytes: &Digest) -> Option<Fr> {
    let x = Fr::from_be_bytes_mod_order(bytes);
    (fr_to_bytes32(&x) == *bytes).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_integers_map_to_their_residues() {
        assert_eq!(fr_from_i64(-1) + Fr::from(1u64), Fr::from(0u64));
        assert_eq!(
            fr_from_i64(i64::MIN) + fr_from_i64(i64::MAX),
            fr_from_i64(-1)
        );
    }

    #[test]
    fn bytes32_round_trip_rejects_non_canonical() {
        let x = fr_from_i64(-5);
        assert_eq!(fr_from_bytes32(&fr_to_bytes32(&x)), Some(x));
        assert_eq!(fr_from_bytes32(&[0xff; 32]), None);
    }
}
