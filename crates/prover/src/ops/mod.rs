//! Operator circuits, one file per family mirroring `zkopml-engine::ops`. Each proves the
//! engine kernel of the same name bit for bit.

mod activation;
mod conv;
mod elementwise;
mod linear;
mod logic;
mod pool;
mod reduce;
mod shape;

use ark_relations::gr1cs::SynthesisError;
use zkopml_engine::{
    ops::{Op, UnaryKind},
    Tensor,
};

use crate::gadgets::{Cs, CsResult, Lc};

/// An operator input inside the circuit.
#[derive(Clone, Debug)]
pub(crate) enum Operand<'a> {
    /// A model constant: folded into linear combinations.
    Const(&'a Tensor),
    /// Opened or computed values, with their shape.
    Var(Vec<Lc>, Vec<usize>),
}

impl Operand<'_> {
    /// Element `i` as a linear combination.
    pub(crate) fn at(&self, i: usize) -> Lc {
        match self {
            Operand::Const(t) => Lc::int(t.data[i] as i64),
            Operand::Var(v, _) => v[i].clone(),
        }
    }

    /// The shape.
    pub(crate) fn shape(&self) -> &[usize] {
        match self {
            Operand::Const(t) => &t.shape,
            Operand::Var(_, s) => s,
        }
    }

    /// All elements.
    pub(crate) fn all(&self) -> Vec<Lc> {
        (0..self.shape().iter().product())
            .map(|i| self.at(i))
            .collect()
    }

    /// The constant tensor, if this is one.
    pub(crate) fn constant(&self) -> Option<&Tensor> {
        match self {
            Operand::Const(t) => Some(t),
            Operand::Var(..) => None,
        }
    }
}

/// Whether `op` has a circuit for these operand kinds (`true` = constant).
pub(crate) fn check(op: &Op, consts: &[bool]) -> Result<(), &'static str> {
    match op {
        Op::Gemm(_) if !consts.get(1).copied().unwrap_or(false) => {
            Err("B must be a model constant (activation x activation products are not proved yet)")
        }
        Op::Conv(_) if !consts[1..].iter().all(|c| *c) => {
            Err("weights and bias must be model constants")
        }
        Op::Binary(zkopml_engine::ops::BinaryKind::Div) => Err("Div has no circuit yet"),
        Op::Reduce(r) if r.kind == zkopml_engine::ops::ReduceKind::L2 => {
            Err("no circuit for operator ReduceL2 yet")
        }
        Op::Conv1d(_) => Err("no circuit for operator Conv (1-D) yet"),
        Op::MatMul(_) => Err("no circuit for operator MatMul (batched, rank > 2) yet"),
        Op::Unary(k) => Err(match k {
            UnaryKind::Erf => "no circuit for operator Erf yet",
            UnaryKind::Tanh => "no circuit for operator Tanh yet",
            UnaryKind::Sqrt => "no circuit for operator Sqrt yet",
            UnaryKind::Log => "no circuit for operator Log yet",
            UnaryKind::Abs => "no circuit for operator Abs yet",
            UnaryKind::Exp => "no circuit for operator Exp yet",
            UnaryKind::Sign => "no circuit for operator Sign yet",
            UnaryKind::Floor => "no circuit for operator Floor yet",
            UnaryKind::Ceil => "no circuit for operator Ceil yet",
            UnaryKind::Round => "no circuit for operator Round yet",
            UnaryKind::Softsign => "no circuit for operator Softsign yet",
            UnaryKind::Softplus => "no circuit for operator Softplus yet",
            UnaryKind::Sin => "no circuit for operator Sin yet",
            UnaryKind::Cos => "no circuit for operator Cos yet",
        }),
        Op::Pow(_) => Err("no circuit for operator Pow yet"),
        Op::Extremum(_) => Err("no circuit for operator Min/Max/Sum/Mean yet"),
        Op::LayerNorm(_) => Err("no circuit for operator LayerNormalization yet"),
        Op::Expand(_) => Err("no circuit for operator Expand yet"),
        Op::Reduce(r) if r.kind == zkopml_engine::ops::ReduceKind::Min => {
            Err("no circuit for operator ReduceMin yet")
        }
        Op::Reduce(r)
            if matches!(
                r.kind,
                zkopml_engine::ops::ReduceKind::Prod
                    | zkopml_engine::ops::ReduceKind::L1
                    | zkopml_engine::ops::ReduceKind::SumSquare
                    | zkopml_engine::ops::ReduceKind::LogSum
                    | zkopml_engine::ops::ReduceKind::LogSumExp
            ) =>
        {
            Err("no circuit for ReduceProd/ReduceL1/ReduceSumSquare/ReduceLogSum/ReduceLogSumExp yet")
        }
        Op::Activation(_) => Err(
            "no circuit for Sigmoid/HardSigmoid/HardSwish/Gelu/LeakyRelu/Elu/Selu/Celu/ThresholdedRelu/Shrink/Mish yet",
        ),
        Op::Logic(_) => Err("no circuit for operator Not/And/Or/Xor yet"),
        Op::Select(_) => Err("no circuit for Slice/Split/Tile/Resize yet"),
        Op::CumSum(_) => Err("no circuit for operator CumSum yet"),
        Op::Interpolate(_) => Err("no circuit for Resize (linear) yet"),
        Op::GatherNd(_) => Err("no circuit for operator GatherND yet"),
        Op::TreeEnsemble(_) => Err("no circuit for the ai.onnx.ml tree ensembles yet"),
        Op::LinearModel(_) => Err("no circuit for the ai.onnx.ml linear models yet"),
        Op::Normalizer(_) => Err("no circuit for operator Normalizer yet"),
        Op::Scaler(_) => Err("no circuit for operator Scaler yet"),
        Op::GlobalMaxPool => Err("no circuit for operator GlobalMaxPool yet"),
        Op::ArgMin(_) => Err("no circuit for operator ArgMin yet"),
        Op::Pad(_) => Err("no circuit for operator Pad yet"),
        Op::Rearrange(_) => Err("no circuit for DepthToSpace/SpaceToDepth yet"),
        Op::PRelu(_) => Err("no circuit for operator PRelu yet"),
        Op::LogSoftmax(_) => Err("no circuit for operator LogSoftmax yet"),
        Op::Hardmax(_) => Err("no circuit for operator Hardmax yet"),
        Op::LpNorm(_) => Err("no circuit for operator LpNormalization yet"),
        _ => Ok(()),
    }
}

