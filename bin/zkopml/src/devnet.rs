//! The devnet and the on-chain actors: `devnet up|down|status`, `register`, `request`,
//! `submit`, `challenge`.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use zkopml_agents::{
    model, requester,
    v4::{self, V4Challenger, V4ChallengerConfig, V4Submitter, V4SubmitterConfig},
    Challenger, ChallengerConfig, DevnetConfig, DisputeMode, Submitter, SubmitterConfig, Timeline,
};
use zkopml_chain::{heads::HeadStream, registry::Types::GameParams, Chain};
use zkopml_engine::{
    import,
    io::{quantize_inputs, TensorFile},
    Program,
};

#[derive(Subcommand, Debug)]
pub(crate) enum DevnetCmd {
    /// Start anvil, deploy the contracts and write the devnet config.
    Up {
        /// Port for anvil.
        #[arg(long, default_value_t = 8545)]
        port: u16,
    },
    /// Stop the devnet's anvil.
    Down,
    /// Show the devnet's state.
    Status,
}

pub(crate) use zkopml_agents::devnet::{down, up};

/// The global flags that say where the node and the content store are and who signs.
#[derive(Debug, Default)]
pub(crate) struct Node {
    /// `--kubo-api`.
    pub(crate) kubo_api: Option<String>,
    /// `--rpc-url`, `--private-key`, `--keystore`.
    pub(crate) chain: crate::cli::ChainArgs,
}

/// Reads the config file (written by `devnet up` or `deploy`) and applies the global flags:
/// `--kubo-api` replaces its content store with a kubo node's RPC API; `--rpc-url` its node
/// (checked to serve the deployment's chain and hold its contracts); a signer
/// (`--private-key`, `--keystore`) signs for whatever role the command plays.
pub(crate) fn read_config(path: &Path, node: &Node) -> anyhow::Result<DevnetConfig> {
    let mut cfg = DevnetConfig::read(path)?;
    use_kubo(&mut cfg, node.kubo_api.as_deref());
    if let Some(rpc) = &node.chain.rpc_url {
        cfg.deployment.rpc = rpc.clone();
        // The config's WebSocket is its own node's, not this one's.
        cfg.ws = None;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(Chain::check_deployment(&cfg.deployment))?;
    }
    if let Some(key) = node.chain.key()? {
        tracing::info!(address = %zkopml_chain::signer::address_of(&key)?, "signer from the command line");
        for role in zkopml_agents::devnet::ROLES {
            cfg.keys.insert(role.to_string(), key.clone());
        }
    }
    Ok(cfg)
}

/// A context that only reads (`status`, `result`, `explore`): the config with the global
/// flags applied, as the requester, keyless if the config has no key.
pub(crate) fn reader(path: &Path, node: &Node) -> anyhow::Result<zkopml_agents::Ctx> {
    Ok(read_config(path, node)?.reader_ctx("requester", Timeline::default())?)
}

/// Points `cfg` at the kubo node's RPC API `kubo_api`, if given.
pub(crate) fn use_kubo(cfg: &mut DevnetConfig, kubo_api: Option<&str>) {
    if let Some(api) = kubo_api {
        tracing::info!(api, "content store: kubo RPC API");
        cfg.kubo_api = Some(api.to_string());
    }
}

/// `deploy`: the contracts on any chain.
#[derive(Args, Debug)]
pub(crate) struct DeployArgs {
    /// Deploy the version-3 contracts only (no template verifiers).
    #[arg(long)]
    pub(crate) v3_only: bool,
    /// The template library's keys for the verifiers: a ceremony's export (`zkopml
    /// ceremony export`) for a real deployment; default the test keys, made once into the
    /// config's `keys/templates` (anyone can recompute them: a devnet's, not a real chain's).
    #[arg(long, value_name = "DIR")]
    pub(crate) template_keys: Option<PathBuf>,
    /// The node's WebSocket URL, recorded in the config: the agents subscribe to its new
    /// heads instead of polling (anvil: the RPC port with `ws://`; geth and reth: `--ws`).
    #[arg(long, value_name = "URL")]
    pub(crate) ws_url: Option<String>,
    /// The shortest clock, proving window or challenge window a model may register, in
    /// seconds: the time this chain gives an honest party to get a transaction in against
    /// congestion or a censoring builder. Default one day (a public chain); a devnet of
    /// your own may go down to 300.
    #[arg(long, value_name = "SECONDS", default_value_t = 86_400)]
    pub(crate) time_floor: u64,
}

