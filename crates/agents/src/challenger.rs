//! The challenger: re-executes every pending response and disputes the wrong ones.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use alloy_primitives::{B256, U256};
use serde::{Deserialize, Serialize};
use zkopml_commit::KeccakTree;

use crate::{
    data::get_json,
    job::{claim_timeout, play_leaf, prove_step, request_output, run_request, Job},
    state::Persisted,
    Ctx, PublishedTrace, Result,
};

/// How disputes are opened.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub enum DisputeMode {
    /// One-shot when the submitter published its states, bisection otherwise.
    #[default]
    Auto,
    /// Always play the bisection game.
    Bisect,
}

/// How the challenger behaves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ChallengerConfig {
    /// Claim a wrong trace with a fault at this step (a test actor that lies).
    pub lie: Option<usize>,
    /// Dispute mode.
    pub mode: DisputeMode,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
enum Verdict {
    Agree,
    OneShot,
    Game(U256),
    Settled,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    responses: BTreeMap<U256, Verdict>,
    /// Games that went against this challenger (the submitter won, or both lost).
    #[serde(default)]
    lost: std::collections::BTreeSet<U256>,
}

/// A challenger agent.
pub struct Challenger {
    ctx: Ctx,
    config: ChallengerConfig,
    state: Persisted<State>,
    jobs: HashMap<U256, Arc<Job>>,
}

impl Challenger {
    /// A challenger with persistent state under `ctx.state_dir`.
    pub fn new(ctx: Ctx, config: ChallengerConfig) -> Result<Self> {
        let path = crate::state::agent_state_path(&ctx);
        Ok(Self {
            state: Persisted::load(&path)?,
            ctx,
            config,
            jobs: HashMap::new(),
        })
    }

    /// Whether no dispute of this agent is still open.
    pub fn idle(&self) -> bool {
        self.state
            .value
            .responses
            .values()
            .all(|v| matches!(v, Verdict::Agree | Verdict::Settled | Verdict::OneShot))
    }

    /// How many of this agent's games went against it.
    pub fn lost(&self) -> usize {
        self.state.value.lost.len()
    }

    /// How many responses this agent disputed (games and one-shots).
    pub fn disputes(&self) -> usize {
        self.state
            .value
            .responses
            .values()
            .filter(|v| !matches!(v, Verdict::Agree))
            .count()
    }

    async fn job(&mut self, request_id: U256) -> Result<Arc<Job>> {
        if let Some(j) = self.jobs.get(&request_id) {
            return Ok(j.clone());
        }
        let j = Arc::new(run_request(&self.ctx, request_id, self.config.lie).await?);
        self.jobs.insert(request_id, j.clone());
        Ok(j)
    }

