//! One read of the version-4 market for the page: models, requests (the agents' status
//! views), every market transaction with its gas and time, and each game's history rebuilt
//! from the market's events.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use zkopml_agents::v4::status::{self as v4status, GameView, RequestView};
use zkopml_chain::{
    descent_lib::LibChunkDescentLinked::LibChunkDescentLinkedEvents as Lib,
    market_v4::InferenceMarketV4::{InferenceMarketV4Calls, InferenceMarketV4Events as Ev},
    v4::{GameStatus, MarketEventKindV4, MarketEventV4, MinedTx, Side},
    Address, Chain, B256, U256,
};
use zkopml_store::{AnyStore, ContentStore, LocalStore};

use crate::Result;

/// A model registered on `ModelRegistryV4`, with its content checked in the store.
#[derive(Clone, Debug, Serialize)]
pub struct ModelView {
    /// Model id.
    pub id: u64,
    /// Who registered it.
    pub owner: Address,
    /// Root of the model tree (one leaf per template operator).
    pub model_root: B256,
    /// Steps of the lowered program.
    pub num_steps: u32,
    /// Template operators per step (N).
    pub ops_per_step: u32,
    /// Slots of a state.
    pub state_slots: u32,
    /// The ONNX file in the content store.
    pub onnx: ContentView,
    /// The compiled program in the content store.
    pub program: ContentView,
}

/// One CID of the content store, as read now: its size if the store has it (every read is
/// checked against the CID), or why not.
#[derive(Clone, Debug, Serialize)]
pub struct ContentView {
    /// The CID.
    pub cid: String,
    /// Its size in bytes, when the store returned it.
    pub bytes: Option<u64>,
    /// Why the read failed.
    pub error: Option<String>,
}

/// A mined transaction to the market, as the page's timeline shows it.
#[derive(Clone, Debug, Serialize)]
pub struct TxView {
    /// Its hash.
    pub hash: B256,
    /// Block number.
    pub block: u64,
    /// Block timestamp (seconds).
    pub time: u64,
    /// Sender.
    pub from: Address,
    /// Who sent it: `submitter` or `challenger` of its game, else the role the address plays
    /// in the market (`submitter`, `challenger`, `requester`, model `owner`), else `anyone`.
    pub actor: String,
    /// The market function called (from the calldata's selector).
    pub call: String,
    /// Gas used.
    pub gas_used: u64,
    /// The game it moved, if any.
    pub game: Option<u64>,
    /// The request it concerns, if known.
    pub request: Option<u64>,
    /// Its events, one short line each.
    pub events: Vec<String>,
}

/// One round of the step bisection (level 1): the submitter's split points and states, the
/// challenger's states, and the interval before and after.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RoundView {
    /// Round number (from 0).
    pub round: u32,
    /// Agreed step boundary before the round.
    pub lo_before: u32,
    /// First disputed boundary before the round.
    pub hi_before: u32,
    /// The split points the submitter revealed.
    pub points: Vec<u32>,
    /// The submitter's state leaves at the points.
    pub submitter_leaves: Vec<B256>,
    /// The challenger's state leaves at the points (empty until it revealed).
    pub challenger_leaves: Vec<B256>,
    /// Agreed boundary after the round (once the challenger revealed).
    pub lo: Option<u32>,
    /// First disputed boundary after the round.
    pub hi: Option<u32>,
}

/// Level 2: the disputed step opened by both sides, their operator outputs, and the first
/// operator whose outputs differ.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StepView {
    /// The disputed step (`lo`).
    pub step: u32,
    /// The submitter's `S_hi` once opened.
    pub submitter_state: Option<B256>,
    /// The challenger's `S_hi` once opened.
    pub challenger_state: Option<B256>,
    /// How many operator outputs each side revealed (submitter, challenger).
    pub outputs_revealed: (Option<usize>, Option<usize>),
    /// Position in the step of the first differing operator output.
    pub operator_position: Option<u32>,
    /// The submitter's output commitment there.
    pub submitter_output: Option<U256>,
    /// The challenger's output commitment there.
    pub challenger_output: Option<U256>,
    /// Both sides' outputs agreed: an assembly fault must be proven by this deadline.
    pub assembly_deadline: Option<u64>,
    /// Whose assembly fault was proven, and at which slot.
    pub assembly_fault: Option<(Side, u32)>,
}

