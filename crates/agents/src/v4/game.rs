//! Playing a version-4 game (docs/protocol.md §10.2) from a lowered program and a party's
//! own trace: every move of levels 1–3 for either role, the leaf with a real template proof,
//! and timeouts.
//!
//! Call order for a dispute: [`register`] (no key setup: the model root commits the operator
//! leaves, the template keys are the protocol's), [`request`], [`respond`] (the submitter's
//! S_n), [`challenge`] (the challenger's S'_n and trace root), then [`Player::step`] for each
//! side until the game is over ([`play`] alternates them), then [`finalize`] after the
//! challenge window if the response stands.

use alloy_primitives::{B256, U256};
use tracing::{debug, info};
use zkopml_chain::{
    market_v4::{
        InferenceMarketV4::{
            GameCreated, OutputsRevealed, RequestCreated, StepOpened, SubmitterRevealed,
        },
        TypesV4::{AssemblyOpening, Game, LeafStatement, OperatorLeaf},
    },
    registry_v4::{
        ModelRegistryV4::ModelRegistered,
        TypesV4::{GameParams, Model},
    },
    v4::{DescentPhase, GameStatus, Phase, Side},
    CallBuilder, CallDecoder, Chain, DynProvider, SolEvent, TxInfo,
};
use zkopml_commit::{KeccakTree, MerkleProof};
use zkopml_prover::v4::{fr_u256, LeafInstance, Lowered, Source, V4Trace};

use super::prover::TemplateProver;
use crate::{AgentError, Result};

/// A lowered program with its model and layout trees (what a v4 registration commits).
pub struct V4Model {
    /// The lowering.
    pub lowered: Lowered,
    model_tree: KeccakTree,
    layout_tree: KeccakTree,
}

impl V4Model {
    /// Builds the trees of `lowered`.
    pub fn new(lowered: Lowered) -> Self {
        Self {
            model_tree: lowered.model_tree(),
            layout_tree: lowered.layout_tree(),
            lowered,
        }
    }

    /// The model root (over the n·N operator leaves).
    pub fn model_root(&self) -> B256 {
        self.model_tree.root()
    }

    /// The layout root (over the n·W layout leaves).
    pub fn layout_root(&self) -> B256 {
        self.layout_tree.root()
    }

    /// leaf_o as the market takes it.
    pub fn leaf(&self, o: usize) -> OperatorLeaf {
        let l = self.lowered.operator_leaf(o);
        OperatorLeaf {
            templateId: l.template_id,
            params: l.params,
            inputSources: l.input_sources,
            outputHeader: l.output_header,
            outputChunks: l.output_chunks,
        }
    }

    /// The opening of leaf_o from the model root.
    pub fn model_proof(&self, o: usize) -> Result<Vec<B256>> {
        siblings(self.model_tree.prove(o), "model tree", o)
    }

    /// The opening of the layout leaf of (step, slot) from the layout root.
    fn layout_proof(&self, step: usize, slot: usize) -> Result<Vec<B256>> {
        let index = step * self.lowered.state_slots() + slot;
        siblings(self.layout_tree.prove(index), "layout tree", index)
    }
}

fn siblings(p: Option<MerkleProof>, what: &str, index: usize) -> Result<Vec<B256>> {
    p.map(|p| p.siblings)
        .ok_or_else(|| AgentError::Inconsistent {
            what: what.to_string(),
            reason: format!("no leaf {index}"),
        })
}

fn inconsistent(what: &str, reason: impl Into<String>) -> AgentError {
    AgentError::Inconsistent {
        what: what.to_string(),
        reason: reason.into(),
    }
}

/// The first `E` event of a receipt; a missing one is an inconsistency of `call`.
pub(crate) fn event<E: SolEvent>(
    receipt: &zkopml_chain::TransactionReceipt,
    call: &str,
) -> Result<E> {
    receipt
        .inner
        .logs()
        .iter()
        .find_map(|l| E::decode_log(&l.inner).ok().map(|e| e.data))
        .ok_or_else(|| inconsistent(call, format!("no {} event", E::SIGNATURE)))
}

