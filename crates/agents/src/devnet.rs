//! A local devnet: anvil started from the pinned toolchain, the contracts deployed, the
//! actor keys assigned, and the config file every command reads.

use std::{
    collections::HashMap,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use zkopml_chain::{Chain, Deployment};

use crate::{AgentError, DevnetConfig, Result, ANVIL_KEYS};

/// Actor roles, in anvil account order.
pub const ROLES: [&str; 6] = [
    "owner",
    "requester",
    "submitter",
    "challenger1",
    "challenger2",
    "submitter2",
];

/// Locates the pinned anvil: `$ZKOPML_ANVIL`, else `.tools/bin/anvil` in the current
/// directory or a parent, else `anvil` on `PATH`.
pub fn anvil_path() -> PathBuf {
    if let Ok(p) = std::env::var("ZKOPML_ANVIL") {
        return p.into();
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        let candidate = d.join(".tools/bin/anvil");
        if candidate.exists() {
            return candidate;
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    "anvil".into()
}

/// Whether nothing listens on `127.0.0.1:port` (a listener can bind it now).
pub fn port_is_free(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}

/// A free port below Linux's ephemeral range (32768–60999, from which the OS picks the
/// local ports of outgoing connections, so a port there can be taken between the check
/// and anvil's bind), probed from a start that differs per process and per call.
pub fn free_port() -> Result<u16> {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    const LO: u32 = 10_000;
    const SPAN: u32 = 22_000;
    let seed = std::process::id().wrapping_mul(7919);
    for _ in 0..SPAN {
        let k = NEXT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = (LO + seed.wrapping_add(k.wrapping_mul(13)) % SPAN) as u16;
        if port_is_free(port) {
            return Ok(port);
        }
    }
    Err(AgentError::PortTaken { port: 0 })
}

/// What [`up_with`] deploys besides version 3.
#[derive(Clone, Debug)]
pub struct UpOptions {
    /// Also deploy the version-4 stack (PoseidonT3, the template verifiers with the
    /// template test keys, the registries, `InferenceMarketV4`), recorded as
    /// `deployment.v4`.
    pub v4: bool,
    /// Where the template test keys are cached (default: the devnet's `keys/templates`).
    pub template_keys: Option<PathBuf>,
    /// Persist anvil's chain in the devnet's `anvil-state.json` (dumped every second and on
    /// a clean exit), so that [`restart`] can start it again from there.
    pub persist_state: bool,
    /// `ModelRegistryV4`'s `TIME_FLOOR` (seconds): no clock or window below it is
    /// registered. A devnet's is [`crate::v4::DEVNET_TIME_FLOOR`] (minutes); a public chain's a
    /// day or more (docs/protocol.md §10.8).
    pub time_floor: u64,
}

impl Default for UpOptions {
    fn default() -> Self {
        Self {
            v4: true,
            template_keys: None,
            persist_state: false,
            time_floor: crate::v4::DEVNET_TIME_FLOOR,
        }
    }
}

/// The file name of the persisted chain ([`UpOptions::persist_state`]).
pub const ANVIL_STATE_FILE: &str = "anvil-state.json";

/// Starts anvil on `port` in its own process group (so it outlives the command), writing
/// to `log`; with `state`, the chain is loaded from that file if it exists and dumped to it
/// every second and on exit.
fn spawn_anvil(port: u16, state: Option<&Path>, log: std::fs::File) -> Result<Child> {
    let anvil = anvil_path();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| AgentError::Io { path, source }
    };
    let mut cmd = Command::new(&anvil);
    cmd.args(["--port", &port.to_string(), "--silent"]);
    if let Some(state) = state {
        cmd.arg("--state")
            .arg(state)
            .args(["--state-interval", "1"]);
    }
    cmd.stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io(&anvil))?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(io(&anvil))
}

/// The end of anvil's log, for an error.
fn log_tail(log_path: &Path) -> String {
    let log = std::fs::read_to_string(log_path).unwrap_or_default();
    log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
}

/// Starts anvil on `port` (in its own process group, so it outlives the command), deploys
/// the contracts (version 3 and version 4), and writes the config to `config_path`; with
/// `kubo_api`, the config names that kubo node's RPC API as the content store instead of
/// the embedded one.
pub async fn up(config_path: &Path, port: u16, kubo_api: Option<&str>) -> Result<DevnetConfig> {
    up_with(config_path, port, kubo_api, &UpOptions::default()).await
}

/// [`up`] with options (e.g. version 3 only).
pub async fn up_with(
    config_path: &Path,
    port: u16,
    kubo_api: Option<&str>,
    opts: &UpOptions,
) -> Result<DevnetConfig> {
    let dir = config_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| AgentError::Io { path, source }
    };
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    // INVARIANT: the devnet is the anvil this command starts, never a node already there.
    if !port_is_free(port) {
        return Err(AgentError::PortTaken { port });
    }
    // A new chain: agent state of an earlier devnet (same chain id, same addresses: anvil
    // deploys deterministically) describes games that do not exist on it.
    let agents = dir.join("agents");
    if agents.exists() {
        std::fs::remove_dir_all(&agents).map_err(io(&agents))?;
    }
    let log_path = dir.join("anvil.log");
    let log = std::fs::File::create(&log_path).map_err(io(&log_path))?;
    let state = opts.persist_state.then(|| dir.join(ANVIL_STATE_FILE));
    if let Some(state) = &state {
        // A new chain, not an earlier devnet's.
        if state.exists() {
            std::fs::remove_file(state).map_err(io(state))?;
        }
    }
    let mut child = spawn_anvil(port, state.as_deref(), log)?;
    let rpc = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut deployment = loop {
        // An anvil that exited (lost the port to a racing process, bad flags) never serves.
        if let Ok(Some(status)) = child.try_wait() {
            return Err(AgentError::AnvilExited {
                status: status.to_string(),
                log: log_tail(&log_path),
            });
        }
        match Chain::deploy(&rpc, ANVIL_KEYS[0]).await {
            Ok(d) => break d,
            Err(e) if e.is_retryable() && started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(200)).await
            }
            Err(e) => {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                return Err(e.into());
            }
        }
    };
    if opts.v4 {
        match deploy_v4(&rpc, ANVIL_KEYS[0], &dir, opts).await {
            Ok(d) => deployment.v4 = Some(d),
            Err(e) => {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                return Err(e);
            }
        }
    }
    let config = DevnetConfig {
        keys: ROLES
            .iter()
            .zip(ANVIL_KEYS)
            .map(|(r, k)| (r.to_string(), k.to_string()))
            .collect::<HashMap<_, _>>(),
        anvil_pid: Some(child.id()),
        anvil_state: state,
        // anvil serves JSON-RPC over WebSocket on its HTTP port.
        ws: Some(format!("ws://127.0.0.1:{port}")),
        ..config_in(&dir, deployment, kubo_api)
    };
    config.write(config_path)?;
    Ok(config)
}

