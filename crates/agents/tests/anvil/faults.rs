//! Fault injection: the version-4 agents (`V4Submitter`, `V4Challenger`) play dnn's game
//! on a real anvil while the machinery under them misbehaves — anvil killed and restarted
//! from its persisted chain, an RPC link that drops and delays requests, a reorganisation
//! of the last blocks, two agents signing with one key. Each agent runs its own loop as
//! `zkopml submit/challenge --protocol 4` does (a retryable error is retried on the next
//! tick, any other fails the test). Each test ends with every game resolved for the honest
//! side, the honest party paid exactly what the protocol pays (no bond lost), and the
//! market's ether conserved: deposits − withdrawals = the market's balance = Σ balances +
//! burned + escrow (fees of open requests, bonds of pending responses and running games).

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use alloy_primitives::{Address, U256};
use zkopml_agents::{
    devnet,
    v4::{self, Defect, V4Challenger, V4ChallengerConfig, V4Submitter, V4SubmitterConfig},
    Ctx, Timeline,
};
use zkopml_chain::{
    market_v4::InferenceMarketV4::ResponseDisproven,
    v4::{GameStatus, RequestStatus, ResponseStatus},
    Chain, ClientOptions,
};
use zkopml_prover::templates::{ClipTemplate, RescaleTemplate, Template};

mod proxy;

use proxy::FlakyProxy;

use super::common::{
    dnn_request, first_op, game_status, key_dir, net_addr, v4_net_with, withdrawn, Net, BOND, FEE,
    WINDOW,
};

/// The longest any condition of these tests is waited for.
const LIMIT: Duration = Duration::from_secs(240);

