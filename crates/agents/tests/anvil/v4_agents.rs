//! The version-4 agents (`V4Submitter`, `V4Challenger`) on a real anvil: each runs its own
//! agent loop in its own task, as `zkopml submit --protocol 4` and `zkopml challenge
//! --protocol 4` do in their terminals, over dnn registered under version 4 (no key setup),
//! with real template proofs checked by the deployed verifiers. Needs the pinned toolchain
//! (`bash scripts/install-toolchain.sh`); the template test keys are shared with `v4::`.

use std::time::{Duration, Instant};

use alloy_primitives::U256;
use zkopml_agents::{
    v4::{self, Defect, V4Challenger, V4ChallengerConfig, V4Submitter, V4SubmitterConfig},
    Timeline,
};
use zkopml_chain::{
    market_v4::InferenceMarketV4::{RequestCreated, ResponseDisproven},
    v4::{GameStatus, RequestStatus, ResponseStatus},
    SolEvent,
};

use super::common::{
    dnn_request, first_op, game_status, key_dir, net_addr, repo, v4_net, withdrawn, Net, BOND, FEE,
    WINDOW,
};
use zkopml_engine::io::{quantize_inputs, TensorFile};
use zkopml_prover::templates::{ClipTemplate, RescaleTemplate, Template};

/// A devnet with version 4 deployed (template test keys shared with the other v4 tests), dnn
/// registered under version 4 by `owner` and one request on its input by `requester`.
pub(crate) async fn net_with_request() -> (Net, v4::LoadedV4, U256) {
    let net = v4_net().await;
    let (model, request) = dnn_request(&net).await;
    (net, model, request)
}