/// Synthesises `op` over `ins`, returning the output elements row-major.
pub(crate) fn synthesize(
    cs: &Cs,
    op: &Op,
    ins: &[Operand<'_>],
    out_shape: &[usize],
) -> CsResult<Vec<Lc>> {
    match op {
        Op::Gemm(g) => linear::gemm(cs, g, ins),
        Op::Conv(c) => conv::conv(cs, c, ins, out_shape),
        Op::Relu => activation::relu(cs, &ins[0]),
        Op::Clip(c) => activation::clip(cs, c, &ins[0]),
        Op::MaxPool(p) => pool::max_pool(cs, p, &ins[0], out_shape),
        Op::AveragePool(p) => pool::avg_pool(cs, p, &ins[0], out_shape),
        Op::GlobalAveragePool => pool::global_avg(cs, &ins[0]),
        Op::Binary(k) => elementwise::binary(cs, *k, ins, out_shape),
        Op::Reshape(_) => Ok(ins[0].all()),
        Op::Transpose(t) => Ok(shape::transpose(t, &ins[0], out_shape)),
        Op::Concat(c) => Ok(shape::concat(c, ins, out_shape)),
        Op::Compare(k) => logic::compare(cs, *k, ins, out_shape),
        Op::Where => logic::where_(cs, ins, out_shape),
        Op::Cast(c) => logic::cast(cs, *c, &ins[0]),
        Op::Gather(g) => logic::gather(cs, g, ins),
        Op::GatherElements(g) => logic::gather_elements(cs, g, ins),
        Op::Reduce(r) => reduce::reduce(cs, r, &ins[0]),
        Op::ArgMax(a) => reduce::argmax(cs, a, &ins[0]),
        Op::Softmax(s) => reduce::softmax(cs, s, &ins[0]),
        // Rejected by `check` before any synthesis.
        Op::Conv1d(_)
        | Op::MatMul(_)
        | Op::Unary(_)
        | Op::Pow(_)
        | Op::Extremum(_)
        | Op::LayerNorm(_)
        | Op::Expand(_)
        | Op::Activation(_)
        | Op::Logic(_)
        | Op::Select(_)
        | Op::CumSum(_)
        | Op::Interpolate(_)
        | Op::GatherNd(_)
        | Op::TreeEnsemble(_)
        | Op::LinearModel(_)
        | Op::Normalizer(_)
        | Op::Scaler(_)
        | Op::GlobalMaxPool
        | Op::ArgMin(_)
        | Op::Pad(_)
        | Op::Rearrange(_)
        | Op::PRelu(_)
        | Op::LogSoftmax(_)
        | Op::Hardmax(_)
        | Op::LpNorm(_) => Err(SynthesisError::Unsatisfiable),
    }
    .and_then(|v| {
        if v.len() == out_shape.iter().product::<usize>() {
            Ok(v)
        } else {
            Err(SynthesisError::Unsatisfiable)
        }
    })
}

/// `Σ |w|` over a slice of constants.
pub(crate) fn abs_sum(w: impl IntoIterator<Item = i32>) -> u128 {
    w.into_iter()
        .map(|v| (v as i64).unsigned_abs() as u128)
        .sum()
}
