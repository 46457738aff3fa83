//! Per-axis index selection and interpolation. `Slice`, `Split`, `Tile` and
//! nearest-neighbour `Resize` all lower to one exact kernel,
//! `out[i_0, …, i_{r−1}] = x[map_0[i_0], …, map_{r−1}[i_{r−1}]]`,
//! whose maps the builders resolve at compile time from constant attributes and inputs
//! (a value-dependent start, size or scale is a typed error: shapes are static). Exact:
//! data movement only. Linear `Resize` is [`Interpolate`]: two taps per axis with weights
//! fixed at compile time, one rounding.

use serde::{Deserialize, Serialize};

use super::{input, input_shape, shape_err, strides, BuildCtx, Built, Op, Wire};
use crate::{import::GraphNode, EngineError, Result, Tensor};

/// The most elements a selection may output (`2^28`, as `Expand`).
const MAX_SELECTED: usize = 1 << 28;

/// The attribute the importer gives each single-output copy of a multi-output `Split`.
pub const OUTPUT_INDEX_ATTR: &str = "zkopml_output_index";
/// The attribute carrying the original `Split`'s number of outputs.
pub const NUM_OUTPUTS_ATTR: &str = "zkopml_num_outputs";

/// For every output axis, the input index each output index reads.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Select {
    /// `maps[d][i]`: the input index along axis `d` of output index `i`.
    pub maps: Vec<Vec<usize>>,
}

