//! Reductions over axes: `ReduceSum`, `ReduceMean`, `ReduceMax`, `ReduceMin`, `ReduceL2`,
//! `ReduceProd`, `ReduceL1`, `ReduceSumSquare`, `ReduceLogSum`, `ReduceLogSumExp`, `ArgMax`,
//! `ArgMin`, and the running sum `CumSum`.

use serde::{Deserialize, Serialize};

use super::{
    input, input_shape, math::ln_wide_q, shape_err, softmax::exp_q30, strides, BuildCtx, Built, Op,
    Wire,
};
use crate::{
    fixed::{div_round, saturate, ONE},
    import::GraphNode,
    Result, Tensor,
};

/// Which reduction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReduceKind {
    /// `sat(Σ x)`, exact before saturation.
    Sum,
    /// `sat(round_half_up(Σ x / count))`; 0 over an empty set.
    Mean,
    /// `max x`; `i32::MIN` over an empty set.
    Max,
    /// `sat(round(sqrt(Σ x²)))` (the exactly rounded integer square root of the exact sum
    /// of squares, which is `‖x‖` at scale `2^-F`); 0 over an empty set.
    L2,
    /// `min x`; `i32::MAX` over an empty set. (Variants are appended: their index is part
    /// of the serialised program.)
    Min,
    /// Product in row-major order, each step `p ← rescale(p·x, F)` (round half up,
    /// saturating); `2^F` (1) over an empty set.
    Prod,
    /// `sat(Σ |x|)`, exact before saturation.
    L1,
    /// `sat(rescale(Σ x², F))`: the exact sum of squares, one rounding.
    SumSquare,
    /// `ln(Σ x)`: [`ln_wide_q`] of the exact sum; `i32::MIN` when the sum is `≤ 0`.
    LogSum,
    /// `m + ln(Σ e^(x − m))`, `m = max x`: the exponentials by `exp_q30`, summed exactly,
    /// their log by [`ln_wide_q`]; `i32::MIN` over an empty set.
    LogSumExp,
}

/// A reduction over a set of axes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reduce {
    /// The reduction.
    pub kind: ReduceKind,
    /// Reduced axes, sorted, non-negative.
    pub axes: Vec<usize>,
    /// Whether reduced axes stay as size 1.
    pub keepdims: bool,
}

/// For each output element (row-major), the flat input indices it reduces, in row-major
/// order of the input. Shared by the kernel and its circuit.
pub fn reduce_groups(in_shape: &[usize], axes: &[usize]) -> Vec<Vec<usize>> {
    let is = strides(in_shape);
    // Each group starts at its kept coordinates' offset and runs over the reduced axes in
    // their (row-major) order.
    let (kept, reduced): (Vec<usize>, Vec<usize>) =
        (0..in_shape.len()).partition(|a| !axes.contains(a));
    let view = |along: &[usize]| {
        let shape: Vec<usize> = along.iter().map(|a| in_shape[*a]).collect();
        let step: Vec<usize> = along.iter().map(|a| is[*a]).collect();
        super::strided_offsets(&shape, &step)
    };
    let members = view(&reduced);
    view(&kept)
        .into_iter()
        .map(|base| members.iter().map(|m| base + m).collect())
        .collect()
}

fn reduced_shape(x: &[usize], axes: &[usize], keepdims: bool) -> Vec<usize> {
    (0..x.len())
        .filter_map(|a| match (axes.contains(&a), keepdims) {
            (false, _) => Some(x[a]),
            (true, true) => Some(1),
            (true, false) => None,
        })
        .collect()
}