/// One level of the chunk descent (level 3): the node both sides disagree on.
#[derive(Clone, Debug, Serialize)]
pub struct DescentLevelView {
    /// Level below the operator's output commitment.
    pub level: u8,
    /// Index of the disputed node at `level`.
    pub position: u64,
    /// The submitter's node.
    pub submitter_node: U256,
    /// The challenger's node.
    pub challenger_node: U256,
}

/// Level 3: the chunk descent into the disputed operator's output.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DescentHistory {
    /// The disputed operator's index in the model (`lo·N + position`).
    pub operator_index: u64,
    /// Its template's id.
    pub template_id: u64,
    /// Its template's name (`?` if this build does not know the id).
    pub template: String,
    /// Chunks of the operator's output.
    pub output_chunks: u64,
    /// Levels of its chunk tree.
    pub depth: u8,
    /// Seconds each side has for the descent.
    pub clock_per_side: u64,
    /// The roots each side opened (submitter, challenger).
    pub roots: (Option<U256>, Option<U256>),
    /// The descent as it narrowed, one entry per level.
    pub levels: Vec<DescentLevelView>,
    /// The leaf chunk reached, once reached.
    pub leaf_chunk: Option<u64>,
    /// Its proving deadline (0: a padding chunk, resolved at once).
    pub proving_deadline: Option<u64>,
}

/// The leaf proof of a game: which template proves which chunk, for which side, and whether
/// the verifier accepted it on chain.
#[derive(Clone, Debug, Serialize)]
pub struct LeafView {
    /// Template id.
    pub template_id: u64,
    /// Template name.
    pub template: String,
    /// The disputed operator's index in the model.
    pub operator_index: u64,
    /// The chunk proven.
    pub chunk: Option<u64>,
    /// The side whose digest the proof showed (once proven).
    pub proven_for: Option<Side>,
    /// Whether a proof was accepted by the template verifier (`resolveLeaf` mined; a rejected
    /// proof reverts and leaves no trace on chain).
    pub verified: bool,
    /// The verifier failed in a way other than rejecting the proof: the game was voided.
    pub voided: bool,
    /// The `resolveLeaf` transaction.
    pub tx: Option<B256>,
    /// Its gas.
    pub gas_used: Option<u64>,
}

/// A game with its history, for the page: the status view (whose move, clocks) and every
/// level as it narrowed.
#[derive(Clone, Debug, Serialize)]
pub struct GameHistory {
    /// The status view (`zkopml status`'s).
    pub view: GameView,
    /// Whom the game waits for, in words (`None` once resolved).
    pub waiting_for: Option<&'static str>,
    /// The request it disputes.
    pub request_id: u64,
    /// The response's submitter.
    pub submitter: Address,
    /// Level 1, round by round.
    pub rounds: Vec<RoundView>,
    /// Level 2, once reached.
    pub step: Option<StepView>,
    /// Level 3, once reached.
    pub descent: Option<DescentHistory>,
    /// The leaf proof, once the descent started.
    pub leaf: Option<LeafView>,
    /// The outcome, once resolved.
    pub outcome: Option<GameStatus>,
    /// The function whose transaction decided it (`finishGame` after a leaf proof,
    /// `claimTimeout`, `proveAssemblyFault`, …).
    pub decided_by: Option<String>,
    /// Gas of every transaction of the game, summed.
    pub total_gas: u64,
    /// Its transactions, oldest first (indices into [`Snapshot::transactions`]).
    pub moves: Vec<usize>,
}

/// Everything the page shows, read at one moment.
#[derive(Clone, Debug, Serialize)]
pub struct Snapshot {
    /// Chain id of the deployment.
    pub chain_id: u64,
    /// The RPC URL read.
    pub rpc: String,
    /// `InferenceMarketV4`'s address.
    pub market: Address,
    /// Latest block number.
    pub head: u64,
    /// The chain's time now (the later of the latest block's timestamp and the wall clock).
    pub now: u64,
    /// Registered models.
    pub models: Vec<ModelView>,
    /// Requests with their responses and games (`zkopml status --protocol 4`'s views).
    pub requests: Vec<RequestView>,
    /// Each game's history.
    pub games: Vec<GameHistory>,
    /// Every transaction that made the market emit an event, oldest first.
    pub transactions: Vec<TxView>,
}

