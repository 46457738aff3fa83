//! Version 4 through the command line, as a user runs it: `zkopml demo --protocol 4` on a
//! fresh devnet (real anvil, contracts, template proofs verified on chain),
//! `zkopml register --protocol 4` refusing a model the template library cannot prove, and
//! `zkopml monitor --webhook` posting an alert about a lying submitter's response.
//! Needs the pinned toolchain (`bash scripts/install-toolchain.sh`).

mod common;

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use serde_json::Value;

/// Held by each test that needs the template test keys (made once per target dir, in a
/// child process for the demo): on a cold target one makes them while the other waits,
/// instead of both making the same keys at once.
static KEYS: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn zkopml(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_zkopml"))
        .current_dir(repo())
        .env("ZKOPML_ANVIL", repo().join(".tools/bin/anvil"))
        .args(args)
        .output()
        .expect("run zkopml");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    out
}

/// The whole version-4 story on dnn: registered with no key file written, a lying submitter
/// loses to an honest challenger whose real leaf proof the template verifier accepts on
/// chain, the challenger is paid from the liar's bond, and the honest response finalises.
#[test]
fn demo_v4_dnn_challenger_wins_by_a_leaf_proof_and_registration_writes_no_keys() {
    let _keys = KEYS.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        repo().join(".tools/bin/anvil").exists(),
        "anvil not installed: run `bash scripts/install-toolchain.sh`"
    );
    let dir = tempfile::tempdir().unwrap();
    let demo_dir = dir.path().join("demo");
    // Shared with the agents' v4 tests: the template test keys are made once per target dir.
    let keys = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("template-keys");
    let port = zkopml_agents::devnet::free_port().unwrap().to_string();
    let out = zkopml(&[
        "--json",
        "demo",
        "--protocol",
        "4",
        "--model",
        "dnn",
        "--port",
        &port,
        "--dir",
        &demo_dir.display().to_string(),
        "--template-keys",
        &keys.display().to_string(),
    ]);
    assert!(
        out.status.success(),
        "demo failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    let v: Value = serde_json::from_slice(&out.stdout).expect("--json prints one JSON object");
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    assert_eq!(v["protocol"], 4);
    assert_eq!(v["challenger_won"], true);
    assert_eq!(v["game"]["status"], "ChallengerWon");
    assert_eq!(v["honest_final"], true);
    // The game ended with the challenger's real template proof, accepted on chain.
    let leaf = &v["leaf_proof"];
    assert_eq!(leaf["verified_on_chain"], true);
    let moves = v["moves"].as_array().unwrap();
    // The challenger's leaf proof decided the game; its finishGame applied the outcome.
    let [.., proven, last] = moves.as_slice() else {
        panic!("fewer than two moves")
    };
    assert_eq!(last["actor"], "challenger1");
    assert_eq!(last["phase"], "finishGame");
    assert_eq!(proven["actor"], "challenger1");
    assert_eq!(
        proven["phase"],
        format!("resolveLeaf({})", leaf["template"].as_str().unwrap())
    );
    assert!(
        leaf["gas"].as_u64().unwrap() > 200_000,
        "a Groth16 verification"
    );
    assert!(
        moves.iter().any(|m| m["actor"] == "submitter"),
        "both sides moved"
    );
    // Registration: no key file, one transaction, dnn's Gemm blocks among the operators.
    let reg = &v["register"];
    assert_eq!(reg["key_files_written"], serde_json::json!([]));
    assert!(reg["template_operators"]["gemm_block/v1"].as_u64().unwrap() > 0);
    assert!(
        common::files_under(&demo_dir.join("keys")).is_empty(),
        "no key file in the devnet's key cache"
    );
    // The liar's bond paid the challenger; the liar is poorer.
    let change = |role: &str| {
        v["balance_changes_wei"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r[0] == role)
            .and_then(|r| r[1].as_str().map(str::to_string))
            .unwrap()
    };
    assert!(change("challenger1").starts_with('+'), "challenger paid");
    assert!(change("submitter").starts_with('-'), "liar lost its bond");
}

