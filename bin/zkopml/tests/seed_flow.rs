//! The seed's three-terminal flow, as real processes through the justfile: `just deploy`,
//! `just register`, then `just submit-defect K` and `just verify` in the background and
//! `just request` — twice on one devnet, then once more after `just down` and `just deploy`
//! (a fresh chain: no state of the first one may leak into it). Every round settles right
//! (each wrong response disproven by the challenger, no game lost by it), each agent prints
//! its actions by default, and each exit status is the documented one (the liar's agent 4,
//! the challenger's 0). Needs the pinned toolchain with `just` (`bash
//! scripts/install-toolchain.sh`).

mod common;

use std::{
    path::PathBuf,
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The recipes run in `dir` (the devnet's `.devnet/` lands there, not in the repository),
/// with this build's `zkopml`, the repository's test model and a port of their own.
struct Flow {
    dir: PathBuf,
    port: String,
}

impl Flow {
    fn just(&self, recipe: &[&str]) -> Command {
        let repo = repo();
        let mut c = Command::new(repo.join(".tools/bin/just"));
        c.arg("--justfile")
            .arg(repo.join("justfile"))
            .arg("--working-directory")
            .arg(&self.dir)
            .arg(format!("zkopml={}", env!("CARGO_BIN_EXE_zkopml")))
            .arg(format!(
                "model={}",
                repo.join("testdata/lenet5/model.onnx").display()
            ))
            .arg(format!(
                "input={}",
                repo.join("testdata/lenet5/input.json").display()
            ))
            .arg(format!("port={}", self.port))
            .args(recipe)
            .env("ZKOPML_ANVIL", repo.join(".tools/bin/anvil"))
            .env_remove("ZKOPML_PROTOCOL")
            .env_remove("ZKOPML_PRIVATE_KEY")
            .env_remove("ZKOPML_RPC_URL");
        c
    }

    /// A recipe run to its end: it must succeed.
    fn ok(&self, recipe: &[&str]) -> Output {
        let out = self.just(recipe).output().expect("run just");
        assert!(
            out.status.success(),
            "just {recipe:?}: {}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// A recipe started in the background (another terminal), its output kept.
    fn spawn(&self, recipe: &[&str]) -> Child {
        self.just(recipe)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start just")
    }

    /// The version-4 market as `zkopml status --json` shows it.
    fn status(&self) -> Value {
        let out = Command::new(env!("CARGO_BIN_EXE_zkopml"))
            .current_dir(&self.dir)
            .args(["--json", "status", "--protocol", "4"])
            .output()
            .unwrap();
        assert!(out.status.success());
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// Waits for a background recipe (at most `limit`): its exit code and stdout.
fn finish(child: Child, limit: Duration) -> (i32, String) {
    let started = Instant::now();
    let id = child.id();
    let waiter = std::thread::spawn(move || child.wait_with_output().unwrap());
    while !waiter.is_finished() {
        if started.elapsed() > limit {
            let _ = Command::new("kill").arg(id.to_string()).status();
            panic!("an agent ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = waiter.join().unwrap();
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// One round: the liar and the challenger started first, then the request.
fn round(flow: &Flow, n: usize) {
    let liar = flow.spawn(&["submit-defect", "3"]);
    let challenger = flow.spawn(&["verify"]);
    // The agents are up before the request, as when each runs in its own terminal.
    std::thread::sleep(Duration::from_secs(2));
    flow.ok(&["request"]);
    let limit = Duration::from_secs(1200);
    let (code, out) = finish(challenger, limit);
    println!("round {n}, challenger:\n{out}");
    assert_eq!(code, 0, "the challenger wins and exits 0:\n{out}");
    assert!(out.contains("challenger1: challenge response"), "{out}");
    let (code, out) = finish(liar, limit);
    println!("round {n}, liar:\n{out}");
    assert_eq!(code, 4, "the liar's agent exits 4 (lost):\n{out}");
    assert!(out.contains("submitter: "), "its actions printed:\n{out}");
    // Every response so far was a lie, and each was disproven by a game the challenger won.
    let v = flow.status();
    let mut games = 0;
    for r in v["requests"].as_array().unwrap() {
        for resp in r["responses"].as_array().unwrap() {
            assert_eq!(resp["status"], "Disproven", "round {n}: {resp}");
            for g in resp["games"].as_array().unwrap() {
                assert_eq!(g["status"], "ChallengerWon", "round {n}: {g}");
                games += 1;
            }
        }
    }
    assert!(games >= 1, "round {n}: no game");
}

#[test]
fn the_seeds_three_terminal_flow_settles_every_round_on_one_devnet_and_after_a_new_one() {
    assert!(
        repo().join(".tools/bin/just").exists(),
        "just not installed: run `bash scripts/install-toolchain.sh`"
    );
    let dir = tempfile::tempdir().unwrap();
    let flow = Flow {
        dir: dir.path().to_path_buf(),
        port: zkopml_agents::devnet::free_port().unwrap().to_string(),
    };
    // `devnet up` finds the template test keys where it caches them (made once per target).
    common::template_keys_into(&dir.path().join(".devnet"));
    flow.ok(&["deploy"]);
    flow.ok(&["register"]);
    round(&flow, 1);
    round(&flow, 2);
    let requests = flow.status()["requests"].as_array().unwrap().len();
    assert_eq!(requests, 2, "two requests on the first devnet");
    flow.ok(&["down"]);
    flow.ok(&["deploy"]);
    assert_eq!(
        flow.status()["requests"].as_array().unwrap().len(),
        0,
        "a new devnet starts empty"
    );
    flow.ok(&["register"]);
    round(&flow, 3);
    flow.ok(&["down"]);
}
