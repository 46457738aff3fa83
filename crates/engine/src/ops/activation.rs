//! Elementwise activations: `Relu`, `Clip`, and the smooth and piecewise-linear gates of
//! vision and transformer exports (`Sigmoid`, `HardSigmoid`, `HardSwish`, `Gelu`,
//! `LeakyRelu`, `Elu`, `Selu`, `Celu`, `ThresholdedRelu`, `Shrink`, `Mish`).
//!
//! Integer-only and total (normative: `docs/numerics.md`): `Sigmoid` is built on the integer
//! exponential of `Softmax` ([`exp_q30`]), `Gelu` on [`erf_q`] (or [`tanh_q`] for
//! `approximate = "tanh"`); `HardSwish` is exact up to one rounding.

use serde::{Deserialize, Serialize};

use super::{
    input,
    math::{erf_q, softplus_q, tanh_q},
    softmax::exp_q30,
    BuildCtx, Built, Op, Wire,
};
use crate::{
    fixed::{div_round, quantize, quantize_at, rescale, FRAC_BITS, ONE},
    import::GraphNode,
    Result, Tensor,
};

/// Fractional bits of `HardSigmoid`'s slope `alpha`.
pub const ALPHA_BITS: u32 = 24;
/// `round(2^30 / √2)`.
pub const FRAC_1_SQRT2_Q30: i64 = 759_250_125;
/// `round(0.044715 · 2^30)`: the cubic coefficient of the tanh form of GELU.
pub const GELU_CUBIC_Q30: i64 = 48_012_366;
/// `round(√(2/π) · 2^30)`.
pub const SQRT_2_OVER_PI_Q30: i64 = 856_722_024;

/// A smooth or piecewise-linear elementwise gate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Activation {
    /// `1/(1 + exp(−x))`: [`sigmoid_q`].
    Sigmoid,
    /// `clamp(alpha·x + beta, 0, 1)`: `alpha` at `2^-ALPHA_BITS`, `beta` at `2^-F`.
    HardSigmoid {
        /// `round(alpha · 2^ALPHA_BITS)`.
        alpha: i32,
        /// `round(beta · 2^F)`.
        beta: i32,
    },
    /// `x · clamp(x/6 + 1/2, 0, 1)`: [`hard_swish_q`].
    HardSwish,
    /// `x/2 · (1 + erf(x/√2))`: [`gelu_q`].
    Gelu,
    /// `x/2 · (1 + tanh(√(2/π)(x + 0.044715x³)))`: [`gelu_tanh_q`].
    GeluTanh,
    /// `x` for `x ≥ 0`, else `rescale(alpha·x, ALPHA_BITS)`.
    LeakyRelu {
        /// `round(alpha · 2^ALPHA_BITS)`.
        alpha: i32,
    },
    /// `x` for `x ≥ 0`, else `alpha·(e^x − 1)`: `rescale((exp_q30(q) − 2^30)·alpha, 30 +
    /// ALPHA_BITS − F)`.
    Elu {
        /// `round(alpha · 2^ALPHA_BITS)`.
        alpha: i32,
    },
    /// `gamma·x` for `x > 0`, else `gamma·alpha·(e^x − 1)` (as `Elu` with `gamma·alpha`).
    Selu {
        /// `round(gamma · alpha · 2^ALPHA_BITS)`.
        gamma_alpha: i32,
        /// `round(gamma · 2^ALPHA_BITS)`.
        gamma: i32,
    },
    /// `x` for `x ≥ 0`, else `alpha·(e^(x/alpha) − 1)`; `x/alpha` is
    /// `rescale(q·inv_alpha, ALPHA_BITS)`.
    Celu {
        /// `round(alpha · 2^ALPHA_BITS)`.
        alpha: i32,
        /// `round(2^ALPHA_BITS / alpha)`.
        inv_alpha: i32,
    },
    /// `x` where `x > alpha`, else 0: `q > bound` with `bound = ⌊alpha·2^F⌋` (the float
    /// decision for every `x` on the grid).
    ThresholdedRelu {
        /// `⌊alpha · 2^F⌋`, clamped to ±2^40.
        bound: i64,
    },
    /// `x − bias` where `x > lambd`, `x + bias` where `x < −lambd`, else 0: `q > hi`, `q < lo`
    /// with `hi = ⌊lambd·2^F⌋`, `lo = ⌈−lambd·2^F⌉` (float decisions on the grid).
    Shrink {
        /// `⌈−lambd · 2^F⌉`, clamped to ±2^40.
        lo: i64,
        /// `⌊lambd · 2^F⌋`, clamped to ±2^40.
        hi: i64,
        /// `round(bias · 2^F)`.
        bias: i32,
    },
    /// `x · tanh(softplus(x))`: `rescale(q · tanh_q(softplus_q(q)), F)`.
    Mish,
}

