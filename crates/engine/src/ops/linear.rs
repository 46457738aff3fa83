//! `Gemm` and `MatMul`: `Y = rescale(op(A)·op(B) + C·2^(F+S−T), S)`, `S` and `T` the
//! fractional bits of `B` and `C` (their own for constants, `F` otherwise).

use serde::{Deserialize, Serialize};

pub(super) mod kernel;

pub use kernel::Scale;
use kernel::{Acc, Bias, Strided, NO_CLAMP};

use super::{input, input_shape, shape_err, BuildCtx, Built, Op, Wire};
use crate::{
    fixed::{bias_frac_bits, weight_frac_bits, FRAC_BITS},
    import::{Const, ConstData, GraphNode},
    Result, Tensor,
};

/// General matrix product of rank-2 tensors (`MatMul` of rank-2 inputs builds one too).
///
/// `acc[m][n] = Σ_k A'[m][k]·B'[k][n] + C[m][n]·2^(F+S−T)` exactly, then
/// [`rescale`](crate::fixed::rescale) by `S = weight_frac_bits`: round half up, saturate to
/// `i32`. `C`, when present, is a constant at `2^-T` (`T = bias_frac_bits`) already
/// broadcast to `[M, N]`; `alpha` and `beta` are folded into `B` and `C` at compile time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gemm {
    /// `A' = Aᵀ`.
    pub trans_a: bool,
    /// `B' = Bᵀ`.
    pub trans_b: bool,
    /// Whether a third input `C` is present.
    pub has_bias: bool,
    /// Fractional bits `S` of `B`: [`weight_frac_bits`] of a constant `B`, `F` for a
    /// computed one. `A'·B'` then carries `F + S` of them and is rescaled by `S`.
    pub weight_frac_bits: u32,
    /// Fractional bits `T` of `C`: [`bias_frac_bits`], `F ≤ T ≤ F + S`.
    pub bias_frac_bits: u32,
}

impl Gemm {
    /// The scales around the product: `C` lifted by `F + S − T`, the sum rescaled by `S`.
    pub fn scale(&self) -> Scale {
        Scale::of(self.weight_frac_bits, self.bias_frac_bits)
    }

    /// `(M, K, N)` from the input shapes.
    pub fn dims(&self, a: &[usize], b: &[usize]) -> (usize, usize, usize) {
        let (m, k) = if self.trans_a {
            (a[1], a[0])
        } else {
            (a[0], a[1])
        };
        let n = if self.trans_b { b[0] } else { b[1] };
        (m, k, n)
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let ok = ins.len() == 2 + self.has_bias as usize && ins[0].len() == 2 && ins[1].len() == 2;
        if !ok {
            return Err(shape_err(node, "A and B of rank 2 (and C of [M, N])", ins));
        }
        let (m, k, n) = self.dims(ins[0], ins[1]);
        let kb = if self.trans_b { ins[1][1] } else { ins[1][0] };
        if k != kb || (self.has_bias && ins[2] != [m, n]) {
            return Err(shape_err(
                node,
                format!("inner dims to agree ({k} vs {kb}) and C = [{m}, {n}]"),
                ins,
            ));
        }
        Ok(vec![m, n])
    }

