//! The fixed library of circuit templates (program version 4, being built; see
//! `docs/commitments.md` "Version 4" and `docs/protocol.md` §10).
//!
//! A template proves "this chunk of this operator's output is what the engine computes from
//! the chunks opened from these commitments". Its constraints depend on the operator family
//! only — never on a model, a tensor's size or the chunk's position — so its keys are made
//! once for the protocol, not per model or per step. Attributes (a `Clip`'s bounds, …) and
//! the chunk index are public inputs the dispute contract builds from the model commitment
//! and the game; tensor lengths come from the opened headers.
//!
//! One template file per operator family, named like the engine's `ops` file it proves.

mod activation;
mod binary;
mod chunk;
mod conv;
mod gather;
mod keys;
mod linear;
mod logic;
mod manifest;
mod math;
mod norm;
mod pool;
mod reduce;
mod softmax;

pub use activation::{
    erf_exp, erf_finish, second_stage, ClipChunk, ClipTemplate, ErfChunk, ErfTemplate, UnaryChunk,
    UnaryFn, UnaryTemplate,
};
pub use activation::{gelu_tanh_window, GateChunk, GateFn, GateTemplate};
pub use binary::{BinaryChunk, BinaryTemplate, DivChunk, DivTemplate};
pub use chunk::{ChunkOpening, Opening, WideOpening, TREE_LEVELS};
pub use conv::{
    lift_1d, ConvBlockChunk, ConvBlockTemplate, ConvDispute, ConvDisputeError, ConvParams, SLOTS,
};
pub use gather::{concat_parts, ConcatPart};
pub use gather::{
    gather_nd_view, movement_view, transpose_passes, GatherChunk, GatherError, GatherTemplate,
    GatherView, GATHER_SLOTS, VIEW_RANK,
};
pub use gather::{index_gather, GatherIndexChunk, GatherIndexTemplate, IndexGather, INDEX_SLOTS};
pub use keys::{
    template_prove, template_satisfied, template_setup, template_stats, template_verify,
    TemplateKeyCache, TemplateKeys, TemplateProof,
};
pub use linear::{
    GemmBlockChunk, GemmBlockTemplate, GemmDispute, MatMulBlockChunk, MatMulBlockTemplate,
    MatMulDispute, MatMulError, MatMulParams, RescaleChunk, RescaleTemplate, KB, MATMUL_SLOTS,
    MAX_SHIFT,
};
pub use logic::{LogicChunk, LogicOp, LogicTemplate};
pub use manifest::{constraints, plan, pow_exponent, template_id, LeafPlan, TEMPLATES};
pub use math::{
    L2Plan, PowChunk, PowTemplate, SqrtChunk, SqrtTemplate, SqrtWideChunk, SqrtWideTemplate,
};
pub use pool::{
    AvgChunk, AvgDispute, AvgSums, AvgTemplate, GapBlockChunk, GapBlockTemplate, GapDispute,
    PoolBlockChunk, PoolBlockTemplate, PoolDispute, COUNT_BITS, POOL_SLOTS,
};
pub use reduce::{argmax_groups, argmax_mark, ArgMaxMarkChunk, ArgMaxMarkTemplate};
pub use reduce::{
    GroupBlockChunk, GroupBlockTemplate, GroupDispute, GroupError, GroupKind, ReducePlan,
    GROUP_BITS,
};
pub use softmax::{
    table_chunks, AxisMove, SoftmaxExpChunk, SoftmaxExpTemplate, SoftmaxFinishChunk,
    SoftmaxFinishTemplate, SoftmaxPlan,
};

pub use norm::{
    layernorm_element, layernorm_pack, layernorm_root, LayerNormFinishChunk,
    LayerNormFinishTemplate, LayerNormPlan, LayerNormStatsChunk, LayerNormStatsTemplate,
    LN_GROUP_BITS,
};

use ark_bn254::Fr;

use crate::gadgets::{Cs, CsResult, Lc};

/// A circuit of the template library.
pub trait Template {
    /// Stable name: keys, verifiers and model leaves address the template by it.
    const NAME: &'static str;
    /// The witness of one proof.
    type Instance;

    /// The public inputs of `inst`, in the order the circuit allocates them (the contract
    /// builds the same vector from game state).
    fn public_inputs(inst: &Self::Instance) -> Vec<Fr>;

    /// The constraints; `inst` is `None` during setup (witness values are then arbitrary).
    fn synthesize(cs: &Cs, inst: Option<&Self::Instance>) -> CsResult<()>;
}

/// `T`'s `N` public inputs allocated as circuit inputs, in order: `inst`'s values when
/// proving, zeros at key setup (only the circuit's shape matters then). A template whose
/// `public_inputs` does not have `N` entries is unsatisfiable.
pub(crate) fn public_vars<T: Template, const N: usize>(
    cs: &Cs,
    inst: Option<&T::Instance>,
) -> CsResult<[Lc; N]> {
    let public = inst
        .map(T::public_inputs)
        .unwrap_or(vec![Fr::from(0u64); N]);
    let vars: Vec<Lc> = public
        .iter()
        .map(|x| cs.input(*x))
        .collect::<CsResult<_>>()?;
    vars.try_into()
        .map_err(|_| ark_relations::gr1cs::SynthesisError::Unsatisfiable)
}
