//! The version-4 submitter agent: responds to open version-4 requests with `S_n` and the
//! output's CID, both from inference alone (no trace: docs/protocol.md §10.3), defends each
//! response in every game opened on it with a [`Player`] (computing its trace and
//! committing its root when the first game needs it),
//! and finalises the responses left unchallenged after their window.
//!
//! Crash safety: its state (the responses it made) is written after each response; a
//! response of ours on chain that the state lacks (killed between `respond` and the save,
//! or made by another agent signing with the same key) is adopted on the next tick, and
//! games are always read from the chain.
//!
//! Faults: a tick that fails on a retryable error (`AgentError::is_retryable`: the node
//! unreachable, a transaction dropped, a nonce taken, or a move that reverted because the
//! chain moved on) is simply run again; every decision is made from the chain's state read
//! in that tick. A response of ours that is no longer on chain (a reorganisation, a node
//! restarted from older state) is forgotten and the request answered again; after such a
//! change, settled responses and finished games are read again.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    path::PathBuf,
};

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use zkopml_chain::v4::{GameStatus, RequestStatus, ResponseStatus};

use super::{
    job::{outcome, take_turns, Jobs},
    Defect, Player, Role, TemplateProver,
};
use crate::{data::put_json, head::HeadWatch, state::Persisted, Ctx, IntTensors, Result};

/// How the version-4 submitter behaves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct V4SubmitterConfig {
    /// Lie at this operator or node (a test actor); `None` is honest. A liar answers each
    /// request once.
    pub defect: Option<Defect>,
    /// Only respond to these requests (`None`: all open ones).
    pub only: Option<Vec<U256>>,
    /// The template proving keys (the devnet's `keys/templates`).
    pub template_keys: PathBuf,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Entry {
    response_id: U256,
    /// Answered with a lie.
    defect: bool,
    /// Finalised, disproven or voided.
    done: bool,
    /// Disproven.
    lost: bool,
    /// Games seen on the response, and whether each is over (reported once).
    games: BTreeMap<U256, bool>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// By request id.
    responses: BTreeMap<U256, Entry>,
}

/// A version-4 submitter agent (call [`V4Submitter::tick`] in a loop).
pub struct V4Submitter {
    ctx: Ctx,
    config: V4SubmitterConfig,
    state: Persisted<State>,
    jobs: Jobs,
    prover: TemplateProver,
    /// Responses read and found to be another submitter's (ids are never reused).
    not_ours: HashSet<U256>,
    /// Games read and found over or on another response.
    closed_games: BTreeSet<U256>,
    /// The chain's head, to notice a reorganisation.
    head: HeadWatch,
}

impl V4Submitter {
    /// A submitter with persistent state under `ctx.state_dir`; fails if the deployment has
    /// no version-4 market.
    pub fn new(ctx: Ctx, config: V4SubmitterConfig) -> Result<Self> {
        let path = crate::state::v4_agent_state_path(&ctx)?;
        Ok(Self {
            state: Persisted::load(&path)?,
            prover: TemplateProver::new(&config.template_keys),
            ctx,
            config,
            jobs: Jobs::default(),
            not_ours: HashSet::new(),
            closed_games: BTreeSet::new(),
            head: HeadWatch::default(),
        })
    }

    /// How many responses this agent made (or adopted).
    pub fn responses(&self) -> usize {
        self.state.value.responses.len()
    }

    /// How many of them were disproven.
    pub fn lost(&self) -> usize {
        self.state
            .value
            .responses
            .values()
            .filter(|e| e.lost)
            .count()
    }

    /// Whether every response it made is settled (finalised, disproven or voided).
    pub fn idle(&self) -> bool {
        self.state.value.responses.values().all(|e| e.done)
    }