    /// Runs the product: `y[i][j] = rescale(C[i][j]·2^L + Σ_k A'[i][k]·B'[k][j], S)` ([`Scale`]), the sum
    /// exact. `A'` and `B'` are strided views of the inputs (no transposed copies); a few rows
    /// (`M < 4`, a batch of vectors) go row by row ([`kernel::gemv`]), more through the
    /// blocked product ([`kernel::gemm`]). The accumulator ([`Acc::for_bound`]: exact `f64`,
    /// `i64` or `i128`) is chosen from the bound `max|C|·2^L + max|A'|·max_j Σ_k |B'[k][j]|`
    /// on every partial sum.
    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        self.eval_prepared(ins, out_shape, None)
    }

    /// `max_j Σ_k |B'[k][j]|` of a rank-2 right operand `b` (its part of the accumulator
    /// bound), for [`Gemm::eval_prepared`] to reuse when `b` is a constant; `None` for
    /// another rank.
    pub(crate) fn col_abs_sum(&self, b: &Tensor) -> Option<u128> {
        let &[rows, cols] = b.shape.as_slice() else {
            return None;
        };
        let (k, n) = if self.trans_b {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let (rs, cs) = if self.trans_b { (1, k) } else { (n, 1) };
        Some(kernel::max_col_abs_sum(Strided {
            data: &b.data,
            rows: k,
            cols: n,
            rs,
            cs,
        }))
    }

    /// [`Gemm::eval`], with [`Gemm::col_abs_sum`] of these very `ins[1]` computed beforehand
    /// when given: the same integers.
    pub(crate) fn eval_prepared(
        &self,
        ins: &[&Tensor],
        out_shape: &[usize],
        col_abs_sum: Option<u128>,
    ) -> Tensor {
        let (a, b) = (ins[0], ins[1]);
        let (m, k, n) = self.dims(&a.shape, &b.shape);
        let (a_rs, a_cs) = if self.trans_a { (1, m) } else { (k, 1) };
        let (b_rs, b_cs) = if self.trans_b { (1, k) } else { (n, 1) };
        let av = Strided {
            data: &a.data,
            rows: m,
            cols: k,
            rs: a_rs,
            cs: a_cs,
        };
        let bv = Strided {
            data: &b.data,
            rows: k,
            cols: n,
            rs: b_rs,
            cs: b_cs,
        };
        let (bias, cmax) = match ins.get(2).filter(|_| self.has_bias) {
            Some(c) => (Bias::Full(&c.data), kernel::max_abs(&c.data)),
            None => (Bias::None, 0),
        };
        let scale = self.scale();
        let bound = (cmax << scale.lift).saturating_add(
            kernel::max_abs(&a.data)
                .saturating_mul(col_abs_sum.unwrap_or_else(|| kernel::max_col_abs_sum(bv))),
        );
        let acc = Acc::for_bound(bound);
        let mut out = vec![0i32; m * n];
        if m < 4 {
            kernel::gemv(acc, av, bv, (bias, scale), &mut out, n);
        } else {
            kernel::gemm(acc, av, &bv, (bias, scale), &mut out, n);
        }
        Tensor::new(out_shape.to_vec(), out)
    }
}

pub(crate) fn build_gemm(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let alpha = node.float("alpha", 1.0)? as f64;
    let beta = node.float("beta", 1.0)? as f64;
    let mut gemm = Gemm {
        trans_a: node.int("transA", 0)? != 0,
        trans_b: node.int("transB", 0)? != 0,
        has_bias: node.inputs.get(2).is_some_and(|s| !s.is_empty()),
        weight_frac_bits: FRAC_BITS,
        bias_frac_bits: FRAC_BITS,
    };
    let a_shape = input_shape(node, ctx, 0)?;
    let b_shape = input_shape(node, ctx, 1)?;
    if a_shape.len() != 2 || b_shape.len() != 2 {
        return Err(shape_err(
            &node.name,
            "A and B of rank 2",
            &[&a_shape, &b_shape],
        ));
    }
    let (m, _, n) = gemm.dims(&a_shape, &b_shape);
    let mut inputs = vec![Wire::Value(input(node, 0)?)];
    let b_name = input(node, 1)?;
    inputs.push(match ctx.constant(&b_name) {
        Some(c) => {
            let w = scaled(c, alpha);
            gemm.weight_frac_bits = weight_frac_bits(&w.data.as_floats());
            Wire::ConstAt(w, gemm.weight_frac_bits)
        }
        None if alpha != 1.0 => return Err(node.bad_attr("alpha", "alpha != 1 needs a constant B")),
        None => Wire::Value(b_name),
    });
    if gemm.has_bias {
        let c_name = input(node, 2)?;
        let c = ctx
            .constant(&c_name)
            .ok_or_else(|| node.bad_attr("C", "the bias C must be a constant"))?;
        let full = broadcast_const(c, &[m, n]).ok_or_else(|| {
            shape_err(
                &node.name,
                format!("C broadcastable to [{m}, {n}]"),
                &[&c.shape],
            )
        })?;
        let c = scaled(&full, beta);
        gemm.bias_frac_bits = bias_frac_bits(&c.data.as_floats(), gemm.weight_frac_bits);
        inputs.push(Wire::ConstAt(c, gemm.bias_frac_bits));
    }
    Ok(Built {
        op: Op::Gemm(gemm),
        inputs,
    })
}

