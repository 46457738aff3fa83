//! A local devnet: anvil started from the pinned toolchain, the contracts deployed, the
//! actor keys assigned, and the config file every command reads.

use std::{
    collections::HashMap,
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use zkopml_chain::Chain;

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
}

impl Default for UpOptions {
    fn default() -> Self {
        Self {
            v4: true,
            template_keys: None,
        }
    }
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
    let anvil = anvil_path();
    let mut child = Command::new(&anvil)
        .args(["--port", &port.to_string(), "--silent"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(io(&log_path))?)
        .stderr(log)
        .process_group(0)
        .spawn()
        .map_err(io(&anvil))?;
    let rpc = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    let mut deployment = loop {
        // An anvil that exited (lost the port to a racing process, bad flags) never serves.
        if let Ok(Some(status)) = child.try_wait() {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            let tail: String = log.lines().rev().take(5).collect::<Vec<_>>().join(" | ");
            return Err(AgentError::AnvilExited {
                status: status.to_string(),
                log: tail,
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
        let keys = opts
            .template_keys
            .clone()
            .unwrap_or_else(|| dir.join("keys").join(crate::v4::TEMPLATE_KEY_DIR));
        match crate::v4::deploy(&rpc, ANVIL_KEYS[0], &keys).await {
            Ok(d) => deployment.v4 = Some(d),
            Err(e) => {
                let _ = Command::new("kill").arg(child.id().to_string()).status();
                return Err(e);
            }
        }
    }
    let config = DevnetConfig {
        deployment,
        keys: ROLES
            .iter()
            .zip(ANVIL_KEYS)
            .map(|(r, k)| (r.to_string(), k.to_string()))
            .collect::<HashMap<_, _>>(),
        store: dir.join("store"),
        kubo_api: kubo_api.map(str::to_string),
        key_cache: dir.join("keys"),
        state_dir: dir.join("agents"),
        anvil_pid: Some(child.id()),
    };
    config.write(config_path)?;
    Ok(config)
}

/// Stops the devnet's anvil (if this config started one).
pub fn down(config: &DevnetConfig) {
    if let Some(pid) = config.anvil_pid {
        let _ = Command::new("kill").arg(pid.to_string()).status();
    }
}
