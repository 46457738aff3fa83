//! The width-13 circomlib Poseidon permutation as constraints, and the tensor/state
//! commitment chains of `zkopml-commit` built on it.
//!
//! Full rounds cost 3 constraints per lane (x², x⁴, x⁵); partial rounds 3 in total: the
//! linear layers are free. The linear algebra of the partial rounds is data-independent, so
//! it is folded once into a table expressing lane 0 (and, at the end, every lane) over the
//! last full round's S-box outputs and the partial rounds' S-box outputs.

use std::sync::OnceLock;

use ark_bn254::Fr;
use ark_ff::{One, Zero};
use zkopml_commit::{poseidon_params, tensor_header, CHUNK, LIMBS, LIMB_OFFSET, TAG_STATE, WIDTH};

use crate::gadgets::{Cs, CsResult, Lc};

/// Symbolic lanes: coefficient vectors over `[x_0..x_12, p_1..p_R, 1]`.
struct PartialTables {
    /// For partial round `r`: lane 0 after the round constants, before the S-box.
    sbox_in: Vec<Vec<Fr>>,
    /// After the last partial round (its MDS included): every lane.
    out: Vec<Vec<Fr>>,
}

fn tables() -> &'static PartialTables {
    static T: OnceLock<PartialTables> = OnceLock::new();
    T.get_or_init(|| {
        let p = poseidon_params();
        let rp = p.partial_rounds;
        let dim = WIDTH + rp + 1;
        let one = dim - 1;
        // Lanes entering the partial rounds: MDS · x (x = last full round's S-box outputs).
        let mut lanes: Vec<Vec<Fr>> = (0..WIDTH)
            .map(|i| {
                let mut v = vec![Fr::zero(); dim];
                v[..WIDTH].copy_from_slice(&p.mds[i]);
                v
            })
            .collect();
        let half = p.full_rounds / 2;
        let mut sbox_in = Vec::with_capacity(rp);
        for r in 0..rp {
            let round = half + r;
            for (i, lane) in lanes.iter_mut().enumerate() {
                lane[one] += p.ark[round * WIDTH + i];
            }
            sbox_in.push(lanes[0].clone());
            lanes[0] = vec![Fr::zero(); dim];
            lanes[0][WIDTH + r] = Fr::one();
            let prev = lanes.clone();
            for (i, lane) in lanes.iter_mut().enumerate() {
                for (k, slot) in lane.iter_mut().enumerate() {
                    *slot = (0..WIDTH).map(|j| p.mds[i][j] * prev[j][k]).sum();
                }
            }
        }
        PartialTables {
            sbox_in,
            out: lanes,
        }
    })
}

fn combine(coeffs: &[Fr], basis: &[Lc]) -> Lc {
    let mut terms = Vec::new();
    let mut val = Fr::zero();
    for (c, b) in coeffs.iter().zip(basis) {
        if c.is_zero() {
            continue;
        }
        val += *c * b.val;
        terms.extend(b.terms.iter().map(|(k, v)| (*k * c, *v)));
    }
    Lc { terms, val }.compact()
}

/// The permutation on 12 inputs (lane 0 is the zero domain tag); returns lane 0.
pub fn permute(cs: &Cs, inputs: &[Lc; WIDTH - 1]) -> CsResult<Lc> {
    let p = poseidon_params();
    let half = p.full_rounds / 2;
    let mut state: Vec<Lc> = std::iter::once(Lc::constant(Fr::zero()))
        .chain(inputs.iter().cloned())
        .collect();
    let full_round = |state: &mut Vec<Lc>, round: usize| -> CsResult<()> {
        let x: Vec<Lc> = state
            .iter()
            .enumerate()
            .map(|(i, s)| cs.pow5(&s.add_const(p.ark[round * WIDTH + i])))
            .collect::<CsResult<_>>()?;
        *state = (0..WIDTH).map(|i| combine(&p.mds[i], &x)).collect();
        Ok(())
    };
    // First half of the full rounds, keeping the last S-box outputs as the partial basis.
    for round in 0..half - 1 {
        full_round(&mut state, round)?;
    }
    let x: Vec<Lc> = state
        .iter()
        .enumerate()
        .map(|(i, s)| cs.pow5(&s.add_const(p.ark[(half - 1) * WIDTH + i])))
        .collect::<CsResult<_>>()?;
    let t = tables();
    let mut basis: Vec<Lc> = x;
    basis.reserve(p.partial_rounds + 1);
    for r in 0..p.partial_rounds {
        let mut coeffs = t.sbox_in[r].clone();
        coeffs.truncate(WIDTH + r);
        let mut lane0 = combine(&coeffs, &basis);
        lane0 = lane0.add_const(t.sbox_in[r][WIDTH + p.partial_rounds]);
        basis.push(cs.pow5(&lane0)?);
    }
    basis.push(Lc::constant(Fr::one()));
    state = t.out.iter().map(|c| combine(c, &basis)).collect();
    for round in half + p.partial_rounds..p.full_rounds + p.partial_rounds {
        full_round(&mut state, round)?;
    }
    Ok(state.swap_remove(0))
}

