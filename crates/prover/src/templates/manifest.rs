//! The manifest: which template proves each operator's output chunks, and how many leaves an
//! operator of a given program has. Computed from the program alone, without keys.

use std::sync::OnceLock;

use zkopml_commit::chunk_count;
use zkopml_engine::{
    ops::{Activation, BinaryKind, Op, ReduceKind, UnaryKind},
    Node, Program,
};

use super::GateTemplate;
use super::{argmax_groups, ArgMaxMarkTemplate, GroupDispute, GroupKind};
use super::{gather::index_gather, GatherIndexTemplate};
use super::{gather::movement_view, GatherTemplate, GatherView};
use super::{
    template_stats, AvgDispute, AvgSums, AvgTemplate, BinaryChunk, BinaryTemplate, ClipTemplate,
    ConvBlockTemplate, ErfTemplate, GapBlockTemplate, GemmBlockTemplate, LogicTemplate,
    MatMulBlockTemplate, MatMulDispute, PoolBlockTemplate, RescaleTemplate, Template, UnaryFn,
    UnaryTemplate, KB,
};
use super::{DivTemplate, L2Plan, PowTemplate, SqrtTemplate, SqrtWideTemplate};
use super::{GroupBlockTemplate, SoftmaxExpTemplate, SoftmaxFinishTemplate, SoftmaxPlan};
use super::{LayerNormFinishTemplate, LayerNormPlan, LayerNormStatsTemplate, ReducePlan};
use zkopml_engine::program::ValueKind;

/// How an operator's output is proved under version 4.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeafPlan {
    /// The template's name (for an operator proved by several, the largest one).
    pub template: &'static str,
    /// Leaves: one per output chunk (for a `Gemm`, one per output chunk and block of rows of
    /// `B'`, for a `Conv` one per output chunk and tap of the window, plus one rescale leaf
    /// per output chunk).
    pub leaves: usize,
    /// Constraints of one leaf (the template's, the same for every model).
    pub constraints: usize,
}

