//! The leaf of a version-4 game: chunk `j` of template operator `o`, its witness from a
//! trace and its proof.

use std::{borrow::Cow, sync::OnceLock};

use ark_bn254::Fr;
use zkopml_commit::{chunk_count, wide_tree, CHUNK_VALUES};

use super::{
    lower::{Data, LOpKind, Lowered},
    V4Error, V4Trace,
};
use crate::templates::{
    template_prove, template_setup, AvgChunk, AvgTemplate, BinaryChunk, BinaryTemplate,
    ChunkOpening, ClipChunk, ClipTemplate, ConvBlockChunk, ConvBlockTemplate, ErfChunk,
    ErfTemplate, GapBlockChunk, GapBlockTemplate, GatherChunk, GatherTemplate, GemmBlockChunk,
    GemmBlockTemplate, LogicChunk, LogicTemplate, MatMulBlockChunk, MatMulBlockTemplate, Opening,
    PoolBlockChunk, PoolBlockTemplate, RescaleChunk, RescaleTemplate, Template, TemplateKeys,
    TemplateProof, UnaryChunk, UnaryTemplate, WideOpening, KB,
};
use crate::templates::{
    ArgMaxMarkChunk, ArgMaxMarkTemplate, DivChunk, DivTemplate, GatherIndexChunk,
    GatherIndexTemplate, PowChunk, PowTemplate, SqrtChunk, SqrtTemplate, SqrtWideChunk,
    SqrtWideTemplate,
};
use crate::templates::{GateChunk, GateTemplate};
use crate::templates::{
    GroupBlockChunk, GroupBlockTemplate, SoftmaxExpChunk, SoftmaxExpTemplate, SoftmaxFinishChunk,
    SoftmaxFinishTemplate,
};
use crate::templates::{
    LayerNormFinishChunk, LayerNormFinishTemplate, LayerNormStatsChunk, LayerNormStatsTemplate,
};

/// The witness of one leaf, for the template of its operator.
#[derive(Clone, Debug)]
pub enum LeafInstance {
    /// `clip_chunk`.
    Clip(ClipChunk),
    /// `binary_chunk`.
    Binary(BinaryChunk),
    /// `gemm_block`.
    GemmBlock(GemmBlockChunk),
    /// `conv_block`.
    ConvBlock(ConvBlockChunk),
    /// `pool_block`.
    PoolBlock(PoolBlockChunk),
    /// `gap_block`.
    GapBlock(GapBlockChunk),
    /// `avg_chunk`.
    Avg(AvgChunk),
    /// `rescale_chunk`.
    Rescale(RescaleChunk),
    /// `unary_chunk`.
    Unary(UnaryChunk),
    /// `erf_chunk`.
    Erf(ErfChunk),
    /// `gather_chunk`.
    Gather(GatherChunk),
    /// `logic_chunk`.
    Logic(LogicChunk),
    /// `group_block`.
    GroupBlock(GroupBlockChunk),
    /// `softmax_exp`.
    SoftmaxExp(SoftmaxExpChunk),
    /// `softmax_finish`.
    SoftmaxFinish(SoftmaxFinishChunk),
    /// `matmul_block`.
    MatMulBlock(MatMulBlockChunk),
    /// `gather_index`.
    GatherIndex(GatherIndexChunk),
    /// `argmax_mark`.
    ArgMaxMark(ArgMaxMarkChunk),
    /// `div_chunk`.
    Div(DivChunk),
    /// `sqrt_chunk`.
    Sqrt(SqrtChunk),
    /// `pow_chunk`.
    Pow(PowChunk),
    /// `sqrt_wide`.
    SqrtWide(SqrtWideChunk),
    /// `layernorm_stats`.
    LayerNormStats(LayerNormStatsChunk),
    /// `layernorm_finish` (boxed: five openings).
    LayerNormFinish(Box<LayerNormFinishChunk>),
    /// `gate_chunk`.
    Gate(GateChunk),
}

