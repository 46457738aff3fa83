//! Reading the version-4 market for people (docs/protocol.md §10): requests with their
//! responses and games — which level a game is at (step bisection, the step's operators,
//! the chunk descent), whose move, the deadline of that move and the clocks — and a
//! request's result as real numbers, checked against `S_n` on chain.

use std::collections::BTreeMap;

use alloy_primitives::{Address, U256};
use serde::Serialize;
use zkopml_chain::{
    market_v4::{
        Types::ChunkDescent,
        TypesV4::{Game, Response},
    },
    v4::{DescentPhase, GameStatus, Phase, RequestStatus, ResponseStatus},
    Chain,
};
use zkopml_prover::v4::output_state;

use super::model::load;
use crate::{
    data::get_json,
    status::{dequantise, small, ResultView},
    AgentError, Ctx, IntTensors, Result,
};

/// Where a version-4 game stands in the chunk descent (level 3): which operator output
/// chunk range is disputed, and how deep the descent has gone.
#[derive(Clone, Debug, Serialize)]
pub struct DescentView {
    /// Its state.
    pub phase: DescentPhase,
    /// Levels of the chunk tree below the operator's output commitment.
    pub depth: u8,
    /// Levels descended so far.
    pub level: u8,
    /// Index of the disputed node at `level`.
    pub position: u64,
    /// Chunks of the disputed operator's output.
    pub output_chunks: u64,
    /// Seconds left on the submitter's descent clock as of `turn_started_at`.
    pub submitter_clock: u64,
    /// Seconds left on the challenger's descent clock as of `turn_started_at`.
    pub challenger_clock: u64,
    /// When the descent's current turn started.
    pub turn_started_at: u64,
    /// Proving deadline of the leaf (0 before it).
    pub proving_deadline: u64,
}

/// A version-4 game, as a person following it needs it.
#[derive(Clone, Debug, Serialize)]
pub struct GameView {
    /// Game id.
    pub id: u64,
    /// Response it disputes.
    pub response_id: u64,
    /// The challenger.
    pub challenger: Address,
    /// Whose move, at which level.
    pub phase: Phase,
    /// Outcome so far.
    pub status: GameStatus,
    /// Agreed step boundary.
    pub lo: u32,
    /// First disputed step boundary.
    pub hi: u32,
    /// Steps of the model.
    pub num_steps: u32,
    /// Completed step-bisection rounds.
    pub round: u32,
    /// The disputed operator's position in its step (level 3).
    pub op_position: u32,
    /// Seconds left on the submitter's clock (levels 1–2) as of `turn_started_at`.
    pub submitter_clock: u64,
    /// Seconds left on the challenger's clock (levels 1–2) as of `turn_started_at`.
    pub challenger_clock: u64,
    /// When the current turn started.
    pub turn_started_at: u64,
    /// Last moment the side to move may move, or the leaf be proven (0 once resolved):
    /// after it, anyone may claim the timeout.
    pub turn_deadline: u64,
    /// The challenger's bond (wei).
    pub bond: u128,
    /// The chunk descent, once level 3 started.
    pub descent: Option<DescentView>,
}

impl GameView {
    /// Which side the game waits for, in words (`None` once resolved).
    pub fn waiting_for(&self) -> Option<&'static str> {
        if self.status != GameStatus::InProgress {
            return None;
        }
        Some(match self.phase {
            Phase::SubmitterReveal => "submitter to reveal its split points",
            Phase::ChallengerReveal => "challenger to reveal its split points",
            Phase::SubmitterOpenStep => "submitter to open the disputed step",
            Phase::ChallengerOpenStep => "challenger to open the disputed step",
            Phase::SubmitterOps => "submitter to reveal the step's operator outputs",
            Phase::ChallengerOps => "challenger to reveal the step's operator outputs",
            Phase::AssemblyProving => "an assembly-fault proof",
            Phase::DescentStart => "the chunk descent to start (submitter's clock)",
            Phase::Descent => match self.descent.as_ref().map(|d| d.phase) {
                Some(DescentPhase::SubmitterOpen) => "submitter to open its operator output",
                Some(DescentPhase::ChallengerOpen) => "challenger to open its operator output",
                Some(DescentPhase::SubmitterReveal) => "submitter to reveal a chunk node",
                Some(DescentPhase::ChallengerReveal) => "challenger to reveal a chunk node",
                Some(DescentPhase::Proving) => "the leaf proof",
                _ => "the chunk descent",
            },
            Phase::Resolved => return None,
        })
    }
}

/// A version-4 response.
pub type ResponseView = crate::status::ResponseView<ResponseStatus, GameView>;

/// A version-4 request with every response it received.
pub type RequestView = crate::status::RequestView<RequestStatus, ResponseView>;

