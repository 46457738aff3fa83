//! Any chain, not only the devnet: a chain brought up outside `devnet up` (anvil started by
//! hand with another chain id), the contracts put there by `zkopml deploy`, and every actor
//! signing with a key of its own passed as a user passes it — `--private-key`, the
//! `ZKOPML_PRIVATE_KEY` variable, a `cast wallet import` keystore with a password file.
//! A lying submitter loses to an honest challenger (real template proof verified on that
//! chain), an honest submitter's answer is made final. Needs the pinned toolchain (`bash
//! scripts/install-toolchain.sh`).

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn tool(name: &str) -> PathBuf {
    repo().join(".tools/bin").join(name)
}

/// `zkopml` with the config file `cfg`, `args` and extra environment; no actor key or RPC
/// URL comes from the caller's environment.
fn zkopml_cmd(cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkopml"));
    c.current_dir(repo())
        .args(["--devnet", &cfg.display().to_string()])
        .args(args)
        .env_remove("ZKOPML_PRIVATE_KEY")
        .env_remove("ZKOPML_RPC_URL")
        .env_remove("ZKOPML_KEYSTORE")
        .envs(env.iter().copied());
    c
}

fn run(cfg: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = zkopml_cmd(cfg, args, env).output().expect("run zkopml");
    eprintln!(
        "zkopml {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// An anvil of its own, killed when dropped.
struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    fn start(chain_id: u64) -> Self {
        let port = zkopml_agents::devnet::free_port().unwrap();
        let child = Command::new(tool("anvil"))
            .args([
                "--port",
                &port.to_string(),
                "--chain-id",
                &chain_id.to_string(),
            ])
            .arg("--silent")
            .stdin(Stdio::null())
            .spawn()
            .expect("start anvil");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while cast(&["chain-id", "--rpc-url", &url]).is_none() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "anvil at {url} never served"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        Self { child, url }
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `cast` with `args`: its stdout when it succeeded.
fn cast(args: &[&str]) -> Option<String> {
    let out = Command::new(tool("cast")).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// A new wallet (`cast wallet new`), funded with 100 ether on `anvil`: (address, key).
fn funded_wallet(anvil: &Anvil) -> (String, String) {
    let v: Value = serde_json::from_str(&cast(&["wallet", "new", "--json"]).unwrap()).unwrap();
    let (address, key) = (
        v[0]["address"].as_str().unwrap().to_string(),
        v[0]["private_key"].as_str().unwrap().to_string(),
    );
    cast(&[
        "rpc",
        "--rpc-url",
        &anvil.url,
        "anvil_setBalance",
        &address,
        "0x56bc75e2d63100000",
    ])
    .expect("fund the wallet");
    (address, key)
}

/// Waits for `child` (at most `limit`), returning its exit code.
fn wait(mut child: Child, limit: Duration) -> i32 {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("an agent ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn deploy_then_play_the_game_on_another_chain_with_keys_passed_as_a_user_would() {
    assert!(
        tool("anvil").exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("chain/deployment.json");
    let chain = Anvil::start(4242);
    let [(_, owner), (requester_addr, requester), (liar_addr, liar), (_, challenger), (honest_addr, honest)] =
        std::array::from_fn(|_| funded_wallet(&chain));

    // Nothing to sign with, or nothing to deploy to: bad input (2), before any transaction.
    let out = run(&cfg, &["deploy", "--rpc-url", &chain.url], &[]);
    assert_eq!(out.status.code(), Some(2), "no signer: bad input");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--private-key"));

    // The template verifiers from the test keys (made once per target dir); a public chain's
    // time floor by default (a day: no clock or window below it is registered).
    let keys = common::template_keys();
    let keys = keys.display().to_string();
    let deploy = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "deploy",
            "--rpc-url",
            &chain.url,
            "--private-key",
            &owner,
            "--template-keys",
            &keys,
        ];
        args.extend_from_slice(extra);
        run(&cfg, &args, &[])
    };
    let out = deploy(&[]);
    assert!(out.status.success());
    let d = json(&out);
    assert_eq!(d["chain_id"], 4242);
    assert_eq!(d["rpc"], chain.url.as_str());
    assert!(d["v4"]["market"].is_string());
    let written: Value = serde_json::from_slice(&std::fs::read(&cfg).unwrap()).unwrap();
    assert_eq!(
        written["keys"],
        serde_json::json!({}),
        "no key is written to the config"
    );

    // An actor without a key is told how to give one (bad input, exit 2).
    let model = "testdata/dnn/model.onnx";
    let out = run(
        &cfg,
        &["register", "--protocol", "4", "--model", model],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--private-key"));

    // The owner registers with its key in the environment. Its minutes-long clocks are below
    // the day this deployment promises: refused before any transaction (bad input, exit 2).
    let register = || {
        run(
            &cfg,
            &["register", "--protocol", "4", "--model", model],
            &[("ZKOPML_PRIVATE_KEY", &owner)],
        )
    };
    let out = register();
    assert_eq!(
        out.status.code(),
        Some(2),
        "below the time floor: bad input"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("below this deployment's TIME_FLOOR 86400"),
        "{err}"
    );
    // Redeployed for a test chain's minutes, it registers.
    assert!(deploy(&["--time-floor", "300"]).status.success());
    assert!(register().status.success());

    // The requester signs from a keystore `cast wallet import` wrote, its password in a file.
    let keystore_dir = dir.path().join("keystores");
    cast(&[
        "wallet",
        "import",
        "requester",
        "--keystore-dir",
        &keystore_dir.display().to_string(),
        "--private-key",
        &requester,
        "--unsafe-password",
        "a pass phrase",
    ])
    .expect("cast wallet import");
    let password = dir.path().join("password");
    std::fs::write(&password, "a pass phrase\n").unwrap();
    let keystore = keystore_dir.join("requester").display().to_string();
    let wrong_password = dir.path().join("wrong");
    std::fs::write(&wrong_password, "not it\n").unwrap();
    let request = |password: &Path| {
        run(
            &cfg,
            &[
                "--json",
                "--keystore",
                &keystore,
                "--password-file",
                &password.display().to_string(),
                "request",
                "--protocol",
                "4",
                "--model-id",
                "1",
                "--input",
                "testdata/dnn/input.json",
            ],
            &[],
        )
    };
    assert_eq!(
        request(&wrong_password).status.code(),
        Some(2),
        "wrong password"
    );
    assert!(request(&password).status.success());

    // A node serving another chain is refused before anything is sent (exit 3).
    let other = Anvil::start(31337);
    let out = run(
        &cfg,
        &["--rpc-url", &other.url, "status", "--protocol", "4"],
        &[],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serves chain 31337"));
    drop(other);

    // A lying submitter (`--private-key`) against an honest challenger (environment key).
    let agent = |key_flag: Option<&str>, args: &[&str], env: &[(&str, &str)]| {
        let mut all: Vec<&str> = Vec::new();
        if let Some(k) = key_flag {
            all.extend(["--private-key", k]);
        }
        all.extend_from_slice(args);
        all.extend(["--until-idle", "--timeout", "900"]);
        zkopml_cmd(&cfg, &all, env)
            .stdout(Stdio::null())
            .spawn()
            .expect("start an agent")
    };
    let liar_agent = agent(
        Some(&liar),
        &["submit", "--protocol", "4", "--defect-at", "0"],
        &[],
    );
    let challenger_agent = agent(
        None,
        &["challenge", "--protocol", "4"],
        &[("ZKOPML_PRIVATE_KEY", &challenger)],
    );
    let limit = Duration::from_secs(900);
    assert_eq!(
        wait(challenger_agent, limit),
        0,
        "the challenger wins and is idle"
    );
    assert_eq!(
        wait(liar_agent, limit),
        4,
        "the liar's agent exits with 'lost'"
    );

    // The request re-opened; an honest submitter answers it.
    let honest_agent = agent(Some(&honest), &["submit", "--protocol", "4"], &[]);
    let status = || {
        json(&run(
            &cfg,
            &["--json", "status", "--protocol", "4", "1"],
            &[],
        ))
    };
    let started = Instant::now();
    let deadline = loop {
        let v = status();
        let responses = v["requests"][0]["responses"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if let Some(r) = responses.iter().find(|r| {
            r["submitter"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&honest_addr)
        }) {
            assert!(responses.iter().any(|r| r["submitter"]
                .as_str()
                .unwrap()
                .eq_ignore_ascii_case(&liar_addr)));
            break r["challenge_deadline"].as_u64().unwrap();
        }
        assert!(started.elapsed() < limit, "no honest response: {v}");
        std::thread::sleep(Duration::from_secs(1));
    };
    // This chain's clock, moved past the challenge window as time would move it.
    let now: u64 = cast(&[
        "block",
        "latest",
        "--field",
        "timestamp",
        "--rpc-url",
        &chain.url,
    ])
    .unwrap()
    .parse()
    .unwrap();
    cast(&[
        "rpc",
        "--rpc-url",
        &chain.url,
        "evm_increaseTime",
        &(deadline.saturating_sub(now) + 1).to_string(),
    ])
    .unwrap();
    cast(&["rpc", "--rpc-url", &chain.url, "evm_mine"]).unwrap();
    assert_eq!(
        wait(honest_agent, limit),
        0,
        "the honest submitter finalises"
    );

    // The result, read with no key at all: final, the honest submitter's.
    let out = run(&cfg, &["--json", "result", "--protocol", "4", "1"], &[]);
    assert!(out.status.success());
    let r = json(&out);
    assert_eq!(r["final"], true, "{r}");
    assert_eq!(r["status"], "Finalized");
    assert_eq!(r["outputs"]["output"]["shape"], serde_json::json!([1, 10]));
    let v = status();
    assert_eq!(
        v["requests"][0]["requester"]
            .as_str()
            .unwrap()
            .to_lowercase(),
        requester_addr.to_lowercase()
    );
}
