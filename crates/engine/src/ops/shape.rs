//! Data-movement operators: `Reshape` (also `Flatten`, `Squeeze`, `Unsqueeze`),
//! `Transpose`, `Concat`. Exact: they never change a value.

use serde::{Deserialize, Serialize};

use super::{input, input_shape, shape_err, strides, BuildCtx, Built, Op, Wire};
use crate::{
    import::{Attr, Const, ConstData, GraphNode},
    EngineError, Result, Tensor,
};

/// Same data under a new shape, resolved at compile time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reshape {
    /// The output shape.
    pub shape: Vec<usize>,
}

impl Reshape {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if x.iter().product::<usize>() == self.shape.iter().product::<usize>() => {
                Ok(self.shape.clone())
            }
            _ => Err(shape_err(
                node,
                format!("{} elements", self.shape.iter().product::<usize>()),
                ins,
            )),
        }
    }
}

/// Axis permutation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transpose {
    /// `out.shape[i] = in.shape[perm[i]]`.
    pub perm: Vec<usize>,
}

impl Transpose {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if x.len() == self.perm.len() => Ok(self.perm.iter().map(|p| x[*p]).collect()),
            _ => Err(shape_err(node, format!("rank {}", self.perm.len()), ins)),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let in_strides = strides(&x.shape);
        // Output axis `d` walks input axis `perm[d]`.
        let step: Vec<usize> = self.perm.iter().map(|p| in_strides[*p]).collect();
        let data = super::strided_offsets(out_shape, &step)
            .into_iter()
            .map(|src| x.data[src])
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// Concatenation along one axis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Concat {
    /// The (non-negative) axis.
    pub axis: usize,
}

impl Concat {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        let first = ins
            .first()
            .ok_or_else(|| shape_err(node, "at least one input", ins))?;
        let same = ins.iter().all(|s| {
            s.len() == first.len()
                && s.iter()
                    .enumerate()
                    .all(|(i, d)| i == self.axis || *d == first[i])
        });
        if self.axis >= first.len() || !same {
            return Err(shape_err(
                node,
                format!("equal shapes except axis {}", self.axis),
                ins,
            ));
        }
        let mut out = first.to_vec();
        out[self.axis] = ins.iter().map(|s| s[self.axis]).sum();
        Ok(out)
    }

    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let outer: usize = out_shape[..self.axis].iter().product();
        let mut data = Vec::with_capacity(out_shape.iter().product());
        for o in 0..outer {
            for t in ins {
                let inner: usize = t.shape[self.axis..].iter().product();
                data.extend_from_slice(&t.data[o * inner..(o + 1) * inner]);
            }
        }
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// `Expand` (and `ConstantOfShape`): numpy broadcast of the input to a shape resolved at
/// compile time. Exact: data movement only.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expand {
    /// The output shape (the broadcast of the input's shape and the requested one).
    pub shape: Vec<usize>,
}

