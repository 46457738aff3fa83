//! Leaf proofs under the template test keys cached on disk (the keys `deploy` registers).

use std::{path::Path, sync::OnceLock};

use alloy_primitives::{Bytes, U256};
use zkopml_prover::{
    evm::{fr_to_u256, proof_calldata},
    templates::{
        template_prove, AvgTemplate, BinaryTemplate, ClipTemplate, ConvBlockTemplate, ErfTemplate,
        GapBlockTemplate, GatherTemplate, GemmBlockTemplate, MatMulBlockTemplate,
        PoolBlockTemplate, RescaleTemplate, Template, TemplateKeyCache, TemplateKeys,
        TemplateProof, UnaryTemplate,
    },
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
    matmul: OnceLock<TemplateKeys<MatMulBlockTemplate>>,
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
            matmul: OnceLock::new(),
        }
    }

    /// Proves `inst` (the proof is checked before it is returned).
    pub fn prove(&self, inst: &LeafInstance) -> Result<ChainProof> {
        let c = &self.cache;
        Ok(match inst {
            LeafInstance::Clip(i) => ChainProof::of(
                ClipTemplate::NAME,
                &template_prove(keys(c, &self.clip)?, i)?,
            ),
            LeafInstance::Binary(i) => ChainProof::of(
                BinaryTemplate::NAME,
                &template_prove(keys(c, &self.binary)?, i)?,
            ),
            LeafInstance::GemmBlock(i) => ChainProof::of(
                GemmBlockTemplate::NAME,
                &template_prove(keys(c, &self.block)?, i)?,
            ),
            LeafInstance::Rescale(i) => ChainProof::of(
                RescaleTemplate::NAME,
                &template_prove(keys(c, &self.rescale)?, i)?,
            ),
            LeafInstance::ConvBlock(i) => ChainProof::of(
                ConvBlockTemplate::NAME,
                &template_prove(keys(c, &self.conv)?, i)?,
            ),
            LeafInstance::PoolBlock(i) => ChainProof::of(
                PoolBlockTemplate::NAME,
                &template_prove(keys(c, &self.pool)?, i)?,
            ),
            LeafInstance::GapBlock(i) => ChainProof::of(
                GapBlockTemplate::NAME,
                &template_prove(keys(c, &self.gap)?, i)?,
            ),
            LeafInstance::Avg(i) => {
                ChainProof::of(AvgTemplate::NAME, &template_prove(keys(c, &self.avg)?, i)?)
            }
            LeafInstance::Unary(i) => ChainProof::of(
                UnaryTemplate::NAME,
                &template_prove(keys(c, &self.unary)?, i)?,
            ),
            LeafInstance::Erf(i) => {
                ChainProof::of(ErfTemplate::NAME, &template_prove(keys(c, &self.erf)?, i)?)
            }
            LeafInstance::Gather(i) => ChainProof::of(
                GatherTemplate::NAME,
                &template_prove(keys(c, &self.gather)?, i)?,
            ),
            LeafInstance::MatMulBlock(i) => ChainProof::of(
                MatMulBlockTemplate::NAME,
                &template_prove(keys(c, &self.matmul)?, i)?,
            ),
        })
    }
}
