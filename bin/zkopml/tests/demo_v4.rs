//! Version 4 through the command line, as a user runs it: `zkopml demo --protocol 4` on a
//! fresh devnet (real anvil, contracts, template proofs verified on chain), and
//! `zkopml register --protocol 4` refusing a model the template library cannot prove.
//! Needs the pinned toolchain (`bash scripts/install-toolchain.sh`).

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use serde_json::Value;

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

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The whole version-4 story on dnn: registered with no key file written, a lying submitter
/// loses to an honest challenger whose real leaf proof the template verifier accepts on
/// chain, the challenger is paid from the liar's bond, and the honest response finalises.
#[test]
fn demo_v4_dnn_challenger_wins_by_a_leaf_proof_and_registration_writes_no_keys() {
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
        files_under(&demo_dir.join("keys")).is_empty(),
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