/// `MatMul` of operands of rank ≥ 2 other than 2 × 2 (which builds a [`Gemm`]): numpy
/// batching, the leading (batch) dimensions broadcast, one [`Gemm`] product per batch
/// element with the same rounding (`rescale` by `S` of `B`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatMul {
    /// Fractional bits `S` of `B` (see [`Gemm::weight_frac_bits`]).
    pub weight_frac_bits: u32,
}

/// A constant rank-2 right operand of a [`MatMul`], derived once per program
/// ([`MatMul::prepare`]).
pub(crate) struct MatMulWeights {
    /// `max_j Σ_k |B[k][j]|`: its part of the accumulator bound.
    col_abs_sum: u128,
    /// `Bᵀ` packed as the left operand of the `f64` product.
    transposed: kernel::Panels,
}

impl MatMul {
    fn gemm(&self) -> Gemm {
        Gemm {
            trans_a: false,
            trans_b: false,
            has_bias: false,
            weight_frac_bits: self.weight_frac_bits,
            bias_frac_bits: FRAC_BITS,
        }
    }

    /// Operand shapes as ONNX promotes them: a rank-1 `A` `[K]` is `[1, K]`, a rank-1 `B`
    /// `[K]` is `[K, 1]` (the added axis is removed from the output again).
    fn promote(a: &[usize], b: &[usize]) -> (Vec<usize>, Vec<usize>) {
        let a = if a.len() == 1 {
            vec![1, a[0]]
        } else {
            a.to_vec()
        };
        let b = if b.len() == 1 {
            vec![b[0], 1]
        } else {
            b.to_vec()
        };
        (a, b)
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let [a0, b0] = ins else {
            return Err(shape_err(node, "A [..., M, K] and B [..., K, N]", ins));
        };
        if a0.is_empty() || b0.is_empty() {
            return Err(shape_err(node, "A and B of rank >= 1", ins));
        }
        let (a, b) = Self::promote(a0, b0);
        let mut out = self.promoted_shape(node, ins, &a, &b)?;
        if b0.len() == 1 {
            out.pop();
        }
        if a0.len() == 1 {
            out.remove(out.len() - 1 - usize::from(b0.len() != 1));
        }
        Ok(out)
    }

    fn promoted_shape(
        &self,
        node: &str,
        ins: &[&[usize]],
        a: &[usize],
        b: &[usize],
    ) -> Result<Vec<usize>> {
        if a[a.len() - 1] != b[b.len() - 2] {
            return Err(shape_err(node, "A [..., M, K] and B [..., K, N]", ins));
        }
        let batch = super::binary::broadcast(&[&a[..a.len() - 2], &b[..b.len() - 2]])
            .ok_or_else(|| shape_err(node, "broadcastable batch dimensions", ins))?;
        Ok(batch
            .into_iter()
            .chain([a[a.len() - 2], b[b.len() - 1]])
            .collect())
    }

