//! `status` (requests, responses, games; `--watch` follows them) and `result` (a request's
//! output as real numbers), for either market (`--protocol 3|4`). Reading and printing
//! only: the views are `zkopml_agents::status`'s and `zkopml_agents::v4::status`'s.

use std::{fmt::Display, path::Path, time::Duration};

use clap::Args;
use zkopml_agents::{
    status::{self, GameView, RequestView, ResponseView, ResultView},
    v4::status as v4status,
    Ctx,
};
use zkopml_chain::{
    types::{GamePhase, GameStatus},
    v4::Phase,
};

use crate::devnet::parse_protocol;

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
    /// Which market: 3 (`InferenceMarket`) or 4 (`InferenceMarketV4`); their request ids
    /// are separate.
    #[arg(long, default_value = "3", value_parser = parse_protocol)]
    protocol: u8,
}

#[derive(Args, Debug)]
pub(crate) struct ResultArgs {
    /// The request.
    request: u64,
    /// Which market the request is on: 3 or 4.
    #[arg(long, default_value = "3", value_parser = parse_protocol)]
    protocol: u8,
}

fn eth(wei: u128) -> String {
    format!("{} ETH", wei as f64 / 1e18)
}

/// `deadline` relative to `now`, in words.
fn time_left(deadline: u64, now: u64) -> String {
    if deadline >= now {
        format!("{} s left", deadline - now)
    } else {
        format!("{} s overdue: anyone may claim the timeout", now - deadline)
    }
}

/// `, challenge window N s left` while a pending response can still be challenged.
fn window_left(pending: bool, deadline: u64, now: u64) -> String {
    if pending && deadline >= now {
        format!(", challenge window {} s left", deadline - now)
    } else {
        String::new()
    }
}

fn game_line(g: &GameView, now: u64) -> String {
    let state = match (g.status, g.phase) {
        (GameStatus::InProgress, GamePhase::SubmitterReveal) => {
            format!("submitter to move, {}", time_left(g.turn_deadline, now))
        }
        (GameStatus::InProgress, GamePhase::ChallengerReveal) => {
            format!("challenger to move, {}", time_left(g.turn_deadline, now))
        }
        (GameStatus::InProgress, _) => format!(
            "waiting for the leaf proof, {}",
            time_left(g.proving_deadline, now)
        ),
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

/// A request, its responses and their games, one line each, on either market: `v4` adds
/// whether the response's trace is committed (version 4 commits it only for a game).
fn request_lines<S: Display, RS: Display, G>(
    r: &RequestView<S, ResponseView<RS, G>>,
    now: u64,
    v4: bool,
    game_line: impl Fn(&G, u64) -> String,
) -> Vec<String> {
    let mut lines = vec![format!(
        "request {} ({}model {}, fee {}): {} — input {}",
        r.id,
        if v4 { "v4 " } else { "" },
        r.model_id,
        eth(r.fee),
        r.status,
        r.input_cid
    )];
    for resp in &r.responses {
        let trace = match (v4, resp.trace_root.is_zero()) {
            (false, _) => String::new(),
            (true, true) => "; no trace committed".into(),
            (true, false) => format!("; trace root {}", resp.trace_root),
        };
        let status = resp.status.to_string();
        lines.push(format!(
            "  response {} by {}: {status}{}; output {} ({}){trace}",
            resp.id,
            resp.submitter,
            window_left(status == "Pending", resp.challenge_deadline, now),
            resp.output_commitment,
            resp.output_cid
        ));
        lines.extend(
            resp.games
                .iter()
                .map(|g| format!("    {}", game_line(g, now))),
        );
    }
    lines
}

fn v4_game_line(g: &v4status::GameView, now: u64) -> String {
    let state = match g.waiting_for() {
        Some(what) => format!("waiting for {what}, {}", time_left(g.turn_deadline, now)),
        None => g.status.to_string(),
    };
    let level = match (&g.descent, g.phase) {
        (Some(d), _) => format!(
            "step {} operator {}: chunk descent level {}/{} at node {} ({} output chunks)",
            g.lo, g.op_position, d.level, d.depth, d.position, d.output_chunks
        ),
        (None, Phase::SubmitterReveal | Phase::ChallengerReveal) => format!(
            "steps [{}, {}] of {} after {} rounds",
            g.lo, g.hi, g.num_steps, g.round
        ),
        (None, _) => format!("step {} of {} (its operators)", g.lo, g.num_steps),
    };
    format!(
        "game {} vs {}: {level}; {state}; clocks {} s / {} s; bond {}",
        g.id,
        g.challenger,
        g.submitter_clock,
        g.challenger_clock,
        eth(g.bond)
    )
}

/// The requests `a` asks for on its market: as JSON (printed with `--json`, and compared
/// between polls with `--watch`) and as lines for people.
fn snapshot(
    rt: &tokio::runtime::Runtime,
    ctx: &Ctx,
    a: &StatusArgs,
    now: u64,
) -> anyhow::Result<(serde_json::Value, Vec<String>)> {
    Ok(if a.protocol == 4 {
        let views = match a.request {
            Some(id) => vec![rt.block_on(v4status::request(&ctx.chain, id))?],
            None => rt.block_on(v4status::requests(&ctx.chain))?,
        };
        let lines = views
            .iter()
            .flat_map(|r| request_lines(r, now, true, v4_game_line));
        (serde_json::to_value(&views)?, lines.collect())
    } else {
        let views = match a.request {
            Some(id) => vec![rt.block_on(status::request(&ctx.chain, id))?],
            None => rt.block_on(status::requests(&ctx.chain))?,
        };
        let lines = views
            .iter()
            .flat_map(|r| request_lines(r, now, false, game_line));
        (serde_json::to_value(&views)?, lines.collect())
    })
}

pub(crate) fn status(
    a: StatusArgs,
    config: &Path,
    node: &crate::devnet::Node,
    json: bool,
) -> anyhow::Result<()> {
    let ctx = crate::devnet::reader(config, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    let mut last = serde_json::Value::Null;
    loop {
        let now = rt.block_on(ctx.chain.latest_timestamp())?;
        let (views, lines) = snapshot(&rt, &ctx, &a, now)?;
        if views != last {
            if json {
                // One line per snapshot, so `--watch --json` is a stream of JSON lines.
                println!(
                    "{}",
                    serde_json::json!({ "time": now, "protocol": a.protocol, "requests": views })
                );
            } else {
                if a.watch {
                    println!("--- block time {now}");
                }
                if lines.is_empty() {
                    println!("no requests yet (protocol {})", a.protocol);
                }
                lines.iter().for_each(|l| println!("{l}"));
            }
            last = views;
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
    node: &crate::devnet::Node,
    json: bool,
) -> anyhow::Result<()> {
    let ctx = crate::devnet::reader(config, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    let r: ResultView = if a.protocol == 4 {
        rt.block_on(v4status::result(&ctx, a.request))?
    } else {
        rt.block_on(status::result(&ctx, a.request))?
    };
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
