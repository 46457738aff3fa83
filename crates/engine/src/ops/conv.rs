//! `Conv`: 2-D grouped convolution, NCHW: a direct kernel for depthwise groups, an exact
//! blocked product with the (virtual) im2col matrix otherwise.

use serde::{Deserialize, Serialize};

use super::{
    input, input_shape,
    linear::kernel::{self, Acc, Bias, Clamp, Rows, Scale, Strided, Window, NO_CLAMP},
    shape_err, BuildCtx, Built, Op, Wire,
};
use crate::{
    fixed::{bias_frac_bits, FRAC_BITS},
    import::GraphNode,
    EngineError, Result, Tensor,
};

/// 2-D convolution. `acc = Σ x·w + b·2^(F+S−T)` over the window (padding reads zero), then
/// [`rescale`](crate::fixed::rescale) by `S`: weights at `2^-S`, the bias at `2^-T`
/// ([`Scale`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conv {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[dh, dw]`.
    pub dilations: [usize; 2],
    /// Channel groups.
    pub group: usize,
    /// Whether a bias input is present.
    pub has_bias: bool,
    /// Fractional bits `S` of the weights: [`weight_frac_bits`](crate::fixed::weight_frac_bits) of constant weights, `F` for
    /// computed ones. `Σ x·w` then carries `F + S` of them and is rescaled by `S`.
    pub weight_frac_bits: u32,
    /// Fractional bits `T` of the bias: [`bias_frac_bits`] of a constant bias (`F ≤ T ≤
    /// F + S`), `F` for a computed one.
    pub bias_frac_bits: u32,
}

impl Conv {
    /// The scales around the window sums: the bias lifted by `F + S − T`, the sum rescaled
    /// by `S`.
    pub fn scale(&self) -> Scale {
        Scale::of(self.weight_frac_bits, self.bias_frac_bits)
    }

    /// Output spatial size along one axis.
    fn out_dim(&self, size: usize, axis: usize) -> Option<usize> {
        let span = self.dilations[axis] * (self.kernel[axis] - 1) + 1;
        let padded = size + self.pads[axis] + self.pads[axis + 2];
        (padded >= span).then(|| (padded - span) / self.strides[axis] + 1)
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let (x, w) = match ins {
            [x, w] | [x, w, _] if x.len() == 4 && w.len() == 4 => (x, w),
            _ => return Err(shape_err(node, "X [N,C,H,W] and W [M,C/g,kh,kw]", ins)),
        };
        let ok = x[1] == w[1] * self.group
            && w[0] % self.group == 0
            && [w[2], w[3]] == self.kernel
            && (!self.has_bias || ins.get(2).is_some_and(|b| *b == [w[0]]));
        let (oh, ow) = match (self.out_dim(x[2], 0), self.out_dim(x[3], 1)) {
            (Some(h), Some(w)) if ok => (h, w),
            _ => {
                return Err(shape_err(
                    node,
                    format!(
                        "channels {}·group {} and kernel {:?} fitting the padded input",
                        w[1], self.group, self.kernel
                    ),
                    ins,
                ))
            }
        };
        Ok(vec![x[0], w[0], oh, ow])
    }

    /// im2col of one image and group: rows `(c, ky, kx)`, columns output positions;
    /// padding positions are zero.
    pub fn im2col(&self, x: &Tensor, n: usize, g: usize, oh: usize, ow: usize) -> Vec<i32> {
        let (c_all, h, w) = (x.shape[1], x.shape[2], x.shape[3]);
        let cg = c_all / self.group;
        let [kh, kw] = self.kernel;
        let mut cols = vec![0i32; cg * kh * kw * oh * ow];
        for c in 0..cg {
            let plane = &x.data[((n * c_all) + g * cg + c) * h * w..][..h * w];
            for ky in 0..kh {
                for kx in 0..kw {
                    let row = &mut cols[((c * kh + ky) * kw + kx) * oh * ow..][..oh * ow];
                    for oy in 0..oh {
                        let iy = (oy * self.strides[0] + ky * self.dilations[0]) as isize
                            - self.pads[0] as isize;
                        if iy < 0 || iy >= h as isize {
                            continue;
                        }
                        for ox in 0..ow {
                            let ix = (ox * self.strides[1] + kx * self.dilations[1]) as isize
                                - self.pads[1] as isize;
                            if ix >= 0 && ix < w as isize {
                                row[oy * ow + ox] = plane[iy as usize * w + ix as usize];
                            }
                        }
                    }
                }
            }
        }
        cols
    }