    /// One pass: check new responses, play open games, withdraw.
    pub async fn tick(&mut self) -> Result<()> {
        let market = self.ctx.chain.market();
        let counts = self.ctx.chain.view("counts", market.counts()).await?;
        for rid in 1..=counts.responses.to::<u64>() {
            let rid = U256::from(rid);
            if self.state.value.responses.contains_key(&rid) {
                continue;
            }
            let resp = self
                .ctx
                .chain
                .view("getResponseById", market.getResponseById(rid))
                .await?;
            let now = self.ctx.chain.now().await?;
            if resp.status != 1 || now > resp.challengeDeadline {
                continue;
            }
            self.check(rid, &resp, counts.games.to::<u64>()).await?;
        }
        let games: Vec<(U256, U256)> = self
            .state
            .value
            .responses
            .iter()
            .filter_map(|(r, v)| {
                if let Verdict::Game(g) = v {
                    Some((*r, *g))
                } else {
                    None
                }
            })
            .collect();
        for (rid, gid) in games {
            self.play(rid, gid).await?;
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

    async fn check(
        &mut self,
        rid: U256,
        resp: &zkopml_chain::market::Types::Response,
        games: u64,
    ) -> Result<()> {
        // An honest challenger first checks the response's output commitment against its
        // own inference (no trace); the full trace is computed only to dispute. A lying test
        // actor needs its faulty trace for the comparison.
        let agrees = match self.config.lie {
            None => {
                let started = std::time::Instant::now();
                let mine = request_output(&self.ctx, resp.requestId).await?;
                tracing::debug!(response = %rid, seconds = started.elapsed().as_secs_f64(), "checked the output");
                mine == resp.outputCommitment
            }
            Some(_) => {
                let job = self.job(resp.requestId).await?;
                job.state(job.trace.states.len() - 1) == resp.outputCommitment
            }
        };
        if agrees {
            self.ctx.timeline.record(
                &self.ctx.role,
                format!("response {rid} agrees with my execution"),
                None,
            );
            self.state.value.responses.insert(rid, Verdict::Agree);
            return self.state.save();
        }
        self.ctx.timeline.record(
            &self.ctx.role,
            format!("response {rid} disagrees with my execution: disputing"),
            None,
        );
        // A game of ours may already exist (we crashed after challenging): find it on chain.
        let market = self.ctx.chain.market();
        for gid in (1..=games).rev() {
            let g = self
                .ctx
                .chain
                .view("getGame", market.getGame(U256::from(gid)))
                .await?;
            if g.responseId == rid && g.challenger == self.ctx.chain.address {
                self.state
                    .value
                    .responses
                    .insert(rid, Verdict::Game(U256::from(gid)));
                return self.state.save();
            }
        }
        let job = self.job(resp.requestId).await?;
        let mine = job.state(job.trace.states.len() - 1);
        if self.config.mode == DisputeMode::Auto && !resp.traceCid.is_empty() {
            match self.one_shot(rid, resp, &job).await {
                Ok(true) => {
                    self.state.value.responses.insert(rid, Verdict::OneShot);
                    return self.state.save();
                }
                Ok(false) => {}
                Err(e) if e.is_retryable() => return Err(e),
                Err(e) => {
                    tracing::warn!(response = %rid, error = %e, "one-shot dispute failed; falling back to bisection")
                }
            }
        }
        let bond = U256::from(job.model.params.challengerBond);
        let (tx, receipt) = self
            .ctx
            .chain
            .send(
                "challenge",
                market
                    .challenge(resp.requestId, mine, job.tree.root())
                    .value(bond),
            )
            .await?;
        let gid =
            zkopml_chain::Chain::game_id(&receipt).expect("GameCreated in a successful receipt");
        self.ctx.record_tx(
            format!("challenge response {rid} -> game {gid} (bond {bond} wei)"),
            &tx,
        );
        self.state.value.responses.insert(rid, Verdict::Game(gid));
        self.state.save()
    }

    /// Disputes in one transaction from the submitter's published states: finds the first
    /// state that differs from ours and proves our transition into it. `Ok(false)` if the
    /// published trace does not match the response's root (then bisection decides).
    async fn one_shot(
        &mut self,
        rid: U256,
        resp: &zkopml_chain::market::Types::Response,
        job: &Job,
    ) -> Result<bool> {
        let published: PublishedTrace =
            get_json(&self.ctx.store, &resp.traceCid, "published trace")?;
        let theirs = KeccakTree::from_values(&published.states);
        if theirs.root() != resp.traceRoot || published.states.len() != job.trace.states.len() {
            return Ok(false);
        }
        let Some(j) = (0..published.states.len()).find(|i| published.states[*i] != job.state(*i))
        else {
            return Ok(false);
        };
        let market = self.ctx.chain.market();
        if j == 0 {
            let (tx, _) = self
                .ctx
                .chain
                .send(
                    "proveBindingFault",
                    market.proveBindingFault(
                        resp.requestId,
                        0,
                        published.states[0],
                        theirs.prove(0).expect("leaf 0").siblings,
                    ),
                )
                .await?;
            self.ctx
                .record_tx(format!("response {rid}: binding fault at S_0"), &tx);
            return Ok(true);
        }
        let step = j - 1;
        let started = std::time::Instant::now();
        let proof = prove_step(&self.ctx, job, step).await?;
        self.ctx.timeline.record(
            &self.ctx.role,
            format!(
                "response {rid}: proved step {step} in {:.2} s",
                started.elapsed().as_secs_f64()
            ),
            None,
        );
        let (digest, verifier, mproof) = job.model.leaf(step);
        let call = market.challengeOneShot(
            resp.requestId,
            step as u32,
            published.states[step],
            theirs.prove(step).expect("leaf").siblings,
            published.states[j],
            theirs.prove(j).expect("leaf").siblings,
            job.state(j),
            digest,
            verifier,
            mproof,
            proof.into(),
        );
        let (tx, _) = self.ctx.chain.send("challengeOneShot", call).await?;
        self.ctx.record_tx(
            format!("response {rid}: one-shot disproof at step {step}"),
            &tx,
        );
        Ok(true)
    }

    async fn play(&mut self, rid: U256, gid: U256) -> Result<()> {
        let market = self.ctx.chain.market();
        let g = self.ctx.chain.view("getGame", market.getGame(gid)).await?;
        if g.status != 0 {
            let outcome = [
                "in progress",
                "submitter won",
                "challenger won",
                "both lost",
                "cancelled",
            ][g.status.min(4) as usize];
            self.ctx.timeline.record(
                &self.ctx.role,
                format!("game {gid} resolved: {outcome}"),
                None,
            );
            self.state.value.responses.insert(rid, Verdict::Settled);
            // SubmitterWon or BothLost: the challenger's bond is gone.
            if g.status == 1 || g.status == 3 {
                self.state.value.lost.insert(gid);
            }
            return self.state.save();
        }
        let resp = self
            .ctx
            .chain
            .view("getResponseById", market.getResponseById(g.responseId))
            .await?;
        if resp.status == 2 {
            // Someone else disproved the response first: take our bond back.
            let (tx, _) = self
                .ctx
                .chain
                .send("cancelGame", market.cancelGame(gid))
                .await?;
            self.ctx.record_tx(
                format!("game {gid}: response already disproven, bond refunded"),
                &tx,
            );
            return Ok(());
        }
        let job = self.job(g.requestId).await?;
        let now = self.ctx.chain.now().await?;
        match g.phase {
            1 => {
                let reveals = self.ctx.chain.submitter_reveals(gid).await?;
                let Some(last) = reveals.into_iter().rev().find(|r| r.round == g.round) else {
                    return Ok(());
                };
                let states: Vec<B256> =
                    last.points.iter().map(|p| job.state(*p as usize)).collect();
                let proofs: Vec<Vec<B256>> = last
                    .points
                    .iter()
                    .map(|p| job.tree.prove(*p as usize).expect("point").siblings)
                    .collect();
                let (tx, _) = self
                    .ctx
                    .chain
                    .send(
                        "challengerReveal",
                        market.challengerReveal(gid, last.states, states, proofs),
                    )
                    .await?;
                self.ctx.record_tx(
                    format!(
                        "game {gid}: reveal {} states (round {})",
                        last.points.len(),
                        g.round
                    ),
                    &tx,
                );
            }
            0 if now > g.turnDeadline => {
                claim_timeout(&self.ctx, gid, "submitter timed out").await?
            }
            2 => play_leaf(&self.ctx, &job, gid, &g, g.hiChallenger, now).await?,
            _ => {}
        }
        Ok(())
    }
}
