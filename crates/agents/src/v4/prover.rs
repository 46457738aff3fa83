//! Leaf proofs under the template test keys cached on disk (the keys `deploy` registers).

use std::{path::Path, sync::OnceLock};

use alloy_primitives::{Bytes, U256};
use zkopml_prover::templates::GateTemplate;
use zkopml_prover::templates::{ArgMaxMarkTemplate, GatherIndexTemplate};
use zkopml_prover::templates::{LayerNormFinishTemplate, LayerNormStatsTemplate};
use zkopml_prover::{
    evm::{fr_to_u256, proof_calldata},
    templates::{
        template_prove, AvgTemplate, BinaryTemplate, ClipTemplate, ConvBlockTemplate, ErfTemplate,
        GapBlockTemplate, GatherTemplate, GemmBlockTemplate, GroupBlockTemplate, LogicTemplate,
        MatMulBlockTemplate, PoolBlockTemplate, RescaleTemplate, SoftmaxExpTemplate,
        SoftmaxFinishTemplate, Template, TemplateKeyCache, TemplateKeys, TemplateProof,
        UnaryTemplate,
    },
    templates::{DivTemplate, PowTemplate, SqrtTemplate, SqrtWideTemplate},
    v4::LeafInstance,
};

use crate::Result;

/// Proves version-4 leaves; each template's keys are loaded (or made and cached) on first use.
pub struct TemplateProver {
    cache: TemplateKeyCache,
    clip: OnceLock<TemplateKeys<ClipTemplate>>,
    binary: OnceLock<TemplateKeys<BinaryTemplate>>,
    block: OnceLock<TemplateKeys<GemmBlockTemplate>>,
    rescale: OnceLock<TemplateKeys<RescaleTemplate>>,
    conv: OnceLock<TemplateKeys<ConvBlockTemplate>>,
    pool: OnceLock<TemplateKeys<PoolBlockTemplate>>,
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

/// A leaf proof as `resolveLeaf` / `verifyProof` take it.
#[derive(Clone, Debug)]
pub struct ChainProof {
    /// The template's name.
    pub template: &'static str,
    /// 256 bytes: `abi.encode(a, b, c)`.
    pub proof: Bytes,
    /// The public inputs `[C(X_1) … C(X_r), j, params…, d]`.
    pub public: Vec<U256>,
}

impl ChainProof {
    fn of(template: &'static str, p: &TemplateProof) -> Self {
        Self {
            template,
            proof: Bytes::from(proof_calldata(&p.proof)),
            public: p.public.iter().map(fr_to_u256).collect(),
        }
    }
}

fn keys<'a, T: Template>(
    cache: &TemplateKeyCache,
    cell: &'a OnceLock<TemplateKeys<T>>,
) -> Result<&'a TemplateKeys<T>> {
    if let Some(k) = cell.get() {
        return Ok(k);
    }
    let k = cache.get::<T>()?;
    Ok(cell.get_or_init(|| k))
}

