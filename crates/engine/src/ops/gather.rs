//! `Gather`, `GatherElements` and `GatherND` (`batch_dims = 0`): data-dependent selection.
//!
//! Indices are fixed-point values like every tensor; the index an element names is
//! `k = rescale(q, F)` (nearest integer, half up), negative `k` counts from the end
//! (`k + d`), and a `k` outside `[-d, d)` selects nothing: the output element is 0. So the
//! kernels are total: no index can make them fail.

use serde::{Deserialize, Serialize};

use super::{input, input_shape, shape_err, strides, BuildCtx, Built, Op, Wire};
use crate::{
    fixed::{rescale, FRAC_BITS},
    import::GraphNode,
    Result, Tensor,
};

/// The axis a gather selects along (non-negative).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gather {
    /// The axis of `data` that indices address.
    pub axis: usize,
}

/// The position a fixed-point index names along an axis of size `d`, or `None`.
pub fn resolve_index(q: i32, d: usize) -> Option<usize> {
    let k = rescale(q as i128, FRAC_BITS) as i64;
    let k = if k < 0 { k + d as i64 } else { k };
    (0..d as i64).contains(&k).then_some(k as usize)
}

impl Gather {
    /// `Gather`: `out = data.shape[..axis] ++ indices.shape ++ data.shape[axis+1..]`.
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [d, i] if self.axis < d.len() => {
                let mut out = d[..self.axis].to_vec();
                out.extend_from_slice(i);
                out.extend_from_slice(&d[self.axis + 1..]);
                Ok(out)
            }
            _ => Err(shape_err(
                node,
                format!("data of rank > {}", self.axis),
                ins,
            )),
        }
    }

    /// For every output element of `Gather`: the index element it reads and the flat
    /// offset of `data` at coordinate 0 of `axis` (add `k·stride(axis)`).
    pub fn gather_plan(&self, data: &[usize], idx: &[usize]) -> Vec<(usize, usize)> {
        let outer: usize = data[..self.axis].iter().product();
        let inner: usize = data[self.axis + 1..].iter().product();
        let ni: usize = idx.iter().product();
        let d = data[self.axis];
        let mut plan = Vec::with_capacity(outer * ni * inner);
        for o in 0..outer {
            for j in 0..ni {
                for i in 0..inner {
                    plan.push((j, o * d * inner + i));
                }
            }
        }
        plan
    }

    /// A selector over `data` along the axis: index value `q` from offset `base`, or 0.
    fn selector<'a>(&self, data: &'a Tensor) -> impl Fn(usize, i32) -> i32 + 'a {
        let d = data.shape[self.axis];
        let stride = strides(&data.shape)[self.axis];
        move |base, q| resolve_index(q, d).map_or(0, |k| data.data[base + k * stride])
    }

    pub(crate) fn eval_gather(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let (data, idx) = (ins[0], ins[1]);
        let select = self.selector(data);
        let out = self
            .gather_plan(&data.shape, &idx.shape)
            .into_iter()
            .map(|(j, base)| select(base, idx.data[j]))
            .collect();
        Tensor::new(out_shape.to_vec(), out)
    }

    /// `GatherElements`: `indices` and `data` have the same rank and the output has the
    /// shape of `indices`.
    pub(crate) fn elements_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [d, i]
                if d.len() == i.len()
                    && self.axis < d.len()
                    && d.iter()
                        .zip(i.iter())
                        .enumerate()
                        .all(|(a, (dd, ii))| a == self.axis || ii <= dd) =>
            {
                Ok(i.to_vec())
            }
            _ => Err(shape_err(
                node,
                "data and indices of equal rank, indices no larger off the axis",
                ins,
            )),
        }
    }

    /// For every output element of `GatherElements`: the flat offset of `data` at
    /// coordinate 0 of `axis` (the index element is the output element itself).
    pub fn elements_plan(&self, data: &[usize], idx: &[usize]) -> Vec<usize> {
        let ds = strides(data);
        let is = strides(idx);
        (0..idx.iter().product())
            .map(|flat| {
                (0..idx.len())
                    .filter(|a| *a != self.axis)
                    .map(|a| ((flat / is[a]) % idx[a]) * ds[a])
                    .sum()
            })
            .collect()
    }

    pub(crate) fn eval_elements(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let (data, idx) = (ins[0], ins[1]);
        let select = self.selector(data);
        let out = self
            .elements_plan(&data.shape, &idx.shape)
            .into_iter()
            .zip(&idx.data)
            .map(|(base, q)| select(base, *q))
            .collect();
        Tensor::new(out_shape.to_vec(), out)
    }
}

/// `GatherND` with `batch_dims = 0`: the last axis of `indices` (length `k ≤ rank(data)`)
/// holds index tuples; each selects the slice `data[i_0, …, i_{k−1}, …]`, every component
/// resolved by [`resolve_index`] along its own axis; a tuple with any component out of range
/// selects zeros. Exact, total.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatherNd;

