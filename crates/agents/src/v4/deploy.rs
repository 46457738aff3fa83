//! The version-4 stack on a chain: one `Groth16TemplateVerifier` per template of
//! [`zkopml_prover::templates::TEMPLATES`] with its key, registered under
//! [`zkopml_prover::templates::template_id`] (position + 1, §10.8).

use std::path::Path;

use alloy_primitives::U256;
use tracing::info;
use zkopml_chain::v4::{deploy_v4, DeploymentV4, TemplateKeyArgs};
use zkopml_prover::{
    evm::template_verifier_args,
    templates::{
        template_id, AvgTemplate, BinaryTemplate, ClipTemplate, ConvBlockTemplate, ErfTemplate,
        GapBlockTemplate, GatherTemplate, GemmBlockTemplate, GroupBlockTemplate, LogicTemplate,
        MatMulBlockTemplate, PoolBlockTemplate, RescaleTemplate, SoftmaxExpTemplate,
        SoftmaxFinishTemplate, Template, TemplateKeyCache, UnaryTemplate, TEMPLATES,
    },
    templates::{DivTemplate, PowTemplate, SqrtTemplate, SqrtWideTemplate},
};

use zkopml_prover::templates::{ArgMaxMarkTemplate, GatherIndexTemplate};

use crate::{AgentError, Result};
use zkopml_prover::templates::GateTemplate;
use zkopml_prover::templates::{LayerNormFinishTemplate, LayerNormStatsTemplate};

/// Subdirectory of a devnet's key cache holding the template **test** keys.
pub const TEMPLATE_KEY_DIR: &str = "templates";

/// `ModelRegistryV4`'s `BOND_FLOOR` on a devnet: 0.001 ETH (a deployment sets it from the
/// measured cost of a game, §10.9).
pub const DEVNET_BOND_FLOOR: u128 = 1_000_000_000_000_000;

/// `ModelRegistryV4`'s `TIME_FLOOR` on a devnet: the protocol's minimum clock, 5 minutes, so
/// tests and demos play in minutes (a public chain sets a day or more, §10.8).
pub const DEVNET_TIME_FLOOR: u64 = 5 * 60;

/// Gas budget registered for a template verifier with `inputs` public inputs: twice its
/// measured cost (≈ 183k + 7.0k per input, §10.8), so the budget always covers it.
pub fn template_gas_limit(inputs: usize) -> u64 {
    2 * (183_000 + 7_000 * inputs as u64)
}

fn args_of<T: Template>(cache: &TemplateKeyCache) -> Result<TemplateKeyArgs> {
    let keys = cache.get::<T>()?;
    let v = template_verifier_args(keys.vk());
    let id = template_id(T::NAME).ok_or_else(|| AgentError::Inconsistent {
        what: "template".into(),
        reason: format!("{} is not in TEMPLATES", T::NAME),
    })?;
    Ok(TemplateKeyArgs {
        name: T::NAME.to_string(),
        id,
        gas_limit: template_gas_limit(v.ic.len() - 1),
        alpha1: v.alpha1,
        beta2: v.beta2,
        gamma2: v.gamma2,
        delta2: v.delta2,
        ic: v.ic,
        test_key: keys.test_keys,
    })
}

/// Every template's test key as verifier constructor arguments, in id order; keys come from
/// (and are stored in) `key_dir`.
pub fn template_key_args(key_dir: &Path) -> Result<Vec<TemplateKeyArgs>> {
    let cache = TemplateKeyCache::new(key_dir);
    let mut out = Vec::with_capacity(TEMPLATES.len());
    for name in TEMPLATES {
        out.push(match name {
            ClipTemplate::NAME => args_of::<ClipTemplate>(&cache)?,
            BinaryTemplate::NAME => args_of::<BinaryTemplate>(&cache)?,
            GemmBlockTemplate::NAME => args_of::<GemmBlockTemplate>(&cache)?,
            RescaleTemplate::NAME => args_of::<RescaleTemplate>(&cache)?,
            ConvBlockTemplate::NAME => args_of::<ConvBlockTemplate>(&cache)?,
            PoolBlockTemplate::NAME => args_of::<PoolBlockTemplate>(&cache)?,
            GapBlockTemplate::NAME => args_of::<GapBlockTemplate>(&cache)?,
            AvgTemplate::NAME => args_of::<AvgTemplate>(&cache)?,
            UnaryTemplate::NAME => args_of::<UnaryTemplate>(&cache)?,
            ErfTemplate::NAME => args_of::<ErfTemplate>(&cache)?,
            GatherTemplate::NAME => args_of::<GatherTemplate>(&cache)?,
            LogicTemplate::NAME => args_of::<LogicTemplate>(&cache)?,
            GroupBlockTemplate::NAME => args_of::<GroupBlockTemplate>(&cache)?,
            SoftmaxExpTemplate::NAME => args_of::<SoftmaxExpTemplate>(&cache)?,
            SoftmaxFinishTemplate::NAME => args_of::<SoftmaxFinishTemplate>(&cache)?,
            MatMulBlockTemplate::NAME => args_of::<MatMulBlockTemplate>(&cache)?,
            GatherIndexTemplate::NAME => args_of::<GatherIndexTemplate>(&cache)?,
            ArgMaxMarkTemplate::NAME => args_of::<ArgMaxMarkTemplate>(&cache)?,
            DivTemplate::NAME => args_of::<DivTemplate>(&cache)?,
            SqrtTemplate::NAME => args_of::<SqrtTemplate>(&cache)?,
            PowTemplate::NAME => args_of::<PowTemplate>(&cache)?,
            SqrtWideTemplate::NAME => args_of::<SqrtWideTemplate>(&cache)?,
            LayerNormStatsTemplate::NAME => args_of::<LayerNormStatsTemplate>(&cache)?,
            LayerNormFinishTemplate::NAME => args_of::<LayerNormFinishTemplate>(&cache)?,
            GateTemplate::NAME => args_of::<GateTemplate>(&cache)?,
            other => {
                return Err(AgentError::Inconsistent {
                    what: "template".into(),
                    reason: format!("no key setup for {other}"),
                })
            }
        });
    }
    Ok(out)
}

/// Deploys the version-4 stack with `key`, the template keys under `key_dir` (test keys are
/// made there if missing) and `time_floor` as the registry's `TIME_FLOOR`.
pub async fn deploy(rpc: &str, key: &str, key_dir: &Path, time_floor: u64) -> Result<DeploymentV4> {
    let dir = key_dir.to_path_buf();
    let args = tokio::task::spawn_blocking(move || template_key_args(&dir))
        .await
        .map_err(|e| AgentError::Inconsistent {
            what: "template key setup".into(),
            reason: e.to_string(),
        })??;
    let d = deploy_v4(rpc, key, &args, U256::from(DEVNET_BOND_FLOOR), time_floor).await?;
    info!(market = %d.market, gas = d.total_deploy_gas(), "version 4 deployed");
    Ok(d)
}