impl LeafInstance {
    /// Builds the leaf (operator `o`, chunk `j`) from `trace`'s values of `o`'s inputs.
    /// The public inputs it yields are `[C(inputs)…, j, params…, d]`, `d` the digest of the
    /// chunk the inputs determine — which is the true one whenever the inputs are agreed.
    pub fn new(lowered: &Lowered, trace: &V4Trace, o: usize, j: usize) -> Result<Self, V4Error> {
        let op = lowered.ops.get(o).ok_or(V4Error::OperatorOutOfRange {
            index: o,
            count: lowered.ops.len(),
        })?;
        let out_len: usize = lowered.values[op.output].shape.iter().product();
        let chunks = chunk_count(out_len).max(1);
        let past = V4Error::ChunkOutOfRange { index: j, chunks };
        if j >= chunks {
            return Err(past);
        }
        let uncommittable = |v: usize| V4Error::Uncommittable(lowered.values[v].name.clone());
        let narrow = |v: usize, index: usize| -> Result<ChunkOpening, V4Error> {
            let Data::Narrow(t) = &*trace.data(v)? else {
                return Err(uncommittable(v));
            };
            Opening::new(&lowered.values[v].shape, &t.data, &*trace.tree(v)?, index)
                .ok_or_else(|| uncommittable(v))
        };
        let wide = |v: usize, index: usize| -> Result<WideOpening, V4Error> {
            let data = trace.data(v)?;
            let Data::Wide(w) = &*data else {
                return Err(uncommittable(v));
            };
            Opening::new(&lowered.values[v].shape, w, &wide_tree(w), index)
                .ok_or_else(|| uncommittable(v))
        };
        let narrow_tensor = |v: usize| match trace.data(v)? {
            Cow::Borrowed(Data::Narrow(t)) => Ok(Cow::Borrowed(t)),
            Cow::Owned(Data::Narrow(t)) => Ok(Cow::Owned(t)),
            _ => Err(uncommittable(v)),
        };
        let wide_ints = |v: usize| match &*trace.data(v)? {
            Data::Wide(w) => w
                .iter()
                .map(|f| crate::gadgets::fr_to_i128(*f))
                .collect::<Option<Vec<i128>>>()
                .ok_or_else(|| uncommittable(v)),
            Data::Narrow(_) => Err(uncommittable(v)),
        };
        Ok(match &op.kind {
            LOpKind::Clip(clip) => LeafInstance::Clip(ClipChunk {
                input: narrow(op.inputs[0], j)?,
                clip: clip.clone(),
            }),
            LOpKind::Binary(kind) => LeafInstance::Binary(BinaryChunk {
                a: narrow(op.inputs[0], j)?,
                b: narrow(op.inputs[1], j)?,
                kind: *kind,
            }),
            LOpKind::Logic(logic) => LeafInstance::Logic(LogicChunk {
                a: narrow(op.inputs[0], j)?,
                b: narrow(op.inputs[1], j)?,
                c: narrow(op.inputs[2], j)?,
                op: *logic,
                forge: None,
            }),
            LOpKind::GemmBlock { block, row_chunks } => {
                let (acc, a, w) = (op.inputs[0], op.inputs[1], op.inputs[2]);
                LeafInstance::GemmBlock(GemmBlockChunk {
                    acc_in: wide(acc, j)?,
                    a: narrow(a, block / (CHUNK_VALUES / KB))?,
                    rows: (0..KB)
                        .map(|t| narrow(w, (KB * block + t) * row_chunks + j))
                        .collect::<Result<_, _>>()?,
                    block: *block,
                    row_chunks: *row_chunks,
                })
            }
            LOpKind::ConvBlock { block, dispute } => {
                let (acc, x) = (wide_ints(op.inputs[0])?, narrow_tensor(op.inputs[1])?);
                LeafInstance::ConvBlock(
                    dispute.block_instance(&x, &acc, j, *block).map_err(|_| {
                        V4Error::Uncommittable(lowered.values[op.output].name.clone())
                    })?,
                )
            }
            LOpKind::PoolBlock { block, dispute } => {
                let (acc, x) = (wide_ints(op.inputs[0])?, narrow_tensor(op.inputs[1])?);
                LeafInstance::PoolBlock(
                    dispute.block_instance(&x, &acc, j, *block).map_err(|_| {
                        V4Error::Uncommittable(lowered.values[op.output].name.clone())
                    })?,
                )
            }
            LOpKind::GapBlock { block, dispute } => {
                let (acc, x) = (wide_ints(op.inputs[0])?, narrow_tensor(op.inputs[1])?);
                LeafInstance::GapBlock(
                    dispute.block_instance(&x, &acc, j, *block).map_err(|_| {
                        V4Error::Uncommittable(lowered.values[op.output].name.clone())
                    })?,
                )
            }
            LOpKind::Average => LeafInstance::Avg(AvgChunk {
                acc: wide(op.inputs[0], j)?,
                counts: narrow(op.inputs[1], j)?,
                forge: None,
            }),
            LOpKind::Rescale { shift, len } => LeafInstance::Rescale(RescaleChunk {
                acc: wide(op.inputs[0], j)?,
                shift: *shift,
                len: *len,
            }),
            LOpKind::Unary(kind) => LeafInstance::Unary(UnaryChunk {
                input: narrow(op.inputs[0], j)?,
                kind: *kind,
                forge: None,
            }),
            LOpKind::Gate(kind) => LeafInstance::Gate(GateChunk {
                x: narrow(op.inputs[0], j)?,
                t: narrow(op.inputs[1], j)?,
                kind: *kind,
                forge: None,
            }),
            LOpKind::ErfFinish(kind) => LeafInstance::Erf(ErfChunk {
                x: narrow(op.inputs[0], j)?,
                u: narrow(op.inputs[1], j)?,
                kind: *kind,
                forge: None,
            }),
            LOpKind::Gather(view) => {
                let x = op.inputs[0];
                let data = narrow_tensor(x)?;
                LeafInstance::Gather(
                    GatherChunk::new(
                        *view,
                        &lowered.values[x].shape,
                        &data.data,
                        &*trace.tree(x)?,
                        j,
                    )
                    .map_err(|_| uncommittable(op.output))?,
                )
            }
            LOpKind::GroupBlock { block, dispute } => {
                let (acc, x) = (wide_ints(op.inputs[0])?, narrow_tensor(op.inputs[1])?);
                LeafInstance::GroupBlock(
                    dispute
                        .block_instance(&x, &acc, j, *block)
                        .map_err(|_| uncommittable(op.output))?,
                )
            }
            LOpKind::SoftmaxExp { n } => {
                let m = op.inputs[1];
                LeafInstance::SoftmaxExp(
                    SoftmaxExpChunk::new(
                        narrow(op.inputs[0], j)?,
                        &lowered.values[m].shape,
                        &narrow_tensor(m)?.data,
                        &*trace.tree(m)?,
                        *n,
                    )
                    .ok_or_else(|| uncommittable(m))?,
                )
            }
            LOpKind::SoftmaxFinish { n } => {
                let s = op.inputs[1];
                let data = trace.data(s)?;
                let Data::Wide(w) = &*data else {
                    return Err(uncommittable(s));
                };
                LeafInstance::SoftmaxFinish(
                    SoftmaxFinishChunk::new(
                        narrow(op.inputs[0], j)?,
                        &lowered.values[s].shape,
                        w,
                        *n,
                    )
                    .ok_or_else(|| uncommittable(s))?,
                )
            }
            LOpKind::LayerNormStats { n, eps_q48 } => {
                LeafInstance::LayerNormStats(LayerNormStatsChunk {
                    s1: wide(op.inputs[0], j)?,
                    s2: wide(op.inputs[1], j)?,
                    n: *n,
                    eps_q48: *eps_q48,
                    forge: None,
                })
            }
            LOpKind::LayerNormFinish { n } => {
                let t = op.inputs[1];
                let data = trace.data(t)?;
                let Data::Wide(w) = &*data else {
                    return Err(uncommittable(t));
                };
                LeafInstance::LayerNormFinish(Box::new(
                    LayerNormFinishChunk::new(
                        narrow(op.inputs[0], j)?,
                        &lowered.values[t].shape,
                        w,
                        narrow(op.inputs[2], j)?,
                        narrow(op.inputs[3], j)?,
                        *n,
                    )
                    .ok_or_else(|| uncommittable(t))?,
                ))
            }
            LOpKind::MatMulBlock { block, dispute } => {
                let (a, b) = (op.inputs[1], op.inputs[2]);
                let acc = wide_ints(op.inputs[0])?;
                let (ta, tb) = (narrow_tensor(a)?, narrow_tensor(b)?);
                LeafInstance::MatMulBlock(
                    dispute
                        .block_instance(
                            (&*ta, &*trace.tree(a)?),
                            (&*tb, &*trace.tree(b)?),
                            &acc,
                            j,
                            *block,
                        )
                        .map_err(|_| uncommittable(op.output))?,
                )
            }
            LOpKind::GatherIndex(p) => {
                let (x, jv) = (op.inputs[0], op.inputs[1]);
                let (tx, tj) = (narrow_tensor(x)?, narrow_tensor(jv)?);
                LeafInstance::GatherIndex(
                    GatherIndexChunk::new(
                        **p,
                        (&lowered.values[x].shape, &tx.data, &*trace.tree(x)?),
                        (&lowered.values[jv].shape, &tj.data, &*trace.tree(jv)?),
                        j,
                    )
                    .map_err(|_| uncommittable(op.output))?,
                )
            }
            LOpKind::ArgMaxMark { n, last } => {
                let m = op.inputs[1];
                LeafInstance::ArgMaxMark(
                    ArgMaxMarkChunk::new(
                        narrow(op.inputs[0], j)?,
                        (
                            &lowered.values[m].shape,
                            &narrow_tensor(m)?.data,
                            &*trace.tree(m)?,
                        ),
                        *n,
                        *last,
                    )
                    .ok_or_else(|| uncommittable(m))?,
                )
            }
            LOpKind::Div => LeafInstance::Div(DivChunk {
                a: narrow(op.inputs[0], j)?,
                b: narrow(op.inputs[1], j)?,
                forge: None,
            }),
            LOpKind::Sqrt => LeafInstance::Sqrt(SqrtChunk {
                x: narrow(op.inputs[0], j)?,
                forge: None,
            }),
            LOpKind::Pow { exponent } => LeafInstance::Pow(PowChunk {
                x: narrow(op.inputs[0], j)?,
                exponent: *exponent,
                forge: None,
            }),
            LOpKind::SqrtWide => LeafInstance::SqrtWide(SqrtWideChunk {
                s: wide(op.inputs[0], j)?,
                forge: None,
            }),
        })
    }