impl Expand {
    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if super::binary::broadcast(&[x, &self.shape]).as_ref() == Some(&self.shape) => {
                Ok(self.shape.clone())
            }
            _ => Err(shape_err(
                node,
                format!("one input broadcastable to {:?}", self.shape),
                ins,
            )),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let data = super::binary::broadcast_index(&x.shape, out_shape)
            .into_iter()
            .map(|i| x.data[i])
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// The most elements an `Expand`/`ConstantOfShape` output may have (`2^28`).
const MAX_EXPANDED: usize = 1 << 28;

/// A typed error when `shape` has more than [`MAX_EXPANDED`] elements.
fn check_size(node: &GraphNode, what: &str, shape: &[usize]) -> Result<()> {
    let n = shape.iter().try_fold(1usize, |acc, d| acc.checked_mul(*d));
    match n {
        Some(n) if n <= MAX_EXPANDED => Ok(()),
        _ => Err(node.bad_attr(
            what,
            format!("output shape {shape:?} has more than {MAX_EXPANDED} elements"),
        )),
    }
}

/// Dimensions from a constant int tensor; negative values are an error naming `what`.
fn dims(node: &GraphNode, ctx: &dyn BuildCtx, i: usize, what: &str) -> Result<Vec<usize>> {
    let v = const_ints(node, ctx, i, what)?.ok_or(EngineError::MissingField {
        node: node.name.clone(),
        field: "input",
    })?;
    v.iter()
        .map(|d| {
            usize::try_from(*d)
                .ok()
                .filter(|d| *d <= 1 << 24)
                .ok_or_else(|| node.bad_attr(what, format!("dimension {d} out of range")))
        })
        .collect()
}

pub(crate) fn build_expand(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let target = dims(node, ctx, 1, "shape")?;
    let shape = super::binary::broadcast(&[&x, &target])
        .ok_or_else(|| shape_err(&node.name, format!("broadcastable to {target:?}"), &[&x]))?;
    check_size(node, "shape", &shape)?;
    Ok(Built {
        op: Op::Expand(Expand { shape }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// `ConstantOfShape(shape)`: the `value` attribute (default 0) expanded to the constant
/// `shape`; an all-constant node, so the compiler folds it.
pub(crate) fn build_constant_of_shape(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let shape = dims(node, ctx, 0, "input")?;
    check_size(node, "input", &shape)?;
    let value = match node.attrs.get("value") {
        None => Const {
            shape: vec![],
            data: ConstData::Float(vec![0.0]),
        },
        Some(Attr::Tensor(t)) if t.data.len() == 1 => Const {
            shape: vec![],
            data: t.data.clone(),
        },
        Some(other) => {
            return Err(node.bad_attr(
                "value",
                format!("expected a one-element tensor, got {other:?}"),
            ))
        }
    };
    Ok(Built {
        op: Op::Expand(Expand { shape }),
        inputs: vec![Wire::Const(value)],
    })
}

/// `Shape(x)` (with `start`, `end`): the static shape of `x` as a constant int vector (a
/// [`Reshape`] of a builder constant, which the compiler folds).
pub(crate) fn build_shape(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let r = x.len() as i64;
    let clampi = |v: i64| (if v < 0 { v + r } else { v }).clamp(0, r) as usize;
    let start = clampi(node.int("start", 0)?);
    let end = clampi(node.int("end", r)?).max(start);
    let dims: Vec<i64> = x[start..end].iter().map(|d| *d as i64).collect();
    Ok(Built {
        op: Op::Reshape(Reshape {
            shape: vec![dims.len()],
        }),
        inputs: vec![Wire::Const(Const {
            shape: vec![dims.len()],
            data: ConstData::Int(dims),
        })],
    })
}

/// The most elements `Range` may output (`2^24`).
const MAX_RANGE: usize = 1 << 24;

/// `Range(start, limit, delta)` on constant scalars: `start + i·delta` for
/// `i < max(⌈(limit − start)/delta⌉, 0)`, computed at compile time as a builder constant
/// (carried by an identity [`Reshape`], which the compiler folds). Values that depend on
/// the input (a sequence length read from a runtime tensor) would make the output shape
/// data-dependent: a typed error. Exact for integer ranges; real ones are quantised once.
pub(crate) fn build_range(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let scalar = |i: usize, what: &str| -> Result<Const> {
        let name = input(node, i)?;
        let c = ctx
            .constant(&name)
            .ok_or_else(|| node.bad_attr(what, "must be a constant (static shapes)"))?;
        if c.data.len() != 1 {
            return Err(node.bad_attr(what, "must be a scalar"));
        }
        Ok(c.clone())
    };
    let (start, limit, delta) = (
        scalar(0, "start")?,
        scalar(1, "limit")?,
        scalar(2, "delta")?,
    );
    let ints = [&start, &limit, &delta]
        .iter()
        .all(|c| matches!(c.data, ConstData::Int(_)));
    let f = |c: &Const| c.data.as_floats()[0];
    let (s, l, d) = (f(&start), f(&limit), f(&delta));
    if d == 0.0 || !(s.is_finite() && l.is_finite() && d.is_finite()) {
        return Err(node.bad_attr("delta", format!("range {s}..{l} by {d}")));
    }
    let n = ((l - s) / d).ceil().max(0.0);
    if n > MAX_RANGE as f64 {
        return Err(node.bad_attr("limit", format!("{n} elements (at most {MAX_RANGE})")));
    }
    let n = n as usize;
    let data = if ints {
        let (s, d) = (start.data.as_ints()[0], delta.data.as_ints()[0]);
        ConstData::Int(
            (0..n as i64)
                .map(|i| s.saturating_add(i.saturating_mul(d)))
                .collect(),
        )
    } else {
        ConstData::Float((0..n).map(|i| s + i as f64 * d).collect())
    };
    Ok(Built {
        op: Op::Reshape(Reshape { shape: vec![n] }),
        inputs: vec![Wire::Const(Const {
            shape: vec![n],
            data,
        })],
    })
}

fn axis(node: &GraphNode, a: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    if a < -r || a >= r.max(1) {
        return Err(node.bad_attr("axis", format!("{a} out of range for rank {rank}")));
    }
    Ok(a.rem_euclid(r.max(1)) as usize)
}

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
            .ok_or_else(|| node.bad_attr(what, "must be a constant")),
    }
}

pub(crate) fn build_reshape(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let total: usize = x.iter().product();
    let shape: Vec<usize> = match node.op_type.as_str() {
        "Flatten" => {
            // axis in [-r, r]; a negative axis counts from the back of the *input* rank.
            let (a, r) = (node.int("axis", 1)?, x.len() as i64);
            if a < -r || a > r {
                return Err(node.bad_attr("axis", format!("{a} out of range for rank {r}")));
            }
            let a = if a < 0 { a + r } else { a } as usize;
            vec![x[..a].iter().product(), x[a..].iter().product()]
        }
        "Squeeze" => {
            let axes = const_ints(node, ctx, 1, "axes")?.or(node.ints("axes")?);
            match axes {
                None => x.iter().copied().filter(|d| *d != 1).collect(),
                Some(axes) => {
                    let axes: Vec<usize> = axes
                        .iter()
                        .map(|a| axis(node, *a, x.len()))
                        .collect::<Result<_>>()?;
                    if axes.iter().any(|a| x[*a] != 1) {
                        return Err(node.bad_attr("axes", "squeezed axes must have size 1"));
                    }
                    x.iter()
                        .enumerate()
                        .filter(|(i, _)| !axes.contains(i))
                        .map(|(_, d)| *d)
                        .collect()
                }
            }
        }
        "Unsqueeze" => {
            let axes = const_ints(node, ctx, 1, "axes")?
                .or(node.ints("axes")?)
                .ok_or_else(|| node.bad_attr("axes", "required"))?;
            let rank = x.len() + axes.len();
            let mut axes: Vec<usize> = axes
                .iter()
                .map(|a| axis(node, *a, rank))
                .collect::<Result<_>>()?;
            axes.sort_unstable();
            let mut src = x.iter();
            (0..rank)
                .map(|i| {
                    if axes.contains(&i) {
                        1
                    } else {
                        *src.next().unwrap_or(&1)
                    }
                })
                .collect()
        }
        _ => {
            let spec = const_ints(node, ctx, 1, "shape")?.ok_or(EngineError::MissingField {
                node: node.name.clone(),
                field: "shape",
            })?;
            let allow_zero = node.int("allowzero", 0)? != 0;
            let mut out: Vec<usize> = Vec::with_capacity(spec.len());
            let mut infer = None;
            for (i, d) in spec.iter().enumerate() {
                match *d {
                    -1 if infer.is_none() => {
                        infer = Some(i);
                        out.push(1);
                    }
                    0 if !allow_zero => out.push(
                        *x.get(i)
                            .ok_or_else(|| node.bad_attr("shape", "0 copies a missing dim"))?,
                    ),
                    d if d >= 0 => out.push(d as usize),
                    _ => return Err(node.bad_attr("shape", format!("invalid entry {d}"))),
                }
            }
            if let Some(i) = infer {
                let known: usize = out.iter().product();
                if known == 0 || !total.is_multiple_of(known) {
                    return Err(shape_err(
                        &node.name,
                        format!("a shape compatible with {spec:?}"),
                        &[&x],
                    ));
                }
                out[i] = total / known;
            }
            out
        }
    };
    if shape.iter().product::<usize>() != total {
        return Err(shape_err(
            &node.name,
            format!("{total} elements in {shape:?}"),
            &[&x],
        ));
    }
    Ok(Built {
        op: Op::Reshape(Reshape { shape }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

pub(crate) fn build_transpose(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let perm: Vec<usize> = match node.ints("perm")? {
        Some(p) => p
            .iter()
            .map(|a| axis(node, *a, x.len()))
            .collect::<Result<_>>()?,
        None => (0..x.len()).rev().collect(),
    };
    let mut seen = perm.clone();
    seen.sort_unstable();
    if seen != (0..x.len()).collect::<Vec<_>>() {
        return Err(node.bad_attr(
            "perm",
            format!("{perm:?} is not a permutation of 0..{}", x.len()),
        ));
    }
    Ok(Built {
        op: Op::Transpose(Transpose { perm }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

pub(crate) fn build_concat(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let a = axis(node, node.int("axis", 0)?, x.len())?;
    let inputs = node
        .inputs
        .iter()
        .filter(|s| !s.is_empty())
        .map(|s| Wire::Value(s.clone()))
        .collect();
    Ok(Built {
        op: Op::Concat(Concat { axis: a }),
        inputs,
    })
}

/// The most elements a [`Rearrange`] may move (`2^26`: its index map is held in the program).
const MAX_REARRANGED: usize = 1 << 26;

/// Which block rearrangement a [`Rearrange`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RearrangeKind {
    /// `DepthToSpace` (modes `DCR` and `CRD`).
    DepthToSpace,
    /// `SpaceToDepth`.
    SpaceToDepth,
}

/// A data movement with a compile-time index map, `y[i] = x[index[i]]`: `DepthToSpace`
/// and `SpaceToDepth` on `[N, C, H, W]`. Exact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rearrange {
    /// Which op it is.
    pub kind: RearrangeKind,
    /// The input shape it was compiled for.
    pub in_shape: Vec<usize>,
    /// The output shape.
    pub out_shape: Vec<usize>,
    /// For every output element (row-major), the flat input index it reads.
    pub index: Vec<usize>,
}

impl Rearrange {
    /// ONNX op type.
    pub fn name(&self) -> &'static str {
        match self.kind {
            RearrangeKind::DepthToSpace => "DepthToSpace",
            RearrangeKind::SpaceToDepth => "SpaceToDepth",
        }
    }

    pub(crate) fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match ins {
            [x] if *x == self.in_shape.as_slice() => Ok(self.out_shape.clone()),
            _ => Err(shape_err(node, format!("input {:?}", self.in_shape), ins)),
        }
    }

    pub(crate) fn eval(&self, x: &Tensor, out_shape: &[usize]) -> Tensor {
        let data = self
            .index
            .iter()
            .map(|i| x.data.get(*i).copied().unwrap_or(0))
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// `DepthToSpace` (`blocksize` `b`, `mode` `DCR` or `CRD`) and `SpaceToDepth` on a static
/// `[N, C, H, W]`: DCR `y[n, c, h·b + i, w·b + j] = x[n, (i·b + j)·C/b² + c, h, w]`, CRD
/// `… = x[n, c·b² + i·b + j, h, w]`; SpaceToDepth (the inverses)
/// DCR `y[n, (i·b + j)·C + c, h, w] = x[n, c, h·b + i, w·b + j]`, CRD
/// `y[n, c·b² + i·b + j, h, w] = …`.
pub(crate) fn build_rearrange(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let [n, c, h, w] = x[..] else {
        return Err(shape_err(&node.name, "[N, C, H, W]", &[&x]));
    };
    let b = usize::try_from(node.int("blocksize", 0)?)
        .ok()
        .filter(|b| (1..=1 << 12).contains(b))
        .ok_or_else(|| node.bad_attr("blocksize", "must be in 1..=4096"))?;
    if x.iter().product::<usize>() > MAX_REARRANGED {
        return Err(shape_err(
            &node.name,
            format!("at most {MAX_REARRANGED} elements"),
            &[&x],
        ));
    }
    let st = strides(&x);
    let at = |n: usize, c: usize, h: usize, w: usize| n * st[0] + c * st[1] + h * st[2] + w * st[3];
    let (kind, out, index) = if node.op_type == "DepthToSpace" {
        if c % (b * b) != 0 {
            return Err(shape_err(
                &node.name,
                format!("C divisible by blocksize² = {}", b * b),
                &[&x],
            ));
        }
        let crd = match node.string("mode", "DCR")?.as_str() {
            "DCR" => false,
            "CRD" => true,
            other => return Err(node.bad_attr("mode", format!("unknown mode {other}"))),
        };
        let c2 = c / (b * b);
        let out = vec![n, c2, h * b, w * b];
        let mut index = Vec::with_capacity(x.iter().product());
        for nn in 0..n {
            for cc in 0..c2 {
                for y in 0..h * b {
                    for xx in 0..w * b {
                        let (hh, i, ww, j) = (y / b, y % b, xx / b, xx % b);
                        let src_c = if crd {
                            cc * b * b + i * b + j
                        } else {
                            (i * b + j) * c2 + cc
                        };
                        index.push(at(nn, src_c, hh, ww));
                    }
                }
            }
        }
        (RearrangeKind::DepthToSpace, out, index)
    } else {
        if h % b != 0 || w % b != 0 {
            return Err(shape_err(
                &node.name,
                format!("H and W divisible by blocksize {b}"),
                &[&x],
            ));
        }
        let crd = match node.string("mode", "DCR")?.as_str() {
            "DCR" => false,
            "CRD" => true,
            other => return Err(node.bad_attr("mode", format!("unknown mode {other}"))),
        };
        let out = vec![n, c * b * b, h / b, w / b];
        let mut index = Vec::with_capacity(x.iter().product());
        for nn in 0..n {
            for oc in 0..c * b * b {
                let (blk, cc) = if crd {
                    (oc % (b * b), oc / (b * b))
                } else {
                    (oc / c, oc % c)
                };
                let (i, j) = (blk / b, blk % b);
                for hh in 0..h / b {
                    for ww in 0..w / b {
                        index.push(at(nn, cc, hh * b + i, ww * b + j));
                    }
                }
            }
        }
        (RearrangeKind::SpaceToDepth, out, index)
    };
    Ok(Built {
        op: Op::Rearrange(Rearrange {
            kind,
            in_shape: x,
            out_shape: out,
            index,
        }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

/// `Size`: the static element count as the integer `k·2^F`, a compile-time constant (as
/// [`build_shape`]).
pub(crate) fn build_size(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    let n = x.iter().product::<usize>() as i64;
    Ok(Built {
        op: Op::Reshape(Reshape { shape: vec![] }),
        inputs: vec![Wire::Const(Const {
            shape: vec![],
            data: ConstData::Int(vec![n]),
        })],
    })
}

/// `Dropout` at inference: the identity on `data` (an identity [`Reshape`]). A
/// `training_mode` input that is not the constant `false`, or a used `mask` output, is a
/// typed error (training-time dropout is random).
pub(crate) fn build_dropout(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    if let Some(name) = node.inputs.get(2).filter(|s| !s.is_empty()) {
        let training = ctx
            .constant(name)
            .ok_or_else(|| node.bad_attr("training_mode", "must be a constant"))?;
        if training.data.as_floats().iter().any(|v| *v != 0.0) {
            return Err(node.bad_attr("training_mode", "only inference (false)"));
        }
    }
    if node.outputs.get(1).is_some_and(|m| !m.is_empty()) {
        return Err(node.bad_attr("mask", "the mask output is not supported"));
    }
    Ok(Built {
        op: Op::Reshape(Reshape { shape: x }),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_to_space_inverts_space_to_depth() {
        use crate::ops::BuildCtx;
        struct Ctx(Vec<usize>);
        impl BuildCtx for Ctx {
            fn shape(&self, _: &str) -> Option<Vec<usize>> {
                Some(self.0.clone())
            }
            fn constant(&self, _: &str) -> Option<&Const> {
                None
            }
            fn opset(&self) -> i64 {
                17
            }
        }
        let node = |op: &str, mode: &str| GraphNode {
            name: op.into(),
            op_type: op.into(),
            inputs: vec!["x".into()],
            outputs: vec!["y".into()],
            attrs: [
                ("blocksize".to_string(), Attr::Int(2)),
                ("mode".to_string(), Attr::Str(mode.into())),
            ]
            .into(),
        };
        let x = Tensor::new(vec![1, 2, 4, 6], (0..48).collect());
        for mode in ["DCR", "CRD"] {
            let s2d =
                super::super::build(&node("SpaceToDepth", mode), &Ctx(x.shape.clone())).unwrap();
            let sh = s2d.op.output_shape("s", &[&x.shape]).unwrap();
            assert_eq!(sh, vec![1, 8, 2, 3]);
            let y = s2d.op.eval(&[&x], &sh);
            let d2s = super::super::build(&node("DepthToSpace", mode), &Ctx(sh.clone())).unwrap();
            let back = d2s.op.eval(&[&y], &x.shape);
            assert_eq!(back, x, "{mode}");
        }
        // Channels not divisible by blocksize²: a typed error.
        let r = super::super::build(&node("DepthToSpace", "DCR"), &Ctx(vec![1, 3, 2, 2]));
        assert!(matches!(r, Err(EngineError::ShapeMismatch { .. })));
    }

    /// `Expand` broadcasts like numpy (also to a larger rank) and rejects incompatible or
    /// oversized targets with typed errors.
    #[test]
    fn expand_broadcasts_and_checks_shapes() {
        let e = Expand {
            shape: vec![2, 2, 3],
        };
        let x = Tensor::new(vec![2, 1], vec![1, 2]);
        assert_eq!(e.output_shape("e", &[&x.shape]).unwrap(), vec![2, 2, 3]);
        let y = e.eval(&x, &[2, 2, 3]);
        assert_eq!(y.data, vec![1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2]);
        assert!(e.output_shape("e", &[&[3, 1]]).is_err());
        assert!(e.output_shape("e", &[&[2, 2, 2, 3]]).is_err());
        let node = GraphNode {
            name: "n".into(),
            op_type: "Expand".into(),
            inputs: vec![],
            outputs: vec![],
            attrs: Default::default(),
        };
        assert!(check_size(&node, "shape", &[1 << 20, 1 << 20]).is_err());
        assert!(check_size(&node, "shape", &[usize::MAX, 2]).is_err());
        assert!(check_size(&node, "shape", &[16, 64]).is_ok());
    }
}
