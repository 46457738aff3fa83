//! `Gemm` and `MatMul`: `Y = rescale(op(A)·op(B) + C·2^(F+S−T), S)`, `S` and `T` the
//! fractional bits of `B` and `C` (their own for constants, `F` otherwise).

use serde::{Deserialize, Serialize};

pub(super) mod kernel;

pub use kernel::Scale;
use kernel::{Acc, Bias, Strided};

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

pub(crate) fn build_matmul(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let a = input_shape(node, ctx, 0)?;
    let b = input_shape(node, ctx, 1)?;
    if a.len() != 2 || b.len() != 2 {
        return Err(crate::EngineError::UnsupportedOp {
            node: node.name.clone(),
            op: format!("MatMul of ranks {} x {} (rank 2 only)", a.len(), b.len()),
        });
    }
    let b_name = input(node, 1)?;
    let (b, weight_frac_bits) = weight(ctx, b_name);
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
    }
}
