//! Crash safety: agents run as separate `zkopml` processes, are killed with SIGKILL in the
//! middle of a game (mid-bisection, then at the leaf), restarted, and still win without
//! posting a second bond. Real anvil, contracts and proofs.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use zkopml_agents::{
    devnet, model, requester, Challenger, ChallengerConfig, DevnetConfig, DisputeMode, Submitter,
    SubmitterConfig, Timeline,
};
use zkopml_chain::registry::Types::GameParams;
use zkopml_engine::io::{quantize_inputs, TensorFile};

const BOND: u128 = 10_000_000_000_000_000;
const WINDOW: u64 = 3600;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

async fn setup(dir: &Path, port: u16) -> DevnetConfig {
    let anvil = repo().join(".tools/bin/anvil");
    assert!(
        anvil.exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    std::env::set_var("ZKOPML_ANVIL", &anvil);
    let path = dir.join("devnet.json");
    // Version 3 only (these tests crash v3 agents).
    let v3_only = devnet::UpOptions {
        v4: false,
        template_keys: None,
        persist_state: false,
        time_floor: zkopml_agents::v4::DEVNET_TIME_FLOOR,
    };
    let mut cfg = devnet::up_with(&path, port, None, &v3_only)
        .await
        .expect("devnet up");
    cfg.key_cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("keys");
    cfg.write(&path).unwrap();
    // A window no machine's speed can miss: the challenge lands however slowly the agents
    // start and execute (a 20 s window was missed on a loaded CI machine); a test that needs
    // the window over moves the chain's clock past it (`let_the_window_pass`).
    let params = GameParams {
        challengeWindow: WINDOW,
        clockPerSide: 300,
        provingWindow: 600,
        arity: 2,
        responseBond: BOND,
        challengerBond: BOND,
    };
    let onnx = std::fs::read(repo().join("testdata/dnn/model.onnx")).unwrap();
    let (m, _) = model::register(
        &cfg.ctx("owner", Timeline::default()).unwrap(),
        &onnx,
        1,
        params,
        &|_, _| {},
    )
    .await
    .unwrap();
    let ctx = cfg.ctx("requester", Timeline::default()).unwrap();
    let file = TensorFile::read(&repo().join("testdata/dnn/input.json")).unwrap();
    let inputs = quantize_inputs(&m.program, &file.inputs).unwrap();
    requester::request(&ctx, m.id, inputs, U256::from(1_000_000_000_000_000u64))
        .await
        .unwrap();
    cfg
}

/// Starts a `zkopml` agent process; its output goes to `agents.log` in `dir` (shown by
/// [`diagnose`] when a condition is not reached).
fn spawn(dir: &Path, args: &[&str]) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("agents.log"))
        .unwrap();
    Command::new(env!("CARGO_BIN_EXE_zkopml"))
        .arg("--devnet")
        .arg(dir.join("devnet.json"))
        .args(args)
        .args(["--poll-ms", "100", "--until-idle", "--timeout", "300"])
        .env("NO_COLOR", "1")
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("spawn zkopml")
}

/// What a failed wait shows: the chain's counts, response 1 and game 1 as the chain has
/// them, and everything the agent processes printed.
async fn diagnose(cfg: &DevnetConfig, dir: &Path) -> String {
    let chain = cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let market = chain.market();
    let mut out = String::new();
    if let Ok(c) = chain.view("counts", market.counts()).await {
        out += &format!(
            "requests {} responses {} games {}\n",
            c.requests, c.responses, c.games
        );
        if !c.responses.is_zero() {
            if let Ok(r) = chain
                .view("getResponseById", market.getResponseById(U256::from(1)))
                .await
            {
                out += &format!(
                    "response 1: status {} open games {} challenge deadline {} (chain now {:?})\n",
                    r.status,
                    r.openGames,
                    r.challengeDeadline,
                    chain.now().await.ok()
                );
            }
        }
    }
    if let Some(g) = game(cfg).await {
        out += &format!("game 1: status {} phase {}\n", g.status, g.phase);
    }
    let log = std::fs::read_to_string(dir.join("agents.log")).unwrap_or_default();
    out + "agents' output:\n" + &log
}