    /// The template's public inputs.
    pub fn public_inputs(&self) -> Vec<Fr> {
        match self {
            LeafInstance::Clip(i) => ClipTemplate::public_inputs(i),
            LeafInstance::Binary(i) => BinaryTemplate::public_inputs(i),
            LeafInstance::GemmBlock(i) => GemmBlockTemplate::public_inputs(i),
            LeafInstance::ConvBlock(i) => ConvBlockTemplate::public_inputs(i),
            LeafInstance::PoolBlock(i) => PoolBlockTemplate::public_inputs(i),
            LeafInstance::GapBlock(i) => GapBlockTemplate::public_inputs(i),
            LeafInstance::Avg(i) => AvgTemplate::public_inputs(i),
            LeafInstance::Rescale(i) => RescaleTemplate::public_inputs(i),
            LeafInstance::Unary(i) => UnaryTemplate::public_inputs(i),
            LeafInstance::Erf(i) => ErfTemplate::public_inputs(i),
            LeafInstance::Gather(i) => GatherTemplate::public_inputs(i),
            LeafInstance::Logic(i) => LogicTemplate::public_inputs(i),
            LeafInstance::GroupBlock(i) => GroupBlockTemplate::public_inputs(i),
            LeafInstance::SoftmaxExp(i) => SoftmaxExpTemplate::public_inputs(i),
            LeafInstance::SoftmaxFinish(i) => SoftmaxFinishTemplate::public_inputs(i),
            LeafInstance::MatMulBlock(i) => MatMulBlockTemplate::public_inputs(i),
            LeafInstance::GatherIndex(i) => GatherIndexTemplate::public_inputs(i),
            LeafInstance::ArgMaxMark(i) => ArgMaxMarkTemplate::public_inputs(i),
            LeafInstance::Div(i) => DivTemplate::public_inputs(i),
            LeafInstance::Sqrt(i) => SqrtTemplate::public_inputs(i),
            LeafInstance::Pow(i) => PowTemplate::public_inputs(i),
            LeafInstance::SqrtWide(i) => SqrtWideTemplate::public_inputs(i),
            LeafInstance::LayerNormStats(i) => LayerNormStatsTemplate::public_inputs(i),
            LeafInstance::LayerNormFinish(i) => LayerNormFinishTemplate::public_inputs(i),
            LeafInstance::Gate(i) => GateTemplate::public_inputs(i),
        }
    }

