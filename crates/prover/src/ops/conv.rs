//! `Conv` with constant weights: the engine's im2col sum as a free linear combination per
//! output, then one `rescale`.

use ark_ff::Zero;
use zkopml_commit::fr_from_i64;
use zkopml_engine::ops::Conv;

use super::{abs_sum, Operand};
use crate::gadgets::{Cs, CsResult, Lc};

pub(crate) fn conv(
    cs: &Cs,
    c: &Conv,
    ins: &[Operand<'_>],
    out_shape: &[usize],
) -> CsResult<Vec<Lc>> {
    let x = &ins[0];
    let w = ins[1].constant().expect("checked: constant weights");
    let xs = x.shape();
    let (c_all, h, wd) = (xs[1], xs[2], xs[3]);
    let [batch, m_all, oh, ow] = [out_shape[0], out_shape[1], out_shape[2], out_shape[3]];
    let (cg, mg) = (c_all / c.group, m_all / c.group);
    let [kh, kw] = c.kernel;
    let kdim = cg * kh * kw;
    let scale = c.scale();
    let mut out = Vec::with_capacity(out_shape.iter().product());
    for n in 0..batch {
        for m in 0..m_all {
            let g = m / mg;
            let wrow = &w.data[m * kdim..(m + 1) * kdim];
            let bias = if c.has_bias {
                ins[2].constant().expect("constant bias").data[m] as i64
            } else {
                0
            };
            let bound = abs_sum(wrow.iter().copied()) * (1u128 << 31)
                + ((bias.unsigned_abs() as u128) << scale.lift);
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = Lc::constant(ark_bn254::Fr::zero());
                    for ci in 0..cg {
                        for ky in 0..kh {
                            let iy = (oy * c.strides[0] + ky * c.dilations[0]) as isize
                                - c.pads[0] as isize;
                            if iy < 0 || iy >= h as isize {
                                continue;
                            }
                            for kx in 0..kw {
                                let ix = (ox * c.strides[1] + kx * c.dilations[1]) as isize
                                    - c.pads[1] as isize;
                                let wv = wrow[(ci * kh + ky) * kw + kx];
                                if ix < 0 || ix >= wd as isize || wv == 0 {
                                    continue;
                                }
                                let xi = ((n * c_all + g * cg + ci) * h + iy as usize) * wd
                                    + ix as usize;
                                acc = acc.add(&x.at(xi).scale(fr_from_i64(wv as i64)));
                            }
                        }
                    }
                    acc = acc.add_const(fr_from_i64(bias) * fr_from_i64(1 << scale.lift));
                    out.push(cs.rescale(&acc.compact(), scale.shift, bound)?);
                }
            }
        }
    }
    Ok(out)
}
