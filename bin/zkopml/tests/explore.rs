//! The dispute explorer in a real browser: `zkopml explore` against a devnet on which a lying
//! `submit --protocol 4 --defect-at relu_1` loses a lenet5 game to an honest
//! `challenge --protocol 4` (real processes, real template proof verified on chain), the page
//! loaded in Debian's headless Chromium during the dispute and after it. Screenshots and DOM
//! dumps are kept in `target/tmp/explorer-artifacts/`.
//!
//! Needs the pinned toolchain (`bash scripts/install-toolchain.sh`) and `chromium`
//! (`scripts/test.sh` installs it where it may). Without chromium the test is skipped with its
//! reason, unless `CI` or `ZKOPML_EXPLORER` is set, when it fails.

mod common;

use std::{
    fs::File,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("explorer-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether a missing chromium must fail the test rather than skip it.
fn chromium_required() -> bool {
    ["CI", "ZKOPML_EXPLORER"]
        .iter()
        .any(|k| std::env::var(k).is_ok_and(|v| !v.is_empty() && v != "0" && v != "false"))
}

/// The headless browser: `chromium` (Debian's) or `chromium-browser` on the PATH.
fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|d| [d.join("chromium"), d.join("chromium-browser")])
        .find(|p| p.is_file())
}

use common::{run_on as run, zkopml_on as zkopml, Reaper};

/// Starts `zkopml args…` with its output in `log`.
fn spawn(cfg: &Path, args: &[&str], log: &Path) -> Child {
    let f = File::create(log).unwrap();
    zkopml(cfg)
        .args(args)
        .stdout(f.try_clone().unwrap())
        .stderr(f)
        .spawn()
        .expect("spawn zkopml")
}

/// Polls `f` every 300 ms until it returns `Some`, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            started.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits for `child` to exit, for at most `limit`.
fn wait_exit(child: &mut Child, what: &str, limit: Duration) -> ExitStatus {
    wait_for(what, limit, || child.try_wait().unwrap())
}

fn snapshot(http: &reqwest::blocking::Client, url: &str) -> Option<Value> {
    let r = http.get(format!("{url}api/snapshot")).send().ok()?;
    r.json().ok()
}

/// Loads `url` in headless Chromium: `--dump-dom` (the DOM after the page's script ran,
/// returned and kept as `{name}.html`) and `--screenshot` of a 1400×`height` window (kept as
/// `{name}.png`).
fn browse(browser: &Path, url: &str, name: &str, height: u32) -> String {
    let dir = artifacts();
    let profile = tempfile::tempdir().unwrap();
    let base = |c: &mut Command| {
        c.args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--no-first-run",
            // Virtual time: the page's first poll and one re-poll run, then the dump.
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--window-size=1400,{height}"))
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stdin(Stdio::null());
    };
    let html = dir.join(format!("{name}.html"));
    let mut c = Command::new(browser);
    base(&mut c);
    let mut child = c
        .args(["--dump-dom", url])
        .stdout(File::create(&html).unwrap())
        .stderr(File::create(dir.join(format!("{name}.chromium.log"))).unwrap())
        .spawn()
        .expect("start chromium");
    let st = wait_exit(&mut child, "chromium --dump-dom", Duration::from_secs(180));
    assert!(st.success(), "chromium --dump-dom failed: {st}");
    let png = dir.join(format!("{name}.png"));
    let mut c = Command::new(browser);
    base(&mut c);
    let mut child = c
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let st = wait_exit(
        &mut child,
        "chromium --screenshot",
        Duration::from_secs(180),
    );
    assert!(
        st.success() && png.exists(),
        "chromium --screenshot failed: {st}"
    );
    std::fs::read_to_string(&html).unwrap()
}

