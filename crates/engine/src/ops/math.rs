//! Elementwise transcendental, rounding and power operators: `Erf`, `Tanh`, `Sqrt`, `Log`,
//! `Abs`, `Exp`, `Sign`, `Floor`, `Ceil`, `Round`, `Softsign`, `Softplus`, `Pow` with constant
//! integer exponents, and the variadic `Min`/`Max`/`Sum`/`Mean`.
//!
//! Every kernel is integer-only and total (normative: `docs/numerics.md`): `Erf` and `Tanh`
//! are built on the integer exponential of `Softmax` ([`exp_q30`]), `Sqrt` is the exactly
//! rounded integer square root, `Log` a bit-by-bit binary logarithm.

use serde::{Deserialize, Serialize};

use super::{
    binary::{broadcast, broadcast_index},
    input, shape_err,
    softmax::exp_q30,
    BuildCtx, Built, Op, Wire,
};
use crate::{
    fixed::{div_round, rescale, saturate, FRAC_BITS, ONE},
    import::GraphNode,
    Result, Tensor,
};

/// An elementwise unary function on fixed-point values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UnaryKind {
    /// `erf(x)`: Abramowitz–Stegun 7.1.26 with [`exp_q30`]; `|error| ≤ 2^-13 + 3·10^-6`.
    Erf,
    /// `tanh(x) = (1 − e)/(1 + e)`, `e = exp(−2|x|)` by [`exp_q30`]; `|error| ≤ 2^-13 + 4·10^-6`.
    Tanh,
    /// `sqrt(x)` exactly rounded (half up); `x < 0` gives 0.
    Sqrt,
    /// `ln(x)` by a bit-by-bit binary logarithm; `x ≤ 0` gives `i32::MIN` (−inf saturated).
    Log,
    /// `|x|` saturated (`i32::MIN` gives `i32::MAX`).
    Abs,
    /// `e^x`: [`exp_q`]; `|error| ≤ 2^-13 + 6·10^-6·max(e^x, 1)`, saturating above `e^13.17`.
    Exp,
    /// `sign(x)` ∈ {−1, 0, 1}: exact.
    Sign,
    /// `⌊x⌋`: exact.
    Floor,
    /// `⌈x⌉`: exact (saturated above `2^19 − 1`).
    Ceil,
    /// `x` rounded to the nearest integer, ties to even (ONNX `Round`): exact.
    Round,
    /// `x / (1 + |x|)`, rounded once (half up).
    Softsign,
    /// `ln(1 + e^x)`: [`softplus_q`]; `|error| ≤ 2^-13 + 3·10^-6`.
    Softplus,
    /// `sin(x)`: [`sin_q`]; `|error| ≤ 2^-13 + 10^-7`.
    Sin,
    /// `cos(x) = sin(x + π/2)`: [`cos_q`]; `|error| ≤ 2^-13 + 10^-7`.
    Cos,
}

impl UnaryKind {
    /// ONNX op type.
    pub fn name(&self) -> &'static str {
        match self {
            UnaryKind::Erf => "Erf",
            UnaryKind::Tanh => "Tanh",
            UnaryKind::Sqrt => "Sqrt",
            UnaryKind::Log => "Log",
            UnaryKind::Abs => "Abs",
            UnaryKind::Exp => "Exp",
            UnaryKind::Sign => "Sign",
            UnaryKind::Floor => "Floor",
            UnaryKind::Ceil => "Ceil",
            UnaryKind::Round => "Round",
            UnaryKind::Softsign => "Softsign",
            UnaryKind::Softplus => "Softplus",
            UnaryKind::Sin => "Sin",
            UnaryKind::Cos => "Cos",
        }
    }

    /// The function on one fixed-point value.
    pub fn apply(&self, q: i32) -> i32 {
        match self {
            UnaryKind::Erf => erf_q(q),
            UnaryKind::Tanh => tanh_q(q),
            UnaryKind::Sqrt => sqrt_q(q),
            UnaryKind::Log => ln_q(q),
            UnaryKind::Abs => saturate((q as i128).abs()),
            UnaryKind::Exp => exp_q(q),
            UnaryKind::Sign => q.signum() << FRAC_BITS,
            UnaryKind::Floor => (q >> FRAC_BITS) << FRAC_BITS,
            UnaryKind::Ceil => saturate((((q as i64 + ONE - 1) >> FRAC_BITS) << FRAC_BITS) as i128),
            UnaryKind::Round => {
                let (fl, r, half) = ((q as i64) >> FRAC_BITS, (q as i64) & (ONE - 1), ONE / 2);
                let k = if r > half || (r == half && fl & 1 == 1) {
                    fl + 1
                } else {
                    fl
                };
                saturate((k << FRAC_BITS) as i128)
            }
            UnaryKind::Softsign => {
                div_round((q as i128) << FRAC_BITS, ONE as i128 + (q as i128).abs()) as i32
            }
            UnaryKind::Softplus => softplus_q(q),
            UnaryKind::Sin => sin_q(q),
            UnaryKind::Cos => cos_q(q),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        let data = match self {
            // The same integers as `apply`, read from tables of it (built on first use).
            UnaryKind::Erf => x.data.iter().map(|q| erf_lookup(*q)).collect(),
            UnaryKind::Tanh => x.data.iter().map(|q| tanh_lookup(*q)).collect(),
            _ => x.data.iter().map(|q| self.apply(*q)).collect(),
        };
        Tensor::new(x.shape.clone(), data)
    }
}