/// What the explorer reads through: the chain, the content store, and what it keeps between
/// polls (mined transactions and content sizes do not change).
pub struct Reader {
    chain: Chain,
    store: AnyStore,
    txs: HashMap<B256, MinedTx>,
    content: HashMap<String, u64>,
    /// The market's events up to `scanned` (block number and hash), read once: each poll
    /// asks only for the blocks after it, unless that block is no longer on the node's chain
    /// (a reorganisation, a devnet restarted), when everything is read again.
    log: Vec<MarketEventV4>,
    scanned: Option<(u64, B256)>,
}

impl Reader {
    /// A reader of `chain`'s version-4 market and of `store`.
    pub fn new(chain: Chain, store: AnyStore) -> Self {
        Reader {
            chain,
            store,
            txs: HashMap::new(),
            content: HashMap::new(),
            log: Vec::new(),
            scanned: None,
        }
    }

    /// The market's events up to block `head` (whose hash is `head_hash`), in chain order.
    async fn market_log(&mut self, head: u64, head_hash: B256) -> Result<Vec<MarketEventV4>> {
        let from = match self.scanned {
            Some((n, h)) if n <= head && self.chain.block_hash(n).await? == Some(h) => n + 1,
            _ => {
                self.log.clear();
                self.txs.clear();
                0
            }
        };
        if from <= head {
            let new = self.chain.market_v4_log(from).await?;
            // Logs mined after `head` was read are left for the next poll, which reads from
            // `head + 1`.
            self.log.extend(new.into_iter().filter(|e| e.block <= head));
            self.scanned = Some((head, head_hash));
        }
        Ok(self.log.clone())
    }

    /// Reads a snapshot. Every chain read must succeed (a failure is the error); a content
    /// read that fails is shown in its [`ContentView`].
    pub async fn snapshot(&mut self) -> Result<Snapshot> {
        let chain = self.chain.clone();
        let (head, head_hash) = chain.head().await?;
        let now = chain.now().await?;
        let models = self.models().await?;
        let requests = v4status::requests(&chain).await?;
        let log = self.market_log(head, head_hash).await?;
        let mut by_tx: Vec<(B256, Vec<MarketEventV4>)> = Vec::new();
        for e in log {
            match by_tx.last_mut() {
                Some((h, v)) if *h == e.tx_hash => v.push(e),
                _ => by_tx.push((e.tx_hash, vec![e])),
            }
        }
        let views: BTreeMap<u64, (GameView, u64, Address)> = requests
            .iter()
            .flat_map(|r| {
                r.responses.iter().flat_map(move |resp| {
                    resp.games
                        .iter()
                        .map(move |g| (g.id, (g.clone(), r.id, resp.submitter)))
                })
            })
            .collect();
        let mut games: BTreeMap<u64, GameHistory> = views
            .iter()
            .map(|(id, (v, request_id, submitter))| {
                (
                    *id,
                    GameHistory {
                        view: v.clone(),
                        waiting_for: v.waiting_for(),
                        request_id: *request_id,
                        submitter: *submitter,
                        rounds: Vec::new(),
                        step: None,
                        descent: None,
                        leaf: None,
                        outcome: None,
                        decided_by: None,
                        total_gas: 0,
                        moves: Vec::new(),
                    },
                )
            })
            .collect();
        // Who is who, for transactions outside any game (a withdrawal, a finalisation).
        let mut roles: HashMap<Address, &'static str> = HashMap::new();
        for m in &models {
            roles.insert(m.owner, "owner");
        }
        for r in &requests {
            roles.insert(r.requester, "requester");
        }
        for h in games.values() {
            roles.insert(h.view.challenger, "challenger");
        }
        for r in &requests {
            for resp in &r.responses {
                roles.insert(resp.submitter, "submitter");
            }
        }
        let mut transactions = Vec::new();
        for (hash, events) in by_tx {
            let tx = match self.txs.get(&hash) {
                Some(t) => t.clone(),
                None => match chain.mined_tx(hash).await? {
                    Some(t) => {
                        self.txs.insert(hash, t.clone());
                        t
                    }
                    // Logged but not yet retrievable (a node behind its own logs): next poll.
                    None => continue,
                },
            };
            let call = call_name(&tx);
            let game = events.iter().find_map(|e| game_of(&e.event));
            let request = events
                .iter()
                .find_map(|e| request_of(&e.event))
                .or_else(|| game.and_then(|g| games.get(&g).map(|h| h.request_id)));
            let actor = match game.and_then(|g| games.get(&g)) {
                Some(h) if h.submitter == tx.from => "submitter",
                Some(h) if h.view.challenger == tx.from => "challenger",
                _ => roles.get(&tx.from).copied().unwrap_or("anyone"),
            };
            let index = transactions.len();
            if let Some(h) = game.and_then(|g| games.get_mut(&g)) {
                h.total_gas += tx.gas_used;
                h.moves.push(index);
                for e in &events {
                    apply(h, &e.event, &call, &tx);
                }
            }
            transactions.push(TxView {
                hash,
                block: tx.block,
                time: tx.timestamp,
                from: tx.from,
                actor: actor.to_string(),
                call,
                gas_used: tx.gas_used,
                game,
                request,
                events: events.iter().map(|e| describe(&e.event)).collect(),
            });
        }
        Ok(Snapshot {
            chain_id: chain.deployment.chain_id,
            rpc: chain.deployment.rpc.clone(),
            market: chain.market_v4()?.address().to_owned(),
            head,
            now,
            models,
            requests,
            games: games.into_values().collect(),
            transactions,
        })
    }

