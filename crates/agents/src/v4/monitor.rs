//! The version-4 monitor: a watcher with no stake that re-checks every response by its own
//! inference and `S_n` (as an honest challenger does, no trace) and raises an [`Alert`] when
//! the market is about to go, or went, against the truth — what operators of a dispute game
//! watch for (Optimism's dispute-mon: games the honest side may lose, unclaimed bonds).
//!
//! Each alert fires once. The monitor never sends a transaction: it only reads the chain and
//! the content store, so it can run against any RPC with any (or no funded) account.

use std::collections::{BTreeMap, HashMap, HashSet};

use alloy_primitives::{Address, B256, U256};
use serde::Serialize;
use zkopml_chain::v4::{GameStatus, Phase, ResponseStatus};

use super::{
    job::Jobs,
    status::{self, GameView, RequestView, ResponseView},
};
use crate::{Ctx, Result};

/// How close to a deadline (seconds) the monitor raises a "may lose" alert.
pub const DEFAULT_MARGIN: u64 = 120;

/// Which side of a game the monitor's own run says is right.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum HonestSide {
    /// The response's `S_n` is the monitor's: the submitter is right.
    Submitter,
    /// The response's `S_n` is not the monitor's: the challenger is right (if its own
    /// claim is; the monitor checks the response only).
    Challenger,
}

/// Something an operator must look at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "alert", rename_all = "snake_case")]
pub enum Alert {
    /// A pending response whose `S_n` is not what the monitor computes.
    WrongResponse {
        /// The request.
        request: u64,
        /// The response.
        response: u64,
        /// Its submitter.
        submitter: Address,
        /// `S_n` on chain.
        claimed: B256,
        /// `S_n` of the monitor's run.
        computed: B256,
        /// Games open on it when found (0: nobody challenges it yet).
        open_games: u32,
    },
    /// A wrong response nobody challenges, within `margin` seconds of its challenge window's
    /// end: it becomes final unless someone challenges now.
    WrongResponseUnchallenged {
        /// The request.
        request: u64,
        /// The response.
        response: u64,
        /// Seconds left in its challenge window.
        seconds_left: u64,
    },
    /// A wrong response became final: the requester was paid a wrong answer.
    WrongResponseFinalized {
        /// The request.
        request: u64,
        /// The response.
        response: u64,
    },
    /// A response whose `S_n` the monitor computes too was disproven: its honest submitter
    /// lost its bond.
    RightResponseDisproven {
        /// The request.
        request: u64,
        /// The response.
        response: u64,
        /// Its submitter.
        submitter: Address,
    },
    /// A game in which the side that is right has to act within `margin` seconds (or is
    /// overdue: anyone may claim the timeout against it).
    HonestSideMayLose {
        /// The game.
        game: u64,
        /// The response it disputes.
        response: u64,
        /// The side that is right.
        honest: HonestSide,
        /// What the game waits for.
        waiting_for: String,
        /// Seconds to the deadline (negative: overdue).
        seconds_left: i64,
    },
    /// A game that ended against the side that is right.
    HonestSideLost {
        /// The game.
        game: u64,
        /// The response it disputed.
        response: u64,
        /// The side that was right.
        honest: HonestSide,
        /// How it ended.
        status: GameStatus,
    },
    /// An account the market owes has not withdrawn for `margin` seconds.
    UnclaimedBalance {
        /// The account.
        account: Address,
        /// What the market owes it (wei).
        wei: U256,
    },
    /// A request the monitor cannot check (its model does not load, its inputs are missing
    /// or malformed): responses to it are not watched.
    CannotCheck {
        /// The request.
        request: u64,
    },
}

impl Alert {
    /// What fires once: one key per alert kind and subject.
    fn key(&self) -> String {
        match self {
            Alert::WrongResponse { response, .. } => format!("wrong/{response}"),
            Alert::WrongResponseUnchallenged { response, .. } => format!("unchallenged/{response}"),
            Alert::WrongResponseFinalized { response, .. } => format!("finalized/{response}"),
            Alert::RightResponseDisproven { response, .. } => format!("disproven/{response}"),
            Alert::HonestSideMayLose {
                game, waiting_for, ..
            } => {
                format!("may-lose/{game}/{waiting_for}")
            }
            Alert::HonestSideLost { game, .. } => format!("lost/{game}"),
            Alert::UnclaimedBalance { account, wei } => format!("unclaimed/{account}/{wei}"),
            Alert::CannotCheck { request } => format!("cannot-check/{request}"),
        }
    }
}

