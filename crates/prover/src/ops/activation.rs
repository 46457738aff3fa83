//! `Relu` and `Clip`.

use zkopml_engine::ops::Clip;

use super::Operand;
use crate::gadgets::{Cs, CsResult, Lc};

/// `max(x, 0)`: the sign bit of `x + 2^31` ([`Cs::i32_bits`], shared with the range check
/// of an opened `x`) times `x`.
pub(crate) fn relu(cs: &Cs, x: &Operand<'_>) -> CsResult<Vec<Lc>> {
    x.all()
        .iter()
        .map(|v| {
            let bits = cs.i32_bits(v)?;
            cs.mul(&bits[31], v)
        })
        .collect()
}

/// `min(max(x, lo), hi)` against constants. An absent bound costs nothing; `lo = 0` (ReLU6)
/// is a `Relu` (one product on the shared sign bit); otherwise each bound is a `max` (35).
pub(crate) fn clip(cs: &Cs, c: &Clip, x: &Operand<'_>) -> CsResult<Vec<Lc>> {
    let (lo, hi) = (Lc::int(c.lo as i64), Lc::int(c.hi as i64));
    x.all()
        .iter()
        .map(|v| {
            let m = match c.lo {
                i32::MIN => v.clone(),
                0 => cs.mul(&cs.i32_bits(v)?[31], v)?,
                _ => cs.max(v, &lo)?,
            };
            if c.hi == i32::MAX {
                return Ok(m);
            }
            // min(m, hi) = m + hi - max(m, hi)
            let top = cs.max(&m, &hi)?;
            Ok(m.add(&hi).sub(&top))
        })
        .collect()
}