    /// Whether the witness satisfies its template (synthesis only, no keys).
    pub fn is_satisfied(&self) -> Result<bool, V4Error> {
        use crate::templates::template_satisfied as sat;
        Ok(match self {
            LeafInstance::Clip(i) => sat::<ClipTemplate>(i)?,
            LeafInstance::Binary(i) => sat::<BinaryTemplate>(i)?,
            LeafInstance::GemmBlock(i) => sat::<GemmBlockTemplate>(i)?,
            LeafInstance::ConvBlock(i) => sat::<ConvBlockTemplate>(i)?,
            LeafInstance::PoolBlock(i) => sat::<PoolBlockTemplate>(i)?,
            LeafInstance::GapBlock(i) => sat::<GapBlockTemplate>(i)?,
            LeafInstance::Avg(i) => sat::<AvgTemplate>(i)?,
            LeafInstance::Rescale(i) => sat::<RescaleTemplate>(i)?,
            LeafInstance::Unary(i) => sat::<UnaryTemplate>(i)?,
            LeafInstance::Erf(i) => sat::<ErfTemplate>(i)?,
            LeafInstance::Gather(i) => sat::<GatherTemplate>(i)?,
            LeafInstance::Logic(i) => sat::<LogicTemplate>(i)?,
            LeafInstance::GroupBlock(i) => sat::<GroupBlockTemplate>(i)?,
            LeafInstance::SoftmaxExp(i) => sat::<SoftmaxExpTemplate>(i)?,
            LeafInstance::SoftmaxFinish(i) => sat::<SoftmaxFinishTemplate>(i)?,
            LeafInstance::MatMulBlock(i) => sat::<MatMulBlockTemplate>(i)?,
            LeafInstance::GatherIndex(i) => sat::<GatherIndexTemplate>(i)?,
            LeafInstance::ArgMaxMark(i) => sat::<ArgMaxMarkTemplate>(i)?,
            LeafInstance::Div(i) => sat::<DivTemplate>(i)?,
            LeafInstance::Sqrt(i) => sat::<SqrtTemplate>(i)?,
            LeafInstance::Pow(i) => sat::<PowTemplate>(i)?,
            LeafInstance::SqrtWide(i) => sat::<SqrtWideTemplate>(i)?,
            LeafInstance::LayerNormStats(i) => sat::<LayerNormStatsTemplate>(i)?,
            LeafInstance::LayerNormFinish(i) => sat::<LayerNormFinishTemplate>(i)?,
            LeafInstance::Gate(i) => sat::<GateTemplate>(i)?,
        })
    }

