//! Broadcasting elementwise arithmetic (`Add`, `Sub`, `Mul`, `Div`) and
//! `BatchNormalization`, which compiles to a `Mul` and an `Add` folded into one affine op.

use serde::{Deserialize, Serialize};

use super::{input, input_shape, shape_err, strides, BuildCtx, Built, Op, Wire};
use crate::{
    fixed::{div_round, rescale, saturate, FRAC_BITS, ONE},
    import::{Const, ConstData, GraphNode},
    Result, Tensor,
};

/// Which elementwise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryKind {
    /// `sat(a + b)`.
    Add,
    /// `sat(a - b)`.
    Sub,
    /// `rescale(a·b, F)`.
    Mul,
    /// `sat(round_half_up(a·2^F / b))`; `b = 0` gives `i32::MAX`, `0` or `i32::MIN` by the
    /// sign of `a`.
    Div,
    /// `rescale(a·s + t·2^F, F)` with inputs `[a, s, t]` (a folded `BatchNormalization`).
    Affine,
}

impl BinaryKind {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
            BinaryKind::Affine => "BatchNormalization",
        }
    }

    /// The integer semantics of one element.
    pub fn apply(&self, a: i32, b: i32, c: i32) -> i32 {
        let (a, b) = (a as i128, b as i128);
        match self {
            BinaryKind::Add => saturate(a + b),
            BinaryKind::Sub => saturate(a - b),
            BinaryKind::Mul => rescale(a * b, FRAC_BITS),
            BinaryKind::Div => match b.signum() {
                0 => saturate(a.signum() * i128::MAX),
                1 => saturate(div_round(a * ONE as i128, b)),
                _ => saturate(div_round(-a * ONE as i128, -b)),
            },
            BinaryKind::Affine => rescale(a * b + c as i128 * ONE as i128, FRAC_BITS),
        }
    }

    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let idx: Vec<Vec<usize>> = ins
            .iter()
            .map(|t| broadcast_index(&t.shape, out_shape))
            .collect();
        let n: usize = out_shape.iter().product();
        let data = (0..n)
            .map(|i| {
                let c = ins.get(2).map_or(0, |t| t.data[idx[2][i]]);
                self.apply(ins[0].data[idx[0][i]], ins[1].data[idx[1][i]], c)
            })
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// Numpy broadcast of several shapes; `None` if incompatible.
pub(crate) fn broadcast(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for s in shapes {
        for (i, d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + i];
            if *o == 1 {
                *o = *d;
            } else if *d != 1 && *d != *o {
                return None;
            }
        }
    }
    Some(out)
}

pub(crate) fn broadcast_shape(node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
    broadcast(ins).ok_or_else(|| shape_err(node, "broadcastable shapes", ins))
}

/// For every element of `out`, the flat index of the element of `src` it reads (numpy
/// broadcasting).
pub fn broadcast_index(src: &[usize], out: &[usize]) -> Vec<usize> {
    let n: usize = out.iter().product();
    let off = out.len() - src.len();
    let src_strides = strides(src);
    let out_strides = strides(out);
    (0..n)
        .map(|flat| {
            (0..src.len())
                .map(|d| {
                    let coord = (flat / out_strides[off + d]) % out[off + d];
                    if src[d] == 1 {
                        0
                    } else {
                        coord * src_strides[d]
                    }
                })
                .sum()
        })
        .collect()
}

pub(crate) fn build(node: &GraphNode) -> Result<Built> {
    let kind = match node.op_type.as_str() {
        "Add" => BinaryKind::Add,
        "Sub" => BinaryKind::Sub,
        "Mul" => BinaryKind::Mul,
        _ => BinaryKind::Div,
    };
    Ok(Built {
        op: Op::Binary(kind),
        inputs: vec![Wire::Value(input(node, 0)?), Wire::Value(input(node, 1)?)],
    })
}

/// `y = (x - mean)/sqrt(var + eps)·gamma + beta` folded at compile time into
/// `y = x·s + t` with per-channel constants of shape `[C, 1, ..., 1]`.
pub(crate) fn build_batchnorm(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    if x.len() < 2 {
        return Err(shape_err(&node.name, "rank >= 2", &[&x]));
    }
    if node.int("training_mode", 0)? != 0 {
        return Err(node.bad_attr(
            "training_mode",
            "only inference (0): batch statistics are not supported",
        ));
    }
    let eps = node.float("epsilon", 1e-5)? as f64;
    let get = |i: usize| -> Result<Vec<f64>> {
        let name = input(node, i)?;
        let c = ctx.constant(&name).ok_or_else(|| {
            node.bad_attr(&name, "BatchNormalization parameters must be constants")
        })?;
        if c.data.len() != x[1] {
            return Err(shape_err(
                &node.name,
                format!("[{}] per-channel parameters", x[1]),
                &[&c.shape],
            ));
        }
        Ok(c.data.as_floats())
    };
    let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let s: Vec<f64> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + eps).sqrt())
        .collect();
    let t: Vec<f64> = beta
        .iter()
        .zip(&mean)
        .zip(&s)
        .map(|((b, m), s)| b - m * s)
        .collect();
    let mut shape = vec![x[1]];
    shape.extend(std::iter::repeat(1).take(x.len() - 2));
    let c = |v: Vec<f64>| {
        Wire::Const(Const {
            shape: shape.clone(),
            data: ConstData::Float(v),
        })
    };
    Ok(Built {
        op: Op::Binary(BinaryKind::Affine),
        inputs: vec![Wire::Value(input(node, 0)?), c(s), c(t)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[&[2, 3], &[3]]), Some(vec![2, 3]));
        assert_eq!(broadcast(&[&[2, 1], &[1, 4]]), Some(vec![2, 4]));
        assert_eq!(broadcast(&[&[2, 3], &[4]]), None);
        assert_eq!(broadcast_index(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 2]), vec![0, 0, 1, 1]);
    }

    #[test]
    fn division_is_total() {
        let d = BinaryKind::Div;
        assert_eq!(d.apply(4096, 0, 0), i32::MAX);
        assert_eq!(d.apply(-1, 0, 0), i32::MIN);
        assert_eq!(d.apply(0, 0, 0), 0);
        assert_eq!(d.apply(4096, 8192, 0), 2048);
        assert_eq!(d.apply(i32::MIN, 1, 0), i32::MIN);
        assert_eq!(d.apply(i32::MIN, -1, 0), i32::MAX);
    }
}