    /// Runs the convolution: for every image `n`, group `g` and output channel `m` of the
    /// group, `y[n][m][oy][ox] = rescale(b[m]·2^L + Σ_{c,ky,kx} w[m][c][ky][kx]·x[n][g·C/g + c]
    /// [oy·sh + ky·dh − top][ox·sw + kx·dw − left], S)` ([`Scale`]), padding reading zero,
    /// the sum exact.
    ///
    /// Groups whose output channels each read a single input channel (`C/g = 1`: depthwise)
    /// run as a direct convolution ([`kernel::single_channel`]); the others as the product of
    /// the group's weights (`M/g × C/g·kh·kw`) with the image's im2col matrix
    /// (`C/g·kh·kw × oh·ow`, [`Im2col`], never built whole) ([`kernel::gemm`]). The
    /// accumulator ([`Acc`]) is chosen from [`Conv::bound`]: `f64` when it proves every
    /// partial sum an exact `f64` integer (≤ 2^53), `i64` when it fits that, `i128` otherwise.
    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        self.eval_prepared(ins, out_shape, (None, None), NO_CLAMP)
    }

    /// The weight-side data [`Conv::eval_prepared`] reuses across calls, for the constant
    /// weights `w`: each output channel's `Σ|w[m]|` and, where the groups run as a product,
    /// their weights packed for the `f64` accumulator ([`kernel::Panels`]).
    pub(crate) fn prepare(&self, w: &Tensor) -> ConvWeights {
        let (m_all, cg) = (w.shape[0], w.shape[1]);
        let kdim = cg * self.kernel[0] * self.kernel[1];
        let mg = m_all / self.group;
        let row_sums = w.data.chunks(kdim.max(1)).map(kernel::sum_abs).collect();
        let panels = if cg == 1 {
            Vec::new()
        } else {
            (0..self.group)
                .map(|g| kernel::Panels::pack(Self::group_weights(w, g, mg, kdim)))
                .collect()
        };
        ConvWeights { row_sums, panels }
    }

    /// The weights of group `g`: `mg × kdim`.
    fn group_weights(w: &Tensor, g: usize, mg: usize, kdim: usize) -> Strided<'_> {
        Strided {
            data: &w.data[g * mg * kdim..][..mg * kdim],
            rows: mg,
            cols: kdim,
            rs: kdim,
            cs: 1,
        }
    }

    /// [`Conv::eval`], with the weight-side data of `ins[1]` computed beforehand
    /// ([`Conv::prepare`] of these very weights) when `prepared` is given, then every output
    /// clipped to `bounds` (`min(max(v, lo), hi)`, a fused `Clip`/`Relu`; [`NO_CLAMP`]
    /// keeps them): the same integers as `Clip` applied to [`Conv::eval`]'s. `x_abs_bound`,
    /// when given, must bound `|x|` for every input value (a `Clip`'s range): the bound it
    /// gives is then at least the one from the exact `max|x|`, so an accumulator it admits
    /// is exact; it is used when it admits `f64` (sparing the pass over `x`), the exact
    /// `max|x|` otherwise.
    pub(crate) fn eval_prepared(
        &self,
        ins: &[&Tensor],
        out_shape: &[usize],
        (prepared, x_abs_bound): (Option<&ConvWeights>, Option<u128>),
        bounds: Clamp,
    ) -> Tensor {
        let (x, w) = (ins[0], ins[1]);
        let bias = self.has_bias.then(|| ins[2].data.as_slice());
        let [batch, m_all, oh, ow] = [out_shape[0], out_shape[1], out_shape[2], out_shape[3]];
        let [c_all, h, wd] = [x.shape[1], x.shape[2], x.shape[3]];
        let (cg, mg) = (w.shape[1], m_all / self.group);
        let kdim = cg * self.kernel[0] * self.kernel[1];
        let positions = oh * ow;
        let scale = self.scale();
        let row_sums = prepared.map(|p| p.row_sums.as_slice());
        let bound = |xmax| Self::bound(xmax, (&w.data, row_sums), kdim, (bias, scale.lift));
        let acc = match x_abs_bound.map(|b| Acc::for_bound(bound(b))) {
            Some(Acc::F64) => Acc::F64,
            _ => Acc::for_bound(bound(kernel::max_abs(&x.data))),
        };
        let window = Window {
            input: [h, wd],
            output: [oh, ow],
            kernel: self.kernel,
            strides: self.strides,
            dilations: self.dilations,
            pad: [self.pads[0], self.pads[1]],
        };
        let mut out = vec![0i32; batch * m_all * positions];
        for n in 0..batch {
            let image = &x.data[n * c_all * h * wd..][..c_all * h * wd];
            let dst = &mut out[n * m_all * positions..][..m_all * positions];
            if cg == 1 {
                let planes = [self.group, mg];
                let epilogue = (bias, scale, bounds);
                kernel::single_channel(acc, &window, planes, image, &w.data, epilogue, dst);
                continue;
            }
            for g in 0..self.group {
                let weights = Self::group_weights(w, g, mg, kdim);
                let cols = Im2col {
                    window,
                    image: &image[g * cg * h * wd..][..cg * h * wd],
                    channels: cg,
                };
                let bias = bias.map_or(Bias::None, |b| Bias::Row(&b[g * mg..][..mg]));
                let dst = &mut dst[g * mg * positions..][..mg * positions];
                match prepared.and_then(|p| p.panels.get(g)) {
                    Some(panels) if acc == Acc::F64 => {
                        kernel::gemm_packed(panels, &cols, (bias, scale), bounds, dst, positions)
                    }
                    _ => {
                        kernel::gemm(acc, weights, &cols, (bias, scale), dst, positions);
                        if bounds != NO_CLAMP {
                            let [lo, hi] = bounds;
                            dst.iter_mut().for_each(|v| *v = (*v).max(lo).min(hi));
                        }
                    }
                }
            }
        }
        Tensor::new(out_shape.to_vec(), out)
    }

    /// A bound on `|b[m]·2^L| + Σ |w·x|` over every output: `max_m (|b[m]|·2^L +
    /// xmax·Σ|w[m]|)` for weight rows of `kdim` values (their sums `Σ|w[m]|` taken from
    /// `row_sums` when given: [`Conv::prepare`]), `xmax ≥ max|x|`. Every partial sum of
    /// every output is at most this.
    fn bound(
        xmax: u128,
        (w, row_sums): (&[i32], Option<&[u128]>),
        kdim: usize,
        (bias, lift): (Option<&[i32]>, u32),
    ) -> u128 {
        let with = |m: usize, wsum: u128| {
            let b = bias.map_or(0, |b| b[m].unsigned_abs() as u128);
            (b << lift).saturating_add(xmax.saturating_mul(wsum))
        };
        match row_sums {
            Some(sums) => sums.iter().enumerate().map(|(m, s)| with(m, *s)).max(),
            None => w
                .chunks(kdim.max(1))
                .enumerate()
                .map(|(m, row)| with(m, kernel::sum_abs(row)))
                .max(),
        }
        .unwrap_or(0)
    }
}

