//! Lowering a compiled program onto the template library, and the static commitments of
//! the result: operator leaves (§10.1 `leaf_o`), the layout, the model and layout roots.

use alloy_primitives::{keccak256, B256, U256};
use ark_bn254::Fr;
use zkopml_commit::{
    chunk_count, chunked_commitment_of, fr_from_i64, fr_to_bytes32, tensor_header, wide_tree,
    ChunkTree, KeccakTree, CHUNK_VALUES,
};
use zkopml_engine::{
    ops::{Activation, BinaryKind, Clip, Op, ReduceKind, UnaryKind},
    program::ValueKind,
    Program, Tensor, ValueId,
};

use super::V4Error;
use std::sync::Arc;

use crate::templates::{argmax_groups, ArgMaxMarkTemplate};
use crate::templates::{
    pow_exponent, DivTemplate, L2Plan, PowTemplate, SqrtTemplate, SqrtWideTemplate,
};
use crate::templates::{
    template_id, AvgDispute, AvgSums, AvgTemplate, BinaryChunk, BinaryTemplate, ClipTemplate,
    ConvBlockTemplate, ConvDispute, ErfTemplate, GapBlockTemplate, GapDispute, GatherTemplate,
    GatherView, GemmBlockTemplate, GemmDispute, LogicOp, LogicTemplate, MatMulBlockTemplate,
    MatMulDispute, PoolBlockTemplate, PoolDispute, RescaleTemplate, Template, UnaryFn,
    UnaryTemplate,
};
use crate::templates::{GateFn, GateTemplate};
use crate::templates::{GatherIndexTemplate, IndexGather};
use crate::templates::{
    GroupBlockTemplate, GroupDispute, GroupKind, SoftmaxExpTemplate, SoftmaxFinishTemplate,
    SoftmaxPlan,
};
use crate::templates::{
    LayerNormFinishTemplate, LayerNormPlan, LayerNormStatsTemplate, ReducePlan,
};

/// Index of a value of a [`Lowered`] program.
pub type LValueId = usize;

/// `kind << 32 | index` of a slot of `S_i`.
pub const SOURCE_STATE: u64 = 0;
/// `kind << 32 | index` of an earlier entry of `P_i`.
pub const SOURCE_OUTPUT: u64 = 1;
/// A layout source for a slot that holds nothing (C = 0).
pub const SOURCE_EMPTY: u64 = 2;
/// The top bit of a source that carries a constant's commitment inline.
pub const CONST_FLAG: U256 = U256::from_limbs([0, 0, 0, 1 << 63]);

/// A tensor's contents: narrow (`i32`, the engine's) or wide (one field element per value,
/// the partial sums of a reduction).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Data {
    /// Engine values.
    Narrow(Tensor),
    /// Wide values.
    Wide(Vec<Fr>),
}

