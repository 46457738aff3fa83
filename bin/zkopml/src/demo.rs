//! `demo`: the whole story on a fresh devnet, with a timeline.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy_primitives::{Address, U256};
use anyhow::Context;
use clap::Args;
use serde::Serialize;
use zkopml_agents::{
    Challenger, ChallengerConfig, DevnetConfig, Submitter, SubmitterConfig, Timeline, TimelineEntry,
};

use crate::devnet::{self, Node, ParamArgs};

/// A game that did not end the way the honest side should have made it end.
#[derive(Debug)]
pub(crate) struct Lost(pub(crate) String);

impl std::fmt::Display for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "lost: {}", self.0)
    }
}

impl std::error::Error for Lost {}

#[derive(Args, Debug)]
pub(crate) struct DemoArgs {
    /// Model: a name under testdata/ or a path to an ONNX file.
    #[arg(long, default_value = "lenet5")]
    pub(crate) model: String,
    /// Input JSON (default: `testdata/<model>/input.json`).
    #[arg(long)]
    pub(crate) input: Option<PathBuf>,
    /// Operators per dispute step: engine operators under protocol 3 (default 1), template
    /// operators under protocol 4 (default 4).
    #[arg(long)]
    pub(crate) ops_per_step: Option<usize>,
    /// Step the defective submitter corrupts (default: the middle step). Under protocol 4 a
    /// step of the lowered program: the engine node of its first template operator lies.
    #[arg(long)]
    pub(crate) defect: Option<usize>,
    /// Let the defective submitter publish its trace, so the challenger disputes in one shot
    /// (protocol 3 only).
    #[arg(long)]
    pub(crate) one_shot: bool,
    /// Protocol version: 3 (a key setup and a verifier per step of the model) or 4 (the
    /// protocol's template library: registration sets up nothing).
    #[arg(long, default_value = "3", value_parser = devnet::parse_protocol)]
    pub(crate) protocol: u8,
    /// Protocol 4: where the template test keys are cached (made on first use; default:
    /// `keys/templates` beside the `--devnet` config, where `devnet up` caches them).
    #[arg(long)]
    pub(crate) template_keys: Option<PathBuf>,
    /// Port for the demo's own anvil.
    #[arg(long, default_value_t = 8546)]
    pub(crate) port: u16,
    /// Directory for the demo devnet (wiped first).
    #[arg(long, default_value = ".devnet-demo")]
    pub(crate) dir: PathBuf,
    #[command(flatten)]
    pub(crate) params: ParamArgs,
}

#[derive(Serialize)]
struct Summary {
    model: String,
    steps: usize,
    timeline: Vec<TimelineEntry>,
    phases: Vec<(String, f64)>,
    balance_changes_wei: Vec<(String, String)>,
    challenger_won: bool,
    honest_final: bool,
}

pub(crate) fn model_paths(a: &DemoArgs) -> (PathBuf, PathBuf) {
    let p = PathBuf::from(&a.model);
    if p.extension().is_some_and(|e| e == "onnx") {
        let input = a
            .input
            .clone()
            .unwrap_or_else(|| p.with_file_name("input.json"));
        return (p, input);
    }
    let dir = PathBuf::from("testdata").join(&a.model);
    (
        dir.join("model.onnx"),
        a.input.clone().unwrap_or_else(|| dir.join("input.json")),
    )
}

pub(crate) async fn balances(
    cfg: &DevnetConfig,
    roles: &[&str],
) -> anyhow::Result<Vec<(String, Address, U256)>> {
    let mut out = Vec::new();
    for r in roles {
        let ctx = cfg.ctx(r, Timeline::default())?;
        out.push((
            r.to_string(),
            ctx.chain.address,
            ctx.chain.balance(ctx.chain.address).await?,
        ));
    }
    Ok(out)
}

pub(crate) fn demo(
    a: DemoArgs,
    devnet_config: &std::path::Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        !(a.protocol == 4 && a.one_shot),
        "--one-shot is protocol 3 only (version 4 has no one-shot for a wrong chunk yet)"
    );
    let rt = tokio::runtime::Runtime::new()?;
    let _ = std::fs::remove_dir_all(&a.dir);
    let config_path = a.dir.join("devnet.json");
    let result = if a.protocol == 4 {
        let keys = a.template_keys.clone().unwrap_or_else(|| {
            devnet_config
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join("keys")
                .join(zkopml_agents::v4::TEMPLATE_KEY_DIR)
        });
        rt.block_on(crate::demo_v4::run(
            &a,
            &config_path,
            &keys,
            node.kubo_api.as_deref(),
            json,
        ))
    } else {
        rt.block_on(run(&a, &config_path, node.kubo_api.as_deref(), json))
    };
    if let Ok(cfg) = DevnetConfig::read(&config_path) {
        devnet::down(&cfg);
    }
    result
}

