//! When an agent looks at the chain again: as soon as the node announces a new block over
//! a WebSocket subscription (`eth_subscribe("newHeads")`), and at the latest after a
//! heartbeat; by a plain timer when no WebSocket is configured or while it is down.
//!
//! The agents read the chain's state on every tick and never act on an announced header
//! itself, so a header missed while the socket was down loses nothing, and one announced
//! twice (a re-subscription) only causes one more read: the subscription says *when* to
//! look, the chain says *what* is there. The heartbeat is needed even with a live
//! subscription: a deadline passes with time, not with blocks, and a quiet chain mines none.
//!
//! A dropped socket (the node restarted, a proxy cut the connection) is noticed when the
//! subscription closes; the agent is woken at once (something may have happened unseen),
//! polls on the timer, and subscribes again every [`HeadStream::RESUBSCRIBE`] until the
//! node answers. Each change of state is logged once.

use std::time::{Duration, Instant};

use alloy::{
    network::Ethereum,
    providers::{Provider, RootProvider},
    pubsub::Subscription,
    rpc::{client::RpcClient, types::Header},
    transports::ws::WsConnect,
};
use serde::Serialize;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::{info, warn};

/// Why [`HeadStream::next`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The node announced this block (the newest of any announced since the last wake).
    Head(u64),
    /// The subscription closed: the node or the connection went away. Look now; the
    /// stream polls until it is subscribed again.
    Dropped,
    /// A subscription was (re)made: blocks mined since the last look were not announced
    /// to it. Look now.
    Subscribed,
    /// The timer: the poll interval without a subscription, the heartbeat with one.
    Timer,
}

/// What a [`HeadStream`] saw so far (for logs and tests).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeadStats {
    /// Subscriptions made (the first, then one per re-subscription).
    pub subscribed: u32,
    /// Subscriptions that closed under the agent.
    pub dropped: u32,
    /// Block headers announced.
    pub heads: u64,
}

/// An agent's wake-ups: new heads over a WebSocket with a heartbeat, or a timer.
pub struct HeadStream {
    /// The node's WebSocket URL (`None`: the timer only).
    url: Option<String>,
    /// The live subscription and the client that carries it.
    sub: Option<(RootProvider<Ethereum>, Subscription<Header>)>,
    /// The timer without a subscription.
    poll: Duration,
    /// The longest wait with one.
    heartbeat: Duration,
    /// No subscription attempt before this instant (after a failed one).
    retry_at: Option<Instant>,
    /// A failed attempt was logged and no subscription has succeeded since.
    down_logged: bool,
    stats: HeadStats,
}

impl std::fmt::Debug for HeadStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadStream")
            .field("url", &self.url.as_deref().map(redact))
            .field("subscribed", &self.sub.is_some())
            .field("stats", &self.stats)
            .finish()
    }
}

impl HeadStream {
    /// The pause between subscription attempts while the WebSocket is down.
    pub const RESUBSCRIBE: Duration = Duration::from_secs(2);
    /// The longest wait for the WebSocket handshake and the subscription's answer.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Wakes every `poll`, without a WebSocket.
    pub fn polling(poll: Duration) -> Self {
        Self {
            url: None,
            sub: None,
            poll,
            heartbeat: poll,
            retry_at: None,
            down_logged: false,
            stats: HeadStats::default(),
        }
    }

    /// Wakes on each new head announced at the WebSocket `url` and at least every
    /// `heartbeat`; every `poll` while the socket is down. Connects on the first
    /// [`HeadStream::next`].
    pub fn websocket(url: impl Into<String>, poll: Duration, heartbeat: Duration) -> Self {
        Self {
            url: Some(url.into()),
            heartbeat,
            ..Self::polling(poll)
        }
    }

    /// What was seen so far.
    pub fn stats(&self) -> HeadStats {
        self.stats
    }

    /// Whether a subscription is live now.
    pub fn subscribed(&self) -> bool {
        self.sub.is_some()
    }