/// Registers `model` under version 4 (no key setup); returns its id.
pub async fn register(
    chain: &Chain,
    model: &V4Model,
    params: GameParams,
    onnx_cid: String,
    program_cid: String,
) -> Result<(U256, TxInfo)> {
    let l = &model.lowered;
    let m = Model {
        owner: chain.address,
        modelRoot: model.model_root(),
        layoutRoot: model.layout_root(),
        numSteps: l.num_steps() as u32,
        opsPerStep: l.ops_per_step as u32,
        stateSlots: l.state_slots() as u32,
        onnxCid: onnx_cid,
        programCid: program_cid,
        params,
    };
    let reg = chain.registry_v4()?;
    check_floors(chain, &m.params).await?;
    let (info, receipt) = chain
        .send_v4("ModelRegistryV4.registerModel", reg.registerModel(m))
        .await?;
    let id = event::<ModelRegistered>(&receipt, "registerModel")?.modelId;
    info!(%id, gas = info.gas_used, "v4 model registered");
    Ok((id, info))
}

/// Refuses `params` below the registry's floors before any transaction (the registry would
/// revert `WindowOutOfBounds` / `BondBelowFloor`; this names the flag to change).
async fn check_floors(chain: &Chain, params: &GameParams) -> Result<()> {
    let reg = chain.registry_v4()?;
    let time = chain.view_v4("TIME_FLOOR", reg.TIME_FLOOR()).await?;
    let bond = chain.view_v4("BOND_FLOOR", reg.BOND_FLOOR()).await?;
    let times = [
        ("challenge window (s)", params.challengeWindow),
        ("clock per side (s)", params.clockPerSide),
        ("proving window (s)", params.provingWindow),
    ];
    if let Some((what, value)) = times.into_iter().find(|(_, v)| *v < time) {
        return Err(AgentError::BelowFloor {
            what,
            value: value.to_string(),
            floor_name: "TIME_FLOOR",
            floor: time.to_string(),
        });
    }
    let bonds = [
        ("response bond (wei)", params.responseBond),
        ("challenger bond (wei)", params.challengerBond),
    ];
    if let Some((what, value)) = bonds.into_iter().find(|(_, v)| U256::from(*v) < bond) {
        return Err(AgentError::BelowFloor {
            what,
            value: value.to_string(),
            floor_name: "BOND_FLOOR",
            floor: bond.to_string(),
        });
    }
    Ok(())
}

/// Posts a request for `model_id` on input state S_0 with `fee`; returns its id.
pub async fn request(
    chain: &Chain,
    model_id: U256,
    input_state: B256,
    fee: U256,
) -> Result<(U256, TxInfo)> {
    let m = chain.market_v4()?;
    let (info, receipt) = chain
        .send_v4(
            "requestInference",
            m.requestInference(model_id, input_state, "input".into())
                .value(fee),
        )
        .await?;
    let id = event::<RequestCreated>(&receipt, "requestInference")?.requestId;
    Ok((id, info))
}

/// Responds to `request_id` with S_n (no trace: it is committed only if challenged).
pub async fn respond(chain: &Chain, request_id: U256, output: B256, bond: U256) -> Result<TxInfo> {
    let m = chain.market_v4()?;
    let (info, _) = chain
        .send_v4(
            "respond",
            m.respond(request_id, output, "output".into()).value(bond),
        )
        .await?;
    Ok(info)
}

/// Challenges the response of `request_id` with S'_n and the challenger's trace root.
pub async fn challenge(
    chain: &Chain,
    request_id: U256,
    claimed: B256,
    trace_root: B256,
    bond: U256,
) -> Result<(U256, TxInfo)> {
    let m = chain.market_v4()?;
    let (info, receipt) = chain
        .send_v4(
            "challenge",
            m.challenge(request_id, claimed, trace_root).value(bond),
        )
        .await?;
    let id = event::<GameCreated>(&receipt, "challenge")?.gameId;
    Ok((id, info))
}

/// Finalises `request_id` (after its challenge window, with no game open).
pub async fn finalize(chain: &Chain, request_id: U256) -> Result<TxInfo> {
    let m = chain.market_v4()?;
    Ok(chain.send_v4("finalize", m.finalize(request_id)).await?.0)
}

/// Reads game `id`.
pub async fn game(chain: &Chain, id: U256) -> Result<Game> {
    let m = chain.market_v4()?;
    Ok(chain.view_v4("getGame", m.getGame(id)).await?)
}

/// Which side a player takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The response's submitter.
    Submitter,
    /// The game's challenger.
    Challenger,
}

impl Role {
    fn side(self) -> Side {
        match self {
            Role::Submitter => Side::Submitter,
            Role::Challenger => Side::Challenger,
        }
    }
}

/// One move made: the market function and its transaction's gas.
#[derive(Clone, Debug)]
pub struct Move {
    /// Who moved.
    pub role: Role,
    /// The phase it moved in (`Descent` moves carry the descent phase too).
    pub phase: String,
    /// The transaction.
    pub tx: TxInfo,
}

