//! `ReduceSum`, `ReduceMean`, `ReduceMax`, `ArgMax` and `Softmax`.

use zkopml_commit::fr_from_i64;
use zkopml_engine::{
    fixed::{FRAC_BITS, ONE},
    ops::{
        exp_q30, reduce_groups, softmax_element, ArgMax, Reduce, ReduceKind, Softmax, D_MIN,
        EXP2_POLY, LOG2E_Q16,
    },
};

use super::{pool::mean, Operand};
use crate::gadgets::{lc_from_bits, Cs, CsResult, Lc};

fn max_of(cs: &Cs, vals: &[Lc]) -> CsResult<Lc> {
    match vals.split_first() {
        None => Ok(Lc::int(i32::MIN as i64)),
        Some((first, rest)) => rest.iter().try_fold(first.clone(), |m, v| cs.max(&m, v)),
    }
}

pub(crate) fn reduce(cs: &Cs, r: &Reduce, x: &Operand<'_>) -> CsResult<Vec<Lc>> {
    reduce_groups(x.shape(), &r.axes)
        .iter()
        .map(|g| {
            let vals: Vec<Lc> = g.iter().map(|i| x.at(*i)).collect();
            let sum = || vals.iter().fold(Lc::int(0), |s, v| s.add(v)).compact();
            match r.kind {
                ReduceKind::Sum => cs.rescale(&sum(), 0, (g.len() as u128) << 31),
                ReduceKind::Mean => mean(cs, &sum(), g.len()),
                ReduceKind::Max => max_of(cs, &vals),
                // Rejected by `ops::check` before any synthesis.
                ReduceKind::L2
                | ReduceKind::Min
                | ReduceKind::Prod
                | ReduceKind::L1
                | ReduceKind::SumSquare
                | ReduceKind::LogSum
                | ReduceKind::LogSumExp => Err(ark_relations::gr1cs::SynthesisError::Unsatisfiable),
            }
        })
        .collect()
}

/// `ArgMax`: the maximum `m`, a one-hot witness `e` with `Σ e = 1` and `Σ e_j·v_j = m`, and
/// the tie rule: no `v_j = m` before the chosen index (after it, with `select_last`).
pub(crate) fn argmax(cs: &Cs, a: &ArgMax, x: &Operand<'_>) -> CsResult<Vec<Lc>> {
    reduce_groups(x.shape(), &[a.axis])
        .iter()
        .map(|g| {
            let vals: Vec<Lc> = g.iter().map(|i| x.at(*i)).collect();
            let m = max_of(cs, &vals)?;
            let native: Vec<i32> = vals
                .iter()
                .map(|v| v.as_i128().unwrap_or(0) as i32)
                .collect();
            let k = a.winner(&native);
            let mut chosen = Lc::int(0);
            let mut picked = Lc::int(0);
            let mut index = Lc::int(0);
            let mut ones = Vec::with_capacity(vals.len());
            for (j, v) in vals.iter().enumerate() {
                let e = cs.witness(fr_from_i64((j == k) as i64))?;
                cs.range(&e, 1)?;
                picked = picked.add(&cs.mul(&e, v)?);
                chosen = chosen.add(&e);
                index = index.add(&e.scale(fr_from_i64(j as i64)));
                ones.push(e);
            }
            cs.assert_eq(&chosen, &Lc::int(1))?;
            cs.assert_eq(&picked, &m)?;
            // seen_j = Σ_{i<=j} e_i; "before the winner" = 1 − seen_j, "after" = seen_{j−1}.
            let mut seen = Lc::int(0);
            for (j, v) in vals.iter().enumerate() {
                let before = Lc::int(1).sub(&seen.add(&ones[j]));
                let guard = if a.select_last { seen.clone() } else { before };
                let ties = cs.is_zero(&m.sub(v))?;
                cs.enforce(&guard, &ties, &Lc::int(0))?;
                seen = seen.add(&ones[j]);
            }
            Ok(index.scale(fr_from_i64(ONE)))
        })
        .collect()
}