async fn game(cfg: &DevnetConfig) -> Option<zkopml_chain::market::Types::GameView> {
    let chain = cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let counts = chain.view("counts", chain.market().counts()).await.unwrap();
    if counts.games.is_zero() {
        return None;
    }
    Some(
        chain
            .view("getGame", chain.market().getGame(U256::from(1)))
            .await
            .unwrap(),
    )
}

/// Ticks an in-process agent until `until` holds for the game, or panics after 300 s (a
/// condition, not a timing: a busy machine may take minutes where an idle one takes seconds).
async fn drive_until<F: Fn(&zkopml_chain::market::Types::GameView) -> bool>(
    cfg: &DevnetConfig,
    dir: &Path,
    mut tick: impl AsyncFnMut(),
    until: F,
) {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        tick().await;
        if game(cfg).await.is_some_and(|g| until(&g)) {
            return;
        }
        if Instant::now() >= deadline {
            panic!("condition not reached:\n{}", diagnose(cfg, dir).await);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An in-process challenger (`challenger2`) that lies about step 1.
fn lying_challenger(cfg: &DevnetConfig) -> Challenger {
    Challenger::new(
        cfg.ctx("challenger2", Timeline::default()).unwrap(),
        ChallengerConfig {
            lie: Some(1),
            mode: DisputeMode::Bisect,
        },
    )
    .unwrap()
}

/// Response 1 as the chain has it.
async fn response(cfg: &DevnetConfig) -> zkopml_chain::market::Types::Response {
    let chain = cfg.ctx("requester", Timeline::default()).unwrap().chain;
    chain
        .view(
            "getResponseById",
            chain.market().getResponseById(U256::from(1)),
        )
        .await
        .unwrap()
}

/// Moves the chain's clock past response 1's challenge window, as time would.
async fn let_the_window_pass(cfg: &DevnetConfig) {
    let chain = cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let resp = response(cfg).await;
    let now = chain.now().await.unwrap();
    if now <= resp.challengeDeadline {
        chain
            .advance_time(resp.challengeDeadline - now + 1)
            .await
            .unwrap();
    }
}

fn kill(mut c: Child) {
    c.kill().expect("SIGKILL");
    c.wait().unwrap();
}

fn finish(mut c: Child) {
    let status = c.wait().unwrap();
    assert!(status.success(), "agent exited with {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_challenger_restarts_and_wins() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), devnet::free_port().unwrap()).await;
    let mut liar = Submitter::new(
        cfg.ctx("submitter", Timeline::default()).unwrap(),
        SubmitterConfig {
            defect: Some(1),
            publish_trace: false,
            only: None,
        },
    )
    .unwrap();
    liar.tick().await.unwrap();

    // Mid-bisection: the challenger has opened the game and waits for the submitter.
    let c = spawn(dir.path(), &["challenge", "--mode", "bisect"]);
    drive_until(&cfg, dir.path(), async || {}, |_| true).await;
    kill(c);
    // The submitter reveals while the challenger is down.
    drive_until(
        &cfg,
        dir.path(),
        async || liar.tick().await.unwrap(),
        |g| g.phase == 1,
    )
    .await;

    // Restart: it must find its game (no second bond) and reveal; kill it again at the leaf.
    let c = spawn(dir.path(), &["challenge", "--mode", "bisect"]);
    drive_until(
        &cfg,
        dir.path(),
        async || liar.tick().await.unwrap(),
        |g| g.phase == 2,
    )
    .await;
    kill(c);

    let c = spawn(dir.path(), &["challenge", "--mode", "bisect"]);
    drive_until(
        &cfg,
        dir.path(),
        async || liar.tick().await.unwrap(),
        |g| g.status != 0,
    )
    .await;
    finish(c);
    let g = game(&cfg).await.unwrap();
    assert_eq!(g.status, 2, "challenger won");
    let chain = cfg.ctx("requester", Timeline::default()).unwrap().chain;
    let counts = chain.view("counts", chain.market().counts()).await.unwrap();
    assert_eq!(counts.games, U256::from(1), "one game, one bond");
    devnet::down(&cfg);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_honest_submitter_restarts_and_wins() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), devnet::free_port().unwrap()).await;
    let s = spawn(dir.path(), &["submit"]);
    let mut liar = lying_challenger(&cfg);
    // The liar challenges; kill the submitter before it reveals.
    drive_until(
        &cfg,
        dir.path(),
        async || liar.tick().await.unwrap(),
        |_| true,
    )
    .await;
    kill(s);
    let s = spawn(dir.path(), &["submit"]);
    drive_until(
        &cfg,
        dir.path(),
        async || liar.tick().await.unwrap(),
        |g| g.phase == 2,
    )
    .await;
    kill(s);
    let s = spawn(dir.path(), &["submit"]);
    drive_until(
        &cfg,
        dir.path(),
        async || liar.tick().await.unwrap(),
        |g| g.status != 0,
    )
    .await;
    let_the_window_pass(&cfg).await;
    finish(s);
    assert_eq!(game(&cfg).await.unwrap().status, 1, "submitter won");
    assert_eq!(
        response(&cfg).await.status,
        3,
        "the honest response finalised after its window"
    );
    devnet::down(&cfg);
}

/// The crash window between a mined `respond` and the state file that records it: the
/// submitter's state is lost after it responded, and a restarted submitter finds its pending
/// response on chain and defends it against a lying challenger.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submitter_that_lost_its_state_after_responding_defends_from_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), devnet::free_port().unwrap()).await;
    let honest = || {
        Submitter::new(
            cfg.ctx("submitter", Timeline::default()).unwrap(),
            SubmitterConfig::default(),
        )
        .unwrap()
    };
    let mut s = honest();
    s.tick().await.unwrap();
    assert_eq!(s.responses(), 1, "responded");
    drop(s);
    std::fs::remove_dir_all(&cfg.state_dir).unwrap();
    let mut s = honest();
    assert_eq!(s.responses(), 0, "the state is gone");
    let mut liar = lying_challenger(&cfg);
    let deadline = Instant::now() + Duration::from_secs(300);
    while game(&cfg).await.is_none_or(|g| g.status == 0) {
        liar.tick().await.unwrap();
        s.tick().await.unwrap();
        if Instant::now() >= deadline {
            panic!(
                "game did not resolve:\n{}",
                diagnose(&cfg, dir.path()).await
            );
        }
    }
    assert_eq!(s.responses(), 1, "the response was adopted from the chain");
    assert_eq!(game(&cfg).await.unwrap().status, 1, "submitter won");
    devnet::down(&cfg);
}

