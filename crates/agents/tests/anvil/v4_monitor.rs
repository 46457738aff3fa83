//! The version-4 monitor (`zkopml monitor`) on a real anvil, against real agents: quiet on
//! an honest run; every alert fires, once, when the market goes against the truth — a wrong
//! response nobody challenges until it is final, and an honest challenger that stops playing
//! until it loses on time.

use alloy_primitives::U256;
use zkopml_agents::{
    v4::{
        monitor::{Alert, HonestSide, V4Monitor},
        V4Submitter,
    },
    Timeline,
};
use zkopml_chain::v4::GameStatus;
use zkopml_prover::templates::{ClipTemplate, Template};

use super::{
    common::{first_op, game_status, Net, BOND, FEE, WINDOW},
    v4_agents::{challenger, net_with_request, submitter},
};

/// Ticks `sub` until every response it made is settled (it finalises on one pass and sees
/// the response final on the next).
async fn until_idle(sub: &mut V4Submitter) {
    for _ in 0..10 {
        sub.tick().await.unwrap();
        if sub.idle() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("the submitter did not settle its response");
}

fn monitor(net: &Net, margin: u64) -> V4Monitor {
    let ctx = net.cfg.ctx("requester", Timeline::default()).unwrap();
    V4Monitor::new(ctx, margin)
}

/// The alerts' kinds, in order.
fn kinds(alerts: &[Alert]) -> Vec<&'static str> {
    alerts
        .iter()
        .map(|a| match a {
            Alert::WrongResponse { .. } => "wrong",
            Alert::WrongResponseUnchallenged { .. } => "unchallenged",
            Alert::WrongResponseFinalized { .. } => "finalized",
            Alert::RightResponseDisproven { .. } => "disproven",
            Alert::HonestSideMayLose { .. } => "may-lose",
            Alert::HonestSideLost { .. } => "lost",
            Alert::UnclaimedBalance { .. } => "unclaimed",
            Alert::CannotCheck { .. } => "cannot-check",
        })
        .collect()
}

/// An honest submitter answers, nobody challenges, the window passes, it finalises and
/// withdraws: the monitor re-checks the response by its own run and raises nothing, and
/// reports the market idle at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v4_monitor_stays_quiet_on_an_honest_run() {
    let (net, _, _) = net_with_request().await;
    let (mut sub, _) = submitter(&net, None);
    let mut mon = monitor(&net, 60);
    sub.tick().await.unwrap();
    assert_eq!(sub.responses(), 1);
    assert_eq!(mon.tick().await.unwrap(), vec![]);
    assert!(!mon.idle(), "a pending response is watched");
    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    chain.advance_time(WINDOW + 1).await.unwrap();
    until_idle(&mut sub).await;
    assert_eq!(mon.tick().await.unwrap(), vec![]);
    assert!(mon.idle());
    assert_eq!(mon.alerts(), 0);
}

/// A lying submitter's response with no challenger: the monitor flags it at once, again
/// (as unchallenged) once its window has less than the margin left, and once it is final;
/// each alert fires once however often the monitor looks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v4_monitor_alerts_on_a_wrong_response_nobody_challenges() {
    let (net, model, request) = net_with_request().await;
    let (mut sub, _) = submitter(&net, Some(first_op(&model, ClipTemplate::NAME)));
    let margin = 120;
    let mut mon = monitor(&net, margin);
    sub.tick().await.unwrap();
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["wrong"]);
    let Alert::WrongResponse {
        request: r,
        claimed,
        computed,
        open_games,
        ..
    } = &alerts[0]
    else {
        unreachable!()
    };
    assert_eq!((*r, *open_games), (request.to::<u64>(), 0));
    assert_ne!(claimed, computed);
    assert_eq!(mon.tick().await.unwrap(), vec![], "fired once");

    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    chain.advance_time(WINDOW - margin + 10).await.unwrap();
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["unchallenged"]);
    let Alert::WrongResponseUnchallenged { seconds_left, .. } = alerts[0] else {
        unreachable!()
    };
    assert!(seconds_left <= margin, "{seconds_left} s left");

    chain.advance_time(margin).await.unwrap();
    until_idle(&mut sub).await;
    assert_eq!(kinds(&mon.tick().await.unwrap()), ["finalized"]);
    assert_eq!(mon.alerts(), 3);
    assert!(mon.idle());
}