/// `exp(d)` at scale `2^-30` (the engine's `exp_q30`) for `d = v − m`, `|d| < 2^32`.
fn exp(cs: &Cs, d: &Lc) -> CsResult<Lc> {
    // Step 1: clamp; |d − D_MIN| < 2^32 so the max gadget applies.
    let dc = cs.max(d, &Lc::int(D_MIN))?;
    // Step 2: w = −dc·log2e ∈ [0, 2^33): f = low 28 bits, k = the 5 bits above.
    let w = dc.scale(-fr_from_i64(LOG2E_Q16));
    let bits = cs.bits(&w, 33)?;
    let f = lc_from_bits(&bits[..28]);
    // Step 3: Horner with floor shifts; |acc| < 2^31 and f < 2^28, so |acc·f| < 2^59.
    let mut acc = Lc::int(EXP2_POLY[6]);
    for c in EXP2_POLY[..6].iter().rev() {
        let prod = if acc
            .terms
            .iter()
            .all(|(_, v)| *v == ark_relations::gr1cs::Variable::One)
        {
            f.scale(acc.val)
        } else {
            cs.mul(&acc, &f)?
        };
        acc = cs.floor_shift(&prod, 28, 59)?.add_const(fr_from_i64(*c));
    }
    // Step 4: e = floor(p / 2^k): 2^k from k's bits, p = e·2^k + r, 0 <= r < 2^k.
    let mut pow = Lc::int(1);
    for (i, b) in bits[28..33].iter().enumerate() {
        let factor = b
            .scale(fr_from_i64((1i64 << (1 << i)) - 1))
            .add_const(fr_from_i64(1));
        pow = if i == 0 {
            factor
        } else {
            cs.mul(&pow, &factor)?
        };
    }
    let e_val = d.as_i128().map_or(0, |d| exp_q30(d as i64));
    let e = cs.witness(fr_from_i64(e_val))?;
    let r = acc.sub(&cs.mul(&e, &pow)?);
    cs.range(&e, 31)?;
    cs.range(&r, 31)?;
    cs.range(&pow.add_const(-fr_from_i64(1)).sub(&r), 31)?;
    Ok(e)
}

/// `Softmax`: per group, `m = max`, `e_j = exp(v_j − m)`, `s = Σ e`, and
/// `2^(F+1)·e_j + s = y_j·2s + r_j` with `0 <= r_j < 2s`, `0 <= y_j < 2^(F+1)`.
pub(crate) fn softmax(cs: &Cs, sm: &Softmax, x: &Operand<'_>) -> CsResult<Vec<Lc>> {
    let mut out = vec![Lc::int(0); x.shape().iter().product()];
    for g in sm.groups(x.shape()) {
        let vals: Vec<Lc> = g.iter().map(|i| x.at(*i)).collect();
        let m = max_of(cs, &vals)?;
        let es: Vec<Lc> = vals
            .iter()
            .map(|v| exp(cs, &v.sub(&m)))
            .collect::<CsResult<_>>()?;
        let s = es.iter().fold(Lc::int(0), |acc, e| acc.add(e)).compact();
        let s_val = s.as_i128().unwrap_or(0);
        // 2s <= 2·n·2^30.
        let width = 32 + (usize::BITS - g.len().leading_zeros()) as usize;
        for (i, e) in g.iter().zip(&es) {
            let y_val = match (e.as_i128(), s_val) {
                (Some(e), s) if s > 0 => softmax_element(e as i64, s) as i64,
                _ => 0,
            };
            let y = cs.witness(fr_from_i64(y_val))?;
            cs.range(&y, FRAC_BITS as usize + 1)?;
            let num = e.scale(fr_from_i64(2 * ONE)).add(&s);
            let r = num.sub(&cs.mul(&y, &s.scale(fr_from_i64(2)))?);
            cs.range(&r, width)?;
            cs.range(
                &s.scale(fr_from_i64(2)).add_const(-fr_from_i64(1)).sub(&r),
                width,
            )?;
            out[*i] = y;
        }
    }
    Ok(out)
}
