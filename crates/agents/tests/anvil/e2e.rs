//! End-to-end disputes on a real anvil with the real contracts and real Groth16 proofs
//! (no test doubles). Needs the pinned toolchain: `bash scripts/install-toolchain.sh`.
//! Clocks are shortened; every scenario runs on its own anvil.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use zkopml_agents::{
    devnet, model, requester, Challenger, ChallengerConfig, DevnetConfig, DisputeMode, Submitter,
    SubmitterConfig, Timeline,
};
use zkopml_chain::registry::Types::GameParams;
use zkopml_engine::io::{quantize_inputs, TensorFile};

use super::common::WINDOW;

/// Version 3 only: the version-4 stack is exercised by tests/v4.rs.
const V3_ONLY: devnet::UpOptions = devnet::UpOptions {
    v4: false,
    template_keys: None,
    persist_state: false,
    time_floor: zkopml_agents::v4::DEVNET_TIME_FLOOR,
};

const BOND: u128 = 10_000_000_000_000_000;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Net {
    cfg: DevnetConfig,
    model: U256,
    name: String,
    _dir: tempfile::TempDir,
}

impl Drop for Net {
    fn drop(&mut self) {
        devnet::down(&self.cfg);
    }
}

async fn net(ops_per_step: usize) -> Net {
    net_with("dnn", ops_per_step).await
}