impl std::fmt::Display for Alert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Alert::WrongResponse {
                request,
                response,
                submitter,
                claimed,
                computed,
                open_games,
            } => write!(
                f,
                "WRONG RESPONSE {response} to request {request} by {submitter}: S_n {claimed}, ours {computed} ({open_games} games open on it)"
            ),
            Alert::WrongResponseUnchallenged {
                request,
                response,
                seconds_left,
            } => write!(
                f,
                "UNCHALLENGED wrong response {response} to request {request}: final in {seconds_left} s unless challenged"
            ),
            Alert::WrongResponseFinalized { request, response } => write!(
                f,
                "WRONG RESPONSE FINAL: response {response} to request {request} was accepted"
            ),
            Alert::RightResponseDisproven {
                request,
                response,
                submitter,
            } => write!(
                f,
                "RIGHT RESPONSE DISPROVEN: response {response} to request {request} by {submitter} is what we compute, and it lost"
            ),
            Alert::HonestSideMayLose {
                game,
                response,
                honest,
                waiting_for,
                seconds_left,
            } => {
                let when = if *seconds_left >= 0 {
                    format!("{seconds_left} s left")
                } else {
                    format!("{} s overdue", -seconds_left)
                };
                write!(
                    f,
                    "HONEST SIDE MAY LOSE game {game} (response {response}): the {honest:?} is right and the game waits for {waiting_for}, {when}"
                )
            }
            Alert::HonestSideLost {
                game,
                response,
                honest,
                status,
            } => write!(
                f,
                "HONEST SIDE LOST game {game} (response {response}): the {honest:?} was right, the game ended {status}"
            ),
            Alert::UnclaimedBalance { account, wei } => {
                write!(f, "UNCLAIMED {wei} wei owed to {account} by the market")
            }
            Alert::CannotCheck { request } => write!(
                f,
                "CANNOT CHECK request {request}: its model or inputs do not load (see the log)"
            ),
        }
    }
}

/// The version-4 monitor (call [`V4Monitor::tick`] in a loop).
pub struct V4Monitor {
    ctx: Ctx,
    margin: u64,
    jobs: Jobs,
    /// Our `S_n` per request (`None`: cannot check it).
    computed: HashMap<u64, Option<B256>>,
    /// Keys of the alerts fired.
    fired: HashSet<String>,
    /// When an account was first seen owed a balance (block time).
    owed_since: BTreeMap<Address, u64>,
    /// See [`V4Monitor::idle`].
    idle: bool,
}

impl V4Monitor {
    /// A monitor raising "may lose" and "unclaimed" alerts `margin` seconds ahead.
    pub fn new(ctx: Ctx, margin: u64) -> Self {
        Self {
            ctx,
            margin,
            jobs: Jobs::default(),
            computed: HashMap::new(),
            fired: HashSet::new(),
            owed_since: BTreeMap::new(),
            idle: false,
        }
    }

    /// How many alerts fired so far.
    pub fn alerts(&self) -> usize {
        self.fired.len()
    }

    /// How many responses it has checked (or found it cannot check).
    pub fn checked(&self) -> usize {
        self.computed.len()
    }

    /// Whether, at the last pass, there was something to watch and nothing was left
    /// pending: at least one response, every response settled, no game in progress.
    pub fn idle(&self) -> bool {
        self.idle
    }

    /// One pass over the market: the alerts that fire now (each only once).
    pub async fn tick(&mut self) -> Result<Vec<Alert>> {
        let views = status::requests(&self.ctx.chain).await?;
        let now = self.ctx.chain.now().await?;
        let mut alerts = Vec::new();
        let mut parties = HashSet::new();
        self.idle = views.iter().any(|r| !r.responses.is_empty())
            && views.iter().all(|r| {
                r.responses.iter().all(|resp| {
                    resp.status != ResponseStatus::Pending
                        && resp
                            .games
                            .iter()
                            .all(|g| g.status != GameStatus::InProgress)
                })
            });
        for r in &views {
            for resp in &r.responses {
                parties.insert(resp.submitter);
                parties.extend(resp.games.iter().map(|g| g.challenger));
                // Voided by a verifier failure: everything was refunded, nothing to judge.
                if resp.status == ResponseStatus::Voided {
                    continue;
                }
                let Some(ours) = self.ours(r, &mut alerts).await? else {
                    continue;
                };
                self.check_response(r, resp, ours, now, &mut alerts);
            }
        }
        parties.extend(views.iter().map(|r| r.requester));
        let m = self.ctx.chain.market_v4()?;
        for account in parties {
            let wei = self
                .ctx
                .chain
                .view_v4("balances", m.balances(account))
                .await?;
            if wei.is_zero() {
                self.owed_since.remove(&account);
                continue;
            }
            let since = *self.owed_since.entry(account).or_insert(now);
            if now.saturating_sub(since) >= self.margin {
                alerts.push(Alert::UnclaimedBalance { account, wei });
            }
        }
        alerts.retain(|a| self.fired.insert(a.key()));
        for a in &alerts {
            tracing::info!(alert = %a, "monitor");
        }
        Ok(alerts)
    }

