//! The submitter: responds to open requests and defends its responses.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Arc,
};

use alloy_primitives::{B256, U256};
use serde::{Deserialize, Serialize};
use zkopml_store::ContentStore;

use crate::{
    data::put_json,
    job::{claim_timeout, play_leaf, run_request, Job},
    state::Persisted,
    Ctx, IntTensors, PublishedTrace, Result,
};

/// How the submitter behaves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SubmitterConfig {
    /// Corrupt the output of this step (a test actor that lies); `None` is honest.
    pub defect: Option<usize>,
    /// Publish the trace states (enables one-shot disputes against us).
    pub publish_trace: bool,
    /// Only respond to these requests (`None`: all open requests).
    pub only: Option<Vec<U256>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
struct Entry {
    response_id: U256,
    defect: Option<usize>,
    done: bool,
    /// The response was disproven (a game or a one-shot went against it).
    #[serde(default)]
    lost: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    responses: BTreeMap<U256, Entry>,
}

/// A submitter agent.
pub struct Submitter {
    ctx: Ctx,
    config: SubmitterConfig,
    state: Persisted<State>,
    jobs: HashMap<U256, Arc<Job>>,
    /// Responses already read and found to be another submitter's (response ids are never
    /// reused), so a tick does not read them again.
    not_ours: HashSet<U256>,
}

impl Submitter {
    /// A submitter with persistent state under `ctx.state_dir`.
    pub fn new(ctx: Ctx, config: SubmitterConfig) -> Result<Self> {
        let path = crate::state::agent_state_path(&ctx);
        Ok(Self {
            state: Persisted::load(&path)?,
            ctx,
            config,
            jobs: HashMap::new(),
            not_ours: HashSet::new(),
        })
    }

    async fn job(&mut self, request_id: U256, defect: Option<usize>) -> Result<Arc<Job>> {
        if let Some(j) = self.jobs.get(&request_id) {
            return Ok(j.clone());
        }
        let j = Arc::new(run_request(&self.ctx, request_id, defect).await?);
        self.jobs.insert(request_id, j.clone());
        Ok(j)
    }

    /// How many responses this agent has made.
    pub fn responses(&self) -> usize {
        self.state.value.responses.len()
    }

    /// How many of this agent's responses were disproven.
    pub fn lost(&self) -> usize {
        self.state
            .value
            .responses
            .values()
            .filter(|e| e.lost)
            .count()
    }

    /// Whether every response this agent made is settled (finalised or disproven).
    pub fn idle(&self) -> bool {
        self.state.value.responses.values().all(|e| e.done)
    }

    /// One pass: respond to new requests, play every open game, finalise, withdraw.
    pub async fn tick(&mut self) -> Result<()> {
        let market = self.ctx.chain.market();
        let counts = self.ctx.chain.view("counts", market.counts()).await?;
        for id in 1..=counts.requests.to::<u64>() {
            let id = U256::from(id);
            if self.config.only.as_ref().is_some_and(|o| !o.contains(&id)) {
                continue;
            }
            // A request answered before is skipped, unless it re-opened after our response
            // was disproven and we answer honestly (a test actor lies once per request).
            if let Some(e) = self.state.value.responses.get(&id) {
                if !e.done || self.config.defect.is_some() {
                    continue;
                }
            }
            let req = self
                .ctx
                .chain
                .view("getRequest", market.getRequest(id))
                .await?;
            if req.status != 1 {
                // Not Open. A response of ours that the chain holds but our state does not
                // (killed between the `respond` transaction and saving it) is adopted, so
                // that it is defended.
                if !self.state.value.responses.contains_key(&id)
                    && !req.responseId.is_zero()
                    && !self.not_ours.contains(&req.responseId)
                {
                    self.adopt(id, req.responseId).await?;
                }
                continue;
            }
            self.respond(id).await?;
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
            self.defend(request_id, &entry, counts.games.to::<u64>())
                .await?;
        }
        let owed = self
            .ctx
            .chain
            .view("balances", market.balances(self.ctx.chain.address))
            .await?;
        if !owed.is_zero() {
            let (tx, _) = self.ctx.chain.send("withdraw", market.withdraw()).await?;
            self.ctx.record_tx(format!("withdraw {owed} wei"), &tx);
        }
        Ok(())
    }