/// What [`Conv::prepare`] derives from constant weights, once.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConvWeights {
    /// `Σ|w[m]|` of each output channel `m` (exact).
    row_sums: Vec<u128>,
    /// Each group's weights packed for the `f64` accumulator (none for single-channel
    /// groups, which read the weights directly).
    panels: Vec<kernel::Panels>,
}

/// The im2col matrix of one image and group, read row segment by row segment and never
/// built whole: row `(c, ky, kx)` (`c` of the group's channels), column `oy·ow + ox` holds
/// `x[c][oy·sh + ky·dh − top][ox·sw + kx·dw − left]`, zero in the padding.
struct Im2col<'a> {
    /// Sizes, strides, dilations and padding.
    window: Window,
    /// The group's `channels` input planes, `h × w` each.
    image: &'a [i32],
    /// Input channels of the group.
    channels: usize,
}

impl Rows for Im2col<'_> {
    fn dims(&self) -> (usize, usize) {
        let (w, [kh, kw]) = (&self.window, self.window.kernel);
        (self.channels * kh * kw, w.output[0] * w.output[1])
    }

    /// A 1×1 window of stride 1 without padding reads each plane as it is: row `c` is
    /// plane `c` (straight into the panels, [`kernel::pack_contiguous`]); otherwise row by
    /// row.
    #[inline(always)]
    fn panels<T: Copy, const W: usize>(
        &self,
        [c0, c1]: [usize; 2],
        out: &mut [T],
        line: &mut [T],
        pack: impl Fn(i32) -> T,
    ) {
        let win = &self.window;
        if win.kernel == [1, 1]
            && win.strides == [1, 1]
            && win.pad == [0, 0]
            && win.output == win.input
        {
            let plane = win.input[0] * win.input[1];
            let row = |r: usize| &self.image[r * plane + c0..][..c1 - c0];
            return kernel::pack_contiguous::<T, W>(row, self.channels, out, pack);
        }
        kernel::pack_rows::<Self, T, W>(self, [c0, c1], out, line, pack)
    }

    #[inline(always)]
    fn row<T: Copy>(&self, r: usize, c0: usize, dst: &mut [T], pack: impl Fn(i32) -> T) {
        let win = &self.window;
        let ([h, w], [_, ow], [kh, kw]) = (win.input, win.output, win.kernel);
        let ([sh, sw], [dh, dw], [top, left]) = (win.strides, win.dilations, win.pad);
        let (c, ky, kx) = (r / (kh * kw), r / kw % kh, r % kw);
        let plane = &self.image[c * h * w..][..h * w];
        // Input column of output column ox: ox·sw + shift − left, inside [0, w) exactly
        // for ox in lo..hi.
        let shift = kx * dw;
        let lo = left.saturating_sub(shift).div_ceil(sw).min(ow);
        let hi = (w + left).saturating_sub(shift).div_ceil(sw).clamp(lo, ow);
        // Output positions c0.. row by row: output row oy from column ox0 on.
        let (mut oy, mut ox0, mut done) = (c0 / ow.max(1), c0 % ow.max(1), 0);
        while done < dst.len() {
            let len = (ow - ox0).min(dst.len() - done);
            let seg = &mut dst[done..done + len];
            match (oy * sh + ky * dh).checked_sub(top).filter(|iy| *iy < h) {
                None => seg.fill(pack(0)),
                Some(iy) => {
                    let src = &plane[iy * w..][..w];
                    let (a, b) = (lo.clamp(ox0, ox0 + len), hi.clamp(ox0, ox0 + len));
                    seg[..a - ox0].fill(pack(0));
                    seg[b - ox0..].fill(pack(0));
                    if a < b {
                        // a ≥ lo, so the first input column is not left of the plane.
                        let ix0 = a * sw + shift - left;
                        let mid = &mut seg[a - ox0..b - ox0];
                        if sw == 1 {
                            for (v, &x) in mid.iter_mut().zip(&src[ix0..]) {
                                *v = pack(x);
                            }
                        } else {
                            for (t, v) in mid.iter_mut().enumerate() {
                                *v = pack(src[ix0 + t * sw]);
                            }
                        }
                    }
                }
            }
            done += len;
            (oy, ox0) = (oy + 1, 0);
        }
    }
}

