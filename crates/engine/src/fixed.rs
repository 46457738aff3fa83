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

/// Quantises a real number: `round_half_away(x * 2^FRAC_BITS)` saturated; NaN is 0,
/// +inf is `i32::MAX`, -inf is `i32::MIN`.
pub fn quantize(x: f64) -> i32 {
    if x.is_nan() {
        return 0;
    }
    let scaled = (x * ONE as f64).round();
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
    }

    #[test]
    fn div_round_is_floor_of_half_up() {
        assert_eq!(div_round(5, 2), 3);
        assert_eq!(div_round(-5, 2), -2);
        assert_eq!(div_round(7, 3), 2);
    }
}
