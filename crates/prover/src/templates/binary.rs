//! `Add`, `Sub`, `Mul` and `Div` of two tensors of the same length (engine: `ops/binary.rs`):
//! two templates, `binary_chunk` and `div_chunk`. Broadcasting operands reach them through a
//! copy that materialises the broadcast (a gather, or a constant committed broadcast).
//!
//! **`binary_chunk`.** Public inputs `[C(A), C(B), j, kind, d]`: output chunk `j` of
//! `Y = A ∘ B` has leaf digest `d`, with `kind` 0 = `Add` (`sat(a + b)`), 1 = `Sub`
//! (`sat(a − b)`), 2 = `Mul` (`rescale(a·b, FRAC_BITS)`): exactly [`BinaryKind::apply`].
//!
//! **`div_chunk`.** Public inputs `[C(A), C(B), j, d]`: output chunk `j` of `Y = A / B`
//! (`Div`; `Reciprocal` is `Div(1, x)` and a constant divisor is committed broadcast) has
//! leaf digest `d`, exactly [`BinaryKind::Div`]: `sat(div_round(a·2^F, b))` for `b > 0`,
//! `sat(div_round(−a·2^F, −b))` for `b < 0`, and for `b = 0` `i32::MAX`, `0` or `i32::MIN` by
//! the sign of `a`. Per value, with `s = [b ≥ 0]` and `z = [b = 0]` (from `b`'s range
//! check and an `is_zero`):
//!
//! - the divisor `D = |b| + z ≥ 1` and `h = ⌊|b|/2⌋ = (|b| − p)/2`, `p` the low bit of `b`;
//! - the numerator `N = a·m` with `m = (2s − 1)·2^F + z·(2^32 − 2^F)` (linear in `s`, `z`:
//!   `±a·2^F`, or `a·2^32` for `b = 0`, which saturates to the sign of `a`);
//! - witnesses `q`, `r` with `q·D = N + h − r`, `0 ≤ r < D` (two 31-bit range checks), and
//!   `y = sat(q)` by the shared rescale gadget (shift 0, `|q| < 2^64`, which also bounds `q`).
//!
//! Every term is below `2^98` in magnitude, so the field equation is the integer one and
//! `q = ⌊(N + h)/D⌋` is unique. About 140 constraints per value.

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{Field, One, Zero};
use zkopml_commit::{chunk_digest, chunked_commitment_of, tensor_header};
use zkopml_engine::{fixed::FRAC_BITS, ops::BinaryKind};

use super::{
    chunk::{open_chunk, output_leaf, ChunkOpening},
    Template,
};
use crate::gadgets::{fr_to_i128, Cs, CsResult, Lc};

/// The elementwise `Add`/`Sub`/`Mul` chunk template.
pub struct BinaryTemplate;

/// One instance: chunk `j` of both operands and the operation.
#[derive(Clone, Debug)]
pub struct BinaryChunk {
    /// Chunk `j` of `A`.
    pub a: ChunkOpening,
    /// Chunk `j` of `B` (same length as `A`).
    pub b: ChunkOpening,
    /// `Add`, `Sub` or `Mul`.
    pub kind: BinaryKind,
}

impl BinaryChunk {
    /// The template's code of `kind`; `None` for the kinds it does not prove.
    pub fn code(kind: BinaryKind) -> Option<u64> {
        match kind {
            BinaryKind::Add => Some(0),
            BinaryKind::Sub => Some(1),
            BinaryKind::Mul => Some(2),
            BinaryKind::Div | BinaryKind::Affine => None,
        }
    }

    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        self.a
            .values
            .iter()
            .zip(&self.b.values)
            .map(|(x, y)| self.kind.apply(*x, *y, 0))
            .collect()
    }
}

impl Template for BinaryTemplate {
    const NAME: &'static str = "binary_chunk/v1";
    type Instance = BinaryChunk;

