//! Agents woken by the node's new heads over a WebSocket, and the socket dropped mid-game.
//!
//! A lying `submit --protocol 4` and an honest `challenge --protocol 4` (real processes, real
//! anvil, real template proof) reach the node's WebSocket through a TCP relay run by this
//! test, with a heartbeat of ten minutes: with the subscription up, only announced blocks
//! wake them, so a game that finishes shows the subscription working. Mid-game the relay
//! cuts every connection and refuses new ones until the game has moved on: the agents go
//! on by polling. Then the relay serves again, both subscribe again, and the game ends as
//! it must (the liar exits 4, the challenger 0), every action printed once.

mod common;

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use zkopml_agents::{v4::status, DevnetConfig, Timeline};
use zkopml_chain::v4::GameStatus;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

use common::{run_on as run, zkopml_on as zkopml, Reaper};

/// A TCP relay from a local port to `target`, which can cut every connection it carries
/// and refuse new ones while `down`.
struct Relay {
    port: u16,
    down: Arc<AtomicBool>,
    accepted: Arc<AtomicUsize>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay {
            port: listener.local_addr().unwrap().port(),
            down: Arc::default(),
            accepted: Arc::default(),
            live: Arc::default(),
        };
        let (down, accepted, live) = (
            relay.down.clone(),
            relay.accepted.clone(),
            relay.live.clone(),
        );
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if down.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                accepted.fetch_add(1, Ordering::SeqCst);
                let mut live = live.lock().unwrap();
                live.push(client.try_clone().unwrap());
                live.push(server.try_clone().unwrap());
                pipe(client.try_clone().unwrap(), server.try_clone().unwrap());
                pipe(server, client);
            }
        });
        relay
    }

    /// Cuts every connection and refuses new ones.
    fn cut(&self) {
        self.down.store(true, Ordering::SeqCst);
        for s in self.live.lock().unwrap().drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// Copies `from` to `to` on a thread until either side closes.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 || to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// The first game's position (which level and round, the interval, whose turn since when)
/// and outcome, read from the chain.
async fn game(cfg: &Path) -> Option<(String, GameStatus)> {
    let ctx = DevnetConfig::read(cfg)
        .unwrap()
        .reader_ctx("requester", Timeline::default())
        .unwrap();
    let requests = status::requests(&ctx.chain).await.ok()?;
    let g = requests
        .iter()
        .flat_map(|r| &r.responses)
        .flat_map(|r| &r.games)
        .next()?;
    let at = format!(
        "{:?} round {} [{}, {}] op {} since {}",
        g.phase, g.round, g.lo, g.hi, g.op_position, g.turn_started_at
    );
    Some((at, g.status))
}

async fn wait_for<T>(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_woken_by_new_heads_finish_a_game_across_a_dropped_websocket() {
    assert!(
        repo().join(".tools/bin/anvil").exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("devnet.json");
    common::template_keys_into(dir.path());
    let port = zkopml_agents::devnet::free_port().unwrap();
    assert!(run(&cfg, &["devnet", "up", "--port", &port.to_string()]).success());
    let mut procs = Reaper(Vec::new(), cfg.clone());
    assert_eq!(
        DevnetConfig::read(&cfg).unwrap().ws.as_deref(),
        Some(format!("ws://127.0.0.1:{port}").as_str()),
        "devnet up records its anvil's WebSocket"
    );
    assert!(run(
        &cfg,
        &["register", "--protocol", "4", "--model", "testdata/lenet5"]
    )
    .success());

    let relay = Relay::start(port);
    let ws = format!("ws://127.0.0.1:{}", relay.port);
    let logs = dir.path().to_path_buf();
    let agent = |args: &[&str], name: &str| {
        let out = std::fs::File::create(logs.join(format!("{name}.out"))).unwrap();
        let err = std::fs::File::create(logs.join(format!("{name}.err"))).unwrap();
        zkopml(&cfg)
            .arg("-v")
            .args(args)
            .args([
                "--protocol",
                "4",
                "--until-idle",
                "--ws-url",
                &ws,
                // With the subscription up, only new heads wake the agent.
                "--heartbeat-ms",
                "600000",
                "--poll-ms",
                "300",
            ])
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("spawn zkopml")
    };
    procs
        .0
        .push(agent(&["submit", "--defect-at", "relu_1"], "submitter"));
    procs.0.push(agent(&["challenge"], "challenger"));
    wait_for(
        "both agents subscribed",
        Duration::from_secs(120),
        async || (relay.accepted.load(Ordering::SeqCst) >= 2).then_some(()),
    )
    .await;
    assert!(run(&cfg, common::REQUEST_LENET5,).success());

    // The request's block wakes the liar, its response the challenger: a game opens.
    wait_for("a game", Duration::from_secs(600), async || {
        game(&cfg).await
    })
    .await;
    relay.cut();
    let (opened, _) = game(&cfg).await.unwrap();
    eprintln!("WebSocket cut with the game at {opened}");
    // The game moves on while no WebSocket is served: the agents poll.
    let (moved, _) = wait_for(
        "a move without the WebSocket",
        Duration::from_secs(600),
        async || game(&cfg).await.filter(|(at, _)| *at != opened),
    )
    .await;
    eprintln!("moved to {moved} while the WebSocket was down");
    relay.restore();

    let [submitter, challenger] = &mut procs.0[..] else {
        unreachable!()
    };
    let challenger_st = wait_for("the challenger", Duration::from_secs(1800), async || {
        challenger.try_wait().unwrap()
    })
    .await;
    let submitter_st = wait_for("the submitter", Duration::from_secs(300), async || {
        submitter.try_wait().unwrap()
    })
    .await;
    let read = |name: &str| std::fs::read_to_string(logs.join(name)).unwrap();
    for name in ["submitter", "challenger"] {
        eprintln!(
            "--- {name}\n{}{}",
            read(&format!("{name}.out")),
            read(&format!("{name}.err"))
        );
    }
    assert!(challenger_st.success(), "challenger exited {challenger_st}");
    assert_eq!(submitter_st.code(), Some(4), "the liar lost: exit 4");
    let (_, outcome) = game(&cfg).await.unwrap();
    assert_eq!(outcome, GameStatus::ChallengerWon);

    for name in ["submitter", "challenger"] {
        let err = read(&format!("{name}.err"));
        assert!(
            err.contains("subscribed to the node's new heads"),
            "{name} subscribed: {err}"
        );
        assert!(
            err.contains("new-heads subscription closed; polling"),
            "{name} saw the drop: {err}"
        );
        assert!(
            err.contains("subscribed to the node's new heads again"),
            "{name} subscribed again: {err}"
        );
        // Every action once: no move made twice across the drop.
        let out = read(&format!("{name}.out"));
        let actions: Vec<&str> = out
            .lines()
            .filter_map(|l| l.split_once("] ").map(|(_, a)| a))
            .collect();
        assert!(!actions.is_empty(), "{name} printed its actions");
        let mut seen = std::collections::BTreeSet::new();
        for a in &actions {
            assert!(seen.insert(*a), "{name} printed {a:?} twice:\n{out}");
        }
    }
    assert!(
        relay.accepted.load(Ordering::SeqCst) >= 4,
        "two subscriptions, then two again"
    );
}