    /// The chunk digest the inputs determine (the last public input).
    pub fn digest(&self) -> Fr {
        *self
            .public_inputs()
            .last()
            .expect("every template has a digest")
    }

    /// The template's name.
    pub fn template(&self) -> &'static str {
        match self {
            LeafInstance::Clip(_) => ClipTemplate::NAME,
            LeafInstance::Binary(_) => BinaryTemplate::NAME,
            LeafInstance::GemmBlock(_) => GemmBlockTemplate::NAME,
            LeafInstance::ConvBlock(_) => ConvBlockTemplate::NAME,
            LeafInstance::PoolBlock(_) => PoolBlockTemplate::NAME,
            LeafInstance::GapBlock(_) => GapBlockTemplate::NAME,
            LeafInstance::Avg(_) => AvgTemplate::NAME,
            LeafInstance::Rescale(_) => RescaleTemplate::NAME,
            LeafInstance::Unary(_) => UnaryTemplate::NAME,
            LeafInstance::Erf(_) => ErfTemplate::NAME,
            LeafInstance::Gather(_) => GatherTemplate::NAME,
            LeafInstance::Logic(_) => LogicTemplate::NAME,
            LeafInstance::GroupBlock(_) => GroupBlockTemplate::NAME,
            LeafInstance::SoftmaxExp(_) => SoftmaxExpTemplate::NAME,
            LeafInstance::SoftmaxFinish(_) => SoftmaxFinishTemplate::NAME,
            LeafInstance::MatMulBlock(_) => MatMulBlockTemplate::NAME,
            LeafInstance::GatherIndex(_) => GatherIndexTemplate::NAME,
            LeafInstance::ArgMaxMark(_) => ArgMaxMarkTemplate::NAME,
            LeafInstance::Div(_) => DivTemplate::NAME,
            LeafInstance::Sqrt(_) => SqrtTemplate::NAME,
            LeafInstance::Pow(_) => PowTemplate::NAME,
            LeafInstance::SqrtWide(_) => SqrtWideTemplate::NAME,
            LeafInstance::LayerNormStats(_) => LayerNormStatsTemplate::NAME,
            LeafInstance::LayerNormFinish(_) => LayerNormFinishTemplate::NAME,
            LeafInstance::Gate(_) => GateTemplate::NAME,
        }
    }
}