/// Deploys the contracts to `--rpc-url` signed by `--private-key`/`--keystore`, and writes
/// the config every actor reads (to `--devnet`'s path).
pub(crate) fn deploy(
    a: DeployArgs,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    use crate::cli::SignerError::Missing;
    let rpc = node.chain.rpc_url.as_deref().ok_or(Missing(
        "deploy",
        "the node: --rpc-url URL (or ZKOPML_RPC_URL)",
    ))?;
    let key = node.chain.key()?.ok_or(Missing(
        "deploy",
        "a signer: --private-key HEX or --keystore PATH (or ZKOPML_PRIVATE_KEY)",
    ))?;
    let opts = zkopml_agents::devnet::UpOptions {
        v4: !a.v3_only,
        template_keys: a.template_keys,
        persist_state: false,
        time_floor: a.time_floor,
    };
    let rt = tokio::runtime::Runtime::new()?;
    let bar = spinner("deploying the contracts");
    let c = rt.block_on(zkopml_agents::devnet::deploy(
        config_path,
        rpc,
        &key,
        node.kubo_api.as_deref(),
        &opts,
    ));
    bar.finish_and_clear();
    let mut c = c?;
    if let Some(ws) = a.ws_url {
        c.ws = Some(ws);
        c.write(config_path)?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&c.deployment)?);
    } else {
        print_deployment(&c.deployment, config_path, "deployed");
    }
    Ok(())
}

/// The human summary of a deployment.
fn print_deployment(d: &zkopml_chain::Deployment, config_path: &Path, what: &str) {
    println!(
        "{what} at {} (chain {}): registry {}, market {} (config {})",
        d.rpc,
        d.chain_id,
        d.registry,
        d.market,
        config_path.display()
    );
    if let Some(v4) = &d.v4 {
        println!(
            "version 4: registry {}, market {}, templates {} ({} verifiers), deploy gas {}",
            v4.registry,
            v4.market,
            v4.templates,
            v4.verifiers.len(),
            v4.total_deploy_gas()
        );
    }
}

pub(crate) fn devnet(
    cmd: DevnetCmd,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    let rt = tokio::runtime::Runtime::new()?;
    match cmd {
        DevnetCmd::Up { port } => {
            let c = rt.block_on(up(config_path, port, node.kubo_api.as_deref()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&c.deployment)?);
            } else {
                print_deployment(&c.deployment, config_path, "devnet up (template test keys)");
            }
        }
        DevnetCmd::Down => {
            let c = DevnetConfig::read(config_path)?;
            down(&c);
            println!("devnet down");
        }
        DevnetCmd::Status => {
            let c = DevnetConfig::read(config_path)?;
            let chain = Chain::connect(&c.deployment, c.key("owner")?)?;
            let counts = rt.block_on(chain.view("counts", chain.market().counts()))?;
            let models = rt.block_on(chain.view("modelCount", chain.registry().modelCount()))?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"rpc": c.deployment.rpc, "models": models.to_string(), "requests": counts.requests.to_string(), "responses": counts.responses.to_string(), "games": counts.games.to_string()})
                );
            } else {
                println!(
                    "{}: {models} models, {} requests, {} responses, {} games",
                    c.deployment.rpc, counts.requests, counts.responses, counts.games
                );
            }
        }
    }
    Ok(())
}