/// The operator `node` of `program` under the template library: its plan, or why no
/// template proves it yet.
pub fn plan(program: &Program, node: &Node) -> Result<LeafPlan, &'static str> {
    let out_len: usize = program.values[node.output].shape.iter().product();
    let template = match &node.op {
        // Relu, Clip; a reshape is the identity clip (same values, the header alone changes).
        Op::Relu | Op::Clip(_) | Op::Reshape(_) => ClipTemplate::NAME,
        Op::Binary(k) if BinaryChunk::code(*k).is_some() => {
            return elementwise(program, node, BinaryTemplate::NAME)
        }
        Op::Compare(_) | Op::Logic(_) | Op::Where | Op::Cast(_) => {
            return elementwise(program, node, LogicTemplate::NAME)
        }
        // Div (and Reciprocal, Div(1, x)): div_chunk over equal-length operands.
        Op::Binary(BinaryKind::Div) => return elementwise(program, node, DivTemplate::NAME),
        Op::Binary(_) => return Err("no template for this arithmetic kind yet"),
        Op::Unary(UnaryKind::Sqrt) => SqrtTemplate::NAME,
        Op::Pow(p) => {
            pow_exponent(program, node, p)?;
            PowTemplate::NAME
        }
        // ReduceL2: group_block sums of squares (after a move of the reduced axes to the
        // end), then sqrt_wide.
        Op::Reduce(r) if r.kind == ReduceKind::L2 => {
            let x = &program.values[node.inputs[0]].shape;
            let p = L2Plan::new(r, x)?;
            let g = chunk_count(p.groups.groups).max(1);
            let mut parts = vec![GroupBlockTemplate::NAME, SqrtWideTemplate::NAME];
            let moves = match p.axis_move {
                Some(_) => {
                    parts.push(GatherTemplate::NAME);
                    chunk_count(x.iter().product()).max(1)
                }
                None => 0,
            };
            let template = parts
                .into_iter()
                .max_by_key(|t| constraints(t))
                .unwrap_or(SqrtWideTemplate::NAME);
            return Ok(LeafPlan {
                template,
                leaves: moves + g * p.groups.blocks() + g,
                constraints: constraints(template),
            });
        }
        Op::Gemm(g) => {
            let a = &program.values[node.inputs[0]].shape;
            let b = &program.values[node.inputs[1]];
            let constant_b = matches!(b.kind, ValueKind::Const(_));
            if a.len() != 2 || a[0] != 1 || g.trans_a || !constant_b {
                // Several rows of A, or a computed B: matmul_block ([`matmul_plan`]).
                let (_, k, n) = g.dims(a, &b.shape);
                if g.trans_b && !constant_b {
                    return Err("Gemm with a computed, transposed B has no template yet");
                }
                let d = MatMulDispute::gemm(g, a, &[k, n], None).map_err(|_| {
                    "Gemm with a transposed A or shapes outside matmul_block's bounds"
                })?;
                return matmul_plan(d);
            }
            // Per output chunk: one block leaf per KB rows of B', then one rescale leaf.
            let (_, k, _) = g.dims(a, &b.shape);
            let block = constraints(GemmBlockTemplate::NAME);
            let rescale = constraints(RescaleTemplate::NAME);
            return Ok(LeafPlan {
                template: if block >= rescale {
                    GemmBlockTemplate::NAME
                } else {
                    RescaleTemplate::NAME
                },
                leaves: chunk_count(out_len).max(1) * (k.div_ceil(KB) + 1),
                constraints: block.max(rescale),
            });
        }
        Op::Conv(c) | Op::Conv1d(c) => {
            // A Conv1d is the 2-D kernel with height 1 (`[N, C, W]` as `[N, C, 1, W]`).
            let x = &super::conv::lift_1d(&program.values[node.inputs[0]].shape);
            let w = &program.values[node.inputs[1]];
            let y = &super::conv::lift_1d(&program.values[node.output].shape);
            if x.len() != 4 || x[0] != 1 || !matches!(w.kind, ValueKind::Const(_)) {
                return Err("Conv of a batch above 1 or with computed weights has no template yet");
            }
            let params = [
                x[2],
                x[3],
                y[2],
                y[3],
                w.shape[1],
                w.shape[0] / c.group.max(1),
            ];
            let attrs = c.kernel.iter().chain(&c.strides).chain(&c.dilations);
            if params
                .iter()
                .chain(attrs)
                .chain(&c.pads[..2])
                .any(|v| *v >= 1 << 12)
            {
                return Err("Conv shape parameters above 2^12 have no template");
            }
            // Per output chunk: one conv_block leaf per tap, then one rescale leaf.
            let taps = w.shape[1] * c.kernel[0] * c.kernel[1];
            let block = constraints(ConvBlockTemplate::NAME);
            return Ok(LeafPlan {
                template: ConvBlockTemplate::NAME,
                leaves: chunk_count(out_len).max(1) * (taps + 1),
                constraints: block.max(constraints(RescaleTemplate::NAME)),
            });
        }
        Op::MaxPool(p) => {
            let x = &program.values[node.inputs[0]].shape;
            if x.len() != 4 || x[0] != 1 || p.ceil_mode {
                return Err("MaxPool of a batch above 1 or in ceil mode has no template yet");
            }
            // Per output chunk: one pool_block leaf per tap, then one rescale (S = 0) leaf.
            let block = constraints(PoolBlockTemplate::NAME);
            return Ok(LeafPlan {
                template: PoolBlockTemplate::NAME,
                leaves: chunk_count(out_len).max(1) * (p.kernel[0] * p.kernel[1] + 1),
                constraints: block.max(constraints(RescaleTemplate::NAME)),
            });
        }
        Op::GlobalAveragePool | Op::AveragePool(_) => {
            let x = &program.values[node.inputs[0]].shape;
            let y = &program.values[node.output].shape;
            let d = match &node.op {
                Op::AveragePool(p) => AvgDispute::window(p, x, y),
                _ => AvgDispute::global(x, y),
            }
            .map_err(|_| "average pool outside the conv_block / gap_block templates' bounds")?;
            // Per output chunk: one block leaf per tap (conv_block, weight 1) or per chunk
            // of a plane (gap_block), then one avg_chunk leaf.
            let (block, blocks) = match &d.sums {
                AvgSums::Global(g) => (GapBlockTemplate::NAME, g.blocks()),
                AvgSums::Window(c) => (ConvBlockTemplate::NAME, c.blocks()),
            };
            let (b, a) = (constraints(block), constraints(AvgTemplate::NAME));
            return Ok(LeafPlan {
                template: if b >= a { block } else { AvgTemplate::NAME },
                leaves: chunk_count(out_len).max(1) * (blocks + 1),
                constraints: b.max(a),
            });
        }
        Op::Softmax(sm) => {
            // Group maxima (group_block per block, rescale), e (softmax_exp), group sums
            // (group_block per block), y (softmax_finish); an axis not last moves by gathers.
            let x = &program.values[node.inputs[0]].shape;
            let p = SoftmaxPlan::new(sm, x)?;
            let (g, xc) = (chunk_count(p.groups).max(1), chunk_count(out_len).max(1));
            let blocks = p.n.min(xc);
            let moves = if p.axis_move.is_some() { 2 * xc } else { 0 };
            let mut parts = vec![
                GroupBlockTemplate::NAME,
                RescaleTemplate::NAME,
                SoftmaxExpTemplate::NAME,
                SoftmaxFinishTemplate::NAME,
            ];
            if moves > 0 {
                parts.push(GatherTemplate::NAME);
            }
            let template = parts
                .into_iter()
                .max_by_key(|t| constraints(t))
                .unwrap_or(SoftmaxExpTemplate::NAME);
            return Ok(LeafPlan {
                template,
                leaves: 2 * g * blocks + g + 2 * xc + moves,
                constraints: constraints(template),
            });
        }
        Op::Reduce(r) => {
            // group_block per block (after a gather moving the reduced axes last), then
            // rescale_chunk (sum, max) or avg_chunk (mean).
            let x = &program.values[node.inputs[0]].shape;
            let p = ReducePlan::new(r, x)?;
            let xc = chunk_count(x.iter().product()).max(1);
            let g = chunk_count(p.groups).max(1);
            let mut parts = vec![
                GroupBlockTemplate::NAME,
                if p.mean {
                    AvgTemplate::NAME
                } else {
                    RescaleTemplate::NAME
                },
            ];
            if !p.to_last.is_empty() {
                parts.push(GatherTemplate::NAME);
            }
            // ReduceMin: binary_chunk complements of X' and of the maxima.
            let complements = if p.complement {
                parts.push(BinaryTemplate::NAME);
                xc + g
            } else {
                0
            };
            let template = parts
                .into_iter()
                .max_by_key(|t| constraints(t))
                .unwrap_or(GroupBlockTemplate::NAME);
            return Ok(LeafPlan {
                template,
                leaves: g * p.dispute().blocks() + g + xc * p.to_last.len() + complements,
                constraints: constraints(template),
            });
        }
        Op::LayerNorm(ln) => {
            // S1, S2 (group_block sum, sum of squares), T (layernorm_stats), y
            // (layernorm_finish); the scale and bias must be model constants.
            let x = &program.values[node.inputs[0]].shape;
            let p = LayerNormPlan::new(ln, x)?;
            if node.inputs[1..]
                .iter()
                .any(|v| !matches!(program.values[*v].kind, ValueKind::Const(_)))
            {
                return Err("LayerNormalization with a computed scale or bias");
            }
            let (g, xc) = (chunk_count(p.groups).max(1), chunk_count(out_len).max(1));
            let blocks = p.sums()[0].blocks();
            let template = [
                GroupBlockTemplate::NAME,
                LayerNormStatsTemplate::NAME,
                LayerNormFinishTemplate::NAME,
            ]
            .into_iter()
            .max_by_key(|t| constraints(t))
            .unwrap_or(LayerNormFinishTemplate::NAME);
            return Ok(LeafPlan {
                template,
                leaves: 2 * g * blocks + g + xc,
                constraints: constraints(template),
            });
        }
        // Concat: per operand one or two gather_chunk spreads, then a logic_chunk Where per
        // operand after the first (one operand: the identity clip).
        Op::Concat(c) => {
            let xs: Vec<&[usize]> = node
                .inputs
                .iter()
                .map(|v| program.values[*v].shape.as_slice())
                .collect();
            let y = &program.values[node.output].shape;
            let parts = super::concat_parts(&xs, c.axis, y).map_err(|e| e.concat_refusal())?;
            let oc = chunk_count(out_len).max(1);
            if parts.len() == 1 {
                return Ok(LeafPlan {
                    template: ClipTemplate::NAME,
                    leaves: oc,
                    constraints: constraints(ClipTemplate::NAME),
                });
            }
            // Passes into intermediate (tile) shapes have their own chunk counts.
            let gathers: usize = parts
                .iter()
                .flat_map(|p| &p.passes)
                .map(|(_, s)| chunk_count(s.iter().product()).max(1))
                .sum();
            let (g, l) = (
                constraints(GatherTemplate::NAME),
                constraints(LogicTemplate::NAME),
            );
            return Ok(LeafPlan {
                template: if g >= l {
                    GatherTemplate::NAME
                } else {
                    LogicTemplate::NAME
                },
                leaves: gathers + oc * (parts.len() - 1),
                constraints: g.max(l),
            });
        }
        // CumSum: a product with a constant 0/1 matrix (S = 0).
        Op::CumSum(c) => {
            let x = &program.values[node.inputs[0]].shape;
            let (d, _, _) =
                MatMulDispute::cumsum(c, x).map_err(|_| "CumSum outside matmul_block's bounds")?;
            return matmul_plan(d);
        }
        Op::MatMul(mm) => {
            let (a, b) = (
                &program.values[node.inputs[0]].shape,
                &program.values[node.inputs[1]].shape,
            );
            let d = MatMulDispute::matmul(mm, a, b).map_err(|e| match e {
                super::MatMulError::Broadcast { .. } => {
                    "MatMul whose batch dims broadcast partially has no template yet"
                }
                _ => "MatMul outside matmul_block's bounds",
            })?;
            return matmul_plan(d);
        }
        // Tanh, Sigmoid: one unary_chunk leaf per chunk; Erf, Gelu: unary_chunk (U) then
        // erf_chunk.
        op if UnaryFn::of(op).is_some_and(UnaryFn::two_stage) => {
            let (u, e) = (
                constraints(UnaryTemplate::NAME),
                constraints(ErfTemplate::NAME),
            );
            return Ok(LeafPlan {
                template: if u >= e {
                    UnaryTemplate::NAME
                } else {
                    ErfTemplate::NAME
                },
                leaves: chunk_count(out_len).max(1) * 2,
                constraints: u.max(e),
            });
        }
        op if UnaryFn::of(op).is_some() => UnaryTemplate::NAME,
        // HardSigmoid, HardSwish: gate_chunk; Gelu (tanh): gate_chunk (its argument), then
        // unary_chunk (tanh), then gate_chunk (its finish).
        Op::Activation(Activation::HardSigmoid { .. } | Activation::HardSwish) => {
            GateTemplate::NAME
        }
        Op::Activation(Activation::GeluTanh) => {
            let (g, u) = (
                constraints(GateTemplate::NAME),
                constraints(UnaryTemplate::NAME),
            );
            return Ok(LeafPlan {
                template: if g >= u {
                    GateTemplate::NAME
                } else {
                    UnaryTemplate::NAME
                },
                leaves: chunk_count(out_len).max(1) * 3,
                constraints: g.max(u),
            });
        }
        // GatherND by constant tuples that read X in place: one strided view.
        Op::GatherNd(_) => match &program.values[node.inputs[1]].kind {
            ValueKind::Const(idx) => {
                let x = &program.values[node.inputs[0]].shape;
                match super::gather_nd_view(x, idx) {
                    Some(Ok(_)) => GatherTemplate::NAME,
                    Some(Err(_)) => {
                        return Err("a GatherND view whose output chunk reads more chunks of X \
                                    than gather_chunk's table holds")
                    }
                    None => return Err("GatherND by constant tuples that are no strided view"),
                }
            }
            _ => return Err("GatherND by computed tuples has no template yet"),
        },
        // A transpose: one gather_chunk leaf per output chunk and pass (a scattered layout
        // goes through intermediate layouts).
        Op::Transpose(t) => {
            let x = &program.values[node.inputs[0]].shape;
            let passes = super::transpose_passes(x, &t.perm).map_err(|e| match e {
                super::GatherError::TooManyChunks { .. } => {
                    "an output chunk reads more chunks of X than gather_chunk's table holds, \
                     in any split into three passes"
                }
                _ => "an index map outside gather_chunk's strided views",
            })?;
            return Ok(LeafPlan {
                template: GatherTemplate::NAME,
                leaves: chunk_count(out_len).max(1) * passes.len(),
                constraints: constraints(GatherTemplate::NAME),
            });
        }
        Op::ArgMax(a) => {
            // m (group maxima: group_block, rescale S = 0), E (argmax_mark), M (group maxima
            // of E, the same), and for ties to the first index y = 0 − M (binary_chunk Sub).
            let x = &program.values[node.inputs[0]].shape;
            let (n, groups) = argmax_groups(a, x)?;
            let d = GroupDispute {
                groups,
                n,
                kind: GroupKind::Max,
            };
            let (g, xc) = (chunk_count(groups).max(1), chunk_count(n * groups).max(1));
            let mut parts = vec![
                GroupBlockTemplate::NAME,
                RescaleTemplate::NAME,
                ArgMaxMarkTemplate::NAME,
            ];
            if !a.select_last {
                parts.push(BinaryTemplate::NAME);
            }
            let template = parts
                .into_iter()
                .max_by_key(|t| constraints(t))
                .unwrap_or(ArgMaxMarkTemplate::NAME);
            return Ok(LeafPlan {
                template,
                leaves: 2 * g * d.blocks() + 2 * g + xc + if a.select_last { 0 } else { g },
                constraints: constraints(template),
            });
        }
        Op::Gather(_) | Op::GatherElements(_) => {
            // Computed indices (constant ones are a Select): one gather_index leaf per chunk,
            // plus one gather_chunk leaf per chunk moving the indices to the output positions.
            let p = index_gather(program, node).ok_or("a gather without two operands")??;
            let i_len: usize = program.values[node.inputs[1]].shape.iter().product();
            let moves = !p.idx_is_identity(i_len);
            let (t, g) = (
                constraints(GatherIndexTemplate::NAME),
                constraints(GatherTemplate::NAME),
            );
            return Ok(LeafPlan {
                template: if moves && g > t {
                    GatherTemplate::NAME
                } else {
                    GatherIndexTemplate::NAME
                },
                leaves: chunk_count(out_len).max(1) * (1 + moves as usize),
                constraints: if moves { t.max(g) } else { t },
            });
        }
        // Transpose, Slice/Split/Tile/nearest Resize, Expand: one strided view.
        _ => match movement_view(program, node) {
            Some(Ok(_)) => GatherTemplate::NAME,
            Some(Err(super::GatherError::TooManyChunks { .. })) => {
                return Err(
                    "an output chunk reads more chunks of X than gather_chunk's table holds",
                )
            }
            Some(Err(_)) => return Err("an index map outside gather_chunk's strided views"),
            None => return Err("no template for this operator yet"),
        },
    };
    Ok(LeafPlan {
        template,
        leaves: chunk_count(out_len).max(1),
        constraints: constraints(template),
    })
}

