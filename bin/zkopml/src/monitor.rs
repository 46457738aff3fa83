//! `monitor`: watches the version-4 market with no stake and raises an alert (a log line,
//! a JSON line with `--json`, a POST to `--webhook`, exit status 4 with `--until-idle`)
//! when a response is wrong, a game is about to go or went against the side that is right,
//! or the market owes an account that does not withdraw. The checks are
//! `zkopml_agents::v4::monitor`'s.

use std::path::Path;

use clap::Args;
use zkopml_agents::{
    v4::monitor::{Alert, V4Monitor, DEFAULT_MARGIN},
    Timeline,
};

use crate::devnet::{read_config, run_agent, Agent, LoopArgs, Node};

#[derive(Args, Debug)]
pub(crate) struct MonitorArgs {
    /// Raise "may lose" alerts this many seconds before a deadline of the side that is
    /// right, and "unclaimed" alerts after a balance waited this long.
    #[arg(long, default_value_t = DEFAULT_MARGIN)]
    margin: u64,
    /// POST each alert as JSON to this URL too.
    #[arg(long, value_name = "URL")]
    webhook: Option<String>,
    /// Role in the devnet config whose RPC and store to read (the monitor sends nothing).
    #[arg(long, default_value = "requester")]
    role: String,
    #[command(flatten)]
    run: LoopArgs,
}

/// The monitor as the CLI drives it: each new alert is printed (a line, or a JSON object
/// with `--json`) and goes to the webhook.
struct Monitor {
    inner: V4Monitor,
    webhook: Option<String>,
    http: reqwest::blocking::Client,
    json: bool,
    started: std::time::Instant,
}

impl Monitor {
    /// POSTs `alert` to the webhook; a webhook that fails is logged, never fatal.
    fn post(&self, alert: &Alert) {
        let Some(url) = &self.webhook else {
            return;
        };
        let body = serde_json::to_string(alert).expect("alerts serialize");
        let sent = tokio::task::block_in_place(|| {
            self.http
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .and_then(|r| r.error_for_status())
        });
        if let Err(e) = sent {
            tracing::warn!(%url, error = %e, "webhook failed");
        }
    }
}

impl Agent for Monitor {
    async fn tick(&mut self) -> zkopml_agents::Result<()> {
        for alert in self.inner.tick().await? {
            let at_s = self.started.elapsed().as_secs_f64();
            if self.json {
                let mut v = serde_json::to_value(&alert).expect("alerts serialize");
                v["at_s"] = at_s.into();
                v["message"] = alert.to_string().into();
                println!("{v}");
            } else {
                println!("[{at_s:>7.1}s] ALERT {alert}");
            }
            self.post(&alert);
        }
        Ok(())
    }
    fn acted(&self) -> usize {
        self.inner.checked()
    }
    fn idle(&self) -> bool {
        self.inner.idle()
    }
    fn lost(&self) -> usize {
        self.inner.alerts()
    }
    fn lost_what(&self) -> &'static str {
        "alert(s) fired"
    }
}

pub(crate) fn monitor(
    a: MonitorArgs,
    config_path: &Path,
    node: &Node,
    json: bool,
) -> anyhow::Result<()> {
    let cfg = read_config(config_path, node)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let timeline = Timeline::default();
    rt.block_on(async {
        let ctx = cfg.reader_ctx(&a.role, timeline.clone())?;
        let mut m = Monitor {
            inner: V4Monitor::new(ctx, a.margin),
            webhook: a.webhook.clone(),
            http: reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(10))
                .build()?,
            json,
            started: std::time::Instant::now(),
        };
        run_agent(&mut m, &timeline, &a.run, cfg.ws.as_deref(), json).await
    })
}