/// Runs `$body` with the keys of `$inst`'s template (`$keys`) and its witness (`$i`): the
/// one place that maps a leaf to its template's key cell.
macro_rules! with_keys {
    ($self:ident, $inst:expr, |$keys:ident, $i:ident| $body:expr) => {{
        let c = &$self.cache;
        match $inst {
            LeafInstance::Clip($i) => {
                let $keys = keys(c, &$self.clip)?;
                $body
            }
            LeafInstance::Binary($i) => {
                let $keys = keys(c, &$self.binary)?;
                $body
            }
            LeafInstance::GemmBlock($i) => {
                let $keys = keys(c, &$self.block)?;
                $body
            }
            LeafInstance::Rescale($i) => {
                let $keys = keys(c, &$self.rescale)?;
                $body
            }
            LeafInstance::ConvBlock($i) => {
                let $keys = keys(c, &$self.conv)?;
                $body
            }
            LeafInstance::PoolBlock($i) => {
                let $keys = keys(c, &$self.pool)?;
                $body
            }
            LeafInstance::GapBlock($i) => {
                let $keys = keys(c, &$self.gap)?;
                $body
            }
            LeafInstance::Avg($i) => {
                let $keys = keys(c, &$self.avg)?;
                $body
            }
            LeafInstance::Unary($i) => {
                let $keys = keys(c, &$self.unary)?;
                $body
            }
            LeafInstance::Erf($i) => {
                let $keys = keys(c, &$self.erf)?;
                $body
            }
            LeafInstance::Gather($i) => {
                let $keys = keys(c, &$self.gather)?;
                $body
            }
            LeafInstance::Logic($i) => {
                let $keys = keys(c, &$self.logic)?;
                $body
            }
            LeafInstance::GroupBlock($i) => {
                let $keys = keys(c, &$self.group)?;
                $body
            }
            LeafInstance::SoftmaxExp($i) => {
                let $keys = keys(c, &$self.sm_exp)?;
                $body
            }
            LeafInstance::SoftmaxFinish($i) => {
                let $keys = keys(c, &$self.sm_finish)?;
                $body
            }
            LeafInstance::MatMulBlock($i) => {
                let $keys = keys(c, &$self.matmul)?;
                $body
            }
            LeafInstance::GatherIndex($i) => {
                let $keys = keys(c, &$self.gather_index)?;
                $body
            }
            LeafInstance::ArgMaxMark($i) => {
                let $keys = keys(c, &$self.argmax_mark)?;
                $body
            }
            LeafInstance::Div($i) => {
                let $keys = keys(c, &$self.div)?;
                $body
            }
            LeafInstance::Sqrt($i) => {
                let $keys = keys(c, &$self.sqrt)?;
                $body
            }
            LeafInstance::Pow($i) => {
                let $keys = keys(c, &$self.pow)?;
                $body
            }
            LeafInstance::SqrtWide($i) => {
                let $keys = keys(c, &$self.sqrt_wide)?;
                $body
            }
            LeafInstance::LayerNormStats($i) => {
                let $keys = keys(c, &$self.ln_stats)?;
                $body
            }
            LeafInstance::LayerNormFinish($i) => {
                let $keys = keys(c, &$self.ln_finish)?;
                $body
            }
            LeafInstance::Gate($i) => {
                let $keys = keys(c, &$self.gate)?;
                $body
            }
        }
    }};
}

impl TemplateProver {
    /// A prover whose keys live in `key_dir` (the devnet's `keys/templates`).
    pub fn new(key_dir: &Path) -> Self {
        Self {
            cache: TemplateKeyCache::new(key_dir),
            clip: OnceLock::new(),
            binary: OnceLock::new(),
            block: OnceLock::new(),
            rescale: OnceLock::new(),
            conv: OnceLock::new(),
            pool: OnceLock::new(),
            gap: OnceLock::new(),
            avg: OnceLock::new(),
            unary: OnceLock::new(),
            erf: OnceLock::new(),
            gather: OnceLock::new(),
            logic: OnceLock::new(),
            group: OnceLock::new(),
            sm_exp: OnceLock::new(),
            sm_finish: OnceLock::new(),
            matmul: OnceLock::new(),
            gather_index: OnceLock::new(),
            argmax_mark: OnceLock::new(),
            div: OnceLock::new(),
            sqrt: OnceLock::new(),
            pow: OnceLock::new(),
            sqrt_wide: OnceLock::new(),
            ln_stats: OnceLock::new(),
            ln_finish: OnceLock::new(),
            gate: OnceLock::new(),
        }
    }

    /// Loads (or makes and caches) the keys of `inst`'s template, so that [`Self::prove`]
    /// then measures proving alone.
    pub fn prepare(&self, inst: &LeafInstance) -> Result<()> {
        with_keys!(self, inst, |_keys, _i| ());
        Ok(())
    }

    /// Proves `inst` (the proof is checked before it is returned).
    pub fn prove(&self, inst: &LeafInstance) -> Result<ChainProof> {
        Ok(with_keys!(self, inst, |keys, i| ChainProof::of(
            inst.template(),
            &template_prove(keys, i)?
        )))
    }
}