/// Every version-4 request, with its responses and their games (oldest first). Reads every
/// record (a devnet-sized market).
pub async fn requests(chain: &Chain) -> Result<Vec<RequestView>> {
    let m = chain.market_v4()?;
    let counts = chain.view_v4("counts", m.counts()).await?;
    let mut games: BTreeMap<u64, Vec<GameView>> = BTreeMap::new();
    for id in 1..=small(counts.games) {
        let v = game_view(chain, id).await?;
        games.entry(v.response_id).or_default().push(v);
    }
    let mut responses: BTreeMap<u64, Vec<ResponseView>> = BTreeMap::new();
    for id in 1..=small(counts.responses) {
        let r = chain
            .view_v4("getResponse", m.getResponse(U256::from(id)))
            .await?;
        let v = response_view(id, &r, games.remove(&id).unwrap_or_default())?;
        responses.entry(small(r.requestId)).or_default().push(v);
    }
    let mut out = Vec::new();
    for id in 1..=small(counts.requests) {
        let r = chain
            .view_v4("getRequest", m.getRequest(U256::from(id)))
            .await?;
        let mut resp = responses.remove(&id).unwrap_or_default();
        for resp in &mut resp {
            for g in &mut resp.games {
                g.num_steps = r.spec.numSteps;
            }
        }
        out.push(RequestView {
            id,
            model_id: small(r.modelId),
            requester: r.requester,
            status: RequestStatus::try_from(r.status)?,
            fee: u128::try_from(r.fee).unwrap_or(u128::MAX),
            input_commitment: r.inputCommitment,
            input_cid: r.inputCid,
            open_since: r.openSince,
            responses: resp,
        });
    }
    Ok(out)
}

/// One version-4 request (with its responses and games); `UnknownRequest` if there is none.
pub async fn request(chain: &Chain, id: u64) -> Result<RequestView> {
    requests(chain)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(AgentError::UnknownRequest(id))
}

async fn game_view(chain: &Chain, id: u64) -> Result<GameView> {
    let m = chain.market_v4()?;
    let gid = U256::from(id);
    let g: Game = chain.view_v4("getGame", m.getGame(gid)).await?;
    let phase = Phase::try_from(g.phase)?;
    let turn_deadline = chain.view_v4("turnDeadline", m.turnDeadline(gid)).await?;
    // A game that reached level 3 keeps its descent record after it resolves.
    let descent = if matches!(phase, Phase::Descent | Phase::Resolved) {
        let d: ChunkDescent = chain.view_v4("getDescent", m.getDescent(gid)).await?;
        descent_view(&d)?
    } else {
        None
    };
    Ok(GameView {
        id,
        response_id: small(g.responseId),
        challenger: g.challenger,
        phase,
        status: GameStatus::try_from(g.status)?,
        lo: g.lo,
        hi: g.hi,
        num_steps: 0,
        round: g.round,
        op_position: g.opPosition,
        submitter_clock: g.submitterClock,
        challenger_clock: g.challengerClock,
        turn_started_at: g.turnStartedAt,
        turn_deadline,
        bond: g.bond,
        descent,
    })
}

fn descent_view(d: &ChunkDescent) -> Result<Option<DescentView>> {
    let phase = DescentPhase::try_from(d.phase)?;
    if phase == DescentPhase::None {
        return Ok(None);
    }
    Ok(Some(DescentView {
        phase,
        depth: d.depth,
        level: d.level,
        position: d.position,
        output_chunks: d.outputChunks,
        submitter_clock: d.submitterClock,
        challenger_clock: d.challengerClock,
        turn_started_at: d.turnStartedAt,
        proving_deadline: d.provingDeadline,
    }))
}

fn response_view(id: u64, r: &Response, games: Vec<GameView>) -> Result<ResponseView> {
    Ok(ResponseView {
        id,
        submitter: r.submitter,
        status: ResponseStatus::try_from(r.status)?,
        challenge_deadline: r.challengeDeadline,
        open_games: r.openGames,
        bond: r.bond,
        output_commitment: r.outputCommitment,
        output_cid: r.outputCid.clone(),
        trace_root: r.traceRoot,
        games,
    })
}

/// The output of version-4 request `id`'s current response, fetched by CID and checked to
/// commit to the on-chain `S_n` (a wrong file in the store is an error, not a result). Final
/// only once the request is `Finalized`.
pub async fn result(ctx: &Ctx, id: u64) -> Result<ResultView> {
    let chain = &ctx.chain;
    let m = chain.market_v4()?;
    let req = chain
        .view_v4("getRequest", m.getRequest(U256::from(id)))
        .await?;
    let status = RequestStatus::try_from(req.status)?;
    let no_result = || AgentError::NoResult {
        request: id,
        status: status.to_string(),
    };
    if status == RequestStatus::None {
        return Err(AgentError::UnknownRequest(id));
    }
    if req.responseId == U256::ZERO {
        return Err(no_result());
    }
    let resp = chain
        .view_v4("getResponse", m.getResponse(req.responseId))
        .await?;
    if matches!(
        ResponseStatus::try_from(resp.status)?,
        ResponseStatus::Disproven | ResponseStatus::Voided
    ) {
        return Err(no_result());
    }
    let model = load(ctx, req.modelId).await?;
    let tensors: IntTensors = get_json(&ctx.store, &resp.outputCid, "output")?;
    let s_n = output_state(&model.model.lowered, &tensors.tensors)?;
    // INVARIANT: a result is shown only if it is what the response committed to on chain.
    if s_n != resp.outputCommitment {
        return Err(AgentError::Inconsistent {
            what: format!("output {}", resp.outputCid),
            reason: format!(
                "commits to S_n = {s_n}, the response on chain to {}",
                resp.outputCommitment
            ),
        });
    }
    Ok(ResultView {
        request_id: id,
        protocol: 4,
        status: status.to_string(),
        is_final: status == RequestStatus::Finalized,
        output_commitment: resp.outputCommitment,
        output_cid: resp.outputCid,
        outputs: dequantise(&model.program, &tensors.tensors),
    })
}