    async fn models(&mut self) -> Result<Vec<ModelView>> {
        let reg = self.chain.registry_v4()?;
        let count = self.chain.view_v4("modelCount", reg.modelCount()).await?;
        let mut out = Vec::new();
        for id in 1..=u64::try_from(count).unwrap_or(u64::MAX) {
            let m = self
                .chain
                .view_v4("getModel", reg.getModel(U256::from(id)))
                .await?;
            out.push(ModelView {
                id,
                owner: m.owner,
                model_root: m.modelRoot,
                num_steps: m.numSteps,
                ops_per_step: m.opsPerStep,
                state_slots: m.stateSlots,
                onnx: self.content(&m.onnxCid).await,
                program: self.content(&m.programCid).await,
            });
        }
        Ok(out)
    }

    /// The size of `cid` in the store (read in full, checked against the CID, once).
    async fn content(&mut self, cid: &str) -> ContentView {
        if let Some(n) = self.content.get(cid) {
            return ContentView {
                cid: cid.to_string(),
                bytes: Some(*n),
                error: None,
            };
        }
        let (store, c) = (self.store.clone(), cid.to_string());
        // The store reads block (files, or a kubo node over blocking HTTP).
        let read = tokio::task::spawn_blocking(move || {
            LocalStore::parse(&c)
                .and_then(|cid| store.get(&cid))
                .map(|b| b.len() as u64)
                .map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|e| Err(format!("store read panicked: {e}")));
        match read {
            Ok(n) => {
                self.content.insert(cid.to_string(), n);
                ContentView {
                    cid: cid.to_string(),
                    bytes: Some(n),
                    error: None,
                }
            }
            Err(error) => ContentView {
                cid: cid.to_string(),
                bytes: None,
                error: Some(error),
            },
        }
    }
}

/// The market function a transaction called, from its selector.
fn call_name(tx: &MinedTx) -> String {
    tx.input
        .get(..4)
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .and_then(InferenceMarketV4Calls::name_by_selector)
        .unwrap_or("?")
        .to_string()
}

fn small(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

/// The game a market event belongs to, if it names one.
fn game_of(e: &MarketEventKindV4) -> Option<u64> {
    let MarketEventKindV4::Market(e) = e else {
        return None;
    };
    Some(small(match e {
        Ev::GameCreated(e) => e.gameId,
        Ev::SubmitterRevealed(e) => e.gameId,
        Ev::ChallengerRevealed(e) => e.gameId,
        Ev::StepOpened(e) => e.gameId,
        Ev::OutputsRevealed(e) => e.gameId,
        Ev::AssemblyProvingStarted(e) => e.gameId,
        Ev::OperatorFound(e) => e.gameId,
        Ev::DescentBegan(e) => e.gameId,
        Ev::DescentMoved(e) => e.gameId,
        Ev::AssemblyFaultProven(e) => e.gameId,
        Ev::GameResolved(e) => e.gameId,
        Ev::ResponseVoided(e) => e.gameId,
        _ => return None,
    }))
}

/// The request a market event names, if any.
fn request_of(e: &MarketEventKindV4) -> Option<u64> {
    let MarketEventKindV4::Market(e) = e else {
        return None;
    };
    Some(small(match e {
        Ev::RequestCreated(e) => e.requestId,
        Ev::ResponseSubmitted(e) => e.requestId,
        Ev::RequestFinalized(e) => e.requestId,
        Ev::RequestCancelled(e) => e.requestId,
        Ev::ResponseDisproven(e) => e.requestId,
        Ev::ResponseVoided(e) => e.requestId,
        Ev::GameCreated(e) => e.requestId,
        Ev::GameResolved(e) => e.requestId,
        _ => return None,
    }))
}

fn side(v: u8) -> Option<Side> {
    Side::try_from(v).ok()
}

fn side_name(v: u8) -> &'static str {
    side(v).map_or("?", |s| s.name())
}

fn template_name(id: u64) -> String {
    usize::try_from(id)
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| zkopml_prover::templates::TEMPLATES.get(i))
        .map_or_else(|| "?".to_string(), |t| t.to_string())
}