/// The version-4 stack deployed with `key`, its template verifiers from
/// [`UpOptions::template_keys`] (default: the test keys cached in `dir/keys/templates`,
/// made there if missing).
async fn deploy_v4(
    rpc: &str,
    key: &str,
    dir: &Path,
    opts: &UpOptions,
) -> Result<zkopml_chain::v4::DeploymentV4> {
    let keys = opts
        .template_keys
        .clone()
        .unwrap_or_else(|| dir.join("keys").join(crate::v4::TEMPLATE_KEY_DIR));
    crate::v4::deploy(rpc, key, &keys, opts.time_floor).await
}

/// A config for `deployment` with its store, key cache and agent state under `dir`, no
/// actor keys and no anvil of ours.
fn config_in(dir: &Path, deployment: Deployment, kubo_api: Option<&str>) -> DevnetConfig {
    DevnetConfig {
        deployment,
        keys: HashMap::new(),
        store: dir.join("store"),
        kubo_api: kubo_api.map(str::to_string),
        key_cache: dir.join("keys"),
        state_dir: dir.join("agents"),
        anvil_pid: None,
        anvil_state: None,
        ws: None,
    }
}

/// Deploys the contracts (version 3, and version 4 with [`UpOptions::v4`]) to the chain at
/// `rpc` with `key` — any Ethereum node, not a devnet of ours — and writes a config to
/// `config_path` that names no actor key: every actor then signs with the key it is given
/// (`--private-key`, `--keystore`). Agent state of an earlier deployment in the same
/// directory is removed. [`UpOptions::persist_state`] does not apply (no anvil is started).
pub async fn deploy(
    config_path: &Path,
    rpc: &str,
    key: &str,
    kubo_api: Option<&str>,
    opts: &UpOptions,
) -> Result<DevnetConfig> {
    let dir = config_path.parent().unwrap_or(Path::new(".")).to_path_buf();
    let agents = dir.join("agents");
    if agents.exists() {
        std::fs::remove_dir_all(&agents).map_err(|source| AgentError::Io {
            path: agents.display().to_string(),
            source,
        })?;
    }
    let mut deployment = Chain::deploy(rpc, key).await?;
    if opts.v4 {
        deployment.v4 = Some(deploy_v4(rpc, key, &dir, opts).await?);
    }
    let config = config_in(&dir, deployment, kubo_api);
    config.write(config_path)?;
    Ok(config)
}

