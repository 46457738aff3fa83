//! What the version-4 agents keep per request: the request's model (loaded once per model
//! id) and the party's own run of it — the outputs and their `S_n` at once (inference and
//! the outputs' commitments: the happy path's whole cost), the trace only when a game needs
//! it (honest parties) or at once (a test actor, whose lie is chosen on it).

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, OnceLock},
};

use alloy_primitives::{B256, U256};
use zkopml_engine::{Program, Tensor};
use zkopml_prover::v4::{input_state, output_state, Lowered, V4Trace};

use super::model::{lie, load, trace, Defect, LoadedV4};
use crate::{data::get_json, AgentError, Ctx, IntTensors, Result};

/// Inputs of at least this many values are checked against `S_0` on a second thread beside
/// the inference; below it the thread costs more than it saves (docs/benchmarks.md §5b).
const ANSWER_PARALLEL_MIN_VALUES: usize = 16_384;

/// The happy path of one request (docs/protocol.md §10.12): checks that `inputs` commit to
/// the request's `s0` and computes the outputs (running `fault`'s lie, for a test actor) —
/// for large inputs the check on a second thread beside the inference, so that the answer
/// takes as long as the slower of the two (on mobilenet_v2 they take about as long each:
/// docs/benchmarks.md §5b) — then their `S_n`. Returns the outputs and `S_n`; a wrong `s0`
/// discards the run.
pub fn answer(
    program: &Program,
    lowered: &Lowered,
    inputs: &[Tensor],
    s0: B256,
    fault: Option<(usize, usize)>,
) -> Result<(Vec<Tensor>, B256)> {
    // INVARIANT: a party computes from the inputs the request committed to.
    let check = || -> Result<()> {
        let mine = input_state(lowered, inputs)?;
        if mine != s0 {
            return Err(AgentError::Inconsistent {
                what: "request input".into(),
                reason: format!("the inputs commit to S_0 = {mine}, the request to {s0}"),
            });
        }
        Ok(())
    };
    let values: usize = inputs.iter().map(|t| t.data.len()).sum();
    let run = if values < ANSWER_PARALLEL_MIN_VALUES {
        // Small inputs: the check first, so a wrong S_0 runs no inference.
        check()?;
        zkopml_engine::activations(program, inputs, fault)?
    } else {
        let (checked, run) = std::thread::scope(|s| {
            let checked = s.spawn(check);
            let run = zkopml_engine::activations(program, inputs, fault);
            let checked = checked
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (checked, run)
        });
        checked?;
        run?
    };
    let outputs: Vec<Tensor> = program
        .outputs
        .iter()
        .filter_map(|o| run[*o].clone())
        .collect();
    let sn = output_state(lowered, &outputs)?;
    Ok((outputs, sn))
}

/// A request run locally under version 4.
pub(crate) struct V4Job {
    /// The request's model.
    pub(crate) model: Arc<LoadedV4>,
    /// The request's quantised inputs.
    inputs: Vec<Tensor>,
    /// The program outputs of this party's run (what a response's output CID holds).
    pub(crate) outputs: Vec<Tensor>,
    /// `S_n` of those outputs: what this party responds with or checks a response against.
    pub(crate) output_state: B256,
    /// `(node, element)` of the lie, if any.
    pub(crate) fault: Option<(usize, usize)>,
    /// The trace this party plays, made on first need ([`V4Job::trace`]).
    trace: OnceLock<V4Trace>,
}

impl V4Job {
    /// The trace this party plays (its lie, for a test actor): computed the first time a
    /// game needs it, then kept.
    pub(crate) fn trace(&self) -> Result<&V4Trace> {
        if let Some(t) = self.trace.get() {
            return Ok(t);
        }
        let started = std::time::Instant::now();
        let t = tokio::task::block_in_place(|| trace(&self.model, &self.inputs, None, None))?;
        // INVARIANT: the trace ends where the response or the check did (both from the
        // engine's outputs): a difference is a bug, not a reason to play on.
        if t.final_state() != self.output_state {
            return Err(AgentError::Inconsistent {
                what: "version-4 trace".into(),
                reason: format!(
                    "its S_n {} is not the outputs' {}",
                    t.final_state(),
                    self.output_state
                ),
            });
        }
        tracing::debug!(
            seconds = started.elapsed().as_secs_f64(),
            "v4 trace computed for a game"
        );
        Ok(self.trace.get_or_init(|| t))
    }
}

/// Models and runs, cached by id: a model is lowered once, a request run once.
#[derive(Default)]
pub(crate) struct Jobs {
    models: HashMap<U256, Arc<LoadedV4>>,
    runs: HashMap<U256, Arc<V4Job>>,
    /// Requests found impossible to run ([`Jobs::run_or_skip`]).
    skipped: HashSet<U256>,
}

impl Jobs {
    /// Version-4 model `id`, loaded from the chain and the content store once.
    pub(crate) async fn model(&mut self, ctx: &Ctx, id: U256) -> Result<Arc<LoadedV4>> {
        if let Some(m) = self.models.get(&id) {
            return Ok(m.clone());
        }
        let m = Arc::new(load(ctx, id).await?);
        self.models.insert(id, m.clone());
        Ok(m)
    }