/// The plan of an elementwise operator proved by `template` over equal-length operands: one
/// leaf per output chunk, plus one gather leaf per chunk for each computed operand that is
/// broadcast (a constant one is committed broadcast).
fn elementwise(
    program: &Program,
    node: &Node,
    template: &'static str,
) -> Result<LeafPlan, &'static str> {
    let y = &program.values[node.output].shape;
    let out_len: usize = y.iter().product();
    let mut gathers = 0;
    for v in &node.inputs {
        let info = &program.values[*v];
        if info.shape.iter().product::<usize>() == out_len {
            continue;
        }
        let view = GatherView::expand(&info.shape, y)
            .map_err(|_| "a broadcast operand outside gather_chunk's bounds")?;
        if !matches!(info.kind, ValueKind::Const(_)) {
            view.fits().map_err(|_| {
                "a broadcast operand whose output chunk reads more chunks than gather_chunk's \
                 table holds"
            })?;
            gathers += 1;
        }
    }
    let (b, g) = (constraints(template), constraints(GatherTemplate::NAME));
    Ok(LeafPlan {
        template: if gathers > 0 && g > b {
            GatherTemplate::NAME
        } else {
            template
        },
        leaves: chunk_count(out_len).max(1) * (1 + gathers),
        constraints: if gathers > 0 { b.max(g) } else { b },
    })
}