    /// Our `S_n` for request `r` (run once); `None` if it cannot be run (alerted).
    async fn ours(&mut self, r: &RequestView, alerts: &mut Vec<Alert>) -> Result<Option<B256>> {
        if let Some(s) = self.computed.get(&r.id) {
            return Ok(*s);
        }
        let s = self
            .jobs
            .run_or_skip(&self.ctx, U256::from(r.id), None)
            .await?
            .map(|j| j.output_state);
        if s.is_none() {
            alerts.push(Alert::CannotCheck { request: r.id });
        }
        // The outputs are not needed again: keep only S_n.
        self.jobs.forget(U256::from(r.id));
        self.computed.insert(r.id, s);
        Ok(s)
    }

    fn check_response(
        &self,
        r: &RequestView,
        resp: &ResponseView,
        ours: B256,
        now: u64,
        alerts: &mut Vec<Alert>,
    ) {
        let right = resp.output_commitment == ours;
        if !right {
            match resp.status {
                ResponseStatus::Pending => {
                    alerts.push(Alert::WrongResponse {
                        request: r.id,
                        response: resp.id,
                        submitter: resp.submitter,
                        claimed: resp.output_commitment,
                        computed: ours,
                        open_games: resp.open_games,
                    });
                    let left = resp.challenge_deadline.saturating_sub(now);
                    if resp.open_games == 0 && now <= resp.challenge_deadline && left <= self.margin
                    {
                        alerts.push(Alert::WrongResponseUnchallenged {
                            request: r.id,
                            response: resp.id,
                            seconds_left: left,
                        });
                    }
                }
                ResponseStatus::Finalized => alerts.push(Alert::WrongResponseFinalized {
                    request: r.id,
                    response: resp.id,
                }),
                _ => {}
            }
        } else if resp.status == ResponseStatus::Disproven {
            alerts.push(Alert::RightResponseDisproven {
                request: r.id,
                response: resp.id,
                submitter: resp.submitter,
            });
        }
        let honest = if right {
            HonestSide::Submitter
        } else {
            HonestSide::Challenger
        };
        for g in &resp.games {
            self.check_game(g, resp.id, honest, now, alerts);
        }
    }

    fn check_game(
        &self,
        g: &GameView,
        response: u64,
        honest: HonestSide,
        now: u64,
        alerts: &mut Vec<Alert>,
    ) {
        let lost = matches!(
            (g.status, honest),
            (GameStatus::ChallengerWon, HonestSide::Submitter)
                | (GameStatus::SubmitterWon, HonestSide::Challenger)
                | (GameStatus::BothLost, _)
        );
        if lost {
            alerts.push(Alert::HonestSideLost {
                game: g.id,
                response,
                honest,
                status: g.status,
            });
            return;
        }
        let Some(waiting_for) = g.waiting_for() else {
            return;
        };
        // Whose move it is; the leaf proof and an assembly fault can come from anyone, so
        // they count against the honest side (it is the one that wants them).
        let on_honest = match mover(g) {
            Some(side) => side == honest,
            None => true,
        };
        let left = g.turn_deadline as i64 - now as i64;
        if on_honest && left <= self.margin as i64 {
            alerts.push(Alert::HonestSideMayLose {
                game: g.id,
                response,
                honest,
                waiting_for: waiting_for.to_string(),
                seconds_left: left,
            });
        }
    }
}

/// The side whose move game `g` waits for (`None`: anyone's, such as a leaf proof).
fn mover(g: &GameView) -> Option<HonestSide> {
    use zkopml_chain::v4::DescentPhase as D;
    match g.phase {
        Phase::SubmitterReveal | Phase::SubmitterOpenStep | Phase::SubmitterOps => {
            Some(HonestSide::Submitter)
        }
        Phase::DescentStart => Some(HonestSide::Submitter),
        Phase::ChallengerReveal | Phase::ChallengerOpenStep | Phase::ChallengerOps => {
            Some(HonestSide::Challenger)
        }
        Phase::Descent => match g.descent.as_ref().map(|d| d.phase) {
            Some(D::SubmitterOpen | D::SubmitterReveal) => Some(HonestSide::Submitter),
            Some(D::ChallengerOpen | D::ChallengerReveal) => Some(HonestSide::Challenger),
            _ => None,
        },
        Phase::AssemblyProving | Phase::Resolved => None,
    }
}