    /// What [`MatMul::eval_prepared`] reuses of a constant rank-2 right operand `b` (`None`
    /// for another rank): its part of the accumulator bound and `Bᵀ` packed.
    pub(crate) fn prepare(&self, b: &Tensor) -> Option<MatMulWeights> {
        let &[k, n] = b.shape.as_slice() else {
            return None;
        };
        Some(MatMulWeights {
            col_abs_sum: self.gemm().col_abs_sum(b)?,
            transposed: kernel::Panels::pack(Strided {
                data: &b.data,
                rows: n,
                cols: k,
                rs: 1,
                cs: n,
            }),
        })
    }

    /// Runs one [`Gemm`] per batch element (a rank-2 `B` is shared: `A` is then one
    /// `[batch·M, K]` matrix).
    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        self.eval_prepared(ins, out_shape, None)
    }

    /// [`MatMul::eval`], with [`MatMul::prepare`] of these very `ins[1]` computed beforehand
    /// when given (used only where `B` is the rank-2 operand of one shared product): the
    /// same integers.
    ///
    /// With the weights prepared and the exact `f64` accumulator admitted, the product is
    /// computed transposed, `Yᵀ = Bᵀ·Aᵀ`, with `Bᵀ` the left operand packed once: the
    /// activations (few rows in a transformer) are then what is packed on every call. Every
    /// output is the same exact sum of the same products (the order-independence argument
    /// of [`kernel`]), so the integers are those of the untransposed product.
    pub(crate) fn eval_prepared(
        &self,
        ins: &[&Tensor],
        out_shape: &[usize],
        weights: Option<&MatMulWeights>,
    ) -> Tensor {
        if ins[0].shape.len() == 1 || ins[1].shape.len() == 1 {
            let (sa, sb) = Self::promote(&ins[0].shape, &ins[1].shape);
            let a = Tensor::new(sa.clone(), ins[0].data.clone());
            let b = Tensor::new(sb.clone(), ins[1].data.clone());
            let (a1, b1) = (ins[0].shape.len() == 1, ins[1].shape.len() == 1);
            let mut shape = out_shape.to_vec();
            if a1 {
                shape.insert(shape.len() - usize::from(!b1), 1);
            }
            if b1 {
                shape.push(1);
            }
            let y = self.eval(&[&a, &b], &shape);
            return Tensor::new(out_shape.to_vec(), y.data);
        }
        let (a, b) = (ins[0], ins[1]);
        let r = out_shape.len();
        let (m, n) = (out_shape[r - 2], out_shape[r - 1]);
        let k = a.shape[a.shape.len() - 1];
        let gemm = self.gemm();
        let batch_shape = &out_shape[..r - 2];
        let batches: usize = batch_shape.iter().product();
        if b.shape.len() == 2 && a.shape.len() - 2 == batch_shape.len() {
            let rows = batches * m;
            if let Some(w) = weights {
                let bound = kernel::max_abs(&a.data).saturating_mul(w.col_abs_sum);
                if Acc::for_bound(bound) == Acc::F64 {
                    let at = Strided {
                        data: &a.data,
                        rows: k,
                        cols: rows,
                        rs: 1,
                        cs: k,
                    };
                    let mut yt = vec![0; n * rows];
                    let epilogue = (Bias::None, gemm.scale());
                    kernel::gemm_packed(&w.transposed, &at, epilogue, NO_CLAMP, &mut yt, rows);
                    let mut y = vec![0; rows * n];
                    for (j, col) in yt.chunks_exact(rows.max(1)).enumerate() {
                        for (i, v) in col.iter().enumerate() {
                            y[i * n + j] = *v;
                        }
                    }
                    return Tensor::new(out_shape.to_vec(), y);
                }
            }
            let a2 = Tensor::new(vec![rows, k], a.data.clone());
            let y = gemm.eval_prepared(&[&a2, b], &[rows, n], weights.map(|w| w.col_abs_sum));
            return Tensor::new(out_shape.to_vec(), y.data);
        }
        let ia = super::binary::broadcast_index(&a.shape[..a.shape.len() - 2], batch_shape);
        let ib = super::binary::broadcast_index(&b.shape[..b.shape.len() - 2], batch_shape);
        let mut out = Vec::with_capacity(batches * m * n);
        for (i, j) in ia.into_iter().zip(ib) {
            let a2 = Tensor::new(vec![m, k], a.data[i * m * k..][..m * k].to_vec());
            let b2 = Tensor::new(vec![k, n], b.data[j * k * n..][..k * n].to_vec());
            out.extend(gemm.eval(&[&a2, &b2], &[m, n]).data);
        }
        Tensor::new(out_shape.to_vec(), out)
    }
}