/// The text of the DOM's body as a person sees it: tags removed, and the page's script and
/// style too (the script holds the page's words as templates, so an assertion on the raw DOM
/// would pass before anything was rendered).
fn text(dom: &str) -> String {
    let mut dom = dom.to_string();
    for tag in ["script", "style"] {
        while let Some(start) = dom.find(&format!("<{tag}")) {
            let close = format!("</{tag}>");
            let end = dom[start..]
                .find(&close)
                .map_or(dom.len(), |e| start + e + close.len());
            dom.replace_range(start..end, " ");
        }
    }
    let mut out = String::new();
    let mut in_tag = false;
    for ch in dom.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `zkopml explore` shows a lenet5 dispute as it happens and once it is over: the bisection
/// rounds, the step, the chunk descent, the leaf proof verified on chain and the outcome
/// (challenger won), with the gas of every move; and when the node goes away, the page says
/// so instead of breaking (the server keeps running).
#[test]
fn explorer_shows_a_lenet5_dispute_live_and_after_in_chromium() {
    let Some(browser) = chromium() else {
        let why = "chromium not found on PATH (Debian: apt-get install -y chromium; scripts/test.sh installs it)";
        assert!(!chromium_required(), "{why}");
        eprintln!("skipped: {why}");
        return;
    };
    assert!(
        repo().join(".tools/bin/anvil").exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("devnet.json");
    // The template test keys, made once per target dir, where `devnet up` and the agents
    // look for them.
    common::template_keys_into(dir.path());
    let port = zkopml_agents::devnet::free_port().unwrap().to_string();
    assert!(run(&cfg, &["devnet", "up", "--port", &port]).success());
    let mut procs = Reaper(Vec::new(), cfg.clone());
    for args in [
        &["register", "--protocol", "4", "--model", "testdata/lenet5"][..],
        common::REQUEST_LENET5,
    ] {
        assert!(run(&cfg, args).success(), "{args:?}");
    }

    // The explorer, on a free port it prints.
    let mut explorer = zkopml(&cfg)
        .args(["--json", "explore", "--port", "0"])
        .stdout(Stdio::piped())
        .stderr(File::create(artifacts().join("explore.log")).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(explorer.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    procs.0.push(explorer);
    let url = serde_json::from_str::<Value>(&line).expect("explore --json prints its URL")["url"]
        .as_str()
        .unwrap()
        .to_string();
    let http = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // Before the dispute: the model (its content in the store) and the open request.
    let dom = text(&browse(&browser, &url, "0-before", 700));
    assert!(
        !dom.contains("Reading the chain"),
        "the page rendered a snapshot: {dom}"
    );
    assert!(dom.contains("Models"), "{dom}");
    assert!(
        dom.contains("in store"),
        "the model's content is read: {dom}"
    );
    assert!(dom.contains("No games yet"), "{dom}");

    // A liar (a flipped bit in relu_1's output) and an honest challenger, each in its process.
    let arts = artifacts();
    procs.0.push(spawn(
        &cfg,
        &[
            "submit",
            "--protocol",
            "4",
            "--defect-at",
            "relu_1",
            "--until-idle",
        ],
        &arts.join("submitter.log"),
    ));
    procs.0.push(spawn(
        &cfg,
        &["challenge", "--protocol", "4", "--until-idle"],
        &arts.join("challenger.log"),
    ));

    // During the dispute: the challenger is paused (SIGSTOP) as soon as its game exists, so
    // that the game is certainly in progress while the page loads (a lenet5 game with a
    // clip_chunk leaf takes seconds); the submitter goes on to reveal its first split points,
    // and the page is loaded once that round is on chain; then the challenger resumes.
    wait_for("a game", Duration::from_secs(900), || {
        let s = snapshot(&http, &url)?;
        (!s["games"].as_array()?.is_empty()).then_some(())
    });
    let challenger_pid = procs.0[2].id() as libc::pid_t;
    // SAFETY: signals a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(challenger_pid, libc::SIGSTOP) }, 0);
    wait_for(
        "the first bisection round",
        Duration::from_secs(600),
        || {
            let s = snapshot(&http, &url)?;
            (!s["games"][0]["rounds"].as_array()?.is_empty()).then_some(())
        },
    );
    let during = text(&browse(&browser, &url, "1-during", 1500));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(challenger_pid, libc::SIGCONT) }, 0);
    assert!(during.contains("Game 1"), "{during}");
    assert!(
        during.contains("Round 0"),
        "the first round is drawn: {during}"
    );
    assert!(during.contains("step bisection"), "{during}");
    assert!(during.contains("in progress"), "{during}");
    assert!(during.contains("Whose move"), "the clocks: {during}");
    assert!(!during.contains("Outcome:"), "{during}");

    // The challenger wins and exits 0; the liar exits 4 (a game went against it).
    let [_, submitter, challenger] = &mut procs.0[..] else {
        unreachable!()
    };
    let st = wait_exit(challenger, "the challenger", Duration::from_secs(1800));
    assert!(st.success(), "challenger exited {st}");
    let st = wait_exit(submitter, "the submitter", Duration::from_secs(300));
    assert_eq!(st.code(), Some(4), "the liar lost: exit 4");

    let s = wait_for(
        "the snapshot after the game",
        Duration::from_secs(60),
        || {
            let s = snapshot(&http, &url)?;
            (s["games"][0]["outcome"] == "ChallengerWon").then_some(s)
        },
    );
    let g = &s["games"][0];
    let template = g["leaf"]["template"].as_str().unwrap().to_string();
    assert_eq!(g["leaf"]["verified"], true);
    assert_eq!(g["leaf"]["proven_for"], "Challenger");
    assert!(
        g["leaf"]["gas_used"].as_u64().unwrap() > 200_000,
        "a Groth16 check"
    );
    let rounds = g["rounds"].as_array().unwrap().len();
    assert!(rounds >= 1);
    // relu_1's output (16×10×10) is three chunks: the descent narrowed to one of them.
    let levels = g["descent"]["levels"].as_array().unwrap().len();
    assert!(levels >= 1, "a chunk descent of {levels} levels");

    let after = text(&browse(&browser, &url, "2-after", 2100));
    assert!(after.contains("Outcome: ChallengerWon"), "{after}");
    for r in 0..rounds {
        assert!(after.contains(&format!("Round {r}")), "round {r}: {after}");
    }
    assert!(after.contains("Level 2"), "{after}");
    assert!(after.contains("chunk descent"), "{after}");
    assert!(after.contains("leaf reached: chunk"), "{after}");
    assert!(after.contains("Leaf proof"), "{after}");
    assert!(
        after.contains(&format!("template {template}")),
        "the leaf's template: {after}"
    );
    assert!(after.contains("verified on chain"), "{after}");
    assert!(after.contains("resolveLeaf"), "{after}");
    assert!(after.contains("finishGame"), "{after}");
    assert!(after.contains("gas in all"), "{after}");
    // The page re-polled by itself (every 2 s of the browser's virtual time).
    let updates: u32 = after
        .split("live · update ")
        .nth(1)
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("the live indicator");
    assert!(updates >= 2, "{updates} update(s)");

    // A reorganisation takes the game's last move back (`anvil_reorg` from the block of
    // `finishGame`: that block and every later one replaced by empty blocks). The explorer
    // finds the block it scanned last gone, reads the chain again and shows the game
    // decided by its leaf but not finished: no outcome, no `finishGame` in the timeline.
    let s = snapshot(&http, &url).expect("a snapshot before the reorganisation");
    let finish_block = s["transactions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["call"] == "finishGame")
        .and_then(|t| t["block"].as_u64())
        .expect("finishGame mined");
    let depth = s["head"].as_u64().unwrap() - finish_block + 1;
    let reorg = Command::new(repo().join(".tools/bin/cast"))
        .args(["rpc", "anvil_reorg", &depth.to_string(), "[]", "--rpc-url"])
        .arg(format!("http://127.0.0.1:{port}"))
        .output()
        .unwrap();
    assert!(reorg.status.success(), "anvil_reorg: {reorg:?}");
    let s = wait_for(
        "the snapshot after the reorganisation",
        Duration::from_secs(60),
        || {
            let s = snapshot(&http, &url)?;
            s["games"][0]["outcome"].is_null().then_some(s)
        },
    );
    assert!(
        s["transactions"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["call"] != "finishGame"),
        "the dropped finishGame is gone from the timeline"
    );
    assert_eq!(
        s["games"][0]["leaf"]["verified"], true,
        "the leaf, mined before the dropped blocks, stays"
    );
    let reorged = text(&browse(&browser, &url, "3-after-reorg", 2100));
    assert!(!reorged.contains("Outcome:"), "{reorged}");
    assert!(reorged.contains("Leaf proof"), "{reorged}");

    // The node goes away: the page says so, the server lives on.
    assert!(run(&cfg, &["devnet", "down"]).success());
    let down = text(&browse(&browser, &url, "4-node-down", 400));
    assert!(down.contains("Could not read the chain"), "{down}");
    let explorer = &mut procs.0[0];
    assert!(
        explorer.try_wait().unwrap().is_none(),
        "the explorer kept running"
    );
    eprintln!(
        "explorer test: {rounds} rounds, leaf {template}; {:.0} s; artifacts in {}",
        started.elapsed().as_secs_f64(),
        arts.display()
    );
}