/// Starts the devnet's anvil again after it stopped (killed or crashed: the caller makes
/// sure it is gone), on the same port, from the chain it persisted
/// ([`UpOptions::persist_state`]); records the new process in `config` (the caller writes
/// the config file if others read it).
///
/// What survives: every block, receipt and log up to anvil's last dump — on a clean exit
/// (SIGTERM, as [`down`] stops it) all of them, after a kill up to a second fewer (the
/// blocks of that second are gone, as in a reorganisation: their transactions must be sent
/// again). anvil rewrites the file in place, not atomically: a kill during a write leaves a
/// torn file, which anvil refuses to load (keep a copy of a whole dump to restart from, as
/// the fault tests do). anvil restarts its clock
/// from the wall clock, so a clock advanced with `evm_increaseTime` would run backwards:
/// the clock is set to the later of the wall clock and one second past the last block.
pub async fn restart(config: &mut DevnetConfig) -> Result<()> {
    let state = config
        .anvil_state
        .clone()
        .ok_or_else(|| AgentError::Inconsistent {
            what: "devnet config".into(),
            reason: "anvil was not started with persist_state: nothing to restart from".into(),
        })?;
    let rpc = config.deployment.rpc.clone();
    let port: u16 = rpc
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .ok_or_else(|| AgentError::Inconsistent {
            what: "devnet config".into(),
            reason: format!("no port in the RPC URL {rpc}"),
        })?;
    let dir = state.parent().unwrap_or(Path::new(".")).to_path_buf();
    let log_path = dir.join("anvil.log");
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|source| AgentError::Io {
            path: log_path.display().to_string(),
            source,
        })?;
    let started = Instant::now();
    // The killed anvil's socket may take a moment to be released.
    while !port_is_free(port) {
        if started.elapsed() > Duration::from_secs(30) {
            return Err(AgentError::PortTaken { port });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut child = spawn_anvil(port, Some(&state), log)?;
    let chain = Chain::connect(&config.deployment, ANVIL_KEYS[0])?;
    let latest = loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(AgentError::AnvilExited {
                status: status.to_string(),
                log: log_tail(&log_path),
            });
        }
        match chain.latest_timestamp().await {
            Ok(t) => break t,
            Err(e) if e.is_retryable() && started.elapsed() < Duration::from_secs(30) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                return Err(e.into());
            }
        }
    };
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    if latest >= wall {
        chain.set_time(latest + 1).await?;
    }
    config.anvil_pid = Some(child.id());
    tracing::info!(
        port,
        pid = child.id(),
        "anvil restarted from its persisted state"
    );
    Ok(())
}

/// Stops the devnet's anvil (if this config started one).
pub fn down(config: &DevnetConfig) {
    if let Some(pid) = config.anvil_pid {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}
