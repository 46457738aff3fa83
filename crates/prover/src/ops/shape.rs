//! `Transpose` and `Concat`: rewiring only, no constraints.

use zkopml_engine::ops::{strides, Concat, Transpose};

use super::Operand;
use crate::gadgets::Lc;

pub(crate) fn transpose(t: &Transpose, x: &Operand<'_>, out_shape: &[usize]) -> Vec<Lc> {
    let in_strides = strides(x.shape());
    let out_strides = strides(out_shape);
    (0..out_shape.iter().product())
        .map(|flat| {
            let src: usize = (0..out_shape.len())
                .map(|d| ((flat / out_strides[d]) % out_shape[d]) * in_strides[t.perm[d]])
                .sum();
            x.at(src)
        })
        .collect()
}

pub(crate) fn concat(c: &Concat, ins: &[Operand<'_>], out_shape: &[usize]) -> Vec<Lc> {
    let outer: usize = out_shape[..c.axis].iter().product();
    let mut out = Vec::new();
    for o in 0..outer {
        for t in ins {
            let inner: usize = t.shape()[c.axis..].iter().product();
            out.extend((0..inner).map(|i| t.at(o * inner + i)));
        }
    }
    out
}
