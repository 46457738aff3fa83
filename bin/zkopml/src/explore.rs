//! `explore`: serves the dispute explorer (`zkopml_explorer`) for the devnet config's
//! version-4 market and content store until interrupted.

use std::{net::IpAddr, path::Path};

use clap::Args;
use zkopml_explorer::{Explorer, Reader};

#[derive(Args, Debug)]
pub(crate) struct ExploreArgs {
    /// Port to serve on (0: any free port, printed).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Open the page in the default browser (`xdg-open`/`open`) once serving.
    #[arg(long)]
    open: bool,
}

/// Serves the explorer for the config's deployment (another node of the same chain with the
/// global `--rpc-url`) until Ctrl-C. Reads only: no key needed, nothing sent.
pub(crate) fn explore(
    a: ExploreArgs,
    config: &Path,
    node: &crate::devnet::Node,
    json: bool,
) -> anyhow::Result<()> {
    let ctx = crate::devnet::reader(config, node)?;
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async {
        let explorer =
            Explorer::bind((a.bind, a.port).into(), Reader::new(ctx.chain, ctx.store)).await?;
        let addr = explorer.local_addr()?;
        let url = format!("http://{addr}/");
        if json {
            println!("{}", serde_json::json!({ "url": url }));
        } else {
            println!("explorer at {url} (Ctrl-C to stop)");
        }
        if a.open {
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            if let Err(e) = std::process::Command::new(opener).arg(&url).spawn() {
                tracing::warn!(error = %e, "could not open a browser; open {url} yourself");
            }
        }
        explorer
            .serve(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await?;
        Ok(())
    })
}