/// Reads a 2-element spatial attribute (`kernel_shape`, `strides`, `dilations`).
pub(crate) fn pair(
    node: &GraphNode,
    name: &str,
    default: Option<[usize; 2]>,
) -> Result<[usize; 2]> {
    match node.ints(name)? {
        Some(v) if v.len() == 2 && v.iter().all(|d| *d >= 1 && *d <= 1 << 16) => {
            Ok([v[0] as usize, v[1] as usize])
        }
        Some(v) => Err(node.bad_attr(
            name,
            format!("expected two positive values (2-D only), got {v:?}"),
        )),
        None => default.ok_or(EngineError::MissingField {
            node: node.name.clone(),
            field: "kernel_shape",
        }),
    }
}

/// Reads `pads` (or derives them from `auto_pad`).
pub(crate) fn pads(
    node: &GraphNode,
    input_hw: &[usize],
    kernel: [usize; 2],
    strides: [usize; 2],
    dil: [usize; 2],
) -> Result<[usize; 4]> {
    let auto = node.string("auto_pad", "NOTSET")?;
    match auto.as_str() {
        "NOTSET" => match node.ints("pads")? {
            Some(v) if v.len() == 4 && v.iter().all(|p| (0..=1 << 16).contains(p)) => {
                Ok([v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize])
            }
            Some(v) => Err(node.bad_attr(
                "pads",
                format!("expected four non-negative values, got {v:?}"),
            )),
            None => Ok([0; 4]),
        },
        "VALID" => Ok([0; 4]),
        "SAME_UPPER" | "SAME_LOWER" => {
            let mut p = [0usize; 4];
            for a in 0..2 {
                let out = input_hw[a].div_ceil(strides[a]);
                let span = dil[a] * (kernel[a] - 1) + 1;
                let total = ((out - 1) * strides[a] + span).saturating_sub(input_hw[a]);
                let (small, big) = (total / 2, total - total / 2);
                (p[a], p[a + 2]) = if auto == "SAME_UPPER" {
                    (small, big)
                } else {
                    (big, small)
                };
            }
            Ok(p)
        }
        other => Err(node.bad_attr("auto_pad", format!("unknown value {other}"))),
    }
}

