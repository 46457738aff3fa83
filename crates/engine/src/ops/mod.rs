//! Operators: one file per family, each with its builder (ONNX attributes → [`Op`]),
//! shape inference and total integer kernel. The normative semantics of every kernel is
//! `docs/numerics.md`; the circuits in `zkopml-prover` prove exactly these kernels.

mod activation;
mod binary;
mod conv;
mod gather;
mod linear;
mod logic;
mod math;
mod ml;
mod norm;
mod pool;
mod reduce;
mod select;
mod shape;
mod softmax;

pub use activation::{
    gelu_q, gelu_tanh_arg, gelu_tanh_finish, gelu_tanh_q, hard_swish_q, sigmoid_q, Activation,
    Clip, PRelu, ALPHA_BITS, FRAC_1_SQRT2_Q30, GELU_CUBIC_Q30, SQRT_2_OVER_PI_Q30,
};
pub use binary::{broadcast_index, BinaryKind};
pub use conv::Conv;
pub(crate) use conv::ConvWeights;
pub use gather::{resolve_index, Gather, GatherNd};
pub(crate) use linear::MatMulWeights;
pub use linear::{Gemm, MatMul, Scale};
pub use logic::{bool_value, Cast, CmpKind, LogicKind};
pub use math::{
    cos_q, erf_q, exp_q, isqrt, ln_q, ln_wide_q, log2_q30, log2_wide_q30, pow_q, sin_q, softplus_q,
    sqrt_q, sqrt_round, tanh_q, ExtremumKind, Pow, UnaryKind, ERF_A_Q30, ERF_P_Q30, EXP_INT_Q30,
    HALF_PI_Q40, LN2_Q30, MAX_POW, PI_Q40, TWO_PI_Q40,
};
pub use ml::{
    Aggregate, Branch, ClassOutput, ClassRule, Classifier, LinearModel, NormKind, PostTransform,
    Scaler, TreeEnsemble, TreeNode, ML_PREFIX, OFFSET_EXTRA_BITS,
};
pub use norm::{LayerNorm, LpNorm, MAX_GROUP};
pub use pool::Pool;
pub use reduce::{reduce_groups, ArgMax, CumSum, Reduce, ReduceKind};
pub use select::{Interpolate, Pad, Select, Tap, INTERP_BITS, NUM_OUTPUTS_ATTR, OUTPUT_INDEX_ATTR};
pub use shape::{Concat, Expand, Rearrange, RearrangeKind, Reshape, Transpose};
pub use softmax::{exp_q30, softmax_element, Softmax, D_MIN, EXP2_POLY, LOG2E_Q16};

use serde::{Deserialize, Serialize};

use crate::{
    import::{Const, GraphNode},
    EngineError, Result, Tensor,
};

