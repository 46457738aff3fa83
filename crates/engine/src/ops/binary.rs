//! Broadcasting elementwise arithmetic (`Add`, `Sub`, `Mul`, `Div`) and
//! `BatchNormalization`, which compiles to a `Mul` and an `Add` folded into one affine op.

use serde::{Deserialize, Serialize};

use super::{input, input_shape, shape_err, strides, BuildCtx, Built, Op, Wire};
use crate::{
    fixed::{div_round, rescale, saturate, FRAC_BITS, ONE},
    import::{Const, ConstData, GraphNode},
    Result, Tensor,
};

/// Which elementwise operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum BinaryKind {
    /// `sat(a + b)`.
    Add,
    /// `sat(a - b)`.
    Sub,
    /// `rescale(a·b, F)`.
    Mul,
    /// `sat(round_half_up(a·2^F / b))`; `b = 0` gives `i32::MAX`, `0` or `i32::MIN` by the
    /// sign of `a`.
    Div,
    /// `rescale(a·s + t·2^F, F)` with inputs `[a, s, t]` (a folded `BatchNormalization`).
    Affine,
}

impl BinaryKind {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            BinaryKind::Add => "Add",
            BinaryKind::Sub => "Sub",
            BinaryKind::Mul => "Mul",
            BinaryKind::Div => "Div",
            BinaryKind::Affine => "BatchNormalization",
        }
    }

    /// The integer semantics of one element.
    pub fn apply(&self, a: i32, b: i32, c: i32) -> i32 {
        let (a, b) = (a as i128, b as i128);
        match self {
            BinaryKind::Add => saturate(a + b),
            BinaryKind::Sub => saturate(a - b),
            BinaryKind::Mul => rescale(a * b, FRAC_BITS),
            BinaryKind::Div => match b.signum() {
                0 => saturate(a.signum() * i128::MAX),
                1 => saturate(div_round(a * ONE as i128, b)),
                _ => saturate(div_round(-a * ONE as i128, -b)),
            },
            BinaryKind::Affine => rescale(a * b + c as i128 * ONE as i128, FRAC_BITS),
        }
    }

    /// Runs the kernel on `ins` broadcast to `out_shape`.
    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let n: usize = out_shape.iter().product();
        let mut out = vec![0; n];
        let srcs: Vec<Option<&Tensor>> = ins.iter().map(|t| Some(*t)).collect();
        self.eval_into(&srcs, out_shape, &mut out);
        Tensor::new(out_shape.to_vec(), out)
    }

    /// Runs the kernel into `out` (`out_shape`'s size). An operand given as `None` is read
    /// from `out` itself: it has `out_shape` and its values are in `out` (in place).
    pub(crate) fn eval_into(&self, ins: &[Option<&Tensor>], out_shape: &[usize], out: &mut [i32]) {
        match self {
            BinaryKind::Add => rows2(ins, out_shape, out, i32::saturating_add),
            BinaryKind::Sub => rows2(ins, out_shape, out, i32::saturating_sub),
            BinaryKind::Mul => rows2(ins, out_shape, out, mul),
            BinaryKind::Div => rows2(ins, out_shape, out, div),
            BinaryKind::Affine => for_each_row(ins, out_shape, out, |o, ops| {
                row3(o, ops[0], ops[1], ops[2], affine)
            }),
        }
    }
}

