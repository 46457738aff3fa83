//! `status` (requests, responses, games; `--watch` follows them) and `result` (a request's
//! output as real numbers). Reading and printing only: the views are
//! `zkopml_agents::status`'s.

use std::{path::Path, time::Duration};

use clap::Args;
use zkopml_agents::{
    status::{self, GameView, RequestView, ResultView},
    DevnetConfig, Timeline,
};
use zkopml_chain::types::{GamePhase, GameStatus};

#[derive(Args, Debug)]
pub(crate) struct StatusArgs {
    /// Only this request (default: every request).
    request: Option<u64>,
    /// Keep following: print again whenever something changes (Ctrl-C stops).
    #[arg(long)]
    watch: bool,
    /// Seconds between polls with `--watch`.
    #[arg(long, default_value_t = 2)]
    interval: u64,
}

#[derive(Args, Debug)]
pub(crate) struct ResultArgs {
    /// The request.
    request: u64,
}

fn eth(wei: u128) -> String {
    format!("{} ETH", wei as f64 / 1e18)
}

fn game_line(g: &GameView, now: u64) -> String {
    let left = |deadline: u64| {
        if deadline >= now {
            format!("{} s left", deadline - now)
        } else {
            format!("{} s overdue: anyone may claim the timeout", now - deadline)
        }
    };
    let state = match (g.status, g.phase) {
        (GameStatus::InProgress, GamePhase::SubmitterReveal) => {
            format!("submitter to move, {}", left(g.turn_deadline))
        }
        (GameStatus::InProgress, GamePhase::ChallengerReveal) => {
            format!("challenger to move, {}", left(g.turn_deadline))
        }
        (GameStatus::InProgress, _) => {
            format!("waiting for the leaf proof, {}", left(g.proving_deadline))
        }
        (s, _) => s.to_string(),
    };
    format!(
        "game {} vs {}: steps [{}, {}] of {} after {} rounds; {state}; clocks {} s / {} s; bond {}",
        g.id,
        g.challenger,
        g.lo,
        g.hi,
        g.num_steps,
        g.round,
        g.submitter_clock,
        g.challenger_clock,
        eth(g.bond)
    )
}

fn print_request(r: &RequestView, now: u64) {
    println!(
        "request {} (model {}, fee {}): {} — input {}",
        r.id,
        r.model_id,
        eth(r.fee),
        r.status,
        r.input_cid
    );
    for resp in &r.responses {
        let window = if resp.challenge_deadline >= now {
            format!(
                ", challenge window {} s left",
                resp.challenge_deadline - now
            )
        } else {
            String::new()
        };
        println!(
            "  response {} by {}: {}{window}; output {} ({})",
            resp.id, resp.submitter, resp.status, resp.output_commitment, resp.output_cid
        );
        for g in &resp.games {
            println!("    {}", game_line(g, now));
        }
    }
}

pub(crate) fn status(
    a: StatusArgs,
    config: &Path,
    kubo: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut cfg = DevnetConfig::read(config)?;
    if let Some(k) = kubo {
        cfg.kubo_api = Some(k.to_string());
    }
    let ctx = cfg.ctx("requester", Timeline::default())?;
    let rt = tokio::runtime::Runtime::new()?;
    let mut last = String::new();
    loop {
        let views = match a.request {
            Some(id) => vec![rt.block_on(status::request(&ctx.chain, id))?],
            None => rt.block_on(status::requests(&ctx.chain))?,
        };
        let now = rt.block_on(ctx.chain.latest_timestamp())?;
        let snapshot = serde_json::to_string(&views)?;
        if snapshot != last {
            if json {
                // One line per snapshot, so `--watch --json` is a stream of JSON lines.
                println!("{}", serde_json::json!({ "time": now, "requests": views }));
            } else {
                if a.watch {
                    println!("--- block time {now}");
                }
                if views.is_empty() {
                    println!("no requests yet");
                }
                views.iter().for_each(|r| print_request(r, now));
            }
            last = snapshot;
        }
        if !a.watch {
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(a.interval.max(1)));
    }
}

pub(crate) fn result(
    a: ResultArgs,
    config: &Path,
    kubo: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut cfg = DevnetConfig::read(config)?;
    if let Some(k) = kubo {
        cfg.kubo_api = Some(k.to_string());
    }
    let ctx = cfg.ctx("requester", Timeline::default())?;
    let rt = tokio::runtime::Runtime::new()?;
    let r: ResultView = rt.block_on(status::result(&ctx, a.request))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "request {}: {}{}; output {} ({}), checked against the commitment on chain",
        r.request_id,
        r.status,
        if r.is_final {
            " (final)"
        } else {
            " (not final yet: it may still be disproven)"
        },
        r.output_commitment,
        r.output_cid
    );
    for (name, t) in &r.outputs {
        let values: Vec<String> = t
            .data
            .iter()
            .map(|v| v.map_or("NaN".into(), |x| format!("{x:.6}")))
            .collect();
        println!("{name} {:?}: [{}]", t.shape, values.join(", "));
    }
    Ok(())
}