    /// One pass: respond to open requests, play every game on our pending responses,
    /// finalise those past their window, withdraw what the market owes us.
    pub async fn tick(&mut self) -> Result<()> {
        if let Some(block) = self.head.moved(&self.ctx.chain).await? {
            self.reread(block)?;
        }
        let market = self.ctx.chain.market_v4()?;
        let counts = self.ctx.chain.view_v4("counts", market.counts()).await?;
        for id in 1..=counts.requests.to::<u64>() {
            let id = U256::from(id);
            if self.config.only.as_ref().is_some_and(|o| !o.contains(&id)) {
                continue;
            }
            // Answered before: skipped, unless it re-opened after our response was
            // disproven and we answer honestly (a test actor lies once per request).
            if let Some(e) = self.state.value.responses.get(&id) {
                if !e.done || self.config.defect.is_some() {
                    continue;
                }
            }
            let req = self
                .ctx
                .chain
                .view_v4("getRequest", market.getRequest(id))
                .await?;
            match RequestStatus::try_from(req.status)? {
                RequestStatus::Open => {
                    // INVARIANT of the market: a re-opened request takes a response only
                    // after the second it re-opened in (`RespondTooEarly`).
                    if req.responseCount != 0 && self.ctx.chain.now().await? <= req.openSince {
                        continue;
                    }
                    self.respond(id, req.responseId).await?;
                }
                RequestStatus::Responded
                    if !self.state.value.responses.contains_key(&id)
                        && !self.not_ours.contains(&req.responseId) =>
                {
                    self.adopt(id, req.responseId).await?
                }
                _ => {}
            }
        }
        let open: Vec<(U256, Entry)> = self
            .state
            .value
            .responses
            .iter()
            .filter(|(_, e)| !e.done)
            .map(|(k, v)| (*k, v.clone()))
            .collect();
        for (request_id, entry) in open {
            self.defend(request_id, entry, counts.games.to::<u64>())
                .await?;
        }
        let owed = self
            .ctx
            .chain
            .view_v4("balances", market.balances(self.ctx.chain.address))
            .await?;
        if !owed.is_zero() {
            let (tx, _) = self
                .ctx
                .chain
                .send_v4("withdraw", market.withdraw())
                .await?;
            self.ctx.record_tx(format!("withdraw {owed} wei"), &tx);
        }
        Ok(())
    }

    /// The chain changed below `block` (reorganised, or rolled back by a node restarted
    /// from older state): what was read from it is read again — every response of ours is
    /// checked again (a settled one may be pending again, a pending one gone), every game
    /// reported again, and the caches of other submitters' responses and closed games are
    /// dropped (their ids may name other responses and games now).
    fn reread(&mut self, block: u64) -> Result<()> {
        self.ctx.timeline.record(
            &self.ctx.role,
            format!("the chain changed below block {block} (reorganised or rolled back): reading our responses and games again"),
            None,
        );
        tracing::warn!(
            block,
            "chain reorganised or rolled back; re-reading responses and games"
        );
        self.not_ours.clear();
        self.closed_games.clear();
        for e in self.state.value.responses.values_mut() {
            e.done = false;
            e.lost = false;
            e.games.clear();
        }
        self.state.save()
    }

    async fn respond(&mut self, request_id: U256, previous: U256) -> Result<()> {
        // A re-opened request's earlier response is not this run's: run afresh.
        if !previous.is_zero() {
            self.jobs.forget(request_id);
        }
        let Some(job) = self
            .jobs
            .run_or_skip(&self.ctx, request_id, self.config.defect.as_ref())
            .await?
        else {
            return Ok(());
        };
        let output_cid = put_json(
            &self.ctx.store,
            &IntTensors {
                tensors: job.outputs.clone(),
            },
        )?;
        let bond = U256::from(job.model.params.responseBond);
        let market = self.ctx.chain.market_v4()?;
        let (tx, _) = self
            .ctx
            .chain
            .send_v4(
                "respond",
                market
                    .respond(request_id, job.output_state, output_cid)
                    .value(bond),
            )
            .await?;
        let req = self
            .ctx
            .chain
            .view_v4("getRequest", market.getRequest(request_id))
            .await?;
        let what = match (&self.config.defect, job.fault) {
            (Some(d), Some((node, element))) => format!(
                "respond to request {request_id} (v4) with a WRONG S_n: a lie at {d} (node {node}, element {element}); response {}, bond {bond} wei",
                req.responseId
            ),
            _ => format!(
                "respond to request {request_id} (v4): response {}, bond {bond} wei",
                req.responseId
            ),
        };
        self.ctx.record_tx(what, &tx);
        self.state.value.responses.insert(
            request_id,
            Entry {
                response_id: req.responseId,
                defect: job.fault.is_some(),
                ..Entry::default()
            },
        );
        self.state.save()
    }