    /// Waits for the next reason to look at the chain.
    pub async fn next(&mut self) -> Wake {
        if self.sub.is_none() && self.subscribe().await {
            return Wake::Subscribed;
        }
        let Some((_, sub)) = self.sub.as_mut() else {
            tokio::time::sleep(self.poll).await;
            return Wake::Timer;
        };
        let first = match tokio::time::timeout(self.heartbeat, sub.recv()).await {
            Err(_elapsed) => return Wake::Timer,
            Ok(first) => first,
        };
        let mut newest = match first {
            Ok(header) => Some(header.number),
            // Headers were announced faster than read: some were skipped, not lost.
            Err(RecvError::Lagged(_)) => None,
            Err(RecvError::Closed) => return self.dropped(),
        };
        self.stats.heads += u64::from(newest.is_some());
        // Headers that queued up while the agent worked wake it once, not once each.
        loop {
            match sub.try_recv() {
                Ok(header) => {
                    self.stats.heads += 1;
                    newest = Some(header.number);
                }
                Err(TryRecvError::Lagged(_)) => {}
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Closed) => return self.dropped(),
            }
        }
        newest.map_or(Wake::Timer, Wake::Head)
    }

    /// Forgets the closed subscription: polls from now on, subscribes again after
    /// [`HeadStream::RESUBSCRIBE`].
    fn dropped(&mut self) -> Wake {
        self.sub = None;
        self.stats.dropped += 1;
        self.retry_at = Some(Instant::now() + Self::RESUBSCRIBE);
        let url = self.url.as_deref().map(redact).unwrap_or_default();
        warn!(
            url,
            "the node's new-heads subscription closed; polling every {:?} until it is back",
            self.poll
        );
        self.down_logged = true;
        Wake::Dropped
    }

    /// Subscribes to new heads at the URL, unless there is none or the last attempt was
    /// too recent; whether it subscribed.
    async fn subscribe(&mut self) -> bool {
        let Some(url) = self.url.clone() else {
            return false;
        };
        if self.retry_at.is_some_and(|t| Instant::now() < t) {
            return false;
        }
        match tokio::time::timeout(Self::CONNECT_TIMEOUT, connect(&url)).await {
            Ok(Ok(sub)) => {
                self.sub = Some(sub);
                self.retry_at = None;
                self.stats.subscribed += 1;
                let url = redact(&url);
                if self.stats.subscribed == 1 {
                    info!(url, "subscribed to the node's new heads");
                } else {
                    warn!(
                        url,
                        "subscribed to the node's new heads again ({} drop(s) so far)",
                        self.stats.dropped
                    );
                }
                self.down_logged = false;
                true
            }
            failed => {
                let reason = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer in {:?}", Self::CONNECT_TIMEOUT),
                };
                if !self.down_logged {
                    warn!(
                        url = redact(&url),
                        reason,
                        "no new-heads subscription; polling every {:?} and trying again every {:?}",
                        self.poll,
                        Self::RESUBSCRIBE
                    );
                    self.down_logged = true;
                }
                self.retry_at = Some(Instant::now() + Self::RESUBSCRIBE);
                false
            }
        }
    }
}

/// A WebSocket client at `url` and its new-heads subscription. The client gives up after
/// its first failed reconnection, so a dropped socket closes the subscription and
/// [`HeadStream`] (which logs and polls meanwhile) subscribes again itself.
async fn connect(
    url: &str,
) -> Result<(RootProvider<Ethereum>, Subscription<Header>), alloy::transports::TransportError> {
    let ws = WsConnect::new(url).with_max_retries(1);
    let client = RpcClient::connect_pubsub(ws).await?;
    let provider = RootProvider::<Ethereum>::new(client);
    let sub = provider.subscribe_blocks().await?;
    Ok((provider, sub))
}

/// `url` without its path, query and credentials (hosted nodes put API keys there), for
/// logs.
pub fn redact(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let elided = if authority.len() < rest.len() || host.len() < authority.len() {
        "/…"
    } else {
        ""
    };
    if scheme.is_empty() {
        format!("{host}{elided}")
    } else {
        format!("{scheme}://{host}{elided}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logged_url_keeps_scheme_host_and_port_only() {
        assert_eq!(redact("ws://127.0.0.1:8545"), "ws://127.0.0.1:8545");
        assert_eq!(
            redact("wss://eth-mainnet.example/v2/SECRETKEY"),
            "wss://eth-mainnet.example/…"
        );
        assert_eq!(
            redact("wss://user:pass@node.example:443"),
            "wss://node.example:443/…"
        );
        assert_eq!(redact("ws://h?key=SECRET"), "ws://h/…");
    }

    #[tokio::test]
    async fn without_a_websocket_it_wakes_on_the_timer_only() {
        let mut heads = HeadStream::polling(Duration::from_millis(5));
        assert_eq!(heads.next().await, Wake::Timer);
        assert!(!heads.subscribed());
        assert_eq!(heads.stats(), HeadStats::default());
    }

    #[tokio::test]
    async fn a_websocket_nobody_serves_falls_back_to_polling() {
        // A port nothing listens on: bound, then closed.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut heads = HeadStream::websocket(
            format!("ws://127.0.0.1:{port}"),
            Duration::from_millis(5),
            Duration::from_secs(60),
        );
        let started = Instant::now();
        assert_eq!(heads.next().await, Wake::Timer);
        assert_eq!(heads.next().await, Wake::Timer);
        assert!(!heads.subscribed());
        assert_eq!(heads.stats().subscribed, 0);
        // Polled on the timer, not on the 60 s heartbeat.
        assert!(started.elapsed() < Duration::from_secs(30));
    }
}