fn short(h: impl std::fmt::Display) -> String {
    let s = h.to_string();
    if s.len() > 14 {
        format!("{}…{}", &s[..8], &s[s.len() - 4..])
    } else {
        s
    }
}

/// Folds one event of a game's transaction into its history.
fn apply(h: &mut GameHistory, e: &MarketEventKindV4, call: &str, tx: &MinedTx) {
    match e {
        MarketEventKindV4::Market(e) => match e {
            Ev::SubmitterRevealed(e) => {
                let (lo_before, hi_before) = h.rounds.last().map_or((0, h.view.num_steps), |r| {
                    (r.lo.unwrap_or(r.lo_before), r.hi.unwrap_or(r.hi_before))
                });
                h.rounds.push(RoundView {
                    round: e.round,
                    lo_before,
                    hi_before,
                    points: e.points.clone(),
                    submitter_leaves: e.leaves.clone(),
                    ..RoundView::default()
                });
            }
            Ev::ChallengerRevealed(e) => {
                if let Some(r) = h.rounds.iter_mut().rev().find(|r| r.round == e.round) {
                    r.challenger_leaves = e.leaves.clone();
                    r.lo = Some(e.lo);
                    r.hi = Some(e.hi);
                }
            }
            Ev::StepOpened(e) => {
                let step = h.step.get_or_insert_with(|| StepView {
                    step: h.view.lo,
                    ..StepView::default()
                });
                match side(e.side) {
                    Some(Side::Submitter) => step.submitter_state = Some(e.stateHi),
                    _ => step.challenger_state = Some(e.stateHi),
                }
            }
            Ev::OutputsRevealed(e) => {
                let step = h.step.get_or_insert_with(StepView::default);
                match side(e.side) {
                    Some(Side::Submitter) => step.outputs_revealed.0 = Some(e.outputs.len()),
                    _ => step.outputs_revealed.1 = Some(e.outputs.len()),
                }
            }
            Ev::AssemblyProvingStarted(e) => {
                h.step
                    .get_or_insert_with(StepView::default)
                    .assembly_deadline = Some(e.deadline);
            }
            Ev::AssemblyFaultProven(e) => {
                if let Some(s) = side(e.side) {
                    h.step.get_or_insert_with(StepView::default).assembly_fault = Some((s, e.slot));
                }
            }
            Ev::OperatorFound(e) => {
                let step = h.step.get_or_insert_with(StepView::default);
                step.operator_position = Some(e.position);
                step.submitter_output = Some(e.submitterOutput);
                step.challenger_output = Some(e.challengerOutput);
            }
            Ev::DescentBegan(e) => {
                let template_id = small(e.templateId);
                let d = h.descent.get_or_insert_with(DescentHistory::default);
                d.operator_index = small(e.operatorIndex);
                d.template_id = template_id;
                d.template = template_name(template_id);
                h.leaf = Some(LeafView {
                    template_id,
                    template: d.template.clone(),
                    operator_index: d.operator_index,
                    chunk: None,
                    proven_for: None,
                    verified: false,
                    voided: false,
                    tx: None,
                    gas_used: None,
                });
            }
            Ev::DescentMoved(e) if call == "resolveLeaf" => {
                if let Some(leaf) = h.leaf.as_mut() {
                    leaf.proven_for = side(e.side);
                    leaf.verified = tx.success;
                    leaf.tx = Some(tx.hash);
                    leaf.gas_used = Some(tx.gas_used);
                }
            }
            Ev::ResponseVoided(_) => {
                if let Some(leaf) = h.leaf.as_mut().filter(|_| call == "resolveLeaf") {
                    leaf.voided = true;
                    leaf.tx = Some(tx.hash);
                    leaf.gas_used = Some(tx.gas_used);
                }
            }
            Ev::GameResolved(e) => {
                h.outcome = GameStatus::try_from(e.status).ok();
                h.decided_by = Some(call.to_string());
            }
            _ => {}
        },
        MarketEventKindV4::Descent(e) => {
            let d = h.descent.get_or_insert_with(DescentHistory::default);
            match e {
                Lib::DescentStarted(e) => {
                    d.output_chunks = e.outputChunks;
                    d.depth = e.depth;
                    d.clock_per_side = e.clockPerSide;
                }
                Lib::DescentRootOpened(e) => match side(e.side) {
                    Some(Side::Submitter) => d.roots.0 = Some(e.root),
                    _ => d.roots.1 = Some(e.root),
                },
                Lib::DescentNarrowed(e) => d.levels.push(DescentLevelView {
                    level: e.level,
                    position: e.position,
                    submitter_node: e.submitterNode,
                    challenger_node: e.challengerNode,
                }),
                Lib::DescentLeafReached(e) => {
                    d.leaf_chunk = Some(e.position);
                    d.proving_deadline = Some(e.provingDeadline);
                    if let Some(leaf) = h.leaf.as_mut() {
                        leaf.chunk = Some(e.position);
                    }
                }
                Lib::DescentChildrenRevealed(_) | Lib::DescentResolved(_) => {}
            }
        }
    }
}