    /// This party's run of request `request_id` (with `defect`, for a test actor that lies):
    /// the inputs from the content store, checked against the request's `S_0`.
    pub(crate) async fn run(
        &mut self,
        ctx: &Ctx,
        request_id: U256,
        defect: Option<&Defect>,
    ) -> Result<Arc<V4Job>> {
        if let Some(j) = self.runs.get(&request_id) {
            return Ok(j.clone());
        }
        let m = ctx.chain.market_v4()?;
        let req = ctx
            .chain
            .view_v4("getRequest", m.getRequest(request_id))
            .await?;
        let model = self.model(ctx, req.modelId).await?;
        let inputs: IntTensors = get_json(&ctx.store, &req.inputCid, "request input")?;
        let fault = match defect {
            Some(d) => Some(d.node(&model)?),
            None => None,
        };
        let s0 = req.inputCommitment;
        let started = std::time::Instant::now();
        let lowered = &model.model.lowered;
        let job = tokio::task::block_in_place(|| -> Result<V4Job> {
            let (played, fault) = match fault {
                // A test actor: the lie is chosen on the honest trace (which checks S_0), so
                // both are made now.
                Some(node) => {
                    let honest = trace(&model, &inputs.tensors, None, Some(s0))?;
                    let (element, t) = lie(&model, &inputs.tensors, &honest, node)?;
                    (OnceLock::from(t), Some((node, element)))
                }
                None => (OnceLock::new(), None),
            };
            let (outputs, output_state) =
                answer(&model.program, lowered, &inputs.tensors, s0, fault)?;
            Ok(V4Job {
                model: model.clone(),
                inputs: inputs.tensors,
                outputs,
                output_state,
                fault,
                trace: played,
            })
        })?;
        tracing::debug!(request = %request_id, seconds = started.elapsed().as_secs_f64(), lie = ?job.fault, "v4 run: outputs and S_n");
        let job = Arc::new(job);
        self.runs.insert(request_id, job.clone());
        Ok(job)
    }

    /// [`Jobs::run`], except that a request this party cannot run (its own fault:
    /// [`AgentError::is_request_fault`]) is recorded in `ctx`'s timeline once and skipped
    /// (`None`), so one bad request does not stop an agent serving the others. A restarted
    /// agent tries it again.
    pub(crate) async fn run_or_skip(
        &mut self,
        ctx: &Ctx,
        request_id: U256,
        defect: Option<&Defect>,
    ) -> Result<Option<Arc<V4Job>>> {
        if self.skipped.contains(&request_id) {
            return Ok(None);
        }
        match self.run(ctx, request_id, defect).await {
            Ok(job) => Ok(Some(job)),
            Err(e) if e.is_request_fault() => {
                ctx.timeline.record(
                    &ctx.role,
                    format!("skip request {request_id} (v4): cannot run it: {e}"),
                    None,
                );
                self.skipped.insert(request_id);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Drops the run of a settled request.
    pub(crate) fn forget(&mut self, request_id: U256) {
        self.runs.remove(&request_id);
    }
}

/// Makes `player`'s moves in game `id` while it is its turn (a few at most: a move such as
/// `commitTrace` or `resolveLeaf` is followed by another of the same side), each recorded in
/// `ctx`'s timeline. Returns how many were made.
pub(crate) async fn take_turns(ctx: &Ctx, player: &super::Player<'_>, id: U256) -> Result<usize> {
    let mut made = 0;
    // Bounded: no side moves more than twice in a row in the protocol (commitTrace then the
    // reveal; resolveLeaf then finishGame), so a larger count means the chain disagrees.
    while made < 4 {
        let started = std::time::Instant::now();
        let Some(mv) = player.step(id).await? else {
            break;
        };
        let what = if mv.phase.starts_with("resolveLeaf") {
            format!(
                "game {id}: {} — leaf proved and verified on chain ({:.2} s)",
                mv.phase,
                started.elapsed().as_secs_f64()
            )
        } else {
            format!("game {id}: {}", mv.phase)
        };
        ctx.record_tx(what, &mv.tx);
        made += 1;
    }
    Ok(made)
}

/// A game's outcome in words, from `role`'s side.
pub(crate) fn outcome(status: zkopml_chain::v4::GameStatus, role: super::Role) -> &'static str {
    use zkopml_chain::v4::GameStatus as S;
    match (status, role) {
        (S::SubmitterWon, super::Role::Submitter) | (S::ChallengerWon, super::Role::Challenger) => {
            "won"
        }
        (S::SubmitterWon, _) | (S::ChallengerWon, _) => "lost",
        (S::BothLost, _) => "lost (both sides)",
        (S::Cancelled, _) => "cancelled (bond refunded)",
        (S::Voided, _) => "voided (everything refunded)",
        (S::InProgress, _) => "in progress",
    }
}