/// An integer operator of a compiled program.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Op {
    /// `Y = rescale(A·B + C·2^F)`; also ONNX `MatMul` (no `C`).
    Gemm(Gemm),
    /// 2-D convolution, NCHW, grouped.
    Conv(Conv),
    /// `max(x, 0)`.
    Relu,
    /// `min(max(x, lo), hi)`.
    Clip(Clip),
    /// Max over windows; padding never wins.
    MaxPool(Pool),
    /// Mean over windows, rounding half up.
    AveragePool(Pool),
    /// Mean over all spatial positions, rounding half up.
    GlobalAveragePool,
    /// Broadcasting elementwise arithmetic.
    Binary(BinaryKind),
    /// Same data, new shape (`Reshape`, `Flatten`, `Squeeze`, `Unsqueeze`).
    Reshape(Reshape),
    /// Axis permutation.
    Transpose(Transpose),
    /// Concatenation along an axis.
    Concat(Concat),
    /// Elementwise comparison to a boolean (`2^F` or 0).
    Compare(CmpKind),
    /// `Where(c, x, y)`: `x` where `c ≠ 0`.
    Where,
    /// Element type conversion on fixed-point values.
    Cast(Cast),
    /// ONNX `Gather`: select slices along an axis by data-dependent indices.
    Gather(Gather),
    /// ONNX `GatherElements`: select single elements along an axis.
    GatherElements(Gather),
    /// Sum, mean or max over axes.
    Reduce(Reduce),
    /// Index of the maximum along an axis.
    ArgMax(ArgMax),
    /// Softmax with the integer exponential of `docs/numerics.md`.
    Softmax(Softmax),
    /// 1-D convolution (`[N, C, W]`): the 2-D kernel with `H = 1`.
    Conv1d(Conv),
    /// `MatMul` with batch dimensions (ranks other than 2 × 2), broadcast like numpy.
    MatMul(MatMul),
    /// Elementwise `Erf`, `Tanh`, `Sqrt`, `Log`, `Abs`, `Exp`, `Sign`, `Floor`, `Ceil`,
    /// `Round`, `Softsign`, `Softplus`.
    Unary(UnaryKind),
    /// `Pow` with constant integer exponents.
    Pow(Pow),
    /// Variadic elementwise `Min` / `Max` / `Sum` / `Mean` with broadcasting.
    Extremum(ExtremumKind),
    /// `LayerNormalization` with integer mean, variance and inverse square root.
    LayerNorm(LayerNorm),
    /// Broadcast to a static shape (`Expand`, `ConstantOfShape`, and `IsNaN`/`IsInf`, which
    /// are constant `false` on fixed-point values).
    Expand(Expand),
    /// Elementwise `Sigmoid`, `HardSigmoid`, `HardSwish`, `Gelu`, `LeakyRelu`, `Elu`, `Selu`,
    /// `Celu`, `ThresholdedRelu`, `Shrink`, `Mish`.
    Activation(Activation),
    /// Boolean `Not`, `And`, `Or`, `Xor` (non-zero is true), broadcasting.
    Logic(LogicKind),
    /// Per-axis index selection (`Slice`, `Split`, `Tile`, nearest `Resize`).
    Select(Select),
    /// Running sum along an axis.
    CumSum(CumSum),
    /// Separable linear interpolation (`Resize` in `linear` mode).
    Interpolate(Interpolate),
    /// ONNX `GatherND` (`batch_dims = 0`): data-dependent index tuples.
    GatherNd(GatherNd),
    /// `ai.onnx.ml` `TreeEnsembleClassifier` / `TreeEnsembleRegressor`.
    TreeEnsemble(Box<TreeEnsemble>),
    /// `ai.onnx.ml` `LinearClassifier` / `LinearRegressor`.
    LinearModel(LinearModel),
    /// `ai.onnx.ml` `Normalizer`.
    Normalizer(NormKind),
    /// `ai.onnx.ml` `Scaler`.
    Scaler(Scaler),
    /// Max over all spatial positions (exact).
    GlobalMaxPool,
    /// Index of the minimum along an axis (`ArgMin`; the `ArgMax` parameters).
    ArgMin(ArgMax),
    /// `Pad` (constant, edge, reflect, wrap).
    Pad(Pad),
    /// `DepthToSpace` / `SpaceToDepth`: a compile-time index map.
    Rearrange(Rearrange),
    /// `PRelu` with a constant slope.
    PRelu(PRelu),
    /// `LogSoftmax` over the `Softmax` groups.
    LogSoftmax(Softmax),
    /// `Hardmax` over the `Softmax` groups.
    Hardmax(Softmax),
    /// `LpNormalization` (`p` 1 or 2) along an axis.
    LpNorm(LpNorm),
}

/// How a node's input is wired into the program.
#[derive(Clone, Debug)]
pub enum Wire {
    /// A tensor of the graph by name (an activation or an initializer).
    Value(String),
    /// A constant the builder derived (e.g. a transposed weight), quantised by the compiler
    /// at [`FRAC_BITS`](crate::fixed::FRAC_BITS).
    Const(Const),
    /// A constant quantised at its own fractional bits (a weight or bias operand:
    /// [`weight_frac_bits`](crate::fixed::weight_frac_bits),
    /// [`bias_frac_bits`](crate::fixed::bias_frac_bits)), which the operator records.
    ConstAt(Const, u32),
}

/// What a builder makes of one ONNX node.
#[derive(Clone, Debug)]
pub struct Built {
    /// The operator.
    pub op: Op,
    /// Its inputs in the operator's order.
    pub inputs: Vec<Wire>,
}

/// What a builder may ask about the node's inputs.
pub trait BuildCtx {
    /// Shape of a named tensor.
    fn shape(&self, name: &str) -> Option<Vec<usize>>;
    /// The float value of a named constant, if it is one.
    fn constant(&self, name: &str) -> Option<&Const>;
    /// The model's default-domain opset (semantics of some ops changed across opsets).
    fn opset(&self) -> i64;
}

