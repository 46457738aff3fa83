//! Comparisons, boolean logic, `Where` and `Cast` (engine: `ops/logic.rs`): one template,
//! `logic_chunk`, for every elementwise operator of that family. Booleans are `2^F` (true)
//! and `0`; an operand is true when non-zero.
//!
//! Public inputs `[C(A), C(B), C(C), j, kind, bounds, d]`: output chunk `j` of the operator
//! `kind` applied to chunk `j` of `A`, `B` and `C` (all of the output's length; an operator
//! with fewer operands names its first one again) has leaf digest `d`:
//!
//! | kind | operator | `y` |
//! |---|---|---|
//! | 0–4 | `Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`, `Equal` | `[a ∘ b]·2^F` |
//! | 5–8 | `Not`, `And`, `Or`, `Xor` | `[¬a]`, `[a ∧ b]`, `[a ∨ b]`, `[a ⊕ b]`, times `2^F` |
//! | 9 | `Where` | `a ≠ 0 ? b : c` |
//! | 10 | `Cast` to a real type | `a` |
//! | 11 | `Cast` to bool | `[a ≠ 0]·2^F` |
//! | 12 | `Cast` to an integer type | `clamp(trunc(a / 2^F), lo, hi)·2^F` |
//!
//! `bounds = (lo + 2^31) + (hi + 2^31)·2^32` carries kind 12's range (0 for the others): it is
//! decomposed in the circuit, so `lo` and `hi` are `i32` by construction.

use super::public_vars;
use ark_bn254::Fr;
use ark_ff::{One, Zero};
use zkopml_commit::{chunk_digest, chunked_commitment_of, tensor_header};
use zkopml_engine::{
    fixed::{FRAC_BITS, ONE},
    ops::{bool_value, Cast, CmpKind, LogicKind},
};

use super::{
    chunk::{open_chunk, output_leaf, ChunkOpening},
    Template,
};
use crate::gadgets::{lc_from_bits, Cs, CsResult, Lc};

/// An operator `logic_chunk` proves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogicOp {
    /// A comparison of `a` and `b`.
    Compare(CmpKind),
    /// A boolean connective.
    Logic(LogicKind),
    /// `Where(a, b, c)`.
    Where,
    /// `Cast(a)`.
    Cast(Cast),
}

/// Number of kinds (codes `0..KINDS`).
const KINDS: usize = 13;

impl LogicOp {
    /// The public code of the operator (the table of the module doc).
    pub fn code(&self) -> u64 {
        match self {
            LogicOp::Compare(CmpKind::Less) => 0,
            LogicOp::Compare(CmpKind::LessOrEqual) => 1,
            LogicOp::Compare(CmpKind::Greater) => 2,
            LogicOp::Compare(CmpKind::GreaterOrEqual) => 3,
            LogicOp::Compare(CmpKind::Equal) => 4,
            LogicOp::Logic(LogicKind::Not) => 5,
            LogicOp::Logic(LogicKind::And) => 6,
            LogicOp::Logic(LogicKind::Or) => 7,
            LogicOp::Logic(LogicKind::Xor) => 8,
            LogicOp::Where => 9,
            LogicOp::Cast(Cast::Real) => 10,
            LogicOp::Cast(Cast::Bool) => 11,
            LogicOp::Cast(Cast::Int { .. }) => 12,
        }
    }

    /// The public `bounds` input: `Cast`-to-integer's range, 0 otherwise.
    pub fn bounds(&self) -> Fr {
        match self {
            LogicOp::Cast(Cast::Int { min, max }) => {
                let off = |v: i32| (v as i64 + (1 << 31)) as u64;
                Fr::from(off(*min)) + Fr::from(off(*max)) * Fr::from(1u64 << 32)
            }
            _ => Fr::zero(),
        }
    }

    /// Operands the operator reads (the lowering repeats `a` for the missing ones).
    pub fn arity(&self) -> usize {
        match self {
            LogicOp::Compare(_) => 2,
            LogicOp::Logic(LogicKind::Not) | LogicOp::Cast(_) => 1,
            LogicOp::Logic(_) => 2,
            LogicOp::Where => 3,
        }
    }

    /// One output value: exactly the engine's semantics (`ops/logic.rs`).
    pub fn apply(&self, a: i32, b: i32, c: i32) -> i32 {
        match self {
            LogicOp::Compare(k) => bool_value(k.holds(a, b)),
            LogicOp::Logic(k) => bool_value(k.holds(a != 0, b != 0)),
            LogicOp::Where => {
                if a != 0 {
                    b
                } else {
                    c
                }
            }
            LogicOp::Cast(k) => k.apply(a),
        }
    }
}

/// The `logic_chunk` template.
pub struct LogicTemplate;

/// One instance: chunk `j` of the three operands and the operator.
#[derive(Clone, Debug)]
pub struct LogicChunk {
    /// Chunk `j` of `A`.
    pub a: ChunkOpening,
    /// Chunk `j` of `B` (`A` again for an operator with one operand).
    pub b: ChunkOpening,
    /// Chunk `j` of `C` (`A` again for an operator with fewer than three operands).
    pub c: ChunkOpening,
    /// The operator.
    pub op: LogicOp,
    /// A claimed value at one position replacing the engine's (tests: a forged chunk must
    /// have no witness).
    pub forge: Option<(usize, i32)>,
}