/// Game parameters as flags.
#[derive(Args, Debug, Clone)]
pub(crate) struct ParamArgs {
    /// Challenge window (s); default 120 under protocol 3, 600 (the minimum) under 4.
    #[arg(long)]
    pub(crate) challenge_window: Option<u64>,
    /// Chess clock per side (s).
    #[arg(long, default_value_t = 600)]
    pub(crate) clock: u64,
    /// Proving window (s): a safety factor over the worst measured leaf proving time.
    #[arg(long, default_value_t = 900)]
    pub(crate) proving_window: u64,
    /// Bisection arity k (2–16), or `auto`: the fewest rounds with reveals under the 120k
    /// gas move target (k ≤ 6), e.g. lenet5 → 4, conv2d → 6.
    #[arg(long, default_value = "auto", value_parser = parse_arity)]
    pub(crate) arity: Arity,
    /// Response bond (wei).
    #[arg(long, default_value_t = 10_000_000_000_000_000)]
    pub(crate) response_bond: u128,
    /// Challenger bond (wei).
    #[arg(long, default_value_t = 10_000_000_000_000_000)]
    pub(crate) challenger_bond: u128,
}

/// `--arity`: a fixed bisection arity, or one chosen from the model's step count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Arity {
    /// [`model::auto_arity`] of the compiled model's steps.
    Auto,
    /// This arity (the registry checks `2 ≤ k ≤ 16`).
    Fixed(u32),
}

/// `auto`, or a number.
fn parse_arity(s: &str) -> Result<Arity, String> {
    match s {
        "auto" => Ok(Arity::Auto),
        n => n
            .parse()
            .map(Arity::Fixed)
            .map_err(|_| format!("expected a number or `auto`, got `{n}`")),
    }
}

/// Version 4's shortest challenge window (`TypesV4.MIN_CHALLENGE_WINDOW`, 10 minutes).
pub(crate) const V4_MIN_CHALLENGE_WINDOW: u64 = 600;

impl ParamArgs {
    /// The challenge window under protocol 3 (`--challenge-window`, default 120 s).
    pub(crate) fn challenge_window_v3(&self) -> u64 {
        self.challenge_window.unwrap_or(120)
    }

    /// The game parameters for a model of `steps` steps (`--arity auto` picks
    /// [`model::auto_arity`]).
    pub(crate) fn params(&self, steps: usize) -> GameParams {
        GameParams {
            challengeWindow: self.challenge_window_v3(),
            clockPerSide: self.clock,
            provingWindow: self.proving_window,
            arity: match self.arity {
                Arity::Auto => model::auto_arity(steps),
                Arity::Fixed(k) => k,
            },
            responseBond: self.response_bond,
            challengerBond: self.challenger_bond,
        }
    }
}

/// `--protocol`: which protocol version a model is registered under (docs/protocol.md §10).
pub(crate) fn parse_protocol(s: &str) -> Result<u8, String> {
    match s {
        "3" => Ok(3),
        "4" => Ok(4),
        other => Err(format!(
            "expected 3 (per-model keys) or 4 (template library), got `{other}`"
        )),
    }
}

#[derive(Args, Debug)]
pub(crate) struct RegisterArgs {
    /// ONNX model file, or a directory holding `model.onnx` (e.g. testdata/lenet5).
    #[arg(long)]
    pub(crate) model: PathBuf,
    /// Operators per dispute step (N): engine operators under protocol 3 (default 1),
    /// template operators under protocol 4 (default 4).
    #[arg(long)]
    pub(crate) ops_per_step: Option<usize>,
    /// Protocol version: 3 (a Groth16 setup and a verifier per step of this model) or 4
    /// (the protocol's template library: no key setup, nothing deployed).
    #[arg(long, default_value = "3", value_parser = parse_protocol)]
    pub(crate) protocol: u8,
    #[command(flatten)]
    pub(crate) params: ParamArgs,
    #[command(flatten)]
    pub(crate) dims: crate::local::DimArgs,
}

