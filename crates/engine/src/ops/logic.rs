//! Comparisons (`Less`, `LessOrEqual`, `Greater`, `GreaterOrEqual`, `Equal`), boolean
//! logic (`Not`, `And`, `Or`, `Xor`), `Where`, `Cast`, the masks `Trilu` lowers to, and the
//! float-class tests `IsNaN`/`IsInf`. Booleans and integers live in the one fixed-point
//! format: `true` is `2^F` (1.0), `false` is 0, an integer `k` is `k·2^F`. All are exact.

use serde::{Deserialize, Serialize};

use super::{binary::broadcast_index, input, input_shape, BuildCtx, Built, Op, Wire};
use crate::{
    fixed::{FRAC_BITS, ONE},
    import::{Const, ConstData, GraphNode},
    Result, Tensor,
};

/// Which boolean connective; operands are true when non-zero, outputs `2^F` or 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogicKind {
    /// `¬a` (one input).
    Not,
    /// `a ∧ b`.
    And,
    /// `a ∨ b`.
    Or,
    /// `a ⊕ b`.
    Xor,
}

impl LogicKind {
    /// ONNX op type.
    pub fn name(&self) -> &'static str {
        match self {
            LogicKind::Not => "Not",
            LogicKind::And => "And",
            LogicKind::Or => "Or",
            LogicKind::Xor => "Xor",
        }
    }

    /// The connective on truth values (`b` is ignored by `Not`).
    pub fn holds(&self, a: bool, b: bool) -> bool {
        match self {
            LogicKind::Not => !a,
            LogicKind::And => a && b,
            LogicKind::Or => a || b,
            LogicKind::Xor => a != b,
        }
    }

    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let ia = broadcast_index(&ins[0].shape, out_shape);
        let data = match ins.get(1) {
            None => ia
                .iter()
                .map(|a| bool_value(self.holds(ins[0].data[*a] != 0, false)))
                .collect(),
            Some(b) => ia
                .iter()
                .zip(broadcast_index(&b.shape, out_shape))
                .map(|(a, j)| bool_value(self.holds(ins[0].data[*a] != 0, b.data[j] != 0)))
                .collect(),
        };
        Tensor::new(out_shape.to_vec(), data)
    }
}

pub(crate) fn build_logic(node: &GraphNode) -> Result<Built> {
    let (kind, arity) = match node.op_type.as_str() {
        "Not" => (LogicKind::Not, 1),
        "And" => (LogicKind::And, 2),
        "Or" => (LogicKind::Or, 2),
        _ => (LogicKind::Xor, 2),
    };
    Ok(Built {
        op: Op::Logic(kind),
        inputs: (0..arity)
            .map(|i| input(node, i).map(Wire::Value))
            .collect::<Result<_>>()?,
    })
}

/// `IsNaN(x)` and `IsInf(x)`: a fixed-point value is always a finite real (the quantiser
/// maps NaN to 0 and ±inf to the saturated extremes, which are ordinary values), so both
/// are the constant `false` of `x`'s shape — an `Expand` of a builder constant that never
/// reads `x`, which the compiler folds. Exact by definition.
pub(crate) fn build_float_class(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let shape = input_shape(node, ctx, 0)?;
    Ok(Built {
        op: Op::Expand(super::Expand { shape }),
        inputs: vec![Wire::Const(Const {
            shape: vec![],
            data: ConstData::Int(vec![0]),
        })],
    })
}

/// The most elements a `Trilu` mask may have (`2^24`).
const MAX_MASK: usize = 1 << 24;

/// `Trilu(x, k)`: keeps the elements on and above (`upper = 1`) or on and below the `k`-th
/// diagonal of the last two axes and zeroes the rest, lowered to `Where(mask, x, 0)` with a
/// constant `[N, M]` mask (`j − i ≥ k`, or `j − i ≤ k`). Exact.
pub(crate) fn build_trilu(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    let x = input_shape(node, ctx, 0)?;
    if x.len() < 2 {
        return Err(super::shape_err(&node.name, "rank >= 2", &[&x]));
    }
    let k = match node.inputs.get(1).filter(|s| !s.is_empty()) {
        None => 0,
        Some(name) => {
            let c = ctx
                .constant(name)
                .ok_or_else(|| node.bad_attr("k", "must be a constant"))?;
            *c.data
                .as_ints()
                .first()
                .ok_or_else(|| node.bad_attr("k", "empty"))?
        }
    };
    let upper = node.int("upper", 1)? != 0;
    let (n, m) = (x[x.len() - 2], x[x.len() - 1]);
    if n.saturating_mul(m) > MAX_MASK {
        return Err(node.bad_attr(
            "input",
            format!("a {n}×{m} mask (at most {MAX_MASK} elements)"),
        ));
    }
    let mask = (0..n as i64)
        .flat_map(|i| {
            (0..m as i64).map(move |j| {
                let d = j.saturating_sub(i);
                i64::from(if upper { d >= k } else { d <= k })
            })
        })
        .collect();
    Ok(Built {
        op: Op::Where,
        inputs: vec![
            Wire::Const(Const {
                shape: vec![n, m],
                data: ConstData::Int(mask),
            }),
            Wire::Value(input(node, 0)?),
            Wire::Const(Const {
                shape: vec![],
                data: ConstData::Int(vec![0]),
            }),
        ],
    })
}