impl Data {
    /// The chunk tree.
    pub fn tree(&self) -> ChunkTree {
        match self {
            Data::Narrow(t) => ChunkTree::of_values(&t.data),
            Data::Wide(v) => wide_tree(v),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Data::Narrow(t) => t.data.len(),
            Data::Wide(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where a value of the lowered program comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// A runtime input: the engine's value of this id.
    Input(ValueId),
    /// A model constant (weights in the template layout, a `Gemm`'s `acc_0`), with its
    /// commitment.
    Const {
        /// The contents.
        data: Data,
        /// `C(T)`.
        commitment: Fr,
    },
    /// The output of template operator `o`.
    Op(usize),
}

/// A value of the lowered program.
#[derive(Clone, Debug)]
pub struct LValue {
    /// A readable name (the engine's, or derived from it).
    pub name: String,
    /// Its shape (the header's preimage).
    pub shape: Vec<usize>,
    /// Origin.
    pub origin: Origin,
}

/// What a template operator computes.
#[derive(Clone, Debug)]
pub enum LOpKind {
    /// `y = min(max(x, lo), hi)` (`Relu`, `Clip`; a reshape with the full range).
    Clip(Clip),
    /// `Add`, `Sub`, `Mul` of equal-length operands.
    Binary(BinaryKind),
    /// A comparison, boolean connective, `Where` or `Cast` of equal-length operands (inputs
    /// `[a, b, c]`, `a` repeated for the operands the operator lacks; `logic_chunk`).
    Logic(LogicOp),
    /// `acc_{b+1} = acc_b + Σ_t a[KB·b + t]·B'[KB·b + t, ·]` (inputs `[acc_b, A, B']`).
    GemmBlock {
        /// The block `b`.
        block: usize,
        /// `R`: chunks per row of `B'`.
        row_chunks: usize,
    },
    /// `acc_{b+1} = acc_b + W'[b, co(p)]·X[src_b(p)]` over one tap (inputs `[acc_b, X, W']`).
    ConvBlock {
        /// The tap `b`.
        block: usize,
        /// The node's decomposition (shape parameters and `W'`).
        dispute: Arc<ConvDispute>,
    },
    /// `acc_{b+1} = max(acc_b, X[src_b(p)])` over one tap (inputs `[acc_b, X]`).
    PoolBlock {
        /// The tap `b`.
        block: usize,
        /// The node's decomposition (shape parameters).
        dispute: Arc<PoolDispute>,
    },
    /// `acc_{b+1}[q] = acc_b[q] + Σ` of plane `q`'s values in chunk `j·H·W + b` of `X`
    /// (inputs `[acc_b, X]`; a global average pool's sums).
    GapBlock {
        /// The block `b < H·W`.
        block: usize,
        /// The node's decomposition (`H·W`).
        dispute: Arc<GapDispute>,
    },
    /// `y = div_round(acc, count)` (inputs `[acc, counts]`, `counts` a model constant of
    /// `y`'s shape; an average pool's division).
    Average,
    /// `y = F(x)` elementwise (`Tanh`, `Sigmoid`), or for `Erf`/`Gelu` the exponential factor
    /// `U` that [`LOpKind::ErfFinish`] finishes (input `[x]`; `unary_chunk`).
    Unary(UnaryFn),
    /// `y = erf(x)` or `gelu(x)` from `x` and its `U` (inputs `[x, U]`; `erf_chunk`).
    ErfFinish(UnaryFn),
    /// `y = sat(round(acc / 2^S))` (input `[acc]`).
    Rescale {
        /// `S`.
        shift: u32,
        /// Length of `y`.
        len: usize,
    },
    /// `y[i] = x[src(i)]` for a strided view (input `[x]`; `Transpose`, `Select`, `Expand`,
    /// a broadcast operand).
    Gather(GatherView),
    /// `acc_{b+1}[g] = acc_b[g] ⊕` the values of group `g` in chunk `j·n + b` of `X` (inputs
    /// `[acc_b, X]`; `group_block`: a Softmax's maxima and sums).
    GroupBlock {
        /// The block `b < n`.
        block: usize,
        /// The reduction (groups, `n`, kind).
        dispute: Arc<GroupDispute>,
    },
    /// `e = exp_q30(x − m_{⌊i/n⌋})` (inputs `[X, m]`; `softmax_exp`).
    SoftmaxExp {
        /// The group length.
        n: usize,
    },
    /// `y = ⌊(2^(F+1)·e + s_g)/(2·s_g)⌋`, `g = ⌊i/n⌋` (inputs `[E, S]`; `softmax_finish`).
    SoftmaxFinish {
        /// The group length.
        n: usize,
    },
    /// `acc_{t+1}[p] = acc_t[p] + A[src_A(p, t)]·B[src_B(p, t)]` for inner index `t`
    /// (inputs `[acc_t, A, B]`; `MatMul`, a `Gemm` of several rows or a computed `B`).
    MatMulBlock {
        /// The inner index `t`.
        block: usize,
        /// The node's decomposition (shape and rescale).
        dispute: Arc<MatMulDispute>,
    },
    /// `y[i] = x[base(i) + k(J[i])·stride]`, or 0 where the index names no position (inputs
    /// `[X, J]`; `gather_index`: `Gather`, `GatherElements` with computed indices).
    GatherIndex(Arc<IndexGather>),
    /// `E_i = ±(i mod n)·2^F` where `x_i = m_{⌊i/n⌋}`, else `i32::MIN` (inputs `[X, m]`;
    /// `argmax_mark`: an ArgMax's marks).
    ArgMaxMark {
        /// The group length.
        n: usize,
        /// Whether ties go to the last index (`+`) or the first (`−`).
        last: bool,
    },
    /// `Div` of equal-length operands (inputs `[a, b]`; `div_chunk`).
    Div,
    /// `y = sqrt_q(x)` (input `[x]`; `sqrt_chunk`).
    Sqrt,
    /// `y = pow_q(x, e)` (input `[x]`; `pow_chunk`).
    Pow {
        /// The exponent `e`.
        exponent: u32,
    },
    /// `y = sat(round(sqrt(s)))` of a wide `s` (input `[S]`; `sqrt_wide`: a `ReduceL2`'s
    /// last step).
    SqrtWide,
    /// `T = P + 2^6·(S1 + 2^52) + 2^59·s` per group (inputs `[S1, S2]`; `layernorm_stats`).
    LayerNormStats {
        /// The group length.
        n: usize,
        /// `round(ε·2^48)`.
        eps_q48: u64,
    },
    /// `y = rescale(z·γ + β·2^F, F)` (inputs `[X, T, Γ, Β]`; `layernorm_finish`).
    LayerNormFinish {
        /// The group length.
        n: usize,
    },
    /// `y = G(x, t)` elementwise (inputs `[X, T]`, `T = X` but for GELU-tanh's finish;
    /// `gate_chunk`: `HardSigmoid`, `HardSwish`, GELU-tanh's argument and finish).
    Gate(GateFn),
}

/// One template operator.
#[derive(Clone, Debug)]
pub struct LOp {
    /// The engine node it comes from.
    pub node: usize,
    /// What it computes.
    pub kind: LOpKind,
    /// Operands, in the template's order.
    pub inputs: Vec<LValueId>,
    /// The output.
    pub output: LValueId,
}

impl LOp {
    /// The template proving this operator's chunks.
    pub fn template(&self) -> &'static str {
        match self.kind {
            LOpKind::Clip(_) => ClipTemplate::NAME,
            LOpKind::Binary(_) => BinaryTemplate::NAME,
            LOpKind::Logic(_) => LogicTemplate::NAME,
            LOpKind::GemmBlock { .. } => GemmBlockTemplate::NAME,
            LOpKind::ConvBlock { .. } => ConvBlockTemplate::NAME,
            LOpKind::PoolBlock { .. } => PoolBlockTemplate::NAME,
            LOpKind::GapBlock { .. } => GapBlockTemplate::NAME,
            LOpKind::Average => AvgTemplate::NAME,
            LOpKind::Rescale { .. } => RescaleTemplate::NAME,
            LOpKind::Gather(_) => GatherTemplate::NAME,
            LOpKind::Unary(_) => UnaryTemplate::NAME,
            LOpKind::ErfFinish(_) => ErfTemplate::NAME,
            LOpKind::GroupBlock { .. } => GroupBlockTemplate::NAME,
            LOpKind::SoftmaxExp { .. } => SoftmaxExpTemplate::NAME,
            LOpKind::SoftmaxFinish { .. } => SoftmaxFinishTemplate::NAME,
            LOpKind::MatMulBlock { .. } => MatMulBlockTemplate::NAME,
            LOpKind::GatherIndex(_) => GatherIndexTemplate::NAME,
            LOpKind::ArgMaxMark { .. } => ArgMaxMarkTemplate::NAME,
            LOpKind::Div => DivTemplate::NAME,
            LOpKind::Sqrt => SqrtTemplate::NAME,
            LOpKind::Pow { .. } => PowTemplate::NAME,
            LOpKind::SqrtWide => SqrtWideTemplate::NAME,
            LOpKind::LayerNormStats { .. } => LayerNormStatsTemplate::NAME,
            LOpKind::LayerNormFinish { .. } => LayerNormFinishTemplate::NAME,
            LOpKind::Gate(_) => GateTemplate::NAME,
        }
    }

    /// The template's parameters (public inputs between `j` and the digest).
    pub fn params(&self) -> Vec<Fr> {
        match &self.kind {
            LOpKind::Clip(c) => vec![fr_from_i64(c.lo as i64), fr_from_i64(c.hi as i64)],
            LOpKind::Binary(k) => vec![Fr::from(BinaryChunk::code(*k).unwrap_or(u64::MAX))],
            LOpKind::Logic(l) => vec![Fr::from(l.code()), l.bounds()],
            LOpKind::GemmBlock { block, row_chunks } => {
                vec![Fr::from(*block as u64), Fr::from(*row_chunks as u64)]
            }
            LOpKind::ConvBlock { block, dispute } => {
                vec![Fr::from(*block as u64), dispute.params.packed()]
            }
            LOpKind::PoolBlock { block, dispute } => {
                vec![Fr::from(*block as u64), dispute.params.packed()]
            }
            LOpKind::GapBlock { block, dispute } => {
                vec![Fr::from(*block as u64), Fr::from(dispute.plane as u64)]
            }
            LOpKind::Average => Vec::new(),
            LOpKind::Rescale { shift, len } => vec![Fr::from(*shift as u64), Fr::from(*len as u64)],
            LOpKind::Gather(view) => view.packed().to_vec(),
            LOpKind::Unary(f) | LOpKind::ErfFinish(f) => vec![Fr::from(f.code())],
            LOpKind::GroupBlock { block, dispute } => vec![
                Fr::from(*block as u64),
                Fr::from(dispute.n as u64),
                Fr::from(dispute.kind.code()),
            ],
            LOpKind::SoftmaxExp { n } | LOpKind::SoftmaxFinish { n } => vec![Fr::from(*n as u64)],
            LOpKind::MatMulBlock { block, dispute } => {
                vec![Fr::from(*block as u64), dispute.params.packed()]
            }
            LOpKind::GatherIndex(p) => p.packed().to_vec(),
            LOpKind::ArgMaxMark { n, last } => vec![Fr::from(*n as u64), Fr::from(*last as u64)],
            LOpKind::Div | LOpKind::Sqrt | LOpKind::SqrtWide => Vec::new(),
            LOpKind::Pow { exponent } => vec![Fr::from(*exponent as u64)],
            LOpKind::LayerNormStats { n, eps_q48 } => {
                vec![Fr::from(*n as u64), Fr::from(*eps_q48)]
            }
            LOpKind::LayerNormFinish { n } => vec![Fr::from(*n as u64)],
            LOpKind::Gate(g) => {
                let (alpha, beta) = g.slope();
                vec![
                    Fr::from(g.code()),
                    fr_from_i64(alpha as i64),
                    fr_from_i64(beta as i64),
                ]
            }
        }
    }
}

/// An input source of an operator leaf (§10.1), or a layout source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// Slot `index` of the state before the step.
    State(usize),
    /// Entry `index` of the step's outputs (an earlier operator of the same step).
    Output(usize),
    /// A model constant, its commitment inline.
    Const(Fr),
    /// Nothing (an empty slot, C = 0).
    Empty,
}

impl Source {
    /// The contracts' encoding: `kind << 32 | index`, or `CONST_FLAG | C`.
    pub fn encode(&self) -> U256 {
        match self {
            Source::State(i) => U256::from((SOURCE_STATE << 32) | *i as u64),
            Source::Output(i) => U256::from((SOURCE_OUTPUT << 32) | *i as u64),
            Source::Const(c) => CONST_FLAG | fr_u256(c),
            Source::Empty => U256::from(SOURCE_EMPTY << 32),
        }
    }
}

/// A signed integer as a field element.
pub(crate) fn i128_fr(v: i128) -> Fr {
    let f = Fr::from(v.unsigned_abs());
    if v < 0 {
        -f
    } else {
        f
    }
}

/// A field element as the contracts' `uint256`.
pub fn fr_u256(f: &Fr) -> U256 {
    U256::from_be_bytes(fr_to_bytes32(f))
}

/// `leaf_o` of the model tree (`TypesV4.OperatorLeaf`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OperatorLeaf {
    /// [`template_id`] of the operator's template (0: no operator at this position).
    pub template_id: U256,
    /// The template's parameters.
    pub params: Vec<U256>,
    /// Encoded input sources.
    pub input_sources: Vec<U256>,
    /// `header(Y)`.
    pub output_header: U256,
    /// Chunks of `Y`.
    pub output_chunks: u64,
}