/// `|q|` from which on [`erf_q`] is constant: it clamps `|q|` to 6 (at `2^-F`).
const ERF_FLAT: usize = 6 << FRAC_BITS;
/// `|q|` from which on [`tanh_q`] is constant: `exp_q30(−2|q|)` clamps `−2|q|` to `D_MIN`.
const TANH_FLAT: usize = (-super::softmax::D_MIN as usize).div_ceil(2);

/// `f(a)` for every `a` in `0..=flat`: the table of an odd function of `|q|` that is
/// constant from `flat` on.
fn odd_table(flat: usize, f: fn(i32) -> i32) -> Vec<i32> {
    (0..=flat as i32).map(f).collect()
}

/// [`erf_q`] by table: `erf_q` depends on `min(|q|, 6·2^F)` and the sign only.
pub(crate) fn erf_lookup(q: i32) -> i32 {
    static TABLE: std::sync::OnceLock<Vec<i32>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| odd_table(ERF_FLAT, erf_q));
    let y = t[(q.unsigned_abs() as usize).min(ERF_FLAT)];
    if q < 0 {
        -y
    } else {
        y
    }
}

/// [`tanh_q`] by table: `tanh_q` depends on `min(|q|, ⌈−D_MIN/2⌉)` and the sign only.
pub(crate) fn tanh_lookup(q: i32) -> i32 {
    static TABLE: std::sync::OnceLock<Vec<i32>> = std::sync::OnceLock::new();
    let t = TABLE.get_or_init(|| odd_table(TANH_FLAT, tanh_q));
    let y = t[(q.unsigned_abs() as usize).min(TANH_FLAT)];
    if q < 0 {
        -y
    } else {
        y
    }
}

/// `Neg(x)` as `Sub(0, x)` and `Reciprocal(x)` as `Div(1, x)`: the compound lowers to the
/// arithmetic kernel with a builder constant, so it inherits its semantics (saturation:
/// `−i32::MIN` is `i32::MAX`; `1/0` is `i32::MAX`) and its circuit.
pub(crate) fn build_neg_reciprocal(node: &GraphNode) -> Result<Built> {
    let (kind, c) = match node.op_type.as_str() {
        "Neg" => (super::BinaryKind::Sub, 0.0),
        _ => (super::BinaryKind::Div, 1.0),
    };
    Ok(Built {
        op: Op::Binary(kind),
        inputs: vec![
            Wire::Const(crate::import::Const {
                shape: vec![],
                data: crate::import::ConstData::Float(vec![c]),
            }),
            Wire::Value(input(node, 0)?),
        ],
    })
}

/// `round(e^K · 2^30)` for `K = 0..=14`.
pub const EXP_INT_Q30: [i64; 15] = [
    1_073_741_824,
    2_918_732_889,
    7_933_938_573,
    21_566_681_052,
    58_624_317_204,
    159_357_416_160,
    433_178_368_579,
    1_177_500_887_790,
    3_200_779_266_274,
    8_700_620_116_420,
    23_650_737_558_789,
    64_289_370_135_711,
    174_756_626_602_981,
    475_037_762_497_685,
    1_291_286_517_629_302,
];

/// `e^(q/2^F)` at scale `2^-F`: `q ≤ 0`: `rescale(exp_q30(q), 30 − F)`; `q > 0`: with
/// `K = ⌈q/2^F⌉` and `r = q − K·2^F ∈ (−2^F, 0]`, `rescale(exp_q30(r)·EXP_INT_Q30[K], 60 − F)`
/// (`i32::MAX` for `K > 14`, where `e^x > 2^19` saturates anyway).
pub fn exp_q(q: i32) -> i32 {
    if q <= 0 {
        return rescale(exp_q30(q as i64) as i128, 30 - FRAC_BITS);
    }
    let k = (q as i64 + ONE - 1) >> FRAC_BITS;
    let Some(ek) = EXP_INT_Q30.get(k as usize) else {
        return i32::MAX;
    };
    let r = q as i64 - (k << FRAC_BITS);
    rescale(exp_q30(r) as i128 * *ek as i128, 60 - FRAC_BITS)
}