/// An agent's loop as the CLI runs it (`run_agent`): tick every 200 ms until `settled`,
/// printing what it did; a retryable error (node unreachable, transaction dropped, nonce
/// taken, a move the chain had moved past) is printed and the tick run again, any other
/// error panics, and so does a loop past [`LIMIT`]. Returns the agent and how many ticks
/// failed with a retryable error.
macro_rules! agent_loop {
    ($agent:expr, $timeline:expr, $settled:expr) => {{
        let (mut agent, timeline, settled) = ($agent, $timeline, $settled);
        tokio::spawn(async move {
            let started = Instant::now();
            let mut printed = 0;
            let mut retried = 0usize;
            loop {
                let tick = agent.tick().await;
                let entries = timeline.entries();
                for e in &entries[printed..] {
                    println!("[{:>6.1}s] {}: {}", e.at_s, e.actor, e.what);
                }
                printed = entries.len();
                match tick {
                    Ok(()) => {}
                    Err(e) if e.is_retryable() => {
                        retried += 1;
                        println!(
                            "[{:>6.1}s] retrying a tick: {e}",
                            started.elapsed().as_secs_f64()
                        );
                    }
                    Err(e) => panic!("agent tick failed: {e}"),
                }
                if settled(&agent) {
                    return (agent, retried);
                }
                assert!(started.elapsed() < LIMIT, "agent did not settle in time");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        })
    }};
}

/// A context acting as `role` with `key_role`'s key (two roles may share a key: separate
/// state files, one account), talking to the node at `rpc` (default: the devnet's) with
/// `options`.
fn ctx(net: &Net, role: &str, key_role: &str, rpc: Option<&str>, options: ClientOptions) -> Ctx {
    let mut cfg = net.cfg.clone();
    if let Some(rpc) = rpc {
        cfg.deployment.rpc = rpc.to_string();
    }
    let key = cfg.key(key_role).unwrap().to_string();
    cfg.keys.insert(role.to_string(), key.clone());
    let mut ctx = cfg.ctx(role, Timeline::default()).unwrap();
    ctx.chain = Chain::connect_with(&cfg.deployment, &key, options).unwrap();
    ctx
}

/// Client options for agents under faults: a fault is noticed within seconds, not minutes.
fn quick() -> ClientOptions {
    ClientOptions {
        request_timeout: Duration::from_secs(5),
        transport_retries: 3,
        retry_backoff: Duration::from_millis(100),
        receipt_timeout: Duration::from_secs(10),
    }
}

fn submitter(ctx: Ctx, defect: Option<Defect>) -> (V4Submitter, Timeline) {
    let t = ctx.timeline.clone();
    let config = V4SubmitterConfig {
        defect,
        only: None,
        template_keys: key_dir(),
    };
    (V4Submitter::new(ctx, config).unwrap(), t)
}

fn challenger(ctx: Ctx, lie: Option<Defect>) -> (V4Challenger, Timeline) {
    let t = ctx.timeline.clone();
    let config = V4ChallengerConfig {
        lie,
        template_keys: key_dir(),
    };
    (V4Challenger::new(ctx, config).unwrap(), t)
}

/// A client of the devnet for the test's own reads and faults (never through a proxy).
fn observer(net: &Net) -> Chain {
    net.cfg.ctx("requester", Timeline::default()).unwrap().chain
}

/// Waits (up to [`LIMIT`]) until game 1 exists and at least `moves` of its moves are mined
/// (counted by its events), and returns the latest block then.
async fn game_moved(chain: &Chain, moves: usize) -> u64 {
    let m = chain.market_v4().unwrap();
    let started = Instant::now();
    loop {
        let counts = chain.view_v4("counts", m.counts()).await.unwrap();
        if counts.games >= U256::from(1) {
            let g = U256::from(1);
            let made = self::moves(chain).await;
            if made >= moves {
                let status = v4::game(chain, g).await.unwrap().status;
                assert_eq!(
                    GameStatus::try_from(status).unwrap(),
                    GameStatus::InProgress,
                    "the fault is injected mid-game"
                );
                return chain.head().await.unwrap().0;
            }
        }
        assert!(started.elapsed() < LIMIT, "game 1 made no {moves} moves");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The market's ether, accounted: returns (deposits − withdrawals, its balance, Σ balances
/// of the devnet's accounts + burned + escrow), which must be equal. Deposits are the fees of
/// every request and the bonds of every response and game; escrow is what the market holds for open or responded requests, pending responses and
/// running games.
async fn ether(net: &Net, chain: &Chain) -> (U256, U256, U256) {
    let m = chain.market_v4().unwrap();
    let counts = chain.view_v4("counts", m.counts()).await.unwrap();
    let (mut deposits, mut escrow) = (U256::ZERO, U256::ZERO);
    for id in 1..=counts.requests.to::<u64>() {
        let r = chain
            .view_v4("getRequest", m.getRequest(U256::from(id)))
            .await
            .unwrap();
        deposits += r.fee;
        if matches!(
            RequestStatus::try_from(r.status).unwrap(),
            RequestStatus::Open | RequestStatus::Responded
        ) {
            escrow += r.fee;
        }
    }
    for id in 1..=counts.responses.to::<u64>() {
        let r = chain
            .view_v4("getResponse", m.getResponse(U256::from(id)))
            .await
            .unwrap();
        deposits += U256::from(r.bond);
        if ResponseStatus::try_from(r.status).unwrap() == ResponseStatus::Pending {
            escrow += U256::from(r.bond);
        }
    }
    for id in 1..=counts.games.to::<u64>() {
        let g = v4::game(chain, U256::from(id)).await.unwrap();
        deposits += U256::from(g.bond);
        if GameStatus::try_from(g.status).unwrap() == GameStatus::InProgress {
            escrow += U256::from(g.bond);
        }
    }
    let (mut credited, mut out) = (U256::ZERO, U256::ZERO);
    for role in devnet::ROLES {
        let a = net_addr(net, role);
        credited += chain.view_v4("balances", m.balances(a)).await.unwrap();
        out += withdrawn(chain, a).await;
    }
    let burned = chain.view_v4("burned", m.burned()).await.unwrap();
    let held = chain.balance(*m.address()).await.unwrap();
    (deposits - out, held, credited + burned + escrow)
}

/// The end of a game the honest challenger `chal` won against the lying submitter `sub`:
/// every game resolved, the liar's one response on chain disproven with its bond split
/// between `chal` (the reward) and the burn, the request open again; `chal` got back every
/// bond it posted plus the reward and holds nothing in the market; the liar got nothing;
/// the ether adds up.
async fn assert_challenger_won(net: &Net, request: U256, sub: Address, chal: Address) {
    let chain = observer(net);
    let m = chain.market_v4().unwrap();
    let counts = chain.view_v4("counts", m.counts()).await.unwrap();
    let mut games = 0u64;
    for id in 1..=counts.games.to::<u64>() {
        let g = v4::game(&chain, U256::from(id)).await.unwrap();
        let status = GameStatus::try_from(g.status).unwrap();
        assert_eq!(g.challenger, chal);
        assert!(
            matches!(status, GameStatus::ChallengerWon | GameStatus::Cancelled),
            "game {id}: {status:?}"
        );
        games += 1;
    }
    assert!(games >= 1, "a game was played");
    let req = chain
        .view_v4("getRequest", m.getRequest(request))
        .await
        .unwrap();
    assert_eq!(
        RequestStatus::try_from(req.status).unwrap(),
        RequestStatus::Open,
        "the liar's response is disproven, the request open again"
    );
    let resp = chain
        .view_v4("getResponse", m.getResponse(req.responseId))
        .await
        .unwrap();
    assert_eq!(
        ResponseStatus::try_from(resp.status).unwrap(),
        ResponseStatus::Disproven
    );
    assert_eq!(resp.submitter, sub);
    let d = chain
        .market_v4_events::<ResponseDisproven>(request)
        .await
        .unwrap();
    let [d] = d.as_slice() else {
        panic!("one disproof, got {}", d.len())
    };
    assert_eq!(d.payee, chal);
    assert_eq!(d.reward + d.burned, U256::from(BOND));
    assert_eq!(chain.view_v4("burned", m.burned()).await.unwrap(), d.burned);
    assert_eq!(
        withdrawn(&chain, chal).await,
        U256::from(BOND) * U256::from(games) + d.reward,
        "the challenger got every bond back and the reward"
    );
    assert_eq!(
        chain.view_v4("balances", m.balances(chal)).await.unwrap(),
        U256::ZERO
    );
    assert_eq!(
        withdrawn(&chain, sub).await,
        U256::ZERO,
        "the liar got nothing"
    );
    let (net_deposits, held, accounted) = ether(net, &chain).await;
    assert_eq!(
        net_deposits, held,
        "deposits − withdrawals = the market's balance"
    );
    assert_eq!(held, accounted, "balance = Σ balances + burned + escrow");
}

type Run<A> = tokio::task::JoinHandle<(A, usize)>;

/// dnn's request answered by a lying submitter agent (a flipped bit in dnn's first Relu
/// output) against an honest challenger agent, each in its own loop, through `rpc`
/// (default: the devnet's node) with `options`.
struct LiarVsHonestChallenger {
    request: U256,
    /// The block of the request (the agents' first transactions come after it).
    requested_at: u64,
    sub: Run<V4Submitter>,
    chal: Run<V4Challenger>,
}

impl LiarVsHonestChallenger {
    async fn start(net: &Net, rpc: Option<&str>, options: ClientOptions) -> Self {
        let (model, request) = dnn_request(net).await;
        let requested_at = observer(net).head().await.unwrap().0;
        let lie = first_op(&model, ClipTemplate::NAME);
        let (sub, sub_t) = submitter(
            ctx(net, "submitter", "submitter", rpc, options.clone()),
            Some(lie),
        );
        let (chal, chal_t) = challenger(ctx(net, "challenger1", "challenger1", rpc, options), None);
        Self {
            request,
            requested_at,
            sub: agent_loop!(sub, sub_t, |a: &V4Submitter| a.responses() > 0 && a.idle()),
            chal: agent_loop!(chal, chal_t, |a: &V4Challenger| a.disputes() > 0
                && a.idle()),
        }
    }

    /// Waits for both agents to settle and checks the end ([`assert_challenger_won`]);
    /// returns how many ticks of each failed with a retryable error.
    async fn finish(self, net: &Net) -> (usize, usize) {
        let (sub, sub_retried) = self.sub.await.unwrap();
        let (chal, chal_retried) = self.chal.await.unwrap();
        assert_eq!(sub.lost(), 1, "the liar's response is disproven");
        assert_eq!(chal.lost(), 0, "the honest challenger lost no game");
        let (s, c) = (net_addr(net, "submitter"), net_addr(net, "challenger1"));
        assert_challenger_won(net, self.request, s, c).await;
        println!("ticks retried: submitter {sub_retried}, challenger {chal_retried}");
        (sub_retried, chal_retried)
    }
}

/// anvil is killed (SIGKILL) mid-game and started again on the same port from its
/// persisted chain (`devnet::restart`) as it was two blocks before the kill: the agents,
/// kept running, ride out the outage (ticks fail as unavailable and are retried, receipts
/// are polled through it), notice that the blocks they saw last are gone (as in a
/// reorganisation), make the lost moves again and finish the game: the challenger wins, no
/// bond is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_finish_the_game_across_an_anvil_killed_and_restarted_from_its_state() {
    let mut net = v4_net_with(true).await;
    let run = LiarVsHonestChallenger::start(&net, None, quick()).await;
    let chain = observer(&net);
    let block = game_moved(&chain, 2).await;
    let (dump, kept) = keep_dump(&net, block).await;
    // Two more blocks (moves) after the kept dump: the restart loses them.
    let started = Instant::now();
    while chain.head().await.unwrap().0 < kept + 2 {
        assert!(started.elapsed() < LIMIT, "no two moves after block {kept}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let survives = chain.block_hash(kept).await.unwrap();
    let lost = chain.block_hash(kept + 2).await.unwrap();
    assert_eq!(
        game_status(&chain, U256::from(1)).await,
        GameStatus::InProgress,
        "killed mid-game"
    );
    kill_and_restart(&mut net, &dump, Duration::from_secs(2)).await;
    println!(
        "anvil killed past block {}, restarted from its dump at block {kept}",
        kept + 2
    );
    assert_eq!(
        chain.block_hash(kept).await.unwrap(),
        survives,
        "the dump's blocks are kept"
    );
    assert_ne!(
        chain.block_hash(kept + 2).await.unwrap(),
        lost,
        "the blocks after the dump are lost (gone, or mined again)"
    );
    run.finish(&net).await;
}

/// A devnet restarted from its dump keeps its blocks (same hashes) and its clock: advanced
/// an hour ahead of the wall clock before the kill, the next block after the restart is
/// still later than the last one (anvil alone would restart from the wall clock, and a
/// game's clocks would run backwards).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_devnet_keeps_its_blocks_and_its_clock() {
    let mut net = v4_net_with(true).await;
    let chain = observer(&net);
    chain.advance_time(3_600).await.unwrap();
    let (n, hash) = chain.head().await.unwrap();
    let before = chain.latest_timestamp().await.unwrap();
    let (dump, kept) = keep_dump(&net, n).await;
    assert_eq!(kept, n);
    let head = kill_and_restart(&mut net, &dump, Duration::ZERO).await;
    assert_eq!(head, n);
    assert_eq!(
        chain.block_hash(n).await.unwrap(),
        Some(hash),
        "the same block"
    );
    chain.advance_time(0).await.unwrap();
    let after = chain.latest_timestamp().await.unwrap();
    assert!(after > before, "the clock ran on: {before} -> {after}");
}

/// Copies a whole dump of anvil's chain that holds `block` aside (anvil rewrites its dump
/// in place every second: a kill during a write would leave a torn file); returns the copy
/// and its latest block.
async fn keep_dump(net: &Net, block: u64) -> (std::path::PathBuf, u64) {
    let state = net.cfg.anvil_state.clone().expect("a persisted devnet");
    let kept = state.with_extension("kept");
    let started = Instant::now();
    loop {
        if persisted_block(&state) >= block {
            std::fs::copy(&state, &kept).unwrap();
            let n = persisted_block(&kept);
            if n >= block {
                return (kept, n);
            }
        }
        assert!(
            started.elapsed() < LIMIT,
            "anvil never dumped block {block}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kills anvil (SIGKILL), puts the kept dump in its place, leaves the agents `outage`
/// without a node, and starts anvil again from the dump; returns the restarted chain's head
/// (agents running beside may have mined more blocks already).
async fn kill_and_restart(net: &mut Net, kept: &std::path::Path, outage: Duration) -> u64 {
    let pid = net.cfg.anvil_pid.expect("anvil started by the devnet");
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let state = net.cfg.anvil_state.clone().expect("a persisted devnet");
    std::fs::rename(kept, &state).unwrap();
    tokio::time::sleep(outage).await;
    devnet::restart(&mut net.cfg).await.expect("anvil restarts");
    observer(net).head().await.unwrap().0
}

/// A chain reorganisation mid-game: once the game has made three moves, anvil drops its
/// last three blocks (`anvil_reorg`, replaced by empty blocks: the moves in them are gone,
/// the accounts' nonces roll back). The agents notice (the block they saw last is not on
/// chain any more), read the game again, make the dropped moves again and finish: the
/// challenger wins, no bond is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_resubmit_the_moves_a_reorg_of_the_last_blocks_dropped() {
    let net = v4_net_with(false).await;
    let run = LiarVsHonestChallenger::start(&net, None, quick()).await;
    let chain = observer(&net);
    game_moved(&chain, 3).await;
    let before = game_state(&chain).await;
    chain.reorg(3).await.expect("anvil_reorg");
    let after = game_state(&chain).await;
    println!("reorganised the last 3 blocks: game 1 went back from\n  {before}\nto\n  {after}");
    // Every transaction since the third move is one of game 1's (no one withdraws before it
    // ends), so the three blocks dropped held moves.
    assert_ne!(before, after, "the reorganisation took moves back");
    run.finish(&net).await;
}

/// A deep reorganisation mid-game: once the game has made three moves, anvil drops every
/// block since the request — the lying response, the challenge, the trace commitment and
/// the moves are gone. The agents notice, find that their response and their game are no
/// longer on chain, and start over: the liar answers again, the challenger challenges the
/// new response and wins its game; no bond is lost (the dropped bonds were never paid).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_answer_and_challenge_again_after_a_reorg_drops_the_whole_game() {
    let net = v4_net_with(false).await;
    let run = LiarVsHonestChallenger::start(&net, None, quick()).await;
    let chain = observer(&net);
    let head = game_moved(&chain, 3).await;
    let depth = head - run.requested_at;
    chain.reorg(depth).await.expect("anvil_reorg");
    let m = chain.market_v4().unwrap();
    let counts = chain.view_v4("counts", m.counts()).await.unwrap();
    println!(
        "reorganised the last {depth} blocks: {} responses, {} games left",
        counts.responses, counts.games
    );
    // The agents may already have answered again (the reorganisation is not atomic with
    // this read), but no game can have reached its third move again.
    assert!(counts.responses <= U256::from(1));
    assert!(moves(&chain).await < 3, "the game's moves are gone");
    run.finish(&net).await;
}

/// Game 1 and its descent, as the market holds them.
async fn game_state(chain: &Chain) -> String {
    let m = chain.market_v4().unwrap();
    let g = v4::game(chain, U256::from(1)).await.unwrap();
    let d = chain
        .view_v4("getDescent", m.getDescent(U256::from(1)))
        .await
        .unwrap();
    format!("{g:?} {d:?}")
}

/// Game 1's moves so far (the number of its level-1 and level-2 events).
async fn moves(chain: &Chain) -> usize {
    use zkopml_chain::market_v4::InferenceMarketV4::{
        ChallengerRevealed, OutputsRevealed, StepOpened, SubmitterRevealed,
    };
    let g = U256::from(1);
    chain
        .market_v4_events::<SubmitterRevealed>(g)
        .await
        .unwrap()
        .len()
        + chain
            .market_v4_events::<ChallengerRevealed>(g)
            .await
            .unwrap()
            .len()
        + chain.market_v4_events::<StepOpened>(g).await.unwrap().len()
        + chain
            .market_v4_events::<OutputsRevealed>(g)
            .await
            .unwrap()
            .len()
}

/// Two honest submitter agents signing with one key (two machines, one account: separate
/// state files) against a challenger agent lying in dnn's first rescaled Gemm output. Both
/// try to respond, commit the trace, play every move, finalise and withdraw; every second
/// attempt meets a taken nonce or a move the chain has moved past, which is retried, never
/// fatal. The account responds once (one bond), wins the game, finalises once and withdraws
/// the fee, its bond and the challenger's bond, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_submitter_agents_sharing_one_key_win_and_finalise_once() {
    let net = v4_net_with(false).await;
    let (model, request) = dnn_request(&net).await;
    let (a, a_t) = submitter(ctx(&net, "submitter", "submitter", None, quick()), None);
    let (b, b_t) = submitter(
        ctx(&net, "submitter-twin", "submitter", None, quick()),
        None,
    );
    let lie = first_op(&model, RescaleTemplate::NAME);
    let (chal, chal_t) = challenger(
        ctx(&net, "challenger1", "challenger1", None, quick()),
        Some(lie),
    );
    let settled = |s: &V4Submitter| s.responses() > 0 && s.idle();
    let a = agent_loop!(a, a_t, settled);
    let b = agent_loop!(b, b_t, settled);
    let chal = agent_loop!(chal, chal_t, |c: &V4Challenger| c.disputes() > 0
        && c.idle());
    // Once the game is over, the devnet's clock passes the response's challenge window.
    let chain = observer(&net);
    let started = Instant::now();
    loop {
        let counts = chain
            .view_v4("counts", chain.market_v4().unwrap().counts())
            .await
            .unwrap();
        if counts.games >= U256::from(1) {
            let g = v4::game(&chain, U256::from(1)).await.unwrap();
            if GameStatus::try_from(g.status).unwrap() != GameStatus::InProgress {
                break;
            }
        }
        assert!(started.elapsed() < LIMIT, "the game did not end in time");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    chain.advance_time(WINDOW + 1).await.unwrap();
    let ((a, a_retried), (b, b_retried)) = (a.await.unwrap(), b.await.unwrap());
    let (chal, _) = chal.await.unwrap();
    println!("ticks retried: submitter {a_retried}, its twin {b_retried}");
    assert_eq!((a.responses(), a.lost()), (1, 0));
    assert_eq!(
        (b.responses(), b.lost()),
        (1, 0),
        "the twin defended the same response"
    );
    assert_eq!((chal.disputes(), chal.lost()), (1, 1));

    let m = chain.market_v4().unwrap();
    let counts = chain.view_v4("counts", m.counts()).await.unwrap();
    assert_eq!(counts.responses, U256::from(1), "one response, one bond");
    assert_eq!(counts.games, U256::from(1));
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
    let sub = net_addr(&net, "submitter");
    assert_eq!(
        withdrawn(&chain, sub).await,
        U256::from(FEE + 2 * BOND),
        "the fee, its bond and the challenger's, once"
    );
    assert_eq!(
        chain.view_v4("balances", m.balances(sub)).await.unwrap(),
        U256::ZERO
    );
    assert_eq!(
        withdrawn(&chain, net_addr(&net, "challenger1")).await,
        U256::ZERO
    );
    assert_eq!(
        chain.view_v4("burned", m.burned()).await.unwrap(),
        U256::ZERO
    );
    let (net_deposits, held, accounted) = ether(&net, &chain).await;
    assert_eq!(
        net_deposits, held,
        "deposits − withdrawals = the market's balance"
    );
    assert_eq!(held, accounted, "balance = Σ balances + burned + escrow");
}

/// The latest block in anvil's persisted state (0 while it is not readable).
fn persisted_block(state: &std::path::Path) -> u64 {
    let Ok(bytes) = std::fs::read(state) else {
        return 0;
    };
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return 0;
    };
    match &v["best_block_number"] {
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        serde_json::Value::String(s) => {
            u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap_or(0)
        }
        _ => 0,
    }
}

/// Two honest challenger agents signing with one key (two machines, one account: separate
/// state files) against a lying submitter agent. Both check the response and challenge it:
/// the second finds the first's game on chain and plays it too, or — when both challenge
/// at once — opens a second game, cancelled (its bond refunded) once the first disproves
/// the response. Every second attempt at a move meets a taken nonce or a move the chain has
/// moved past, which is retried, never fatal. The account gets every bond it posted back
/// plus the disproof reward, exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_challenger_agents_sharing_one_key_disprove_once_and_lose_no_bond() {
    let net = v4_net_with(false).await;
    let (model, request) = dnn_request(&net).await;
    let lie = first_op(&model, ClipTemplate::NAME);
    let (sub, sub_t) = submitter(
        ctx(&net, "submitter", "submitter", None, quick()),
        Some(lie),
    );
    let (a, a_t) = challenger(ctx(&net, "challenger1", "challenger1", None, quick()), None);
    let (b, b_t) = challenger(
        ctx(&net, "challenger1-twin", "challenger1", None, quick()),
        None,
    );
    // The twins stop once the chain says the account is done (one of them may never have
    // had a game of its own to settle).
    let done = Arc::new(AtomicBool::new(false));
    let settled = {
        let done = done.clone();
        move |c: &V4Challenger| done.load(Ordering::SeqCst) && c.idle()
    };
    let sub = agent_loop!(sub, sub_t, |s: &V4Submitter| s.responses() > 0 && s.idle());
    let a = agent_loop!(a, a_t, settled.clone());
    let b = agent_loop!(b, b_t, settled);
    let chain = observer(&net);
    let m = chain.market_v4().unwrap();
    let chal = net_addr(&net, "challenger1");
    let started = Instant::now();
    loop {
        let req = chain
            .view_v4("getRequest", m.getRequest(request))
            .await
            .unwrap();
        let counts = chain.view_v4("counts", m.counts()).await.unwrap();
        let mut running = false;
        for id in 1..=counts.games.to::<u64>() {
            let g = v4::game(&chain, U256::from(id)).await.unwrap();
            running |= GameStatus::try_from(g.status).unwrap() == GameStatus::InProgress;
        }
        let disproven = req.responseCount > 0
            && RequestStatus::try_from(req.status).unwrap() == RequestStatus::Open;
        let owed = chain.view_v4("balances", m.balances(chal)).await.unwrap();
        if disproven && !running && owed.is_zero() {
            break;
        }
        assert!(
            started.elapsed() < LIMIT,
            "the account's games did not end in time"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    done.store(true, Ordering::SeqCst);
    let (sub, _) = sub.await.unwrap();
    let ((a, a_retried), (b, b_retried)) = (a.await.unwrap(), b.await.unwrap());
    println!(
        "ticks retried: challenger {a_retried}, its twin {b_retried}; disputes {} and {}",
        a.disputes(),
        b.disputes()
    );
    assert_eq!(sub.lost(), 1, "the liar's response is disproven");
    assert_eq!(
        (a.lost(), b.lost()),
        (0, 0),
        "no game went against the account"
    );
    assert_challenger_won(&net, request, net_addr(&net, "submitter"), chal).await;
}

/// The flaky link's seed: which requests fail, and how, follows from it alone.
const SEED: u64 = 0x5eed_f1a4_u64;

/// The agents' link to anvil runs through [`FlakyProxy`]: every fifth request fails — the
/// connection closed before it is forwarded, its answer lost after anvil executed it, or
/// held past the client's 1 s timeout and then delivered late (a transaction that lands
/// after the client gave up on it). The client re-sends a failed request (its transport
/// retries) and a tick that still fails is run again; a re-sent transaction that is in
/// already meets a taken nonce, which is retried too. The game finishes as without faults:
/// the challenger wins, no bond is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_finish_the_game_through_a_flaky_rpc_proxy() {
    let net = v4_net_with(false).await;
    let upstream = net.cfg.deployment.rpc.clone();
    let proxy = FlakyProxy::start(&upstream, SEED, Duration::from_millis(1_500));
    let options = ClientOptions {
        request_timeout: Duration::from_secs(1),
        transport_retries: 3,
        retry_backoff: Duration::from_millis(100),
        receipt_timeout: Duration::from_secs(10),
    };
    let run = LiarVsHonestChallenger::start(&net, Some(&proxy.url()), options).await;
    run.finish(&net).await;
    let s = &proxy.stats;
    let (n, dropped, lost, delayed) = (
        s.requests.load(Ordering::SeqCst),
        s.dropped.load(Ordering::SeqCst),
        s.lost.load(Ordering::SeqCst),
        s.delayed.load(Ordering::SeqCst),
    );
    println!("proxy: {n} requests, {dropped} dropped, {lost} answers lost, {delayed} delayed");
    assert!(
        dropped > 0 && lost > 0 && delayed > 0,
        "every kind of fault was met"
    );
}