/// The one exponent of a `Pow` that `pow_chunk` proves: every exponent equal and the output
/// as long as `X` (the exponents do not broadcast `X`).
pub fn pow_exponent(
    program: &Program,
    node: &Node,
    p: &zkopml_engine::ops::Pow,
) -> Result<u32, &'static str> {
    let x_len: usize = program.values[node.inputs[0]].shape.iter().product();
    let y_len: usize = program.values[node.output].shape.iter().product();
    match p.exponents.split_first() {
        Some((e, rest)) if rest.iter().all(|r| r == e) && x_len == y_len => Ok(*e),
        _ => Err("Pow with several exponents, or exponents that broadcast X, has no template"),
    }
}

/// A matrix product under `matmul_block`: per output chunk one leaf per inner index, then
/// one rescale leaf; refused when some leaf reads more chunks than the table holds.
fn matmul_plan(d: MatMulDispute) -> Result<LeafPlan, &'static str> {
    d.params.fits().map_err(|_| {
        "a matrix product whose output chunk reads more chunks of A and B than matmul_block's \
         table holds"
    })?;
    let (block, rescale) = (
        constraints(MatMulBlockTemplate::NAME),
        constraints(RescaleTemplate::NAME),
    );
    Ok(LeafPlan {
        template: MatMulBlockTemplate::NAME,
        leaves: chunk_count(d.params.len()).max(1) * (d.blocks() + 1),
        constraints: block.max(rescale),
    })
}