/// Proves leaves under the library's **test** keys, each template's made on first use
/// (deterministic: anyone derives the same; `docs/protocol.md` §10.3).
#[derive(Default)]
pub struct LeafProver {
    clip: OnceLock<TemplateKeys<ClipTemplate>>,
    binary: OnceLock<TemplateKeys<BinaryTemplate>>,
    block: OnceLock<TemplateKeys<GemmBlockTemplate>>,
    conv: OnceLock<TemplateKeys<ConvBlockTemplate>>,
    pool: OnceLock<TemplateKeys<PoolBlockTemplate>>,
    rescale: OnceLock<TemplateKeys<RescaleTemplate>>,
    gap: OnceLock<TemplateKeys<GapBlockTemplate>>,
    avg: OnceLock<TemplateKeys<AvgTemplate>>,
    unary: OnceLock<TemplateKeys<UnaryTemplate>>,
    erf: OnceLock<TemplateKeys<ErfTemplate>>,
    gather: OnceLock<TemplateKeys<GatherTemplate>>,
    logic: OnceLock<TemplateKeys<LogicTemplate>>,
    group: OnceLock<TemplateKeys<GroupBlockTemplate>>,
    sm_exp: OnceLock<TemplateKeys<SoftmaxExpTemplate>>,
    sm_finish: OnceLock<TemplateKeys<SoftmaxFinishTemplate>>,
    matmul: OnceLock<TemplateKeys<MatMulBlockTemplate>>,
    gather_index: OnceLock<TemplateKeys<GatherIndexTemplate>>,
    argmax_mark: OnceLock<TemplateKeys<ArgMaxMarkTemplate>>,
    div: OnceLock<TemplateKeys<DivTemplate>>,
    sqrt: OnceLock<TemplateKeys<SqrtTemplate>>,
    pow: OnceLock<TemplateKeys<PowTemplate>>,
    sqrt_wide: OnceLock<TemplateKeys<SqrtWideTemplate>>,
    ln_stats: OnceLock<TemplateKeys<LayerNormStatsTemplate>>,
    ln_finish: OnceLock<TemplateKeys<LayerNormFinishTemplate>>,
    gate: OnceLock<TemplateKeys<GateTemplate>>,
}

