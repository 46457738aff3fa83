//! Reading the market for people: requests with their responses and games (typed statuses,
//! whose move, clocks and deadlines), and a request's final result as real numbers, checked
//! against the output commitment on chain.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, U256};
use serde::Serialize;
use zkopml_chain::{
    market::Types,
    types::{GamePhase, GameStatus, RequestStatus, ResponseStatus},
    Chain,
};
use zkopml_commit::fr_to_bytes32;
use zkopml_engine::{io::FloatTensor, output_commitment, Program, Tensor};

use crate::{data::get_json, AgentError, Ctx, IntTensors, Result};

/// A number read from the chain, as a JSON number where it fits 64 bits.
pub(crate) fn small(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// A game, as a person following it needs it.
#[derive(Clone, Debug, Serialize)]
pub struct GameView {
    /// Game id.
    pub id: u64,
    /// Response it disputes.
    pub response_id: u64,
    /// The challenger.
    pub challenger: Address,
    /// Whose move (or `Proving`, `Resolved`).
    pub phase: GamePhase,
    /// Outcome so far.
    pub status: GameStatus,
    /// Agreed step.
    pub lo: u32,
    /// First disputed step.
    pub hi: u32,
    /// Steps of the model.
    pub num_steps: u32,
    /// Completed bisection rounds.
    pub round: u32,
    /// Seconds left on the submitter's clock as of `turn_started_at`.
    pub submitter_clock: u64,
    /// Seconds left on the challenger's clock as of `turn_started_at`.
    pub challenger_clock: u64,
    /// When the current turn started.
    pub turn_started_at: u64,
    /// Last moment the side to move may move (the proving deadline in `Proving`; 0 once
    /// resolved). After it, anyone may claim the timeout.
    pub turn_deadline: u64,
    /// Proving deadline (0 before the leaf).
    pub proving_deadline: u64,
    /// The challenger's bond (wei).
    pub bond: u128,
}

/// A response, on either market (`S`: its status type, `G`: its game view).
#[derive(Clone, Debug, Serialize)]
pub struct ResponseView<S = ResponseStatus, G = GameView> {
    /// Response id.
    pub id: u64,
    /// Who posted it.
    pub submitter: Address,
    /// Its status.
    pub status: S,
    /// End of its challenge window.
    pub challenge_deadline: u64,
    /// Games still open on it.
    pub open_games: u32,
    /// The submitter's bond (wei).
    pub bond: u128,
    /// `S_n`.
    pub output_commitment: B256,
    /// CID of the output tensors.
    pub output_cid: String,
    /// The trace root (version 4: zero until a game needed it).
    pub trace_root: B256,
    /// Its games.
    pub games: Vec<G>,
}

/// A request with every response it received, on either market (`S`: its status type,
/// `R`: its response view).
#[derive(Clone, Debug, Serialize)]
pub struct RequestView<S = RequestStatus, R = ResponseView> {
    /// Request id.
    pub id: u64,
    /// The model.
    pub model_id: u64,
    /// Who asked.
    pub requester: Address,
    /// Its status.
    pub status: S,
    /// Fee in escrow or paid (wei).
    pub fee: u128,
    /// `S_0`.
    pub input_commitment: B256,
    /// CID of the input tensors.
    pub input_cid: String,
    /// Open since (re-opened after a disproof: since then).
    pub open_since: u64,
    /// Responses in the order they came, the current one last.
    pub responses: Vec<R>,
}

/// Every request on the market, with its responses and their games (oldest first). Reads
/// every record (a devnet-sized market; a public one is followed through its events).
pub async fn requests(chain: &Chain) -> Result<Vec<RequestView>> {
    let counts = chain.view("counts", chain.market().counts()).await?;
    let mut games: BTreeMap<u64, Vec<GameView>> = BTreeMap::new();
    for id in 1..=small(counts.games) {
        let g = chain
            .view("getGame", chain.market().getGame(U256::from(id)))
            .await?;
        games
            .entry(small(g.responseId))
            .or_default()
            .push(game_view(id, &g)?);
    }
    let mut responses: BTreeMap<u64, Vec<ResponseView>> = BTreeMap::new();
    for id in 1..=small(counts.responses) {
        let r = chain
            .view(
                "getResponseById",
                chain.market().getResponseById(U256::from(id)),
            )
            .await?;
        let v = response_view(id, &r, games.remove(&id).unwrap_or_default())?;
        responses.entry(small(r.requestId)).or_default().push(v);
    }
    let mut out = Vec::new();
    for id in 1..=small(counts.requests) {
        let r = chain
            .view("getRequest", chain.market().getRequest(U256::from(id)))
            .await?;
        out.push(RequestView {
            id,
            model_id: small(r.modelId),
            requester: r.requester,
            status: RequestStatus::try_from(r.status)?,
            fee: u128::try_from(r.fee).unwrap_or(u128::MAX),
            input_commitment: r.inputCommitment,
            input_cid: r.inputCid,
            open_since: r.openSince,
            responses: responses.remove(&id).unwrap_or_default(),
        });
    }
    Ok(out)
}

/// One request (with its responses and games); `UnknownRequest` if there is none.
pub async fn request(chain: &Chain, id: u64) -> Result<RequestView> {
    requests(chain)
        .await?
        .into_iter()
        .find(|r| r.id == id)
        .ok_or(AgentError::UnknownRequest(id))
}

fn game_view(id: u64, g: &Types::GameView) -> Result<GameView> {
    Ok(GameView {
        id,
        response_id: small(g.responseId),
        challenger: g.challenger,
        phase: GamePhase::try_from(g.phase)?,
        status: GameStatus::try_from(g.status)?,
        lo: g.lo,
        hi: g.hi,
        num_steps: g.numSteps,
        round: g.round,
        submitter_clock: g.submitterClock,
        challenger_clock: g.challengerClock,
        turn_started_at: g.turnStartedAt,
        turn_deadline: g.turnDeadline,
        proving_deadline: g.provingDeadline,
        bond: g.bond,
    })
}

fn response_view(id: u64, r: &Types::Response, games: Vec<GameView>) -> Result<ResponseView> {
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

/// A request's result: the current response's output as real numbers.
#[derive(Clone, Debug, Serialize)]
pub struct ResultView {
    /// Request id.
    pub request_id: u64,
    /// The market's protocol version (3, or 4 for `InferenceMarketV4`).
    pub protocol: u8,
    /// The request's status (the market's name for it).
    pub status: String,
    /// Whether the result is final (accepted; nothing can change it).
    #[serde(rename = "final")]
    pub is_final: bool,
    /// The output commitment on chain (`S_n`).
    pub output_commitment: B256,
    /// CID of the output tensors.
    pub output_cid: String,
    /// The outputs by name, dequantised (`q / 2^frac_bits`), in the tensor file format.
    pub outputs: BTreeMap<String, FloatTensor>,
}

/// `tensors`, the outputs of `program` in its order, by name and dequantised with the
/// program's scale (`q / 2^frac_bits`).
pub(crate) fn dequantise(program: &Program, tensors: &[Tensor]) -> BTreeMap<String, FloatTensor> {
    let scale = (1u64 << program.frac_bits) as f64;
    program
        .outputs
        .iter()
        .zip(tensors)
        .map(|(v, t)| {
            (
                program.values[*v].name.clone(),
                FloatTensor {
                    shape: t.shape.clone(),
                    data: t.data.iter().map(|q| Some(*q as f64 / scale)).collect(),
                },
            )
        })
        .collect()
}

/// The output of request `id`'s current response, fetched by CID and checked to commit to
/// the on-chain `S_n` (so a wrong file in the store is an error, not a result). Final only
/// once the request is `Finalized`; a pending one is returned with `is_final = false`.
pub async fn result(ctx: &Ctx, id: u64) -> Result<ResultView> {
    let chain = &ctx.chain;
    let req = chain
        .view("getRequest", chain.market().getRequest(U256::from(id)))
        .await?;
    let status = RequestStatus::try_from(req.status)?;
    if status == RequestStatus::None {
        return Err(AgentError::UnknownRequest(id));
    }
    if req.responseId == U256::ZERO {
        return Err(AgentError::NoResult {
            request: id,
            status: status.to_string(),
        });
    }
    let resp = chain
        .view(
            "getResponseById",
            chain.market().getResponseById(req.responseId),
        )
        .await?;
    if ResponseStatus::try_from(resp.status)? == ResponseStatus::Disproven {
        return Err(AgentError::NoResult {
            request: id,
            status: status.to_string(),
        });
    }
    let model = ctx.model(req.modelId).await?;
    let tensors: IntTensors = get_json(&ctx.store, &resp.outputCid, "output")?;
    let commitment = output_commitment(&model.program, &tensors.tensors)?;
    if B256::from(fr_to_bytes32(&commitment)) != resp.outputCommitment {
        return Err(AgentError::Inconsistent {
            what: format!("output {}", resp.outputCid),
            reason: format!(
                "commits to {}, the response on chain to {}",
                B256::from(fr_to_bytes32(&commitment)),
                resp.outputCommitment
            ),
        });
    }
    Ok(ResultView {
        request_id: id,
        protocol: 3,
        status: status.to_string(),
        is_final: status == RequestStatus::Finalized,
        output_commitment: resp.outputCommitment,
        output_cid: resp.outputCid,
        outputs: dequantise(&model.program, &tensors.tensors),
    })
}