    /// Takes `response_id` into our state if we submitted it and it is still pending.
    async fn adopt(&mut self, request_id: U256, response_id: U256) -> Result<()> {
        let market = self.ctx.chain.market_v4()?;
        let resp = self
            .ctx
            .chain
            .view_v4("getResponse", market.getResponse(response_id))
            .await?;
        if resp.submitter != self.ctx.chain.address {
            self.not_ours.insert(response_id);
            return Ok(());
        }
        if ResponseStatus::try_from(resp.status)? != ResponseStatus::Pending {
            return Ok(());
        }
        self.ctx.timeline.record(
            &self.ctx.role,
            format!("found our pending response {response_id} to request {request_id} on chain"),
            None,
        );
        self.state.value.responses.insert(
            request_id,
            Entry {
                response_id,
                defect: self.config.defect.is_some(),
                ..Entry::default()
            },
        );
        self.state.save()
    }

    async fn defend(&mut self, request_id: U256, mut entry: Entry, games: u64) -> Result<()> {
        let market = self.ctx.chain.market_v4()?;
        let rid = entry.response_id;
        let resp = self
            .ctx
            .chain
            .view_v4("getResponse", market.getResponse(rid))
            .await?;
        // INVARIANT: an entry names a response of ours to its request. One that is not on
        // chain any more (a reorganisation or a node restarted from older state took our
        // `respond` back; the id may even be another's response now) is forgotten: the
        // request is answered again while it is open.
        if resp.requestId != request_id || resp.submitter != self.ctx.chain.address {
            self.ctx.timeline.record(
                &self.ctx.role,
                format!("our response {rid} to request {request_id} is no longer on chain: answering again"),
                None,
            );
            self.state.value.responses.remove(&request_id);
            return self.state.save();
        }
        // Games on the response: report the new and the finished, play the open ones.
        let mut open = Vec::new();
        for gid in 1..=games {
            let gid = U256::from(gid);
            if self.closed_games.contains(&gid) || entry.games.get(&gid) == Some(&true) {
                continue;
            }
            let g = self
                .ctx
                .chain
                .view_v4("getGame", market.getGame(gid))
                .await?;
            if g.responseId != rid {
                self.closed_games.insert(gid);
                continue;
            }
            let status = GameStatus::try_from(g.status)?;
            if !entry.games.contains_key(&gid) {
                self.ctx.timeline.record(
                    &self.ctx.role,
                    format!(
                        "game {gid} opened on our response {rid} by {}",
                        g.challenger
                    ),
                    None,
                );
            }
            if status == GameStatus::InProgress {
                entry.games.insert(gid, false);
                open.push(gid);
            } else {
                self.ctx.timeline.record(
                    &self.ctx.role,
                    format!(
                        "game {gid} {}: {status:?}",
                        outcome(status, Role::Submitter)
                    ),
                    None,
                );
                entry.games.insert(gid, true);
            }
        }
        let status = ResponseStatus::try_from(resp.status)?;
        if status != ResponseStatus::Pending {
            entry.done = true;
            entry.lost = status == ResponseStatus::Disproven;
            self.ctx.timeline.record(
                &self.ctx.role,
                format!("response {rid} to request {request_id} settled: {status:?}"),
                None,
            );
            self.jobs.forget(request_id);
            self.state.value.responses.insert(request_id, entry);
            return self.state.save();
        }
        self.state.value.responses.insert(request_id, entry.clone());
        self.state.save()?;
        if !open.is_empty() {
            let job = self
                .jobs
                .run(&self.ctx, request_id, self.config.defect.as_ref())
                .await?;
            let player = Player {
                role: Role::Submitter,
                chain: self.ctx.chain.clone(),
                model: &job.model.model,
                trace: job.trace()?,
                prover: &self.prover,
                request_id,
            };
            for gid in open {
                take_turns(&self.ctx, &player, gid).await?;
            }
        }
        if resp.openGames == 0 && self.ctx.chain.now().await? > resp.challengeDeadline {
            let (tx, _) = self
                .ctx
                .chain
                .send_v4("finalize", market.finalize(request_id))
                .await?;
            self.ctx.record_tx(
                format!("finalize request {request_id} (response {rid})"),
                &tx,
            );
        }
        Ok(())
    }
}