impl OperatorLeaf {
    /// `keccak256(abi.encode(o, templateId, params, inputSources, outputHeader, outputChunks))`.
    pub fn hash(&self, o: usize) -> B256 {
        // Head: six words, the two arrays by offset; tail: each array's length and items.
        let head = 6 * 32;
        let params_at = head;
        let sources_at = params_at + 32 * (1 + self.params.len());
        let mut buf = Vec::with_capacity(sources_at + 32 * (1 + self.input_sources.len()));
        let mut word = |v: U256| buf.extend_from_slice(&v.to_be_bytes::<32>());
        word(U256::from(o));
        word(self.template_id);
        word(U256::from(params_at));
        word(U256::from(sources_at));
        word(self.output_header);
        word(U256::from(self.output_chunks));
        word(U256::from(self.params.len()));
        self.params.iter().for_each(|p| word(*p));
        word(U256::from(self.input_sources.len()));
        self.input_sources.iter().for_each(|s| word(*s));
        keccak256(buf)
    }
}

/// `keccak256(abi.encode(step, slot, source))`: a leaf of the layout tree.
pub fn layout_leaf(step: usize, slot: usize, source: U256) -> B256 {
    let mut buf = [0u8; 96];
    buf[..32].copy_from_slice(&U256::from(step).to_be_bytes::<32>());
    buf[32..64].copy_from_slice(&U256::from(slot).to_be_bytes::<32>());
    buf[64..].copy_from_slice(&source.to_be_bytes::<32>());
    keccak256(buf)
}

/// The lowering's `push_op`: appends operator `kind` over `inputs` and its output value
/// (`name`, `shape`), and returns the value.
type PushOp<'a> =
    dyn FnMut(&mut Vec<LValue>, LOpKind, Vec<LValueId>, String, Vec<usize>) -> LValueId + 'a;

/// How one engine node lowers: one template operator, or a reduction over blocks.
enum Lowering {
    Op(LValueId),
    Reduction(Reduction),
}

/// A reduction: `acc_0` (a constant), one block operator per entry of `blocks` (inputs
/// `[acc_b, operands…]`, output `acc_{b+1}` as wide as `acc_0`), then the `finish` operator
/// (inputs `[acc_B, finish operands…]`) into the node's output: `rescale(acc_B, S)`, or an
/// average pool's division by its counts.
struct Reduction {
    acc0: Vec<Fr>,
    blocks: Vec<LOpKind>,
    operands: Vec<LValueId>,
    finish: (LOpKind, Vec<LValueId>),
}

/// A matrix product as a reduction: `K` `matmul_block` operators over `[acc_t, A, B]`, then
/// `rescale_chunk`; refused when a leaf would read more chunks than the table holds.
fn matmul_reduction(d: MatMulDispute, a: LValueId, b: LValueId) -> Result<Lowering, &'static str> {
    d.params.fits().map_err(|_| {
        "a matrix product whose output chunk reads more chunks of A and B than matmul_block's \
         table holds"
    })?;
    let d = Arc::new(d);
    Ok(Lowering::Reduction(Reduction {
        acc0: d.acc0.iter().map(|v| i128_fr(*v)).collect(),
        blocks: (0..d.blocks())
            .map(|block| LOpKind::MatMulBlock {
                block,
                dispute: d.clone(),
            })
            .collect(),
        operands: vec![a, b],
        finish: (
            LOpKind::Rescale {
                shift: d.shift,
                len: d.params.len(),
            },
            Vec::new(),
        ),
    }))
}

/// A zero tensor of `shape`: what a decomposition's constants are computed over (they do
/// not depend on the data input's values).
fn zeros(shape: &[usize]) -> Tensor {
    Tensor::new(shape.to_vec(), vec![0; shape.iter().product()])
}

/// The constant second (and optional third) operand of a `Gemm` or `Conv`; `None` when
/// either is computed.
fn constant_operands<'p>(
    program: &'p Program,
    node: &zkopml_engine::Node,
) -> Option<(&'p Tensor, Option<&'p Tensor>)> {
    let kind = |k: usize| node.inputs.get(k).map(|v| &program.values[*v].kind);
    match (kind(1), kind(2)) {
        (Some(ValueKind::Const(w)), None) => Some((w, None)),
        (Some(ValueKind::Const(w)), Some(ValueKind::Const(b))) => Some((w, Some(b))),
        _ => None,
    }
}

/// A program lowered onto the template library.
#[derive(Clone, Debug)]
pub struct Lowered {
    /// Every value.
    pub values: Vec<LValue>,
    /// Template operators in execution order.
    pub ops: Vec<LOp>,
    /// Operators per step (`N`).
    pub ops_per_step: usize,
    /// Runtime inputs, in the program's order.
    pub inputs: Vec<LValueId>,
    /// Graph outputs, in the program's order.
    pub outputs: Vec<LValueId>,
    /// The lowered value of each engine value (inputs and node outputs).
    pub of_engine: Vec<Option<LValueId>>,
    /// Values live at each boundary `b = 0..=n`, in slot order.
    layouts: Vec<Vec<LValueId>>,
}