impl GatherNd {
    /// `indices.shape[..−1] ++ data.shape[k..]`.
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [d, i] if i.last().is_some_and(|k| *k >= 1 && *k <= d.len()) => {
                let k = i[i.len() - 1];
                let mut out = i[..i.len() - 1].to_vec();
                out.extend_from_slice(&d[k..]);
                Ok(out)
            }
            _ => Err(shape_err(
                node,
                "indices of rank >= 1 whose last dimension is in 1..=rank(data)",
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let (data, idx) = (ins[0], ins[1]);
        let k = idx.shape[idx.shape.len() - 1];
        let ds = strides(&data.shape);
        let slice: usize = data.shape[k..].iter().product();
        let mut out = Vec::with_capacity(out_shape.iter().product());
        for tuple in idx.data.chunks(k.max(1)) {
            let base = tuple.iter().enumerate().try_fold(0usize, |acc, (a, q)| {
                resolve_index(*q, data.shape[a]).map(|i| acc + i * ds[a])
            });
            match base {
                Some(b) => out.extend_from_slice(&data.data[b..b + slice]),
                None => out.extend(std::iter::repeat_n(0, slice)),
            }
        }
        Tensor::new(out_shape.to_vec(), out)
    }
}

/// `GatherND`; `batch_dims ≠ 0` is a typed error.
pub(crate) fn build_nd(node: &GraphNode) -> Result<Built> {
    if node.int("batch_dims", 0)? != 0 {
        return Err(node.bad_attr("batch_dims", "only 0"));
    }
    Ok(Built {
        op: Op::GatherNd(GatherNd),
        inputs: vec![Wire::Value(input(node, 0)?), Wire::Value(input(node, 1)?)],
    })
}

pub(crate) fn build(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let data = input_shape(node, ctx, 0)?;
    let r = data.len() as i64;
    let a = node.int("axis", 0)?;
    if a < -r || a >= r {
        return Err(node.bad_attr("axis", format!("{a} out of range for rank {r}")));
    }
    let op = Gather {
        axis: a.rem_euclid(r) as usize,
    };
    Ok(Built {
        op: if node.op_type == "Gather" {
            Op::Gather(op)
        } else {
            Op::GatherElements(op)
        },
        inputs: vec![Wire::Value(input(node, 0)?), Wire::Value(input(node, 1)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const K: i32 = 4096;

    /// Tuples select slices; a component out of range selects zeros; negative ones wrap.
    #[test]
    fn gather_nd_selects_slices_and_misses_to_zero() {
        let data = Tensor::new(vec![2, 2, 2], (0..8).collect());
        let idx = Tensor::new(vec![3, 2], vec![0, K, -K, 0, 2 * K, 0]);
        let shape = GatherNd.output_shape("t", &[&[2, 2, 2], &[3, 2]]).unwrap();
        assert_eq!(shape, vec![3, 2]);
        assert_eq!(
            GatherNd.eval(&[&data, &idx], &shape).data,
            vec![2, 3, 4, 5, 0, 0]
        );
    }

    #[test]
    fn indices_round_wrap_and_miss() {
        assert_eq!(resolve_index(2 * K, 3), Some(2));
        assert_eq!(resolve_index(2 * K - 2048, 3), Some(2)); // 1.5 rounds up
        assert_eq!(resolve_index(-K, 3), Some(2));
        assert_eq!(resolve_index(3 * K, 3), None);
        assert_eq!(resolve_index(-4 * K, 3), None);
        assert_eq!(resolve_index(i32::MIN, 3), None);
    }

    #[test]
    fn gather_matches_onnx_example() {
        // ONNX Gather example, axis 1: data [3,3], indices [1,2] = [[0,2]].
        let data = Tensor::new(vec![3, 3], (1..=9).collect());
        let idx = Tensor::new(vec![1, 2], vec![0, 2 * K]);
        let g = Gather { axis: 1 };
        let shape = g.output_shape("n", &[&[3, 3], &[1, 2]]).unwrap();
        assert_eq!(shape, vec![3, 1, 2]);
        assert_eq!(
            g.eval_gather(&[&data, &idx], &shape).data,
            vec![1, 3, 4, 6, 7, 9]
        );
        // Out of range selects 0.
        let idx = Tensor::new(vec![1, 2], vec![5 * K, -K]);
        assert_eq!(
            g.eval_gather(&[&data, &idx], &shape).data,
            vec![0, 3, 0, 6, 0, 9]
        );
    }

    #[test]
    fn gather_elements_matches_onnx_example() {
        // ONNX GatherElements example, axis 1: [[1,2],[3,4]], [[0,0],[1,0]] -> [[1,1],[4,3]].
        let data = Tensor::new(vec![2, 2], vec![1, 2, 3, 4]);
        let idx = Tensor::new(vec![2, 2], vec![0, 0, K, 0]);
        let g = Gather { axis: 1 };
        assert_eq!(
            g.eval_elements(&[&data, &idx], &[2, 2]).data,
            vec![1, 1, 4, 3]
        );
    }
}
