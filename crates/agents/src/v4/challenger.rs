//! The version-4 challenger agent: checks every pending version-4 response by inference and
//! the outputs' `S_n` alone (no trace), challenges (bonded) each whose `S_n` differs from its
//! own with its own `S'_n` and trace root (the trace is computed then), then plays the game
//! to its end with a [`Player`], proving the leaf under the template keys when the descent
//! ends on its side.
//!
//! Crash safety: its state (a verdict per response) is written after each decision; a game
//! it opened but did not record (killed between `challenge` and the save, or opened by
//! another agent signing with the same key) is found on chain before it challenges again.
//!
//! Faults: a tick that fails on a retryable error (`AgentError::is_retryable`: the node
//! unreachable, a transaction dropped, a nonce taken, or a move that reverted because the
//! chain moved on) is simply run again; every move is decided from the game as read in that
//! tick. A game of ours that is no longer on chain (a reorganisation, a node restarted from
//! older state) is forgotten and its response checked again; after such a change, every
//! verdict is read again from the chain.

use std::{
    collections::{BTreeMap, BTreeSet, HashSet},
    path::PathBuf,
};

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};
use zkopml_chain::v4::{GameStatus, ResponseStatus};

use super::{
    game::event,
    job::{outcome, take_turns, Jobs},
    Defect, Player, Role, TemplateProver,
};
use crate::{head::HeadWatch, state::Persisted, Ctx, Result};

/// How the version-4 challenger behaves.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct V4ChallengerConfig {
    /// Claim a wrong run with a lie at this operator or node (a test actor); `None` is
    /// honest.
    pub lie: Option<Defect>,
    /// The template proving keys (the devnet's `keys/templates`).
    pub template_keys: PathBuf,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
enum Verdict {
    /// The response's `S_n` is ours.
    Agree,
    /// We challenged it: this game.
    Game {
        /// The game.
        game: U256,
        /// The request (the game does not record it).
        request: U256,
    },
    /// Our game on it is over.
    Over {
        /// The game.
        game: U256,
        /// The request.
        request: U256,
    },
    /// Our game on it is over, in a state file written before [`Verdict::Over`] kept the
    /// game (never re-read after a reorganisation).
    Settled,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct State {
    /// By response id.
    responses: BTreeMap<U256, Verdict>,
    /// Games that went against this challenger (the submitter won, or both lost).
    lost: BTreeSet<U256>,
}

/// A version-4 challenger agent (call [`V4Challenger::tick`] in a loop).
pub struct V4Challenger {
    ctx: Ctx,
    config: V4ChallengerConfig,
    state: Persisted<State>,
    jobs: Jobs,
    prover: TemplateProver,
    /// Responses read and found no longer challengeable (over, or past their window).
    closed: HashSet<U256>,
    /// The chain's head, to notice a reorganisation.
    head: HeadWatch,
}

impl V4Challenger {
    /// A challenger with persistent state under `ctx.state_dir`; fails if the deployment
    /// has no version-4 market.
    pub fn new(ctx: Ctx, config: V4ChallengerConfig) -> Result<Self> {
        let path = crate::state::v4_agent_state_path(&ctx)?;
        Ok(Self {
            state: Persisted::load(&path)?,
            prover: TemplateProver::new(&config.template_keys),
            ctx,
            config,
            jobs: Jobs::default(),
            closed: HashSet::new(),
            head: HeadWatch::default(),
        })
    }

    /// Whether no game of this agent is still open.
    pub fn idle(&self) -> bool {
        self.state
            .value
            .responses
            .values()
            .all(|v| !matches!(v, Verdict::Game { .. }))
    }

    /// How many of its games went against it.
    pub fn lost(&self) -> usize {
        self.state.value.lost.len()
    }

    /// How many responses it challenged.
    pub fn disputes(&self) -> usize {
        self.state
            .value
            .responses
            .values()
            .filter(|v| !matches!(v, Verdict::Agree))
            .count()
    }