/// A lying submitter against an honest challenger that challenges and then stops playing:
/// once it is the challenger's move the monitor says the side that is right may lose (its
/// clock is inside the margin), and after the liar claims the timeout, that it lost (and
/// that the wrong response is unchallenged again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v4_monitor_alerts_when_the_right_side_stops_playing_and_loses_on_time() {
    let (net, model, _) = net_with_request().await;
    let (mut sub, _) = submitter(&net, Some(first_op(&model, ClipTemplate::NAME)));
    let (mut chal, _) = challenger(&net, None);
    // Larger than the clock per side (300 s): the first move of the right side is flagged.
    let mut mon = monitor(&net, 400);
    sub.tick().await.unwrap();
    chal.tick().await.unwrap();
    assert_eq!(chal.disputes(), 1, "challenged");
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["wrong"], "challenged, not unchallenged");
    // The liar commits its trace and reveals; the challenger (right) is to move, and stops.
    sub.tick().await.unwrap();
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["may-lose"]);
    let Alert::HonestSideMayLose {
        game,
        honest,
        seconds_left,
        ..
    } = &alerts[0]
    else {
        unreachable!()
    };
    assert_eq!((*game, *honest), (1, HonestSide::Challenger));
    assert!(*seconds_left > 0 && *seconds_left <= 300);

    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    chain.advance_time(301).await.unwrap();
    sub.tick().await.unwrap();
    assert_eq!(
        game_status(&chain, U256::from(1)).await,
        GameStatus::SubmitterWon,
        "the liar claimed the timeout"
    );
    // The game is lost, and the wrong response is now unchallenged again with less than
    // the margin left in its window: both are true, both fire.
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["unchallenged", "lost"]);
    assert!(matches!(
        alerts[1],
        Alert::HonestSideLost {
            game: 1,
            honest: HonestSide::Challenger,
            status: GameStatus::SubmitterWon,
            ..
        }
    ));
}

/// A response to a request whose input is not content the monitor can load (its CID is not
/// a CID): the monitor says once that it cannot check it, and keeps watching the rest.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v4_monitor_says_once_when_it_cannot_check_a_response() {
    let (net, model, _) = net_with_request().await;
    let requester = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let (bad, _) = zkopml_agents::v4::request(
        &requester.chain,
        model.id,
        alloy_primitives::B256::repeat_byte(7),
        U256::from(FEE),
    )
    .await
    .unwrap();
    let submitter = net.cfg.ctx("submitter", Timeline::default()).unwrap();
    zkopml_agents::v4::respond(
        &submitter.chain,
        bad,
        alloy_primitives::B256::repeat_byte(1),
        U256::from(BOND),
    )
    .await
    .unwrap();
    let mut mon = monitor(&net, 60);
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["cannot-check"]);
    assert_eq!(
        alerts[0],
        Alert::CannotCheck {
            request: bad.to::<u64>()
        }
    );
    assert_eq!(mon.tick().await.unwrap(), vec![], "fired once");
}

/// A requester cancels its unanswered request (the fee is credited, not sent) and does not
/// withdraw: once the balance has waited the margin the monitor says so, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v4_monitor_alerts_once_on_a_balance_left_unclaimed() {
    let (net, _, request) = net_with_request().await;
    let requester = net.cfg.ctx("requester", Timeline::default()).unwrap();
    let chain = &requester.chain;
    chain.advance_time(WINDOW + 1).await.unwrap();
    let m = chain.market_v4().unwrap();
    chain
        .send_v4("cancelRequest", m.cancelRequest(request))
        .await
        .unwrap();
    let margin = 100;
    let mut mon = monitor(&net, margin);
    assert_eq!(mon.tick().await.unwrap(), vec![], "owed, not yet for long");
    chain.advance_time(margin + 1).await.unwrap();
    let alerts = mon.tick().await.unwrap();
    assert_eq!(
        alerts,
        vec![Alert::UnclaimedBalance {
            account: chain.address,
            wei: U256::from(FEE)
        }]
    );
    assert_eq!(mon.tick().await.unwrap(), vec![], "fired once");
}

/// An honest submitter that answers and then stops playing, against a lying challenger: the
/// monitor says the right side may lose while its clock runs, and once the liar claims the
/// timeout, that the game was lost and a right response disproven.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_v4_monitor_alerts_when_a_right_response_is_disproven_on_time() {
    let (net, model, _) = net_with_request().await;
    let (mut sub, _) = submitter(&net, None);
    let (mut chal, _) = challenger(&net, Some(first_op(&model, ClipTemplate::NAME)));
    let mut mon = monitor(&net, 400);
    sub.tick().await.unwrap();
    chal.tick().await.unwrap();
    assert_eq!(chal.disputes(), 1, "the liar challenged");
    // The submitter (right) is to move first, and stops: its clock (300 s) is in the margin.
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["may-lose"]);
    assert!(matches!(
        alerts[0],
        Alert::HonestSideMayLose {
            game: 1,
            honest: HonestSide::Submitter,
            ..
        }
    ));

    let chain = net.cfg.ctx("requester", Timeline::default()).unwrap().chain;
    chain.advance_time(301).await.unwrap();
    chal.tick().await.unwrap();
    assert_eq!(
        game_status(&chain, U256::from(1)).await,
        GameStatus::ChallengerWon,
        "the liar claimed the timeout"
    );
    let alerts = mon.tick().await.unwrap();
    assert_eq!(kinds(&alerts), ["disproven", "lost"]);
    assert!(matches!(
        alerts[1],
        Alert::HonestSideLost {
            game: 1,
            honest: HonestSide::Submitter,
            status: GameStatus::ChallengerWon,
            ..
        }
    ));
}