/// Maps an ONNX node to an [`Op`]; unknown op types are a typed error naming the node.
pub fn build(node: &GraphNode, ctx: &dyn BuildCtx) -> Result<Built> {
    match node.op_type.as_str() {
        "Gemm" => linear::build_gemm(node, ctx),
        "MatMul" => linear::build_matmul(node, ctx),
        "Conv" => conv::build(node, ctx),
        "Relu" => Ok(Built {
            op: Op::Relu,
            inputs: vec![Wire::Value(input(node, 0)?)],
        }),
        "Clip" => activation::build_clip(node, ctx),
        "MaxPool" => pool::build(node, ctx, false),
        "AveragePool" => pool::build(node, ctx, true),
        "GlobalAveragePool" => Ok(Built {
            op: Op::GlobalAveragePool,
            inputs: vec![Wire::Value(input(node, 0)?)],
        }),
        "GlobalMaxPool" => Ok(Built {
            op: Op::GlobalMaxPool,
            inputs: vec![Wire::Value(input(node, 0)?)],
        }),
        "Add" | "Sub" | "Mul" | "Div" => binary::build(node),
        "Reshape" | "Flatten" | "Squeeze" | "Unsqueeze" => shape::build_reshape(node, ctx),
        "Transpose" => shape::build_transpose(node, ctx),
        "Concat" => shape::build_concat(node, ctx),
        "BatchNormalization" => binary::build_batchnorm(node, ctx),
        "Less" | "LessOrEqual" | "Greater" | "GreaterOrEqual" | "Equal" => {
            logic::build_compare(node)
        }
        "Where" => logic::build_where(node),
        "Cast" => logic::build_cast(node),
        "Gather" | "GatherElements" => gather::build(node, ctx),
        "GatherND" => gather::build_nd(node),
        "ReduceSum" | "ReduceMean" | "ReduceMax" => reduce::build_reduce(node, ctx),
        "ArgMax" => reduce::build_argmax(node, ctx),
        "Softmax" | "LogSoftmax" | "Hardmax" => softmax::build(node, ctx),
        "ReduceL2" => reduce::build_reduce(node, ctx),
        "Erf" | "Tanh" | "Sqrt" | "Log" | "Abs" | "Exp" | "Sign" | "Floor" | "Ceil" | "Round"
        | "Softsign" | "Softplus" | "Sin" | "Cos" => math::build_unary(node),
        "Pow" => math::build_pow(node, ctx),
        "Min" | "Max" | "Sum" | "Mean" => math::build_extremum(node),
        "LayerNormalization" => norm::build_layernorm(node, ctx),
        "Expand" => shape::build_expand(node, ctx),
        "ConstantOfShape" => shape::build_constant_of_shape(node, ctx),
        "Shape" => shape::build_shape(node, ctx),
        "Neg" | "Reciprocal" => math::build_neg_reciprocal(node),
        "Sigmoid" | "HardSigmoid" | "HardSwish" | "Gelu" | "LeakyRelu" | "Elu" | "Selu"
        | "Celu" | "ThresholdedRelu" | "Shrink" | "Mish" => activation::build_activation(node),
        "Not" | "And" | "Or" | "Xor" => logic::build_logic(node),
        "IsNaN" | "IsInf" => logic::build_float_class(node, ctx),
        "Trilu" => logic::build_trilu(node, ctx),
        "ReduceMin" => reduce::build_reduce(node, ctx),
        "CumSum" => reduce::build_cumsum(node, ctx),
        "Range" => shape::build_range(node, ctx),
        "Slice" => select::build_slice(node, ctx),
        "Split" => select::build_split(node, ctx),
        "Tile" => select::build_tile(node, ctx),
        "Resize" => select::build_resize(node, ctx),
        "ai.onnx.ml.TreeEnsembleClassifier" | "ai.onnx.ml.TreeEnsembleRegressor" => {
            ml::build_tree_ensemble(node, ctx)
        }
        "ai.onnx.ml.LinearClassifier" | "ai.onnx.ml.LinearRegressor" => ml::build_linear(node, ctx),
        "ai.onnx.ml.Normalizer" => ml::build_normalizer(node),
        "ai.onnx.ml.Scaler" => ml::build_scaler(node),
        "ai.onnx.ml.ZipMap" => ml::refuse_zipmap(node),
        "ArgMin" => reduce::build_argmax(node, ctx),
        "ReduceProd" => reduce::build_reduce(node, ctx),
        "Pad" => select::build_pad(node, ctx),
        "DepthToSpace" | "SpaceToDepth" => shape::build_rearrange(node, ctx),
        "Size" => shape::build_size(node, ctx),
        "PRelu" => activation::build_prelu(node, ctx),
        "ReduceL1" | "ReduceSumSquare" | "ReduceLogSum" | "ReduceLogSumExp" => {
            reduce::build_reduce(node, ctx)
        }
        "LpNormalization" => norm::build_lp_norm(node, ctx),
        "Dropout" => shape::build_dropout(node, ctx),
        other => Err(EngineError::UnsupportedOp {
            node: node.name.clone(),
            op: other.to_string(),
        }),
    }
}

