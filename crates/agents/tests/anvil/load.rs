//! The load benchmark (ignored by `cargo test`; `bash bench/load.sh` runs it): N requests
//! in flight on one devnet (default 100, `ZKOPML_LOAD_REQUESTS`) against two submitter
//! agents — one honest, one lying on the first tenth of the requests (and again on any of
//! them it wins after a disproof) — and two honest challenger agents, each agent in its own
//! loop. The chain's clock runs `ZKOPML_LOAD_SPEEDUP` (default 10) times the wall clock once
//! every request is posted (every second: the time advanced, a block mined), so a 600 s
//! challenge window passes in a minute; dnn is registered with one hour per side and to
//! prove, so a game is never lost to the speed-up.
//!
//! Checked at the end: every request final with the honest submitter's response, every lie
//! disproven, no game lost by an honest agent, every agent's balance withdrawn. Printed:
//! throughput, p50/p95/max wall time from a request's transaction to its finalisation, and
//! this process's resident memory (the four agents) sampled every 10 s.

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use alloy_primitives::U256;
use zkopml_agents::{
    v4::{
        status as v4status, Defect, V4Challenger, V4ChallengerConfig, V4Submitter,
        V4SubmitterConfig,
    },
    Ctx, Timeline,
};
use zkopml_chain::v4::ResponseStatus;