pub(crate) fn build_matmul(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let a = input_shape(node, ctx, 0)?;
    let b = input_shape(node, ctx, 1)?;
    if a.is_empty() || b.is_empty() {
        return Err(crate::EngineError::UnsupportedOp {
            node: node.name.clone(),
            op: format!("MatMul of ranks {} x {} (rank >= 1 only)", a.len(), b.len()),
        });
    }
    let b_name = input(node, 1)?;
    let (b_wire, weight_frac_bits) = weight(ctx, b_name);
    if a.len() != 2 || b.len() != 2 {
        return Ok(Built {
            op: Op::MatMul(MatMul { weight_frac_bits }),
            inputs: vec![Wire::Value(input(node, 0)?), b_wire],
        });
    }
    let b = b_wire;
    let gemm = Gemm {
        trans_a: false,
        trans_b: false,
        has_bias: false,
        weight_frac_bits,
        bias_frac_bits: FRAC_BITS,
    };
    Ok(Built {
        op: Op::Gemm(gemm),
        inputs: vec![Wire::Value(input(node, 0)?), b],
    })
}

/// The weight operand `name` and its fractional bits: a constant at its own scale
/// ([`weight_frac_bits`]), a computed tensor at `F`.
pub(crate) fn weight(ctx: &dyn BuildCtx, name: String) -> (Wire, u32) {
    match ctx.constant(&name) {
        Some(c) => {
            let bits = weight_frac_bits(&c.data.as_floats());
            (Wire::ConstAt(c.clone(), bits), bits)
        }
        None => (Wire::Value(name), FRAC_BITS),
    }
}

fn scaled(c: &Const, s: f64) -> Const {
    Const {
        shape: c.shape.clone(),
        data: ConstData::Float(c.data.as_floats().iter().map(|x| x * s).collect()),
    }
}