/// The `i`-th input name of a node, or a typed error.
pub(crate) fn input(node: &GraphNode, i: usize) -> Result<String> {
    node.inputs
        .get(i)
        .filter(|s| !s.is_empty())
        .cloned()
        .ok_or(EngineError::MissingField {
            node: node.name.clone(),
            field: "input",
        })
}

/// The shape of the `i`-th input, or a typed error.
pub(crate) fn input_shape(node: &GraphNode, ctx: &dyn BuildCtx, i: usize) -> Result<Vec<usize>> {
    let name = input(node, i)?;
    ctx.shape(&name).ok_or(EngineError::UnknownValue {
        node: node.name.clone(),
        name,
    })
}

pub(crate) fn shape_err(node: &str, expected: impl Into<String>, got: &[&[usize]]) -> EngineError {
    EngineError::ShapeMismatch {
        node: node.to_string(),
        expected: expected.into(),
        got: got.iter().map(|s| s.to_vec()).collect(),
    }
}

impl Op {
    /// Short name for logs and tables.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Gemm(_) => "Gemm",
            Op::Conv(_) => "Conv",
            Op::Relu => "Relu",
            Op::Clip(_) => "Clip",
            Op::MaxPool(_) => "MaxPool",
            Op::AveragePool(_) => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::GlobalMaxPool => "GlobalMaxPool",
            Op::ArgMin(_) => "ArgMin",
            Op::Pad(_) => "Pad",
            Op::Rearrange(r) => r.name(),
            Op::PRelu(_) => "PRelu",
            Op::LogSoftmax(_) => "LogSoftmax",
            Op::Hardmax(_) => "Hardmax",
            Op::LpNorm(_) => "LpNormalization",
            Op::Binary(k) => k.name(),
            Op::Reshape(_) => "Reshape",
            Op::Transpose(_) => "Transpose",
            Op::Concat(_) => "Concat",
            Op::Compare(k) => k.name(),
            Op::Where => "Where",
            Op::Cast(_) => "Cast",
            Op::Gather(_) => "Gather",
            Op::GatherElements(_) => "GatherElements",
            Op::Reduce(r) => r.name(),
            Op::ArgMax(_) => "ArgMax",
            Op::Softmax(_) => "Softmax",
            Op::Conv1d(_) => "Conv1d",
            Op::MatMul(_) => "MatMul",
            Op::Unary(k) => k.name(),
            Op::Pow(_) => "Pow",
            Op::Extremum(k) => k.name(),
            Op::LayerNorm(_) => "LayerNormalization",
            Op::Expand(_) => "Expand",
            Op::Activation(a) => a.name(),
            Op::Logic(k) => k.name(),
            Op::Select(_) => "Select",
            Op::CumSum(_) => "CumSum",
            Op::Interpolate(_) => "Resize",
            Op::GatherNd(_) => "GatherND",
            Op::TreeEnsemble(t) if t.classifier.is_some() => "TreeEnsembleClassifier",
            Op::TreeEnsemble(_) => "TreeEnsembleRegressor",
            Op::LinearModel(l) if l.classifier.is_some() => "LinearClassifier",
            Op::LinearModel(_) => "LinearRegressor",
            Op::Normalizer(k) => k.name(),
            Op::Scaler(_) => "Scaler",
        }
    }

    /// Output shape from input shapes; never looks at data.
    pub fn output_shape(&self, node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
        match self {
            Op::Gemm(g) => g.output_shape(node, ins),
            Op::Conv(c) => c.output_shape(node, ins),
            Op::Relu | Op::Clip(_) | Op::Cast(_) | Op::Unary(_) | Op::Activation(_) => {
                unary_shape(node, ins)
            }
            Op::Logic(LogicKind::Not) => unary_shape(node, ins),
            Op::Logic(_) => match ins {
                [_, _] => binary::broadcast_shape(node, ins),
                _ => Err(shape_err(node, "exactly two inputs", ins)),
            },
            Op::Select(s) => s.output_shape(node, ins),
            Op::CumSum(c) => c.output_shape(node, ins),
            Op::Interpolate(i) => i.output_shape(node, ins),
            Op::GatherNd(g) => g.output_shape(node, ins),
            Op::TreeEnsemble(t) => t.output_shape(node, ins),
            Op::LinearModel(l) => l.output_shape(node, ins),
            Op::Normalizer(k) => k.output_shape(node, ins),
            Op::Scaler(s) => s.output_shape(node, ins),
            Op::ArgMin(a) => a.output_shape(node, ins),
            Op::Pad(p) => p.output_shape(node, ins),
            Op::Rearrange(r) => r.output_shape(node, ins),
            Op::PRelu(p) => p.output_shape(node, ins),
            Op::LpNorm(l) => l.output_shape(node, ins),
            Op::Pow(p) => p.output_shape(node, ins),
            Op::Conv1d(c) => c.output_shape_1d(node, ins),
            Op::MatMul(m) => m.output_shape(node, ins),
            Op::Extremum(k) => k.output_shape(node, ins),
            Op::LayerNorm(l) => l.output_shape(node, ins),
            Op::Expand(e) => e.output_shape(node, ins),
            Op::Softmax(_) | Op::LogSoftmax(_) | Op::Hardmax(_) => match ins {
                [x] if !x.is_empty() => Ok(x.to_vec()),
                _ => Err(shape_err(node, "one input of rank >= 1", ins)),
            },
            Op::MaxPool(p) | Op::AveragePool(p) => p.output_shape(node, ins),
            Op::GlobalAveragePool | Op::GlobalMaxPool => match ins {
                [x] if x.len() >= 3 => Ok(x[..2]
                    .iter()
                    .copied()
                    .chain(std::iter::repeat_n(1, x.len() - 2))
                    .collect()),
                _ => Err(shape_err(node, "one input of rank >= 3", ins)),
            },
            Op::Binary(_) | Op::Compare(_) | Op::Where => binary::broadcast_shape(node, ins),
            Op::Gather(g) => g.output_shape(node, ins),
            Op::GatherElements(g) => g.elements_shape(node, ins),
            Op::Reduce(r) => r.output_shape(node, ins),
            Op::ArgMax(a) => a.output_shape(node, ins),
            Op::Reshape(r) => r.output_shape(node, ins),
            Op::Transpose(t) => t.output_shape(node, ins),
            Op::Concat(c) => c.output_shape(node, ins),
        }
    }

    /// Runs the integer kernel. `ins` must have the shapes `output_shape` accepted; every
    /// kernel is total on values.
    pub fn eval(&self, ins: &[&Tensor], out_shape: &[usize]) -> Tensor {
        match self {
            Op::Gemm(g) => g.eval(ins, out_shape),
            Op::Conv(c) => c.eval(ins, out_shape),
            Op::Relu => activation::relu(ins[0]),
            Op::Clip(c) => c.eval(ins[0]),
            Op::MaxPool(p) => p.eval_max(ins[0], out_shape),
            Op::AveragePool(p) => p.eval_avg(ins[0], out_shape),
            Op::GlobalAveragePool => pool::global_avg(ins[0], out_shape),
            Op::GlobalMaxPool => pool::global_max(ins[0], out_shape),
            Op::ArgMin(a) => a.eval_min(ins[0], out_shape),
            Op::Pad(p) => p.eval(ins[0], out_shape),
            Op::Rearrange(r) => r.eval(ins[0], out_shape),
            Op::PRelu(p) => p.eval(ins[0]),
            Op::LogSoftmax(s) => s.eval_log(ins[0]),
            Op::Hardmax(s) => s.eval_hard(ins[0]),
            Op::LpNorm(l) => l.eval(ins[0]),
            Op::Binary(k) => k.eval(ins, out_shape),
            Op::Reshape(_) => Tensor::new(out_shape.to_vec(), ins[0].data.clone()),
            Op::Transpose(t) => t.eval(ins[0], out_shape),
            Op::Concat(c) => c.eval(ins, out_shape),
            Op::Compare(k) => k.eval(ins, out_shape),
            Op::Where => logic::where_(ins, out_shape),
            Op::Cast(c) => c.eval(ins[0]),
            Op::Gather(g) => g.eval_gather(ins, out_shape),
            Op::GatherElements(g) => g.eval_elements(ins, out_shape),
            Op::Reduce(r) => r.eval(ins[0], out_shape),
            Op::ArgMax(a) => a.eval(ins[0], out_shape),
            Op::Softmax(s) => s.eval(ins[0]),
            Op::Conv1d(c) => c.eval_1d(ins, out_shape),
            Op::MatMul(m) => m.eval(ins, out_shape),
            Op::Unary(k) => k.eval(ins[0]),
            Op::Pow(p) => p.eval(ins[0], out_shape),
            Op::Extremum(k) => k.eval(ins, out_shape),
            Op::LayerNorm(l) => l.eval(ins, out_shape),
            Op::Expand(e) => e.eval(ins[0], out_shape),
            Op::Activation(a) => a.eval(ins[0]),
            Op::Logic(k) => k.eval(ins, out_shape),
            Op::Select(s) => s.eval(ins[0], out_shape),
            Op::CumSum(c) => c.eval(ins[0]),
            Op::Interpolate(i) => i.eval(ins[0], out_shape),
            Op::GatherNd(g) => g.eval(ins, out_shape),
            Op::TreeEnsemble(t) => t.eval(ins[0], out_shape),
            Op::LinearModel(l) => l.eval(ins[0], out_shape),
            Op::Normalizer(k) => k.eval(ins[0]),
            Op::Scaler(s) => s.eval(ins[0]),
        }
    }
}