fn keys<T: Template>(cell: &OnceLock<TemplateKeys<T>>) -> Result<&TemplateKeys<T>, V4Error> {
    if let Some(k) = cell.get() {
        return Ok(k);
    }
    let k = template_setup::<T>()?;
    Ok(cell.get_or_init(|| k))
}

impl LeafProver {
    /// A prover with no keys made yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Proves `inst` (and checks the proof).
    pub fn prove(&self, inst: &LeafInstance) -> Result<TemplateProof, V4Error> {
        Ok(match inst {
            LeafInstance::Clip(i) => template_prove(keys(&self.clip)?, i)?,
            LeafInstance::Binary(i) => template_prove(keys(&self.binary)?, i)?,
            LeafInstance::GemmBlock(i) => template_prove(keys(&self.block)?, i)?,
            LeafInstance::ConvBlock(i) => template_prove(keys(&self.conv)?, i)?,
            LeafInstance::PoolBlock(i) => template_prove(keys(&self.pool)?, i)?,
            LeafInstance::GapBlock(i) => template_prove(keys(&self.gap)?, i)?,
            LeafInstance::Avg(i) => template_prove(keys(&self.avg)?, i)?,
            LeafInstance::Rescale(i) => template_prove(keys(&self.rescale)?, i)?,
            LeafInstance::Unary(i) => template_prove(keys(&self.unary)?, i)?,
            LeafInstance::Erf(i) => template_prove(keys(&self.erf)?, i)?,
            LeafInstance::Gather(i) => template_prove(keys(&self.gather)?, i)?,
            LeafInstance::Logic(i) => template_prove(keys(&self.logic)?, i)?,
            LeafInstance::GroupBlock(i) => template_prove(keys(&self.group)?, i)?,
            LeafInstance::SoftmaxExp(i) => template_prove(keys(&self.sm_exp)?, i)?,
            LeafInstance::SoftmaxFinish(i) => template_prove(keys(&self.sm_finish)?, i)?,
            LeafInstance::MatMulBlock(i) => template_prove(keys(&self.matmul)?, i)?,
            LeafInstance::GatherIndex(i) => template_prove(keys(&self.gather_index)?, i)?,
            LeafInstance::ArgMaxMark(i) => template_prove(keys(&self.argmax_mark)?, i)?,
            LeafInstance::Div(i) => template_prove(keys(&self.div)?, i)?,
            LeafInstance::Sqrt(i) => template_prove(keys(&self.sqrt)?, i)?,
            LeafInstance::Pow(i) => template_prove(keys(&self.pow)?, i)?,
            LeafInstance::SqrtWide(i) => template_prove(keys(&self.sqrt_wide)?, i)?,
            LeafInstance::LayerNormStats(i) => template_prove(keys(&self.ln_stats)?, i)?,
            LeafInstance::LayerNormFinish(i) => template_prove(keys(&self.ln_finish)?, i)?,
            LeafInstance::Gate(i) => template_prove(keys(&self.gate)?, i)?,
        })
    }
}
