//! `Softmax` with an integer exponential, and `LogSoftmax` and `Hardmax` over the same groups.
//!
//! For each group of elements (one softmax), with `m` the group's maximum:
//!
//! 1. `d = max(x − m, D_MIN)` — `d ≤ 0` at scale `2^-F`; below `D_MIN = −21` the
//!    exponential is under `2^-30` and rounds to nothing anyway;
//! 2. `w = (−d)·LOG2E_Q16` — `−d·log2(e)` at scale `2^-28`; `k = w >> 28`, `f = w mod 2^28`,
//!    so `exp(d) = 2^-k · 2^(−f/2^28)`;
//! 3. `p = P(f)`: Horner over [`EXP2_POLY`] (scale `2^-30`), `acc ← c_i + ((acc·f) >> 28)`
//!    with floor shifts; `P(0) = 2^30` exactly and `|P(f)/2^30 − 2^(−f/2^28)| < 6·2^-30`;
//! 4. `e = p >> k` (floor) — `exp(d)` at scale `2^-30`; the maximum's `e` is `2^30`;
//! 5. `s = Σ e` (so `s ≥ 2^30`), `y = floor((2^(F+1)·e + s) / (2s))` — `e/s` at scale
//!    `2^-F`, rounded half up.
//!
//! Every step is integer arithmetic with no overflow in `i128`; the output lies in `[0, 2^F]`.
//! `e` is within `2·10^-6` of `exp(d)` (the rounded `log2 e` dominates), about 1 % of an
//! output unit.

use serde::{Deserialize, Serialize};

use super::{input, input_shape, BuildCtx, Built, Op, Wire};
use crate::{fixed::FRAC_BITS, import::GraphNode, Result, Tensor};

/// Lower clamp of `x − max` (−21 at scale `2^-F`).
pub const D_MIN: i64 = -21 << FRAC_BITS;
/// `round(log2(e)·2^16)`.
pub const LOG2E_Q16: i64 = 94_548;
/// Coefficients (scale `2^-30`) of the degree-6 polynomial approximating `2^-g` on
/// `[0, 1)`, constant term first (least-squares fit at Chebyshev nodes, rounded).
pub const EXP2_POLY: [i64; 7] = [
    1_073_741_824,
    -744_261_015,
    257_939_262,
    -59_584_159,
    10_288_366,
    -1_371_275,
    117_911,
];

/// `exp(d)` at scale `2^-30` for `d = x − max` at scale `2^-F` (steps 1–4 above).
pub fn exp_q30(d: i64) -> i64 {
    let w = -d.max(D_MIN) * LOG2E_Q16;
    let (k, f) = (w >> 28, w & ((1 << 28) - 1));
    let mut acc = EXP2_POLY[6];
    for c in EXP2_POLY[..6].iter().rev() {
        acc = c + ((acc * f) >> 28);
    }
    acc >> k
}

/// Softmax over groups of a tensor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Softmax {
    /// The (non-negative) axis.
    pub axis: usize,
    /// Opset < 13 semantics: the input is coerced to 2-D at `axis` and each row of
    /// `prod(shape[axis..])` elements is one softmax; otherwise softmax runs along `axis`.
    pub coerce_2d: bool,
}

impl Softmax {
    /// `(outer, n, inner)`: the groups are `outer × inner`, each of `n` elements, element `j`
    /// of group `(o, i)` at flat index `(o·n + j)·inner + i`.
    fn layout(&self, shape: &[usize]) -> (usize, usize, usize) {
        let outer: usize = shape[..self.axis].iter().product();
        let (n, inner) = if self.coerce_2d {
            (shape[self.axis..].iter().product(), 1)
        } else {
            (shape[self.axis], shape[self.axis + 1..].iter().product())
        };
        (outer, n, inner)
    }

