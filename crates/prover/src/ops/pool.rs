//! `MaxPool`, `AveragePool`, `GlobalAveragePool`.

use ark_bn254::Fr;
use zkopml_commit::fr_from_i64;
use zkopml_engine::{fixed::div_round, ops::Pool};

use super::Operand;
use crate::gadgets::{Cs, CsResult, Lc};

fn windows<'a>(
    p: &'a Pool,
    x: &'a Operand<'_>,
    out_shape: &'a [usize],
) -> impl Iterator<Item = Vec<usize>> + 'a {
    let xs = x.shape();
    let (h, w) = (xs[2], xs[3]);
    let planes = xs[0] * xs[1];
    (0..planes).flat_map(move |pl| {
        (0..out_shape[2]).flat_map(move |oy| {
            (0..out_shape[3]).map(move |ox| {
                p.window(h, w, oy, ox)
                    .into_iter()
                    .map(|i| pl * h * w + i)
                    .collect()
            })
        })
    })
}

pub(crate) fn max_pool(
    cs: &Cs,
    p: &Pool,
    x: &Operand<'_>,
    out_shape: &[usize],
) -> CsResult<Vec<Lc>> {
    windows(p, x, out_shape)
        .map(|idx| {
            let mut it = idx.iter().map(|i| x.at(*i));
            match it.next() {
                None => Ok(Lc::int(i32::MIN as i64)),
                Some(first) => it.try_fold(first, |m, v| cs.max(&m, &v)),
            }
        })
        .collect()
}

/// `q = floor((sum + floor(count/2)) / count)` with `sum = q·count + r`, `0 <= r < count`,
/// and `q` in the `i32` range.
pub(crate) fn mean(cs: &Cs, sum: &Lc, count: usize) -> CsResult<Lc> {
    if count == 0 {
        return Ok(Lc::int(0));
    }
    let c = count as i128;
    let q_val = sum.as_i128().map_or(0, |s| div_round(s, c));
    let r_val = sum.as_i128().map_or(0, |s| s + c / 2 - q_val * c);
    let q = cs.witness(fr_from_i64(q_val as i64))?;
    let r = cs.witness(fr_from_i64(r_val as i64))?;
    cs.assert_eq(
        &sum.add_const(fr_from_i64((c / 2) as i64)),
        &q.scale(fr_from_i64(count as i64)).add(&r),
    )?;
    let nb = (usize::BITS - count.leading_zeros()) as usize;
    cs.bits(&r, nb)?;
    cs.bits(&Lc::int(count as i64 - 1).sub(&r), nb)?;
    cs.bits(&q.add_const(Fr::from(1u64 << 31)), 32)?;
    Ok(q)
}

pub(crate) fn avg_pool(
    cs: &Cs,
    p: &Pool,
    x: &Operand<'_>,
    out_shape: &[usize],
) -> CsResult<Vec<Lc>> {
    let area = p.kernel[0] * p.kernel[1];
    windows(p, x, out_shape)
        .map(|idx| {
            let sum = idx.iter().fold(Lc::int(0), |s, i| s.add(&x.at(*i)));
            mean(
                cs,
                &sum.compact(),
                if p.count_include_pad { area } else { idx.len() },
            )
        })
        .collect()
}

pub(crate) fn global_avg(cs: &Cs, x: &Operand<'_>) -> CsResult<Vec<Lc>> {
    let xs = x.shape();
    let size: usize = xs[2..].iter().product();
    (0..xs[0] * xs[1])
        .map(|pl| {
            let sum = (0..size).fold(Lc::int(0), |s, i| s.add(&x.at(pl * size + i)));
            mean(cs, &sum.compact(), size)
        })
        .collect()
}
