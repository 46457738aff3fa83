//! The fixed-point number format and its rounding rules (normative: `docs/numerics.md`).
//!
//! Every tensor value is an `i32` `q` standing for `q / 2^FRAC_BITS`. Products are formed
//! exactly in `i64`/`i128` and brought back with [`rescale`]: round half up (towards
//! +inf), then saturate to the `i32` range. No operation wraps, none panics.

/// Fractional bits of every tensor.
pub const FRAC_BITS: u32 = 12;
/// `2^FRAC_BITS`.
pub const ONE: i64 = 1 << FRAC_BITS;

/// Saturates an exact integer to the `i32` range.
pub fn saturate(v: i128) -> i32 {
    v.clamp(i32::MIN as i128, i32::MAX as i128) as i32
}

/// `floor((acc + 2^(shift-1)) / 2^shift)` saturated to `i32`: round half up.
pub fn rescale(acc: i128, shift: u32) -> i32 {
    if shift == 0 {
        return saturate(acc);
    }
    saturate((acc + (1i128 << (shift - 1))) >> shift)
}

/// `floor((num + floor(den/2)) / den)` for `den > 0`: division rounding half up.
pub fn div_round(num: i128, den: i128) -> i128 {
    debug_assert!(den > 0);
    (num + den / 2).div_euclid(den)
}

/// Significant bits (besides the sign) the largest weight of a weight tensor is given by
/// [`weight_frac_bits`].
pub const WEIGHT_BITS: u32 = 15;
/// The most fractional bits [`weight_frac_bits`] gives a weight tensor.
pub const MAX_WEIGHT_FRAC_BITS: u32 = 24;
/// Significant bits (besides the sign) the largest bias of a bias tensor is given by
/// [`bias_frac_bits`].
pub const BIAS_BITS: u32 = 30;

/// The most fractional bits in `lo..=hi` that keep the largest finite magnitude of `values`
/// below `2^bits`: `bits − e` for `max|v| ∈ [2^(e−1), 2^e)`, clamped; `lo` for all-zero
/// (or non-finite) values. Computed from the `f64` exponent bits alone, so every machine
/// agrees.
fn frac_bits_within(values: &[f64], bits: u32, lo: u32, hi: u32) -> u32 {
    let max = values
        .iter()
        .filter(|x| x.is_finite())
        .fold(0.0f64, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return lo;
    }
    // max ∈ [2^exp, 2^(exp+1)) with exp the unbiased exponent (subnormals: below 2^-1022).
    let exp = ((max.to_bits() >> 52) & 0x7ff) as i64 - 1023;
    (bits as i64 - (exp + 1)).clamp(lo as i64, hi as i64) as u32
}

/// Fractional bits `S` of a constant weight tensor (`Conv`'s `W`, `Gemm`'s and `MatMul`'s
/// `B`): the most in `FRAC_BITS..=MAX_WEIGHT_FRAC_BITS` that keep its largest magnitude below
/// `2^WEIGHT_BITS`. Small weights (a 1×1 projection with `|w| ≤ 0.08`) keep 15 significant
/// bits instead of the 8 a global `2^-12` leaves them.
pub fn weight_frac_bits(values: &[f64]) -> u32 {
    frac_bits_within(values, WEIGHT_BITS, FRAC_BITS, MAX_WEIGHT_FRAC_BITS)
}

/// Fractional bits `T` of the constant bias of a product whose weights have `S` of them:
/// the most in `FRAC_BITS..=FRAC_BITS + S` that keep its largest magnitude below
/// `2^BIAS_BITS`. A bias is added once to every output of its channel, so its rounding
/// error does not average out the way the products' does; `T = F + S` adds it exactly at
/// the product's scale.
pub fn bias_frac_bits(values: &[f64], weight_frac_bits: u32) -> u32 {
    frac_bits_within(values, BIAS_BITS, FRAC_BITS, FRAC_BITS + weight_frac_bits)
}

/// Quantises a real number: `round_half_away(x * 2^FRAC_BITS)` saturated; NaN is 0,
/// +inf is `i32::MAX`, -inf is `i32::MIN`.
pub fn quantize(x: f64) -> i32 {
    quantize_at(x, FRAC_BITS)
}