/// `ln(1 + e^(q/2^F))` at scale `2^-F`: `max(q, 0) + ln(1 + e)` with `e = exp_q30(−|q|)` and
/// `ln(1 + e) = rescale(l·LN2_Q30, 60 − F)`, `l = log2_q30(2^30 + e) − 30·2^30` (`2^30` when
/// `e = 2^30`), saturated.
pub fn softplus_q(q: i32) -> i32 {
    let e = exp_q30(-(q as i64).abs());
    // INVARIANT: 0 ≤ e ≤ 2^30; `log2_q30` takes values below 2^31, and 2^30 + e = 2^31 (at
    // q = 0) has log2 exactly 31.
    let l = if e >= 1 << 30 {
        1i64 << 30
    } else {
        log2_q30(((1i64 << 30) + e) as u32) - (30i64 << 30)
    };
    let ln = rescale(l as i128 * LN2_Q30 as i128, 60 - FRAC_BITS);
    saturate(q.max(0) as i128 + ln as i128)
}

/// `round(2π · 2^40)`.
pub const TWO_PI_Q40: i128 = 6_908_435_304_715;
/// `round(π · 2^40)`.
pub const PI_Q40: i128 = 3_454_217_652_358;
/// `round(π/2 · 2^40)`.
pub const HALF_PI_Q40: i128 = 1_727_108_826_179;

/// `sin` of an angle `a` at scale `2^-40`, at scale `2^-30`: `a mod TWO_PI_Q40` moved to
/// `[−π, π)`, folded to `[−π/2, π/2]` (`sin(π − r) = sin r`), truncated to `2^-30`, then the
/// Taylor polynomial to degree 13 by Horner with floor shifts
/// (`r·(1 − r²/6·(1 − r²/20·(1 − … (1 − r²/156))))`; its remainder is `< 10^-9` there).
fn sin_a40_q30(a: i128) -> i64 {
    let mut r = a.rem_euclid(TWO_PI_Q40);
    if r >= PI_Q40 {
        r -= TWO_PI_Q40;
    }
    if r > HALF_PI_Q40 {
        r = PI_Q40 - r;
    } else if r < -HALF_PI_Q40 {
        r = -PI_Q40 - r;
    }
    let r = (r >> 10) as i64; // |r| ≤ π/2 at 2^-30
    let r2 = (r * r) >> 30;
    let mut t: i64 = 1 << 30;
    for k in [156i64, 110, 72, 42, 20, 6] {
        t = (1 << 30) - ((r2 * t) >> 30) / k;
    }
    (r * t) >> 30
}

/// `sin(q / 2^F)` at scale `2^-F`: `rescale(sin_a40_q30(q·2^28), 18)`. The reduction
/// constant is off by `< 2^-41` per period (`< 4·10^-8` at `|x| = 2^19`).
pub fn sin_q(q: i32) -> i32 {
    rescale(sin_a40_q30((q as i128) << 28) as i128, 30 - FRAC_BITS)
}

/// `cos(q / 2^F) = sin(q/2^F + π/2)` at scale `2^-F`.
pub fn cos_q(q: i32) -> i32 {
    rescale(
        sin_a40_q30(((q as i128) << 28) + HALF_PI_Q40) as i128,
        30 - FRAC_BITS,
    )
}

/// `floor(sqrt(n))`, exact (Newton's iteration from a power of two above the root).
pub fn isqrt(n: u128) -> u128 {
    if n < 2 {
        return n;
    }
    let bits = 128 - n.leading_zeros();
    let mut x = 1u128 << bits.div_ceil(2);
    loop {
        let y = (x + n / x) >> 1;
        if y >= x {
            return x;
        }
        x = y;
    }
}

/// `sqrt(n)` rounded to the nearest integer (no ties exist for integer `n`).
pub fn sqrt_round(n: u128) -> u128 {
    let s = isqrt(n);
    s + u128::from(n - s * s > s)
}

/// `sqrt(q / 2^F)` at scale `2^-F`: `round(sqrt(q·2^F))`; `q < 0` gives 0.
pub fn sqrt_q(q: i32) -> i32 {
    if q <= 0 {
        return 0;
    }
    sqrt_round((q as u128) << FRAC_BITS) as i32
}

