//! `demo --protocol 4`: the whole story under version 4 on a fresh devnet. The model is
//! registered with no key setup; a defective submitter answers; an honest challenger
//! disputes and both sides play the three-level game (docs/protocol.md §10.2) with
//! [`v4::Player`]s to a real template proof verified on chain; then an honest response
//! finalises after the challenge window (the demo's own devnet clock is advanced past it:
//! version 4's shortest window is 10 minutes).

use std::{
    path::Path,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, U256};
use anyhow::Context;
use serde::Serialize;
use zkopml_agents::{
    v4::{self, LoadedV4, Player, Role, TemplateProver},
    DevnetConfig, Timeline, TimelineEntry,
};
use zkopml_chain::v4::{GameStatus, ResponseStatus};
use zkopml_engine::io::{quantize_inputs, TensorFile};
use zkopml_prover::v4::V4Trace;

use crate::{
    demo::{model_paths, DemoArgs, Lost},
    devnet::{spinner, V4_MIN_CHALLENGE_WINDOW},
    v4::{Registered, V4_OPS_PER_STEP},
};

/// One move of the game as the demo saw it.
#[derive(Clone, Debug, Serialize)]
struct MoveRow {
    actor: &'static str,
    phase: String,
    gas: u64,
    /// Wall time of the move: its proof (for `resolveLeaf`) and its transaction.
    seconds: f64,
}

/// The lie the defective submitter tells.
#[derive(Clone, Debug, Serialize)]
struct Fault {
    /// The lowered step named by `--defect` (default: the middle step).
    step: usize,
    /// The engine node whose output it changes.
    node: usize,
    node_name: String,
    /// The element whose low bit it flips (the first whose flip reaches `S_n`).
    element: usize,
}

/// Where the game ended.
#[derive(Clone, Debug, Serialize)]
struct GameEnd {
    id: String,
    status: String,
    /// The disputed step (level 1), operator (level 2) and chunk (level 3).
    step: u32,
    operator: usize,
    template: &'static str,
    chunk: u64,
    moves: usize,
    total_gas: u64,
}

/// The leaf proof that decided the game.
#[derive(Clone, Debug, Serialize)]
struct LeafProof {
    template: &'static str,
    /// `resolveLeaf` gas (template verifier included).
    gas: u64,
    /// Wall time of the proof and its transaction.
    seconds: f64,
    /// The deployed template verifier accepted it (`resolveLeaf` was mined, the game went
    /// to the prover's side).
    verified_on_chain: bool,
}

#[derive(Serialize)]
struct Summary {
    protocol: u8,
    model: String,
    register: Registered,
    fault: Fault,
    game: GameEnd,
    leaf_proof: LeafProof,
    moves: Vec<MoveRow>,
    timeline: Vec<TimelineEntry>,
    phases: Vec<(String, f64)>,
    /// Wallet changes (gas included) after every role withdrew its market credit.
    balance_changes_wei: Vec<(String, String)>,
    challenger_won: bool,
    honest_final: bool,
}

/// The devnet roles the demo uses and their signing chain clients.
const ROLES: [&str; 5] = [
    "owner",
    "requester",
    "submitter",
    "challenger1",
    "submitter2",
];

async fn wallets(cfg: &DevnetConfig) -> anyhow::Result<Vec<(String, Address, U256)>> {
    crate::demo::balances(cfg, &ROLES).await
}

/// A party's trace of request `request_id`: the request's model and inputs loaded from the
/// chain and the content store, the run (with `fault`, for the defective submitter)
/// checked to start from the request's `S_0`.
async fn party_trace(
    cfg: &DevnetConfig,
    role: &str,
    timeline: &Timeline,
    request_id: U256,
) -> anyhow::Result<(LoadedV4, Vec<zkopml_engine::Tensor>, V4Trace)> {
    let ctx = cfg.ctx(role, timeline.clone())?;
    let (model, inputs, s0) = v4::load_request(&ctx, request_id).await?;
    let s = spinner(&format!("{role}: computing its version-4 trace"));
    let t = v4::trace(&model, &inputs, None, Some(s0));
    s.finish_and_clear();
    Ok((model, inputs, t?))
}