/// An agent's loop as the CLI runs it: tick every 200 ms until `settled`, printing what it
/// did; panics on an error or after `limit`.
macro_rules! agent_loop {
    ($agent:expr, $timeline:expr, $settled:expr, $limit:expr) => {{
        let (mut agent, timeline) = ($agent, $timeline);
        tokio::spawn(async move {
            let started = Instant::now();
            let mut printed = 0;
            loop {
                agent.tick().await.expect("agent tick");
                let entries = timeline.entries();
                for e in &entries[printed..] {
                    println!("[{:>6.1}s] {}: {}", e.at_s, e.actor, e.what);
                }
                printed = entries.len();
                if $settled(&agent) {
                    return agent;
                }
                assert!(started.elapsed() < $limit, "agent did not settle in time");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }};
}

pub(crate) fn submitter(net: &Net, defect: Option<Defect>) -> (V4Submitter, Timeline) {
    let t = Timeline::default();
    let ctx = net.cfg.ctx("submitter", t.clone()).unwrap();
    let config = V4SubmitterConfig {
        defect,
        only: None,
        template_keys: key_dir(),
    };
    (V4Submitter::new(ctx, config).unwrap(), t)
}

pub(crate) fn challenger(net: &Net, lie: Option<Defect>) -> (V4Challenger, Timeline) {
    let t = Timeline::default();
    let ctx = net.cfg.ctx("challenger1", t.clone()).unwrap();
    let config = V4ChallengerConfig {
        lie,
        template_keys: key_dir(),
    };
    (V4Challenger::new(ctx, config).unwrap(), t)
}

pub(crate) const LIMIT: Duration = Duration::from_secs(600);

/// A lying submitter agent (its response's `S_n` carries a flipped bit in dnn's first Relu
/// output) against an honest challenger agent, each in its own loop: the challenger
/// challenges, both play the game to a real `clip_chunk/v1` leaf proof, the challenger wins;
/// the liar's bond is lost (half to the challenger, half burned) and the request re-opens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_challenger_agent_disproves_a_lying_submitter_agent() {
    let (net, model, request) = net_with_request().await;
    let (sub, sub_t) = submitter(&net, Some(first_op(&model, ClipTemplate::NAME)));
    let (chal, chal_t) = challenger(&net, None);
    let sub = agent_loop!(
        sub,
        sub_t,
        |a: &V4Submitter| a.responses() > 0 && a.idle(),
        LIMIT
    );
    let chal = agent_loop!(
        chal,
        chal_t,
        |a: &V4Challenger| a.disputes() > 0 && a.idle(),
        LIMIT
    );
    let (sub, chal) = (sub.await.unwrap(), chal.await.unwrap());
    assert_eq!(
        (sub.responses(), sub.lost()),
        (1, 1),
        "the liar's response is disproven"
    );
    assert_eq!(
        (chal.disputes(), chal.lost()),
        (1, 0),
        "the challenger won its game"
    );

    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let m = chain.market_v4().unwrap();
    let g = v4::game(&chain, U256::from(1)).await.unwrap();
    assert_eq!(
        GameStatus::try_from(g.status).unwrap(),
        GameStatus::ChallengerWon
    );
    let resp = chain
        .view_v4("getResponse", m.getResponse(g.responseId))
        .await
        .unwrap();
    assert_eq!(
        ResponseStatus::try_from(resp.status).unwrap(),
        ResponseStatus::Disproven
    );
    let req = chain
        .view_v4("getRequest", m.getRequest(request))
        .await
        .unwrap();
    assert_eq!(
        RequestStatus::try_from(req.status).unwrap(),
        RequestStatus::Open
    );
    // Bond flows: the liar's bond is split (reward to the challenger, the rest burned); the
    // challenger withdrew its own bond and the reward; the liar withdrew nothing.
    let d = chain
        .market_v4_events::<ResponseDisproven>(request)
        .await
        .unwrap();
    let [d] = d.as_slice() else {
        panic!("one disproof, got {}", d.len())
    };
    let (sub_addr, chal_addr) = (net_addr(&net, "submitter"), net_addr(&net, "challenger1"));
    assert_eq!(d.payee, chal_addr);
    assert_eq!(d.reward + d.burned, U256::from(BOND));
    assert_eq!(chain.view_v4("burned", m.burned()).await.unwrap(), d.burned);
    assert_eq!(
        withdrawn(&chain, chal_addr).await,
        U256::from(BOND) + d.reward
    );
    assert_eq!(withdrawn(&chain, sub_addr).await, U256::ZERO);
    assert_eq!(
        chain
            .view_v4("balances", m.balances(chal_addr))
            .await
            .unwrap(),
        U256::ZERO
    );
}

/// An honest submitter agent against a challenger agent lying in a chunk of dnn's first
/// rescaled Gemm output, each in its own loop: the challenger challenges the true response,
/// the submitter wins the game with a real `rescale_chunk/v1` leaf proof, and once the
/// challenge window has passed (the devnet clock is advanced after the game) the submitter
/// agent finalises its response: it withdraws the fee, its bond and the challenger's bond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_honest_submitter_agent_beats_a_lying_challenger_agent_and_finalises() {
    let (net, model, request) = net_with_request().await;
    let (sub, sub_t) = submitter(&net, None);
    let (chal, chal_t) = challenger(&net, Some(first_op(&model, RescaleTemplate::NAME)));
    let sub = agent_loop!(
        sub,
        sub_t,
        |a: &V4Submitter| a.responses() > 0 && a.idle(),
        LIMIT
    );
    let chal = agent_loop!(
        chal,
        chal_t,
        |a: &V4Challenger| a.disputes() > 0 && a.idle(),
        LIMIT
    );
    // The devnet's clock: once the game is over, past the response's challenge window.
    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let m = chain.market_v4().unwrap();
    let started = Instant::now();
    loop {
        let counts = chain.view_v4("counts", m.counts()).await.unwrap();
        if counts.games >= U256::from(1) {
            let g = v4::game(&chain, U256::from(1)).await.unwrap();
            if GameStatus::try_from(g.status).unwrap() != GameStatus::InProgress {
                break;
            }
        }
        assert!(started.elapsed() < LIMIT, "the game did not end in time");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    chain.advance_time(WINDOW + 1).await.unwrap();
    let chal = chal.await.unwrap();
    let sub = sub.await.unwrap();
    assert_eq!((sub.responses(), sub.lost()), (1, 0), "the response stands");
    assert_eq!(
        (chal.disputes(), chal.lost()),
        (1, 1),
        "the liar lost its game"
    );

    assert_eq!(
        game_status(&chain, U256::from(1)).await,
        GameStatus::SubmitterWon
    );
    let req = chain
        .view_v4("getRequest", m.getRequest(request))
        .await
        .unwrap();
    assert_eq!(
        RequestStatus::try_from(req.status).unwrap(),
        RequestStatus::Finalized
    );
    let resp = chain
        .view_v4("getResponse", m.getResponse(req.responseId))
        .await
        .unwrap();
    assert_eq!(
        ResponseStatus::try_from(resp.status).unwrap(),
        ResponseStatus::Finalized
    );
    assert_ne!(
        resp.traceRoot,
        alloy_primitives::B256::ZERO,
        "committed for the game"
    );
    // Bond flows: the submitter took the challenger's bond, then its own and the fee.
    let (sub_addr, chal_addr) = (net_addr(&net, "submitter"), net_addr(&net, "challenger1"));
    assert_eq!(
        withdrawn(&chain, sub_addr).await,
        U256::from(FEE + 2 * BOND)
    );
    assert_eq!(withdrawn(&chain, chal_addr).await, U256::ZERO);
    assert_eq!(
        chain.view_v4("burned", m.burned()).await.unwrap(),
        U256::ZERO
    );

    // What `zkopml status --protocol 4` and `result --protocol 4` show: the game as it
    // ended (level 3 reached, its descent resolved), and the final output as real numbers,
    // equal to the engine's run dequantised, checked against S_n on chain.
    let views = v4::status::requests(&chain).await.unwrap();
    let [view] = views.as_slice() else {
        panic!("one request, got {}", views.len())
    };
    let [resp_view] = view.responses.as_slice() else {
        panic!("one response")
    };
    let [game_view] = resp_view.games.as_slice() else {
        panic!("one game")
    };
    assert_eq!(view.status, RequestStatus::Finalized);
    assert_eq!(resp_view.status, ResponseStatus::Finalized);
    assert_eq!(game_view.status, GameStatus::SubmitterWon);
    assert_eq!(game_view.waiting_for(), None);
    assert_eq!(game_view.num_steps, model.model.lowered.num_steps() as u32);
    let descent = game_view
        .descent
        .as_ref()
        .expect("the game reached level 3");
    assert!(descent.output_chunks > 0 && descent.level <= descent.depth);
    let requester = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let result = v4::status::result(&requester, request.to()).await.unwrap();
    assert!(result.is_final);
    assert_eq!((result.protocol, result.status.as_str()), (4, "Finalized"));
    assert_eq!(result.output_commitment, resp.outputCommitment);
    let file = TensorFile::read(&repo().join("testdata/dnn/input.json")).unwrap();
    let inputs = quantize_inputs(&model.program, &file.inputs).unwrap();
    let run = zkopml_engine::activations(&model.program, &inputs, None).unwrap();
    let scale = (1u64 << model.program.frac_bits) as f64;
    for o in &model.program.outputs {
        let name = &model.program.values[*o].name;
        let want: Vec<Option<f64>> = run[*o]
            .as_ref()
            .unwrap()
            .data
            .iter()
            .map(|q| Some(*q as f64 / scale))
            .collect();
        assert_eq!(result.outputs[name].data, want, "output {name}");
    }
}

/// Requests a submitter agent cannot run are skipped with a timeline line, not fatal: one
/// whose input CID is not a CID, and one whose inputs do not commit to its `S_0`; the agent
/// answers the good request beside them and stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v4_submitter_agent_skips_requests_it_cannot_run_and_answers_the_others() {
    let (net, model, good) = net_with_request().await;
    let requester = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let m = requester.chain.market_v4().unwrap();
    // The good request's inputs, under a wrong S_0.
    let good_cid = requester
        .chain
        .view_v4("getRequest", m.getRequest(good))
        .await
        .unwrap()
        .inputCid;
    let mut bad = Vec::new();
    for (s0, cid) in [
        (
            alloy_primitives::B256::repeat_byte(7),
            "not a cid".to_string(),
        ),
        (alloy_primitives::B256::repeat_byte(9), good_cid),
    ] {
        let (_, receipt) = requester
            .chain
            .send_v4(
                "requestInference",
                m.requestInference(model.id, s0, cid).value(U256::from(FEE)),
            )
            .await
            .unwrap();
        let id = receipt
            .inner
            .logs()
            .iter()
            .find_map(|l| RequestCreated::decode_log(&l.inner).ok())
            .expect("RequestCreated")
            .data
            .requestId;
        bad.push(id);
    }
    let (mut sub, t) = submitter(&net, None);
    let started = Instant::now();
    let skipped = |t: &Timeline, id: U256| {
        t.entries()
            .iter()
            .any(|e| e.what.starts_with(&format!("skip request {id} ")))
    };
    loop {
        sub.tick()
            .await
            .expect("a bad request does not stop the agent");
        if sub.responses() == 1 && bad.iter().all(|id| skipped(&t, *id)) {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "the agent did not settle in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for e in t.entries() {
        println!("[{:>6.1}s] {}: {}", e.at_s, e.actor, e.what);
    }
    let views = v4::status::requests(&requester.chain).await.unwrap();
    for v in &views {
        if v.id == good.to::<u64>() {
            assert_eq!(v.status, RequestStatus::Responded);
        } else {
            assert_eq!(
                (v.status, v.responses.len()),
                (RequestStatus::Open, 0),
                "request {} is skipped",
                v.id
            );
        }
    }
    // A second pass does not retry (or re-log) them.
    let lines = t.entries().len();
    sub.tick().await.unwrap();
    assert_eq!(t.entries().len(), lines);
}

/// Crash safety: a lying submitter agent killed after its `respond` transaction but before
/// it saved its state, and a challenger agent stopped right after it challenged, are
/// restarted: the submitter adopts its pending response from the chain and defends it, the
/// challenger resumes its game from its state file (no second challenge), and the game ends
/// as it would have: the challenger wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_v4_agents_adopt_their_response_and_game_from_the_chain() {
    let (net, model, _) = net_with_request().await;
    let lie = first_op(&model, ClipTemplate::NAME);
    let (mut sub, _) = submitter(&net, Some(lie.clone()));
    sub.tick().await.unwrap();
    assert_eq!(sub.responses(), 1);
    drop(sub);
    // Killed before the save: no state survives.
    std::fs::remove_dir_all(&net.cfg.state_dir).unwrap();

    let (mut chal, _) = challenger(&net, None);
    chal.tick().await.unwrap();
    assert_eq!(chal.disputes(), 1, "challenged on its first tick");
    drop(chal);

    let (sub, sub_t) = submitter(&net, Some(lie));
    assert_eq!(sub.responses(), 0, "a fresh state");
    let (chal, chal_t) = challenger(&net, None);
    assert_eq!(chal.disputes(), 1, "its game is in its state file");
    let sub = agent_loop!(
        sub,
        sub_t.clone(),
        |a: &V4Submitter| a.responses() > 0 && a.idle(),
        LIMIT
    );
    let chal = agent_loop!(
        chal,
        chal_t,
        |a: &V4Challenger| a.disputes() > 0 && a.idle(),
        LIMIT
    );
    let (sub, chal) = (sub.await.unwrap(), chal.await.unwrap());
    assert!(
        sub_t
            .entries()
            .iter()
            .any(|e| e.what.contains("found our pending response 1")),
        "the restarted submitter adopted its response"
    );
    assert_eq!((sub.responses(), sub.lost()), (1, 1));
    assert_eq!((chal.disputes(), chal.lost()), (1, 0));
    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let m = chain.market_v4().unwrap();
    let counts = chain.view_v4("counts", m.counts()).await.unwrap();
    assert_eq!(counts.games, U256::from(1), "no second challenge");
    assert_eq!(
        game_status(&chain, U256::from(1)).await,
        GameStatus::ChallengerWon
    );
}