/// `round(ln 2 · 2^30)`.
pub const LN2_Q30: i64 = 744_261_118;

/// `log2(q)` for `q > 0` at scale `2^-30`, floor of the bit-by-bit algorithm: the integer
/// part is the position of the top bit `b`; the mantissa `m = q/2^b ∈ [1, 2)` at scale
/// `2^-30` is squared 30 times (floor), each square `≥ 2` giving a fraction bit and a halving.
pub fn log2_q30(q: u32) -> i64 {
    debug_assert!(q > 0);
    let b = 31 - q.leading_zeros() as i64;
    let mut m = (q as u64) << (30 - b);
    let mut frac = 0i64;
    for i in 1..=30 {
        m = (m * m) >> 30;
        if m >= 1 << 31 {
            m >>= 1;
            frac |= 1 << (30 - i);
        }
    }
    (b << 30) + frac
}

/// `log2(v)` for `v > 0` at scale `2^-30`: the top 31 bits `m ∈ [2^30, 2^31)` of `v`
/// (truncated, a relative `< 2^-30`) through [`log2_q30`], plus the shift:
/// `log2_q30(m) + (b − 30)·2^30` for `v ∈ [2^b, 2^(b+1))`.
pub fn log2_wide_q30(v: u128) -> i64 {
    debug_assert!(v > 0);
    let b = 127 - v.leading_zeros() as i64;
    let m = if b >= 30 {
        v >> (b - 30)
    } else {
        v << (30 - b)
    };
    // INVARIANT: m ∈ [2^30, 2^31), a u32.
    log2_q30(m as u32) + ((b - 30) << 30)
}

/// `ln(v · 2^-k)` at scale `2^-F` for `v > 0`: `rescale((log2_wide_q30(v) − k·2^30)·LN2_Q30,
/// 60 − F)`, saturated.
pub fn ln_wide_q(v: u128, k: u32) -> i32 {
    let l = log2_wide_q30(v) - ((k as i64) << 30);
    rescale(l as i128 * LN2_Q30 as i128, 60 - FRAC_BITS)
}

/// `ln(q / 2^F)` at scale `2^-F`: `rescale((log2_q30(q) − F·2^30)·LN2_Q30, 48)`;
/// `q ≤ 0` gives `i32::MIN` (`ln 0 = −inf`, saturated; negative arguments too).
pub fn ln_q(q: i32) -> i32 {
    if q <= 0 {
        return i32::MIN;
    }
    let l = log2_q30(q as u32) - ((FRAC_BITS as i64) << 30);
    rescale(l as i128 * LN2_Q30 as i128, 48)
}

/// `tanh(q / 2^F)` at scale `2^-F`: `e = exp_q30(−2|q|)`, `y = div_round((2^30 − e)·2^F,
/// 2^30 + e)`, odd.
pub fn tanh_q(q: i32) -> i32 {
    let a = (q as i64).abs();
    let e = exp_q30(-2 * a) as i128;
    let y = div_round(((1i128 << 30) - e) << FRAC_BITS, (1i128 << 30) + e) as i32;
    if q < 0 {
        -y
    } else {
        y
    }
}

/// `round(0.3275911·2^30)`: `p` of Abramowitz–Stegun 7.1.26.
pub const ERF_P_Q30: i64 = 351_748_265;
/// `a1..a5` of Abramowitz–Stegun 7.1.26 at scale `2^-30`.
pub const ERF_A_Q30: [i64; 5] = [
    273_621_191,
    -305_476_044,
    1_526_231_383,
    -1_560_310_108,
    1_139_675_401,
];

/// `erf(q / 2^F)` at scale `2^-F`, odd: for `x = |q|/2^F` (clamped to 6),
/// `t = round(2^72 / (2^42 + p·|q|))` (`1/(1 + p x)` at `2^-30`), `P = t·(a1 + t·(a2 + …))`
/// by Horner with floor shifts, `e = exp(−x²)` from [`exp_q30`] of `⌊q²/2^F⌋` refined by the
/// remaining `r = q² mod 2^F` (`e − ⌊e·r/2^24⌋`), `y = rescale(2^30 − ⌊P·e/2^30⌋, 18)`.
pub fn erf_q(q: i32) -> i32 {
    let a = (q as i64).abs().min(6 << FRAC_BITS);
    let t = div_round(1i128 << 72, (1i128 << 42) + (ERF_P_Q30 * a) as i128) as i64;
    let mut acc = ERF_A_Q30[4];
    for c in ERF_A_Q30[..4].iter().rev() {
        acc = c + ((acc * t) >> 30);
    }
    let p = (acc * t) >> 30;
    let sq = a * a;
    let e0 = exp_q30(-(sq >> FRAC_BITS));
    let e = e0 - ((e0 * (sq & ((1 << FRAC_BITS) - 1))) >> 24);
    let erfc = (p as i128 * e as i128) >> 30;
    let y = rescale((1i128 << 30) - erfc, 30 - FRAC_BITS);
    if q < 0 {
        -y
    } else {
        y
    }
}