/// Constraints of a template by name (synthesised once per process, without keys).
pub fn constraints(template: &str) -> usize {
    static CLIP: OnceLock<usize> = OnceLock::new();
    static BINARY: OnceLock<usize> = OnceLock::new();
    static BLOCK: OnceLock<usize> = OnceLock::new();
    static RESCALE: OnceLock<usize> = OnceLock::new();
    static CONV: OnceLock<usize> = OnceLock::new();
    static POOL: OnceLock<usize> = OnceLock::new();
    static GAP: OnceLock<usize> = OnceLock::new();
    static AVG: OnceLock<usize> = OnceLock::new();
    static UNARY: OnceLock<usize> = OnceLock::new();
    static ERF: OnceLock<usize> = OnceLock::new();
    static GATHER: OnceLock<usize> = OnceLock::new();
    static LOGIC: OnceLock<usize> = OnceLock::new();
    static GROUP: OnceLock<usize> = OnceLock::new();
    static SM_EXP: OnceLock<usize> = OnceLock::new();
    static SM_FINISH: OnceLock<usize> = OnceLock::new();
    static MATMUL: OnceLock<usize> = OnceLock::new();
    static GATHER_INDEX: OnceLock<usize> = OnceLock::new();
    static ARGMAX_MARK: OnceLock<usize> = OnceLock::new();
    static DIV: OnceLock<usize> = OnceLock::new();
    static SQRT: OnceLock<usize> = OnceLock::new();
    static POW: OnceLock<usize> = OnceLock::new();
    static SQRT_WIDE: OnceLock<usize> = OnceLock::new();
    static LN_STATS: OnceLock<usize> = OnceLock::new();
    static LN_FINISH: OnceLock<usize> = OnceLock::new();
    static GATE: OnceLock<usize> = OnceLock::new();
    let count = |t: &OnceLock<usize>, f: fn() -> crate::Result<usize>| {
        *t.get_or_init(|| f().expect("a template synthesises without a witness"))
    };
    match template {
        ClipTemplate::NAME => count(&CLIP, template_stats::<ClipTemplate>),
        BinaryTemplate::NAME => count(&BINARY, template_stats::<BinaryTemplate>),
        GemmBlockTemplate::NAME => count(&BLOCK, template_stats::<GemmBlockTemplate>),
        RescaleTemplate::NAME => count(&RESCALE, template_stats::<RescaleTemplate>),
        ConvBlockTemplate::NAME => count(&CONV, template_stats::<ConvBlockTemplate>),
        PoolBlockTemplate::NAME => count(&POOL, template_stats::<PoolBlockTemplate>),
        GapBlockTemplate::NAME => count(&GAP, template_stats::<GapBlockTemplate>),
        AvgTemplate::NAME => count(&AVG, template_stats::<AvgTemplate>),
        UnaryTemplate::NAME => count(&UNARY, template_stats::<UnaryTemplate>),
        ErfTemplate::NAME => count(&ERF, template_stats::<ErfTemplate>),
        GatherTemplate::NAME => count(&GATHER, template_stats::<GatherTemplate>),
        LogicTemplate::NAME => count(&LOGIC, template_stats::<LogicTemplate>),
        GroupBlockTemplate::NAME => count(&GROUP, template_stats::<GroupBlockTemplate>),
        SoftmaxExpTemplate::NAME => count(&SM_EXP, template_stats::<SoftmaxExpTemplate>),
        SoftmaxFinishTemplate::NAME => count(&SM_FINISH, template_stats::<SoftmaxFinishTemplate>),
        MatMulBlockTemplate::NAME => count(&MATMUL, template_stats::<MatMulBlockTemplate>),
        GatherIndexTemplate::NAME => count(&GATHER_INDEX, template_stats::<GatherIndexTemplate>),
        ArgMaxMarkTemplate::NAME => count(&ARGMAX_MARK, template_stats::<ArgMaxMarkTemplate>),
        DivTemplate::NAME => count(&DIV, template_stats::<DivTemplate>),
        SqrtTemplate::NAME => count(&SQRT, template_stats::<SqrtTemplate>),
        PowTemplate::NAME => count(&POW, template_stats::<PowTemplate>),
        SqrtWideTemplate::NAME => count(&SQRT_WIDE, template_stats::<SqrtWideTemplate>),
        LayerNormStatsTemplate::NAME => count(&LN_STATS, template_stats::<LayerNormStatsTemplate>),
        LayerNormFinishTemplate::NAME => {
            count(&LN_FINISH, template_stats::<LayerNormFinishTemplate>)
        }
        GateTemplate::NAME => count(&GATE, template_stats::<GateTemplate>),
        _ => 0,
    }
}