fn unary_shape(node: &str, ins: &[&[usize]]) -> Result<Vec<usize>> {
    match ins {
        [x] => Ok(x.to_vec()),
        _ => Err(shape_err(node, "exactly one input", ins)),
    }
}

/// The flat source index of every element of a strided view, in the view's row-major
/// order: element `(i_0, …, i_{r−1})` of `shape` reads `Σ_d i_d·stride[d]`. Walks the
/// indices like an odometer (one addition per element) instead of dividing each flat
/// index back into coordinates; the same indices in the same order.
pub(crate) fn strided_offsets(shape: &[usize], stride: &[usize]) -> Vec<usize> {
    debug_assert_eq!(shape.len(), stride.len());
    let n: usize = shape.iter().product();
    let mut out = Vec::with_capacity(n);
    let Some((&inner, outer)) = shape.split_last() else {
        out.push(0);
        return out;
    };
    if n == 0 {
        return out;
    }
    let step = stride[outer.len()];
    let mut coord = vec![0usize; outer.len()];
    let mut base = 0usize;
    loop {
        out.extend((0..inner).map(|j| base + j * step));
        // Advance the outer axes, last first, carrying like an odometer.
        let mut d = outer.len();
        loop {
            if d == 0 {
                return out;
            }
            d -= 1;
            coord[d] += 1;
            base += stride[d];
            if coord[d] < outer[d] {
                break;
            }
            base -= stride[d] * outer[d];
            coord[d] = 0;
        }
    }
}