async fn run(
    a: &DemoArgs,
    config_path: &std::path::Path,
    kubo_api: Option<&str>,
    json: bool,
) -> anyhow::Result<()> {
    let (onnx, input) = model_paths(a);
    let timeline = Timeline::default();
    let mut phases: Vec<(String, f64)> = Vec::new();
    let mut phase =
        |name: &str, t: Instant| phases.push((name.to_string(), t.elapsed().as_secs_f64()));

    let t = Instant::now();
    // The demo plays version 3: the version-4 stack (and its template key setup) is left out.
    let v3_only = zkopml_agents::devnet::UpOptions {
        v4: false,
        template_keys: None,
        persist_state: false,
        time_floor: zkopml_agents::v4::DEVNET_TIME_FLOOR,
    };
    let cfg = zkopml_agents::devnet::up_with(config_path, a.port, kubo_api, &v3_only).await?;
    timeline.record(
        "devnet",
        format!("anvil up at {}, contracts deployed", cfg.deployment.rpc),
        None,
    );
    phase("devnet up + deploy", t);
    let roles = [
        "owner",
        "requester",
        "submitter",
        "challenger1",
        "submitter2",
    ];
    let before = balances(&cfg, &roles).await?;

    let t = Instant::now();
    let model = devnet::register_model(
        &cfg,
        timeline.clone(),
        &onnx,
        a.ops_per_step.unwrap_or(1),
        &a.params,
    )
    .await
    .with_context(|| format!("registering {}", onnx.display()))?;
    phase("register (compile, test-key setup, verifiers)", t);
    let steps = model.program.num_steps();
    let defect = a.defect.unwrap_or(steps / 2).min(steps - 1);

    let t = Instant::now();
    let request_id = devnet::request_inference(
        &cfg,
        timeline.clone(),
        model.id,
        &input,
        1_000_000_000_000_000,
    )
    .await?;
    phase("request", t);

    // A defective submitter and an honest challenger.
    let t = Instant::now();
    let mut liar = Submitter::new(
        cfg.ctx("submitter", timeline.clone())?,
        SubmitterConfig {
            defect: Some(defect),
            publish_trace: a.one_shot,
            only: Some(vec![request_id]),
        },
    )?;
    let mut challenger = Challenger::new(
        cfg.ctx("challenger1", timeline.clone())?,
        ChallengerConfig::default(),
    )?;
    let deadline =
        Instant::now() + Duration::from_secs(a.params.clock * 2 + a.params.proving_window + 60);
    liar.tick().await?;
    loop {
        challenger.tick().await?;
        liar.tick().await?;
        if challenger.disputes() > 0 && challenger.idle() && liar.idle() {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            Lost("the dispute did not settle within its clocks".into())
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    phase(
        "dispute (respond with defect, challenge, bisect, prove, resolve)",
        t,
    );
    let market = cfg.ctx("requester", Timeline::default())?.chain;
    let resp = market
        .view(
            "getResponseById",
            market.market().getResponseById(U256::from(1)),
        )
        .await?;
    let challenger_won = resp.status == 2;
    if !challenger_won {
        return Err(Lost(format!(
            "the defective response {request_id} was not disproven"
        ))
        .into());
    }

    // The request re-opened: an honest submitter answers, the challenger agrees, it finalises.
    let t = Instant::now();
    let mut honest = Submitter::new(
        cfg.ctx("submitter2", timeline.clone())?,
        SubmitterConfig {
            defect: None,
            publish_trace: true,
            only: Some(vec![request_id]),
        },
    )?;
    honest.tick().await?;
    let deadline = Instant::now() + Duration::from_secs(a.params.challenge_window_v3() + 60);
    loop {
        challenger.tick().await?;
        honest.tick().await?;
        if honest.idle() && honest.responses() > 0 {
            break;
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            Lost("the honest response did not finalise".into())
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    phase("honest response + challenge window + finalize", t);
    let honest_final = market
        .view("isFinal", market.market().isFinal(request_id))
        .await?;
    let (output, output_cid) = market
        .view("result", market.market().result(request_id))
        .await
        .map(|r| (r.outputCommitment, r.outputCid))?;
    timeline.record(
        "consumer",
        format!("request {request_id} final: output commitment {output}, output CID {output_cid}"),
        None,
    );

    let after = balances(&cfg, &roles).await?;
    let changes: Vec<(String, String)> = before
        .iter()
        .zip(&after)
        .map(|((r, _, b), (_, _, a))| {
            (
                r.clone(),
                if a >= b {
                    format!("+{}", a - b)
                } else {
                    format!("-{}", b - a)
                },
            )
        })
        .collect();
    let summary = Summary {
        model: a.model.clone(),
        steps,
        timeline: timeline.entries(),
        phases,
        balance_changes_wei: changes,
        challenger_won,
        honest_final,
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&summary)?);
        return Ok(());
    }
    println!(
        "\n== timeline ({}, {} steps, defect at step {defect})",
        summary.model, steps
    );
    for e in &summary.timeline {
        let gas = e.gas.map(|g| format!("{g:>9} gas")).unwrap_or_default();
        println!("{:>8.2}s  {:<12} {:<90} {gas}", e.at_s, e.actor, e.what);
    }
    println!("\n== phases");
    for (name, s) in &summary.phases {
        println!("{s:>8.2}s  {name}");
    }
    println!("\n== balance changes (wei, gas included)");
    for (r, d) in &summary.balance_changes_wei {
        println!("{r:<12} {d}");
    }
    println!(
        "\nchallenger won the dispute: {}; honest response final: {}",
        summary.challenger_won, summary.honest_final
    );
    Ok(())
}