/// [`quantize`] at `frac_bits` fractional bits (`≤ 62`): `round_half_away(x·2^frac_bits)`
/// saturated; NaN is 0, ±inf saturate.
pub fn quantize_at(x: f64, frac_bits: u32) -> i32 {
    if x.is_nan() {
        return 0;
    }
    let scaled = (x * (1u64 << frac_bits) as f64).round();
    if scaled >= i32::MAX as f64 {
        i32::MAX
    } else if scaled <= i32::MIN as f64 {
        i32::MIN
    } else {
        scaled as i32
    }
}

/// The real number a fixed-point value stands for.
pub fn dequantize(q: i32) -> f64 {
    q as f64 / ONE as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rescale_rounds_half_up_and_saturates() {
        assert_eq!(rescale(3 << 10, 12), 1); // 0.75 -> 1
        assert_eq!(rescale(3 << 11, 12), 2); // 1.5 -> 2
        assert_eq!(rescale(1 << 11, 12), 1); // 0.5 -> 1
        assert_eq!(rescale(-(1 << 11), 12), 0); // -0.5 -> 0
        assert_eq!(rescale(-(3 << 10), 12), -1); // -0.75 -> -1
        assert_eq!(rescale(-(3 << 11), 12), -1); // -1.5 -> -1 (half up)
        assert_eq!(rescale(i128::MAX / 2, 12), i32::MAX);
        assert_eq!(rescale(i128::MIN / 2, 12), i32::MIN);
    }

    #[test]
    fn quantize_is_total() {
        assert_eq!(quantize(f64::NAN), 0);
        assert_eq!(quantize(f64::INFINITY), i32::MAX);
        assert_eq!(quantize(f64::NEG_INFINITY), i32::MIN);
        assert_eq!(quantize(1.0), 4096);
        assert_eq!(quantize(-0.5 / 4096.0), -1);
        assert_eq!(quantize(1e30), i32::MAX);
        assert_eq!(quantize_at(1.0, 20), 1 << 20);
        assert_eq!(quantize_at(-0.5, 0), -1);
    }

    #[test]
    fn weight_and_bias_scales_keep_the_largest_value_in_range() {
        assert_eq!(weight_frac_bits(&[0.08, -0.01]), 18); // 0.08 ∈ [2^-4, 2^-3)
        assert_eq!(weight_frac_bits(&[-0.125]), 17); // 0.125 = 2^-3 ∈ [2^-3, 2^-2)
        assert_eq!(weight_frac_bits(&[0.9]), 15);
        assert_eq!(weight_frac_bits(&[1.0]), 14);
        assert_eq!(weight_frac_bits(&[5.0]), FRAC_BITS); // would be 12 anyway
        assert_eq!(weight_frac_bits(&[300.0]), FRAC_BITS); // clamped up
        assert_eq!(weight_frac_bits(&[1e-9, 0.0]), MAX_WEIGHT_FRAC_BITS); // clamped down
        assert_eq!(weight_frac_bits(&[0.0, f64::NAN]), FRAC_BITS);
        assert_eq!(weight_frac_bits(&[f64::INFINITY, 0.5]), 15);
        assert_eq!(bias_frac_bits(&[0.3], 18), 30); // 0.3 ∈ [2^-2, 2^-1): 30 + 1 = 31 > 12 + 18
        assert_eq!(bias_frac_bits(&[-3.0], 18), 28);
        assert_eq!(bias_frac_bits(&[1e6], 18), FRAC_BITS);
        assert_eq!(bias_frac_bits(&[0.0], 18), FRAC_BITS);
        for v in [0.08, 0.125, 0.9, 1.0, 7.99, 1e-3] {
            let q = quantize_at(v, weight_frac_bits(&[v]));
            assert!(q.unsigned_abs() <= 1 << WEIGHT_BITS, "{v}: {q}");
        }
    }

    #[test]
    fn div_round_is_floor_of_half_up() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -2);
        assert_eq!(div_round(7, 3), 2);
    }
}