use super::common::{key_dir, net_addr, register_dnn, request_dnn, v4_net};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Resident memory of this process (kB).
fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// An agent ticked every 300 ms until `stop`; its retryable errors are counted, any other
/// error fails the benchmark.
macro_rules! run_until {
    ($agent:expr, $stop:expr, $done:expr) => {{
        let (mut agent, stop, done) = ($agent, $stop.clone(), $done);
        tokio::spawn(async move {
            let mut retried = 0usize;
            while !stop.load(Ordering::SeqCst) && !done(&agent) {
                if let Err(e) = agent.tick().await {
                    assert!(e.is_retryable(), "an agent failed: {e}");
                    retried += 1;
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            (agent, retried)
        })
    }};
}

fn ctx(net: &super::common::Net, role: &str) -> Ctx {
    net.cfg.ctx(role, Timeline::default()).unwrap()
}

fn submitter(
    net: &super::common::Net,
    role: &str,
    lie: Option<(Defect, Vec<U256>)>,
) -> V4Submitter {
    let (defect, only) = lie.map_or((None, None), |(d, o)| (Some(d), Some(o)));
    V4Submitter::new(
        ctx(net, role),
        V4SubmitterConfig {
            defect,
            only,
            template_keys: key_dir(),
        },
    )
    .unwrap()
}

fn challenger(net: &super::common::Net, role: &str) -> V4Challenger {
    V4Challenger::new(
        ctx(net, role),
        V4ChallengerConfig {
            lie: None,
            template_keys: key_dir(),
        },
    )
    .unwrap()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: bash bench/load.sh"]
async fn load_many_requests_two_submitters_two_challengers() {
    let n = env_or("ZKOPML_LOAD_REQUESTS", 100) as usize;
    let speedup = env_or("ZKOPML_LOAD_SPEEDUP", 10);
    let liar_share = n.div_ceil(10);
    let net = v4_net().await;
    let model = register_dnn(&net, 3600).await;
    let observer = ctx(&net, "requester").chain;
    let market = observer.market_v4().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let t0 = Instant::now();
    let mut posted = BTreeMap::new();

    // The liar's requests first, answered by it alone: a tenth of the requests start wrong.
    for _ in 0..liar_share {
        posted.insert(request_dnn(&net, &model).await, t0.elapsed());
    }
    let lie = super::common::first_op(&model, "clip_chunk/v1");
    let liar_ids: Vec<U256> = posted.keys().copied().collect();
    let liar = run_until!(
        submitter(&net, "submitter2", Some((lie, liar_ids.clone()))),
        stop,
        move |a: &V4Submitter| a.responses() >= liar_share && a.idle()
    );
    let challengers = [
        run_until!(challenger(&net, "challenger1"), stop, |_: &V4Challenger| {
            false
        }),
        run_until!(challenger(&net, "challenger2"), stop, |_: &V4Challenger| {
            false
        }),
    ];
    // Once every liar request has a response, the rest of the requests and the honest one.
    loop {
        let views = v4status::requests(&observer).await.unwrap();
        if views.iter().all(|r| !r.responses.is_empty()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    for _ in liar_share..n {
        posted.insert(request_dnn(&net, &model).await, t0.elapsed());
    }
    let posted_all = t0.elapsed();
    let honest = run_until!(
        submitter(&net, "submitter", None),
        stop,
        |_: &V4Submitter| false
    );

    // The chain's clock, `speedup` times the wall clock.
    let clock = {
        let (stop, chain) = (stop.clone(), observer.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::SeqCst) {
                chain.advance_time(speedup - 1).await.unwrap();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };

    // Each request's time to final; memory every 10 s.
    let mut final_at = BTreeMap::new();
    let mut rss = vec![(t0.elapsed().as_secs(), rss_kb())];
    let limit = Duration::from_secs(env_or("ZKOPML_LOAD_LIMIT_S", 3600));
    while final_at.len() < n {
        let pending: Vec<U256> = posted
            .keys()
            .filter(|id| !final_at.contains_key(*id))
            .copied()
            .collect();
        for id in &pending {
            if observer
                .view_v4("isFinal", market.isFinal(*id))
                .await
                .unwrap()
            {
                final_at.insert(*id, t0.elapsed());
            }
        }
        if t0.elapsed().as_secs() >= rss.last().unwrap().0 + 10 {
            rss.push((t0.elapsed().as_secs(), rss_kb()));
        }
        assert!(
            t0.elapsed() < limit,
            "{} of {n} requests final after {limit:?}",
            final_at.len()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all_final = t0.elapsed();
    // The agents withdraw what they are owed on their next ticks.
    let owed = |chain: zkopml_chain::Chain| async move {
        let m = chain.market_v4().unwrap();
        chain
            .view_v4("balances", m.balances(chain.address))
            .await
            .unwrap()
    };
    let roles = ["submitter", "challenger1", "challenger2"];
    let started = Instant::now();
    loop {
        let mut left = U256::ZERO;
        for role in roles {
            left += owed(ctx(&net, role).chain).await;
        }
        if left.is_zero() {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "balances left unclaimed"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    stop.store(true, Ordering::SeqCst);
    clock.await.unwrap();
    let (liar, liar_retried) = liar.await.unwrap();
    let (honest, honest_retried) = honest.await.unwrap();
    let mut retried = liar_retried + honest_retried;
    for c in challengers {
        let (c, r) = c.await.unwrap();
        assert_eq!(c.lost(), 0, "an honest challenger lost a game");
        retried += r;
    }
    assert_eq!(honest.lost(), 0, "the honest submitter lost a response");

    // Every request final with the honest submitter's response; every lie disproven.
    let (honest_addr, liar_addr) = (net_addr(&net, "submitter"), net_addr(&net, "submitter2"));
    let views = v4status::requests(&observer).await.unwrap();
    assert_eq!(views.len(), n);
    let mut lies = 0;
    for r in &views {
        let finals: Vec<_> = r
            .responses
            .iter()
            .filter(|x| x.status == ResponseStatus::Finalized)
            .collect();
        assert_eq!(finals.len(), 1, "request {}: one final response", r.id);
        assert_eq!(finals[0].submitter, honest_addr, "request {}", r.id);
        for x in &r.responses {
            if x.submitter == liar_addr {
                assert_eq!(x.status, ResponseStatus::Disproven, "request {}", r.id);
                lies += 1;
            }
        }
    }
    assert_eq!(liar.lost(), lies, "the liar lost every lie");

    let mut latency: Vec<f64> = final_at
        .iter()
        .map(|(id, t)| (*t - posted[id]).as_secs_f64())
        .collect();
    latency.sort_by(f64::total_cmp);
    println!(
        "load: {n} requests ({liar_share} first answered by the liar; {lies} lies in all, every one disproven), \
         2 submitters, 2 challengers, chain clock x{speedup}"
    );
    println!(
        "load: posted in {:.1} s; all final {:.1} s after the first request; throughput {:.2} requests/s",
        posted_all.as_secs_f64(),
        all_final.as_secs_f64(),
        n as f64 / all_final.as_secs_f64()
    );
    println!(
        "load: request -> final (wall): p50 {:.1} s, p95 {:.1} s, max {:.1} s (includes the {} s window at x{speedup})",
        percentile(&latency, 0.5),
        percentile(&latency, 0.95),
        latency.last().unwrap(),
        super::common::WINDOW
    );
    println!("load: agent ticks retried: {retried}");
    println!(
        "load: resident memory (kB) by time (s): {}",
        rss.iter()
            .map(|(t, kb)| format!("{t}:{kb}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
}
