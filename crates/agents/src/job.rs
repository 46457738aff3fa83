//! Re-executing a request: fetch its model and input, check the input against `S_0`, run.

use std::sync::Arc;

use alloy_primitives::{B256, U256};
use zkopml_chain::market::Types::GameView;
use zkopml_commit::{fr_to_bytes32, KeccakTree};
use zkopml_engine::{evaluate, execute_with_fault, output_commitment, Trace};

use crate::{data::get_json, model::LoadedModel, AgentError, Ctx, IntTensors, Result};

/// A request re-executed locally.
pub(crate) struct Job {
    pub(crate) model: Arc<LoadedModel>,
    pub(crate) trace: Arc<Trace>,
    pub(crate) tree: KeccakTree,
}

impl Job {
    /// `S_i` as a word.
    pub(crate) fn state(&self, i: usize) -> alloy_primitives::B256 {
        alloy_primitives::B256::from(fr_to_bytes32(&self.trace.states[i]))
    }
}

/// A request's model and its input, checked against the posted `S_0`.
async fn load_request(ctx: &Ctx, request_id: U256) -> Result<(Arc<LoadedModel>, IntTensors)> {
    let req = ctx
        .chain
        .view("getRequest", ctx.chain.market().getRequest(request_id))
        .await?;
    let model = ctx.model(req.modelId).await?;
    let inputs: IntTensors = get_json(&ctx.store, &req.inputCid, "request input")?;
    let s0 = crate::requester::input_commitment(&model.program, &inputs.tensors)?;
    if s0 != req.inputCommitment {
        return Err(AgentError::Inconsistent {
            what: format!("request {request_id} input"),
            reason: format!(
                "input {} commits to {s0}, the request posted {}",
                req.inputCid, req.inputCommitment
            ),
        });
    }
    Ok((model, inputs))
}

/// Runs request `request_id` (with a deliberate fault at `fault`, for test actors).
pub(crate) async fn run_request(ctx: &Ctx, request_id: U256, fault: Option<usize>) -> Result<Job> {
    let (model, inputs) = load_request(ctx, request_id).await?;
    let program = model.program.clone();
    let trace =
        tokio::task::spawn_blocking(move || execute_with_fault(&program, &inputs.tensors, fault))
            .await
            .expect("execute task")?;
    let tree = trace.tree();
    Ok(Job {
        model,
        trace: Arc::new(trace),
        tree,
    })
}

/// `S_n` of request `request_id` computed honestly without a trace: inference, then the
/// outputs' commitments only. What a verifier compares with a response before it pays for
/// the full trace, which it needs only to dispute.
pub(crate) async fn request_output(ctx: &Ctx, request_id: U256) -> Result<B256> {
    let (model, inputs) = load_request(ctx, request_id).await?;
    let s_n = tokio::task::spawn_blocking(move || -> zkopml_engine::Result<_> {
        let outputs = evaluate(&model.program, &inputs.tensors)?;
        output_commitment(&model.program, &outputs)
    })
    .await
    .expect("evaluate task")?;
    Ok(B256::from(fr_to_bytes32(&s_n)))
}

/// Proves `step` of a job's trace and returns the proof calldata (blocking work off the
/// async runtime). Fails if the job's transition at `step` is false (a cheater cannot prove).
pub(crate) async fn prove_step(ctx: &Ctx, job: &Job, step: usize) -> Result<Vec<u8>> {
    let (program, trace, keys) = (
        job.model.program.clone(),
        job.trace.clone(),
        ctx.keys.clone(),
    );
    let proof = tokio::task::spawn_blocking(move || -> zkopml_prover::Result<_> {
        let k = keys.get(&program, step)?;
        zkopml_prover::prove(&k, &program, step, &trace)
    })
    .await
    .expect("prove task")?;
    Ok(zkopml_prover::evm::proof_calldata(&proof.proof))
}

/// Claims a timeout on game `gid`, recording `why`.
pub(crate) async fn claim_timeout(ctx: &Ctx, gid: U256, why: &str) -> Result<()> {
    let (tx, _) = ctx
        .chain
        .send("claimTimeout", ctx.chain.market().claimTimeout(gid))
        .await?;
    ctx.record_tx(format!("game {gid}: {why}"), &tx);
    Ok(())
}

/// The proving phase of game `gid` for the side whose claim at `hi` is `claim`: past the
/// deadline, claim the timeout; otherwise, if `claim` is this job's own state, prove step
/// `lo` and resolve the leaf. A claim the job cannot prove (a cheating trace) is logged and
/// left to the clock.
pub(crate) async fn play_leaf(
    ctx: &Ctx,
    job: &Job,
    gid: U256,
    g: &GameView,
    claim: B256,
    now: u64,
) -> Result<()> {
    if now > g.provingDeadline {
        return claim_timeout(ctx, gid, "proving window expired").await;
    }
    let step = g.lo as usize;
    if job.state(step + 1) != claim {
        return Ok(());
    }
    let started = std::time::Instant::now();
    match prove_step(ctx, job, step).await {
        Ok(proof) => {
            ctx.timeline.record(
                &ctx.role,
                format!(
                    "game {gid}: proved step {step} in {:.2} s",
                    started.elapsed().as_secs_f64()
                ),
                None,
            );
            let (digest, verifier, mproof) = job.model.leaf(step);
            let market = ctx.chain.market();
            let for_challenger = claim == g.hiChallenger;
            let call =
                market.resolveLeaf(gid, digest, verifier, mproof, proof.into(), for_challenger);
            let (tx, _) = ctx.chain.send("resolveLeaf", call).await?;
            ctx.record_tx(format!("game {gid}: resolveLeaf at step {step}"), &tx);
        }
        Err(e) => tracing::warn!(game = %gid, step, error = %e, "cannot prove our claim"),
    }
    Ok(())
}