/// [`BinaryKind::Mul`] in `i64`: `|a·b| ≤ 2^62`, so `a·b + 2^(F−1)` does not overflow.
#[inline(always)]
fn mul(a: i32, b: i32) -> i32 {
    let p = a as i64 * b as i64 + (1 << (FRAC_BITS - 1));
    (p >> FRAC_BITS).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// [`BinaryKind::Div`] in `i64`: `|a·2^F| ≤ 2^43` and `|b| ≤ 2^31`, so `±a·2^F + |b|/2`
/// does not overflow, and a floor division of the same integers is the same integer.
#[inline(always)]
fn div(a: i32, b: i32) -> i32 {
    let (a, b) = (a as i64, b as i64);
    let q = match b.signum() {
        0 => a.signum() * i64::MAX,
        1 => (a * ONE + b / 2).div_euclid(b),
        _ => (-a * ONE + (-b) / 2).div_euclid(-b),
    };
    q.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// [`BinaryKind::Affine`] in `i64`: `|a·s| ≤ 2^62` and `|t·2^F| ≤ 2^43`, so
/// `a·s + t·2^F + 2^(F−1)` does not overflow.
#[inline(always)]
fn affine(a: i32, s: i32, t: i32) -> i32 {
    let p = a as i64 * s as i64 + ((t as i64) << FRAC_BITS) + (1 << (FRAC_BITS - 1));
    (p >> FRAC_BITS).clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// One operand over one row of the output.
#[derive(Clone, Copy)]
enum Operand<'a> {
    /// The row of `out` itself (the operand is computed in place).
    Out,
    /// A contiguous run, as long as the row.
    Run(&'a [i32]),
    /// One value broadcast along the row.
    Splat(i32),
}

/// Calls `row(out_row, operands)` for every row of the output: the output's axes are
/// merged wherever every operand reads them as one axis, and a row is the last merged
/// axis, along which each operand is either contiguous or constant (numpy broadcasting
/// gives no other case).
fn for_each_row(
    ins: &[Option<&Tensor>],
    out_shape: &[usize],
    out: &mut [i32],
    mut row: impl FnMut(&mut [i32], [Operand; 3]),
) {
    debug_assert!(ins.len() <= 3);
    if out.is_empty() {
        return;
    }
    // Strides of every operand along every output axis (0 where it is broadcast), axes of
    // length 1 dropped, mergeable neighbours merged.
    let src_strides: Vec<Vec<usize>> = ins
        .iter()
        .map(|t| match t {
            Some(t) => {
                let off = out_shape.len() - t.shape.len();
                let s = strides(&t.shape);
                (0..out_shape.len())
                    .map(|d| match d.checked_sub(off) {
                        Some(d) if t.shape[d] != 1 => s[d],
                        _ => 0,
                    })
                    .collect()
            }
            None => strides(out_shape),
        })
        .collect();
    let mut dims: Vec<(usize, [usize; 3])> = Vec::with_capacity(out_shape.len());
    for (d, &len) in out_shape.iter().enumerate() {
        if len == 1 {
            continue;
        }
        let mut st = [0; 3];
        for (k, s) in src_strides.iter().enumerate() {
            st[k] = s[d];
        }
        match dims.last_mut() {
            Some((plen, pst)) if (0..3).all(|k| pst[k] == st[k] * len) => {
                *plen *= len;
                *pst = st;
            }
            _ => dims.push((len, st)),
        }
    }
    let (len, inner) = dims.pop().unwrap_or((1, [0; 3]));
    let mut offsets = [0usize; 3];
    let mut counter = vec![0usize; dims.len()];
    for out_row in out.chunks_exact_mut(len) {
        let mut ops = [Operand::Splat(0); 3];
        for (k, t) in ins.iter().enumerate() {
            ops[k] = match t {
                None => Operand::Out,
                Some(t) if inner[k] == 1 => Operand::Run(&t.data[offsets[k]..offsets[k] + len]),
                Some(t) => Operand::Splat(t.data[offsets[k]]),
            };
        }
        row(out_row, ops);
        // Next row: odometer over the outer axes.
        for (d, (dlen, st)) in dims.iter().enumerate().rev() {
            counter[d] += 1;
            for k in 0..3 {
                offsets[k] += st[k];
            }
            if counter[d] < *dlen {
                break;
            }
            counter[d] = 0;
            for k in 0..3 {
                offsets[k] -= st[k] * dlen;
            }
        }
    }
}

/// A two-operand kernel over every row.
fn rows2(
    ins: &[Option<&Tensor>],
    out_shape: &[usize],
    out: &mut [i32],
    f: impl Fn(i32, i32) -> i32 + Copy,
) {
    for_each_row(ins, out_shape, out, |o, ops| row2(o, ops[0], ops[1], f));
}

/// `out[i] = f(a[i], b[i])` over one row.
#[inline(always)]
fn row2(out: &mut [i32], a: Operand, b: Operand, f: impl Fn(i32, i32) -> i32) {
    use Operand::*;
    match (a, b) {
        (Run(a), Run(b)) => out
            .iter_mut()
            .zip(a.iter().zip(b))
            .for_each(|(o, (a, b))| *o = f(*a, *b)),
        (Run(a), Splat(b)) => out.iter_mut().zip(a).for_each(|(o, a)| *o = f(*a, b)),
        (Splat(a), Run(b)) => out.iter_mut().zip(b).for_each(|(o, b)| *o = f(a, *b)),
        (Splat(a), Splat(b)) => out.fill(f(a, b)),
        (Out, Run(b)) => out.iter_mut().zip(b).for_each(|(o, b)| *o = f(*o, *b)),
        (Out, Splat(b)) => out.iter_mut().for_each(|o| *o = f(*o, b)),
        (Run(a), Out) => out.iter_mut().zip(a).for_each(|(o, a)| *o = f(*a, *o)),
        (Splat(a), Out) => out.iter_mut().for_each(|o| *o = f(a, *o)),
        (Out, Out) => out.iter_mut().for_each(|o| *o = f(*o, *o)),
    }
}

/// `out[i] = f(a[i], b[i], c[i])` over one row; fast for `a` contiguous (or in place) with
/// `b` and `c` constant along the row (a per-channel affine map).
#[inline(always)]
fn row3(out: &mut [i32], a: Operand, b: Operand, c: Operand, f: impl Fn(i32, i32, i32) -> i32) {
    use Operand::*;
    match (a, b, c) {
        (Run(a), Splat(b), Splat(c)) => out.iter_mut().zip(a).for_each(|(o, a)| *o = f(*a, b, c)),
        (Out, Splat(b), Splat(c)) => out.iter_mut().for_each(|o| *o = f(*o, b, c)),
        _ => {
            let get = |x: &Operand, o: i32, i: usize| match x {
                Out => o,
                Run(r) => r[i],
                Splat(v) => *v,
            };
            for (i, o) in out.iter_mut().enumerate() {
                *o = f(get(&a, *o, i), get(&b, *o, i), get(&c, *o, i));
            }
        }
    }
}

/// Numpy broadcast of several shapes; `None` if incompatible.
pub(crate) fn broadcast(shapes: &[&[usize]]) -> Option<Vec<usize>> {
    let rank = shapes.iter().map(|s| s.len()).max().unwrap_or(0);
    let mut out = vec![1; rank];
    for s in shapes {
        for (i, d) in s.iter().enumerate() {
            let o = &mut out[rank - s.len() + i];
            if *o == 1 {
                *o = *d;
            } else if *d != 1 && *d != *o {
                return None;
            }
        }
    }
    Some(out)
}

pub(crate) fn broadcast_shape(node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
    broadcast(ins).ok_or_else(|| shape_err(node, "broadcastable shapes", ins))
}

/// For every element of `out`, the flat index of the element of `src` it reads (numpy
/// broadcasting).
pub fn broadcast_index(src: &[usize], out: &[usize]) -> Vec<usize> {
    let off = out.len() - src.len();
    let src_strides = strides(src);
    // Along each output axis the source advances by its own stride, or not at all where it
    // is broadcast (a missing leading axis or a length-1 one).
    let step: Vec<usize> = (0..out.len())
        .map(|d| match d.checked_sub(off) {
            Some(d) if src[d] != 1 => src_strides[d],
            _ => 0,
        })
        .collect();
    super::strided_offsets(out, &step)
}

pub(crate) fn build(node: &GraphNode) -> Result<Built> {
    let kind = match node.op_type.as_str() {
        "Add" => BinaryKind::Add,
        "Sub" => BinaryKind::Sub,
        "Mul" => BinaryKind::Mul,
        _ => BinaryKind::Div,
    };
    Ok(Built {
        op: Op::Binary(kind),
        inputs: vec![Wire::Value(input(node, 0)?), Wire::Value(input(node, 1)?)],
    })
}

/// `y = (x - mean)/sqrt(var + eps)·gamma + beta` folded at compile time into
/// `y = x·s + t` with per-channel constants of shape `[C, 1, ..., 1]`.
pub(crate) fn build_batchnorm(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    if x.len() < 2 {
        return Err(shape_err(&node.name, "rank >= 2", &[&x]));
    }
    if node.int("training_mode", 0)? != 0 {
        return Err(node.bad_attr(
            "training_mode",
            "only inference (0): batch statistics are not supported",
        ));
    }
    let eps = node.float("epsilon", 1e-5)? as f64;
    let get = |i: usize| -> Result<Vec<f64>> {
        let name = input(node, i)?;
        let c = ctx.constant(&name).ok_or_else(|| {
            node.bad_attr(&name, "BatchNormalization parameters must be constants")
        })?;
        if c.data.len() != x[1] {
            return Err(shape_err(
                &node.name,
                format!("[{}] per-channel parameters", x[1]),
                &[&c.shape],
            ));
        }
        Ok(c.data.as_floats())
    };
    let (gamma, beta, mean, var) = (get(1)?, get(2)?, get(3)?, get(4)?);
    let s: Vec<f64> = gamma
        .iter()
        .zip(&var)
        .map(|(g, v)| g / (v + eps).sqrt())
        .collect();
    let t: Vec<f64> = beta
        .iter()
        .zip(&mean)
        .zip(&s)
        .map(|((b, m), s)| b - m * s)
        .collect();
    let mut shape = vec![x[1]];
    shape.extend(std::iter::repeat_n(1, x.len() - 2));
    let c = |v: Vec<f64>| {
        Wire::Const(Const {
            shape: shape.clone(),
            data: ConstData::Float(v),
        })
    };
    Ok(Built {
        op: Op::Binary(BinaryKind::Affine),
        inputs: vec![Wire::Value(input(node, 0)?), c(s), c(t)],
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::ops::test_values as values;

    /// The previous kernel: every operand read through a precomputed broadcast index, every
    /// element by [`BinaryKind::apply`].
    fn reference(kind: BinaryKind, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let idx: Vec<Vec<usize>> = ins
            .iter()
            .map(|t| broadcast_index(&t.shape, out_shape))
            .collect();
        let n: usize = out_shape.iter().product();
        let data = (0..n)
            .map(|i| {
                let c = ins.get(2).map_or(0, |t| t.data[idx[2][i]]);
                kind.apply(ins[0].data[idx[0][i]], ins[1].data[idx[1][i]], c)
            })
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }

    /// An output shape of rank 0..=4 and, per operand, a shape broadcasting to it: each
    /// axis kept or set to 1, leading axes possibly dropped.
    fn shapes(operands: usize) -> impl Strategy<Value = (Vec<usize>, Vec<Vec<usize>>)> {
        prop::collection::vec(1usize..5, 0..5).prop_flat_map(move |out| {
            let rank = out.len();
            let one = (prop::collection::vec(any::<bool>(), rank), 0..=rank).prop_map({
                let out = out.clone();
                move |(keep, drop)| {
                    out.iter()
                        .zip(keep)
                        .skip(drop)
                        .map(|(d, k)| if k { *d } else { 1 })
                        .collect::<Vec<usize>>()
                }
            });
            (Just(out), prop::collection::vec(one, operands))
        })
    }

    fn kinds() -> impl Strategy<Value = BinaryKind> {
        prop::sample::select(vec![
            BinaryKind::Add,
            BinaryKind::Sub,
            BinaryKind::Mul,
            BinaryKind::Div,
            BinaryKind::Affine,
        ])
    }

    /// Tensors of the given shapes filled from `values`.
    fn filled(shapes: &[Vec<usize>], values: &[i32]) -> Vec<Tensor> {
        let mut at = 0;
        shapes
            .iter()
            .map(|s| {
                let n: usize = s.iter().product();
                let t = Tensor::new(s.clone(), values[at..at + n].to_vec());
                at += n;
                t
            })
            .collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Fresh output and in place on every operand of the output's shape: the same
        /// integers as the reference.
        #[test]
        fn equals_reference(
            kind in kinds(),
            (out, shapes) in shapes(3),
            pool in values(3 * 256),
        ) {
            let operands = if kind == BinaryKind::Affine { 3 } else { 2 };
            let ins = filled(&shapes[..operands], &pool);
            let refs: Vec<&Tensor> = ins.iter().collect();
            let want = reference(kind, &refs, &out);
            prop_assert_eq!(&kind.eval(&refs, &out), &want);
            for p in 0..operands {
                if ins[p].shape != out {
                    continue;
                }
                let mut data = ins[p].data.clone();
                let srcs: Vec<Option<&Tensor>> =
                    (0..operands).map(|k| (k != p).then_some(&ins[k])).collect();
                kind.eval_into(&srcs, &out, &mut data);
                prop_assert_eq!(&data, &want.data);
            }
        }
    }

    #[test]
    fn equals_reference_on_extremes_and_network_shapes() {
        let extremes = [
            i32::MIN,
            i32::MIN + 1,
            -4097,
            -2048,
            -1,
            0,
            1,
            2047,
            2048,
            i32::MAX - 1,
            i32::MAX,
        ];
        let all: Vec<i32> = extremes
            .iter()
            .flat_map(|a| extremes.iter().map(move |b| [*a, *b]))
            .flatten()
            .collect();
        let pairs = all.len() / 2;
        let a = Tensor::new(vec![pairs], all.iter().step_by(2).copied().collect());
        let b = Tensor::new(
            vec![pairs],
            all.iter().skip(1).step_by(2).copied().collect(),
        );
        let c = Tensor::new(vec![pairs], b.data.iter().rev().copied().collect());
        for kind in [
            BinaryKind::Add,
            BinaryKind::Sub,
            BinaryKind::Mul,
            BinaryKind::Div,
        ] {
            assert_eq!(
                kind.eval(&[&a, &b], &[pairs]),
                reference(kind, &[&a, &b], &[pairs])
            );
        }
        let affine = BinaryKind::Affine;
        assert_eq!(
            affine.eval(&[&a, &b, &c], &[pairs]),
            reference(affine, &[&a, &b, &c], &[pairs])
        );
        // A residual add and a folded batch norm of MobileNet-like shapes.
        let x = Tensor::new(
            vec![1, 24, 7, 9],
            (0..1512i32).map(|i| i.wrapping_mul(2_000_003)).collect(),
        );
        let y = Tensor::new(
            vec![1, 24, 7, 9],
            (0..1512i32).map(|i| i.wrapping_mul(-1_400_017)).collect(),
        );
        let s = Tensor::new(
            vec![24, 1, 1],
            (0..24).map(|i| i * 900_001 - 9_000_000).collect(),
        );
        let t = Tensor::new(vec![24, 1, 1], (0..24).map(|i| i32::MAX - i * 77).collect());
        let out = [1, 24, 7, 9];
        for kind in [
            BinaryKind::Add,
            BinaryKind::Sub,
            BinaryKind::Mul,
            BinaryKind::Div,
        ] {
            assert_eq!(kind.eval(&[&x, &y], &out), reference(kind, &[&x, &y], &out));
            assert_eq!(kind.eval(&[&x, &s], &out), reference(kind, &[&x, &s], &out));
        }
        assert_eq!(
            affine.eval(&[&x, &s, &t], &out),
            reference(affine, &[&x, &s, &t], &out)
        );
    }

    #[test]
    fn broadcasting_follows_numpy() {
        assert_eq!(broadcast(&[&[2, 3], &[3]]), Some(vec![2, 3]));
        assert_eq!(broadcast(&[&[2, 1], &[1, 4]]), Some(vec![2, 4]));
        assert_eq!(broadcast(&[&[2, 3], &[4]]), None);
        assert_eq!(broadcast_index(&[3], &[2, 3]), vec![0, 1, 2, 0, 1, 2]);
        assert_eq!(broadcast_index(&[2, 1], &[2, 2]), vec![0, 0, 1, 1]);
    }

    #[test]
    fn division_is_total() {
        let d = BinaryKind::Div;
        assert_eq!(d.apply(4096, 0, 0), i32::MAX);
        assert_eq!(d.apply(-1, 0, 0), i32::MIN);
        assert_eq!(d.apply(0, 0, 0), 0);
        assert_eq!(d.apply(4096, 8192, 0), 2048);
        assert_eq!(d.apply(i32::MIN, 1, 0), i32::MIN);
        assert_eq!(d.apply(i32::MIN, -1, 0), i32::MAX);
    }
}