/// `round(2^30)`: 1 at the integer exponential's scale.
const ONE_Q30: i128 = 1 << 30;

/// `rescale((exp_q30(d) − 2^30)·k, 30 + ALPHA_BITS − F)`: `k·(e^d − 1)` at `2^-F` for `d ≤ 0`.
fn expm1_times(d: i64, k: i32) -> i32 {
    rescale(
        (exp_q30(d) as i128 - ONE_Q30) * k as i128,
        30 + ALPHA_BITS - FRAC_BITS,
    )
}

impl Activation {
    /// ONNX op type.
    pub fn name(&self) -> &'static str {
        match self {
            Activation::Sigmoid => "Sigmoid",
            Activation::HardSigmoid { .. } => "HardSigmoid",
            Activation::HardSwish => "HardSwish",
            Activation::Gelu | Activation::GeluTanh => "Gelu",
            Activation::LeakyRelu { .. } => "LeakyRelu",
            Activation::Elu { .. } => "Elu",
            Activation::Selu { .. } => "Selu",
            Activation::Celu { .. } => "Celu",
            Activation::ThresholdedRelu { .. } => "ThresholdedRelu",
            Activation::Shrink { .. } => "Shrink",
            Activation::Mish => "Mish",
        }
    }

    /// The gate on one fixed-point value.
    pub fn apply(&self, q: i32) -> i32 {
        match *self {
            Activation::Sigmoid => sigmoid_q(q),
            Activation::HardSigmoid { alpha, beta } => {
                let v = alpha as i128 * q as i128 + ((beta as i128) << ALPHA_BITS);
                rescale(v, ALPHA_BITS).clamp(0, ONE as i32)
            }
            Activation::HardSwish => hard_swish_q(q),
            Activation::Gelu => gelu_q(q),
            Activation::GeluTanh => gelu_tanh_q(q),
            Activation::LeakyRelu { alpha } => {
                if q >= 0 {
                    q
                } else {
                    rescale(alpha as i128 * q as i128, ALPHA_BITS)
                }
            }
            Activation::Elu { alpha } => {
                if q >= 0 {
                    q
                } else {
                    expm1_times(q as i64, alpha)
                }
            }
            Activation::Selu { gamma_alpha, gamma } => {
                if q > 0 {
                    rescale(gamma as i128 * q as i128, ALPHA_BITS)
                } else {
                    expm1_times(q as i64, gamma_alpha)
                }
            }
            Activation::Celu { alpha, inv_alpha } => {
                if q >= 0 {
                    q
                } else {
                    let d = rescale(q as i128 * inv_alpha as i128, ALPHA_BITS);
                    expm1_times(d as i64, alpha)
                }
            }
            Activation::ThresholdedRelu { bound } => {
                if q as i64 > bound {
                    q
                } else {
                    0
                }
            }
            Activation::Shrink { lo, hi, bias } => {
                if q as i64 > hi {
                    q.saturating_sub(bias)
                } else if (q as i64) < lo {
                    q.saturating_add(bias)
                } else {
                    0
                }
            }
            Activation::Mish => rescale(q as i128 * tanh_q(softplus_q(q)) as i128, FRAC_BITS),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        Tensor::new(
            x.shape.clone(),
            x.data.iter().map(|q| self.apply(*q)).collect(),
        )
    }
}

/// `sigmoid(q / 2^F)` at scale `2^-F`: `e = exp_q30(−|q|)`, `s = div_round(e·2^F, 2^30 + e)`
/// (`sigmoid(−|x|)`), then `s` for `q < 0` and `2^F − s` otherwise, so
/// `sigmoid(−x) = 1 − sigmoid(x)` holds exactly.
pub fn sigmoid_q(q: i32) -> i32 {
    let e = exp_q30(-(q as i64).abs()) as i128;
    let s = div_round(e << FRAC_BITS, (1i128 << 30) + e) as i32;
    if q < 0 {
        s
    } else {
        ONE as i32 - s
    }
}