impl Reduce {
    pub(crate) fn name(&self) -> &'static str {
        match self.kind {
            ReduceKind::Sum => "ReduceSum",
            ReduceKind::Mean => "ReduceMean",
            ReduceKind::Max => "ReduceMax",
            ReduceKind::Min => "ReduceMin",
            ReduceKind::L2 => "ReduceL2",
            ReduceKind::Prod => "ReduceProd",
            ReduceKind::L1 => "ReduceL1",
            ReduceKind::SumSquare => "ReduceSumSquare",
            ReduceKind::LogSum => "ReduceLogSum",
            ReduceKind::LogSumExp => "ReduceLogSumExp",
        }
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if self.axes.iter().all(|a| *a < x.len()) => {
                Ok(reduced_shape(x, &self.axes, self.keepdims))
            }
            _ => Err(shape_err(
                node,
                format!("one input with axes {:?}", self.axes),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let data = reduce_groups(&x.shape, &self.axes)
            .iter()
            .map(|g| {
                let vals = g.iter().map(|i| x.data[*i]);
                match self.kind {
                    ReduceKind::Sum => saturate(vals.map(|v| v as i128).sum()),
                    ReduceKind::Mean if g.is_empty() => 0,
                    ReduceKind::Mean => {
                        saturate(div_round(vals.map(|v| v as i128).sum(), g.len() as i128))
                    }
                    ReduceKind::Max => vals.max().unwrap_or(i32::MIN),
                    ReduceKind::Min => vals.min().unwrap_or(i32::MAX),
                    ReduceKind::L2 => saturate(super::math::sqrt_round(
                        vals.map(|v| (v as i128 * v as i128) as u128).sum(),
                    ) as i128),
                    ReduceKind::Prod => vals.fold(ONE as i32, |p, v| {
                        crate::fixed::rescale(p as i128 * v as i128, crate::fixed::FRAC_BITS)
                    }),
                    ReduceKind::L1 => saturate(vals.map(|v| (v as i128).abs()).sum()),
                    ReduceKind::SumSquare => crate::fixed::rescale(
                        vals.map(|v| v as i128 * v as i128).sum(),
                        crate::fixed::FRAC_BITS,
                    ),
                    ReduceKind::LogSum => {
                        let s: i128 = vals.map(|v| v as i128).sum();
                        if s <= 0 {
                            i32::MIN
                        } else {
                            ln_wide_q(s as u128, crate::fixed::FRAC_BITS)
                        }
                    }
                    ReduceKind::LogSumExp => {
                        let v: Vec<i32> = vals.collect();
                        match v.iter().max() {
                            None => i32::MIN,
                            Some(m) => {
                                let s: i128 = v
                                    .iter()
                                    .map(|x| exp_q30(*x as i64 - *m as i64) as i128)
                                    .sum();
                                // INVARIANT: the max contributes exp_q30(0) = 2^30, so s ≥ 2^30.
                                saturate(*m as i128 + ln_wide_q(s as u128, 30) as i128)
                            }
                        }
                    }
                }
            })
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// Index of the largest element along an axis, as a fixed-point integer (`k·2^F`). Ties
/// go to the first index (the last with `select_last_index`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArgMax {
    /// The (non-negative) axis.
    pub axis: usize,
    /// Whether the axis stays as size 1.
    pub keepdims: bool,
    /// Whether ties go to the last index.
    pub select_last: bool,
}

impl ArgMax {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if self.axis < x.len() && x[self.axis] > 0 => {
                Ok(reduced_shape(x, &[self.axis], self.keepdims))
            }
            _ => Err(shape_err(
                node,
                format!("one input with a non-empty axis {}", self.axis),
                ins,
            )),
        }
    }

    /// The winning position within one group (non-empty by the shape check).
    pub fn winner(&self, vals: &[i32]) -> usize {
        let mut best = 0;
        for (k, v) in vals.iter().enumerate().skip(1) {
            if *v > vals[best] || (self.select_last && *v == vals[best]) {
                best = k;
            }
        }
        best
    }

    /// The position of the smallest element within one group (`ArgMin`; ties as in
    /// [`winner`](Self::winner)).
    pub fn winner_min(&self, vals: &[i32]) -> usize {
        let mut best = 0;
        for (k, v) in vals.iter().enumerate().skip(1) {
            if *v < vals[best] || (self.select_last && *v == vals[best]) {
                best = k;
            }
        }
        best
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        self.eval_by(x, out_shape, |v| self.winner(v))
    }

    /// `ArgMin`: the same kernel choosing the smallest element.
    pub(crate) fn eval_min(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        self.eval_by(x, out_shape, |v| self.winner_min(v))
    }