/// 1-D convolution (`X [N, C, W]`, `W [M, C/g, k]`): the 2-D [`Conv`] on `[N, C, 1, W]`
/// with kernel `[1, k]`, pads `[0, left, 0, right]`, strides `[1, s]` and dilations
/// `[1, d]`; the output `[N, M, 1, OW]` is reshaped to `[N, M, OW]`. Same integer semantics.
impl Conv {
    /// Rank-3 shapes as the rank-4 ones the 2-D kernel reads (`H = 1`).
    fn lift(s: &[usize]) -> Vec<usize> {
        match s {
            [a, b, w] => vec![*a, *b, 1, *w],
            other => other.to_vec(),
        }
    }

    pub(crate) fn output_shape_1d(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        if ins.len() < 2 || ins[0].len() != 3 || ins[1].len() != 3 {
            return Err(shape_err(node, "X [N,C,W] and W [M,C/g,k]", ins));
        }
        let lifted: Vec<Vec<usize>> = ins
            .iter()
            .enumerate()
            .map(|(i, s)| if i < 2 { Self::lift(s) } else { s.to_vec() })
            .collect();
        let refs: Vec<&[usize]> = lifted.iter().map(|s| s.as_slice()).collect();
        let y = self.output_shape(node, &refs)?;
        Ok(vec![y[0], y[1], y[3]])
    }

    pub(crate) fn eval_1d(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let lift = |t: &Tensor| Tensor::new(Self::lift(&t.shape), t.data.clone());
        let (x, w) = (lift(ins[0]), lift(ins[1]));
        let mut args = vec![&x, &w];
        args.extend(ins.get(2).copied());
        let y = self.eval(&args, &Self::lift(out_shape));
        Tensor::new(out_shape.to_vec(), y.data)
    }
}

/// One value of a 1-D spatial attribute, as the 2-D pair `[1, v]`.
fn single(node: &GraphNode, name: &str, default: usize) -> Result<[usize; 2]> {
    match node.ints(name)? {
        None => Ok([1, default]),
        Some(v) if v.len() == 1 && (1..=1 << 16).contains(&v[0]) => Ok([1, v[0] as usize]),
        Some(v) => Err(node.bad_attr(
            name,
            format!("expected one positive value (1-D), got {v:?}"),
        )),
    }
}

fn build_1d(node: &GraphNode, ctx: &dyn BuildCtx, x: &[usize], w: &[usize]) -> Result<Built> {
    let kernel = single(node, "kernel_shape", w[2])?;
    let strides = single(node, "strides", 1)?;
    let dilations = single(node, "dilations", 1)?;
    let pads = match node.string("auto_pad", "NOTSET")?.as_str() {
        "NOTSET" => match node.ints("pads")? {
            None => [0; 4],
            Some(v) if v.len() == 2 && v.iter().all(|p| (0..=1 << 16).contains(p)) => {
                [0, v[0] as usize, 0, v[1] as usize]
            }
            Some(v) => {
                return Err(node.bad_attr(
                    "pads",
                    format!("expected two non-negative values (1-D), got {v:?}"),
                ))
            }
        },
        "VALID" => [0; 4],
        _ => pads(node, &[1, x[2]], kernel, strides, dilations)?,
    };
    let mut built = build_conv(node, ctx, kernel, pads, strides, dilations)?;
    if let Op::Conv(c) = built.op {
        built.op = Op::Conv1d(c);
    }
    Ok(built)
}

pub(crate) fn build(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let w = input_shape(node, ctx, 1)?;
    if x.len() == 3 && w.len() == 3 {
        return build_1d(node, ctx, &x, &w);
    }
    if x.len() != 4 || w.len() != 4 {
        return Err(EngineError::UnsupportedOp {
            node: node.name.clone(),
            op: format!("Conv of rank {} (2-D only)", x.len()),
        });
    }
    let kernel = pair(node, "kernel_shape", Some([w[2], w[3]]))?;
    let strides = pair(node, "strides", Some([1, 1]))?;
    let dilations = pair(node, "dilations", Some([1, 1]))?;
    let pads = pads(node, &x[2..], kernel, strides, dilations)?;
    build_conv(node, ctx, kernel, pads, strides, dilations)
}