/// `hardswish(q / 2^F)` at scale `2^-F`: 0 for `q ≤ −3·2^F`, `q` for `q ≥ 3·2^F`, else
/// `div_round(q·(q + 3·2^F), 6·2^F)` (one rounding of the exact product).
pub fn hard_swish_q(q: i32) -> i32 {
    let (q, three) = (q as i128, 3 * ONE as i128);
    if q <= -three {
        0
    } else if q >= three {
        q as i32
    } else {
        div_round(q * (q + three), 2 * three) as i32
    }
}

/// `gelu(q / 2^F)` at scale `2^-F`: `z = rescale(q·FRAC_1_SQRT2_Q30, 30)`,
/// `y = rescale(q·(2^F + erf_q(z)), F + 1)`.
pub fn gelu_q(q: i32) -> i32 {
    let z = rescale(q as i128 * FRAC_1_SQRT2_Q30 as i128, 30);
    rescale(q as i128 * (ONE as i128 + erf_q(z) as i128), FRAC_BITS + 1)
}

/// GELU's tanh form at scale `2^-F`: `u = q·2^(2F+30) + q³·GELU_CUBIC_Q30` (exact, scale
/// `2^-(3F+30)`), floored to scale `2^-(F+30)` and clamped to `±16` (tanh is ±1 at scale
/// `2^-F` from 5 on), `v = rescale(u·SQRT_2_OVER_PI_Q30, 60)`,
/// `y = rescale(q·(2^F + tanh_q(v)), F + 1)`.
pub fn gelu_tanh_q(q: i32) -> i32 {
    gelu_tanh_finish(q, tanh_q(gelu_tanh_arg(q)))
}

/// The argument `v` of `tanh` in [`gelu_tanh_q`] (`|v| < 2^17`): `u = q·2^(2F+30) +
/// q³·GELU_CUBIC_Q30` floored to scale `2^-(F+30)`, clamped to `±16`, then
/// `v = rescale(u·SQRT_2_OVER_PI_Q30, 60)`.
pub fn gelu_tanh_arg(q: i32) -> i32 {
    let x = q as i128;
    let u = (x << (2 * FRAC_BITS + 30)) + x * x * x * GELU_CUBIC_Q30 as i128;
    let bound = 16i128 << (FRAC_BITS + 30);
    let u = (u >> (2 * FRAC_BITS)).clamp(-bound, bound);
    rescale(u * SQRT_2_OVER_PI_Q30 as i128, 60)
}

/// The last step of [`gelu_tanh_q`] from `t = tanh_q(v)`: `rescale(q·(2^F + t), F + 1)`.
pub fn gelu_tanh_finish(q: i32, t: i32) -> i32 {
    rescale(q as i128 * (ONE as i128 + t as i128), FRAC_BITS + 1)
}

