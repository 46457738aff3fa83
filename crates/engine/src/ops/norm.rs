//! `LayerNormalization` with an exact integer mean and variance and an integer inverse
//! square root, and `LpNormalization` (normative: `docs/numerics.md`).
//!
//! For each group of `n` elements `q_j` (the trailing axes from `axis` on):
//!
//! 1. `S1 = Σ q_j`, `S2 = Σ q_j²`, `D = n·S2 − S1²` (`= n²·var` at scale `2^-2F`), exact;
//! 2. `V = D·2^24 + E·n²` with `E = round(ε·2^48)` (so `V = n²·2^(2F+24)·(var + ε)`);
//! 3. `P = max(0, ⌊(126 − bits(V))/2⌋)`, `s = ⌊sqrt(V·4^P)⌋` (exact integer square root);
//! 4. `z_j = div_round((n·q_j − S1)·2^(24+P), s)` — `(x − mean)/sqrt(var + ε)` at `2^-F`;
//!    `V = 0` (constant group, `ε` rounded to 0) gives `z = 0`;
//! 5. `y_j = rescale(z_j·γ_j + β_j·2^F, F)`.
//!
//! Groups are limited to `2^20` elements so that every step fits `i128`.

use serde::{Deserialize, Serialize};

use super::{
    binary::{broadcast, broadcast_index},
    input, input_shape,
    math::isqrt,
    shape_err, BuildCtx, Built, Op, Wire,
};
use crate::{
    fixed::{div_round, rescale, FRAC_BITS},
    import::GraphNode,
    Result, Tensor,
};

/// The largest normalised group [`LayerNorm`] accepts.
pub const MAX_GROUP: usize = 1 << 20;

/// ONNX `LayerNormalization` over the axes from `axis` on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerNorm {
    /// First normalised axis (non-negative).
    pub axis: usize,
    /// `round(ε·2^48)`, saturated to `[0, 2^63)`.
    pub eps_q48: u64,
    /// Whether the bias `B` is present.
    pub has_bias: bool,
}

impl LayerNorm {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let x = match ins.first() {
            Some(x) if self.axis < x.len() && ins.len() == 2 + self.has_bias as usize => *x,
            _ => return Err(shape_err(node, "X, scale (and B) with axis < rank(X)", ins)),
        };
        let tail = &x[self.axis..];
        let n: usize = tail.iter().product();
        let fits = |s: &[usize]| broadcast(&[s, tail]).is_some_and(|b| b == tail);
        if n > MAX_GROUP || !ins[1..].iter().all(|s| fits(s)) {
            return Err(shape_err(
                node,
                format!("scale and B broadcastable to {tail:?}, at most {MAX_GROUP} elements"),
                ins,
            ));
        }
        Ok(x.to_vec())
    }

    /// Normalises one group (steps 1–5 of the module doc).
    pub fn group(&self, q: &[i32], gamma: &[i32], beta: Option<&[i32]>, out: &mut [i32]) {
        let n = q.len() as i128;
        let s1: i128 = q.iter().map(|v| *v as i128).sum();
        let s2: i128 = q.iter().map(|v| (*v as i128) * (*v as i128)).sum();
        let d = (n * s2 - s1 * s1) as u128;
        let v = (d << 24).saturating_add((self.eps_q48 as u128) * (n * n) as u128);
        let bits = 128 - v.leading_zeros();
        let p = 126u32.saturating_sub(bits) / 2;
        let s = isqrt(v << (2 * p)) as i128;
        for (j, o) in out.iter_mut().enumerate() {
            let z = if s == 0 {
                0
            } else {
                div_round((n * q[j] as i128 - s1) << (24 + p), s)
            };
            let b = beta.map_or(0, |b| (b[j] as i128) << FRAC_BITS);
            *o = rescale(z * gamma[j] as i128 + b, FRAC_BITS);
        }
    }

    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let x = ins[0];
        let tail = &x.shape[self.axis..];
        let n: usize = tail.iter().product();
        let expand = |t: &Tensor| -> Vec<i32> {
            broadcast_index(&t.shape, tail)
                .into_iter()
                .map(|i| t.data[i])
                .collect()
        };
        let gamma = expand(ins[1]);
        let beta = self.has_bias.then(|| expand(ins[2]));
        let mut out = vec![0i32; x.len()];
        if n > 0 {
            for (src, dst) in x.data.chunks(n).zip(out.chunks_mut(n)) {
                self.group(src, &gamma, beta.as_deref(), dst);
            }
        }
        Tensor::new(out_shape.to_vec(), out)
    }
}

pub(crate) fn build_layernorm(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let rank = x.len() as i64;
    let a = node.int("axis", -1)?;
    if a < -rank || a >= rank {
        return Err(node.bad_attr("axis", format!("{a} out of range for rank {rank}")));
    }
    let eps = node.float("epsilon", 1e-5)? as f64;
    if eps.is_nan() || eps < 0.0 {
        return Err(node.bad_attr("epsilon", format!("{eps}: must be >= 0")));
    }
    if node.int("stash_type", 1)? != 1 {
        return Err(node.bad_attr("stash_type", "only 1 (float) is supported"));
    }
    let eps_q48 = (eps * (1u64 << 48) as f64).round().min(i64::MAX as f64) as u64;
    let has_bias = node.inputs.get(2).is_some_and(|s| !s.is_empty());
    let mut inputs = vec![Wire::Value(input(node, 0)?), Wire::Value(input(node, 1)?)];
    if has_bias {
        inputs.push(Wire::Value(input(node, 2)?));
    }
    Ok(Built {
        op: Op::LayerNorm(LayerNorm {
            axis: a.rem_euclid(rank) as usize,
            eps_q48,
            has_bias,
        }),
        inputs,
    })
}