/// Plays game `id` to its end, recording each move (with its wall time) in `timeline`.
async fn play(
    sub: &Player<'_>,
    chal: &Player<'_>,
    id: U256,
    timeline: &Timeline,
) -> anyhow::Result<(GameStatus, Vec<MoveRow>)> {
    let mut moves = Vec::new();
    let mut retries = 0;
    for _ in 0..2_000 {
        let g = v4::game(&sub.chain, id).await?;
        let status = GameStatus::try_from(g.status)?;
        if status != GameStatus::InProgress {
            return Ok((status, moves));
        }
        let mut moved = None;
        let mut dropped = false;
        for (p, actor) in [(sub, "submitter"), (chal, "challenger1")] {
            let t = Instant::now();
            match p.step(id).await {
                Ok(Some(mv)) => {
                    moved = Some((mv, actor, t.elapsed().as_secs_f64()));
                    break;
                }
                Ok(None) => {}
                // The node dropped a request: retry, as the agents do on their next tick.
                Err(e) if e.is_retryable() && retries < 20 => {
                    retries += 1;
                    tracing::warn!(%e, retries, "node unavailable, retrying");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                    dropped = true;
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if dropped {
            continue;
        }
        let Some((mv, actor, seconds)) = moved else {
            anyhow::bail!(Lost(format!(
                "neither side can move in game {id} (phase {})",
                g.phase
            )));
        };
        retries = 0;
        let what = if mv.phase.starts_with("resolveLeaf") {
            format!(
                "{} (game {id}): leaf proved and verified on chain by the template verifier, {seconds:.2} s",
                mv.phase
            )
        } else {
            format!("{} (game {id})", mv.phase)
        };
        timeline.record(actor, what, Some(mv.tx.gas_used));
        moves.push(MoveRow {
            actor,
            phase: mv.phase,
            gas: mv.tx.gas_used,
            seconds,
        });
    }
    anyhow::bail!("game {id} did not end within 2,000 moves")
}

pub(crate) async fn run(
    a: &DemoArgs,
    config_path: &Path,
    template_keys: &Path,
    kubo_api: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let (onnx, input) = model_paths(a);
    let timeline = Timeline::default();
    let mut phases: Vec<(String, f64)> = Vec::new();
    let mut phase =
        |name: &str, t: Instant| phases.push((name.to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    let opts = zkopml_agents::devnet::UpOptions {
        v4: true,
        template_keys: Some(template_keys.to_path_buf()),
        persist_state: false,
        time_floor: zkopml_agents::v4::DEVNET_TIME_FLOOR,
    };
    let s = spinner(
        "devnet: anvil, contracts, template verifiers (template test keys: made once, then cached)",
    );
    let cfg = zkopml_agents::devnet::up_with(config_path, a.port, kubo_api, &opts).await;
    s.finish_and_clear();
    let cfg = cfg?;
    let v4d = cfg
        .deployment
        .v4
        .clone()
        .context("the devnet has no version-4 deployment")?;
    timeline.record(
        "devnet",
        format!(
            "anvil up at {}, v3 and v4 deployed ({} template verifiers, test keys from {})",
            cfg.deployment.rpc,
            v4d.verifiers.len(),
            template_keys.display()
        ),
        None,
    );
    phase("devnet up + deploy (v3, v4 with template verifiers)", t);
    let before = wallets(&cfg).await?;

    // Registration: compile, lower, store, register. No key setup, nothing deployed.
    let t = Instant::now();
    let mut params = a.params.clone();
    let window = params
        .challenge_window
        .unwrap_or(V4_MIN_CHALLENGE_WINDOW)
        .max(V4_MIN_CHALLENGE_WINDOW);
    params.challenge_window = Some(window);
    let lowering = crate::v4::lower(
        &onnx,
        a.ops_per_step.unwrap_or(V4_OPS_PER_STEP),
        &Default::default(),
    )?;
    let (registered, reg) =
        crate::v4::register_model(&cfg, timeline.clone(), lowering, &params).await?;
    phase("register (compile, lower, store; no keys)", t);
    let steps = registered.model.lowered.num_steps();

    // The requester loads the model as any party does: chain record + content store.
    let t = Instant::now();
    let requester = cfg.ctx("requester", timeline.clone())?;
    let model = v4::load(&requester, registered.id).await?;
    let file = TensorFile::read(&input)?;
    let inputs = quantize_inputs(&model.program, &file.inputs)?;
    let (request_id, _, _) = v4::request_inputs(
        &requester,
        &model,
        inputs,
        U256::from(1_000_000_000_000_000u64),
    )
    .await?;
    phase("request", t);

    // The defective submitter: its model, inputs and honest run from the chain and the
    // content store, then a lie at the engine node of the defect step's first operator.
    let t = Instant::now();
    let (liar_model, liar_inputs, truth) =
        party_trace(&cfg, "submitter", &timeline, request_id).await?;
    let l = &liar_model.model.lowered;
    let step = a.defect.unwrap_or(steps / 2).min(steps - 1);
    let node = l.ops[l.step_ops(step).start].node;
    let s = spinner("submitter: computing a wrong trace");
    let lied = v4::lie(&liar_model, &liar_inputs, &truth, node);
    s.finish_and_clear();
    let (element, liar_trace) = lied?;
    drop(truth);
    let fault = Fault {
        step,
        node,
        node_name: liar_model.program.nodes[node].name.clone(),
        element,
    };
    let sub_chain = cfg.ctx("submitter", timeline.clone())?.chain;
    let bond = U256::from(registered.params.responseBond);
    let tx = v4::respond(&sub_chain, request_id, liar_trace.final_state(), bond).await?;
    timeline.record(
        "submitter",
        format!(
            "respond to request {request_id} with a wrong S_n: low bit of element {element} of node {} `{}` (the node of step {step}'s first operator) flipped",
            fault.node, fault.node_name
        ),
        Some(tx.gas_used),
    );

    // The honest challenger recomputes, disagrees, and challenges with its trace root.
    let (chal_model, _, honest) = party_trace(&cfg, "challenger1", &timeline, request_id).await?;
    let chal_chain = cfg.ctx("challenger1", timeline.clone())?.chain;
    let market = chal_chain.market_v4()?;
    let req = chal_chain
        .view_v4("getRequest", market.getRequest(request_id))
        .await?;
    let resp = chal_chain
        .view_v4("getResponse", market.getResponse(req.responseId))
        .await?;
    anyhow::ensure!(
        resp.outputCommitment != honest.final_state(),
        Lost("the defective response states the true output: nothing to dispute".into())
    );
    let (game_id, tx) = v4::challenge(
        &chal_chain,
        request_id,
        honest.final_state(),
        honest.root(),
        U256::from(registered.params.challengerBond),
    )
    .await?;
    timeline.record(
        "challenger1",
        format!(
            "challenge response {} (its S_n differs from the challenger's): game {game_id}",
            req.responseId
        ),
        Some(tx.gas_used),
    );

    let prover = TemplateProver::new(template_keys);
    let sub = Player {
        role: Role::Submitter,
        chain: sub_chain.clone(),
        model: &liar_model.model,
        trace: &liar_trace,
        prover: &prover,
        request_id,
    };
    let chal = Player {
        role: Role::Challenger,
        chain: chal_chain.clone(),
        model: &chal_model.model,
        trace: &honest,
        prover: &prover,
        request_id,
    };
    let (status, moves) = play(&sub, &chal, game_id, &timeline).await?;
    phase(
        "dispute (wrong response, challenge, bisect, operator, chunk descent, leaf proof)",
        t,
    );
    let g = v4::game(&chal_chain, game_id).await?;
    let d = chal_chain
        .view_v4("getDescent", market.getDescent(game_id))
        .await?;
    let operator = g.lo as usize * chal_model.model.lowered.ops_per_step + g.opPosition as usize;
    let template = chal_model
        .model
        .lowered
        .ops
        .get(operator)
        .map(|o| o.template())
        .unwrap_or("none");
    let resp = chal_chain
        .view_v4("getResponse", market.getResponse(req.responseId))
        .await?;
    let challenger_won = status == GameStatus::ChallengerWon
        && ResponseStatus::try_from(resp.status)? == ResponseStatus::Disproven;
    // The leaf decides the game; `finishGame` (the game's last move) applies the outcome.
    let leaf = moves
        .iter()
        .rev()
        .find(|m| m.phase.starts_with("resolveLeaf"))
        .context("the game had no leaf proof")?;
    let finished = moves.last().is_some_and(|m| m.phase == "finishGame");
    let leaf_proof = LeafProof {
        template,
        gas: leaf.gas,
        seconds: leaf.seconds,
        verified_on_chain: leaf.actor == "challenger1" && finished && challenger_won,
    };
    let game = GameEnd {
        id: game_id.to_string(),
        status: format!("{status:?}"),
        step: g.lo,
        operator,
        template,
        chunk: d.position,
        moves: moves.len(),
        total_gas: moves.iter().map(|m| m.gas).sum(),
    };
    if !challenger_won {
        return Err(Lost(format!(
            "game {game_id} ended {status:?}: the defective response was not disproven"
        ))
        .into());
    }

    // The request re-opened: an honest submitter answers, the challenger checks it against
    // its own S_n and lets it stand; after the window anyone finalises it.
    let t = Instant::now();
    let (_, _, own) = party_trace(&cfg, "submitter2", &timeline, request_id).await?;
    let honest_chain = cfg.ctx("submitter2", timeline.clone())?.chain;
    // INVARIANT of the market: a re-opened request takes a response only after the second
    // it re-opened in (`RespondTooEarly`: no disprove-and-re-respond in one transaction).
    // This devnet mines instantly, so that second may not have passed yet: let it pass.
    honest_chain.advance_time(1).await?;
    let tx = v4::respond(&honest_chain, request_id, own.final_state(), bond).await?;
    timeline.record(
        "submitter2",
        format!("respond to request {request_id} with the true S_n"),
        Some(tx.gas_used),
    );
    let req = chal_chain
        .view_v4("getRequest", market.getRequest(request_id))
        .await?;
    let resp = chal_chain
        .view_v4("getResponse", market.getResponse(req.responseId))
        .await?;
    anyhow::ensure!(
        resp.outputCommitment == honest.final_state(),
        Lost("the honest response differs from the challenger's S_n".into())
    );
    timeline.record(
        "challenger1",
        format!(
            "response {} agrees with its own S_n: no challenge",
            req.responseId
        ),
        None,
    );
    let now = chal_chain.latest_timestamp().await?;
    let wait = resp.challengeDeadline.saturating_sub(now) + 1;
    chal_chain.advance_time(wait).await?;
    timeline.record(
        "devnet",
        format!("clock advanced {wait} s past the {window} s challenge window (version 4's minimum is {V4_MIN_CHALLENGE_WINDOW} s)"),
        None,
    );
    let tx = v4::finalize(&honest_chain, request_id).await?;
    timeline.record(
        "submitter2",
        format!("finalize request {request_id}"),
        Some(tx.gas_used),
    );
    phase("honest response + challenge window + finalize", t);
    let honest_final = chal_chain
        .view_v4("isFinal", market.isFinal(request_id))
        .await?;
    let (output, _) = chal_chain
        .view_v4("result", market.result(request_id))
        .await
        .map(|r| (r.outputCommitment, r.outputCid))?;
    timeline.record(
        "consumer",
        format!("request {request_id} final: output commitment S_n = {output}"),
        None,
    );

    // Bonds and rewards are market credits: every role withdraws what it is owed.
    for role in ROLES {
        let c = cfg.ctx(role, timeline.clone())?.chain;
        let m = c.market_v4()?;
        let credit = c.view_v4("balances", m.balances(c.address)).await?;
        if !credit.is_zero() {
            let (tx, _) = c.send_v4("withdraw", m.withdraw()).await?;
            timeline.record(role, format!("withdraw {credit} wei"), Some(tx.gas_used));
        }
    }
    let after = wallets(&cfg).await?;
    let balance_changes_wei = before
        .iter()
        .zip(&after)
        .map(|((r, _, b), (_, _, a))| {
            let d = if a >= b {
                format!("+{}", a - b)
            } else {
                format!("-{}", b - a)
            };
            (r.clone(), d)
        })
        .collect();
    let summary = Summary {
        protocol: 4,
        model: a.model.clone(),
        register: reg,
        fault,
        game,
        leaf_proof,
        moves,
        timeline: timeline.entries(),
        phases,
        balance_changes_wei,
        challenger_won,
        honest_final,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    print_human(&summary);
    if !honest_final {
        return Err(Lost(format!("request {request_id} did not finalise")).into());
    }
    Ok(())
}

fn print_human(s: &Summary) {
    let r = &s.register;
    let f = &s.fault;
    println!(
        "\n== timeline ({}, version 4: {} template operators in {} steps of {}, defect at step {} = node `{}`)",
        s.model, r.operators, r.steps, r.ops_per_step, f.step, f.node_name
    );
    for e in &s.timeline {
        let gas = e.gas.map(|g| format!("{g:>9} gas")).unwrap_or_default();
        println!("{:>8.2}s  {:<12} {:<100} {gas}", e.at_s, e.actor, e.what);
    }
    println!(
        "\n== registration: {:.2} s, {} gas, {} key files written; template operators {:?}",
        r.seconds,
        r.gas,
        r.key_files_written.len(),
        r.template_operators
    );
    let g = &s.game;
    println!(
        "== game {}: {} after {} moves ({} gas); disputed step {}, operator {} ({}), chunk {}",
        g.id, g.status, g.moves, g.total_gas, g.step, g.operator, g.template, g.chunk
    );
    println!(
        "== leaf proof: {} proved and verified on chain in {:.2} s, {} gas",
        s.leaf_proof.template, s.leaf_proof.seconds, s.leaf_proof.gas
    );
    println!("\n== phases");
    for (name, secs) in &s.phases {
        println!("{secs:>8.2}s  {name}");
    }
    println!("\n== balance changes (wei, gas included, market credits withdrawn)");
    for (r, d) in &s.balance_changes_wei {
        println!("{r:<12} {d}");
    }
    println!(
        "\nchallenger won the dispute: {}; honest response final: {}",
        s.challenger_won, s.honest_final
    );
}