/// `Sigmoid`, `HardSigmoid` (`alpha` 0.2, `beta` 0.5), `HardSwish`, `Gelu` (opset 20;
/// `approximate` `none` or `tanh`).
pub(crate) fn build_activation(node: &GraphNode) -> Result<Built> {
    let act = match node.op_type.as_str() {
        "Sigmoid" => Activation::Sigmoid,
        "HardSigmoid" => {
            let alpha = node.float("alpha", 0.2)? as f64;
            if !alpha.is_finite() || alpha.abs() >= 64.0 {
                return Err(node.bad_attr("alpha", format!("{alpha} outside (-64, 64)")));
            }
            Activation::HardSigmoid {
                alpha: quantize_at(alpha, ALPHA_BITS),
                beta: quantize(node.float("beta", 0.5)? as f64),
            }
        }
        "HardSwish" => Activation::HardSwish,
        "LeakyRelu" => Activation::LeakyRelu {
            alpha: slope(node, "alpha", 0.01)?,
        },
        "Elu" => Activation::Elu {
            alpha: slope(node, "alpha", 1.0)?,
        },
        "Selu" => {
            let alpha = node.float("alpha", 1.673_263_2)? as f64;
            let gamma = node.float("gamma", 1.050_701)? as f64;
            if !(alpha * gamma).is_finite() || (alpha * gamma).abs() >= 64.0 {
                return Err(node.bad_attr("alpha", "gamma·alpha outside (-64, 64)"));
            }
            Activation::Selu {
                gamma_alpha: quantize_at(alpha * gamma, ALPHA_BITS),
                gamma: slope(node, "gamma", 1.050_701)?,
            }
        }
        "Celu" => {
            let alpha = node.float("alpha", 1.0)? as f64;
            if !(1.0 / 64.0..64.0).contains(&alpha) {
                return Err(node.bad_attr("alpha", format!("{alpha} outside [1/64, 64)")));
            }
            Activation::Celu {
                alpha: quantize_at(alpha, ALPHA_BITS),
                inv_alpha: quantize_at(1.0 / alpha, ALPHA_BITS),
            }
        }
        "ThresholdedRelu" => Activation::ThresholdedRelu {
            bound: grid_floor(node.float("alpha", 1.0)? as f64),
        },
        "Shrink" => {
            let lambd = node.float("lambd", 0.5)? as f64;
            Activation::Shrink {
                lo: -grid_floor(lambd),
                hi: grid_floor(lambd),
                bias: quantize(node.float("bias", 0.0)? as f64),
            }
        }
        "Mish" => Activation::Mish,
        _ => match node.string("approximate", "none")?.as_str() {
            "none" => Activation::Gelu,
            "tanh" => Activation::GeluTanh,
            other => return Err(node.bad_attr("approximate", format!("unknown mode {other}"))),
        },
    };
    Ok(Built {
        op: Op::Activation(act),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// `PRelu(x, slope)` with a constant `slope` broadcast to `x` (unidirectionally): `x` for
/// `x ≥ 0`, else `rescale(slope·x, ALPHA_BITS)`, slopes at `2^-ALPHA_BITS` (`|slope| < 64`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PRelu {
    /// `round(slope · 2^ALPHA_BITS)`, row-major.
    pub slopes: Vec<i32>,
    /// Their shape.
    pub shape: Vec<usize>,
}

impl PRelu {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if super::binary::broadcast(&[x, &self.shape]).as_deref() == Some(*x) => {
                Ok(x.to_vec())
            }
            _ => Err(super::shape_err(
                node,
                format!("X that slope {:?} broadcasts to", self.shape),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let is = super::binary::broadcast_index(&self.shape, &x.shape);
        let data = x
            .data
            .iter()
            .zip(is)
            .map(|(q, i)| {
                if *q >= 0 {
                    *q
                } else {
                    rescale(self.slopes[i] as i128 * *q as i128, ALPHA_BITS)
                }
            })
            .collect();
        Tensor::new(x.shape.clone(), data)
    }
}

pub(crate) fn build_prelu(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let name = input(node, 1)?;
    let c = ctx
        .constant(&name)
        .ok_or_else(|| node.bad_attr("slope", "must be a constant"))?;
    let slopes = c
        .data
        .as_floats()
        .iter()
        .map(|v| {
            if v.is_finite() && v.abs() < 64.0 {
                Ok(quantize_at(*v, ALPHA_BITS))
            } else {
                Err(node.bad_attr("slope", format!("{v} outside (-64, 64)")))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Built {
        op: Op::PRelu(PRelu {
            slopes,
            shape: c.shape.clone(),
        }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// A slope attribute at `2^-ALPHA_BITS`, refused outside `(-64, 64)`.
fn slope(node: &GraphNode, attr: &str, default: f32) -> Result<i32> {
    let v = node.float(attr, default)? as f64;
    if !v.is_finite() || v.abs() >= 64.0 {
        return Err(node.bad_attr(attr, format!("{v} outside (-64, 64)")));
    }
    Ok(quantize_at(v, ALPHA_BITS))
}

/// `⌊t·2^F⌋` clamped to `±2^40`: `x > t ⟺ q > ⌊t·2^F⌋` for `x = q/2^F` (NaN gives 0).
fn grid_floor(t: f64) -> i64 {
    let b = (1i64 << 40) as f64;
    if t.is_nan() {
        0
    } else {
        (t * ONE as f64).floor().clamp(-b, b) as i64
    }
}

/// `Relu(x) = max(x, 0)`: exact.
pub(crate) fn relu(x: &Tensor) -> Tensor {
    Clip::RELU.eval(x)
}

/// `Clip(x) = min(max(x, lo), hi)` with quantised bounds; if `lo > hi` every output is `hi`
/// (ONNX: min applied last).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clip {
    /// Lower bound (quantised; `i32::MIN` when absent).
    pub lo: i32,
    /// Upper bound (quantised; `i32::MAX` when absent).
    pub hi: i32,
}

impl Clip {
    /// `Relu` as a clip: `min(max(x, 0), i32::MAX) = max(x, 0)`.
    pub const RELU: Clip = Clip {
        lo: 0,
        hi: i32::MAX,
    };

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let mut data = x.data.clone();
        self.eval_in_place(&mut data);
        Tensor::new(x.shape.clone(), data)
    }

    /// The same kernel on values it overwrites.
    pub(crate) fn eval_in_place(&self, data: &mut [i32]) {
        let (lo, hi) = (self.lo, self.hi);
        data.iter_mut().for_each(|v| *v = (*v).max(lo).min(hi));
    }
}

/// Opset < 11 takes `min`/`max` attributes; opset >= 11 optional constant inputs.
pub(crate) fn build_clip(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let bound = |i: usize, attr: &str, default: i32| -> Result<i32> {
        if let Some(name) = node.inputs.get(i).filter(|s| !s.is_empty()) {
            let c = ctx
                .constant(name)
                .ok_or_else(|| node.bad_attr(attr, "Clip bounds must be constants"))?;
            let v = c.data.as_floats();
            return v
                .first()
                .map(|x| quantize(*x))
                .ok_or_else(|| node.bad_attr(attr, "empty bound"));
        }
        match node.attrs.get(attr) {
            Some(_) => Ok(quantize(node.float(attr, 0.0)? as f64)),
            None => Ok(default),
        }
    };
    let clip = Clip {
        lo: bound(1, "min", i32::MIN)?,
        hi: bound(2, "max", i32::MAX)?,
    };
    Ok(Built {
        op: Op::Clip(clip),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ops::test_values as values;

    proptest! {
        /// `Relu` and `Clip`, fresh and in place, against their one-line definitions.
        #[test]
        fn equals_definition(data in values(64), lo in any::<i32>(), hi in any::<i32>()) {
            let x = Tensor::new(vec![data.len()], data.clone());
            let want: Vec<i32> = data.iter().map(|v| (*v).max(0)).collect();
            prop_assert_eq!(&relu(&x).data, &want);
            let clip = Clip { lo, hi };
            let want: Vec<i32> = data.iter().map(|v| (*v).max(lo).min(hi)).collect();
            prop_assert_eq!(&clip.eval(&x).data, &want);
            let mut inplace = data;
            clip.eval_in_place(&mut inplace);
            prop_assert_eq!(inplace, want);
        }

        /// Every gate is within its documented bound (docs/numerics.md) of the real
        /// function of the same fixed-point input, on any `i32`.
        #[test]
        fn gates_within_documented_bounds(q in any::<i32>(), small in -40_000i32..40_000) {
            for q in [q, small] {
                let x = q as f64 / 4096.0;
                let y = |a: Activation| a.apply(q) as f64 / 4096.0;
                let qq = 1.0 / 8192.0;
                let sig = 1.0 / (1.0 + (-x).exp());
                prop_assert!((y(Activation::Sigmoid) - sig).abs() <= qq + 2e-6, "sigmoid {}", x);
                let hs = (x / 6.0 + 0.5).clamp(0.0, 1.0);
                prop_assert!((y(Activation::HardSwish) - x * hs).abs() <= qq, "hardswish {}", x);
                let hsig = Activation::HardSigmoid { alpha: 3_355_443, beta: 2048 };
                let want = (0.2 * x + 0.5).clamp(0.0, 1.0);
                prop_assert!((y(hsig) - want).abs() <= qq + x.abs() * 2f64.powi(-25), "hardsigmoid {}", x);
                let xm = x.abs().min(8.5);
                let gelu = 0.5 * x * (1.0 + erf(x / 2f64.sqrt()));
                prop_assert!(
                    (y(Activation::Gelu) - gelu).abs() <= qq + xm / 2.0 * (2.13 * qq + 3e-6),
                    "gelu {} {} {}", x, y(Activation::Gelu), gelu
                );
                let expm1 = x.min(0.0).exp_m1();
                let leaky = Activation::LeakyRelu { alpha: quantize_at(0.1, ALPHA_BITS) };
                let want = if x >= 0.0 { x } else { 0.1 * x };
                prop_assert!((y(leaky) - want).abs() <= qq + x.abs() * 2f64.powi(-25), "leaky {}", x);
                let elu = Activation::Elu { alpha: quantize_at(2.0, ALPHA_BITS) };
                let want = if x >= 0.0 { x } else { 2.0 * expm1 };
                prop_assert!((y(elu) - want).abs() <= qq + 2.0 * 2e-6, "elu {}", x);
                let (a, g) = (1.673_263_192_176_818_8f64, 1.050_701_022_148_132_3f64);
                let selu = Activation::Selu { gamma_alpha: quantize_at(a * g, ALPHA_BITS), gamma: quantize_at(g, ALPHA_BITS) };
                let want = (if x > 0.0 { g * x } else { g * a * expm1 }).min(i32::MAX as f64 / 4096.0);
                prop_assert!((y(selu) - want).abs() <= qq + a * g * 2e-6 + x.abs() * 2f64.powi(-25), "selu {}", x);
                let celu = Activation::Celu { alpha: quantize_at(2.0, ALPHA_BITS), inv_alpha: quantize_at(0.5, ALPHA_BITS) };
                let want = if x >= 0.0 { x } else { 2.0 * (x / 2.0).exp_m1() };
                // x/alpha rounded once (≤ 2^-13, times alpha·e^(x/alpha) ≤ alpha after
                // scaling back), plus Elu's bound.
                prop_assert!((y(celu) - want).abs() <= 3.0 * qq + 2.0 * 2e-6 + 1e-12, "celu {}", x);
                let th = Activation::ThresholdedRelu { bound: grid_floor(1.0) };
                prop_assert_eq!(y(th), if x > 1.0 { x } else { 0.0 });
                let sh = Activation::Shrink { lo: -grid_floor(0.5), hi: grid_floor(0.5), bias: quantize(0.25) };
                let max = i32::MAX as f64 / 4096.0;
                let want = if x > 0.5 { x - 0.25 } else if x < -0.5 { (x + 0.25).min(max) } else { 0.0 };
                prop_assert_eq!(y(sh), want);
                let sp = if x > 30.0 { x } else { x.exp().ln_1p() };
                let mish = x * sp.tanh();
                prop_assert!((y(Activation::Mish) - mish).abs() <= qq + x.abs() * (2.0 * qq + 7e-6), "mish {} {} {}", x, y(Activation::Mish), mish);
                let inner = (2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x);
                let gt = 0.5 * x * (1.0 + inner.tanh());
                let xm = x.abs().min(5.0);
                prop_assert!(
                    (y(Activation::GeluTanh) - gt).abs() <= qq + xm / 2.0 * (3.0 * qq + 4e-6),
                    "gelu tanh {} {} {}", x, y(Activation::GeluTanh), gt
                );
            }
        }
    }

    #[test]
    fn prelu_broadcasts_constant_slopes() {
        let p = PRelu {
            slopes: vec![quantize_at(0.25, ALPHA_BITS), quantize_at(-2.0, ALPHA_BITS)],
            shape: vec![2, 1],
        };
        let x = Tensor::new(vec![2, 2], vec![-4096, 4096, -2048, 8]);
        assert_eq!(p.output_shape("p", &[&x.shape]).unwrap(), vec![2, 2]);
        assert_eq!(p.eval(&x).data, vec![-1024, 4096, 4096, 8]);
        // The slope must broadcast to X, not X to the slope.
        assert!(p.output_shape("p", &[&[2]]).is_err());
    }

    /// `erf` for the reference (Abramowitz–Stegun 7.1.28 is too coarse; a series and a
    /// continued fraction are exact to ~1e-15 in f64).
    fn erf(x: f64) -> f64 {
        let a = x.abs();
        let r = if a < 3.0 {
            // Maclaurin series.
            let (mut term, mut sum, mut n) = (a, a, 0.0);
            while term.abs() > 1e-17 {
                n += 1.0;
                term *= -a * a / n;
                sum += term / (2.0 * n + 1.0);
            }
            2.0 / std::f64::consts::PI.sqrt() * sum
        } else {
            // erfc by its continued fraction.
            let mut f = 0.0;
            for k in (1..60).rev() {
                f = (k as f64 / 2.0) / (a + f);
            }
            1.0 - (-a * a).exp() / std::f64::consts::PI.sqrt() / (a + f)
        };
        r.copysign(x)
    }
}