/// A devnet with `testdata/<model>` registered, with a challenge window of [`WINDOW`].
async fn net_with(model: &str, ops_per_step: usize) -> Net {
    let anvil = repo().join(".tools/bin/anvil");
    assert!(
        anvil.exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    std::env::set_var("ZKOPML_ANVIL", &anvil);
    let dir = tempfile::tempdir().unwrap();
    let port = devnet::free_port().unwrap();
    let mut cfg = devnet::up_with(&dir.path().join("devnet.json"), port, None, &V3_ONLY)
        .await
        .expect("devnet up");
    // Test keys are deterministic per step digest: share them between scenarios.
    cfg.key_cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("keys");
    let params = GameParams {
        challengeWindow: WINDOW,
        clockPerSide: 300,
        provingWindow: 600,
        arity: 2,
        responseBond: BOND,
        challengerBond: BOND,
    };
    let onnx = std::fs::read(repo().join("testdata").join(model).join("model.onnx")).unwrap();
    let (m, _) = model::register(
        &cfg.ctx("owner", Timeline::default()).unwrap(),
        &onnx,
        ops_per_step,
        params,
        &|_, _| {},
    )
    .await
    .expect("register");
    Net {
        cfg,
        model: m.id,
        name: model.to_string(),
        _dir: dir,
    }
}

async fn request(net: &Net) -> U256 {
    let ctx = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let m = ctx.model(net.model).await.unwrap();
    let file =
        TensorFile::read(&repo().join("testdata").join(&net.name).join("input.json")).unwrap();
    let inputs = quantize_inputs(&m.program, &file.inputs).unwrap();
    requester::request(
        &ctx,
        net.model,
        inputs,
        U256::from(1_000_000_000_000_000u64),
    )
    .await
    .unwrap()
}

/// Ticks a submitter and challengers until every challenger that disputed is settled and
/// the submitter has nothing open (or `limit` passes). Once every challenger has ticked
/// with a response on chain and none disputes it any more, the chain's clock moves past its
/// window, as time would: no outcome depends on how fast this machine runs the agents.
async fn play(net: &Net, sub: &mut Submitter, chs: &mut [Challenger], limit: Duration) {
    let deadline = Instant::now() + limit;
    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let market = chain.market();
    sub.tick().await.unwrap();
    loop {
        let seen = chain
            .view("counts", market.counts())
            .await
            .unwrap()
            .responses;
        for c in chs.iter_mut() {
            c.tick().await.unwrap();
        }
        sub.tick().await.unwrap();
        if sub.idle() && chs.iter().all(|c| c.idle()) {
            return;
        }
        if chs.iter().all(|c| c.idle()) {
            for rid in 1..=seen.to::<u64>() {
                let r = chain
                    .view("getResponseById", market.getResponseById(U256::from(rid)))
                    .await
                    .unwrap();
                let now = chain.now().await.unwrap();
                if r.status == PENDING && r.openGames == 0 && now <= r.challengeDeadline {
                    chain
                        .advance_time(r.challengeDeadline - now + 1)
                        .await
                        .unwrap();
                }
            }
        }
        assert!(
            Instant::now() < deadline,
            "game did not settle in {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn submitter(net: &Net, role: &str, defect: Option<usize>, publish_trace: bool) -> Submitter {
    Submitter::new(
        net.cfg.ctx(role, Timeline::default()).unwrap(),
        SubmitterConfig {
            defect,
            publish_trace,
            only: None,
        },
    )
    .unwrap()
}

fn challenger(net: &Net, role: &str, lie: Option<usize>, mode: DisputeMode) -> Challenger {
    Challenger::new(
        net.cfg.ctx(role, Timeline::default()).unwrap(),
        ChallengerConfig { lie, mode },
    )
    .unwrap()
}

async fn response_status(net: &Net, response_id: u64) -> u8 {
    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    chain
        .view(
            "getResponseById",
            chain.market().getResponseById(U256::from(response_id)),
        )
        .await
        .unwrap()
        .status
}

async fn game_status(net: &Net, game_id: u64) -> u8 {
    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    chain
        .view("getGame", chain.market().getGame(U256::from(game_id)))
        .await
        .unwrap()
        .status
}

async fn eth(net: &Net, role: &str) -> U256 {
    let chain = net.cfg.ctx(role, Timeline::default()).unwrap().chain;
    chain.balance(chain.address).await.unwrap()
}

const PENDING: u8 = 1;
const DISPROVEN: u8 = 2;
const FINALIZED: u8 = 3;
const SUBMITTER_WON: u8 = 1;
const CHALLENGER_WON: u8 = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defect_at_first_middle_and_last_step_loses_the_bisection() {
    for defect in [0usize, 1, 2] {
        let net = net(1).await;
        request(&net).await;
        let before = eth(&net, "challenger1").await;
        let mut sub = submitter(&net, "submitter", Some(defect), false);
        let mut ch = [challenger(&net, "challenger1", None, DisputeMode::Bisect)];
        play(&net, &mut sub, &mut ch, Duration::from_secs(120)).await;
        assert_eq!(
            response_status(&net, 1).await,
            DISPROVEN,
            "defect at step {defect}"
        );
        assert_eq!(
            game_status(&net, 1).await,
            CHALLENGER_WON,
            "defect at step {defect}"
        );
        assert!(
            eth(&net, "challenger1").await > before,
            "the honest challenger gained (bond won minus gas)"
        );
    }
}

/// The tree ensemble: the leaf lookup (step 11, a `Gather` whose indices are computed from
/// the input) and the `ArgMax` label (step 15, the last) proved on chain like any CNN
/// operator. (A flipped low bit in an intermediate feature value that does not change the
/// output is not disputed: the challenger disputes wrong outputs.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xgboost_defect_at_a_data_dependent_gather_and_at_argmax_loses() {
    for defect in [11usize, 15] {
        let net = net_with("xgboost", 1).await;
        request(&net).await;
        let mut sub = submitter(&net, "submitter", Some(defect), false);
        let mut ch = [challenger(&net, "challenger1", None, DisputeMode::Bisect)];
        play(&net, &mut sub, &mut ch, Duration::from_secs(120)).await;
        assert_eq!(
            response_status(&net, 1).await,
            DISPROVEN,
            "defect at step {defect}"
        );
        assert_eq!(
            game_status(&net, 1).await,
            CHALLENGER_WON,
            "defect at step {defect}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn published_trace_is_disproven_in_one_transaction() {
    let net = net(1).await;
    request(&net).await;
    let mut sub = submitter(&net, "submitter", Some(2), true);
    let mut ch = [challenger(&net, "challenger1", None, DisputeMode::Auto)];
    play(&net, &mut sub, &mut ch, Duration::from_secs(120)).await;
    assert_eq!(response_status(&net, 1).await, DISPROVEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn honest_submitter_beats_a_lying_challenger_and_finalises() {
    let net = net(1).await;
    request(&net).await;
    let liar_before = eth(&net, "challenger2").await;
    let mut sub = submitter(&net, "submitter", None, false);
    let mut chs = [
        challenger(&net, "challenger1", None, DisputeMode::Bisect),
        challenger(&net, "challenger2", Some(1), DisputeMode::Bisect),
    ];
    play(&net, &mut sub, &mut chs, Duration::from_secs(120)).await;
    // The honest challenger checked the response by inference and `S_n` alone and agreed.
    assert_eq!(
        chs[0].disputes(),
        0,
        "the honest challenger disputed an honest response"
    );
    assert_eq!(chs[1].disputes(), 1);
    assert_eq!(game_status(&net, 1).await, SUBMITTER_WON);
    assert_eq!(response_status(&net, 1).await, FINALIZED);
    assert!(
        eth(&net, "challenger2").await + U256::from(BOND) <= liar_before + U256::from(BOND / 10),
        "the liar lost its bond"
    );

    // What `zkopml status` and `zkopml result` show of it.
    use zkopml_agents::status;
    use zkopml_chain::types::{GamePhase, GameStatus, RequestStatus, ResponseStatus};
    let ctx = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let view = status::request(&ctx.chain, 1).await.unwrap();
    assert_eq!(view.status, RequestStatus::Finalized);
    assert_eq!(view.responses.len(), 1);
    assert_eq!(view.responses[0].status, ResponseStatus::Finalized);
    assert_eq!(view.responses[0].games.len(), 1);
    let g = &view.responses[0].games[0];
    assert_eq!(
        (g.status, g.phase),
        (GameStatus::SubmitterWon, GamePhase::Resolved)
    );
    assert_eq!(g.turn_deadline, 0, "a resolved game waits for nobody");
    let r = status::result(&ctx, 1).await.unwrap();
    assert!(r.is_final);
    // The engine's own outputs, dequantised: the result is exactly what inference gives.
    let m = ctx.model(net.model).await.unwrap();
    let file = TensorFile::read(&repo().join("testdata/dnn/input.json")).unwrap();
    let outs = zkopml_engine::evaluate(
        &m.program,
        &quantize_inputs(&m.program, &file.inputs).unwrap(),
    )
    .unwrap();
    let scale = (1u64 << m.program.frac_bits) as f64;
    let (name, got) = r.outputs.iter().next().unwrap();
    assert_eq!(*name, m.program.values[m.program.outputs[0]].name);
    assert_eq!(got.shape, outs[0].shape);
    let want: Vec<Option<f64>> = outs[0]
        .data
        .iter()
        .map(|q| Some(*q as f64 / scale))
        .collect();
    assert_eq!(got.data, want);
    // Unknown requests are typed errors.
    assert!(matches!(
        status::request(&ctx.chain, 7).await,
        Err(zkopml_agents::AgentError::UnknownRequest(7))
    ));
    assert!(matches!(
        status::result(&ctx, 7).await,
        Err(zkopml_agents::AgentError::UnknownRequest(7))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_challengers_two_honest_one_lying_on_a_defective_response() {
    let net = net(1).await;
    request(&net).await;
    let honest_before = [
        eth(&net, "challenger1").await,
        eth(&net, "challenger2").await,
    ];
    let mut sub = submitter(&net, "submitter", Some(1), false);
    let mut chs = [
        challenger(&net, "challenger1", None, DisputeMode::Bisect),
        challenger(&net, "challenger2", None, DisputeMode::Bisect),
        challenger(&net, "submitter2", Some(0), DisputeMode::Bisect),
    ];
    play(&net, &mut sub, &mut chs, Duration::from_secs(180)).await;
    assert_eq!(response_status(&net, 1).await, DISPROVEN);
    for (role, before) in ["challenger1", "challenger2"].iter().zip(honest_before) {
        // Won the submitter's bond, or was refunded: never more than gas lost.
        assert!(
            eth(&net, role).await + U256::from(BOND / 10) > before,
            "{role} lost its bond"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_operators_per_step() {
    let net = net(3).await;
    request(&net).await;
    let mut sub = submitter(&net, "submitter", Some(0), false);
    let mut ch = [challenger(&net, "challenger1", None, DisputeMode::Bisect)];
    play(&net, &mut sub, &mut ch, Duration::from_secs(120)).await;
    assert_eq!(response_status(&net, 1).await, DISPROVEN);
    assert_eq!(game_status(&net, 1).await, CHALLENGER_WON);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_clear_errors_and_persist_nothing() {
    use zkopml_agents::AgentError;
    use zkopml_chain::ChainError;
    let net = net(1).await;
    let ctx = net.cfg.ctx("requester", Timeline::default()).unwrap();

    // An unregistered model id.
    let err = ctx.model(U256::from(99)).await.unwrap_err();
    assert!(
        matches!(err, AgentError::UnknownModel(ref id) if id == "99"),
        "{err}"
    );

    // An input of the wrong shape: rejected before anything is stored or sent.
    let m = ctx.model(net.model).await.unwrap();
    let wrong = vec![zkopml_engine::Tensor::new(vec![1, 783], vec![0; 783])];
    let err = requester::request(&ctx, net.model, wrong, U256::from(1u64))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("input `input`") && err.to_string().contains("[1, 784]"),
        "{err}"
    );
    let counts = ctx
        .chain
        .view("counts", ctx.chain.market().counts())
        .await
        .unwrap();
    assert_eq!(counts.requests, U256::ZERO, "nothing was requested");

    // A reverted transaction carries the contract's decoded custom error.
    let id = request(&net).await;
    let sub = net.cfg.ctx("submitter", Timeline::default()).unwrap();
    let market = sub.chain.market();
    let call = market
        .respond(
            id,
            alloy_primitives::B256::repeat_byte(1),
            String::new(),
            alloy_primitives::B256::ZERO,
            String::new(),
        )
        .value(U256::from(1u64));
    let err = sub.chain.send("respond", call).await.unwrap_err();
    match &err {
        ChainError::Reverted { call, reason } => assert!(
            *call == "respond" && reason.contains("WrongBond"),
            "{reason}"
        ),
        other => panic!("expected a decoded revert, got {other}"),
    }
    // A transaction mined and reverted (a fixed gas limit skips estimation, as when the state
    // changes between estimation and inclusion) is decoded by replaying it on its block's
    // parent state.
    let call = market
        .respond(
            id,
            alloy_primitives::B256::repeat_byte(1),
            String::new(),
            alloy_primitives::B256::ZERO,
            String::new(),
        )
        .value(U256::from(1u64))
        .gas(300_000);
    let err = sub.chain.send("respond", call).await.unwrap_err();
    match &err {
        ChainError::Failed { call, reason, .. } => assert!(
            *call == "respond" && reason.contains("WrongBond"),
            "{reason}"
        ),
        other => panic!("expected a mined, decoded revert, got {other}"),
    }

    // Content whose bytes do not match its CID is refused.
    let req = ctx
        .chain
        .view("getRequest", ctx.chain.market().getRequest(id))
        .await
        .unwrap();
    let path = net.cfg.store.join(&req.inputCid);
    std::fs::write(&path, b"{\"tensors\":[]}").unwrap();
    let mut s = submitter(&net, "submitter", None, false);
    let err = s.tick().await.unwrap_err();
    assert!(
        matches!(
            err,
            AgentError::Store(zkopml_store::StoreError::Mismatch { .. })
        ),
        "{err}"
    );
    let counts = ctx
        .chain
        .view("counts", ctx.chain.market().counts())
        .await
        .unwrap();
    assert_eq!(counts.responses, U256::ZERO, "no response was posted");

    // The node going away is a retryable error, not a panic.
    devnet::down(&net.cfg);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let err = s.tick().await.unwrap_err();
    assert!(err.is_retryable(), "{err}");
    let _ = m;
}

/// The deployed Groth16 verifier accepts the engine's true step and rejects a changed
/// post-state, a changed pre-state, the proof presented as another step, and the proof
/// replayed against another model (different step digest) — on anvil, not natively.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_verifier_rejects_tampered_statements() {
    use zkopml_commit::fr_to_bytes32;
    let net = net(1).await;
    let ctx = net.cfg.ctx("owner", Timeline::default()).unwrap();
    let m = ctx.model(net.model).await.unwrap();
    let file = TensorFile::read(&repo().join("testdata/dnn/input.json")).unwrap();
    let trace = zkopml_engine::execute(
        &m.program,
        &quantize_inputs(&m.program, &file.inputs).unwrap(),
    )
    .unwrap();
    let step = 1;
    let keys = ctx.keys.get(&m.program, step).unwrap();
    let proof = zkopml_prover::prove(&keys, &m.program, step, &trace).unwrap();
    let calldata: alloy_primitives::Bytes = zkopml_prover::evm::proof_calldata(&proof.proof).into();
    let words = |p: [ark_bn254::Fr; 3]| p.map(|x| U256::from_be_bytes(fr_to_bytes32(&x)));
    let verifier = m.manifest.verifiers[step];
    let gas = ctx
        .chain
        .verify_on_chain(verifier, calldata.clone(), words(proof.public))
        .await
        .expect("true statement verifies");
    assert!(gas <= 300_000, "verification gas {gas}");

    let other = zkopml_engine::Program::compile(
        &zkopml_engine::import::load_file(&repo().join("testdata/dnn/model.onnx")).unwrap(),
        &Default::default(),
        3,
    )
    .unwrap();
    let tampered = |i: usize, v: ark_bn254::Fr| {
        let mut p = proof.public;
        p[i] = v;
        p
    };
    let one = ark_bn254::Fr::from(1u64);
    for (what, at, public) in [
        (
            "changed post-state",
            verifier,
            tampered(1, proof.public[1] + one),
        ),
        (
            "changed pre-state",
            verifier,
            tampered(0, proof.public[0] + one),
        ),
        (
            "another step's digest",
            verifier,
            tampered(2, m.program.step_digest(0)),
        ),
        (
            "another step's verifier",
            m.manifest.verifiers[0],
            proof.public,
        ),
        (
            "another model's digest",
            verifier,
            tampered(2, other.step_digest(0)),
        ),
    ] {
        let verdict = ctx
            .chain
            .verify_on_chain(at, calldata.clone(), words(public))
            .await;
        assert!(verdict.is_err(), "{what} accepted");
    }
}

#[tokio::test]
async fn devnet_up_refuses_a_taken_port_and_writes_no_config() {
    // Something else (here a plain listener, as another anvil or any server) holds the port.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    let err = devnet::up(&path, port, None).await.unwrap_err();
    assert!(
        matches!(err, zkopml_agents::AgentError::PortTaken { port: p } if p == port),
        "{err}"
    );
    assert!(err.to_string().contains(&port.to_string()));
    assert!(!path.exists(), "no config for a devnet that did not start");
}

#[tokio::test]
async fn a_new_devnet_starts_without_the_agent_state_of_the_last_one() {
    std::env::set_var("ZKOPML_ANVIL", repo().join(".tools/bin/anvil"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("devnet.json");
    let first = devnet::up_with(&path, devnet::free_port().unwrap(), None, &V3_ONLY)
        .await
        .unwrap();
    // An agent of the first devnet left state behind.
    let keyed = first.state_dir.join(format!(
        "{}-{}",
        first.deployment.chain_id, first.deployment.market
    ));
    devnet::down(&first);
    std::fs::create_dir_all(&keyed).unwrap();
    std::fs::write(keyed.join("stale.json"), b"{}").unwrap();
    let second = devnet::up_with(&path, devnet::free_port().unwrap(), None, &V3_ONLY)
        .await
        .unwrap();
    assert!(
        !keyed.join("stale.json").exists(),
        "the old devnet's agent state is gone"
    );
    // anvil deploys deterministically: same chain id and addresses, another chain.
    assert_eq!(second.deployment.market, first.deployment.market);
    devnet::down(&second);
}
