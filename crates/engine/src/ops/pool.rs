//! `MaxPool`, `AveragePool`, `GlobalAveragePool`, `GlobalMaxPool` (2-D pooling, NCHW).

use serde::{Deserialize, Serialize};

use super::{
    conv::{pads, pair},
    input, input_shape, shape_err, BuildCtx, Built, Op, Wire,
};
use crate::{fixed::div_round, import::GraphNode, EngineError, Result, Tensor};

/// Window geometry shared by the pooling operators.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// Output size rounds up instead of down.
    pub ceil_mode: bool,
    /// AveragePool only: divide by the full kernel area instead of the valid count.
    pub count_include_pad: bool,
}

impl Pool {
    fn out_dim(&self, size: usize, a: usize) -> Option<usize> {
        let padded = size + self.pads[a] + self.pads[a + 2];
        if padded < self.kernel[a] {
            return None;
        }
        let span = padded - self.kernel[a];
        let mut out = if self.ceil_mode {
            span.div_ceil(self.strides[a]) + 1
        } else {
            span / self.strides[a] + 1
        };
        // ONNX: the last window must start inside the input or left padding.
        if self.ceil_mode && (out - 1) * self.strides[a] >= size + self.pads[a] {
            out -= 1;
        }
        Some(out)
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if x.len() == 4 => match (self.out_dim(x[2], 0), self.out_dim(x[3], 1)) {
                (Some(h), Some(w)) => Ok(vec![x[0], x[1], h, w]),
                _ => Err(shape_err(
                    node,
                    format!("kernel {:?} fitting the padded input", self.kernel),
                    ins,
                )),
            },
            _ => Err(shape_err(node, "one input [N,C,H,W]", ins)),
        }
    }

    /// Input flat indices of the valid (non-padding) positions of window `(oy, ox)` in one
    /// plane of width `w`, height `h`.
    pub fn window(&self, h: usize, w: usize, oy: usize, ox: usize) -> Vec<usize> {
        let mut idx = Vec::with_capacity(self.kernel[0] * self.kernel[1]);
        for ky in 0..self.kernel[0] {
            let iy = (oy * self.strides[0] + ky) as isize - self.pads[0] as isize;
            for kx in 0..self.kernel[1] {
                let ix = (ox * self.strides[1] + kx) as isize - self.pads[1] as isize;
                if iy >= 0 && (iy as usize) < h && ix >= 0 && (ix as usize) < w {
                    idx.push(iy as usize * w + ix as usize);
                }
            }
        }
        idx
    }

    /// The valid (non-padding) input range `lo..hi` along axis `a` (of length `size`) of the
    /// window of every output position `0..out`; empty where the window is all padding.
    fn ranges(&self, a: usize, size: usize, out: usize) -> Vec<(usize, usize)> {
        (0..out)
            .map(|o| {
                // Window start in input coordinates, shifted by the padding so it is >= 0.
                let start = o * self.strides[a];
                let lo = start.max(self.pads[a]).min(size + self.pads[a]) - self.pads[a];
                let hi = (start + self.kernel[a]).clamp(self.pads[a], size + self.pads[a])
                    - self.pads[a];
                (lo.min(hi), hi)
            })
            .collect()
    }

    /// Every window folded separably: per output row, the valid input rows are folded
    /// column by column (`add` from `zero`), then each window's valid columns of that
    /// (`merge`); `finish` gets the result and the number of valid positions. Exact for
    /// associative, commutative folds (max, integer sum).
    fn map<A: Copy>(
        &self,
        x: &Tensor,
        out_shape: &[usize],
        zero: A,
        add: impl Fn(A, i32) -> A,
        merge: impl Fn(A, A) -> A,
        finish: impl Fn(A, usize) -> i32,
    ) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3]);
        let (oh, ow) = (out_shape[2], out_shape[3]);
        let rows = self.ranges(0, h, oh);
        let cols = self.ranges(1, w, ow);
        let planes = x.shape[0] * x.shape[1];
        let mut out = Vec::with_capacity(planes * oh * ow);
        let mut folded = vec![zero; w];
        for p in 0..planes {
            let plane = &x.data[p * h * w..(p + 1) * h * w];
            for &(y0, y1) in &rows {
                folded.fill(zero);
                for row in plane[y0 * w..y1 * w].chunks_exact(w) {
                    for (f, v) in folded.iter_mut().zip(row) {
                        *f = add(*f, *v);
                    }
                }
                out.extend(cols.iter().map(|&(x0, x1)| {
                    let a = folded[x0..x1].iter().fold(zero, |a, b| merge(a, *b));
                    finish(a, (y1 - y0) * (x1 - x0))
                }));
            }
        }
        Tensor::new(out_shape.to_vec(), out)
    }

    /// Max of the valid positions; a window with none gives `i32::MIN`.
    pub(crate) fn eval_max(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        self.map(x, out_shape, i32::MIN, i32::max, i32::max, |m, _| m)
    }

    /// `round_half_up(sum / count)`, count = valid positions (or the kernel area with
    /// `count_include_pad`); a window with no valid position gives 0.
    pub(crate) fn eval_avg(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let area = self.kernel[0] * self.kernel[1];
        self.map(
            x,
            out_shape,
            0i128,
            |s, v| s + v as i128,
            |s, t| s + t,
            |sum, valid| {
                let count = if self.count_include_pad { area } else { valid };
                if count == 0 {
                    0
                } else {
                    div_round(sum, count as i128) as i32
                }
            },
        )
    }
}