/// `--model`: an ONNX file, or a directory holding `model.onnx`.
pub(crate) fn onnx_path(model: &Path) -> PathBuf {
    if model.is_dir() {
        model.join("model.onnx")
    } else {
        model.to_path_buf()
    }
}

pub(crate) fn progress(len: usize, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len as u64).with_message(what.to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} {elapsed}")
            .expect("valid template"),
    );
    bar
}

/// A spinner for work longer than a second whose length is unknown.
pub(crate) fn spinner(what: &str) -> ProgressBar {
    let s = ProgressBar::new_spinner().with_message(what.to_string());
    s.set_style(ProgressStyle::with_template("{spinner} {msg} {elapsed}").expect("valid template"));
    s.enable_steady_tick(Duration::from_millis(120));
    s
}

pub(crate) async fn register_model(
    cfg: &DevnetConfig,
    timeline: Timeline,
    path: &Path,
    ops_per_step: usize,
    params: &ParamArgs,
) -> anyhow::Result<model::LoadedModel> {
    let ctx = cfg.ctx("owner", timeline)?;
    let onnx = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let steps =
        Program::compile(&import::load_bytes(&onnx)?, &HashMap::new(), ops_per_step)?.num_steps();
    let bar = progress(steps, "setting up step keys and verifiers");
    let params = params.params(steps);
    let (m, _) = model::register(&ctx, &onnx, ops_per_step, params, &|done, _| {
        bar.set_position(done as u64)
    })
    .await?;
    bar.finish_and_clear();
    Ok(m)
}

