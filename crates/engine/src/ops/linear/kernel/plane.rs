//! The direct single-channel (depthwise) convolution behind [`single_channel`](super::single_channel):
//! every tap of every output of a plane as one contiguous run.
//!
//! The padded input plane is split by row and column phase (phase `(qy, qx)` holds padded
//! rows `qy, qy + sh, …` and columns `qx, qx + sw, …`, all phases `hq × wq`). Outputs are
//! computed on a "wide" grid of `oh × wq` positions, flattened: output `(oy, ox)` is wide
//! position `f = oy·wq + ox`, and tap `(ky, kx)` reads phase `((ky·dh) mod sh, (kx·dw) mod
//! sw)` at `f + ⌊ky·dh/sh⌋·wq + ⌊kx·dw/sw⌋` — for every output, so each tap is one
//! contiguous run over the whole plane, whatever its width. The columns `ox ≥ ow` of the
//! wide grid are computed and dropped; they read input values or zeros, so the static bound
//! that makes the accumulator exact covers them too.

use super::{every_nth, room, Clamp, Lane, Scale, Window};

/// Wide positions computed together in registers: 32 `f64` are eight AVX2 registers, eight
/// independent multiply-add chains, enough to cover the FMA latency.
const N: usize = 32;

/// See the module documentation; the arguments are [`single_channel`](super::single_channel)'s.
#[inline(always)]
pub(super) fn body<L: Lane>(
    win: &Window,
    [planes, per_plane]: [usize; 2],
    image: &[i32],
    weights: &[i32],
    (bias, scale, bounds): (Option<&[i32]>, Scale, Clamp),
    out: &mut [i32],
) {
    let ([h, w], [oh, ow]) = (win.input, win.output);
    let ([kh, kw], [sh, sw], [dh, dw]) = (win.kernel, win.strides, win.dilations);
    let [top, left] = win.pad;
    if oh == 0 || ow == 0 {
        return;
    }
    // Padded size: every row and column a window reads (the output size guarantees them).
    let hp = (h + top).max((oh - 1) * sh + (kh - 1) * dh + 1);
    let wp = (w + left).max((ow - 1) * sw + (kw - 1) * dw + 1);
    let (hq, wq) = (hp.div_ceil(sh), wp.div_ceil(sw));
    // Wide positions, rounded up to whole runs, and the furthest any tap reads past them.
    let wide = (oh * wq).div_ceil(N) * N;
    let reach = ((kh - 1) * dh / sh) * wq + (kw - 1) * dw / sw;
    // Each phase: `hq × wq` values, then zeros up to the last run's last read.
    let phase_len = (hq * wq).max(wide + reach);
    let mut scratch = L::take();
    let phases = room(&mut scratch, sh * sw * phase_len, L::pack(0));
    let mut sums = vec![0i32; wide];
    // Per tap: its phase's start plus its offset within the phase.
    let taps: Vec<usize> = (0..kh * kw)
        .map(|t| {
            let (ky, kx) = (t / kw * dh, t % kw * dw);
            ((ky % sh) * sw + kx % sw) * phase_len + (ky / sh) * wq + kx / sw
        })
        .collect();
    // Phase columns `c` inside the plane: padded column `c·sw + qx − left` in `[0, w)`.
    let cols = |qx: usize| {
        let lo = left.saturating_sub(qx).div_ceil(sw).min(wq);
        let hi = (w + left).saturating_sub(qx).div_ceil(sw).clamp(lo, wq);
        (lo, hi)
    };
    // Padding and tails are zero for every plane; each plane overwrites the rest.
    phases.fill(L::pack(0));
    for g in 0..planes {
        let plane = &image[g * h * w..][..h * w];
        for (p, phase) in phases.chunks_exact_mut(phase_len).enumerate() {
            let (qy, qx) = (p / sw, p % sw);
            let (lo, hi) = cols(qx);
            for (r, dst) in phase[..hq * wq].chunks_exact_mut(wq).enumerate() {
                let Some(iy) = (r * sh + qy).checked_sub(top).filter(|iy| *iy < h) else {
                    continue;
                };
                if lo < hi {
                    // c ≥ lo, so the first column is not left of the plane.
                    let src = &plane[iy * w..][..w][lo * sw + qx - left..];
                    let dst = &mut dst[lo..hi];
                    every_nth::<L>(dst, src, sw);
                }
            }
        }
        let phases: &[L::Packed] = phases;
        for j in g * per_plane..(g + 1) * per_plane {
            let b = L::bias(bias.map_or(0, |b| b[j]), scale.lift);
            let wts: Vec<L> = weights[j * kh * kw..][..kh * kw]
                .iter()
                .map(|v| L::of(L::pack(*v)))
                .collect();
            for (c0, dst) in (0..wide).step_by(N).zip(sums.chunks_exact_mut(N)) {
                let mut acc = [b; N];
                for (&wv, &at) in wts.iter().zip(&taps) {
                    let run = &phases[at + c0..][..N];
                    for (a, &v) in acc.iter_mut().zip(run) {
                        *a = a.mac(wv, v);
                    }
                }
                for (d, a) in dst.iter_mut().zip(acc) {
                    *d = a.finish_clamped(scale.shift, bounds);
                }
            }
            let dst = &mut out[j * oh * ow..][..oh * ow];
            for (row, sums) in dst.chunks_exact_mut(ow).zip(sums.chunks(wq)) {
                row.copy_from_slice(&sums[..ow]);
            }
        }
    }
    L::keep(scratch);
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::{max_abs, single_channel, single_channel_rows, sum_abs, Acc, NO_CLAMP};
    use super::*;
    use crate::ops::test_values as values;

    /// A geometry whose kernel fits the padded input, with `[planes, per_plane]`.
    fn geometry() -> impl Strategy<Value = (Window, [usize; 2])> {
        (
            (1usize..20, 1usize..20),
            (1usize..4, 1usize..4),
            (1usize..4, 1usize..4),
            (1usize..4, 1usize..4),
            prop::array::uniform4(0usize..4),
            (1usize..4, 1usize..3),
        )
            .prop_filter_map(
                "kernel fits the padded input",
                |((h, w), (kh, kw), strides, dilations, pads, (planes, per_plane))| {
                    let kernel = [kh, kw];
                    let (strides, dilations) = ([strides.0, strides.1], [dilations.0, dilations.1]);
                    let span = |a: usize| dilations[a] * (kernel[a] - 1) + 1;
                    let padded = [h + pads[0] + pads[2], w + pads[1] + pads[3]];
                    if padded[0] < span(0) || padded[1] < span(1) {
                        return None;
                    }
                    let output = [0, 1].map(|a| (padded[a] - span(a)) / strides[a] + 1);
                    let win = Window {
                        input: [h, w],
                        output,
                        kernel,
                        strides,
                        dilations,
                        pad: [pads[0], pads[1]],
                    };
                    Some((win, [planes, per_plane]))
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        /// The whole-plane kernel, dispatched and in every lane the bound admits, against
        /// the previous row-by-row kernel in `i128`, on values up to `i32::MIN`/`i32::MAX`
        /// (saturating outputs included).
        #[test]
        fn equals_the_row_kernel(
            ((win, [planes, per_plane]), image, weights, bias, s, t) in geometry()
                .prop_flat_map(|(win, pp)| {
                    let taps = win.kernel[0] * win.kernel[1];
                    let outs = pp[0] * pp[1];
                    (
                        Just((win, pp)),
                        values(pp[0] * win.input[0] * win.input[1]),
                        values(outs * taps),
                        values(outs),
                        12u32..=24,
                        0u32..=24,
                    )
                }),
            with_bias in any::<bool>(),
            bounds in any::<[i32; 2]>(),
        ) {
            let scale = Scale::of(s, 12 + t.min(s));
            let bias = with_bias.then_some(bias.as_slice());
            let taps = win.kernel[0] * win.kernel[1];
            let xmax = max_abs(&image);
            let bound = weights
                .chunks(taps)
                .enumerate()
                .map(|(j, row)| {
                    let b = bias.map_or(0, |b| b[j].unsigned_abs() as u128);
                    (b << scale.lift).saturating_add(xmax.saturating_mul(sum_abs(row)))
                })
                .max()
                .unwrap_or(0);
            let acc = Acc::for_bound(bound);
            let n = planes * per_plane * win.output[0] * win.output[1];
            let mut want = vec![0; n];
            single_channel_rows::<i128>(&win, [planes, per_plane], &image, &weights, (bias, scale), &mut want);
            let mut got = vec![0; n];
            single_channel(acc, &win, [planes, per_plane], &image, &weights, (bias, scale, NO_CLAMP), &mut got);
            prop_assert_eq!(&got, &want, "dispatched {:?}", acc);
            // With an output clip fused: the same as clipping afterwards (`lo > hi` too).
            single_channel(acc, &win, [planes, per_plane], &image, &weights, (bias, scale, bounds), &mut got);
            let clipped: Vec<i32> = want.iter().map(|v| (*v).max(bounds[0]).min(bounds[1])).collect();
            prop_assert_eq!(&got, &clipped, "dispatched {:?}, clipped to {:?}", acc, bounds);
            body::<i128>(&win, [planes, per_plane], &image, &weights, (bias, scale, NO_CLAMP), &mut got);
            prop_assert_eq!(&got, &want, "i128");
            if acc != Acc::I128 {
                body::<i64>(&win, [planes, per_plane], &image, &weights, (bias, scale, NO_CLAMP), &mut got);
                prop_assert_eq!(&got, &want, "i64");
            }
            if acc == Acc::F64 {
                body::<f64>(&win, [planes, per_plane], &image, &weights, (bias, scale, NO_CLAMP), &mut got);
                prop_assert_eq!(&got, &want, "f64");
            }
        }
    }
}