/// One side of a game, answering from its own trace (honest or not).
pub struct Player<'a> {
    /// Which side.
    pub role: Role,
    /// Its signing client.
    pub chain: Chain,
    /// The registered model.
    pub model: &'a V4Model,
    /// Its trace of the request's input.
    pub trace: &'a V4Trace,
    /// Its leaf prover.
    pub prover: &'a TemplateProver,
    /// The disputed request.
    pub request_id: U256,
}

impl Player<'_> {
    async fn send<D: CallDecoder>(
        &self,
        call: &'static str,
        phase: String,
        b: CallBuilder<&DynProvider, D>,
    ) -> Result<Option<Move>> {
        let (tx, _) = self.chain.send_v4(call, b).await?;
        debug!(role = ?self.role, call, gas = tx.gas_used, "v4 move");
        Ok(Some(Move {
            role: self.role,
            phase,
            tx,
        }))
    }

    fn trace_proof(&self, b: u32) -> Result<Vec<B256>> {
        siblings(self.trace.leaf_proof(b as usize), "trace tree", b as usize)
    }

    /// Commits this submitter's trace root if the response has none yet.
    async fn ensure_trace(&self, g: &Game) -> Result<Option<Move>> {
        let m = self.chain.market_v4()?;
        let resp = self
            .chain
            .view_v4("getResponse", m.getResponse(g.responseId))
            .await?;
        if resp.traceRoot != B256::ZERO {
            return Ok(None);
        }
        self.send(
            "commitTrace",
            "commitTrace".into(),
            m.commitTrace(self.request_id, self.trace.root()),
        )
        .await
    }

    /// The submitter's P_lo entries, as it revealed them (`OutputsRevealed`).
    async fn submitter_outputs(&self, id: U256) -> Result<Vec<U256>> {
        self.chain
            .market_v4_events::<OutputsRevealed>(id)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.side == u8::from(Side::Submitter))
            .map(|e| e.outputs)
            .ok_or_else(|| inconsistent("game", "the submitter revealed no outputs"))
    }

    /// Makes this player's next move in game `id`, if it is its turn: `Ok(None)` while it
    /// waits (or the game is over). Claims a timeout when the other side's clock ran out.
    pub async fn step(&self, id: U256) -> Result<Option<Move>> {
        let m = self.chain.market_v4()?;
        let g = game(&self.chain, id).await?;
        if GameStatus::try_from(g.status)? != GameStatus::InProgress {
            return Ok(None);
        }
        let phase = Phase::try_from(g.phase)?;
        let me = self.role;
        let n_ops = self.model.lowered.ops_per_step;
        let name = format!("{phase:?}");
        match (phase, me) {
            (Phase::SubmitterReveal, Role::Submitter) => {
                if let Some(mv) = self.ensure_trace(&g).await? {
                    return Ok(Some(mv));
                }
                let pts = self.chain.view_v4("splitPoints", m.splitPoints(id)).await?;
                let leaves = pts.iter().map(|p| self.trace.leaves[*p as usize]).collect();
                let proofs = pts
                    .iter()
                    .map(|p| self.trace_proof(*p))
                    .collect::<Result<_>>()?;
                self.send(
                    "submitterReveal",
                    name,
                    m.submitterReveal(id, leaves, proofs),
                )
                .await
            }
            (Phase::ChallengerReveal, Role::Challenger) => {
                let pts = self.chain.view_v4("splitPoints", m.splitPoints(id)).await?;
                // The submitter's reveal at these split points (each round's differ: the
                // interval shrinks). None: the game moved on since `g` was read (another
                // client of our key revealed, and the submitter the next round, between the
                // reads), or the node's logs lag its state: wait for the next read.
                let Some(theirs) = self
                    .chain
                    .market_v4_events::<SubmitterRevealed>(id)
                    .await?
                    .into_iter()
                    .rev()
                    .find(|e| e.points == pts)
                else {
                    return Ok(None);
                };
                let leaves = pts.iter().map(|p| self.trace.leaves[*p as usize]).collect();
                let proofs = pts
                    .iter()
                    .map(|p| self.trace_proof(*p))
                    .collect::<Result<_>>()?;
                self.send(
                    "challengerReveal",
                    name,
                    m.challengerReveal(id, theirs.leaves, leaves, proofs),
                )
                .await
            }
            (Phase::SubmitterOpenStep, Role::Submitter) => {
                if let Some(mv) = self.ensure_trace(&g).await? {
                    return Ok(Some(mv));
                }
                let (lo, hi) = (g.lo as usize, g.hi as usize);
                let t = self.trace;
                let before = if lo == 0 {
                    B256::ZERO
                } else {
                    t.output_roots[lo - 1]
                };
                self.send(
                    "submitterOpenStep",
                    name,
                    m.submitterOpenStep(
                        id,
                        t.state_roots[lo],
                        before,
                        t.states[hi].iter().map(fr_u256).collect(),
                        t.output_roots[lo],
                        self.trace_proof(g.hi)?,
                    ),
                )
                .await
            }
            (Phase::ChallengerOpenStep, Role::Challenger) => {
                let (lo, hi) = (g.lo as usize, g.hi as usize);
                let t = self.trace;
                self.send(
                    "challengerOpenStep",
                    name,
                    m.challengerOpenStep(
                        id,
                        t.states[hi].iter().map(fr_u256).collect(),
                        t.output_roots[lo],
                        self.trace_proof(g.hi)?,
                    ),
                )
                .await
            }
            (Phase::SubmitterOps, Role::Submitter) => {
                let outs = self.trace.outputs[g.lo as usize]
                    .iter()
                    .map(fr_u256)
                    .collect();
                self.send("submitterOps", name, m.submitterOps(id, outs))
                    .await
            }
            (Phase::ChallengerOps, Role::Challenger) => {
                let theirs = self.submitter_outputs(id).await?;
                let outs = self.trace.outputs[g.lo as usize]
                    .iter()
                    .map(fr_u256)
                    .collect();
                self.send("challengerOps", name, m.challengerOps(id, theirs, outs))
                    .await
            }
            (Phase::DescentStart, Role::Submitter) => {
                let o = g.lo as usize * n_ops + g.opPosition as usize;
                self.send(
                    "startDescent",
                    name,
                    m.startDescent(id, self.model.leaf(o), self.model.model_proof(o)?),
                )
                .await
            }
            (Phase::Descent, _) => self.descent_move(id, &g).await,
            (Phase::AssemblyProving, _) => self.prove_assembly_fault(id, &g).await,
            _ => self.claim_timeout_if_due(id, &g).await,
        }
    }

    /// AssemblyProving: both sides' P_lo agree but their S_hi differ, so the other side put
    /// a value in a slot of its S_hi other than the one the layout takes from S_lo or P_lo
    /// (this side's own S_hi is assembled right). Proves it from the other side's slot
    /// values (`StepOpened`), this side's S_lo and P_lo (the agreed ones) and the layout.
    async fn prove_assembly_fault(&self, id: U256, g: &Game) -> Result<Option<Move>> {
        let other = match self.role {
            Role::Submitter => Side::Challenger,
            Role::Challenger => Side::Submitter,
        };
        let Some(theirs) = self
            .chain
            .market_v4_events::<StepOpened>(id)
            .await?
            .into_iter()
            .rev()
            .find(|e| e.side == u8::from(other))
            .map(|e| e.stateSlots)
        else {
            // The node's logs lag its state: wait for the next read.
            return Ok(None);
        };
        let (lo, hi) = (g.lo as usize, g.hi as usize);
        let t = self.trace;
        let mine: Vec<U256> = t.states[hi].iter().map(fr_u256).collect();
        if theirs.len() != mine.len() {
            // The market takes exactly W slot values: another count is not this game's.
            return Err(inconsistent(
                "game",
                format!(
                    "{} opened slot values, the model has {}",
                    theirs.len(),
                    mine.len()
                ),
            ));
        }
        let Some(slot) = (0..mine.len()).find(|&s| theirs.get(s) != Some(&mine[s])) else {
            // Not a fault of theirs (this side's S_hi is theirs): nothing to prove.
            return self.claim_timeout_if_due(id, g).await;
        };
        let source = self.model.lowered.layout_source(lo, slot);
        let (source_value, source_proof) = match source {
            Source::State(i) => (
                fr_u256(&t.states[lo][i]),
                siblings(t.state_proof(lo, i), "state", i)?,
            ),
            Source::Output(p) => (
                fr_u256(&t.outputs[lo][p]),
                siblings(t.output_proof(lo, p), "outputs", p)?,
            ),
            Source::Empty | Source::Const(_) => (U256::ZERO, Vec::new()),
        };
        if mine[slot] != source_value {
            // This side mis-assembled the slot (a test liar): the fault to prove is its own.
            return self.claim_timeout_if_due(id, g).await;
        }
        let words: Vec<B256> = theirs.iter().map(|x| B256::from(*x)).collect();
        let opening = AssemblyOpening {
            slot: slot as u32,
            source: source.encode(),
            layoutProof: self.model.layout_proof(lo, slot)?,
            value: theirs[slot],
            valueProof: siblings(KeccakTree::from_values(&words).prove(slot), "state", slot)?,
            sourceValue: source_value,
            sourceProof: source_proof,
        };
        info!(role = ?self.role, slot, "proving the other side's assembly fault");
        let m = self.chain.market_v4()?;
        self.send(
            "proveAssemblyFault",
            "proveAssemblyFault".into(),
            m.proveAssemblyFault(id, u8::from(other), opening),
        )
        .await
    }

    async fn descent_move(&self, id: U256, g: &Game) -> Result<Option<Move>> {
        let m = self.chain.market_v4()?;
        let d = self.chain.view_v4("getDescent", m.getDescent(id)).await?;
        let phase = DescentPhase::try_from(d.phase)?;
        let o = g.lo as usize * self.model.lowered.ops_per_step + g.opPosition as usize;
        let op = self
            .model
            .lowered
            .ops
            .get(o)
            .ok_or_else(|| inconsistent("game", format!("operator {o} is padding")))?;
        let tree = self
            .trace
            .tree(op.output)
            .map_err(|e| inconsistent("trace", e.to_string()))?;
        let side = u8::from(self.role.side());
        let name = format!("Descent/{phase:?}");
        match (phase, self.role) {
            (DescentPhase::SubmitterOpen, Role::Submitter)
            | (DescentPhase::ChallengerOpen, Role::Challenger) => {
                let header = self.model.leaf(o).outputHeader;
                self.send(
                    "descentOpenRoot",
                    name,
                    m.descentOpenRoot(id, side, header, fr_u256(&tree.root())),
                )
                .await
            }
            (DescentPhase::SubmitterReveal, Role::Submitter)
            | (DescentPhase::ChallengerReveal, Role::Challenger) => {
                // Children of the node at `level` from the top: tree level depth − level − 1
                // from the leaves.
                let below = (d.depth as usize)
                    .checked_sub(d.level as usize + 1)
                    .ok_or_else(|| inconsistent("descent", "reveal below the leaves"))?;
                let p = d.position as usize;
                let (l, r) = (tree.node(below, 2 * p), tree.node(below, 2 * p + 1));
                self.send(
                    "descentReveal",
                    name,
                    m.descentReveal(id, side, fr_u256(&l), fr_u256(&r)),
                )
                .await
            }
            (DescentPhase::Proving, _) => self.resolve_leaf(id, g, o, &d).await,
            // The leaf is proven (the game is decided): the winner applies the outcome.
            (DescentPhase::Resolved, _) => {
                let won = match self.role {
                    Role::Submitter => GameStatus::SubmitterWon,
                    Role::Challenger => GameStatus::ChallengerWon,
                };
                if GameStatus::try_from(d.status)? != won {
                    return Ok(None);
                }
                self.send("finishGame", "finishGame".into(), m.finishGame(id))
                    .await
            }
            _ => self.claim_timeout_if_due(id, g).await,
        }
    }

    /// Proves chunk j of operator o from this side's trace; posts it if the true digest is
    /// this side's (else waits: only the truth can be proven).
    async fn resolve_leaf(
        &self,
        id: U256,
        g: &Game,
        o: usize,
        d: &zkopml_chain::market_v4::Types::ChunkDescent,
    ) -> Result<Option<Move>> {
        let m = self.chain.market_v4()?;
        let mine = match self.role {
            Role::Submitter => d.submitterNode,
            Role::Challenger => d.challengerNode,
        };
        let j = d.position as usize;
        let inst = LeafInstance::new(&self.model.lowered, self.trace, o, j)
            .map_err(|e| inconsistent("leaf", e.to_string()))?;
        if fr_u256(&inst.digest()) != mine {
            return self.claim_timeout_if_due(id, g).await;
        }
        let prover = self.prover;
        let proof = tokio::task::block_in_place(|| prover.prove(&inst))?;
        let lo = g.lo as usize;
        let lowered = &self.model.lowered;
        let sub_outputs = match self.role {
            Role::Submitter => self.trace.outputs[lo].iter().map(fr_u256).collect(),
            Role::Challenger => self.submitter_outputs(id).await?,
        };
        let mut inputs = Vec::new();
        let mut proofs = Vec::new();
        for v in &lowered.ops[o].inputs {
            match lowered.input_source(o, *v) {
                Source::Const(_) | Source::Empty => {
                    inputs.push(U256::ZERO);
                    proofs.push(Vec::new());
                }
                Source::State(s) => {
                    inputs.push(fr_u256(&self.trace.states[lo][s]));
                    proofs.push(siblings(self.trace.state_proof(lo, s), "state", s)?);
                }
                Source::Output(p) => {
                    let words: Vec<B256> = sub_outputs.iter().map(|x| B256::from(*x)).collect();
                    inputs.push(sub_outputs[p]);
                    proofs.push(siblings(
                        KeccakTree::from_values(&words).prove(p),
                        "outputs",
                        p,
                    )?);
                }
            }
        }
        let for_challenger = self.role == Role::Challenger;
        let statement = self.leaf_statement(o).await?;
        info!(role = ?self.role, template = proof.template, j, "resolving the leaf");
        self.send(
            "resolveLeaf",
            format!("resolveLeaf({})", proof.template),
            m.resolveLeaf(id, statement, inputs, proofs, proof.proof, for_challenger),
        )
        .await
    }

    /// The leaf statement `startDescent` fixed for operator `o`: its template's verifier and
    /// gas budget (from the deployment's `TemplateRegistry`), its input sources and params.
    async fn leaf_statement(&self, o: usize) -> Result<LeafStatement> {
        let leaf = self.model.leaf(o);
        let reg = self.chain.template_registry_v4()?;
        let t = self
            .chain
            .view_v4("templateOf", reg.templateOf(leaf.templateId))
            .await?;
        Ok(LeafStatement {
            verifier: t.verifier,
            gasLimit: t.gasLimit,
            inputSources: leaf.inputSources,
            params: leaf.params,
        })
    }

    /// Claims a timeout if the turn's deadline has passed on chain.
    async fn claim_timeout_if_due(&self, id: U256, _g: &Game) -> Result<Option<Move>> {
        let m = self.chain.market_v4()?;
        let deadline = self
            .chain
            .view_v4("turnDeadline", m.turnDeadline(id))
            .await?;
        // A deadline of 0: no clock runs any more — the game, or its descent, was decided
        // since this step read it (e.g. the other side's leaf proof was mined meanwhile).
        // Claiming then is a sure revert.
        if deadline == 0 || self.chain.latest_timestamp().await? <= deadline {
            return Ok(None);
        }
        self.send("claimTimeout", "claimTimeout".into(), m.claimTimeout(id))
            .await
    }
}