/// `Pow(X, Y)` for constant non-negative integer exponents `Y` (`≤ MAX_POW`, a scalar or a
/// tensor broadcast against `X` like numpy): elementwise [`pow_q`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pow {
    /// The exponents, row-major.
    pub exponents: Vec<u32>,
    /// Their shape (`[]` for one exponent).
    pub shape: Vec<usize>,
}

/// The largest exponent [`Pow`] takes: an `|x|^n` that overflows `i128` (`≥ 2^127`) is then
/// at least `2^(127 − 12·7) = 2^43` after the rescale, so it saturates either way.
pub const MAX_POW: u32 = 8;

/// `x^n` at scale `2^-F` for `n ≤ MAX_POW`: `n = 0`: `2^F` for every `x` (`0^0 = 1`);
/// `n = 1`: `x`; otherwise `rescale(x^n, (n − 1)·F)` of the exact power, which saturates
/// (by its sign) when it overflows `i128`.
pub fn pow_q(q: i32, n: u32) -> i32 {
    match n {
        0 => 1 << FRAC_BITS,
        1 => q,
        n => {
            let p = (0..n).try_fold(1i128, |acc, _| acc.checked_mul(q as i128));
            match p {
                // floor((p + 2^(s−1)) / 2^s) without the addition (which could overflow).
                Some(p) => {
                    let s = (n - 1) * FRAC_BITS;
                    saturate((p >> s) + ((p >> (s - 1)) & 1))
                }
                None if q < 0 && n % 2 == 1 => i32::MIN,
                None => i32::MAX,
            }
        }
    }
}

/// [`pow_q`]`(q, 2)` in `i64`: `q² ≤ 2^62` never overflows, and the rounding shifts are the
/// same integers.
#[inline(always)]
fn square_q(q: i32) -> i32 {
    let p = q as i64 * q as i64;
    let s = FRAC_BITS;
    ((p >> s) + ((p >> (s - 1)) & 1)).min(i32::MAX as i64) as i32
}

impl Pow {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] => broadcast(&[x, &self.shape]).ok_or_else(|| {
                shape_err(node, format!("X broadcastable with {:?}", self.shape), ins)
            }),
            _ => Err(shape_err(node, "exactly one input", ins)),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        // One exponent for every element of an input of the output's shape (`Pow(x, 2)`):
        // no index maps.
        if let ([n], true) = (self.exponents.as_slice(), x.shape == out_shape) {
            let data = match n {
                2 => x.data.iter().map(|q| square_q(*q)).collect(),
                n => x.data.iter().map(|q| pow_q(*q, *n)).collect(),
            };
            return Tensor::new(out_shape.to_vec(), data);
        }
        let ix = broadcast_index(&x.shape, out_shape);
        let ie = broadcast_index(&self.shape, out_shape);
        let data = ix
            .into_iter()
            .zip(ie)
            .map(|(i, e)| pow_q(x.data[i], self.exponents[e]))
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// Which extremum a variadic `Min`/`Max` takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExtremumKind {
    /// Elementwise minimum.
    Min,
    /// Elementwise maximum.
    Max,
    /// Elementwise sum (exact, saturated).
    Sum,
    /// Elementwise mean: the exact sum divided by the number of inputs, rounded half up.
    Mean,
}