/// The CLI agents as a person runs them: each prints one line per chain action by default,
/// the winner exits 0 and the loser exits 4 (the README's "a game went against the agent").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_agents_print_their_actions_and_the_loser_exits_4() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = setup(dir.path(), devnet::free_port().unwrap()).await;
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_zkopml"))
            .arg("--devnet")
            .arg(dir.path().join("devnet.json"))
            .args(args)
            .args(["--poll-ms", "100", "--until-idle", "--timeout", "150"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn zkopml")
    };
    let liar = run(&["submit", "--defect", "1"]);
    let honest = run(&["challenge", "--mode", "bisect"]);
    let liar = liar.wait_with_output().unwrap();
    let honest = honest.wait_with_output().unwrap();
    let (liar_out, honest_out) = (
        String::from_utf8_lossy(&liar.stdout),
        String::from_utf8_lossy(&honest.stdout),
    );
    assert_eq!(liar.status.code(), Some(4), "the liar lost:\n{liar_out}");
    assert!(honest.status.success(), "the challenger won:\n{honest_out}");
    assert!(liar_out.contains("DEFECT at step 1"), "{liar_out}");
    assert!(liar_out.contains("disproven"), "{liar_out}");
    assert!(
        honest_out.contains("gas)"),
        "one line per transaction: {honest_out}"
    );
    assert!(honest_out.contains("challenger won"), "{honest_out}");
    devnet::down(&cfg);
}