/// Which comparison.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CmpKind {
    /// `a < b`.
    Less,
    /// `a <= b`.
    LessOrEqual,
    /// `a > b`.
    Greater,
    /// `a >= b`.
    GreaterOrEqual,
    /// `a == b`.
    Equal,
}

impl CmpKind {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            CmpKind::Less => "Less",
            CmpKind::LessOrEqual => "LessOrEqual",
            CmpKind::Greater => "Greater",
            CmpKind::GreaterOrEqual => "GreaterOrEqual",
            CmpKind::Equal => "Equal",
        }
    }

    /// The comparison of two fixed-point values (exact: both have the same scale).
    pub fn holds(&self, a: i32, b: i32) -> bool {
        match self {
            CmpKind::Less => a < b,
            CmpKind::LessOrEqual => a <= b,
            CmpKind::Greater => a > b,
            CmpKind::GreaterOrEqual => a >= b,
            CmpKind::Equal => a == b,
        }
    }

    pub(crate) fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        let ia = broadcast_index(&ins[0].shape, out_shape);
        let ib = broadcast_index(&ins[1].shape, out_shape);
        let data = ia
            .iter()
            .zip(&ib)
            .map(|(a, b)| bool_value(self.holds(ins[0].data[*a], ins[1].data[*b])))
            .collect();
        Tensor::new(out_shape.to_vec(), data)
    }
}

/// The fixed-point encoding of a boolean: `2^F` or 0.
pub fn bool_value(b: bool) -> i32 {
    if b {
        ONE as i32
    } else {
        0
    }
}

pub(crate) fn build_compare(node: &GraphNode) -> Result<Built> {
    let kind = match node.op_type.as_str() {
        "Less" => CmpKind::Less,
        "LessOrEqual" => CmpKind::LessOrEqual,
        "Greater" => CmpKind::Greater,
        "GreaterOrEqual" => CmpKind::GreaterOrEqual,
        _ => CmpKind::Equal,
    };
    Ok(Built {
        op: Op::Compare(kind),
        inputs: vec![Wire::Value(input(node, 0)?), Wire::Value(input(node, 1)?)],
    })
}

/// `Where(c, x, y)`: `x` where `c ≠ 0`, else `y`, broadcasting all three.
pub(crate) fn where_(ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
    let idx: Vec<Vec<usize>> = ins
        .iter()
        .map(|t| broadcast_index(&t.shape, out_shape))
        .collect();
    let data = (0..idx[0].len())
        .map(|i| {
            if ins[0].data[idx[0][i]] != 0 {
                ins[1].data[idx[1][i]]
            } else {
                ins[2].data[idx[2][i]]
            }
        })
        .collect();
    Tensor::new(out_shape.to_vec(), data)
}

pub(crate) fn build_where(node: &GraphNode) -> Result<Built> {
    Ok(Built {
        op: Op::Where,
        inputs: (0..3)
            .map(|i| input(node, i).map(Wire::Value))
            .collect::<Result<_>>()?,
    })
}

/// `Cast` to an ONNX element type, on fixed-point values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cast {
    /// To a floating-point type: the identity (the value is already a real).
    Real,
    /// To an integer type: truncate toward zero, then clamp to `[min, max]` (the type's
    /// range intersected with the representable `±2^(31-F)`).
    Int {
        /// Smallest integer of the target type that is representable.
        min: i32,
        /// Largest integer of the target type that is representable.
        max: i32,
    },
    /// To `bool`: `x ≠ 0`.
    Bool,
}