/// Numpy-broadcasts a constant to `shape`; `None` when the shapes are incompatible.
pub(crate) fn broadcast_const(c: &Const, shape: &[usize]) -> Option<Const> {
    let out = super::binary::broadcast(&[&c.shape, shape])?;
    if out != shape {
        return None;
    }
    let vals = c.data.as_floats();
    let idx = super::binary::broadcast_index(&c.shape, shape);
    Some(Const {
        shape: shape.to_vec(),
        data: ConstData::Float(idx.iter().map(|i| vals[*i]).collect()),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::ops::test_values as values;

    use super::*;
    use crate::fixed::rescale;

    /// The straightforward kernel the fast one replaced (transposed copy of `B`, one exact
    /// dot product per output): the specification the fast kernel must equal bit for bit.
    fn reference(gemm: &Gemm, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let (a, b) = (ins[0], ins[1]);
        let (m, k, n) = gemm.dims(&a.shape, &b.shape);
        let a_at = |i: usize, j: usize| {
            if gemm.trans_a {
                a.data[j * m + i]
            } else {
                a.data[i * k + j]
            }
        };
        // B' as rows of length k (one per output column) so the inner loop is contiguous.
        let bt: Vec<i32> = if gemm.trans_b {
            b.data.clone()
        } else {
            (0..n)
                .flat_map(|j| (0..k).map(move |i| (i, j)))
                .map(|(i, j)| b.data[i * n + j])
                .collect()
        };
        let Scale { lift, shift } = gemm.scale();
        let bias = |i: usize, j: usize| {
            if gemm.has_bias {
                (ins[2].data[i * n + j] as i64) << lift
            } else {
                0
            }
        };
        let amax = a
            .data
            .iter()
            .map(|v| (*v as i64).unsigned_abs())
            .max()
            .unwrap_or(0) as u128;
        let bsum = bt
            .chunks(k.max(1))
            .map(|r| {
                r.iter()
                    .map(|v| (*v as i64).unsigned_abs() as u128)
                    .sum::<u128>()
            })
            .max()
            .unwrap_or(0);
        let narrow = amax * bsum + (1u128 << (31 + lift)) <= i64::MAX as u128 / 2;
        let mut out = Vec::with_capacity(m * n);
        for i in 0..m {
            let row: Vec<i32> = (0..k).map(|j| a_at(i, j)).collect();
            for j in 0..n {
                let col = &bt[j * k..(j + 1) * k];
                let acc: i128 = if narrow {
                    row.iter()
                        .zip(col)
                        .map(|(x, w)| *x as i64 * *w as i64)
                        .sum::<i64>() as i128
                } else {
                    row.iter()
                        .zip(col)
                        .map(|(x, w)| *x as i128 * *w as i128)
                        .sum::<i128>()
                };
                out.push(rescale(acc + bias(i, j) as i128, shift));
            }
        }
        Tensor::new(out_shape.to_vec(), out)
    }

    /// A random `Gemm` with inputs: `(gemm, A, B, C)`; `M` from 1 (row by row) to 13
    /// (blocked, with partial tiles); weight scales from `F` to the largest.
    fn case() -> impl Strategy<Value = (Gemm, Tensor, Tensor, Tensor)> {
        let bits = FRAC_BITS..=crate::fixed::MAX_WEIGHT_FRAC_BITS;
        let scales = (bits, 0u32..=24).prop_map(|(s, t)| (s, FRAC_BITS + t.min(s)));
        (
            1usize..=13,
            0usize..=40,
            1usize..=20,
            any::<[bool; 3]>(),
            scales,
        )
            .prop_flat_map(
                |(m, k, n, [trans_a, trans_b, has_bias], (weight_frac_bits, bias_frac_bits))| {
                    let gemm = Gemm {
                        trans_a,
                        trans_b,
                        has_bias,
                        weight_frac_bits,
                        bias_frac_bits,
                    };
                    let a_shape = if trans_a { vec![k, m] } else { vec![m, k] };
                    let b_shape = if trans_b { vec![n, k] } else { vec![k, n] };
                    (values(m * k), values(k * n), values(m * n)).prop_map(move |(a, b, c)| {
                        (
                            gemm.clone(),
                            Tensor::new(a_shape.clone(), a),
                            Tensor::new(b_shape.clone(), b),
                            Tensor::new(vec![m, n], c),
                        )
                    })
                },
            )
    }

    /// Batched shapes broadcast like numpy; each batch element equals its own 2-D product.
    #[test]
    fn batched_matmul_shapes_and_values() {
        let mm = MatMul {
            weight_frac_bits: FRAC_BITS,
        };
        assert_eq!(
            mm.output_shape("mm", &[&[1, 2, 3, 4], &[1, 2, 4, 5]])
                .unwrap(),
            vec![1, 2, 3, 5]
        );
        assert_eq!(
            mm.output_shape("mm", &[&[2, 3, 4], &[4, 5]]).unwrap(),
            vec![2, 3, 5]
        );
        assert_eq!(
            mm.output_shape("mm", &[&[3, 4], &[2, 1, 4, 5]]).unwrap(),
            vec![2, 1, 3, 5]
        );
        assert!(mm.output_shape("mm", &[&[2, 3, 4], &[3, 4, 5]]).is_err());
        // Rank-1 operands are promoted and the added axis removed again (numpy).
        assert_eq!(
            mm.output_shape("mm", &[&[4], &[4]]).unwrap(),
            Vec::<usize>::new()
        );
        assert_eq!(
            mm.output_shape("mm", &[&[4], &[2, 4, 5]]).unwrap(),
            vec![2, 5]
        );
        assert_eq!(
            mm.output_shape("mm", &[&[2, 3, 4], &[4]]).unwrap(),
            vec![2, 3]
        );
        assert!(mm.output_shape("mm", &[&[4], &[5]]).is_err());
        assert!(mm.output_shape("mm", &[&[], &[5]]).is_err());
        let v = Tensor::new(vec![3], vec![4096, 2 * 4096, -4096]);
        let y = mm.eval(&[&v, &v], &[]);
        assert_eq!(y.data, vec![6 * 4096]);
        assert!(mm.output_shape("mm", &[&[2, 3, 4], &[5, 5]]).is_err());
        let a = Tensor::new(vec![2, 2, 3], (0..12).map(|v| (v - 6) << 12).collect());
        let b = Tensor::new(vec![1, 3, 2], (0..6).map(|v| (v + 1) << 11).collect());
        let shape = mm.output_shape("mm", &[&a.shape, &b.shape]).unwrap();
        let y = mm.eval(&[&a, &b], &shape);
        let b2 = Tensor::new(vec![3, 2], b.data.clone());
        let y2 = mm.eval(&[&a, &b2], &shape);
        assert_eq!(y, y2);
        for t in 0..2 {
            let at = Tensor::new(vec![2, 3], a.data[t * 6..][..6].to_vec());
            let g = mm.gemm().eval(&[&at, &b2], &[2, 2]);
            assert_eq!(&y.data[t * 4..][..4], g.data.as_slice());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        /// Random sizes, transpositions and values from small to extreme: the fast kernel
        /// equals the reference bit for bit.
        #[test]
        fn equals_reference((gemm, a, b, c) in case()) {
            let mut ins = vec![&a, &b];
            if gemm.has_bias {
                ins.push(&c);
            }
            let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
            let out_shape = gemm.output_shape("gemm", &shapes).unwrap();
            let want = reference(&gemm, &ins, &out_shape);
            prop_assert_eq!(gemm.eval(&ins, &out_shape), want.clone());
            // With B's part of the bound computed beforehand (`evaluate` on a constant B).
            let col_abs_sum = gemm.col_abs_sum(&b);
            prop_assert!(col_abs_sum.is_some());
            prop_assert_eq!(gemm.eval_prepared(&ins, &out_shape, col_abs_sum), want);
        }

        /// A batched `MatMul` with a shared rank-2 `B`, its weights prepared (the
        /// transposed product where the `f64` accumulator is admitted, the plain one where
        /// not): the same integers as the unprepared kernel, which equals the reference.
        #[test]
        fn prepared_matmul_equals_unprepared(
            (batch, m, k, n) in (1usize..4, 0usize..20, 1usize..40, 1usize..30),
            wfb in prop::sample::select(vec![12u32, 16, 24]),
            pool in values(3 * 19 * 39 + 39 * 29),
        ) {
            let mm = MatMul { weight_frac_bits: wfb };
            let a = Tensor::new(vec![batch, m, k], pool[..batch * m * k].to_vec());
            let b = Tensor::new(vec![k, n], pool[batch * m * k..][..k * n].to_vec());
            let out_shape = vec![batch, m, n];
            let want = mm.eval(&[&a, &b], &out_shape);
            let w = mm.prepare(&b);
            prop_assert!(w.is_some());
            prop_assert_eq!(mm.eval_prepared(&[&a, &b], &out_shape, w.as_ref()), want.clone());
            let a2 = Tensor::new(vec![batch * m, k], a.data.clone());
            let g = reference(&mm.gemm(), &[&a2, &b], &[batch * m, n]);
            prop_assert_eq!(g.data, want.data);
        }
    }
}
