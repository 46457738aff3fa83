//! Comparisons, `Where`, `Cast` and the data-dependent selections `Gather` /
//! `GatherElements`.

use zkopml_commit::fr_from_i64;
use zkopml_engine::{
    fixed::{FRAC_BITS, ONE},
    ops::{broadcast_index, resolve_index, strides, Cast, CmpKind, Gather},
};

use super::Operand;
use crate::gadgets::{lc_from_bits, Cs, CsResult, Lc};

/// A boolean bit as the fixed-point value `bit·2^F`.
fn as_bool(bit: &Lc) -> Lc {
    bit.scale(fr_from_i64(ONE))
}

/// `1 − is_zero(x)`.
fn nonzero(cs: &Cs, x: &Lc) -> CsResult<Lc> {
    Ok(Lc::int(1).sub(&cs.is_zero(x)?))
}

pub(crate) fn compare(
    cs: &Cs,
    k: CmpKind,
    ins: &[Operand<'_>],
    out_shape: &[usize],
) -> CsResult<Vec<Lc>> {
    let ia = broadcast_index(ins[0].shape(), out_shape);
    let ib = broadcast_index(ins[1].shape(), out_shape);
    ia.iter()
        .zip(&ib)
        .map(|(i, j)| {
            let (a, b) = (ins[0].at(*i), ins[1].at(*j));
            let bit = match k {
                CmpKind::Less => cs.lt(&a, &b)?,
                CmpKind::Greater => cs.lt(&b, &a)?,
                // a <= b  ⇔  ¬(b < a)
                CmpKind::LessOrEqual => Lc::int(1).sub(&cs.lt(&b, &a)?),
                CmpKind::GreaterOrEqual => Lc::int(1).sub(&cs.lt(&a, &b)?),
                CmpKind::Equal => cs.is_zero(&a.sub(&b))?,
            };
            Ok(as_bool(&bit))
        })
        .collect()
}

pub(crate) fn where_(cs: &Cs, ins: &[Operand<'_>], out_shape: &[usize]) -> CsResult<Vec<Lc>> {
    let idx: Vec<Vec<usize>> = ins
        .iter()
        .map(|t| broadcast_index(t.shape(), out_shape))
        .collect();
    (0..idx[0].len())
        .map(|i| {
            let c = nonzero(cs, &ins[0].at(idx[0][i]))?;
            cs.select(&c, &ins[1].at(idx[1][i]), &ins[2].at(idx[2][i]))
        })
        .collect()
}

/// `Cast`. To an integer: with `q + 2^31 = 2^F·h + r` (the `i32` decomposition, shared
/// with the range check), `floor(q/2^F) = h − 2^(31−F)`; truncation toward zero adds 1
/// when `q < 0` and `r ≠ 0`; then clamp to `[min, max]`.
pub(crate) fn cast(cs: &Cs, c: Cast, x: &Operand<'_>) -> CsResult<Vec<Lc>> {
    x.all()
        .iter()
        .map(|q| match c {
            Cast::Real => Ok(q.clone()),
            Cast::Bool => Ok(as_bool(&nonzero(cs, q)?)),
            Cast::Int { min, max } => {
                let bits = cs.i32_bits(q)?;
                let f = FRAC_BITS as usize;
                let floor = lc_from_bits(&bits[f..]).add_const(-fr_from_i64(1 << (31 - f)));
                let r = lc_from_bits(&bits[..f]);
                let negative = Lc::int(1).sub(&bits[31]);
                let t = floor.add(&cs.mul(&negative, &nonzero(cs, &r)?)?);
                let (lo, hi) = (Lc::int(min as i64), Lc::int(max as i64));
                let t = cs.max(&t, &lo)?;
                let top = cs.max(&t, &hi)?;
                Ok(t.add(&hi).sub(&top).scale(fr_from_i64(ONE)))
            }
        })
        .collect()
}

/// One-hot selectors over `0..d` for a fixed-point index (the engine's `resolve_index`):
/// `k = rescale(q, F)`, `sel_j = [k = j] + [k = j − d]`; all zero when out of range.
fn selectors(cs: &Cs, q: &Lc, d: usize) -> CsResult<Vec<Lc>> {
    let k = cs.rescale(q, FRAC_BITS, 1 << 31)?;
    (0..d as i64)
        .map(|j| {
            let hit = cs.is_zero(&k.add_const(-fr_from_i64(j)))?;
            let wrapped = cs.is_zero(&k.add_const(-fr_from_i64(j - d as i64)))?;
            Ok(hit.add(&wrapped))
        })
        .collect()
}

/// `Σ_j sel_j · data[base + j·stride]` (linear when `data` is a constant).
fn pick(cs: &Cs, data: &Operand<'_>, sels: &[Lc], base: usize, stride: usize) -> CsResult<Lc> {
    sels.iter().enumerate().try_fold(Lc::int(0), |acc, (j, s)| {
        let v = data.at(base + j * stride);
        let term = match data.constant() {
            Some(t) => s.scale(fr_from_i64(t.data[base + j * stride] as i64)),
            None => cs.mul(s, &v)?,
        };
        Ok(acc.add(&term))
    })
}

/// Element `j` of the index operand: resolved natively when it is a model constant.
enum Index {
    Known(Option<usize>),
    Selectors(Vec<Lc>),
}

fn index(cs: &Cs, idx: &Operand<'_>, j: usize, d: usize) -> CsResult<Index> {
    Ok(match idx.constant() {
        Some(t) => Index::Known(resolve_index(t.data[j], d)),
        None => Index::Selectors(selectors(cs, &idx.at(j), d)?),
    })
}

fn read(cs: &Cs, data: &Operand<'_>, ix: &Index, base: usize, stride: usize) -> CsResult<Lc> {
    match ix {
        Index::Known(Some(k)) => Ok(data.at(base + k * stride)),
        Index::Known(None) => Ok(Lc::int(0)),
        Index::Selectors(s) => pick(cs, data, s, base, stride),
    }
}

pub(crate) fn gather(cs: &Cs, g: &Gather, ins: &[Operand<'_>]) -> CsResult<Vec<Lc>> {
    let (data, idx) = (&ins[0], &ins[1]);
    let d = data.shape()[g.axis];
    let stride = strides(data.shape())[g.axis];
    let indices: Vec<Index> = (0..idx.shape().iter().product())
        .map(|j| index(cs, idx, j, d))
        .collect::<CsResult<_>>()?;
    g.gather_plan(data.shape(), idx.shape())
        .into_iter()
        .map(|(j, base)| read(cs, data, &indices[j], base, stride))
        .collect()
}

pub(crate) fn gather_elements(cs: &Cs, g: &Gather, ins: &[Operand<'_>]) -> CsResult<Vec<Lc>> {
    let (data, idx) = (&ins[0], &ins[1]);
    let d = data.shape()[g.axis];
    let stride = strides(data.shape())[g.axis];
    g.elements_plan(data.shape(), idx.shape())
        .into_iter()
        .enumerate()
        .map(|(j, base)| read(cs, data, &index(cs, idx, j, d)?, base, stride))
        .collect()
}