/// `LpNormalization` (`p` 1 or 2) along one axis: `d = Σ|x|` or `sqrt_round(Σx²)` (exact, at
/// `2^-F`), `y = clamp(div_round(x·2^F, max(d, 1)))`; one rounding, a zero vector stays 0.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LpNorm {
    /// The normalised axis (non-negative).
    pub axis: usize,
    /// `p`: 1 or 2.
    pub p: u8,
}

impl LpNorm {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if self.axis < x.len() => Ok(x.to_vec()),
            _ => Err(shape_err(
                node,
                format!("one input with axis {}", self.axis),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let groups = super::Softmax {
            axis: self.axis,
            coerce_2d: false,
        }
        .groups(&x.shape);
        let mut out = vec![0; x.len()];
        for g in groups {
            let d: i128 = if self.p == 1 {
                g.iter().map(|i| (x.data[*i] as i128).abs()).sum()
            } else {
                let s: u128 = g
                    .iter()
                    .map(|i| (x.data[*i] as i128 * x.data[*i] as i128) as u128)
                    .sum();
                super::math::sqrt_round(s) as i128
            };
            let d = d.max(1);
            for i in g {
                out[i] = crate::fixed::saturate(div_round((x.data[i] as i128) << FRAC_BITS, d));
            }
        }
        Tensor::new(x.shape.clone(), out)
    }
}

pub(crate) fn build_lp_norm(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let r = x.len() as i64;
    let a = node.int("axis", -1)?;
    if a < -r || a >= r {
        return Err(node.bad_attr("axis", format!("{a} out of range for rank {r}")));
    }
    let p = match node.int("p", 2)? {
        1 => 1,
        2 => 2,
        other => return Err(node.bad_attr("p", format!("{other}: only 1 and 2"))),
    };
    Ok(Built {
        op: Op::LpNorm(LpNorm {
            axis: a.rem_euclid(r) as usize,
            p,
        }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::fixed::dequantize;

    /// The float reference on the fixed-point inputs.
    fn reference(q: &[i32], g: &[i32], b: &[i32], eps: f64) -> Vec<f64> {
        let x: Vec<f64> = q.iter().map(|v| dequantize(*v)).collect();
        let n = x.len() as f64;
        let mean = x.iter().sum::<f64>() / n;
        let var = x.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
        let r = if var + eps == 0.0 {
            0.0
        } else {
            1.0 / (var + eps).sqrt()
        };
        x.iter()
            .zip(g.iter().zip(b))
            .map(|(v, (g, b))| (v - mean) * r * dequantize(*g) + dequantize(*b))
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1500))]

        /// Within `2^-13·(1 + |γ|) + 10^-9·|γ|·(1+|z|)` of the float result on the same
        /// fixed-point inputs, values from small to `i32` extremes.
        #[test]
        fn within_bound(
            q in crate::ops::test_values(24),
            g in prop::collection::vec(-8192i32..8192, 24),
            b in prop::collection::vec(-8192i32..8192, 24),
            n in 1usize..=24,
            eps in prop::sample::select(vec![0.0, 1e-12, 1e-5, 0.1]),
        ) {
            let ln = LayerNorm { axis: 0, eps_q48: (eps * 2f64.powi(48)).round() as u64, has_bias: true };
            let mut out = vec![0; n];
            ln.group(&q[..n], &g[..n], Some(&b[..n]), &mut out);
            let r = reference(&q[..n], &g[..n], &b[..n], ln.eps_q48 as f64 / 2f64.powi(48));
            for j in 0..n {
                let y = dequantize(out[j]);
                let gm = dequantize(g[j]).abs();
                let bound = (1.0 + gm) / 8192.0 + 1e-6 * (1.0 + r[j].abs());
                prop_assert!((y - r[j]).abs() <= bound, "j {}: {} vs {} (q {:?})", j, y, r[j], &q[..n]);
            }
        }
    }

    #[test]
    fn constant_group_gives_beta_and_shapes_are_checked() {
        let ln = LayerNorm {
            axis: 1,
            eps_q48: 0,
            has_bias: true,
        };
        let x = Tensor::new(vec![2, 3], vec![7, 7, 7, i32::MIN, i32::MAX, 0]);
        let g = Tensor::new(vec![3], vec![4096; 3]);
        let b = Tensor::new(vec![1], vec![5]);
        let shape = ln
            .output_shape("ln", &[&x.shape, &g.shape, &b.shape])
            .unwrap();
        let y = ln.eval(&[&x, &g, &b], &shape);
        assert_eq!(&y.data[..3], &[5, 5, 5]);
        // [-2^31, 2^31 - 1, 0]: z ≈ [-1.2247, 1.2247, 0].
        assert!((y.data[3] + 5017 - 5).abs() <= 1 && (y.data[4] - 5017 - 5).abs() <= 1);
        assert!(ln.output_shape("ln", &[&[2, 3], &[2], &[3]]).is_err());
        assert!(ln.output_shape("ln", &[&[2, 3], &[3]]).is_err());
    }
}