impl Lowered {
    /// Lowers `program` with `ops_per_step` template operators per step.
    pub fn new(program: &Program, ops_per_step: usize) -> Result<Self, V4Error> {
        let mut values: Vec<LValue> = Vec::new();
        let mut of_engine: Vec<Option<LValueId>> = vec![None; program.values.len()];
        let mut ops: Vec<LOp> = Vec::new();
        let constant = |values: &mut Vec<LValue>, name: String, shape: Vec<usize>, data: Data| {
            let header =
                tensor_header(&shape).ok_or_else(|| V4Error::Uncommittable(name.clone()))?;
            let commitment = chunked_commitment_of(header, data.tree().root());
            values.push(LValue {
                name,
                shape,
                origin: Origin::Const { data, commitment },
            });
            Ok::<_, V4Error>(values.len() - 1)
        };
        for id in &program.inputs {
            values.push(LValue {
                name: program.values[*id].name.clone(),
                shape: program.values[*id].shape.clone(),
                origin: Origin::Input(*id),
            });
            of_engine[*id] = Some(values.len() - 1);
        }
        for (index, node) in program.nodes.iter().enumerate() {
            let unsupported = |reason: &'static str| V4Error::Unsupported {
                node: node.name.clone(),
                op: node.op.name(),
                reason,
            };
            // An operand: a value already lowered, or an engine constant committed inline.
            let mut operand = |values: &mut Vec<LValue>, v: ValueId| -> Result<LValueId, V4Error> {
                if let Some(l) = of_engine[v] {
                    return Ok(l);
                }
                match &program.values[v].kind {
                    ValueKind::Const(t) => {
                        let l = constant(
                            values,
                            program.values[v].name.clone(),
                            t.shape.clone(),
                            Data::Narrow(t.clone()),
                        )?;
                        of_engine[v] = Some(l);
                        Ok(l)
                    }
                    _ => Err(unsupported("an operand computed after its reader")),
                }
            };
            let out_info = &program.values[node.output];
            let mut push_op = |values: &mut Vec<LValue>, kind, inputs, name: String, shape| {
                values.push(LValue {
                    name,
                    shape,
                    origin: Origin::Op(ops.len()),
                });
                let output = values.len() - 1;
                ops.push(LOp {
                    node: index,
                    kind,
                    inputs,
                    output,
                });
                output
            };
            let out_len: usize = out_info.shape.iter().product();
            let lowering = match &node.op {
                Op::Relu | Op::Clip(_) | Op::Reshape(_) => {
                    let clip = match &node.op {
                        Op::Relu => Clip::RELU,
                        Op::Clip(c) => c.clone(),
                        _ => Clip {
                            lo: i32::MIN,
                            hi: i32::MAX,
                        },
                    };
                    let x = operand(&mut values, node.inputs[0])?;
                    Lowering::Op(push_op(
                        &mut values,
                        LOpKind::Clip(clip),
                        vec![x],
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    ))
                }
                // Elementwise operators of equal-length operands: a broadcast operand is
                // committed broadcast (a constant) or broadcast by a gather_chunk operator
                // first (a computed one).
                Op::Binary(_) | Op::Compare(_) | Op::Logic(_) | Op::Where | Op::Cast(_) => {
                    let kind = match &node.op {
                        Op::Binary(BinaryKind::Div) => LOpKind::Div,
                        Op::Binary(k) => {
                            if BinaryChunk::code(*k).is_none() {
                                return Err(unsupported(
                                    "no template for this arithmetic kind yet",
                                ));
                            }
                            LOpKind::Binary(*k)
                        }
                        Op::Compare(k) => LOpKind::Logic(LogicOp::Compare(*k)),
                        Op::Logic(k) => LOpKind::Logic(LogicOp::Logic(*k)),
                        Op::Cast(c) => LOpKind::Logic(LogicOp::Cast(*c)),
                        _ => LOpKind::Logic(LogicOp::Where),
                    };
                    let arity = match &kind {
                        LOpKind::Logic(l) => l.arity(),
                        _ => 2,
                    };
                    if node.inputs.len() != arity {
                        return Err(unsupported("an elementwise operator of another arity"));
                    }
                    let mut lowered_inputs = Vec::with_capacity(3);
                    for (k, v) in node.inputs.iter().enumerate() {
                        let info = &program.values[*v];
                        if info.shape.iter().product::<usize>() == out_len {
                            lowered_inputs.push(operand(&mut values, *v)?);
                            continue;
                        }
                        let view =
                            GatherView::expand(&info.shape, &out_info.shape).map_err(|_| {
                                unsupported("a broadcast operand outside gather_chunk's bounds")
                            })?;
                        let name = format!("{}:broadcast{k}", node.name);
                        lowered_inputs.push(match &info.kind {
                            ValueKind::Const(t) => {
                                let data = view.apply(&t.data).ok_or_else(|| {
                                    unsupported("a broadcast constant of the wrong length")
                                })?;
                                let t = Tensor::new(out_info.shape.clone(), data);
                                constant(&mut values, name, t.shape.clone(), Data::Narrow(t))?
                            }
                            _ => {
                                view.fits().map_err(|_| {
                                    unsupported(
                                        "a broadcast operand whose output chunk reads more \
                                         chunks than gather_chunk's table holds",
                                    )
                                })?;
                                let x = operand(&mut values, *v)?;
                                push_op(
                                    &mut values,
                                    LOpKind::Gather(view),
                                    vec![x],
                                    name,
                                    out_info.shape.clone(),
                                )
                            }
                        });
                    }
                    // logic_chunk reads three operands: the first stands in for missing ones.
                    if matches!(kind, LOpKind::Logic(_)) {
                        lowered_inputs.resize(3, lowered_inputs[0]);
                    }
                    Lowering::Op(push_op(
                        &mut values,
                        kind,
                        lowered_inputs,
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    ))
                }
                Op::Gemm(g)
                    if program.values[node.inputs[0]].shape.first() != Some(&1)
                        || g.trans_a
                        || constant_operands(program, node).is_none() =>
                {
                    // Several rows of A or a computed B: matmul_block over B' = op(B).
                    let a_shape = &program.values[node.inputs[0]].shape;
                    let b_info = &program.values[node.inputs[1]];
                    let (_, k, n) = g.dims(a_shape, &b_info.shape);
                    let c = match node.inputs.get(2).map(|v| &program.values[*v].kind) {
                        Some(ValueKind::Const(c)) => Some(c),
                        None => None,
                        Some(_) => return Err(unsupported("Gemm with a computed C")),
                    };
                    let d = MatMulDispute::gemm(g, a_shape, &[k, n], c).map_err(|_| {
                        unsupported("Gemm with a transposed A or outside matmul_block's bounds")
                    })?;
                    let b = match &b_info.kind {
                        ValueKind::Const(b) => {
                            let w = MatMulDispute::b_prime(g, b);
                            constant(
                                &mut values,
                                format!("{}:B'", node.name),
                                w.shape.clone(),
                                Data::Narrow(w),
                            )?
                        }
                        _ if g.trans_b => {
                            return Err(unsupported("Gemm with a computed, transposed B"))
                        }
                        _ => operand(&mut values, node.inputs[1])?,
                    };
                    let a = operand(&mut values, node.inputs[0])?;
                    matmul_reduction(d, a, b).map_err(unsupported)?
                }
                Op::MatMul(mm) => {
                    let (a_shape, b_shape) = (
                        &program.values[node.inputs[0]].shape,
                        &program.values[node.inputs[1]].shape,
                    );
                    let d = MatMulDispute::matmul(mm, a_shape, b_shape).map_err(|e| {
                        unsupported(match e {
                            crate::templates::MatMulError::Broadcast { .. } => {
                                "MatMul whose batch dims broadcast partially"
                            }
                            _ => "MatMul outside matmul_block's bounds",
                        })
                    })?;
                    let a = operand(&mut values, node.inputs[0])?;
                    let b = operand(&mut values, node.inputs[1])?;
                    matmul_reduction(d, a, b).map_err(unsupported)?
                }
                // Concat: every operand spread over the output's shape (gather_chunk), then
                // Where selections by constant masks (logic_chunk); one operand: identity.
                Op::Concat(c) => {
                    let xs: Vec<&[usize]> = node
                        .inputs
                        .iter()
                        .map(|v| program.values[*v].shape.as_slice())
                        .collect();
                    let parts = crate::templates::concat_parts(&xs, c.axis, &out_info.shape)
                        .map_err(|e| unsupported(e.concat_refusal()))?;
                    let (out_name, out_shape) = (out_info.name.clone(), out_info.shape.clone());
                    if parts.len() == 1 {
                        let x = operand(&mut values, node.inputs[parts[0].input])?;
                        let full = Clip {
                            lo: i32::MIN,
                            hi: i32::MAX,
                        };
                        Lowering::Op(push_op(
                            &mut values,
                            LOpKind::Clip(full),
                            vec![x],
                            out_name,
                            out_shape,
                        ))
                    } else {
                        let axis_len = out_shape[c.axis];
                        let inner: usize = out_shape[c.axis + 1..].iter().product();
                        let mut y = None;
                        let last = parts.len() - 1;
                        for (k, part) in parts.iter().enumerate() {
                            let mut x = operand(&mut values, node.inputs[part.input])?;
                            for (s, (view, shape)) in part.passes.iter().enumerate() {
                                x = push_op(
                                    &mut values,
                                    LOpKind::Gather(*view),
                                    vec![x],
                                    format!("{}:part{k}_{s}", node.name),
                                    shape.clone(),
                                );
                            }
                            y = Some(match y {
                                None => x,
                                Some(prev) => {
                                    // mask: true (2^F) where i < p_k along the axis.
                                    let mask: Vec<i32> = (0..out_len)
                                        .map(|f| {
                                            let i = (f / inner) % axis_len;
                                            if i < part.start {
                                                zkopml_engine::fixed::ONE as i32
                                            } else {
                                                0
                                            }
                                        })
                                        .collect();
                                    let m = constant(
                                        &mut values,
                                        format!("{}:mask{k}", node.name),
                                        out_shape.clone(),
                                        Data::Narrow(Tensor::new(out_shape.clone(), mask)),
                                    )?;
                                    let name = if k == last {
                                        out_name.clone()
                                    } else {
                                        format!("{}:y{k}", node.name)
                                    };
                                    push_op(
                                        &mut values,
                                        LOpKind::Logic(LogicOp::Where),
                                        vec![m, prev, x],
                                        name,
                                        out_shape.clone(),
                                    )
                                }
                            });
                        }
                        Lowering::Op(y.expect("two parts or more"))
                    }
                }
                // CumSum: a product with a constant 0/1 matrix (S = 0).
                Op::CumSum(c) => {
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let (d, l, x_is_a) = MatMulDispute::cumsum(c, x_shape)
                        .map_err(|_| unsupported("CumSum outside matmul_block's bounds"))?;
                    let l = constant(
                        &mut values,
                        format!("{}:L", node.name),
                        l.shape.clone(),
                        Data::Narrow(l),
                    )?;
                    let x = operand(&mut values, node.inputs[0])?;
                    let (a, b) = if x_is_a { (x, l) } else { (l, x) };
                    matmul_reduction(d, a, b).map_err(unsupported)?
                }
                Op::Gemm(g) => {
                    let (b, c) = constant_operands(program, node)
                        .ok_or_else(|| unsupported("Gemm with a computed B or C"))?;
                    let a_shape = &program.values[node.inputs[0]].shape;
                    // The decomposition's constants do not depend on A's values.
                    let d = GemmDispute::new(g, &zeros(a_shape), b, c).map_err(unsupported)?;
                    let row_chunks = d.n_pad / CHUNK_VALUES;
                    let a = operand(&mut values, node.inputs[0])?;
                    let w = constant(
                        &mut values,
                        format!("{}:B'", node.name),
                        d.weights.shape.clone(),
                        Data::Narrow(d.weights.clone()),
                    )?;
                    Lowering::Reduction(Reduction {
                        acc0: d.acc_fr(0),
                        blocks: (0..d.blocks())
                            .map(|block| LOpKind::GemmBlock { block, row_chunks })
                            .collect(),
                        operands: vec![a, w],
                        finish: (
                            LOpKind::Rescale {
                                shift: d.shift,
                                len: d.n,
                            },
                            Vec::new(),
                        ),
                    })
                }
                Op::Conv(c) | Op::Conv1d(c) => {
                    let (w, bias) = constant_operands(program, node)
                        .ok_or_else(|| unsupported("Conv with computed weights or bias"))?;
                    // A Conv1d is the engine's 2-D kernel over `[N, C, 1, W]` (same flat
                    // layout, same integer semantics): conv_block with height 1.
                    let x_shape = crate::templates::lift_1d(&program.values[node.inputs[0]].shape);
                    let w = Tensor::new(crate::templates::lift_1d(&w.shape), w.data.clone());
                    let d = Arc::new(ConvDispute::new(c, &zeros(&x_shape), &w, bias).map_err(
                        |_| unsupported("Conv outside the conv_block template's bounds"),
                    )?);
                    let x = operand(&mut values, node.inputs[0])?;
                    let wt = constant(
                        &mut values,
                        format!("{}:W'", node.name),
                        d.weights.shape.clone(),
                        Data::Narrow(d.weights.clone()),
                    )?;
                    Lowering::Reduction(Reduction {
                        acc0: d.acc0.iter().map(|v| i128_fr(*v)).collect(),
                        blocks: (0..d.blocks())
                            .map(|block| LOpKind::ConvBlock {
                                block,
                                dispute: d.clone(),
                            })
                            .collect(),
                        operands: vec![x, wt],
                        finish: (
                            LOpKind::Rescale {
                                shift: d.shift,
                                len: d.len,
                            },
                            Vec::new(),
                        ),
                    })
                }
                Op::MaxPool(p) => {
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let d = Arc::new(PoolDispute::new(p, &zeros(x_shape)).map_err(|_| {
                        unsupported("MaxPool outside the pool_block template's bounds")
                    })?);
                    let x = operand(&mut values, node.inputs[0])?;
                    // Running maxima from −2^31; they are engine values, so the rescale that
                    // ends the reduction is by 2^0 (it only narrows them).
                    Lowering::Reduction(Reduction {
                        acc0: vec![i128_fr(i32::MIN as i128); d.len],
                        blocks: (0..d.blocks())
                            .map(|block| LOpKind::PoolBlock {
                                block,
                                dispute: d.clone(),
                            })
                            .collect(),
                        operands: vec![x],
                        finish: (
                            LOpKind::Rescale {
                                shift: 0,
                                len: d.len,
                            },
                            Vec::new(),
                        ),
                    })
                }
                Op::GlobalAveragePool | Op::AveragePool(_) => {
                    // Exact sums (gap_block over whole planes, or conv_block with weight 1
                    // per channel over windows), then avg_chunk: div_round by the counts.
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let d = match &node.op {
                        Op::AveragePool(p) => AvgDispute::window(p, x_shape, &out_info.shape),
                        _ => AvgDispute::global(x_shape, &out_info.shape),
                    }
                    .map_err(|_| {
                        unsupported("average pool outside the conv_block / gap_block bounds")
                    })?;
                    let x = operand(&mut values, node.inputs[0])?;
                    let counts = constant(
                        &mut values,
                        format!("{}:counts", node.name),
                        d.counts.shape.clone(),
                        Data::Narrow(d.counts.clone()),
                    )?;
                    let finish = (LOpKind::Average, vec![counts]);
                    match d.sums {
                        AvgSums::Global(g) => {
                            let g = Arc::new(g);
                            Lowering::Reduction(Reduction {
                                acc0: vec![Fr::from(0u64); g.planes],
                                blocks: (0..g.blocks())
                                    .map(|block| LOpKind::GapBlock {
                                        block,
                                        dispute: g.clone(),
                                    })
                                    .collect(),
                                operands: vec![x],
                                finish,
                            })
                        }
                        AvgSums::Window(c) => {
                            let ones = constant(
                                &mut values,
                                format!("{}:W'", node.name),
                                c.weights.shape.clone(),
                                Data::Narrow(c.weights.clone()),
                            )?;
                            let c = Arc::new(*c);
                            Lowering::Reduction(Reduction {
                                acc0: vec![Fr::from(0u64); c.len],
                                blocks: (0..c.blocks())
                                    .map(|block| LOpKind::ConvBlock {
                                        block,
                                        dispute: c.clone(),
                                    })
                                    .collect(),
                                operands: vec![x, ones],
                                finish,
                            })
                        }
                    }
                }
                Op::Transpose(t) => {
                    let passes = crate::templates::transpose_passes(
                        &program.values[node.inputs[0]].shape,
                        &t.perm,
                    )
                    .map_err(|e| match e {
                        crate::templates::GatherError::TooManyChunks { .. } => unsupported(
                            "an output chunk reads more chunks of X than gather_chunk's table \
                             holds, in any split into three passes",
                        ),
                        _ => unsupported("an index map outside gather_chunk's strided views"),
                    })?;
                    let mut x = operand(&mut values, node.inputs[0])?;
                    let last = passes.len() - 1;
                    for (k, (view, shape)) in passes.into_iter().enumerate() {
                        let (name, shape) = if k == last {
                            (out_info.name.clone(), out_info.shape.clone())
                        } else {
                            (format!("{}:pass{k}", node.name), shape)
                        };
                        x = push_op(&mut values, LOpKind::Gather(view), vec![x], name, shape);
                    }
                    Lowering::Op(x)
                }
                Op::GatherNd(_) => {
                    let view = match &program.values[node.inputs[1]].kind {
                        ValueKind::Const(idx) => crate::templates::gather_nd_view(
                            &program.values[node.inputs[0]].shape,
                            idx,
                        ),
                        _ => None,
                    }
                    .ok_or_else(|| unsupported("GatherND by tuples that are no strided view"))?
                    .map_err(|_| {
                        unsupported(
                            "a GatherND view whose output chunk reads more chunks of X than \
                             gather_chunk's table holds",
                        )
                    })?;
                    let x = operand(&mut values, node.inputs[0])?;
                    Lowering::Op(push_op(
                        &mut values,
                        LOpKind::Gather(view),
                        vec![x],
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    ))
                }
                Op::Select(_) | Op::Expand(_) => {
                    let view = crate::templates::movement_view(program, node)
                        .unwrap_or(Err(crate::templates::GatherError::Rank { rank: 0 }))
                        .map_err(|e| match e {
                            crate::templates::GatherError::TooManyChunks { .. } => unsupported(
                                "an output chunk reads more chunks of X than gather_chunk's \
                                     table holds",
                            ),
                            _ => unsupported("an index map outside gather_chunk's strided views"),
                        })?;
                    let x = operand(&mut values, node.inputs[0])?;
                    Lowering::Op(push_op(
                        &mut values,
                        LOpKind::Gather(view),
                        vec![x],
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    ))
                }
                Op::ArgMax(a) => {
                    // m = group maxima of X (group_block max, rescale S = 0), E = the marks
                    // (argmax_mark), M = group maxima of E: the index (ties last), or its
                    // negation (ties first: y = 0 − M, binary_chunk Sub).
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let (n, g) = argmax_groups(a, x_shape).map_err(unsupported)?;
                    let d = Arc::new(GroupDispute {
                        groups: g,
                        n,
                        kind: GroupKind::Max,
                    });
                    let group_max = |values: &mut Vec<LValue>,
                                     push_op: &mut PushOp<'_>,
                                     input: LValueId,
                                     name: &str,
                                     (out_name, out_shape): (String, Vec<usize>)|
                     -> Result<LValueId, V4Error> {
                        let mut acc = constant(
                            values,
                            format!("{}:{name}0", node.name),
                            vec![g],
                            Data::Wide(vec![i128_fr(GroupKind::Max.neutral()); g]),
                        )?;
                        for block in 0..d.blocks() {
                            acc = push_op(
                                values,
                                LOpKind::GroupBlock {
                                    block,
                                    dispute: d.clone(),
                                },
                                vec![acc, input],
                                format!("{}:{name}{}", node.name, block + 1),
                                vec![g],
                            );
                        }
                        Ok(push_op(
                            values,
                            LOpKind::Rescale { shift: 0, len: g },
                            vec![acc],
                            out_name,
                            out_shape,
                        ))
                    };
                    let x = operand(&mut values, node.inputs[0])?;
                    let m_out = (format!("{}:m", node.name), vec![g]);
                    let m = group_max(&mut values, &mut push_op, x, "max", m_out)?;
                    let e = push_op(
                        &mut values,
                        LOpKind::ArgMaxMark {
                            n,
                            last: a.select_last,
                        },
                        vec![x, m],
                        format!("{}:E", node.name),
                        x_shape.clone(),
                    );
                    let big_m = if a.select_last {
                        (out_info.name.clone(), out_info.shape.clone())
                    } else {
                        (format!("{}:M", node.name), out_info.shape.clone())
                    };
                    let big_m = group_max(&mut values, &mut push_op, e, "mark", big_m)?;
                    Lowering::Op(if a.select_last {
                        big_m
                    } else {
                        let zero = constant(
                            &mut values,
                            format!("{}:zero", node.name),
                            out_info.shape.clone(),
                            Data::Narrow(Tensor::new(out_info.shape.clone(), vec![0; out_len])),
                        )?;
                        push_op(
                            &mut values,
                            LOpKind::Binary(BinaryKind::Sub),
                            vec![zero, big_m],
                            out_info.name.clone(),
                            out_info.shape.clone(),
                        )
                    })
                }
                Op::Gather(_) | Op::GatherElements(_) => {
                    // Computed indices: J = the indices at the output positions (a
                    // gather_chunk move unless they are there already), then gather_index.
                    let p = crate::templates::index_gather(program, node)
                        .unwrap_or(Err("a gather without two operands"))
                        .map_err(unsupported)?;
                    let i_len: usize = program.values[node.inputs[1]].shape.iter().product();
                    let x = operand(&mut values, node.inputs[0])?;
                    let mut j = operand(&mut values, node.inputs[1])?;
                    if !p.idx_is_identity(i_len) {
                        j = push_op(
                            &mut values,
                            LOpKind::Gather(p.idx),
                            vec![j],
                            format!("{}:J", node.name),
                            out_info.shape.clone(),
                        );
                    }
                    Lowering::Op(push_op(
                        &mut values,
                        LOpKind::GatherIndex(Arc::new(p)),
                        vec![x, j],
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    ))
                }
                // HardSigmoid, HardSwish: one gate_chunk leaf; Gelu (tanh): its argument
                // (gate_chunk), tanh (unary_chunk), its finish (gate_chunk over [X, T]).
                Op::Activation(
                    a @ (Activation::HardSigmoid { .. }
                    | Activation::HardSwish
                    | Activation::GeluTanh),
                ) => {
                    let x = operand(&mut values, node.inputs[0])?;
                    let (out_name, out_shape) = (out_info.name.clone(), out_info.shape.clone());
                    Lowering::Op(match *a {
                        Activation::HardSigmoid { alpha, beta } => push_op(
                            &mut values,
                            LOpKind::Gate(GateFn::HardSigmoid { alpha, beta }),
                            vec![x, x],
                            out_name,
                            out_shape,
                        ),
                        Activation::HardSwish => push_op(
                            &mut values,
                            LOpKind::Gate(GateFn::HardSwish),
                            vec![x, x],
                            out_name,
                            out_shape,
                        ),
                        _ => {
                            let v = push_op(
                                &mut values,
                                LOpKind::Gate(GateFn::GeluTanhArg),
                                vec![x, x],
                                format!("{}:v", node.name),
                                out_shape.clone(),
                            );
                            let t = push_op(
                                &mut values,
                                LOpKind::Unary(UnaryFn::Tanh),
                                vec![v],
                                format!("{}:t", node.name),
                                out_shape.clone(),
                            );
                            push_op(
                                &mut values,
                                LOpKind::Gate(GateFn::GeluTanhFinish),
                                vec![x, t],
                                out_name,
                                out_shape,
                            )
                        }
                    })
                }
                op if UnaryFn::of(op).is_some() => {
                    let f = UnaryFn::of(op).expect("matched");
                    let x = operand(&mut values, node.inputs[0])?;
                    if f.two_stage() {
                        let u = push_op(
                            &mut values,
                            LOpKind::Unary(f),
                            vec![x],
                            format!("{}:U", node.name),
                            out_info.shape.clone(),
                        );
                        Lowering::Op(push_op(
                            &mut values,
                            LOpKind::ErfFinish(f),
                            vec![x, u],
                            out_info.name.clone(),
                            out_info.shape.clone(),
                        ))
                    } else {
                        Lowering::Op(push_op(
                            &mut values,
                            LOpKind::Unary(f),
                            vec![x],
                            out_info.name.clone(),
                            out_info.shape.clone(),
                        ))
                    }
                }
                Op::Softmax(sm) => {
                    // m (group maxima: group_block, then rescale S = 0), e (softmax_exp),
                    // s (group sums of e: group_block), y (softmax_finish); an axis that is
                    // not last is moved to the end and back by gathers.
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let p = SoftmaxPlan::new(sm, x_shape).map_err(unsupported)?;
                    let (n, g) = (p.n, p.groups);
                    let mut x = operand(&mut values, node.inputs[0])?;
                    let mut shape = x_shape.clone();
                    if let Some(mv) = &p.axis_move {
                        x = push_op(
                            &mut values,
                            LOpKind::Gather(mv.to_last),
                            vec![x],
                            format!("{}:x_t", node.name),
                            mv.shape.clone(),
                        );
                        shape = mv.shape.clone();
                    }
                    let parts =
                        [(GroupKind::Max, "max"), (GroupKind::Sum, "sum")].map(|(kind, name)| {
                            (kind, name, Arc::new(GroupDispute { groups: g, n, kind }))
                        });
                    let reduce = |values: &mut Vec<LValue>,
                                  push_op: &mut PushOp<'_>,
                                  k: usize,
                                  input: LValueId|
                     -> Result<LValueId, V4Error> {
                        let (kind, name, d) = &parts[k];
                        let mut acc = constant(
                            values,
                            format!("{}:{name}0", node.name),
                            vec![g],
                            Data::Wide(vec![i128_fr(kind.neutral()); g]),
                        )?;
                        for block in 0..d.blocks() {
                            acc = push_op(
                                values,
                                LOpKind::GroupBlock {
                                    block,
                                    dispute: d.clone(),
                                },
                                vec![acc, input],
                                format!("{}:{name}{}", node.name, block + 1),
                                vec![g],
                            );
                        }
                        Ok(acc)
                    };
                    let max = reduce(&mut values, &mut push_op, 0, x)?;
                    let m = push_op(
                        &mut values,
                        LOpKind::Rescale { shift: 0, len: g },
                        vec![max],
                        format!("{}:m", node.name),
                        vec![g],
                    );
                    let e = push_op(
                        &mut values,
                        LOpKind::SoftmaxExp { n },
                        vec![x, m],
                        format!("{}:e", node.name),
                        shape.clone(),
                    );
                    let s = reduce(&mut values, &mut push_op, 1, e)?;
                    let y_name = match p.axis_move {
                        Some(_) => format!("{}:y_t", node.name),
                        None => out_info.name.clone(),
                    };
                    let y = push_op(
                        &mut values,
                        LOpKind::SoftmaxFinish { n },
                        vec![e, s],
                        y_name,
                        shape,
                    );
                    Lowering::Op(match &p.axis_move {
                        Some(mv) => push_op(
                            &mut values,
                            LOpKind::Gather(mv.back),
                            vec![y],
                            out_info.name.clone(),
                            out_info.shape.clone(),
                        ),
                        None => y,
                    })
                }
                Op::Unary(UnaryKind::Sqrt) | Op::Pow(_) => {
                    let kind = match &node.op {
                        Op::Pow(p) => LOpKind::Pow {
                            exponent: pow_exponent(program, node, p).map_err(unsupported)?,
                        },
                        _ => LOpKind::Sqrt,
                    };
                    let x = operand(&mut values, node.inputs[0])?;
                    Lowering::Op(push_op(
                        &mut values,
                        kind,
                        vec![x],
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    ))
                }
                Op::Reduce(r) if r.kind != ReduceKind::L2 => {
                    // The reduced axes moved last (a gather) when they are not, group_block
                    // per block, then rescale_chunk S = 0 (sum, max) or avg_chunk (mean).
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let p = ReducePlan::new(r, x_shape).map_err(unsupported)?;
                    let mut x = operand(&mut values, node.inputs[0])?;
                    for (k, (view, shape)) in p.to_last.iter().enumerate() {
                        let name = if k + 1 == p.to_last.len() {
                            format!("{}:x_t", node.name)
                        } else {
                            format!("{}:x_t{k}", node.name)
                        };
                        x = push_op(
                            &mut values,
                            LOpKind::Gather(*view),
                            vec![x],
                            name,
                            shape.clone(),
                        );
                    }
                    // ReduceMin: the maxima of the complements −1 − x (binary_chunk Sub from a
                    // constant −1), complemented back after the narrowing rescale.
                    let minus_one = |values: &mut Vec<LValue>, name: &str, shape: &[usize]| {
                        let t = Tensor::new(shape.to_vec(), vec![-1; shape.iter().product()]);
                        constant(
                            values,
                            format!("{}:{name}", node.name),
                            t.shape.clone(),
                            Data::Narrow(t),
                        )
                    };
                    if p.complement {
                        let shape = p.to_last.last().map_or(x_shape.clone(), |(_, s)| s.clone());
                        let c = minus_one(&mut values, "minus_one_x", &shape)?;
                        x = push_op(
                            &mut values,
                            LOpKind::Binary(BinaryKind::Sub),
                            vec![c, x],
                            format!("{}:x_c", node.name),
                            shape,
                        );
                    }
                    let d = Arc::new(p.dispute());
                    let g = p.groups;
                    let mut acc = constant(
                        &mut values,
                        format!("{}:acc0", node.name),
                        vec![g],
                        Data::Wide(vec![i128_fr(d.kind.neutral()); g]),
                    )?;
                    for block in 0..d.blocks() {
                        acc = push_op(
                            &mut values,
                            LOpKind::GroupBlock {
                                block,
                                dispute: d.clone(),
                            },
                            vec![acc, x],
                            format!("{}:acc{}", node.name, block + 1),
                            vec![g],
                        );
                    }
                    let (kind, mut inputs) = if p.mean {
                        let counts = Tensor::new(out_info.shape.clone(), vec![p.n as i32; g]);
                        let c = constant(
                            &mut values,
                            format!("{}:counts", node.name),
                            counts.shape.clone(),
                            Data::Narrow(counts),
                        )?;
                        (LOpKind::Average, vec![c])
                    } else {
                        (LOpKind::Rescale { shift: 0, len: g }, Vec::new())
                    };
                    inputs.insert(0, acc);
                    let y_name = if p.complement {
                        format!("{}:m_c", node.name)
                    } else {
                        out_info.name.clone()
                    };
                    let y = push_op(&mut values, kind, inputs, y_name, out_info.shape.clone());
                    Lowering::Op(if p.complement {
                        let c = minus_one(&mut values, "minus_one_y", &out_info.shape)?;
                        push_op(
                            &mut values,
                            LOpKind::Binary(BinaryKind::Sub),
                            vec![c, y],
                            out_info.name.clone(),
                            out_info.shape.clone(),
                        )
                    } else {
                        y
                    })
                }
                Op::LayerNorm(ln) => {
                    // S1, S2 (group_block sum and sum of squares), T (layernorm_stats), y
                    // (layernorm_finish over X, T and the scale and bias committed broadcast).
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let p = LayerNormPlan::new(ln, x_shape).map_err(unsupported)?;
                    let mut affine = Vec::with_capacity(2);
                    for k in 1..3 {
                        let data = match node.inputs.get(k).map(|v| &program.values[*v].kind) {
                            Some(ValueKind::Const(t)) => {
                                zkopml_engine::ops::broadcast_index(&t.shape, x_shape)
                                    .into_iter()
                                    .map(|i| t.data[i])
                                    .collect()
                            }
                            None => vec![0; x_shape.iter().product()],
                            Some(_) => {
                                return Err(unsupported(
                                    "LayerNormalization with a computed scale or bias",
                                ))
                            }
                        };
                        let t = Tensor::new(x_shape.clone(), data);
                        affine.push(constant(
                            &mut values,
                            format!("{}:{}", node.name, ["gamma", "beta"][k - 1]),
                            t.shape.clone(),
                            Data::Narrow(t),
                        )?);
                    }
                    let x = operand(&mut values, node.inputs[0])?;
                    let g = p.groups;
                    let mut sums = Vec::with_capacity(2);
                    for (d, name) in p.sums().into_iter().zip(["s1_", "s2_"]) {
                        let d = Arc::new(d);
                        let mut acc = constant(
                            &mut values,
                            format!("{}:{name}0", node.name),
                            vec![g],
                            Data::Wide(vec![Fr::from(0u64); g]),
                        )?;
                        for block in 0..d.blocks() {
                            acc = push_op(
                                &mut values,
                                LOpKind::GroupBlock {
                                    block,
                                    dispute: d.clone(),
                                },
                                vec![acc, x],
                                format!("{}:{name}{}", node.name, block + 1),
                                vec![g],
                            );
                        }
                        sums.push(acc);
                    }
                    let t = push_op(
                        &mut values,
                        LOpKind::LayerNormStats {
                            n: p.n,
                            eps_q48: p.eps_q48,
                        },
                        sums,
                        format!("{}:stats", node.name),
                        vec![g],
                    );
                    Lowering::Op(push_op(
                        &mut values,
                        LOpKind::LayerNormFinish { n: p.n },
                        vec![x, t, affine[0], affine[1]],
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    ))
                }
                // ReduceL2: the reduced axes moved to the end if they are not, group_block's
                // sums of squares, then sqrt_wide.
                Op::Reduce(r) if r.kind == ReduceKind::L2 => {
                    let x_shape = &program.values[node.inputs[0]].shape;
                    let p = L2Plan::new(r, x_shape).map_err(unsupported)?;
                    let mut x = operand(&mut values, node.inputs[0])?;
                    if let Some((view, shape)) = p.axis_move {
                        x = push_op(
                            &mut values,
                            LOpKind::Gather(view),
                            vec![x],
                            format!("{}:x_t", node.name),
                            shape,
                        );
                    }
                    let d = Arc::new(p.groups);
                    Lowering::Reduction(Reduction {
                        acc0: vec![Fr::from(0u64); d.groups],
                        blocks: (0..d.blocks())
                            .map(|block| LOpKind::GroupBlock {
                                block,
                                dispute: d.clone(),
                            })
                            .collect(),
                        operands: vec![x],
                        finish: (LOpKind::SqrtWide, Vec::new()),
                    })
                }
                _ => return Err(unsupported("no template for this operator yet")),
            };
            let output = match lowering {
                Lowering::Op(v) => v,
                Lowering::Reduction(r) => {
                    let width = r.acc0.len();
                    let mut acc = constant(
                        &mut values,
                        format!("{}:acc0", node.name),
                        vec![width],
                        Data::Wide(r.acc0),
                    )?;
                    for (b, kind) in r.blocks.into_iter().enumerate() {
                        let inputs = [vec![acc], r.operands.clone()].concat();
                        let name = format!("{}:acc{}", node.name, b + 1);
                        acc = push_op(&mut values, kind, inputs, name, vec![width]);
                    }
                    let (kind, operands) = r.finish;
                    push_op(
                        &mut values,
                        kind,
                        [vec![acc], operands].concat(),
                        out_info.name.clone(),
                        out_info.shape.clone(),
                    )
                }
            };
            of_engine[node.output] = Some(output);
        }
        let mut outputs = Vec::with_capacity(program.outputs.len());
        for o in &program.outputs {
            // A graph output that is a constant or an input is still a value of the program.
            let l = match of_engine[*o] {
                Some(l) => l,
                None => return Err(V4Error::Uncommittable(program.values[*o].name.clone())),
            };
            outputs.push(l);
        }
        for v in &values {
            if tensor_header(&v.shape).is_none() {
                return Err(V4Error::Uncommittable(v.name.clone()));
            }
        }
        let ops_per_step = ops_per_step.max(1);
        let mut lowered = Self {
            inputs: program
                .inputs
                .iter()
                .filter_map(|i| of_engine[*i])
                .collect(),
            values,
            ops,
            ops_per_step,
            outputs,
            of_engine,
            layouts: Vec::new(),
        };
        lowered.layouts = lowered.live_sets();
        Ok(lowered)
    }

    /// Number of steps `n`.
    pub fn num_steps(&self) -> usize {
        self.ops.len().div_ceil(self.ops_per_step).max(1)
    }

    /// Operator indices of step `i`.
    pub fn step_ops(&self, i: usize) -> std::ops::Range<usize> {
        let start = (i * self.ops_per_step).min(self.ops.len());
        start..((i + 1) * self.ops_per_step).min(self.ops.len())
    }

    /// `W`: slots of every state (the most values live at any boundary).
    pub fn state_slots(&self) -> usize {
        self.layouts.iter().map(Vec::len).max().unwrap_or(0).max(1)
    }

    /// Values live at boundary `b`, in slot order.
    pub fn layout(&self, b: usize) -> &[LValueId] {
        &self.layouts[b]
    }

    /// The values live at every boundary `b = 0..=n`, in slot (value id) order: a value is
    /// live at `b` (after the first `t = min(b·N, ops)` operators) when it exists by then (an
    /// input, or the output of an operator before `t`; constants never) and an operator at
    /// or after `t` reads it, or it is a graph output. One sweep over the operators.
    fn live_sets(&self) -> Vec<Vec<LValueId>> {
        const FOREVER: usize = usize::MAX;
        // The last operator reading each value (FOREVER for a graph output).
        let mut last_use: Vec<Option<usize>> = vec![None; self.values.len()];
        for (o, op) in self.ops.iter().enumerate() {
            for v in &op.inputs {
                last_use[*v] = Some(o);
            }
        }
        for v in &self.outputs {
            last_use[*v] = Some(FOREVER);
        }
        let mut dies: Vec<Vec<LValueId>> = vec![Vec::new(); self.ops.len()];
        for (v, last) in last_use.iter().enumerate() {
            if let Some(o) = last.filter(|o| *o != FOREVER) {
                dies[o].push(v);
            }
        }
        let mut live: std::collections::BTreeSet<LValueId> = (0..self.values.len())
            .filter(|v| {
                matches!(self.values[*v].origin, Origin::Input(_)) && last_use[*v].is_some()
            })
            .collect();
        let mut sets = Vec::with_capacity(self.num_steps() + 1);
        sets.push(live.iter().copied().collect());
        let mut t = 0;
        for b in 1..=self.num_steps() {
            let next = (b * self.ops_per_step).min(self.ops.len());
            // Outputs made before `next` that someone reads at or after it, minus the
            // values whose last reader ran before it.
            for op in &self.ops[t..next] {
                if last_use[op.output].is_some_and(|o| o >= next) {
                    live.insert(op.output);
                }
            }
            for v in dies[t..next].iter().flatten() {
                live.remove(v);
            }
            t = next;
            sets.push(live.iter().copied().collect());
        }
        sets
    }

    /// Where operator `o` reads input value `v` from.
    pub fn input_source(&self, o: usize, v: LValueId) -> Source {
        let step = o / self.ops_per_step;
        match &self.values[v].origin {
            Origin::Const { commitment, .. } => Source::Const(*commitment),
            Origin::Op(p) if *p / self.ops_per_step == step && *p < o => {
                Source::Output(*p % self.ops_per_step)
            }
            _ => self.layouts[step]
                .iter()
                .position(|x| *x == v)
                .map_or(Source::Empty, Source::State),
        }
    }

    /// Where slot `slot` of `S_{step+1}` comes from.
    pub fn layout_source(&self, step: usize, slot: usize) -> Source {
        let Some(v) = self.layouts[step + 1].get(slot) else {
            return Source::Empty;
        };
        match self.values[*v].origin {
            Origin::Op(p) if p / self.ops_per_step == step => Source::Output(p % self.ops_per_step),
            _ => self.layouts[step]
                .iter()
                .position(|x| x == v)
                .map_or(Source::Empty, Source::State),
        }
    }

    /// `leaf_o` (`o = step·N + position`; past the last operator: the empty leaf, template 0).
    pub fn operator_leaf(&self, o: usize) -> OperatorLeaf {
        let Some(op) = self.ops.get(o) else {
            return OperatorLeaf::default();
        };
        let out = &self.values[op.output];
        OperatorLeaf {
            template_id: U256::from(template_id(op.template()).unwrap_or(0)),
            params: op.params().iter().map(fr_u256).collect(),
            input_sources: op
                .inputs
                .iter()
                .map(|v| self.input_source(o, *v).encode())
                .collect(),
            output_header: fr_u256(&tensor_header(&out.shape).unwrap_or_default()),
            output_chunks: chunk_count(out.shape.iter().product()).max(1) as u64,
        }
    }

    /// The model tree over the `n·N` operator leaves.
    pub fn model_tree(&self) -> KeccakTree {
        let count = self.num_steps() * self.ops_per_step;
        KeccakTree::from_leaf_nodes((0..count).map(|o| self.operator_leaf(o).hash(o)).collect())
    }

    /// The layout tree over the `n·W` layout leaves.
    pub fn layout_tree(&self) -> KeccakTree {
        let w = self.state_slots();
        KeccakTree::from_leaf_nodes(
            (0..self.num_steps())
                .flat_map(|i| (0..w).map(move |s| (i, s)))
                .map(|(i, s)| layout_leaf(i, s, self.layout_source(i, s).encode()))
                .collect(),
        )
    }
}