    /// For each softmax group, the flat indices of its elements.
    pub fn groups(&self, shape: &[usize]) -> Vec<Vec<usize>> {
        let (outer, n, inner) = self.layout(shape);
        let mut out = Vec::with_capacity(outer * inner);
        for o in 0..outer {
            for i in 0..inner {
                out.push((0..n).map(|j| (o * n + j) * inner + i).collect());
            }
        }
        out
    }

    /// Every group of [`Softmax::groups`], walked in place (no index lists).
    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let mut out = vec![0; x.len()];
        let (outer, n, inner) = self.layout(&x.shape);
        let mut e = vec![0i64; n];
        for o in 0..outer {
            for i in 0..inner {
                let at = |j: usize| (o * n + j) * inner + i;
                let Some(m) = (0..n).map(|j| x.data[at(j)]).max() else {
                    continue;
                };
                for (j, e) in e.iter_mut().enumerate() {
                    *e = exp_q30(x.data[at(j)] as i64 - m as i64);
                }
                let s: i128 = e.iter().map(|v| *v as i128).sum();
                for (j, e) in e.iter().enumerate() {
                    out[at(j)] = softmax_element(*e, s);
                }
            }
        }
        Tensor::new(x.shape.clone(), out)
    }
}

/// Step 5: `floor((2^(F+1)·e + s) / (2s))` for `s ≥ 2^30`, `0 ≤ e ≤ s`.
pub fn softmax_element(e: i64, s: i128) -> i32 {
    // Below 2^62 (groups of fewer than 2^32 elements) the numerator `e·2^(F+1) + s` and
    // `2s` fit `u64`, whose division of these non-negative integers is the same floor.
    if let (Ok(e), Ok(s)) = (u64::try_from(e), u64::try_from(s)) {
        if s < 1 << 62 {
            return (((e << (FRAC_BITS + 1)) + s) / (2 * s)) as i32;
        }
    }
    ((((e as i128) << (FRAC_BITS + 1)) + s) / (2 * s)) as i32
}

impl Softmax {
    /// `LogSoftmax` over the same groups: `y_j = (x_j − m) − ln(Σ e_j / 2^30)` with
    /// `e_j = exp_q30(x_j − m)`, the log by [`ln_wide_q`](super::math::ln_wide_q); saturated.
    pub(crate) fn eval_log(&self, x: &Tensor) -> Tensor {
        let mut out = vec![0; x.len()];
        for g in self.groups(&x.shape) {
            let Some(m) = g.iter().map(|i| x.data[*i]).max() else {
                continue;
            };
            let s: i128 = g
                .iter()
                .map(|i| exp_q30(x.data[*i] as i64 - m as i64) as i128)
                .sum();
            // INVARIANT: the max contributes exp_q30(0) = 2^30, so s ≥ 2^30 > 0.
            let l = super::math::ln_wide_q(s as u128, 30) as i128;
            for i in &g {
                out[*i] = crate::fixed::saturate(x.data[*i] as i128 - m as i128 - l);
            }
        }
        Tensor::new(x.shape.clone(), out)
    }

    /// `Hardmax` over the same groups: `2^F` at the first largest element, 0 elsewhere.
    pub(crate) fn eval_hard(&self, x: &Tensor) -> Tensor {
        let mut out = vec![0; x.len()];
        for g in self.groups(&x.shape) {
            let mut best: Option<usize> = None;
            for i in &g {
                if best.is_none_or(|b| x.data[*i] > x.data[b]) {
                    best = Some(*i);
                }
            }
            if let Some(b) = best {
                out[b] = 1 << FRAC_BITS;
            }
        }
        Tensor::new(x.shape.clone(), out)
    }
}