impl Select {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if x.len() == self.maps.len()
                && self
                    .maps
                    .iter()
                    .zip(x.iter())
                    .all(|(m, d)| m.iter().all(|i| i < d)) =>
            {
                Ok(self.maps.iter().map(Vec::len).collect())
            }
            _ => Err(shape_err(
                node,
                format!("rank {} with every mapped index in range", self.maps.len()),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let st = strides(&x.shape);
        // Per axis, the input offsets of its output indices; then a row-major walk.
        let offs: Vec<Vec<usize>> = self
            .maps
            .iter()
            .zip(&st)
            .map(|(m, s)| m.iter().map(|i| i * s).collect())
            .collect();
        let n: usize = out_shape.iter().product();
        let mut data = Vec::with_capacity(n);
        if n == 0 {
            return Tensor::new(out_shape.to_vec(), data);
        }
        let rank = out_shape.len();
        let mut idx = vec![0usize; rank];
        for _ in 0..n {
            data.push(x.data[(0..rank).map(|d| offs[d][idx[d]]).sum::<usize>()]);
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// Fractional bits of an [`Interpolate`] weight.
pub const INTERP_BITS: u32 = 16;

/// One output index of an interpolated axis: `(1 − w)·x[lo] + w·x[hi]`, `w` at
/// `2^-INTERP_BITS` (`w = 0` and `lo = hi` on an axis that is not resized).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tap {
    /// Lower input index.
    pub lo: usize,
    /// Upper input index.
    pub hi: usize,
    /// Weight of `hi`, in `0..=2^INTERP_BITS`.
    pub w: u32,
}

/// Separable (multi)linear interpolation: `y = rescale(Σ_corners Π_d w_d · x[corner],
/// INTERP_BITS · r)` over the `2^r` corners of the `r` resized axes, exact in `i128` before
/// its one rounding (half up). The weights of each axis sum to `2^INTERP_BITS` exactly, so a
/// constant input stays exact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interpolate {
    /// Per axis, the taps of each output index.
    pub taps: Vec<Vec<Tap>>,
}

impl Interpolate {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if x.len() == self.taps.len()
                && self.taps.iter().zip(x.iter()).all(|(t, d)| {
                    t.iter()
                        .all(|t| t.lo < *d && t.hi < *d && t.w <= 1 << INTERP_BITS)
                }) =>
            {
                Ok(self.taps.iter().map(Vec::len).collect())
            }
            _ => Err(shape_err(
                node,
                format!("rank {} with every tap in range", self.taps.len()),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let st = strides(&x.shape);
        // Resized axes (some tap with w > 0); the others read `lo` with weight 1.
        let moving: Vec<usize> = (0..self.taps.len())
            .filter(|d| self.taps[*d].iter().any(|t| t.w > 0))
            .collect();
        let shift = INTERP_BITS * moving.len() as u32;
        let full = 1i128 << INTERP_BITS;
        let n: usize = out_shape.iter().product();
        let rank = out_shape.len();
        let mut data = Vec::with_capacity(n);
        let mut idx = vec![0usize; rank];
        for _ in 0..n {
            let base: usize = (0..rank)
                .filter(|d| !moving.contains(d))
                .map(|d| self.taps[d][idx[d]].lo * st[d])
                .sum();
            let mut acc = 0i128;
            for corner in 0..1usize << moving.len() {
                let (mut off, mut weight) = (base, 1i128);
                for (k, d) in moving.iter().enumerate() {
                    let t = self.taps[*d][idx[*d]];
                    if corner >> k & 1 == 1 {
                        off += t.hi * st[*d];
                        weight *= t.w as i128;
                    } else {
                        off += t.lo * st[*d];
                        weight *= full - t.w as i128;
                    }
                }
                if weight != 0 {
                    acc += weight * x.data[off] as i128;
                }
            }
            data.push(crate::fixed::rescale(acc, shift));
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Tensor::new(out_shape.to_vec(), data)
    }
}

fn built(node: &GraphNode, maps: Vec<Vec<usize>>) -> Result<Built> {
    let n = maps
        .iter()
        .try_fold(1usize, |acc, m| acc.checked_mul(m.len()));
    if n.is_none_or(|n| n > MAX_SELECTED) {
        return Err(node.bad_attr(
            "output",
            format!("more than {MAX_SELECTED} elements selected"),
        ));
    }
    Ok(Built {
        op: Op::Select(Select { maps }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

fn identity_maps(x: &[usize]) -> Vec<Vec<usize>> {
    x.iter().map(|d| (0..*d).collect()).collect()
}

fn norm_axis(node: &GraphNode, what: &str, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if a < -r || a >= r {
        return Err(node.bad_attr(what, format!("axis {a} out of range for rank {rank}")));
    }
    Ok(a.rem_euclid(r) as usize)
}

/// Integers of constant input `i` (`None` when omitted); a runtime value is a typed error.
fn const_ints(
    node: &GraphNode,
    ctx: &dyn BuildCtx,
    i: usize,
    what: &str,
) -> Result<Option<Vec<i64>>> {
    match node.inputs.get(i).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(name) => ctx
            .constant(name)
            .map(|c| Some(c.data.as_ints()))
            .ok_or_else(|| node.bad_attr(what, "must be a constant (static shapes)")),
    }
}

/// `Slice` (opset ≥ 10: constant `starts`, `ends`, `axes`, `steps` inputs; opset < 10:
/// attributes), with ONNX's clamping: negative indices count from the end, then starts and
/// ends clamp to `[0, d]` (`[0, d − 1]` and `[−1, d − 1]` for negative steps).
pub(crate) fn build_slice(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let (starts, ends, axes, steps) = if ctx.opset() >= 10 {
        (
            const_ints(node, ctx, 1, "starts")?
                .ok_or_else(|| node.bad_attr("starts", "required"))?,
            const_ints(node, ctx, 2, "ends")?.ok_or_else(|| node.bad_attr("ends", "required"))?,
            const_ints(node, ctx, 3, "axes")?,
            const_ints(node, ctx, 4, "steps")?,
        )
    } else {
        (
            node.ints("starts")?
                .ok_or_else(|| node.bad_attr("starts", "required"))?,
            node.ints("ends")?
                .ok_or_else(|| node.bad_attr("ends", "required"))?,
            node.ints("axes")?,
            None,
        )
    };
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if ends.len() != starts.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err(node.bad_attr("starts", "starts, ends, axes and steps differ in length"));
    }
    let mut maps = identity_maps(&x);
    let mut seen = vec![false; x.len()];
    for (((s, e), a), st) in starts.iter().zip(&ends).zip(&axes).zip(&steps) {
        let a = norm_axis(node, "axes", *a, x.len())?;
        if std::mem::replace(&mut seen[a], true) {
            return Err(node.bad_attr("axes", format!("axis {a} repeated")));
        }
        if *st == 0 {
            return Err(node.bad_attr("steps", "a step of 0"));
        }
        let d = x[a] as i64;
        let wrap = |v: i64| if v < 0 { v.saturating_add(d) } else { v };
        let (s, e) = (wrap(*s), wrap(*e));
        let (s, e) = if *st > 0 {
            (s.clamp(0, d), e.clamp(0, d))
        } else {
            (s.clamp(0, d - 1), e.clamp(-1, d - 1))
        };
        let mut m = Vec::new();
        let mut i = s;
        while (*st > 0 && i < e) || (*st < 0 && i > e) {
            m.push(i as usize);
            i = i.saturating_add(*st);
        }
        maps[a] = m;
    }
    built(node, maps)
}

/// One output of `Split` (the importer makes one node per output, tagged with
/// [`OUTPUT_INDEX_ATTR`]): the sizes come from the constant `split` input (opset ≥ 13), the
/// `split` attribute, or an equal split into `num_outputs` parts (the last smaller when the
/// axis does not divide, as opset 18 defines it).
pub(crate) fn build_split(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let axis = norm_axis(node, "axis", node.int("axis", 0)?, x.len())?;
    let index = usize::try_from(node.int(OUTPUT_INDEX_ATTR, 0)?)
        .map_err(|_| node.bad_attr(OUTPUT_INDEX_ATTR, "negative"))?;
    let outputs = node.outputs.len().max(1) as i64;
    let d = x[axis] as i64;
    let sizes = match const_ints(node, ctx, 1, "split")?.or(node.ints("split")?) {
        Some(s) => s,
        None => {
            let n = node.int("num_outputs", node.int(NUM_OUTPUTS_ATTR, outputs)?)?;
            if n < 1 {
                return Err(node.bad_attr("num_outputs", "must be at least 1"));
            }
            let chunk = (d + n - 1) / n;
            (0..n).map(|k| (d - k * chunk).clamp(0, chunk)).collect()
        }
    };
    if sizes.iter().any(|s| *s < 0) || sizes.iter().sum::<i64>() != d {
        return Err(node.bad_attr(
            "split",
            format!("sizes {sizes:?} do not sum to the axis length {d}"),
        ));
    }
    let start: i64 = sizes.iter().take(index).sum();
    let len = *sizes
        .get(index)
        .ok_or_else(|| node.bad_attr("split", format!("no size for output {index}")))?;
    let mut maps = identity_maps(&x);
    maps[axis] = (start as usize..(start + len) as usize).collect();
    built(node, maps)
}

/// `Tile(x, repeats)` with constant non-negative `repeats`: axis `d` reads `i mod x[d]`.
pub(crate) fn build_tile(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let reps =
        const_ints(node, ctx, 1, "repeats")?.ok_or_else(|| node.bad_attr("repeats", "required"))?;
    if reps.len() != x.len() {
        return Err(node.bad_attr(
            "repeats",
            format!("{} repeats for rank {}", reps.len(), x.len()),
        ));
    }
    let maps = x
        .iter()
        .zip(&reps)
        .map(|(d, r)| {
            let r = usize::try_from(*r)
                .ok()
                .filter(|r| d.saturating_mul(*r) <= MAX_SELECTED)
                .ok_or_else(|| node.bad_attr("repeats", format!("repeat {r} out of range")))?;
            Ok((0..d * r).map(|i| i % d).collect())
        })
        .collect::<Result<_>>()?;
    built(node, maps)
}

/// `Resize` (opset ≥ 10) in `mode = "nearest"` with constant `scales` or `sizes`: per axis,
/// the input index of output index `i` is ONNX's `nearest_mode` rounding of the
/// `coordinate_transformation_mode` image of `i`, clamped to the axis; computed in `f64` at
/// compile time (IEEE arithmetic without fused operations: the same on every machine).
/// `linear` and `cubic` are a typed error.
pub(crate) fn build_resize(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let mode = node.string("mode", "nearest")?;
    let linear = match mode.as_str() {
        "nearest" => false,
        "linear" => true,
        _ => {
            return Err(EngineError::UnsupportedOp {
                node: node.name.clone(),
                op: format!("Resize with mode {mode} (nearest and linear only)"),
            })
        }
    };
    if node.int("antialias", 0)? != 0 {
        return Err(node.bad_attr("antialias", "only 0"));
    }
    let transform = node.string("coordinate_transformation_mode", "half_pixel")?;
    let nearest = node.string("nearest_mode", "round_prefer_floor")?;
    if node.string("keep_aspect_ratio_policy", "stretch")? != "stretch" {
        return Err(node.bad_attr("keep_aspect_ratio_policy", "only stretch"));
    }
    let floats = |i: usize, what: &str| -> Result<Option<Vec<f64>>> {
        match node.inputs.get(i).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(name) => ctx
                .constant(name)
                .map(|c| Some(c.data.as_floats()))
                .ok_or_else(|| node.bad_attr(what, "must be a constant (static shapes)")),
        }
    };
    // Opset 10: (X, scales); opset ≥ 11: (X, roi, scales, sizes).
    let (scales, sizes) = if ctx.opset() < 11 {
        (floats(1, "scales")?, None)
    } else {
        (
            floats(2, "scales")?.filter(|s| !s.is_empty()),
            const_ints(node, ctx, 3, "sizes")?.filter(|s| !s.is_empty()),
        )
    };
    let axes: Vec<usize> = match node.ints("axes")? {
        None => (0..x.len()).collect(),
        Some(a) => a
            .iter()
            .map(|a| norm_axis(node, "axes", *a, x.len()))
            .collect::<Result<_>>()?,
    };
    let mut maps = identity_maps(&x);
    let mut taps: Vec<Vec<Tap>> = x
        .iter()
        .map(|d| (0..*d).map(|i| Tap { lo: i, hi: i, w: 0 }).collect())
        .collect();
    for (k, a) in axes.iter().enumerate() {
        let d = x[*a];
        let (scale, out) = match (&scales, &sizes) {
            (_, Some(sz)) => {
                let o = *sz
                    .get(k)
                    .ok_or_else(|| node.bad_attr("sizes", "too short"))?;
                let o = usize::try_from(o).map_err(|_| node.bad_attr("sizes", "negative"))?;
                (o as f64 / d as f64, o)
            }
            (Some(sc), None) => {
                let s = *sc
                    .get(k)
                    .ok_or_else(|| node.bad_attr("scales", "too short"))?;
                if !(s.is_finite() && s > 0.0) {
                    return Err(node.bad_attr("scales", format!("scale {s}")));
                }
                (s, (d as f64 * s).floor() as usize)
            }
            (None, None) => return Err(node.bad_attr("scales", "neither scales nor sizes")),
        };
        if out > MAX_SELECTED {
            return Err(node.bad_attr("sizes", format!("{out} outputs along axis {a}")));
        }
        let origin = |i: usize| -> Result<f64> {
            let i = i as f64;
            Ok(match transform.as_str() {
                "half_pixel" => (i + 0.5) / scale - 0.5,
                "pytorch_half_pixel" if out > 1 => (i + 0.5) / scale - 0.5,
                "pytorch_half_pixel" => 0.0,
                // ONNX's `length_resized` is `d·scale` (not its floor) when scales are given.
                "align_corners" if out > 1 => i * (d as f64 - 1.0) / (d as f64 * scale - 1.0),
                "align_corners" => 0.0,
                "asymmetric" => i / scale,
                "tf_half_pixel_for_nn" if !linear => (i + 0.5) / scale,
                other => {
                    return Err(node.bad_attr(
                        "coordinate_transformation_mode",
                        format!("{other} is not supported"),
                    ))
                }
            })
        };
        if linear {
            // ONNX's linear coefficients `[1 − r, r]` on `floor(orig)`, `floor(orig) + 1`,
            // edge-padded: a coordinate outside `[0, d − 1]` reads the edge.
            taps[*a] = (0..out)
                .map(|i| {
                    let o = origin(i)?.clamp(0.0, d.saturating_sub(1) as f64);
                    let lo = o.floor();
                    let w = ((o - lo) * (1u64 << INTERP_BITS) as f64).round() as u32;
                    let lo = lo as usize;
                    Ok(Tap {
                        lo,
                        hi: (lo + 1).min(d.saturating_sub(1)),
                        w,
                    })
                })
                .collect::<Result<_>>()?;
            continue;
        }
        let map = (0..out)
            .map(|i| {
                let orig = origin(i)?;
                let r = match nearest.as_str() {
                    "round_prefer_floor" if orig.fract() == 0.5 => orig.floor(),
                    "round_prefer_ceil" if orig.fract() == 0.5 => orig.ceil(),
                    "round_prefer_floor" | "round_prefer_ceil" => orig.round(),
                    "floor" => orig.floor(),
                    "ceil" => orig.ceil(),
                    other => {
                        return Err(
                            node.bad_attr("nearest_mode", format!("{other} is not supported"))
                        )
                    }
                };
                Ok(r.clamp(0.0, d.saturating_sub(1) as f64) as usize)
            })
            .collect::<Result<Vec<_>>>()?;
        maps[*a] = map;
    }
    if !linear {
        return built(node, maps);
    }
    let n = taps
        .iter()
        .try_fold(1usize, |acc, t| acc.checked_mul(t.len()));
    if n.is_none_or(|n| n > MAX_SELECTED) || axes.len() > 4 {
        return Err(node.bad_attr(
            "scales",
            format!("at most 4 resized axes and {MAX_SELECTED} outputs"),
        ));
    }
    Ok(Built {
        op: Op::Interpolate(Interpolate { taps }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// `Pad`: per axis, each output index reads an input index or (`None`) the constant `value`.
/// Exact (data movement; `value` quantised once).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pad {
    /// `maps[d][i]`: the input index along axis `d` of output index `i`, `None` for padding.
    pub maps: Vec<Vec<Option<usize>>>,
    /// The fill value of `mode = constant`, at `2^-F`.
    pub value: i32,
}

impl Pad {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if x.len() == self.maps.len()
                && self
                    .maps
                    .iter()
                    .zip(x.iter())
                    .all(|(m, d)| m.iter().flatten().all(|i| i < d)) =>
            {
                Ok(self.maps.iter().map(Vec::len).collect())
            }
            _ => Err(shape_err(
                node,
                format!("rank {} with every mapped index in range", self.maps.len()),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let st = strides(&x.shape);
        let n: usize = out_shape.iter().product();
        let mut data = Vec::with_capacity(n);
        if n == 0 {
            return Tensor::new(out_shape.to_vec(), data);
        }
        let rank = out_shape.len();
        let mut idx = vec![0usize; rank];
        for _ in 0..n {
            let src: Option<usize> = (0..rank)
                .map(|d| self.maps[d][idx[d]].map(|i| i * st[d]))
                .sum();
            data.push(src.map_or(self.value, |i| x.data[i]));
            for d in (0..rank).rev() {
                idx[d] += 1;
                if idx[d] < out_shape[d] {
                    break;
                }
                idx[d] = 0;
            }
        }
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// `Pad` (opset ≥ 11: constant `pads`, optional constant `constant_value` and `axes`; older:
/// attributes `pads`, `value`), modes `constant`, `edge`, `reflect`, `wrap`. Negative pads
/// crop. For output index `i` on an axis of size `d` with begin pad `b`, `s = i − b`: inside
/// `[0, d)` it reads `s`; outside, `constant` fills, `edge` clamps, `reflect` reflects about
/// the end elements (period `2(d − 1)`), `wrap` takes `s mod d`.
pub(crate) fn build_pad(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let r = x.len();
    let (pads, value, axes) = if ctx.opset() >= 11 {
        let pads =
            const_ints(node, ctx, 1, "pads")?.ok_or_else(|| node.bad_attr("pads", "missing"))?;
        let value = match node.inputs.get(2).filter(|s| !s.is_empty()) {
            Some(name) => ctx
                .constant(name)
                .ok_or_else(|| node.bad_attr("constant_value", "must be a constant"))?
                .data
                .as_floats()
                .first()
                .copied()
                .unwrap_or(0.0),
            None => 0.0,
        };
        let axes = const_ints(node, ctx, 3, "axes")?;
        (pads, value, axes)
    } else {
        let pads = node
            .ints("pads")?
            .ok_or_else(|| node.bad_attr("pads", "missing"))?;
        (pads, node.float("value", 0.0)? as f64, None)
    };
    let axes: Vec<usize> = match axes {
        Some(a) => a
            .iter()
            .map(|a| norm_axis(node, "axes", *a, r))
            .collect::<Result<_>>()?,
        None => (0..r).collect(),
    };
    if pads.len() != 2 * axes.len() {
        return Err(node.bad_attr(
            "pads",
            format!("{} values for {} axes", pads.len(), axes.len()),
        ));
    }
    let mode = node.string("mode", "constant")?;
    if !matches!(mode.as_str(), "constant" | "edge" | "reflect" | "wrap") {
        return Err(node.bad_attr("mode", format!("unknown mode {mode}")));
    }
    let mut maps: Vec<Vec<Option<usize>>> = x.iter().map(|d| (0..*d).map(Some).collect()).collect();
    let mut total: usize = 1;
    for (k, a) in axes.iter().enumerate() {
        let (b, e, d) = (pads[k], pads[k + axes.len()], x[*a] as i64);
        let len = d
            .checked_add(b)
            .and_then(|v| v.checked_add(e))
            .filter(|v| *v >= 0 && *v <= MAX_SELECTED as i64)
            .ok_or_else(|| {
                node.bad_attr("pads", format!("axis {a}: size {d} padded by {b}, {e}"))
            })?;
        total = total.saturating_mul(len as usize);
        if len > 0 && d == 0 && mode != "constant" {
            return Err(node.bad_attr("mode", format!("{mode} padding of an empty axis {a}")));
        }
        maps[*a] = (0..len)
            .map(|i| {
                let s = i.saturating_sub(b);
                if (0..d).contains(&s) {
                    return Some(s as usize);
                }
                match mode.as_str() {
                    "edge" => Some(s.clamp(0, d - 1) as usize),
                    "wrap" => Some(s.rem_euclid(d) as usize),
                    "reflect" if d == 1 => Some(0),
                    "reflect" => {
                        let p = 2 * (d - 1);
                        let m = s.rem_euclid(p);
                        Some((if m < d { m } else { p - m }) as usize)
                    }
                    _ => None,
                }
            })
            .collect();
    }
    if total > MAX_SELECTED {
        return Err(node.bad_attr(
            "pads",
            format!("output of {total} elements (at most {MAX_SELECTED})"),
        ));
    }
    Ok(Built {
        op: Op::Pad(Pad {
            maps,
            value: crate::fixed::quantize(value),
        }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pad_with_extreme_pads_is_total() {
        use crate::import::{Attr, Const, ConstData};
        /// A build context double: `x: [3]`, `pads` a constant.
        struct Ctx(Const);
        impl BuildCtx for Ctx {
            fn shape(&self, name: &str) -> Option<Vec<usize>> {
                match name {
                    "x" => Some(vec![3]),
                    _ => Some(self.0.shape.clone()),
                }
            }
            fn constant(&self, name: &str) -> Option<&Const> {
                (name == "pads").then_some(&self.0)
            }
            fn opset(&self) -> i64 {
                18
            }
        }
        let x = Tensor::new(vec![3], vec![10, 20, 30]);
        for mode in ["constant", "edge", "reflect", "wrap"] {
            for pads in [
                [i64::MIN, i64::MAX],
                [i64::MAX, i64::MIN],
                [-2, 1],
                [-4, 0],
                [5, -9],
            ] {
                let node = GraphNode {
                    name: "p".into(),
                    op_type: "Pad".into(),
                    inputs: vec!["x".into(), "pads".into()],
                    outputs: vec!["y".into()],
                    attrs: [("mode".to_string(), Attr::Str(mode.into()))].into(),
                };
                let ctx = Ctx(Const {
                    shape: vec![2],
                    data: ConstData::Int(pads.to_vec()),
                });
                // Either a typed error or a program that runs.
                if let Ok(b) = build_pad(&node, &ctx) {
                    let shape = b.op.output_shape("p", &[&x.shape]).unwrap();
                    let y = b.op.eval(&[&x], &shape);
                    assert_eq!(y.len(), shape.iter().product::<usize>());
                }
            }
        }
    }

    #[test]
    fn pad_modes_read_the_mapped_indices() {
        // One axis of size 3, pads 2 before and 1 after (maps as the builder makes them).
        let x = Tensor::new(vec![3], vec![10, 20, 30]);
        let run = |maps: Vec<Option<usize>>| {
            let p = Pad {
                maps: vec![maps],
                value: -1,
            };
            let shape = p.output_shape("p", &[&x.shape]).unwrap();
            p.eval(&x, &shape).data
        };
        // constant, edge, reflect, wrap
        assert_eq!(
            run(vec![None, None, Some(0), Some(1), Some(2), None]),
            vec![-1, -1, 10, 20, 30, -1]
        );
        assert_eq!(
            run(vec![Some(0), Some(0), Some(0), Some(1), Some(2), Some(2)]),
            vec![10, 10, 10, 20, 30, 30]
        );
        assert_eq!(
            run(vec![Some(2), Some(1), Some(0), Some(1), Some(2), Some(1)]),
            vec![30, 20, 10, 20, 30, 20]
        );
        // An index outside the input is a shape error, never a panic.
        let bad = Pad {
            maps: vec![vec![Some(3)]],
            value: 0,
        };
        assert!(bad.output_shape("p", &[&x.shape]).is_err());
    }

    #[test]
    fn select_reads_the_mapped_indices_row_major() {
        let x = Tensor::new(vec![2, 3], (0..6).collect());
        // Rows reversed, columns [2, 0, 0].
        let s = Select {
            maps: vec![vec![1, 0], vec![2, 0, 0]],
        };
        let shape = s.output_shape("t", &[&[2, 3]]).unwrap();
        assert_eq!(shape, vec![2, 3]);
        assert_eq!(s.eval(&x, &shape).data, vec![5, 3, 3, 2, 0, 0]);
        // An index out of range is a shape error, not a panic at eval.
        let bad = Select {
            maps: vec![vec![2], vec![0]],
        };
        assert!(bad.output_shape("t", &[&[2, 3]]).is_err());
    }

    /// Linear taps: a quarter of the way from 2.0 to 4.0 is 2.5; weights summing to one keep
    /// a constant exact; the unresized axis is read as is.
    #[test]
    fn interpolate_weights_taps_and_keeps_constants() {
        let q = 1 << INTERP_BITS;
        let x = Tensor::new(vec![1, 2], vec![2 << 12, 4 << 12]);
        let it = Interpolate {
            taps: vec![
                vec![Tap { lo: 0, hi: 0, w: 0 }],
                vec![
                    Tap {
                        lo: 0,
                        hi: 1,
                        w: q / 4,
                    },
                    Tap { lo: 1, hi: 1, w: q },
                ],
            ],
        };
        let shape = it.output_shape("t", &[&[1, 2]]).unwrap();
        assert_eq!(it.eval(&x, &shape).data, vec![5 << 11, 4 << 12]);
        let c = Tensor::new(vec![1, 2], vec![12345, 12345]);
        let odd = Interpolate {
            taps: vec![
                vec![Tap { lo: 0, hi: 0, w: 0 }],
                vec![Tap {
                    lo: 0,
                    hi: 1,
                    w: 12345,
                }],
            ],
        };
        assert_eq!(odd.eval(&c, &[1, 1]).data, vec![12345]);
    }
}