impl LogicChunk {
    /// The output chunk the engine computes.
    pub fn output(&self) -> Vec<i32> {
        (0..self.a.values.len())
            .map(|p| {
                let at = |o: &ChunkOpening| o.values.get(p).copied().unwrap_or(0);
                match self.forge {
                    Some((k, v)) if k == p => v,
                    _ => self.op.apply(at(&self.a), at(&self.b), at(&self.c)),
                }
            })
            .collect()
    }
}

impl Template for LogicTemplate {
    const NAME: &'static str = "logic_chunk/v1";
    type Instance = LogicChunk;

    fn public_inputs(inst: &LogicChunk) -> Vec<Fr> {
        let c = |o: &ChunkOpening| {
            chunked_commitment_of(tensor_header(&o.shape).unwrap_or_default(), o.root)
        };
        vec![
            c(&inst.a),
            c(&inst.b),
            c(&inst.c),
            Fr::from(inst.a.index as u64),
            Fr::from(inst.op.code()),
            inst.op.bounds(),
            chunk_digest(inst.a.index, &inst.output()),
        ]
    }

    fn synthesize(cs: &Cs, inst: Option<&LogicChunk>) -> CsResult<()> {
        let v = public_vars::<Self, 7>(cs, inst)?;
        let [c_a, c_b, c_c, index, kind, bounds, digest] = &v;
        // kind ∈ 0..KINDS, one-hot.
        let sel: Vec<Lc> = (0..KINDS)
            .map(|k| {
                cs.witness(if kind.val == Fr::from(k as u64) {
                    Fr::one()
                } else {
                    Fr::zero()
                })
            })
            .collect::<CsResult<_>>()?;
        let mut sum = Lc::constant(Fr::zero());
        let mut weighted = Lc::constant(Fr::zero());
        for (k, s) in sel.iter().enumerate() {
            cs.enforce(
                s,
                &Lc::constant(Fr::one()).sub(s),
                &Lc::constant(Fr::zero()),
            )?;
            sum = sum.add(s);
            weighted = weighted.add(&s.scale(Fr::from(k as u64)));
        }
        cs.assert_eq(&sum, &Lc::constant(Fr::one()))?;
        cs.assert_eq(&weighted, kind)?;
        // INVARIANT: lo, hi are i32 (bounds decomposed into two 32-bit halves).
        let bits = cs.bits(bounds, 64)?;
        let half = Fr::from(1u64 << 31);
        let lo = lc_from_bits(&bits[..32]).add_const(-half);
        let hi = lc_from_bits(&bits[32..]).add_const(-half);

        let a = open_chunk(cs, c_a, index, inst.map(|i| &i.a))?;
        let b = open_chunk(cs, c_b, index, inst.map(|i| &i.b))?;
        let c = open_chunk(cs, c_c, index, inst.map(|i| &i.c))?;
        cs.assert_eq(&a.len, &b.len)?;
        cs.assert_eq(&a.len, &c.len)?;
        let one = Lc::constant(Fr::one());
        let t = Lc::constant(Fr::from(ONE as u64)); // 2^F, "true"
        let y = (0..a.values.len())
            .map(|p| {
                let (x, u, w) = (&a.values[p], &b.values[p], &c.values[p]);
                // ge = [x ≥ u]: bit 32 of x − u + 2^32 (both i32).
                let ge = cs.bits(&x.sub(u).add_const(Fr::from(1u64 << 32)), 33)?[32].clone();
                let eq = cs.is_zero(&x.sub(u))?;
                let lt = one.sub(&ge);
                let le = lt.add(&eq);
                let gt = one.sub(&le);
                let na = one.sub(&cs.is_zero(x)?);
                let nb = one.sub(&cs.is_zero(u)?);
                let and = cs.mul(&na, &nb)?;
                // Cast to an integer: q = floor(x / 2^F), r = x − q·2^F; trunc = q + [x < 0 ∧ r ≠ 0].
                let q = cs.floor_shift(x, FRAC_BITS, 32)?;
                let r = x.sub(&q.scale(Fr::from(ONE as u64)));
                let negative = one.sub(&cs.i32_bits(x)?[31]);
                let r_nz = one.sub(&cs.is_zero(&r)?);
                let trunc = q.add(&cs.mul(&negative, &r_nz)?);
                let clamped = cs.max(&trunc, &lo)?;
                let clamped = clamped.add(&hi).sub(&cs.max(&clamped, &hi)?);
                let candidates = [
                    lt.scale(t.val),
                    le.scale(t.val),
                    gt.scale(t.val),
                    ge.scale(t.val),
                    eq.scale(t.val),
                    one.sub(&na).scale(t.val),
                    and.scale(t.val),
                    na.add(&nb).sub(&and).scale(t.val),
                    na.add(&nb).sub(&and.scale(Fr::from(2u64))).scale(t.val),
                    cs.select(&na, u, w)?,
                    x.clone(),
                    na.scale(t.val),
                    clamped.scale(t.val),
                ];
                let mut out = Lc::constant(Fr::zero());
                for (s, v) in sel.iter().zip(&candidates) {
                    out = out.add(&cs.mul(s, v)?);
                }
                Ok(out)
            })
            .collect::<CsResult<Vec<_>>>()?;
        let d = output_leaf(cs, index, &y, &a)?;
        cs.assert_eq(&d, digest)
    }
}
