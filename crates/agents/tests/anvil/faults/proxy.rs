//! A test double for the network between the agents and anvil: an HTTP/1.1 proxy that
//! forwards each JSON-RPC request to the node and breaks some of them, deterministically by
//! request number and seed ([`fault`]).

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

/// What the proxy did.
#[derive(Debug, Default)]
pub(super) struct ProxyStats {
    /// Requests received.
    pub(super) requests: AtomicU64,
    /// Closed before forwarding.
    pub(super) dropped: AtomicU64,
    /// Forwarded, answer lost.
    pub(super) lost: AtomicU64,
    /// Held past the timeout, forwarded late.
    pub(super) delayed: AtomicU64,
}

/// How the proxy treats one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    /// Forwarded, answered.
    None,
    /// The connection is closed before the request is forwarded.
    Drop,
    /// Forwarded and executed; the connection is closed instead of answering.
    LoseAnswer,
    /// Held past the client's timeout, then forwarded (executed late), never answered.
    Delay,
}

/// The fate of request `n` (1-based, counted over all connections): every fifth fails, its
/// kind drawn from `seed` and `n` (one in eight a delay, three a lost answer, four a drop).
fn fault(seed: u64, n: u64) -> Fault {
    if !n.is_multiple_of(5) {
        return Fault::None;
    }
    // splitmix64
    let mut z = seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    match (z ^ (z >> 31)) % 8 {
        0 => Fault::Delay,
        1..=3 => Fault::LoseAnswer,
        _ => Fault::Drop,
    }
}

/// A test double for the network between the agents and anvil: an HTTP/1.1 proxy on a port
/// of its own that forwards each JSON-RPC request to the node and breaks some of them
/// ([`fault`]). One thread per client connection, one node connection per client
/// connection; stopped when dropped.
pub(super) struct FlakyProxy {
    port: u16,
    stop: Arc<AtomicBool>,
    /// What it did so far.
    pub(super) stats: Arc<ProxyStats>,
}

impl FlakyProxy {
    /// Listens on a port of its own, forwarding to the node at `upstream`
    /// (`http://ip:port`); a delayed request is held `delay`.
    pub(super) fn start(upstream: &str, seed: u64, delay: Duration) -> Self {
        let upstream: std::net::SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("an http://ip:port node URL");
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(ProxyStats::default());
        let (stop2, stats2) = (stop.clone(), stats.clone());
        std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let stats = stats2.clone();
                        std::thread::spawn(move || {
                            serve(client, upstream, seed, delay, &stats);
                        });
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => return,
                }
            }
        });
        Self { port, stop, stats }
    }

    /// Its URL, for a client.
    pub(super) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Serves one client connection until it closes or a fault closes it.
fn serve(
    mut client: TcpStream,
    upstream: std::net::SocketAddr,
    seed: u64,
    delay: Duration,
    stats: &ProxyStats,
) {
    client.set_nonblocking(false).ok();
    let mut node: Option<TcpStream> = None;
    let mut forward = |request: &[u8]| -> Option<Vec<u8>> {
        if node.is_none() {
            node = TcpStream::connect(upstream).ok();
        }
        let n = node.as_mut()?;
        if n.write_all(request).is_err() {
            node = None;
            return None;
        }
        let answer = read_message(n);
        if answer.is_none() {
            node = None;
        }
        answer
    };
    while let Some(request) = read_message(&mut client) {
        let n = stats.requests.fetch_add(1, Ordering::SeqCst) + 1;
        match fault(seed, n) {
            Fault::None => match forward(&request) {
                Some(answer) if client.write_all(&answer).is_ok() => {}
                _ => break,
            },
            Fault::Drop => {
                stats.dropped.fetch_add(1, Ordering::SeqCst);
                break;
            }
            Fault::LoseAnswer => {
                stats.lost.fetch_add(1, Ordering::SeqCst);
                forward(&request);
                break;
            }
            Fault::Delay => {
                stats.delayed.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(delay);
                forward(&request);
                break;
            }
        }
    }
    client.shutdown(Shutdown::Both).ok();
}

/// Reads one HTTP/1.1 message (a request or a response with `content-length`, as reqwest
/// and anvil send them): its head and body, as bytes. `None` at the end of the stream.
fn read_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let k = s.read(&mut chunk).ok()?;
        if k == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let k = s.read(&mut chunk).ok()?;
        if k == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..k]);
    }
    Some(buf)
}

#[test]
fn the_flaky_schedule_is_every_fifth_request_and_has_every_kind() {
    let faults: Vec<Fault> = (1..=400).map(|n| fault(super::SEED, n)).collect();
    assert!(faults
        .iter()
        .enumerate()
        .all(|(i, f)| (*f != Fault::None) == (i + 1).is_multiple_of(5)));
    for kind in [Fault::Drop, Fault::LoseAnswer, Fault::Delay] {
        assert!(faults.contains(&kind), "{kind:?} in the first 400");
    }
}