impl ExtremumKind {
    /// ONNX op type.
    pub fn name(&self) -> &'static str {
        match self {
            ExtremumKind::Min => "Min",
            ExtremumKind::Max => "Max",
            ExtremumKind::Sum => "Sum",
            ExtremumKind::Mean => "Mean",
        }
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match broadcast(ins) {
            Some(s) if !ins.is_empty() => Ok(s),
            _ => Err(shape_err(node, "one or more broadcastable inputs", ins)),
        }
    }

    /// Exact elementwise min, max, sum or mean with numpy broadcasting.
    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let n: usize = out_shape.iter().product();
        let mut out = vec![
            match self {
                ExtremumKind::Min => i32::MAX as i64,
                ExtremumKind::Max => i32::MIN as i64,
                ExtremumKind::Sum | ExtremumKind::Mean => 0,
            };
            n
        ];
        for t in ins {
            let idx = broadcast_index(&t.shape, out_shape);
            for (o, i) in out.iter_mut().zip(idx) {
                let v = t.data[i] as i64;
                *o = match self {
                    ExtremumKind::Min => (*o).min(v),
                    ExtremumKind::Max => (*o).max(v),
                    ExtremumKind::Sum | ExtremumKind::Mean => *o + v,
                };
            }
        }
        let k = ins.len().max(1) as i128;
        let data = out
            .into_iter()
            .map(|v| match self {
                ExtremumKind::Mean => saturate(div_round(v as i128, k)),
                _ => saturate(v as i128),
            })
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