    /// One pass: check new responses, play open games, withdraw.
    pub async fn tick(&mut self) -> Result<()> {
        if let Some(block) = self.head.moved(&self.ctx.chain).await? {
            self.reread(block)?;
        }
        let market = self.ctx.chain.market_v4()?;
        let counts = self.ctx.chain.view_v4("counts", market.counts()).await?;
        for rid in 1..=counts.responses.to::<u64>() {
            let rid = U256::from(rid);
            if self.state.value.responses.contains_key(&rid) || self.closed.contains(&rid) {
                continue;
            }
            let resp = self
                .ctx
                .chain
                .view_v4("getResponse", market.getResponse(rid))
                .await?;
            if ResponseStatus::try_from(resp.status)? != ResponseStatus::Pending
                || self.ctx.chain.now().await? > resp.challengeDeadline
            {
                self.closed.insert(rid);
                continue;
            }
            self.check(
                rid,
                resp.requestId,
                resp.outputCommitment,
                counts.games.to(),
            )
            .await?;
        }
        let games: Vec<(U256, U256, U256)> = self
            .state
            .value
            .responses
            .iter()
            .filter_map(|(r, v)| match v {
                Verdict::Game { game, request } => Some((*r, *game, *request)),
                _ => None,
            })
            .collect();
        for (rid, gid, request) in games {
            self.play(rid, gid, request).await?;
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
    /// from older state): every verdict is read again — a response we agreed with may be
    /// another one now, a game that was over may be running again (it is played on), a game
    /// of ours may be gone (its response is checked again).
    fn reread(&mut self, block: u64) -> Result<()> {
        self.ctx.timeline.record(
            &self.ctx.role,
            format!("the chain changed below block {block} (reorganised or rolled back): reading our verdicts and games again"),
            None,
        );
        tracing::warn!(
            block,
            "chain reorganised or rolled back; re-reading verdicts and games"
        );
        self.closed.clear();
        let v = &mut self.state.value;
        v.responses.retain(|_, verdict| *verdict != Verdict::Agree);
        for verdict in v.responses.values_mut() {
            if let Verdict::Over { game, request } = *verdict {
                v.lost.remove(&game);
                *verdict = Verdict::Game { game, request };
            }
        }
        self.state.save()
    }

    async fn check(
        &mut self,
        rid: U256,
        request_id: U256,
        output: alloy_primitives::B256,
        games: u64,
    ) -> Result<()> {
        let Some(job) = self
            .jobs
            .run_or_skip(&self.ctx, request_id, self.config.lie.as_ref())
            .await?
        else {
            // Unchecked: the response stays unchallenged by us (the warning says why).
            self.closed.insert(rid);
            return Ok(());
        };
        let mine = job.output_state;
        if mine == output {
            self.ctx.timeline.record(
                &self.ctx.role,
                format!("response {rid} (request {request_id}) agrees with my run: no challenge"),
                None,
            );
            self.state.value.responses.insert(rid, Verdict::Agree);
            return self.state.save();
        }
        let market = self.ctx.chain.market_v4()?;
        // The trace first (the slow part), then the look for a game of ours, then the
        // challenge: another agent with our key may challenge meanwhile.
        let root = job.trace()?.root();
        // A game of ours may already exist (we crashed after challenging, or another agent
        // with our key challenged): find it on chain, counting the games afresh.
        let games = games.max(
            self.ctx
                .chain
                .view_v4("counts", market.counts())
                .await?
                .games
                .to(),
        );
        for gid in (1..=games).rev() {
            let gid = U256::from(gid);
            let g = self
                .ctx
                .chain
                .view_v4("getGame", market.getGame(gid))
                .await?;
            if g.responseId == rid && g.challenger == self.ctx.chain.address {
                self.ctx.timeline.record(
                    &self.ctx.role,
                    format!("found our game {gid} on response {rid} on chain"),
                    None,
                );
                self.state.value.responses.insert(
                    rid,
                    Verdict::Game {
                        game: gid,
                        request: request_id,
                    },
                );
                return self.state.save();
            }
        }
        let bond = U256::from(job.model.params.challengerBond);
        let (tx, receipt) = self
            .ctx
            .chain
            .send_v4(
                "challenge",
                market.challenge(request_id, mine, root).value(bond),
            )
            .await?;
        let gid = event::<zkopml_chain::market_v4::InferenceMarketV4::GameCreated>(
            &receipt,
            "challenge",
        )?
        .gameId;
        let lie = match (&self.config.lie, job.fault) {
            (Some(d), Some((node, element))) => {
                format!(" with a WRONG claim: a lie at {d} (node {node}, element {element})")
            }
            _ => String::new(),
        };
        self.ctx.record_tx(
            format!("challenge response {rid} (its S_n differs from mine){lie} -> game {gid}, bond {bond} wei"),
            &tx,
        );
        self.state.value.responses.insert(
            rid,
            Verdict::Game {
                game: gid,
                request: request_id,
            },
        );
        self.state.save()
    }

    async fn play(&mut self, rid: U256, gid: U256, request_id: U256) -> Result<()> {
        let market = self.ctx.chain.market_v4()?;
        let g = self
            .ctx
            .chain
            .view_v4("getGame", market.getGame(gid))
            .await?;
        // INVARIANT: a verdict names a game we opened on that response. One that is not on
        // chain any more (a reorganisation or a node restarted from older state took our
        // `challenge` back; the id may even be another's game now) is forgotten: the
        // response is checked again, and challenged again while it is pending.
        if g.challenger != self.ctx.chain.address || g.responseId != rid {
            self.ctx.timeline.record(
                &self.ctx.role,
                format!("our game {gid} on response {rid} is no longer on chain: checking the response again"),
                None,
            );
            self.state.value.responses.remove(&rid);
            return self.state.save();
        }
        let status = GameStatus::try_from(g.status)?;
        if status != GameStatus::InProgress {
            self.ctx.timeline.record(
                &self.ctx.role,
                format!(
                    "game {gid} {}: {status:?}",
                    outcome(status, Role::Challenger)
                ),
                None,
            );
            self.state.value.responses.insert(
                rid,
                Verdict::Over {
                    game: gid,
                    request: request_id,
                },
            );
            if matches!(status, GameStatus::SubmitterWon | GameStatus::BothLost) {
                self.state.value.lost.insert(gid);
            }
            self.jobs.forget(request_id);
            return self.state.save();
        }
        let resp = self
            .ctx
            .chain
            .view_v4("getResponse", market.getResponse(g.responseId))
            .await?;
        if ResponseStatus::try_from(resp.status)? != ResponseStatus::Pending {
            // Something else ended the response first: take our bond back.
            let (tx, _) = self
                .ctx
                .chain
                .send_v4("cancelGame", market.cancelGame(gid))
                .await?;
            self.ctx.record_tx(
                format!("game {gid}: response {rid} already over, cancelled"),
                &tx,
            );
            return Ok(());
        }
        let job = self
            .jobs
            .run(&self.ctx, request_id, self.config.lie.as_ref())
            .await?;
        let player = Player {
            role: Role::Challenger,
            chain: self.ctx.chain.clone(),
            model: &job.model.model,
            trace: job.trace()?,
            prover: &self.prover,
            request_id,
        };
        take_turns(&self.ctx, &player, gid).await?;
        Ok(())
    }
}