    fn public_inputs(inst: &BinaryChunk) -> Vec<Fr> {
        let c = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        vec![
            c(&inst.a),
            c(&inst.b),
            Fr::from(inst.a.index as u64),
            // An unproved kind gets a code no witness satisfies.
            Fr::from(BinaryChunk::code(inst.kind).unwrap_or(u64::MAX)),
            chunk_digest(inst.a.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&BinaryChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 5>(cs, inst)?;
        let [c_a, c_b, index, kind, digest] = &v;
        // kind ∈ {0, 1, 2}: is_sub and is_mul booleans, at most one set.
        let is_sub = cs.witness(if kind.val == Fr::one() {
            Fr::one()
        } else {
            Fr::zero()
        })?;
        let is_mul = cs.witness(if kind.val == Fr::from(2u64) {
            Fr::one()
        } else {
            Fr::zero()
        })?;
        for b in [&is_sub, &is_mul] {
            cs.enforce(
                b,
                &Lc::constant(Fr::one()).sub(b),
                &Lc::constant(Fr::zero()),
            )?;
        }
        cs.enforce(&is_sub, &is_mul, &Lc::constant(Fr::zero()))?;
        cs.assert_eq(kind, &is_sub.add(&is_mul.scale(Fr::from(2u64))))?;
        // σ = 1 − 2·is_sub: the sign of b in a sum.
        let sigma = Lc::constant(Fr::one()).sub(&is_sub.scale(Fr::from(2u64)));

        let a = open_chunk(cs, c_a, index, inst.map(|i| &i.a))?;
        let b = open_chunk(cs, c_b, index, inst.map(|i| &i.b))?;
        cs.assert_eq(&a.len, &b.len)?;
        let y = a
            .values
            .iter()
            .zip(&b.values)
            .map(|(x, y)| {
                let sum = x.add(&cs.mul(&sigma, y)?);
                let sum = cs.rescale(&sum, 0, 1 << 32)?;
                let prod = cs.rescale(&cs.mul(x, y)?, FRAC_BITS, 1 << 62)?;
                cs.select(&is_mul, &prod, &sum)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, index, &y, &a)?;
        cs.assert_eq(&d, digest)
    }
}

/// The `Div` chunk template (module doc).
pub struct DivTemplate;

/// One instance: chunk `j` of the dividend and the divisor.
#[derive(Clone, Debug)]
pub struct DivChunk {
    /// Chunk `j` of `A` (the dividend).
    pub a: ChunkOpening,
    /// Chunk `j` of `B` (the divisor; same length as `A`).
    pub b: ChunkOpening,
    /// A dishonest prover's claim (soundness tests): `(k, y)` puts `y` at position `k` of the
    /// output; `None` for the honest witness.
    pub forge: Option<(usize, i32)>,
}

impl DivChunk {
    /// The output chunk the engine computes (with the forged value, if any).
    pub fn output(&self) -> Vec<i32> {
        self.a
            .values
            .iter()
            .zip(&self.b.values)
            .map(|(x, y)| BinaryKind::Div.apply(*x, *y, 0))
            .enumerate()
            .map(|(k, y)| match self.forge {
                Some((at, v)) if at == k => v,
                _ => y,
            })
            .collect()
    }
}

/// `sat(div_round(a·2^F, b))` with the engine's signs and division by zero, for `a`, `b`
/// in the `i32` range (module doc; ≈ 140 constraints).
fn div_gadget(cs: &Cs, a: &Lc, b: &Lc) -> CsResult<Lc> {
    let one = Lc::constant(Fr::one());
    let two_f = Fr::from(1u64 << FRAC_BITS);
    let b_bits = cs.i32_bits(b)?;
    // s = [b ≥ 0]; p = b mod 2 (b + 2^31 has b's parity).
    let (s, p) = (b_bits[31].clone(), b_bits[0].clone());
    let z = cs.is_zero(b)?;
    let sign = s.scale(Fr::from(2u64)).sub(&one); // ±1
    let abs_b = cs.mul(b, &sign)?;
    let half = abs_b
        .sub(&p)
        .scale(Fr::from(2u64).inverse().expect("2 is invertible"));
    let d = abs_b.add(&z);
    let m = sign
        .scale(two_f)
        .add(&z.scale(Fr::from(1u64 << 32) - two_f));
    let n = cs.mul(a, &m)?;
    // Witnesses from the values (dummies at setup): q = ⌊(N + h)/D⌋, r the remainder.
    let num = n.add(&half);
    let (num_v, d_v) = (
        fr_to_i128(num.val).unwrap_or(0),
        fr_to_i128(d.val).unwrap_or(1).max(1),
    );
    let q = cs.witness_int(num_v.div_euclid(d_v))?;
    let r = cs.witness_int(num_v.rem_euclid(d_v))?;
    cs.enforce(&q, &d, &num.sub(&r))?;
    // 0 ≤ r < D ≤ 2^31.
    cs.range(&r, 31)?;
    cs.range(&d.sub(&r).add_const(-Fr::one()), 31)?;
    cs.rescale(&q, 0, 1 << 64)
}

impl Template for DivTemplate {
    const NAME: &'static str = "div_chunk/v1";
    type Instance = DivChunk;

    /// `[C(A), C(B), j, d]`.
    fn public_inputs(inst: &DivChunk) -> Vec<Fr> {
        let c = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        vec![
            c(&inst.a),
            c(&inst.b),
            Fr::from(inst.a.index as u64),
            chunk_digest(inst.a.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&DivChunk>) -> CsResult<()> {
        let [c_a, c_b, index, digest] = public_vars::<Self, 4>(cs, inst)?;
        let a = open_chunk(cs, &c_a, &index, inst.map(|i| &i.a))?;
        let b = open_chunk(cs, &c_b, &index, inst.map(|i| &i.b))?;
        cs.assert_eq(&a.len, &b.len)?;
        let y = a
            .values
            .iter()
            .zip(&b.values)
            .map(|(x, w)| div_gadget(cs, x, w))
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, &index, &y, &a)?;
        cs.assert_eq(&d, &digest)
    }
}