/// A model with an operator no template proves (`vision_gates` with its `HardSwish` renamed
/// `LeakyRelu`) is refused at registration with the lowering's error and exit status 2 (bad
/// input), before any devnet is read.
#[test]
fn register_v4_refuses_a_model_the_templates_cannot_prove_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.json");
    // Same length, node name and op type: the protobuf stays well formed.
    let mut bytes = std::fs::read(repo().join("testdata/exports/vision_gates/model.onnx")).unwrap();
    let at: Vec<usize> = (0..bytes.len() - 8)
        .filter(|i| &bytes[*i..*i + 9] == b"HardSwish")
        .collect();
    assert!(!at.is_empty());
    for i in at {
        bytes[i..i + 9].copy_from_slice(b"LeakyRelu");
    }
    let model = dir.path().join("model.onnx");
    std::fs::write(&model, bytes).unwrap();
    let out = zkopml(&[
        "--json",
        "register",
        "--protocol",
        "4",
        "--model",
        &model.display().to_string(),
        "--devnet",
        &absent.display().to_string(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("LeakyRelu"), "{e}");
    assert!(e.contains("no template"), "{e}");
}

/// `zkopml monitor --webhook URL` as an operator runs it, against a devnet brought up and
/// played through the command line: a lying `submit --protocol 4 --defect-at 0` answers, and
/// the monitor prints the `wrong_response` alert as a JSON line and POSTs it as JSON to the
/// webhook (a local HTTP listener in this test).
#[test]
fn monitor_posts_a_wrong_response_alert_to_its_webhook() {
    use std::io::{BufRead, BufReader, Read, Write};
    let _keys = KEYS.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("devnet.json");
    // The template test keys made once per target dir, where `devnet up` looks for them.
    common::template_keys_into(dir.path());
    let cfg_arg = cfg.display().to_string();
    let port = zkopml_agents::devnet::free_port().unwrap().to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["--devnet", &cfg_arg];
        all.extend_from_slice(args);
        zkopml(&all)
    };
    assert!(run(&["devnet", "up", "--port", &port]).status.success());
    let steps: [&[&str]; 3] = [
        &[
            "register",
            "--protocol",
            "4",
            "--model",
            "testdata/dnn/model.onnx",
        ],
        &[
            "request",
            "--protocol",
            "4",
            "--model-id",
            "1",
            "--input",
            "testdata/dnn/input.json",
        ],
        // Responds at once, then gives up waiting (exit 1 after the timeout).
        &[
            "submit",
            "--protocol",
            "4",
            "--defect-at",
            "0",
            "--timeout",
            "3",
        ],
    ];
    for (i, args) in steps.iter().enumerate() {
        let out = run(args);
        assert!(i == 2 || out.status.success(), "{args:?}: {}", out.status);
    }
    // The webhook: one POST, answered 200, its body kept.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    let hook = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream);
        let (mut head, mut len) = (String::new(), 0usize);
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            head.push_str(&line);
            if line == "\r\n" {
                break;
            }
        }
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        reader
            .get_mut()
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        (head, body)
    });
    let out = run(&["--json", "monitor", "--webhook", &url, "--timeout", "3"]);
    let _ = run(&["devnet", "down"]);
    let printed: Value = serde_json::from_slice(
        out.stdout
            .split(|b| *b == b'\n')
            .next()
            .expect("an alert line"),
    )
    .expect("the alert as JSON");
    assert_eq!(printed["alert"], "wrong_response");
    assert_eq!(printed["request"], 1);
    let (head, body) = hook.join().unwrap();
    assert!(head.starts_with("POST /alerts "), "{head}");
    assert!(head
        .to_ascii_lowercase()
        .contains("content-type: application/json"));
    let posted: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(posted["alert"], "wrong_response");
    assert_eq!(posted["response"], 1);
    assert_eq!(posted["open_games"], 0);
}

/// `run --protocol 4` reports the states a version-4 request and response carry — the same
/// `S_0` and `S_n` as the first and last states of the whole trace the game would play on —
/// and the happy path's parts, without computing that trace.
#[test]
fn run_protocol_4_reports_the_request_and_response_states_of_the_trace() {
    use zkopml_engine::{
        import,
        io::{quantize_inputs, TensorFile},
        Program,
    };
    use zkopml_prover::v4::{Lowered, V4Trace};

    let dir = repo().join("testdata/lenet5");
    let (model, input) = (dir.join("model.onnx"), dir.join("input.json"));
    let out = zkopml(&[
        "--json",
        "run",
        "--protocol",
        "4",
        "--repeat",
        "2",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(out.status.success());
    let r: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");

    let graph = import::load_file(&model).unwrap();
    let program = Program::compile(&graph, &Default::default(), 1).unwrap();
    let lowered = Lowered::new(&program, 1).unwrap();
    let inputs = quantize_inputs(&program, &TensorFile::read(&input).unwrap().inputs).unwrap();
    let trace = V4Trace::compute(&lowered, &program, &inputs, None).unwrap();
    assert_eq!(r["input_state"], trace.state_roots[0].to_string());
    assert_eq!(r["output_state"], trace.final_state().to_string());
    assert_eq!(r["template_operators"], lowered.ops.len());
    for part in ["input_state_s", "kernels_s", "output_state_s"] {
        assert!(r[part].as_f64().unwrap() > 0.0, "{part} timed");
    }
    let shape = &r["outputs"][0][1];
    assert_eq!(*shape, serde_json::json!([1, 10]), "lenet5's logits");
}