fn build_conv(
    node: &GraphNode,
    ctx: &dyn BuildCtx,
    kernel: [usize; 2],
    pads: [usize; 4],
    strides: [usize; 2],
    dilations: [usize; 2],
) -> Result<Built> {
    let group = node.int("group", 1)?;
    if group < 1 {
        return Err(node.bad_attr("group", "must be >= 1"));
    }
    let (weights, weight_frac_bits) = super::linear::weight(ctx, input(node, 1)?);
    let has_bias = node.inputs.get(2).is_some_and(|s| !s.is_empty());
    let (bias, bias_frac_bits) = match has_bias.then(|| input(node, 2)).transpose()? {
        Some(name) => match ctx.constant(&name) {
            Some(c) => {
                let bits = bias_frac_bits(&c.data.as_floats(), weight_frac_bits);
                (Some(Wire::ConstAt(c.clone(), bits)), bits)
            }
            None => (Some(Wire::Value(name)), FRAC_BITS),
        },
        None => (None, FRAC_BITS),
    };
    let conv = Conv {
        kernel,
        pads,
        strides,
        dilations,
        group: group as usize,
        has_bias,
        weight_frac_bits,
        bias_frac_bits,
    };
    let mut inputs = vec![Wire::Value(input(node, 0)?), weights];
    inputs.extend(bias);
    Ok(Built {
        op: Op::Conv(conv),
        inputs,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use crate::ops::test_values as values;

    use super::*;
    use crate::fixed::rescale;

    /// The straightforward kernel the fast one replaced (im2col, then one exact dot product
    /// per output): the specification the fast kernel must equal bit for bit.
    fn reference(conv: &Conv, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let (x, w) = (ins[0], ins[1]);
        let [batch, m_all, oh, ow] = [out_shape[0], out_shape[1], out_shape[2], out_shape[3]];
        let mg = m_all / conv.group;
        let kdim = w.shape[1] * w.shape[2] * w.shape[3];
        let positions = oh * ow;
        let mut out = vec![0i32; batch * m_all * positions];
        let xmax = x
            .data
            .iter()
            .map(|v| (*v as i64).unsigned_abs())
            .max()
            .unwrap_or(0) as u128;
        for n in 0..batch {
            for g in 0..conv.group {
                let cols = conv.im2col(x, n, g, oh, ow);
                for mi in 0..mg {
                    let m = g * mg + mi;
                    let wrow = &w.data[m * kdim..(m + 1) * kdim];
                    let Scale { lift, shift } = conv.scale();
                    let bias = if conv.has_bias {
                        (ins[2].data[m] as i64) << lift
                    } else {
                        0
                    };
                    let wsum: u128 = wrow
                        .iter()
                        .map(|v| (*v as i64).unsigned_abs() as u128)
                        .sum();
                    let dst = &mut out[(n * m_all + m) * positions..][..positions];
                    if xmax * wsum + (1u128 << (31 + lift)) <= i64::MAX as u128 / 2 {
                        let mut acc = vec![bias; positions];
                        for (k, wk) in wrow.iter().enumerate() {
                            let wk = *wk as i64;
                            for (a, xv) in acc
                                .iter_mut()
                                .zip(&cols[k * positions..(k + 1) * positions])
                            {
                                *a += wk * *xv as i64;
                            }
                        }
                        for (d, a) in dst.iter_mut().zip(acc) {
                            *d = rescale(a as i128, shift);
                        }
                    } else {
                        let mut acc = vec![bias as i128; positions];
                        for (k, wk) in wrow.iter().enumerate() {
                            for (a, xv) in acc
                                .iter_mut()
                                .zip(&cols[k * positions..(k + 1) * positions])
                            {
                                *a += *wk as i128 * *xv as i128;
                            }
                        }
                        for (d, a) in dst.iter_mut().zip(acc) {
                            *d = rescale(a, shift);
                        }
                    }
                }
            }
        }
        Tensor::new(out_shape.to_vec(), out)
    }

    /// A random convolution with its input shapes: `(conv, x shape, w shape)`.
    fn case() -> impl Strategy<Value = (Conv, [usize; 4], [usize; 4])> {
        (
            (1usize..=2, 1usize..=3, 1usize..=3, 1usize..=3),
            (1usize..=9, 1usize..=9, 1usize..=3, 1usize..=3),
            ([1usize..=3, 1usize..=3], [1usize..=2, 1usize..=2]),
            (
                [0usize..=2, 0usize..=2, 0usize..=2, 0usize..=2],
                any::<bool>(),
                FRAC_BITS..=crate::fixed::MAX_WEIGHT_FRAC_BITS,
                0u32..=24,
            ),
        )
            .prop_map(
                |((n, g, cg, mg), (h, w, kh, kw), (s, d), (p, has_bias, bits, t))| {
                    let conv = Conv {
                        kernel: [kh, kw],
                        pads: p,
                        strides: s,
                        dilations: d,
                        group: g,
                        has_bias,
                        weight_frac_bits: bits,
                        bias_frac_bits: FRAC_BITS + t.min(bits),
                    };
                    (conv, [n, g * cg, h, w], [g * mg, cg, kh, kw])
                },
            )
            .prop_filter("window fits the padded input", |(c, x, _)| {
                c.out_dim(x[2], 0).is_some() && c.out_dim(x[3], 1).is_some()
            })
    }

    fn tensors(x: [usize; 4], w: [usize; 4]) -> impl Strategy<Value = (Tensor, Tensor, Tensor)> {
        let len = |s: [usize; 4]| s.iter().product::<usize>();
        (values(len(x)), values(len(w)), values(w[0])).prop_map(move |(xd, wd, bd)| {
            (
                Tensor::new(x.to_vec(), xd),
                Tensor::new(w.to_vec(), wd),
                Tensor::new(vec![w[0]], bd),
            )
        })
    }

    /// Runs the fast and the reference kernel on the same inputs.
    fn both(conv: &Conv, x: &Tensor, w: &Tensor, b: &Tensor) -> (Tensor, Tensor) {
        let mut ins = vec![x, w];
        if conv.has_bias {
            ins.push(b);
        }
        let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
        let out_shape = conv.output_shape("conv", &shapes).unwrap();
        (
            conv.eval(&ins, &out_shape),
            reference(conv, &ins, &out_shape),
        )
    }

    /// 1-D convolution is the 2-D one on `[N, C, 1, W]`: same shapes (less the `H = 1`
    /// axis) and the same values; wrong ranks are a typed error.
    #[test]
    fn conv1d_is_conv2d_with_unit_height() {
        let conv = Conv {
            kernel: [1, 3],
            pads: [0, 1, 0, 1],
            strides: [1, 2],
            dilations: [1, 1],
            group: 1,
            has_bias: true,
            weight_frac_bits: 14,
            bias_frac_bits: 20,
        };
        let x = Tensor::new(
            vec![1, 2, 7],
            (0..14).map(|v| (v * 977 - 5000) << 3).collect(),
        );
        let w = Tensor::new(vec![4, 2, 3], (0..24).map(|v| v * 300 - 3000).collect());
        let b = Tensor::new(vec![4], vec![1 << 20, -(1 << 19), 7, 0]);
        let shape = conv
            .output_shape_1d("c", &[&x.shape, &w.shape, &b.shape])
            .unwrap();
        assert_eq!(shape, vec![1, 4, 4]);
        let y = conv.eval_1d(&[&x, &w, &b], &shape);
        let x4 = Tensor::new(vec![1, 2, 1, 7], x.data.clone());
        let w4 = Tensor::new(vec![4, 2, 1, 3], w.data.clone());
        let y4 = conv.eval(&[&x4, &w4, &b], &[1, 4, 1, 4]);
        assert_eq!(y.data, y4.data);
        assert_eq!(y, reference_1d(&conv, &x4, &w4, &b));
        assert!(conv
            .output_shape_1d("c", &[&[1, 2, 1, 7], &w.shape])
            .is_err());
        assert!(conv
            .output_shape_1d("c", &[&[1, 3, 7], &w.shape, &b.shape])
            .is_err());
    }

    fn reference_1d(conv: &Conv, x: &Tensor, w: &Tensor, b: &Tensor) -> Tensor {
        let y = reference(conv, &[x, w, b], &[1, 4, 1, 4]);
        Tensor::new(vec![1, 4, 4], y.data)
    }

    /// The fast kernel with the weight-side data prepared beforehand ([`Conv::prepare`])
    /// and an output clip fused, and the reference followed by that clip.
    fn both_prepared(
        conv: &Conv,
        (x, w, b): (&Tensor, &Tensor, &Tensor),
        bounds: Clamp,
    ) -> (Tensor, Tensor) {
        // An input bound at the exact `max|x|`, above it, or none.
        let xmax = x.data.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0) as u128;
        let x_abs_bound = [Some(xmax), Some(xmax * 3 + 1), None][bounds[0] as u32 as usize % 3];
        let mut ins = vec![x, w];
        if conv.has_bias {
            ins.push(b);
        }
        let shapes: Vec<&[usize]> = ins.iter().map(|t| t.shape.as_slice()).collect();
        let out_shape = conv.output_shape("conv", &shapes).unwrap();
        let prepared = conv.prepare(w);
        let clip = crate::ops::Clip {
            lo: bounds[0],
            hi: bounds[1],
        };
        (
            conv.eval_prepared(&ins, &out_shape, (Some(&prepared), x_abs_bound), bounds),
            clip.eval(&reference(conv, &ins, &out_shape)),
        )
    }

    /// Output clips: none, `Relu`, a `Relu6`-like range, ordered and arbitrary pairs.
    fn bounds() -> impl Strategy<Value = Clamp> {
        prop_oneof![
            Just(NO_CLAMP),
            Just([0, i32::MAX]),
            Just([0, 6 << FRAC_BITS]),
            any::<(i32, i32)>().prop_map(|(a, b)| [a.min(b), a.max(b)]),
            any::<Clamp>(),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(600))]

        /// Random shapes, groups (depthwise among them), strides, pads, dilations and
        /// values from small to extreme: the fast kernel equals the reference bit for bit.
        #[test]
        fn equals_reference(
            ((conv, _, _), (x, w, b)) in case().prop_flat_map(|(c, xs, ws)| {
                (Just((c, xs, ws)), tensors(xs, ws))
            })
        ) {
            let (fast, slow) = both(&conv, &x, &w, &b);
            prop_assert_eq!(fast, slow);
        }

        /// The same with the weight-side data prepared once and an output clip fused (what
        /// `evaluate` runs): the reference, clipped, bit for bit.
        #[test]
        fn prepared_and_clipped_equals_reference(
            ((conv, _, _), (x, w, b)) in case().prop_flat_map(|(c, xs, ws)| {
                (Just((c, xs, ws)), tensors(xs, ws))
            }),
            bounds in bounds(),
        ) {
            let (fast, slow) = both_prepared(&conv, (&x, &w, &b), bounds);
            prop_assert_eq!(fast, slow);
        }
    }

    /// Shapes of real networks (a multi-block GEMM, a strided depthwise layer, a 1×1
    /// projection) with values at both accumulators' edges.
    #[test]
    fn equals_reference_on_network_shapes() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let shapes = [
            // (x, w, group, kernel, stride, pad)
            ([1, 3, 33, 35], [40, 3, 3, 3], 1, 2, 1),
            ([1, 24, 15, 15], [24, 1, 3, 3], 24, 2, 1),
            ([1, 24, 15, 15], [24, 1, 3, 3], 24, 1, 1),
            ([1, 96, 12, 12], [37, 96, 1, 1], 1, 1, 0),
            // Grouped 1×1 projections over a batch (planes packed straight into panels).
            ([2, 8, 5, 7], [6, 4, 1, 1], 2, 1, 0),
            ([2, 8, 9, 9], [12, 4, 5, 5], 2, 1, 2),
        ];
        for (x, w, group, s, p) in shapes {
            for scale in [7u32, 20, 24, 26, 28, 31] {
                let mut gen = |n: usize| -> Vec<i32> {
                    (0..n)
                        .map(|_| ((next() as i64) >> (63 - scale)) as i32)
                        .collect()
                };
                let conv = Conv {
                    kernel: [w[2], w[3]],
                    pads: [p; 4],
                    strides: [s; 2],
                    dilations: [1; 2],
                    group,
                    has_bias: true,
                    weight_frac_bits: if scale % 2 == 0 { FRAC_BITS } else { 19 },
                    bias_frac_bits: FRAC_BITS,
                };
                let xt = Tensor::new(x.to_vec(), gen(x.iter().product()));
                let wt = Tensor::new(w.to_vec(), gen(w.iter().product()));
                let bt = Tensor::new(vec![w[0]], gen(w[0]));
                let (fast, slow) = both(&conv, &xt, &wt, &bt);
                assert_eq!(fast, slow, "x {x:?} w {w:?} group {group} scale {scale}");
                for bounds in [NO_CLAMP, [0, 6 << FRAC_BITS]] {
                    let (fast, slow) = both_prepared(&conv, (&xt, &wt, &bt), bounds);
                    assert_eq!(fast, slow, "x {x:?} w {w:?} group {group} scale {scale}");
                }
            }
        }
    }
}