/// Row-major strides of a shape.
pub fn strides(shape: &[usize]) -> Vec<usize> {
    let mut s = vec![1; shape.len()];
    for i in (0..shape.len().saturating_sub(1)).rev() {
        s[i] = s[i + 1] * shape[i + 1];
    }
    s
}

/// Kernel test inputs of one of five kinds: small, one random magnitude `2^0..2^31` for the
/// whole tensor (products then reach every accumulator's range and its edges), any `i32`,
/// extremes only, or a mix of extremes and small values.
#[cfg(test)]
pub(crate) fn test_values(len: usize) -> impl proptest::strategy::Strategy<Value = Vec<i32>> {
    use proptest::prelude::*;
    let extreme = prop::sample::select(vec![i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX]);
    prop_oneof![
        prop::collection::vec(-300i32..300, len),
        (0u32..32).prop_flat_map(move |s| {
            prop::collection::vec(any::<i32>().prop_map(move |v| v >> s), len)
        }),
        prop::collection::vec(any::<i32>(), len),
        prop::collection::vec(extreme.clone(), len),
        prop::collection::vec(prop_oneof![extreme, -50i32..50], len),
    ]
}

#[cfg(test)]
mod index_tests {
    use proptest::prelude::*;

    use super::*;

    /// The previous index maps, one division and remainder per axis and element: kept as
    /// references for [`strided_offsets`] and the kernels built on it.
    fn broadcast_index_by_division(src: &[usize], out: &[usize]) -> Vec<usize> {
        let n: usize = out.iter().product();
        let off = out.len() - src.len();
        let src_strides = strides(src);
        let out_strides = strides(out);
        (0..n)
            .map(|flat| {
                (0..src.len())
                    .map(|d| {
                        let coord = (flat / out_strides[off + d]) % out[off + d];
                        if src[d] == 1 {
                            0
                        } else {
                            coord * src_strides[d]
                        }
                    })
                    .sum()
            })
            .collect()
    }

