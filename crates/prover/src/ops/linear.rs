//! `Gemm` with constant `B` (and `C`): every product is a constant multiple, so the
//! accumulator is a free linear combination; each output costs one `rescale`.

use ark_ff::Zero;
use zkopml_commit::fr_from_i64;
use zkopml_engine::ops::Gemm;

use super::{abs_sum, Operand};
use crate::gadgets::{Cs, CsResult, Lc};

pub(crate) fn gemm(cs: &Cs, g: &Gemm, ins: &[Operand<'_>]) -> CsResult<Vec<Lc>> {
    let b = ins[1].constant().expect("checked: B is constant");
    let (m, k, n) = g.dims(ins[0].shape(), &b.shape);
    let a_at = |i: usize, j: usize| {
        if g.trans_a {
            ins[0].at(j * m + i)
        } else {
            ins[0].at(i * k + j)
        }
    };
    let b_at = |i: usize, j: usize| {
        if g.trans_b {
            b.data[j * k + i]
        } else {
            b.data[i * n + j]
        }
    };
    let rows: Vec<Vec<Lc>> = (0..m)
        .map(|i| (0..k).map(|j| a_at(i, j)).collect())
        .collect();
    let scale = g.scale();
    let mut out = Vec::with_capacity(m * n);
    for row in &rows {
        for j in 0..n {
            let col: Vec<i32> = (0..k).map(|i| b_at(i, j)).collect();
            let mut acc = Lc::constant(ark_bn254::Fr::zero());
            for (x, w) in row.iter().zip(&col) {
                if *w != 0 {
                    acc = acc.add(&x.scale(fr_from_i64(*w as i64)));
                }
            }
            let bias = if g.has_bias {
                ins[2].constant().expect("constant C").data[out.len()] as i64
            } else {
                0
            };
            acc = acc.add_const(fr_from_i64(bias) * fr_from_i64(1 << scale.lift));
            let bound = abs_sum(col.iter().copied()) * (1u128 << 31)
                + ((bias.unsigned_abs() as u128) << scale.lift);
            out.push(cs.rescale(&acc.compact(), scale.shift, bound)?);
        }
    }
    Ok(out)
}
