//! `Add`, `Sub` and `Mul` of two tensors of the same length (engine: `ops/binary.rs`): one
//! template, `binary_chunk`. Broadcasting operands reach it through a copy that materialises
//! the broadcast (the copy templates).
//!
//! Public inputs `[C(A), C(B), j, kind, d]`: output chunk `j` of `Y = A ∘ B` has leaf digest
//! `d`, with `kind` 0 = `Add` (`sat(a + b)`), 1 = `Sub` (`sat(a − b)`), 2 = `Mul`
//! (`rescale(a·b, FRAC_BITS)`): exactly [`BinaryKind::apply`].

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{One, Zero};
use zkopml_commit::{chunk_digest, chunked_commitment_of, tensor_header};
use zkopml_engine::{fixed::FRAC_BITS, ops::BinaryKind};

use super::{
    chunk::{open_chunk, output_leaf, ChunkOpening},
    Template,
};
use crate::gadgets::{Cs, CsResult, Lc};

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