impl Cast {
    /// Cast of one value.
    pub fn apply(&self, q: i32) -> i32 {
        match *self {
            Cast::Real => q,
            Cast::Bool => bool_value(q != 0),
            Cast::Int { min, max } => {
                // Truncation toward zero of q / 2^F.
                let t = (q as i64).signum() * ((q as i64).abs() >> FRAC_BITS);
                (t.clamp(min as i64, max as i64) * ONE) as i32
            }
        }
    }

    pub(crate) fn eval(&self, x: &Tensor) -> Tensor {
        Tensor::new(
            x.shape.clone(),
            x.data.iter().map(|q| self.apply(*q)).collect(),
        )
    }
}

/// Largest integer magnitude a fixed-point value holds: `2^(31-F) - 1` (and `-2^(31-F)`).
const INT_MAX: i64 = (1 << (31 - FRAC_BITS)) - 1;

pub(crate) fn build_cast(node: &GraphNode) -> Result<Built> {
    // ONNX TensorProto.DataType codes.
    let range = |lo: i64, hi: i64| Cast::Int {
        min: lo.max(-INT_MAX - 1) as i32,
        max: hi.min(INT_MAX) as i32,
    };
    let cast = match node.int("to", 0)? {
        1 | 10 | 11 | 16 => Cast::Real,
        2 => range(0, u8::MAX as i64),
        3 => range(i8::MIN as i64, i8::MAX as i64),
        4 => range(0, u16::MAX as i64),
        5 => range(i16::MIN as i64, i16::MAX as i64),
        6 | 7 => range(i64::MIN, i64::MAX),
        12 | 13 => range(0, i64::MAX),
        9 => Cast::Bool,
        other => {
            return Err(node.bad_attr(
                "to",
                format!("element type {other} has no fixed-point semantics"),
            ))
        }
    };
    Ok(Built {
        op: Op::Cast(cast),
        inputs: vec![Wire::Value(input(node, 0)?)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cast_truncates_toward_zero_and_saturates() {
        let i8_ = Cast::Int {
            min: -128,
            max: 127,
        };
        assert_eq!(i8_.apply(4096 * 3 + 4095), 4096 * 3);
        assert_eq!(i8_.apply(-(4096 * 3 + 1)), -4096 * 3);
        assert_eq!(i8_.apply(-1), 0);
        assert_eq!(i8_.apply(4096 * 200), 4096 * 127);
        assert_eq!(i8_.apply(i32::MIN), -128 * 4096);
        let i64_ = Cast::Int {
            min: -(INT_MAX as i32) - 1,
            max: INT_MAX as i32,
        };
        assert_eq!(i64_.apply(i32::MAX), INT_MAX as i32 * 4096);
        assert_eq!(i64_.apply(i32::MIN), i32::MIN);
        assert_eq!(Cast::Bool.apply(-1), 4096);
        assert_eq!(Cast::Bool.apply(0), 0);
    }

    #[test]
    fn comparisons_and_where_broadcast() {
        let a = Tensor::new(vec![1, 3], vec![1, 5, 9]);
        let b = Tensor::new(vec![1], vec![5]);
        let lt = CmpKind::Less.eval(&[&a, &b], &[1, 3]);
        assert_eq!(lt.data, vec![4096, 0, 0]);
        let eq = CmpKind::Equal.eval(&[&a, &b], &[1, 3]);
        assert_eq!(eq.data, vec![0, 4096, 0]);
        let y = Tensor::new(vec![1], vec![-7]);
        let w = where_(&[&lt, &a, &y], &[1, 3]);
        assert_eq!(w.data, vec![1, -7, -7]);
    }

    /// The truth tables, with any non-zero value true and broadcasting.
    #[test]
    fn logic_truth_tables_broadcast() {
        let a = Tensor::new(vec![4], vec![0, 0, -3, 4096]);
        let b = Tensor::new(vec![4], vec![0, 7, 0, i32::MIN]);
        let run = |k: LogicKind| k.eval(&[&a, &b], &[4]).data;
        assert_eq!(run(LogicKind::And), vec![0, 0, 0, 4096]);
        assert_eq!(run(LogicKind::Or), vec![0, 4096, 4096, 4096]);
        assert_eq!(run(LogicKind::Xor), vec![0, 4096, 4096, 0]);
        assert_eq!(
            LogicKind::Not.eval(&[&a], &[4]).data,
            vec![4096, 4096, 0, 0]
        );
        let one = Tensor::new(vec![1], vec![1]);
        assert_eq!(
            LogicKind::And.eval(&[&one, &b], &[4]).data,
            vec![0, 4096, 0, 4096]
        );
    }
}
