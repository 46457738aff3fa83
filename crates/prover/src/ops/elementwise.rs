//! Broadcasting `Add`, `Sub`, `Mul` and the folded `BatchNormalization` affine.

use zkopml_commit::fr_from_i64;
use zkopml_engine::{
    fixed::{FRAC_BITS, ONE},
    ops::{broadcast_index, BinaryKind},
};

use super::Operand;
use crate::gadgets::{Cs, CsResult, Lc};

pub(crate) fn binary(
    cs: &Cs,
    k: BinaryKind,
    ins: &[Operand<'_>],
    out_shape: &[usize],
) -> CsResult<Vec<Lc>> {
    let one = fr_from_i64(ONE);
    let idx: Vec<Vec<usize>> = ins
        .iter()
        .map(|t| broadcast_index(t.shape(), out_shape))
        .collect();
    (0..idx[0].len())
        .map(|i| {
            let a = ins[0].at(idx[0][i]);
            let b_idx = idx[1][i];
            let b = ins[1].at(b_idx);
            let b_const = ins[1].constant().map(|t| t.data[b_idx]);
            match k {
                BinaryKind::Add => cs.rescale(&a.add(&b), 0, 1 << 32),
                BinaryKind::Sub => cs.rescale(&a.sub(&b), 0, 1 << 32),
                BinaryKind::Mul => {
                    let prod = match b_const {
                        Some(w) => a.scale(fr_from_i64(w as i64)),
                        None => cs.mul(&a, &b)?,
                    };
                    cs.rescale(&prod, FRAC_BITS, 1 << 62)
                }
                BinaryKind::Affine => {
                    let s = b_const.expect("folded BatchNormalization scales are constants");
                    let t_idx = idx[2][i];
                    let t = ins[2].constant().expect("constant shift").data[t_idx];
                    let acc = a
                        .scale(fr_from_i64(s as i64))
                        .add_const(fr_from_i64(t as i64) * one);
                    let bound = (s as i64).unsigned_abs() as u128 * (1 << 31)
                        + (t as i64).unsigned_abs() as u128 * ONE as u128;
                    cs.rescale(&acc, FRAC_BITS, bound)
                }
                BinaryKind::Div => unreachable!("rejected by ops::check"),
            }
        })
        .collect()
}