pub(crate) fn build(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let legacy = ctx.opset() < 13;
    let r = x.len() as i64;
    let a = node.int("axis", if legacy { 1 } else { -1 })?;
    if a < -r || a >= r {
        return Err(node.bad_attr("axis", format!("{a} out of range for rank {r}")));
    }
    Ok(Built {
        op: {
            let sm = Softmax {
                axis: a.rem_euclid(r) as usize,
                coerce_2d: legacy,
            };
            match node.op_type.as_str() {
                "LogSoftmax" => Op::LogSoftmax(sm),
                "Hardmax" => Op::Hardmax(sm),
                _ => Op::Softmax(sm),
            }
        },
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_reals() {
        assert_eq!(exp_q30(0), 1 << 30);
        for d in (0..=21 * 4096).step_by(97) {
            let got = exp_q30(-d) as f64 / (1u64 << 30) as f64;
            let want = (-(d as f64) / 4096.0).exp();
            // LOG2E_Q16 is off by < 2^-17, so the exponent by < u·2^-17: at most
            // max_u u·e^-u·2^-17·ln 2 < 2e-6 absolute (1 % of an output ulp), plus the fit.
            assert!((got - want).abs() < 2e-6, "d={d}: {got} vs {want}");
        }
        assert_eq!(exp_q30(i32::MIN as i64 * 2), exp_q30(D_MIN));
    }

    #[test]
    fn log_softmax_and_hardmax_rows() {
        let sm = Softmax {
            axis: 1,
            coerce_2d: false,
        };
        let x = Tensor::new(vec![2, 3], vec![0, 4096, 8192, 7, 7, i32::MIN]);
        let y = sm.eval_log(&x);
        // ln softmax([0, 1, 2]) = [-2.4076, -1.4076, -0.4076].
        for (got, want) in y.data[..3]
            .iter()
            .zip([-2.407_605_96, -1.407_605_96, -0.407_605_96])
        {
            assert!((*got as f64 / 4096.0 - want).abs() < 2e-4, "{got} {want}");
        }
        assert_eq!(y.data[5], i32::MIN);
        assert_eq!(sm.eval_hard(&x).data, vec![0, 0, 4096, 4096, 0, 0]);
    }

    /// The in-place walk equals the previous kernel (group index lists, `i128` division) on
    /// every axis of a rank-3 tensor, legacy coercion included.
    #[test]
    fn eval_equals_index_list_reference() {
        let shape = [3, 4, 5];
        let data: Vec<i32> = (0..60i64)
            .map(|v| ((v * 2_654_435_761) % (1 << 20) - (1 << 19)) as i32)
            .chain([i32::MIN, i32::MAX])
            .take(60)
            .collect();
        let mut data = data;
        data[7] = i32::MIN;
        data[8] = i32::MAX;
        let x = Tensor::new(shape.to_vec(), data);
        for axis in 0..3 {
            for coerce_2d in [false, true] {
                let sm = Softmax { axis, coerce_2d };
                let mut want = vec![0; x.len()];
                for g in sm.groups(&x.shape) {
                    let m = g.iter().map(|i| x.data[*i]).max().unwrap();
                    let e: Vec<i64> = g
                        .iter()
                        .map(|i| exp_q30(x.data[*i] as i64 - m as i64))
                        .collect();
                    let s: i128 = e.iter().map(|v| *v as i128).sum();
                    for (i, e) in g.iter().zip(&e) {
                        want[*i] = ((((*e as i128) << (FRAC_BITS + 1)) + s) / (2 * s)) as i32;
                    }
                }
                assert_eq!(sm.eval(&x).data, want, "axis {axis}, coerce {coerce_2d}");
            }
        }
    }

    #[test]
    fn softmax_rows_sum_to_one_and_are_total() {
        let sm = Softmax {
            axis: 1,
            coerce_2d: false,
        };
        let x = Tensor::new(
            vec![2, 3],
            vec![0, 4096, 8192, i32::MIN, i32::MAX, i32::MAX],
        );
        let y = sm.eval(&x);
        // [0,1,2] -> [0.0900, 0.2447, 0.6652]
        assert_eq!(y.data[..3], [369, 1002, 2725]);
        assert_eq!(y.data[3..], [0, 2048, 2048]);
        assert_eq!(
            sm.groups(&[2, 3, 2]),
            vec![vec![0, 2, 4], vec![1, 3, 5], vec![6, 8, 10], vec![7, 9, 11]]
        );
    }
}