/// One event as a short line for the timeline.
fn describe(e: &MarketEventKindV4) -> String {
    match e {
        MarketEventKindV4::Market(e) => match e {
            Ev::RequestCreated(e) => format!(
                "RequestCreated: request {} on model {}",
                e.requestId, e.modelId
            ),
            Ev::ResponseSubmitted(e) => format!(
                "ResponseSubmitted: response {} to request {}, S_n {}",
                e.responseId,
                e.requestId,
                short(e.outputCommitment)
            ),
            Ev::TraceCommitted(e) => format!(
                "TraceCommitted: response {}, root {}",
                e.responseId,
                short(e.traceRoot)
            ),
            Ev::RequestFinalized(e) => format!(
                "RequestFinalized: request {} by response {}",
                e.requestId, e.responseId
            ),
            Ev::RequestCancelled(e) => format!("RequestCancelled: request {}", e.requestId),
            Ev::ResponseDisproven(e) => format!(
                "ResponseDisproven: response {}, reward {} wei to {}, {} wei burned",
                e.responseId,
                e.reward,
                short(e.payee),
                e.burned
            ),
            Ev::ResponseVoided(e) => format!(
                "ResponseVoided: response {} (game {})",
                e.responseId, e.gameId
            ),
            Ev::GameCreated(e) => format!(
                "GameCreated: game {} on response {}",
                e.gameId, e.responseId
            ),
            Ev::SubmitterRevealed(e) => format!(
                "SubmitterRevealed: round {}, points {:?}",
                e.round, e.points
            ),
            Ev::ChallengerRevealed(e) => format!(
                "ChallengerRevealed: round {}, now [{}, {}]",
                e.round, e.lo, e.hi
            ),
            Ev::StepOpened(e) => format!(
                "StepOpened: {} S_hi {}",
                side_name(e.side),
                short(e.stateHi)
            ),
            Ev::OutputsRevealed(e) => format!(
                "OutputsRevealed: {} {} outputs",
                side_name(e.side),
                e.outputs.len()
            ),
            Ev::AssemblyProvingStarted(e) => {
                format!("AssemblyProvingStarted: until {}", e.deadline)
            }
            Ev::OperatorFound(e) => format!("OperatorFound: position {}", e.position),
            Ev::DescentBegan(e) => format!(
                "DescentBegan: operator {}, template {}",
                e.operatorIndex,
                template_name(small(e.templateId))
            ),
            Ev::DescentMoved(e) => format!("DescentMoved: {}", side_name(e.side)),
            Ev::AssemblyFaultProven(e) => {
                format!("AssemblyFaultProven: {} slot {}", side_name(e.side), e.slot)
            }
            Ev::GameResolved(e) => format!(
                "GameResolved: game {} {}",
                e.gameId,
                GameStatus::try_from(e.status).map_or("?", |s| s.name())
            ),
            Ev::Credited(e) => format!("Credited: {} wei to {}", e.amount, short(e.account)),
            Ev::Burned(e) => format!("Burned: {} wei", e.amount),
            Ev::Withdrawn(e) => format!("Withdrawn: {} wei by {}", e.amount, short(e.account)),
            Ev::DescentResolved(e) => format!(
                "DescentResolved: {}",
                GameStatus::try_from(e.status).map_or("?", |s| s.name())
            ),
        },
        MarketEventKindV4::Descent(e) => match e {
            Lib::DescentStarted(e) => format!(
                "DescentStarted: {} chunks, depth {}",
                e.outputChunks, e.depth
            ),
            Lib::DescentRootOpened(e) => format!(
                "DescentRootOpened: {} root {}",
                side_name(e.side),
                short(e.root)
            ),
            Lib::DescentChildrenRevealed(e) => format!(
                "DescentChildrenRevealed: {} level {} node {}",
                side_name(e.side),
                e.level,
                e.position
            ),
            Lib::DescentNarrowed(e) => {
                format!("DescentNarrowed: level {} node {}", e.level, e.position)
            }
            Lib::DescentLeafReached(e) => format!(
                "DescentLeafReached: chunk {}, prove by {}",
                e.position, e.provingDeadline
            ),
            Lib::DescentResolved(e) => format!(
                "DescentResolved: {}",
                GameStatus::try_from(e.status).map_or("?", |s| s.name())
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use zkopml_chain::{
        descent_lib::LibChunkDescentLinked::{DescentLeafReached, DescentNarrowed},
        market_v4::InferenceMarketV4::{
            ChallengerRevealed, DescentBegan, DescentMoved, GameResolved, SubmitterRevealed,
        },
        v4::Phase,
        Bytes,
    };

    use super::*;

    fn history(num_steps: u32) -> GameHistory {
        GameHistory {
            view: GameView {
                id: 1,
                response_id: 1,
                challenger: Address::repeat_byte(2),
                phase: Phase::SubmitterReveal,
                status: GameStatus::InProgress,
                lo: 0,
                hi: num_steps,
                num_steps,
                round: 0,
                op_position: 0,
                submitter_clock: 600,
                challenger_clock: 600,
                turn_started_at: 0,
                turn_deadline: 0,
                bond: 0,
                descent: None,
            },
            waiting_for: None,
            request_id: 1,
            submitter: Address::repeat_byte(1),
            rounds: Vec::new(),
            step: None,
            descent: None,
            leaf: None,
            outcome: None,
            decided_by: None,
            total_gas: 0,
            moves: Vec::new(),
        }
    }

    fn tx(success: bool) -> MinedTx {
        MinedTx {
            hash: B256::repeat_byte(9),
            from: Address::repeat_byte(2),
            block: 7,
            timestamp: 70,
            gas_used: 274_000,
            success,
            input: Bytes::new(),
        }
    }

    fn market(e: Ev) -> MarketEventKindV4 {
        MarketEventKindV4::Market(e)
    }

    /// Rounds chain their intervals (each starts where the last narrowed to), the descent
    /// records each level and the leaf chunk, a mined `resolveLeaf` marks the leaf verified
    /// for the side its `DescentMoved` names, and `GameResolved` is the outcome.
    #[test]
    fn a_game_history_folds_from_its_events() {
        let mut h = history(87);
        let t = tx(true);
        let reveal = |round, points: Vec<u32>| {
            market(Ev::SubmitterRevealed(SubmitterRevealed {
                gameId: U256::from(1),
                round,
                leaves: vec![B256::ZERO; points.len()],
                points,
            }))
        };
        let answer = |round, lo, hi| {
            market(Ev::ChallengerRevealed(ChallengerRevealed {
                gameId: U256::from(1),
                round,
                leaves: vec![B256::ZERO; 4],
                lo,
                hi,
            }))
        };
        apply(
            &mut h,
            &reveal(0, vec![17, 34, 52, 69]),
            "submitterReveal",
            &t,
        );
        apply(&mut h, &answer(0, 34, 52), "challengerReveal", &t);
        apply(
            &mut h,
            &reveal(1, vec![37, 41, 44, 48]),
            "submitterReveal",
            &t,
        );
        assert_eq!((h.rounds[0].lo_before, h.rounds[0].hi_before), (0, 87));
        assert_eq!((h.rounds[0].lo, h.rounds[0].hi), (Some(34), Some(52)));
        assert_eq!((h.rounds[1].lo_before, h.rounds[1].hi_before), (34, 52));
        assert_eq!(
            h.rounds[1].lo, None,
            "the challenger has not answered round 1"
        );

        apply(
            &mut h,
            &market(Ev::DescentBegan(DescentBegan {
                gameId: U256::from(1),
                operatorIndex: U256::from(183),
                templateId: U256::from(1),
            })),
            "startDescent",
            &t,
        );
        let lib = |e| MarketEventKindV4::Descent(e);
        apply(
            &mut h,
            &lib(Lib::DescentNarrowed(DescentNarrowed {
                level: 1,
                position: 0,
                submitterNode: U256::from(5),
                challengerNode: U256::from(6),
            })),
            "descentReveal",
            &t,
        );
        apply(
            &mut h,
            &lib(Lib::DescentLeafReached(DescentLeafReached {
                position: 2,
                submitterDigest: U256::from(1),
                challengerDigest: U256::from(2),
                provingDeadline: 900,
            })),
            "descentReveal",
            &t,
        );
        // A DescentMoved outside resolveLeaf is a descent move, not a proof.
        let moved = market(Ev::DescentMoved(DescentMoved {
            gameId: U256::from(1),
            side: 1,
        }));
        apply(&mut h, &moved, "descentReveal", &t);
        assert!(!h.leaf.as_ref().unwrap().verified);
        apply(&mut h, &moved, "resolveLeaf", &t);
        apply(
            &mut h,
            &market(Ev::GameResolved(GameResolved {
                gameId: U256::from(1),
                requestId: U256::from(1),
                status: 2,
            })),
            "finishGame",
            &t,
        );
        let d = h.descent.as_ref().unwrap();
        assert_eq!(
            (d.operator_index, d.template.as_str()),
            (183, "clip_chunk/v1")
        );
        assert_eq!(d.levels.len(), 1);
        assert_eq!(d.leaf_chunk, Some(2));
        let leaf = h.leaf.as_ref().unwrap();
        assert!(leaf.verified);
        assert_eq!(leaf.proven_for, Some(Side::Challenger));
        assert_eq!(leaf.chunk, Some(2));
        assert_eq!(leaf.gas_used, Some(274_000));
        assert_eq!(h.outcome, Some(GameStatus::ChallengerWon));
        assert_eq!(h.decided_by.as_deref(), Some("finishGame"));
    }

    #[test]
    fn unknown_template_ids_and_selectors_read_as_unknown() {
        assert_eq!(template_name(0), "?");
        assert_eq!(template_name(1), "clip_chunk/v1");
        assert_eq!(template_name(10_000), "?");
        assert_eq!(call_name(&tx(true)), "?");
    }
}