/// The protocol's id of a template: its position in [`TEMPLATES`] plus one (0 is no
/// template). Ids are fixed once deployed: new templates are appended, never inserted.
pub fn template_id(name: &str) -> Option<u64> {
    TEMPLATES
        .iter()
        .position(|t| *t == name)
        .map(|i| i as u64 + 1)
}

/// The templates of the library, by name, in id order ([`template_id`]).
pub const TEMPLATES: [&str; 25] = [
    ClipTemplate::NAME,
    BinaryTemplate::NAME,
    GemmBlockTemplate::NAME,
    RescaleTemplate::NAME,
    ConvBlockTemplate::NAME,
    PoolBlockTemplate::NAME,
    GapBlockTemplate::NAME,
    AvgTemplate::NAME,
    UnaryTemplate::NAME,
    ErfTemplate::NAME,
    GatherTemplate::NAME,
    LogicTemplate::NAME,
    // Softmax and the group reductions (docs/protocol.md §10.11).
    GroupBlockTemplate::NAME,
    SoftmaxExpTemplate::NAME,
    SoftmaxFinishTemplate::NAME,
    MatMulBlockTemplate::NAME,
    // Gather / GatherElements with computed indices (docs/protocol.md §10.11).
    GatherIndexTemplate::NAME,
    // ArgMax's marks (docs/protocol.md §10.11).
    ArgMaxMarkTemplate::NAME,
    // Div, Sqrt, Pow and ReduceL2's square root (docs/protocol.md §10.11).
    DivTemplate::NAME,
    SqrtTemplate::NAME,
    PowTemplate::NAME,
    SqrtWideTemplate::NAME,
    // LayerNormalization (docs/protocol.md §10.11).
    LayerNormStatsTemplate::NAME,
    LayerNormFinishTemplate::NAME,
    // HardSigmoid, HardSwish, Gelu (tanh) (docs/protocol.md §10.11).
    GateTemplate::NAME,
];