    fn eval_by(&self, x: &Tensor, out_shape: &[usize], pick: impl Fn(&[i32]) -> usize) -> Tensor {
        let data = reduce_groups(&x.shape, &[self.axis])
            .iter()
            .map(|g| {
                let vals: Vec<i32> = g.iter().map(|i| x.data[*i]).collect();
                (pick(&vals) as i64 * ONE) as i32
            })
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

fn norm_axis(node: &GraphNode, attr: &str, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if a < -r || a >= r {
        return Err(node.bad_attr(attr, format!("{a} out of range for rank {r}")));
    }
    Ok(a.rem_euclid(r) as usize)
}

pub(crate) fn build_reduce(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let kind = match node.op_type.as_str() {
        "ReduceSum" => ReduceKind::Sum,
        "ReduceMean" => ReduceKind::Mean,
        "ReduceL2" => ReduceKind::L2,
        "ReduceMin" => ReduceKind::Min,
        "ReduceProd" => ReduceKind::Prod,
        "ReduceL1" => ReduceKind::L1,
        "ReduceSumSquare" => ReduceKind::SumSquare,
        "ReduceLogSum" => ReduceKind::LogSum,
        "ReduceLogSumExp" => ReduceKind::LogSumExp,
        _ => ReduceKind::Max,
    };
    // Axes: an attribute in older opsets, a constant input in newer ones.
    let axes = match node.inputs.get(1).filter(|s| !s.is_empty()) {
        Some(name) => Some(
            ctx.constant(name)
                .ok_or_else(|| node.bad_attr("axes", "must be a constant"))?
                .data
                .as_ints(),
        ),
        None => node.ints("axes")?,
    };
    let x_in = Wire::Value(input(node, 0)?);
    let mut axes: Vec<usize> = match axes {
        Some(a) if !a.is_empty() => a
            .iter()
            .map(|a| norm_axis(node, "axes", *a, x.len()))
            .collect::<Result<_>>()?,
        _ if node.int("noop_with_empty_axes", 0)? != 0 => {
            return Ok(Built {
                op: Op::Reshape(super::Reshape { shape: x }),
                inputs: vec![x_in],
            })
        }
        _ => (0..x.len()).collect(),
    };
    axes.sort_unstable();
    axes.dedup();
    Ok(Built {
        op: Op::Reduce(Reduce {
            kind,
            axes,
            keepdims: node.int("keepdims", 1)? != 0,
        }),
        inputs: vec![x_in],
    })
}

/// `CumSum` along one axis: `y_i = sat(Σ x_j)` over `j ≤ i` (`j < i` when `exclusive`;
/// from the other end when `reverse`), each prefix exact in `i128` before its saturation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CumSum {
    /// The (non-negative) axis.
    pub axis: usize,
    /// Whether element `i` is left out of its own sum.
    pub exclusive: bool,
    /// Whether sums run from the last index down.
    pub reverse: bool,
}

impl CumSum {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if self.axis < x.len() => Ok(x.to_vec()),
            _ => Err(shape_err(
                node,
                format!("one input of rank > {}", self.axis),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let d = x.shape[self.axis];
        let inner: usize = x.shape[self.axis + 1..].iter().product();
        let outer: usize = x.shape[..self.axis].iter().product();
        let mut data = vec![0i32; x.len()];
        for o in 0..outer {
            for i in 0..inner {
                let mut acc = 0i128;
                for k in 0..d {
                    let k = if self.reverse { d - 1 - k } else { k };
                    let at = (o * d + k) * inner + i;
                    if self.exclusive {
                        data[at] = saturate(acc);
                        acc += x.data[at] as i128;
                    } else {
                        acc += x.data[at] as i128;
                        data[at] = saturate(acc);
                    }
                }
            }
        }
        Tensor::new(x.shape.clone(), data)
    }
}

/// `CumSum(x, axis)` with a constant `axis`.
pub(crate) fn build_cumsum(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let a = node
        .inputs
        .get(1)
        .filter(|s| !s.is_empty())
        .and_then(|n| ctx.constant(n))
        .ok_or_else(|| node.bad_attr("axis", "must be a constant"))?
        .data
        .as_ints();
    let a = *a.first().ok_or_else(|| node.bad_attr("axis", "empty"))?;
    Ok(Built {
        op: Op::CumSum(CumSum {
            axis: norm_axis(node, "axis", a, x.len())?,
            exclusive: node.int("exclusive", 0)? != 0,
            reverse: node.int("reverse", 0)? != 0,
        }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

pub(crate) fn build_argmax(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let a = ArgMax {
        axis: norm_axis(node, "axis", node.int("axis", 0)?, x.len())?,
        keepdims: node.int("keepdims", 1)? != 0,
        select_last: node.int("select_last_index", 0)? != 0,
    };
    Ok(Built {
        op: if node.op_type == "ArgMin" {
            Op::ArgMin(a)
        } else {
            Op::ArgMax(a)
        },
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmin_and_prod() {
        let a = ArgMax {
            axis: 1,
            keepdims: false,
            select_last: false,
        };
        let x = Tensor::new(vec![2, 3], vec![5, -1, -1, i32::MIN, 0, i32::MIN]);
        assert_eq!(a.eval_min(&x, &[2]).data, vec![4096, 0]);
        let last = ArgMax {
            select_last: true,
            ..a
        };
        assert_eq!(last.eval_min(&x, &[2]).data, vec![8192, 8192]);
        let p = Reduce {
            kind: ReduceKind::Prod,
            axes: vec![1],
            keepdims: false,
        };
        // 1.5·(−2)·0.5 = −1.5; an empty product is 1; overflow saturates.
        let x = Tensor::new(vec![1, 3], vec![6144, -8192, 2048]);
        assert_eq!(p.eval(&x, &[1]).data, vec![-6144]);
        let e = Tensor::new(vec![1, 0], vec![]);
        assert_eq!(p.eval(&e, &[1]).data, vec![4096]);
        let big = Tensor::new(vec![1, 2], vec![i32::MAX, i32::MAX]);
        assert_eq!(p.eval(&big, &[1]).data, vec![i32::MAX]);
    }

    #[test]
    fn groups_follow_row_major_order() {
        assert_eq!(
            reduce_groups(&[2, 3], &[1]),
            vec![vec![0, 1, 2], vec![3, 4, 5]]
        );
        assert_eq!(
            reduce_groups(&[2, 3], &[0]),
            vec![vec![0, 3], vec![1, 4], vec![2, 5]]
        );
        assert_eq!(reduce_groups(&[2, 2], &[0, 1]), vec![vec![0, 1, 2, 3]]);
    }

    #[test]
    fn reductions_saturate_round_and_tie_break() {
        let x = Tensor::new(vec![1, 3], vec![i32::MAX, i32::MAX, 1]);
        let sum = Reduce {
            kind: ReduceKind::Sum,
            axes: vec![1],
            keepdims: false,
        };
        assert_eq!(sum.eval(&x, &[1]).data, vec![i32::MAX]);
        let x = Tensor::new(vec![1, 2], vec![1, 2]);
        let mean = Reduce {
            kind: ReduceKind::Mean,
            axes: vec![1],
            keepdims: true,
        };
        assert_eq!(mean.eval(&x, &[1, 1]).data, vec![2]); // 1.5 rounds half up
        let am = ArgMax {
            axis: 1,
            keepdims: false,
            select_last: false,
        };
        assert_eq!(am.winner(&[3, 7, 7, 1]), 1);
        let am_last = ArgMax {
            select_last: true,
            ..am
        };
        assert_eq!(am_last.winner(&[3, 7, 7, 1]), 2);
    }

    #[test]
    fn cumsum_modes_and_min() {
        let x = Tensor::new(vec![2, 3], vec![1, 2, 3, 4, 5, i32::MAX]);
        let run = |exclusive, reverse| {
            CumSum {
                axis: 1,
                exclusive,
                reverse,
            }
            .eval(&x)
            .data
        };
        assert_eq!(run(false, false), vec![1, 3, 6, 4, 9, i32::MAX]);
        assert_eq!(run(true, false), vec![0, 1, 3, 0, 4, 9]);
        assert_eq!(
            run(false, true),
            vec![6, 5, 3, i32::MAX, i32::MAX, i32::MAX]
        );
        assert_eq!(run(true, true), vec![5, 3, 0, i32::MAX, i32::MAX, 0]);
        let min = Reduce {
            kind: ReduceKind::Min,
            axes: vec![0],
            keepdims: false,
        };
        assert_eq!(min.eval(&x, &[3]).data, vec![1, 2, 3]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        /// ReduceL2 is the exactly rounded norm (within half a unit of the float norm of
        /// the same fixed-point values), saturated.
        #[test]
        fn l2_is_exactly_rounded(x in crate::ops::test_values(17)) {
            let l2 = Reduce { kind: ReduceKind::L2, axes: vec![0], keepdims: false };
            let y = l2.eval(&Tensor::new(vec![17], x.clone()), &[]).data[0];
            let r = x.iter().map(|v| (*v as f64) * (*v as f64)).sum::<f64>().sqrt();
            let r = r.min(i32::MAX as f64);
            proptest::prop_assert!((y as f64 - r).abs() <= 0.5 + r * 1e-15, "{} vs {}", y, r);
        }
    }
}