/// The exact sum of `values`: `i64` over runs of `2^31` (below `2^62` in magnitude).
fn sum_exact(values: &[i32]) -> i128 {
    values
        .chunks(1 << 31)
        .map(|c| c.iter().map(|v| *v as i64).sum::<i64>() as i128)
        .sum()
}

/// Mean of each plane, rounding half up.
pub(crate) fn global_avg(x: &Tensor, out_shape: &[usize]) -> Tensor {
    let planes = x.shape[0] * x.shape[1];
    let size: usize = x.shape[2..].iter().product();
    let data = (0..planes)
        .map(|p| {
            if size == 0 {
                0
            } else {
                div_round(sum_exact(&x.data[p * size..(p + 1) * size]), size as i128) as i32
            }
        })
        .collect();
    Tensor::new(out_shape.to_vec(), data)
}

/// `GlobalMaxPool`: the largest value of each `[N, C]` plane (exact; an empty plane gives 0).
pub(crate) fn global_max(x: &Tensor, out_shape: &[usize]) -> Tensor {
    let planes = x.shape[0] * x.shape[1];
    let size: usize = x.shape[2..].iter().product();
    let data = (0..planes)
        .map(|p| {
            x.data[p * size..(p + 1) * size]
                .iter()
                .copied()
                .max()
                .unwrap_or(0)
        })
        .collect();
    Tensor::new(out_shape.to_vec(), data)
}