    fn transpose_by_division(x: &Tensor, perm: &[usize]) -> Vec<i32> {
        let out_shape: Vec<usize> = perm.iter().map(|p| x.shape[*p]).collect();
        let in_strides = strides(&x.shape);
        let out_strides = strides(&out_shape);
        (0..x.len())
            .map(|flat| {
                let src: usize = (0..out_shape.len())
                    .map(|d| ((flat / out_strides[d]) % out_shape[d]) * in_strides[perm[d]])
                    .sum();
                x.data[src]
            })
            .collect()
    }

    fn reduce_groups_by_division(in_shape: &[usize], axes: &[usize]) -> Vec<Vec<usize>> {
        let kept: Vec<usize> = (0..in_shape.len()).filter(|a| !axes.contains(a)).collect();
        let out_n: usize = kept.iter().map(|a| in_shape[*a]).product();
        let kept_shape: Vec<usize> = kept.iter().map(|a| in_shape[*a]).collect();
        let ks = strides(&kept_shape);
        let is = strides(in_shape);
        let mut groups = vec![Vec::new(); out_n];
        for flat in 0..in_shape.iter().product() {
            let o: usize = kept
                .iter()
                .enumerate()
                .map(|(j, a)| ((flat / is[*a]) % in_shape[*a]) * ks[j])
                .sum();
            groups[o].push(flat);
        }
        groups
    }

    /// A shape of rank 0..=5 with axes of length 0..4 (zero-sized ones included).
    fn shape() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0usize..4, 0..6)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn broadcast_index_equals_division_reference(
            (out, keep, drop) in shape().prop_flat_map(|s| {
                let r = s.len();
                (Just(s), prop::collection::vec(any::<bool>(), r), 0..=r)
            })
        ) {
            let src: Vec<usize> =
                out.iter().zip(keep).skip(drop).map(|(d, k)| if k { *d } else { 1 }).collect();
            prop_assert_eq!(
                binary::broadcast_index(&src, &out),
                broadcast_index_by_division(&src, &out)
            );
        }

        #[test]
        fn transpose_equals_division_reference(
            (x, perm) in shape().prop_flat_map(|s| {
                let n: usize = s.iter().product();
                let perm = Just((0..s.len()).collect::<Vec<usize>>()).prop_shuffle();
                (Just(s), perm, prop::collection::vec(any::<i32>(), n))
            }).prop_map(|(s, perm, data)| (Tensor::new(s, data), perm))
        ) {
            let t = Transpose { perm: perm.clone() };
            let out_shape: Vec<usize> = perm.iter().map(|p| x.shape[*p]).collect();
            prop_assert_eq!(t.eval(&x, &out_shape).data, transpose_by_division(&x, &perm));
        }

        #[test]
        fn reduce_groups_equal_division_reference(
            (s, axes) in shape().prop_flat_map(|s| {
                let r = s.len();
                (Just(s), prop::collection::vec(0..r.max(1), 0..4))
            })
        ) {
            let axes: Vec<usize> = axes.into_iter().filter(|a| *a < s.len()).collect();
            prop_assert_eq!(reduce_groups(&s, &axes), reduce_groups_by_division(&s, &axes));
        }
    }
}