/// The commitment chain from a constant header over `elems` (see `zkopml-commit`).
pub fn chain(cs: &Cs, header: Fr, elems: &[Lc]) -> CsResult<Lc> {
    chain_from(cs, Lc::constant(header), elems)
}

/// The commitment chain from a header that is itself a circuit value (a chunk leaf's seed
/// depends on the chunk's index).
pub fn chain_from(cs: &Cs, header: Lc, elems: &[Lc]) -> CsResult<Lc> {
    let mut h = header;
    for chunk in elems.chunks(CHUNK) {
        let mut block: [Lc; WIDTH - 1] = core::array::from_fn(|_| Lc::constant(Fr::zero()));
        block[0] = h;
        for (slot, e) in block[1..].iter_mut().zip(chunk) {
            *slot = e.clone();
        }
        h = permute(cs, &block)?;
    }
    Ok(h)
}

/// In-circuit tensor commitment of `values` with a static `shape`: the packed words are
/// linear in the values, so packing costs no constraints. Packing is injective only for
/// values in the `i32` range: a caller opening a commitment (rather than producing the
/// values by constrained operators) must range-check them ([`open_range_check`]).
pub fn tensor_commitment(cs: &Cs, shape: &[usize], values: &[Lc]) -> CsResult<Lc> {
    let header = tensor_header(shape).expect("engine shapes have rank <= 9");
    let limb = Fr::from(1u64 << 32);
    let words: Vec<Lc> = values
        .chunks(LIMBS)
        .map(|chunk| {
            let mut word = Lc::constant(Fr::zero());
            let mut pow = Fr::one();
            for v in chunk {
                word = word.add(&v.add_const(Fr::from(LIMB_OFFSET)).scale(pow));
                pow *= limb;
            }
            word.compact()
        })
        .collect();
    chain(cs, header, &words)
}

/// Constrains an opened tensor element to the `i32` range (32 booleans and a recomposition
/// of `v + 2^31`; a later `Relu` of the same value reuses these bits).
pub fn open_range_check(cs: &Cs, v: &Lc) -> CsResult<()> {
    cs.i32_bits(v).map(|_| ())
}

/// In-circuit state commitment over tensor commitments.
pub fn state_commitment(cs: &Cs, commitments: &[Lc]) -> CsResult<Lc> {
    let mut input = [Fr::zero(); WIDTH - 1];
    input[0] = Fr::from(TAG_STATE);
    input[1] = Fr::from(commitments.len() as u64);
    chain(cs, zkopml_commit::poseidon_t13(&input), commitments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ark_relations::gr1cs::ConstraintSystem;

    #[test]
    fn gadget_matches_native_commitments_and_counts_constraints() {
        let cs = Cs::new(ConstraintSystem::<Fr>::new_ref());
        let data: Vec<i32> = (0..30).map(|i| i * 7919 - 100_000).collect();
        let vals: Vec<Lc> = data
            .iter()
            .map(|v| cs.witness(zkopml_commit::fr_from_i64(*v as i64)).unwrap())
            .collect();
        let c = tensor_commitment(&cs, &[5, 6], &vals).unwrap();
        assert_eq!(
            c.val,
            zkopml_commit::tensor_commitment(&[5, 6], &data).unwrap()
        );
        let s = state_commitment(&cs, std::slice::from_ref(&c)).unwrap();
        assert_eq!(s.val, zkopml_commit::state_commitment(&[c.val]));
        assert!(cs.cs.is_satisfied().unwrap());
        // 30 values = 5 packed words: 1 permutation for the tensor, 1 for the state.
        let perm = cs.cs.num_constraints() / 2;
        assert_eq!(perm, 8 * 13 * 3 + poseidon_params().partial_rounds * 3);
        // A wrong opening fails.
        cs.assert_eq(&c, &Lc::constant(c.val + Fr::one())).unwrap();
        assert!(!cs.cs.is_satisfied().unwrap());
    }
}