pub(crate) fn build(node: &GraphNode, ctx: &dyn BuildCtx, average: bool) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    if x.len() != 4 {
        return Err(EngineError::UnsupportedOp {
            node: node.name.clone(),
            op: format!("{} of rank {} (2-D only)", node.op_type, x.len()),
        });
    }
    if node.int("storage_order", 0)? != 0 {
        return Err(node.bad_attr("storage_order", "only row-major (0)"));
    }
    if node.outputs.len() > 1 && !node.outputs[1].is_empty() {
        return Err(node.bad_attr("Indices", "the MaxPool indices output is not supported"));
    }
    let kernel = pair(node, "kernel_shape", None)?;
    let strides = pair(node, "strides", Some([1, 1]))?;
    let dil = pair(node, "dilations", Some([1, 1]))?;
    if dil != [1, 1] {
        return Err(node.bad_attr("dilations", "only 1"));
    }
    let pool = Pool {
        kernel,
        pads: pads(node, &x[2..], kernel, strides, dil)?,
        strides,
        ceil_mode: node.int("ceil_mode", 0)? != 0,
        count_include_pad: node.int("count_include_pad", 0)? != 0,
    };
    let op = if average {
        Op::AveragePool(pool)
    } else {
        Op::MaxPool(pool)
    };
    Ok(Built {
        op,
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ops::test_values as values;

    #[test]
    fn global_max_takes_each_plane_max() {
        let x = Tensor::new(vec![1, 2, 1, 2], vec![3, -7, i32::MIN, -1]);
        assert_eq!(global_max(&x, &[1, 2, 1, 1]).data, vec![3, -1]);
    }

    /// The previous kernels: every window's valid positions listed by [`Pool::window`].
    fn reference_map(
        pool: &Pool,
        x: &Tensor,
        out_shape: &[usize],
        f: impl Fn(&[i32], &[usize]) -> i32,
    ) -> Tensor {
        let (h, w) = (x.shape[2], x.shape[3]);
        let (oh, ow) = (out_shape[2], out_shape[3]);
        let planes = x.shape[0] * x.shape[1];
        let mut out = Vec::with_capacity(planes * oh * ow);
        for p in 0..planes {
            let plane = &x.data[p * h * w..(p + 1) * h * w];
            for oy in 0..oh {
                for ox in 0..ow {
                    out.push(f(plane, &pool.window(h, w, oy, ox)));
                }
            }
        }
        Tensor::new(out_shape.to_vec(), out)
    }

    fn reference_max(pool: &Pool, x: &Tensor, out_shape: &[usize]) -> Tensor {
        reference_map(pool, x, out_shape, |plane, idx| {
            idx.iter().map(|i| plane[*i]).max().unwrap_or(i32::MIN)
        })
    }

    fn reference_avg(pool: &Pool, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let area = (pool.kernel[0] * pool.kernel[1]) as i128;
        reference_map(pool, x, out_shape, |plane, idx| {
            let sum: i128 = idx.iter().map(|i| plane[*i] as i128).sum();
            let count = if pool.count_include_pad {
                area
            } else {
                idx.len() as i128
            };
            if count == 0 {
                0
            } else {
                div_round(sum, count) as i32
            }
        })
    }

    fn reference_global(x: &Tensor, out_shape: &[usize]) -> Tensor {
        let planes = x.shape[0] * x.shape[1];
        let size: usize = x.shape[2..].iter().product();
        let data = (0..planes)
            .map(|p| {
                let sum: i128 = x.data[p * size..(p + 1) * size]
                    .iter()
                    .map(|v| *v as i128)
                    .sum();
                if size == 0 {
                    0
                } else {
                    div_round(sum, size as i128) as i32
                }
            })
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }

    /// A pooling geometry (windows may lie wholly in the padding) and an input it accepts.
    fn cases() -> impl Strategy<Value = (Pool, Vec<usize>, Vec<usize>)> {
        (
            (1usize..5, 1usize..5),
            (1usize..4, 1usize..4),
            prop::array::uniform4(0usize..4),
            any::<bool>(),
            any::<bool>(),
            (1usize..3, 1usize..4, 1usize..9, 1usize..9),
        )
            .prop_filter_map(
                "kernel fits the padded input",
                |((kh, kw), (sh, sw), pads, ceil_mode, count_include_pad, (n, c, h, w))| {
                    let pool = Pool {
                        kernel: [kh, kw],
                        pads,
                        strides: [sh, sw],
                        ceil_mode,
                        count_include_pad,
                    };
                    let x = vec![n, c, h, w];
                    let out = pool.output_shape("pool", &[&x]).ok()?;
                    Some((pool, x, out))
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn equals_reference(((pool, shape, out), data) in cases().prop_flat_map(|c| {
            let n = c.1.iter().product();
            (Just(c), values(n))
        })) {
            let x = Tensor::new(shape, data);
            prop_assert_eq!(pool.eval_max(&x, &out), reference_max(&pool, &x, &out));
            prop_assert_eq!(pool.eval_avg(&x, &out), reference_avg(&pool, &x, &out));
            let g = [x.shape[0], x.shape[1], 1, 1];
            prop_assert_eq!(global_avg(&x, &g), reference_global(&x, &g));
        }
    }

    #[test]
    fn equals_reference_on_network_shapes() {
        // LeNet-5's 2×2/2 pools and a padded 3×3/2 with ceil mode, on extreme values.
        let extremes = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX];
        let x = Tensor::new(
            vec![1, 6, 28, 28],
            (0..6 * 28 * 28)
                .map(|i| extremes[(i * 7 + i / 5) % 6])
                .collect(),
        );
        for pool in [
            Pool {
                kernel: [2, 2],
                pads: [0; 4],
                strides: [2, 2],
                ceil_mode: false,
                count_include_pad: false,
            },
            Pool {
                kernel: [3, 3],
                pads: [1, 1, 1, 1],
                strides: [2, 2],
                ceil_mode: true,
                count_include_pad: true,
            },
        ] {
            let out = pool.output_shape("pool", &[&x.shape]).unwrap();
            assert_eq!(pool.eval_max(&x, &out), reference_max(&pool, &x, &out));
            assert_eq!(pool.eval_avg(&x, &out), reference_avg(&pool, &x, &out));
        }
        let g = [1, 6, 1, 1];
        assert_eq!(global_avg(&x, &g), reference_global(&x, &g));
    }
}
