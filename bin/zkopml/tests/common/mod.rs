//! Fixtures shared by the command-line test binaries (each uses some of them).
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus},
};

/// `request` of lenet5's committed input under version 4, for model 1 of a fresh devnet.
pub(crate) const REQUEST_LENET5: &[&str] = &[
    "request",
    "--protocol",
    "4",
    "--model-id",
    "1",
    "--input",
    "testdata/lenet5/input.json",
];

/// Kills (if still running) and reaps the processes a test started, and stops the devnet
/// whose config is the path, even when the test fails.
pub(crate) struct Reaper(pub(crate) Vec<Child>, pub(crate) PathBuf);

impl Drop for Reaper {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = zkopml_on(&self.1).args(["devnet", "down"]).output();
    }
}

/// `zkopml --devnet cfg …` as a user runs it from the repository root, with the pinned anvil
/// (and no WebSocket URL from the environment).
pub(crate) fn zkopml_on(cfg: &Path) -> Command {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkopml"));
    c.current_dir(&repo)
        .env("ZKOPML_ANVIL", repo.join(".tools/bin/anvil"))
        .env_remove("ZKOPML_WS_URL")
        .arg("--devnet")
        .arg(cfg);
    c
}

/// Runs `zkopml --devnet cfg args…` to completion, its output echoed for the test log.
pub(crate) fn run_on(cfg: &Path, args: &[&str]) -> ExitStatus {
    let out = zkopml_on(cfg).args(args).output().expect("run zkopml");
    eprintln!(
        "$ zkopml {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.status
}

/// Every file under `dir`, recursively (none if it does not exist).
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The template test keys, made once per target dir (shared with the agents' tests).
pub(crate) fn template_keys() -> PathBuf {
    let keys = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("template-keys");
    zkopml_agents::v4::template_key_args(&keys).expect("template keys");
    keys
}

/// Copies the template test keys into the key cache of the devnet whose config lives in
/// `devnet_dir` (`keys/templates`), where `devnet up` and the agents look for them: a
/// devnet brought up there makes none.
pub(crate) fn template_keys_into(devnet_dir: &Path) {
    let cached = devnet_dir
        .join("keys")
        .join(zkopml_agents::v4::TEMPLATE_KEY_DIR);
    std::fs::create_dir_all(&cached).unwrap();
    for f in files_under(&template_keys()) {
        std::fs::copy(&f, cached.join(f.file_name().unwrap())).unwrap();
    }
}