    async fn respond(&mut self, request_id: U256) -> Result<()> {
        let defect = self.config.defect;
        let job = self.job(request_id, defect).await?;
        let outputs: Vec<_> = job.trace.outputs.clone();
        let output_cid = put_json(&self.ctx.store, &IntTensors { tensors: outputs })?;
        let trace_cid = if self.config.publish_trace {
            put_json(
                &self.ctx.store,
                &PublishedTrace {
                    states: job.trace.state_words(),
                },
            )?
        } else {
            String::new()
        };
        let _ = self.ctx.store.put(b"")?; // make sure the store directory exists for readers
        let output = job.state(job.trace.states.len() - 1);
        let bond = U256::from(job.model.params.responseBond);
        let market = self.ctx.chain.market();
        let (tx, _) = self
            .ctx
            .chain
            .send(
                "respond",
                market
                    .respond(request_id, output, output_cid, job.tree.root(), trace_cid)
                    .value(bond),
            )
            .await?;
        let resp = self
            .ctx
            .chain
            .view("getRequest", market.getRequest(request_id))
            .await?;
        let what = match defect {
            Some(k) => format!(
                "respond to request {request_id} with a DEFECT at step {k} (bond {bond} wei)"
            ),
            None => format!("respond to request {request_id} (bond {bond} wei)"),
        };
        self.ctx.record_tx(what, &tx);
        self.state.value.responses.insert(
            request_id,
            Entry {
                response_id: resp.responseId,
                defect,
                done: false,
                lost: false,
            },
        );
        self.state.save()
    }

    /// Takes `response_id` into our state if we submitted it and it is still pending.
    async fn adopt(&mut self, request_id: U256, response_id: U256) -> Result<()> {
        let market = self.ctx.chain.market();
        let resp = self
            .ctx
            .chain
            .view("getResponseById", market.getResponseById(response_id))
            .await?;
        if resp.submitter != self.ctx.chain.address {
            self.not_ours.insert(response_id);
            return Ok(());
        }
        if resp.status != 1 {
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
                defect: self.config.defect,
                done: false,
                lost: false,
            },
        );
        self.state.save()
    }

    async fn defend(&mut self, request_id: U256, entry: &Entry, games: u64) -> Result<()> {
        let market = self.ctx.chain.market();
        let resp = self
            .ctx
            .chain
            .view("getResponseById", market.getResponseById(entry.response_id))
            .await?;
        if resp.status != 1 {
            // Disproven or Finalized: nothing left to defend.
            let e = self
                .state
                .value
                .responses
                .get_mut(&request_id)
                .expect("entry");
            e.done = true;
            e.lost = resp.status == 2;
            self.ctx.timeline.record(
                &self.ctx.role,
                format!(
                    "response {} settled: {}",
                    entry.response_id,
                    if resp.status == 2 {
                        "disproven"
                    } else {
                        "finalized"
                    }
                ),
                None,
            );
            return self.state.save();
        }
        let job = self.job(request_id, entry.defect).await?;
        let now = self.ctx.chain.now().await?;
        for gid in 1..=games {
            let gid = U256::from(gid);
            let g = self.ctx.chain.view("getGame", market.getGame(gid)).await?;
            if g.responseId != entry.response_id || g.status != 0 {
                continue;
            }
            match g.phase {
                0 => {
                    let points = self
                        .ctx
                        .chain
                        .view("splitPoints", market.splitPoints(gid))
                        .await?;
                    let states: Vec<B256> = points.iter().map(|p| job.state(*p as usize)).collect();
                    let proofs: Vec<Vec<B256>> = points
                        .iter()
                        .map(|p| {
                            job.tree
                                .prove(*p as usize)
                                .expect("point within trace")
                                .siblings
                        })
                        .collect();
                    let (tx, _) = self
                        .ctx
                        .chain
                        .send(
                            "submitterReveal",
                            market.submitterReveal(gid, states, proofs),
                        )
                        .await?;
                    self.ctx.record_tx(
                        format!(
                            "game {gid}: reveal {} states at {points:?} (round {})",
                            points.len(),
                            g.round
                        ),
                        &tx,
                    );
                }
                1 if now > g.turnDeadline => {
                    claim_timeout(&self.ctx, gid, "challenger timed out").await?
                }
                2 => play_leaf(&self.ctx, &job, gid, &g, g.hiSubmitter, now).await?,
                _ => {}
            }
        }
        if now > resp.challengeDeadline && resp.openGames == 0 {
            let (tx, _) = self
                .ctx
                .chain
                .send("finalize", market.finalize(request_id))
                .await?;
            self.ctx
                .record_tx(format!("finalize request {request_id}"), &tx);
        }
        Ok(())
    }
}