pub(crate) fn build_unary(node: &GraphNode) -> Result<Built> {
    let kind = match node.op_type.as_str() {
        "Erf" => UnaryKind::Erf,
        "Tanh" => UnaryKind::Tanh,
        "Sqrt" => UnaryKind::Sqrt,
        "Log" => UnaryKind::Log,
        "Exp" => UnaryKind::Exp,
        "Sign" => UnaryKind::Sign,
        "Floor" => UnaryKind::Floor,
        "Ceil" => UnaryKind::Ceil,
        "Round" => UnaryKind::Round,
        "Softsign" => UnaryKind::Softsign,
        "Softplus" => UnaryKind::Softplus,
        "Sin" => UnaryKind::Sin,
        "Cos" => UnaryKind::Cos,
        _ => UnaryKind::Abs,
    };
    Ok(Built {
        op: Op::Unary(kind),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

pub(crate) fn build_pow(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = Wire::Value(input(node, 0)?);
    let y = input(node, 1)?;
    let c = ctx
        .constant(&y)
        .ok_or_else(|| node.bad_attr("Y", "the exponent must be a constant"))?;
    let vals = c.data.as_floats();
    if vals == [0.5] {
        return Ok(Built {
            op: Op::Unary(UnaryKind::Sqrt),
            inputs: vec![x],
        });
    }
    let exponents = vals
        .iter()
        .map(|e| {
            (e.fract() == 0.0 && (0.0..=MAX_POW as f64).contains(e))
                .then_some(*e as u32)
                .ok_or_else(|| {
                    node.bad_attr(
                        "Y",
                        format!(
                            "exponent {e}: only the integers 0..={MAX_POW} (and one exponent 0.5) are supported"
                        ),
                    )
                })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Built {
        op: Op::Pow(Pow {
            exponents,
            shape: c.shape.clone(),
        }),
        inputs: vec![x],
    })
}

pub(crate) fn build_extremum(node: &GraphNode) -> Result<Built> {
    let kind = match node.op_type.as_str() {
        "Min" => ExtremumKind::Min,
        "Max" => ExtremumKind::Max,
        "Sum" => ExtremumKind::Sum,
        _ => ExtremumKind::Mean,
    };
    let inputs = node
        .inputs
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| Wire::Value(s.clone()))
        .collect::<Vec<_>>();
    if inputs.is_empty() {
        return Err(crate::EngineError::MissingField {
            node: node.name.clone(),
            field: "input",
        });
    }
    Ok(Built {
        op: Op::Extremum(kind),
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The tables hold exactly the functions: every `|q|` up to past where they turn
    /// constant, both signs, and the extremes.
    #[test]
    fn erf_and_tanh_tables_equal_the_functions() {
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -(1 << 20),
            1 << 20,
            i32::MAX - 1,
            i32::MAX,
        ];
        for q in (-50_000..=50_000).chain(edges) {
            assert_eq!(erf_lookup(q), erf_q(q), "erf {q}");
            assert_eq!(tanh_lookup(q), tanh_q(q), "tanh {q}");
        }
    }

    /// `Pow(x, 2)`'s `i64` square equals `pow_q(x, 2)` (on extremes and a sweep), and the
    /// scalar-exponent path equals the broadcast one.
    #[test]
    fn square_equals_pow_q() {
        let edges = [
            i32::MIN,
            i32::MIN + 1,
            -46_341 << 12,
            46_341 << 12,
            i32::MAX,
        ];
        for q in (-300_000..=300_000).step_by(7).chain(edges) {
            assert_eq!(square_q(q), pow_q(q, 2), "{q}");
        }
        let x = Tensor::new(vec![2, 3], vec![i32::MIN, -4096, -1, 0, 5000, i32::MAX]);
        for n in [0, 1, 2, 3, 7] {
            let p = Pow {
                exponents: vec![n],
                shape: vec![],
            };
            let want: Vec<i32> = x.data.iter().map(|q| pow_q(*q, n)).collect();
            assert_eq!(p.eval(&x, &[2, 3]).data, want, "n = {n}");
        }
    }
    use crate::fixed::dequantize;

    const ULP: f64 = 1.0 / 4096.0;

    /// erf by its Taylor series (|x| ≤ 3.5, cancellation below 1e-12) and 1 beyond (erfc(3.5)
    /// < 7.5e-7).
    fn erf_ref(x: f64) -> f64 {
        if x.abs() > 3.5 {
            return x.signum();
        }
        let (mut term, mut sum, mut n) = (x, x, 0.0);
        while term.abs() > 1e-18 {
            n += 1.0;
            term *= -x * x / n;
            sum += term / (2.0 * n + 1.0);
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn any_q() -> impl Strategy<Value = i32> {
        prop_oneof![
            -40_000i32..40_000,
            any::<i32>(),
            prop::sample::select(vec![i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX]),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        #[test]
        fn erf_within_bound(q in any_q()) {
            let (y, r) = (dequantize(erf_q(q)), erf_ref(dequantize(q)));
            prop_assert!((y - r).abs() <= ULP / 2.0 + 3e-6 + 7.5e-7, "{q}: {y} vs {r}");
            let q2 = q.max(-i32::MAX);
            prop_assert_eq!(erf_q(-q2), -erf_q(q2));
        }

        #[test]
        fn tanh_within_bound(q in any_q()) {
            let (y, r) = (dequantize(tanh_q(q)), dequantize(q).tanh());
            prop_assert!((y - r).abs() <= ULP / 2.0 + 4e-6, "{q}: {y} vs {r}");
        }

        #[test]
        fn sqrt_is_exactly_rounded(q in any_q()) {
            let y = sqrt_q(q);
            if q <= 0 {
                prop_assert_eq!(y, 0);
            } else {
                let r = dequantize(q).sqrt();
                prop_assert!((dequantize(y) - r).abs() <= ULP / 2.0 + 1e-12, "{q}: {y} vs {r}");
            }
        }

        #[test]
        fn log_within_bound(q in any_q()) {
            let y = ln_q(q);
            if q <= 0 {
                prop_assert_eq!(y, i32::MIN);
            } else {
                let r = dequantize(q).ln();
                prop_assert!((dequantize(y) - r).abs() <= ULP / 2.0 + 1e-7, "{q}: {y} vs {r}");
            }
        }

        #[test]
        fn pow_is_exactly_rounded(q in any_q(), n in 0u32..=MAX_POW) {
            let y = pow_q(q, n);
            let r = dequantize(q).powi(n as i32);
            let r = r.clamp(dequantize(i32::MIN), dequantize(i32::MAX));
            // f64 powi is exact to 2^-52 relative; the kernel rounds once (half up).
            prop_assert!((dequantize(y) - r).abs() <= ULP / 2.0 + r.abs() * 1e-15, "{q}^{n}: {y} vs {r}");
        }

        #[test]
        fn exp_within_bound(q in any_q()) {
            let x = dequantize(q);
            let r = x.exp().min(dequantize(i32::MAX));
            let y = dequantize(exp_q(q));
            prop_assert!((y - r).abs() <= ULP / 2.0 + 6e-6 * r.max(1.0), "{q}: {y} vs {r}");
        }

        #[test]
        fn softplus_and_softsign_within_bound(q in any_q()) {
            let x = dequantize(q);
            let r = if x > 30.0 { x } else { x.exp().ln_1p() };
            let y = dequantize(softplus_q(q));
            prop_assert!((y - r).abs() <= ULP / 2.0 + 3e-6, "softplus {q}: {y} vs {r}");
            let r = x / (1.0 + x.abs());
            let y = dequantize(UnaryKind::Softsign.apply(q));
            prop_assert!((y - r).abs() <= ULP / 2.0 + 1e-12, "softsign {q}: {y} vs {r}");
        }

        #[test]
        fn rounding_ops_are_exact(q in any_q()) {
            let x = dequantize(q);
            let max = dequantize(i32::MAX);
            prop_assert_eq!(dequantize(UnaryKind::Floor.apply(q)), x.floor());
            prop_assert_eq!(dequantize(UnaryKind::Ceil.apply(q)), x.ceil().min(max));
            prop_assert_eq!(dequantize(UnaryKind::Round.apply(q)), x.round_ties_even().min(max));
            prop_assert_eq!(dequantize(UnaryKind::Sign.apply(q)), if q == 0 { 0.0 } else { x.signum() });
        }

        #[test]
        fn wide_log_within_bound(v in 1u128..(1u128 << 100), k in 0u32..40) {
            let y = dequantize(ln_wide_q(v, k));
            let r = (v as f64).ln() - k as f64 * std::f64::consts::LN_2;
            let r = r.clamp(dequantize(i32::MIN), dequantize(i32::MAX));
            // One rounding, the truncation to 31 bits (< 2^-30 relative), log2_q30's floors.
            prop_assert!((y - r).abs() <= ULP / 2.0 + 1e-7, "{v} {k}: {y} vs {r}");
        }

        #[test]
        fn sin_cos_within_bound(q in any_q()) {
            let x = dequantize(q);
            let (s, c) = (dequantize(sin_q(q)), dequantize(cos_q(q)));
            prop_assert!((s - x.sin()).abs() <= ULP / 2.0 + 1e-7, "sin {q}: {s} vs {}", x.sin());
            prop_assert!((c - x.cos()).abs() <= ULP / 2.0 + 1e-7, "cos {q}: {c} vs {}", x.cos());
        }

        #[test]
        fn abs_saturates(q in any_q()) {
            prop_assert_eq!(UnaryKind::Abs.apply(q) as i64, (q as i64).abs().min(i32::MAX as i64));
        }
    }

    #[test]
    fn extremes_and_special_points() {
        assert_eq!(erf_q(0), 0);
        assert_eq!(erf_q(i32::MAX), 4096);
        assert_eq!(erf_q(i32::MIN), -4096);
        assert_eq!(tanh_q(0), 0);
        assert_eq!(tanh_q(i32::MAX), 4096);
        assert_eq!(tanh_q(i32::MIN), -4096);
        assert_eq!(sqrt_q(4096), 4096);
        assert_eq!(sqrt_q(i32::MAX), 2_965_821); // sqrt(2^31·2^12) ≈ 2965820.99
        assert_eq!(ln_q(4096), 0);
        assert_eq!(ln_q(0), i32::MIN);
        assert_eq!(ln_q(-5), i32::MIN);
        assert_eq!(ln_q(1), -34_070); // ln(2^-12)·2^12 = -34069.78
        assert_eq!(pow_q(0, 0), 4096);
        assert_eq!(pow_q(i32::MIN, 3), i32::MIN);
        assert_eq!(pow_q(i32::MIN, 2), i32::MAX);
        assert_eq!(pow_q(i32::MIN, 4), i32::MAX);
        assert_eq!(pow_q(i32::MIN, MAX_POW), i32::MAX);
        assert_eq!(pow_q(i32::MAX, MAX_POW - 1), i32::MAX);
        assert_eq!(pow_q(-2 * 4096, 7), -128 * 4096);
        assert_eq!(pow_q(4096 + 2048, 8), 104_976); // 1.5^8 = 25.62890625, exact
        let p = Pow {
            exponents: vec![1, 2, 3],
            shape: vec![3],
        };
        let x = Tensor::new(vec![2, 1], vec![2 << 12, -(3 << 12)]);
        let shape = p.output_shape("p", &[&x.shape]).unwrap();
        assert_eq!(shape, vec![2, 3]);
        let y = p.eval(&x, &shape);
        assert_eq!(
            y.data,
            vec![2 << 12, 4 << 12, 8 << 12, -(3 << 12), 9 << 12, -(27 << 12)]
        );
        assert!(p.output_shape("p", &[&[2, 2]]).is_err());
        assert_eq!(isqrt(u128::MAX), u64::MAX as u128);
        assert_eq!(sqrt_round(u128::MAX), 1u128 << 64);
    }

    #[test]
    fn min_max_broadcast() {
        let a = Tensor::new(vec![2, 1], vec![1, 5]);
        let b = Tensor::new(vec![3], vec![0, 3, 9]);
        let shape = ExtremumKind::Min
            .output_shape("m", &[&a.shape, &b.shape])
            .unwrap();
        assert_eq!(shape, vec![2, 3]);
        let y = ExtremumKind::Min.eval(&[&a, &b], &shape);
        assert_eq!(y.data, vec![0, 1, 1, 0, 3, 5]);
        let y = ExtremumKind::Max.eval(&[&a, &b], &shape);
        assert_eq!(y.data, vec![1, 3, 9, 5, 5, 9]);
        assert!(ExtremumKind::Max.output_shape("m", &[&[2], &[3]]).is_err());
    }
}