/// Plays game `id` to its end with both sides (each from its own trace): returns the outcome
/// and every move made. Fails if neither side can move (a side that waits on a deadline:
/// advance the chain's clock and call [`Player::step`] again).
pub async fn play(
    sub: &Player<'_>,
    chal: &Player<'_>,
    id: U256,
) -> Result<(GameStatus, Vec<Move>)> {
    let mut moves = Vec::new();
    let mut retries = 0;
    for _ in 0..2_000 {
        match round(sub, chal, id).await {
            Ok(Round::Over(status)) => return Ok((status, moves)),
            Ok(Round::Moved(mv)) => {
                moves.push(mv);
                retries = 0;
            }
            Ok(Round::Stuck(phase)) => {
                return Err(inconsistent(
                    "game",
                    format!("neither side can move in phase {phase:?}"),
                ))
            }
            // The node dropped a request (as the agents do: retry on the next tick).
            Err(e) if e.is_retryable() && retries < 20 => {
                retries += 1;
                tracing::warn!(%e, retries, "node unavailable, retrying");
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            Err(e) => return Err(e),
        }
    }
    Err(inconsistent("game", "did not end within 2,000 moves"))
}

enum Round {
    Over(GameStatus),
    Moved(Move),
    Stuck(Phase),
}

async fn round(sub: &Player<'_>, chal: &Player<'_>, id: U256) -> Result<Round> {
    let g = game(&sub.chain, id).await?;
    let status = GameStatus::try_from(g.status)?;
    if status != GameStatus::InProgress {
        return Ok(Round::Over(status));
    }
    if let Some(mv) = sub.step(id).await? {
        return Ok(Round::Moved(mv));
    }
    if let Some(mv) = chal.step(id).await? {
        return Ok(Round::Moved(mv));
    }
    Ok(Round::Stuck(Phase::try_from(g.phase)?))
}