pub(crate) fn register(
    a: RegisterArgs,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    if a.protocol == 4 {
        return crate::v4::register(a, config_path, node, json);
    }
    if !a.dims.dims.is_empty() {
        return Err(zkopml_engine::EngineError::BadInput {
            name: "--dim".into(),
            reason: "symbolic dims are fixed at registration under --protocol 4".into(),
        }
        .into());
    }
    let cfg = read_config(config_path, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    let m = rt.block_on(register_model(
        &cfg,
        Timeline::default(),
        &onnx_path(&a.model),
        a.ops_per_step.unwrap_or(1),
        &a.params,
    ))?;
    if json {
        println!(
            "{}",
            serde_json::json!({"model_id": m.id.to_string(), "steps": m.program.num_steps(), "arity": m.params.arity, "root": m.tree.root().to_string(), "test_keys": true})
        );
    } else {
        println!(
            "registered model {} ({} steps, bisection arity {}, root {}; verifying keys are TEST keys)",
            m.id,
            m.program.num_steps(),
            m.params.arity,
            m.tree.root()
        );
    }
    Ok(())
}

#[derive(Args, Debug)]
pub(crate) struct RequestArgs {
    /// Registered model id.
    #[arg(long)]
    model_id: u64,
    /// Input tensors (JSON).
    #[arg(long)]
    input: PathBuf,
    /// Fee (wei).
    #[arg(long, default_value_t = 1_000_000_000_000_000)]
    fee: u128,
    /// Protocol version of the model (`--model-id` counts in that version's registry).
    #[arg(long, default_value = "3", value_parser = parse_protocol)]
    protocol: u8,
}

pub(crate) async fn request_inference(
    cfg: &DevnetConfig,
    timeline: Timeline,
    model_id: U256,
    input: &Path,
    fee: u128,
) -> anyhow::Result<U256> {
    let ctx = cfg.ctx("requester", timeline)?;
    let m = ctx.model(model_id).await?;
    let file = TensorFile::read(input)?;
    let inputs = quantize_inputs(&m.program, &file.inputs)?;
    Ok(requester::request(&ctx, model_id, inputs, U256::from(fee)).await?)
}

pub(crate) fn request(
    a: RequestArgs,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    let cfg = read_config(config_path, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    let (model_id, timeline) = (U256::from(a.model_id), Timeline::default());
    let id = rt.block_on(async {
        if a.protocol == 4 {
            crate::v4::request_inference(&cfg, timeline, model_id, &a.input, a.fee).await
        } else {
            request_inference(&cfg, timeline, model_id, &a.input, a.fee).await
        }
    })?;
    if json {
        println!("{}", serde_json::json!({"request_id": id.to_string()}));
    } else {
        println!("request {id} posted (protocol {})", a.protocol);
    }
    Ok(())
}

/// How long a CLI agent runs.
#[derive(Args, Debug)]
pub(crate) struct LoopArgs {
    /// Poll interval (ms).
    #[arg(long, default_value_t = 500)]
    poll_ms: u64,
    /// Exit once every dispute/response of this agent is settled (after at least one action).
    #[arg(long)]
    until_idle: bool,
    /// Give up after this many seconds.
    #[arg(long)]
    timeout: Option<u64>,
    /// Give up when the node stays unreachable this many seconds (exit 3).
    #[arg(long, default_value_t = 120)]
    node_wait: u64,
    /// Wake on each new block the node announces over this WebSocket (`eth_subscribe`),
    /// polling every `--poll-ms` while it is down. Default: the config's (`devnet up`
    /// records its anvil's; `deploy --ws-url`), none when `--rpc-url` names another node.
    #[arg(long, env = "ZKOPML_WS_URL", value_name = "URL")]
    ws_url: Option<String>,
    /// Poll only, even when a WebSocket is known (`--ws-url`, `ZKOPML_WS_URL`, the config's).
    #[arg(long)]
    no_ws: bool,
    /// With a WebSocket: the longest wait between two looks at the chain (deadlines pass
    /// with time, not only with blocks).
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    heartbeat_ms: u64,
}

impl LoopArgs {
    /// The agent's wake-ups: new heads at `--ws-url` (else `config_ws`) with the heartbeat,
    /// or the poll timer.
    fn heads(&self, config_ws: Option<&str>) -> HeadStream {
        let poll = Duration::from_millis(self.poll_ms);
        match self.ws_url.as_deref().or(config_ws) {
            Some(url) if !self.no_ws => {
                HeadStream::websocket(url, poll, Duration::from_millis(self.heartbeat_ms))
            }
            _ => HeadStream::polling(poll),
        }
    }
}

/// A polled agent as the CLI drives it.
pub(crate) trait Agent {
    /// One pass over the chain.
    async fn tick(&mut self) -> zkopml_agents::Result<()>;
    /// Responses made or disputes entered so far, this run and earlier ones (its state).
    fn acted(&self) -> usize;
    /// Whether everything it started is settled.
    fn idle(&self) -> bool;
    /// Games (or responses) that went against it.
    fn lost(&self) -> usize;
    /// What [`Agent::lost`] counts, in words (the exit message).
    fn lost_what(&self) -> &'static str {
        "game(s) went against this agent"
    }
}

impl Agent for Submitter {
    async fn tick(&mut self) -> zkopml_agents::Result<()> {
        Submitter::tick(self).await
    }
    fn acted(&self) -> usize {
        self.responses()
    }
    fn idle(&self) -> bool {
        Submitter::idle(self)
    }
    fn lost(&self) -> usize {
        Submitter::lost(self)
    }
}

impl Agent for Challenger {
    async fn tick(&mut self) -> zkopml_agents::Result<()> {
        Challenger::tick(self).await
    }
    fn acted(&self) -> usize {
        self.disputes()
    }
    fn idle(&self) -> bool {
        Challenger::idle(self)
    }
    fn lost(&self) -> usize {
        Challenger::lost(self)
    }
}

impl Agent for V4Submitter {
    async fn tick(&mut self) -> zkopml_agents::Result<()> {
        V4Submitter::tick(self).await
    }
    fn acted(&self) -> usize {
        self.responses()
    }
    fn idle(&self) -> bool {
        V4Submitter::idle(self)
    }
    fn lost(&self) -> usize {
        V4Submitter::lost(self)
    }
}

impl Agent for V4Challenger {
    async fn tick(&mut self) -> zkopml_agents::Result<()> {
        V4Challenger::tick(self).await
    }
    fn acted(&self) -> usize {
        self.disputes()
    }
    fn idle(&self) -> bool {
        V4Challenger::idle(self)
    }
    fn lost(&self) -> usize {
        V4Challenger::lost(self)
    }
}

/// Prints the timeline entries after the first `printed`: one line per action, or one
/// JSON object per line with `--json`.
fn print_timeline(timeline: &Timeline, printed: &mut usize, json: bool) {
    let entries = timeline.entries();
    for e in entries.iter().skip(*printed) {
        if json {
            println!("{}", serde_json::to_string(e).expect("entries serialize"));
        } else {
            let gas = e.gas.map(|g| format!(" ({g} gas)")).unwrap_or_default();
            println!("[{:>7.1}s] {}: {}{gas}", e.at_s, e.actor, e.what);
        }
    }
    *printed = entries.len();
}

/// Ticks `agent` every `poll_ms` until settled (with `--until-idle`), a timeout, or a
/// non-retryable error, printing each action as it happens. Settled means: everything it
/// started is settled, and it did something in this run or had something pending when the
/// run began — so an agent started on a devnet where it already played (the seed's flow:
/// `just verify` again for the next request) waits for the new work instead of exiting at
/// once, and one restarted mid-game finishes that game. A node that went away (or any
/// other retryable error: a dropped transaction, a taken nonce, a move the chain had moved
/// past) is retried (said once per outage) for up to `--node-wait` seconds. With `--until-idle`, an
/// agent that lost a game exits with [`crate::demo::Lost`] (exit status 4).
pub(crate) async fn run_agent(
    agent: &mut impl Agent,
    timeline: &Timeline,
    args: &LoopArgs,
    config_ws: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let mut heads = args.heads(config_ws);
    let started = Instant::now();
    let mut printed = 0;
    let mut down_since: Option<Instant> = None;
    let (acted_before, lost_before, pending_before) = (agent.acted(), agent.lost(), !agent.idle());
    loop {
        let tick = agent.tick().await;
        print_timeline(timeline, &mut printed, json);
        match tick {
            Ok(()) => {
                if down_since.take().is_some() {
                    tracing::warn!("node reachable again");
                }
                let new_work = pending_before || agent.acted() > acted_before;
                if args.until_idle && new_work && agent.idle() {
                    // Games lost in an earlier run were reported by that run.
                    return match agent.lost().saturating_sub(lost_before) {
                        0 => Ok(()),
                        n => Err(crate::demo::Lost(format!("{n} {}", agent.lost_what())).into()),
                    };
                }
            }
            Err(e) if e.is_retryable() => {
                let since = *down_since.get_or_insert_with(|| {
                    tracing::warn!(error = %e, "retryable (node unavailable, transaction dropped or the chain moved on); retrying for up to {} s", args.node_wait);
                    Instant::now()
                });
                if since.elapsed() > Duration::from_secs(args.node_wait) {
                    return Err(anyhow::Error::from(e).context(format!(
                        "the node stayed unreachable for {} s",
                        args.node_wait
                    )));
                }
            }
            Err(e) => return Err(e.into()),
        }
        if args
            .timeout
            .is_some_and(|t| started.elapsed() > Duration::from_secs(t))
        {
            anyhow::bail!("timed out after {} s", started.elapsed().as_secs());
        }
        if down_since.is_some() {
            // A failed tick is tried again on the timer: no block may come to announce
            // that the node is back, or that the chain moved on.
            tokio::time::sleep(Duration::from_millis(args.poll_ms)).await;
        } else {
            let wake = heads.next().await;
            tracing::debug!(?wake, "tick");
        }
    }
}

/// `--protocol` and the version-4 agents' template keys.
#[derive(Args, Debug)]
pub(crate) struct ProtocolArgs {
    /// Protocol version of the market to play: 3 (per-model keys) or 4 (template library).
    #[arg(long, default_value = "3", value_parser = parse_protocol)]
    protocol: u8,
    /// Protocol 4: the template proving keys (default: the devnet's `keys/templates`, where
    /// `devnet up` made them).
    #[arg(long)]
    template_keys: Option<PathBuf>,
}

impl ProtocolArgs {
    /// The template key directory: `--template-keys`, else the devnet's.
    fn template_keys(&self, cfg: &DevnetConfig) -> PathBuf {
        self.template_keys
            .clone()
            .unwrap_or_else(|| cfg.key_cache.join(zkopml_agents::v4::TEMPLATE_KEY_DIR))
    }
}

#[derive(Args, Debug)]
pub(crate) struct SubmitArgs {
    /// Corrupt the output of this step (test actor; protocol 3).
    #[arg(long)]
    defect: Option<usize>,
    /// Lie at this template operator (an index into the lowering) or engine node (by name)
    /// (test actor; protocol 4).
    #[arg(long, value_name = "OP|NODE")]
    defect_at: Option<v4::Defect>,
    /// Publish the trace states with each response (protocol 3).
    #[arg(long)]
    publish_trace: bool,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Role in the devnet config.
    #[arg(long, default_value = "submitter")]
    role: String,
    #[command(flatten)]
    run: LoopArgs,
}

pub(crate) fn submit(
    a: SubmitArgs,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    check_protocol_flags(
        a.protocol.protocol,
        &[
            ("--defect", a.defect.is_some(), 3),
            ("--publish-trace", a.publish_trace, 3),
            ("--defect-at", a.defect_at.is_some(), 4),
            ("--template-keys", a.protocol.template_keys.is_some(), 4),
        ],
    )?;
    let cfg = read_config(config_path, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    let timeline = Timeline::default();
    rt.block_on(async {
        let ctx = cfg.ctx(&a.role, timeline.clone())?;
        if a.protocol.protocol == 4 {
            let config = V4SubmitterConfig {
                defect: a.defect_at.clone(),
                only: None,
                template_keys: a.protocol.template_keys(&cfg),
            };
            let mut agent = V4Submitter::new(ctx, config)?;
            return run_agent(&mut agent, &timeline, &a.run, cfg.ws.as_deref(), json).await;
        }
        let mut agent = Submitter::new(
            ctx,
            SubmitterConfig {
                defect: a.defect,
                publish_trace: a.publish_trace,
                only: None,
            },
        )?;
        run_agent(&mut agent, &timeline, &a.run, cfg.ws.as_deref(), json).await
    })
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub(crate) enum Mode {
    Auto,
    Bisect,
}

#[derive(Args, Debug)]
pub(crate) struct ChallengeArgs {
    /// Claim a wrong trace with a fault at this step (test actor; protocol 3).
    #[arg(long)]
    lie: Option<usize>,
    /// Claim a wrong run with a lie at this template operator (an index into the lowering)
    /// or engine node (by name) (test actor; protocol 4).
    #[arg(long, value_name = "OP|NODE")]
    lie_at: Option<v4::Defect>,
    /// Dispute mode (protocol 3; version 4 always plays the game).
    #[arg(long, value_enum, default_value = "auto")]
    mode: Mode,
    #[command(flatten)]
    protocol: ProtocolArgs,
    /// Role in the devnet config.
    #[arg(long, default_value = "challenger1")]
    role: String,
    #[command(flatten)]
    run: LoopArgs,
}

pub(crate) fn challenge(
    a: ChallengeArgs,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    check_protocol_flags(
        a.protocol.protocol,
        &[
            ("--lie", a.lie.is_some(), 3),
            ("--lie-at", a.lie_at.is_some(), 4),
            ("--template-keys", a.protocol.template_keys.is_some(), 4),
        ],
    )?;
    let cfg = read_config(config_path, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    let timeline = Timeline::default();
    rt.block_on(async {
        let ctx = cfg.ctx(&a.role, timeline.clone())?;
        if a.protocol.protocol == 4 {
            let config = V4ChallengerConfig {
                lie: a.lie_at.clone(),
                template_keys: a.protocol.template_keys(&cfg),
            };
            let mut agent = V4Challenger::new(ctx, config)?;
            return run_agent(&mut agent, &timeline, &a.run, cfg.ws.as_deref(), json).await;
        }
        let mode = match a.mode {
            Mode::Auto => DisputeMode::Auto,
            Mode::Bisect => DisputeMode::Bisect,
        };
        let mut agent = Challenger::new(ctx, ChallengerConfig { lie: a.lie, mode })?;
        run_agent(&mut agent, &timeline, &a.run, cfg.ws.as_deref(), json).await
    })
}

/// Refuses a flag of the other protocol version (`flags`: name, given, its version), as bad
/// input (exit 2).
fn check_protocol_flags(protocol: u8, flags: &[(&str, bool, u8)]) -> anyhow::Result<()> {
    for (name, given, version) in flags {
        if *given && *version != protocol {
            return Err(zkopml_engine::EngineError::BadInput {
                name: (*name).into(),
                reason: format!("a protocol {version} flag (this agent plays protocol {protocol})"),
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Cmd};

    fn parse(args: &[&str]) -> Cmd {
        Cli::try_parse_from(args).expect("parses").cmd
    }

    #[test]
    fn the_agents_take_protocol_4_and_its_test_actor_flags() {
        let Cmd::Submit(s) = parse(&["zkopml", "submit", "--protocol", "4", "--defect-at", "197"])
        else {
            panic!("submit")
        };
        assert_eq!(s.protocol.protocol, 4);
        assert_eq!(s.defect_at, Some(v4::Defect::Op(197)));
        let Cmd::Submit(s) = parse(&[
            "zkopml",
            "submit",
            "--protocol",
            "4",
            "--defect-at",
            "relu1",
        ]) else {
            panic!("submit")
        };
        assert_eq!(s.defect_at, Some(v4::Defect::Node("relu1".into())));
        let Cmd::Challenge(c) = parse(&[
            "zkopml",
            "challenge",
            "--protocol",
            "4",
            "--lie-at",
            "3",
            "--template-keys",
            "k",
        ]) else {
            panic!("challenge")
        };
        assert_eq!(
            (c.protocol.protocol, c.lie_at),
            (4, Some(v4::Defect::Op(3)))
        );
        assert_eq!(c.protocol.template_keys, Some(PathBuf::from("k")));
        let Cmd::Request(r) = parse(&[
            "zkopml",
            "request",
            "--protocol",
            "4",
            "--model-id",
            "1",
            "--input",
            "i.json",
        ]) else {
            panic!("request")
        };
        assert_eq!(r.protocol, 4);
        // Version 3 stays the default.
        let Cmd::Submit(s) = parse(&["zkopml", "submit", "--defect", "5"]) else {
            panic!("submit")
        };
        assert_eq!((s.protocol.protocol, s.defect), (3, Some(5)));
    }

    #[test]
    fn a_flag_of_the_other_protocol_is_bad_input() {
        let e = check_protocol_flags(3, &[("--defect-at", true, 4)]).unwrap_err();
        assert_eq!(crate::cli::exit_code(&e), 2);
        assert!(check_protocol_flags(4, &[("--defect-at", true, 4), ("--lie", false, 3)]).is_ok());
    }
}
