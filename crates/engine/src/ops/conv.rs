//! `Conv`: 2-D grouped convolution, NCHW, as im2col + integer dot products.

use serde::{Deserialize, Serialize};

use super::{input, input_shape, shape_err, BuildCtx, Built, Op, Wire};
use crate::{
    fixed::{rescale, FRAC_BITS, ONE},
    import::GraphNode,
    EngineError, Result, Tensor,
};

/// 2-D convolution. `acc = Σ x·w + b·2^F` over the window (padding reads zero), then
/// [`rescale`] by `F`.
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
}

impl Conv {
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

    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let (x, w) = (ins[0], ins[1]);
        let [batch, m_all, oh, ow] = [out_shape[0], out_shape[1], out_shape[2], out_shape[3]];
        let mg = m_all / self.group;
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
            for g in 0..self.group {
                let cols = self.im2col(x, n, g, oh, ow);
                for mi in 0..mg {
                    let m = g * mg + mi;
                    let wrow = &w.data[m * kdim..(m + 1) * kdim];
                    let bias = if self.has_bias {
                        ins[2].data[m] as i64 * ONE
                    } else {
                        0
                    };
                    let wsum: u128 = wrow
                        .iter()
                        .map(|v| (*v as i64).unsigned_abs() as u128)
                        .sum();
                    let dst = &mut out[(n * m_all + m) * positions..][..positions];
                    if xmax * wsum + (1u128 << 31) * ONE as u128 <= i64::MAX as u128 / 2 {
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
                            *d = rescale(a as i128, FRAC_BITS);
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
                            *d = rescale(a, FRAC_BITS);
                        }
                    }
                }
            }
        }
        Tensor::new(out_shape.to_vec(), out)
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

pub(crate) fn build(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let w = input_shape(node, ctx, 1)?;
    if x.len() != 4 || w.len() != 4 {
        return Err(EngineError::UnsupportedOp {
            node: node.name.clone(),
            op: format!("Conv of rank {} (2-D only)", x.len()),
        });
    }
    let kernel = pair(node, "kernel_shape", Some([w[2], w[3]]))?;
    let strides = pair(node, "strides", Some([1, 1]))?;
    let dilations = pair(node, "dilations", Some([1, 1]))?;
    let group = node.int("group", 1)?;
    if group < 1 {
        return Err(node.bad_attr("group", "must be >= 1"));
    }
    let conv = Conv {
        kernel,
        pads: pads(node, &x[2..], kernel, strides, dilations)?,
        strides,
        dilations,
        group: group as usize,
        has_bias: node.inputs.get(2).is_some_and(|s| !s.is_empty()),
    };
    let mut inputs = vec![Wire::Value(input(node, 0)?), Wire::Value(input(node, 1)?)];
    if conv.has_bias {
        inputs.push(Wire::Value(input(node, 2)?));
    }
    Ok(Built {
        op: Op::Conv(conv),
        inputs,
    })
}
