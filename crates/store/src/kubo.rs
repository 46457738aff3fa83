//! A content store backed by a kubo (go-ipfs) node's HTTP RPC API.
//!
//! `put` adds the bytes with `POST /api/v0/add` (CIDv1, raw leaves, the default 256 KiB
//! chunker, pinned) and checks that the CID the node reports is the one [`cid_of`]
//! computes here. `get` reads them back with `POST /api/v0/cat?arg=<cid>` — one endpoint
//! for single raw blocks and `dag-pb` trees alike, since `cat` returns the file bytes in
//! both cases — and recomputes their CID before returning them. The node is never trusted:
//! bytes it returns that do not hash to the CID asked for are an error.
//!
//! The HTTP client is `reqwest`'s blocking client. It must not run on a tokio worker
//! thread (its debug builds panic there), and the agents call the store from async code,
//! so every request runs on a short-lived thread of its own.

use std::io::Read;
use std::time::Duration;

use cid::Cid;
use reqwest::blocking::Client;
use sha2::{Digest, Sha256};

use crate::{cid_of, ContentStore, Result, StoreError, CHUNK_SIZE};

/// Default cap on the bytes `get` accepts for a `dag-pb` CID (1 GiB). A raw CID is capped
/// at [`CHUNK_SIZE`], the most a single raw leaf can hold.
pub const DEFAULT_MAX_SIZE: u64 = 1 << 30;
/// Default limit on one whole request, connection to last byte.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Cap on the JSON of an `add` answer and on the body of an error answer.
const MAX_JSON: u64 = 1 << 20;
const MAX_ERROR_BODY: u64 = 64 * 1024;
const RAW: u64 = 0x55;

/// A kubo node's RPC API used as a [`ContentStore`]. Cheap to clone (the HTTP client is
/// shared).
#[derive(Clone, Debug)]
pub struct KuboStore {
    /// Base URL without a trailing slash and without `/api/v0`.
    api: String,
    client: Client,
    max_size: u64,
}

impl KuboStore {
    /// A client of the RPC API at `api`, e.g. `http://127.0.0.1:5001` (a trailing `/` or
    /// `/api/v0` is accepted), with [`DEFAULT_TIMEOUT`]. Only `http` URLs are accepted:
    /// this build carries no TLS stack (reach a remote node through a tunnel). Nothing is
    /// sent until the first `put` or `get`.
    pub fn new(api: &str) -> Result<Self> {
        Self::with_timeout(api, DEFAULT_TIMEOUT)
    }

    /// Like [`KuboStore::new`] with a limit on each whole request.
    pub fn with_timeout(api: &str, timeout: Duration) -> Result<Self> {
        let bad = |reason: &str| StoreError::KuboUrl {
            url: api.to_string(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(api.trim()).map_err(|e| bad(&e.to_string()))?;
        if url.scheme() != "http" {
            return Err(bad(
                "only http:// is supported (no TLS in this build; use a tunnel for a remote node)",
            ));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(bad("a query or fragment has no place in the API base URL"));
        }
        let mut base = url.as_str().trim_end_matches('/').to_string();
        if let Some(stripped) = base.strip_suffix("/api/v0") {
            base = stripped.to_string();
        }
        let client = off_runtime(move || {
            Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(timeout)
                // The RPC API is an admin interface of a node the user runs: never send it
                // (and the bytes) through an environment-configured proxy.
                .no_proxy()
                .build()
        })?
        .map_err(|e| bad(&format!("cannot build an HTTP client: {e}")))?;
        Ok(Self {
            api: base,
            client,
            max_size: DEFAULT_MAX_SIZE,
        })
    }

    /// Caps the bytes `get` accepts for a `dag-pb` CID (default [`DEFAULT_MAX_SIZE`]).
    pub fn with_max_size(mut self, max_size: u64) -> Self {
        self.max_size = max_size;
        self
    }

    /// The API base URL in use (no trailing `/`, no `/api/v0`).
    pub fn api(&self) -> &str {
        &self.api
    }

    /// POSTs to `/api/v0/<call>` and returns the body of a 2xx answer, at most `limit`
    /// bytes.
    fn call(&self, call: &str, body: Option<(String, Vec<u8>)>, limit: u64) -> Result<Vec<u8>> {
        let url = format!("{}/api/v0/{call}", self.api);
        let client = self.client.clone();
        off_runtime(move || {
            let mut req = client.post(&url);
            if let Some((content_type, bytes)) = body {
                req = req
                    .header(reqwest::header::CONTENT_TYPE, content_type)
                    .body(bytes);
            }
            let unreachable = |source| StoreError::KuboUnreachable {
                url: url.clone(),
                source,
            };
            let mut resp = req.send().map_err(unreachable)?;
            let status = resp.status();
            if !status.is_success() {
                // Best effort: the status alone is the error if the body cannot be read.
                let body = read_limited(&mut resp, MAX_ERROR_BODY)
                    .map(|(b, _)| b)
                    .unwrap_or_default();
                return Err(StoreError::KuboStatus {
                    url: url.clone(),
                    status: status.as_u16(),
                    message: error_message(&body),
                });
            }
            let (bytes, complete) =
                read_limited(&mut resp, limit).map_err(|source| StoreError::KuboRead {
                    url: url.clone(),
                    source,
                })?;
            if !complete {
                return Err(StoreError::KuboTooLarge {
                    url: url.clone(),
                    limit,
                });
            }
            Ok(bytes)
        })?
    }
}

impl ContentStore for KuboStore {
    fn put(&self, bytes: &[u8]) -> Result<Cid> {
        let ours = cid_of(bytes);
        let (content_type, body) = multipart(&ours.to_string(), bytes);
        let answer = self.call(
            "add?cid-version=1&raw-leaves=true&pin=true&chunker=size-262144&hash=sha2-256&progress=false",
            Some((content_type, body)),
            MAX_JSON,
        )?;
        let node = added_cid(&answer).map_err(|reason| StoreError::KuboResponse {
            url: format!("{}/api/v0/add", self.api),
            reason,
        })?;
        if node != ours {
            return Err(StoreError::KuboCid {
                ours: ours.to_string(),
                node: node.to_string(),
            });
        }
        tracing::debug!(cid = %ours, bytes = bytes.len(), api = %self.api, "added to kubo");
        Ok(ours)
    }

    fn get(&self, cid: &Cid) -> Result<Vec<u8>> {
        let limit = if cid.codec() == RAW {
            CHUNK_SIZE as u64
        } else {
            self.max_size
        };
        let bytes = self.call(&format!("cat?arg={cid}"), None, limit)?;
        let actual = cid_of(&bytes);
        if actual != *cid {
            return Err(StoreError::Mismatch {
                expected: cid.to_string(),
                actual: actual.to_string(),
            });
        }
        tracing::debug!(cid = %cid, bytes = bytes.len(), api = %self.api, "read from kubo");
        Ok(bytes)
    }
}

/// Runs `f` on a thread of its own: the blocking client must not run on (or be built on)
/// a tokio worker thread.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> Result<T> {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("kubo-rpc".into())
            .spawn_scoped(s, f)
            .map_err(|source| StoreError::Io {
                path: "kubo RPC worker thread".into(),
                source,
            })?;
        Ok(worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    })
}

/// Reads at most `limit` bytes; `true` when the body ended within the limit.
fn read_limited(r: &mut impl Read, limit: u64) -> std::io::Result<(Vec<u8>, bool)> {
    let mut bytes = Vec::new();
    r.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    let complete = bytes.len() as u64 <= limit;
    bytes.truncate(limit as usize);
    Ok((bytes, complete))
}

/// The `Message` of a kubo error answer (`{"Message":..,"Code":..,"Type":"error"}`), or the
/// body as text when it is not that.
fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct KuboError {
        #[serde(rename = "Message")]
        message: String,
    }
    match serde_json::from_slice::<KuboError>(body) {
        Ok(e) => e.message,
        Err(_) => {
            let text = String::from_utf8_lossy(body).trim().to_string();
            if text.is_empty() {
                "(no message)".into()
            } else {
                text
            }
        }
    }
}

/// The CID in an `add` answer: newline-delimited JSON objects, the last one with a `Hash`
/// naming the added file.
fn added_cid(answer: &[u8]) -> core::result::Result<Cid, String> {
    #[derive(serde::Deserialize)]
    struct Added {
        #[serde(rename = "Hash")]
        hash: Option<String>,
    }
    let text = std::str::from_utf8(answer).map_err(|e| format!("answer is not UTF-8: {e}"))?;
    let mut last = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let added: Added =
            serde_json::from_str(line).map_err(|e| format!("bad JSON `{line}`: {e}"))?;
        if let Some(h) = added.hash {
            last = Some(h);
        }
    }
    let hash = last.ok_or_else(|| format!("no `Hash` in the answer `{}`", text.trim()))?;
    Cid::try_from(hash.as_str()).map_err(|e| format!("`Hash` {hash} is not a CID: {e}"))
}

/// A `multipart/form-data` body with one part, field `file`, holding `bytes`. The boundary
/// is derived from the bytes' SHA-256, so the bytes cannot contain it.
fn multipart(name: &str, bytes: &[u8]) -> (String, Vec<u8>) {
    let digest = Sha256::digest(bytes);
    let boundary: String = std::iter::once("zkopml-".to_string())
        .chain(digest[..24].iter().map(|b| format!("{b:02x}")))
        .collect();
    let mut body = Vec::with_capacity(bytes.len() + 256);
    body.extend_from_slice(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised_and_checked() {
        for ok in [
            "http://127.0.0.1:5001",
            "http://127.0.0.1:5001/",
            "http://127.0.0.1:5001/api/v0",
            "http://127.0.0.1:5001/api/v0/",
        ] {
            assert_eq!(KuboStore::new(ok).unwrap().api(), "http://127.0.0.1:5001");
        }
        for bad in ["", "127.0.0.1:5001", "https://node:5001", "http://h:1/?x=1"] {
            assert!(
                matches!(KuboStore::new(bad), Err(StoreError::KuboUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn add_answers_are_parsed_without_trusting_them() {
        let c = cid_of(b"x");
        let ok = format!("{{\"Name\":\"a\",\"Hash\":\"{c}\",\"Size\":\"1\"}}\n");
        assert_eq!(added_cid(ok.as_bytes()).unwrap(), c);
        assert!(added_cid(b"").is_err());
        assert!(added_cid(b"{\"Name\":\"a\"}").is_err());
        assert!(added_cid(b"{\"Hash\":\"nope\"}").is_err());
        assert!(added_cid(b"not json").is_err());
        assert!(added_cid(&[0xff, 0xfe]).is_err());
        assert_eq!(
            error_message(br#"{"Message":"boom","Code":0,"Type":"error"}"#),
            "boom"
        );
        assert_eq!(error_message(b" plain \n"), "plain");
        assert_eq!(error_message(b""), "(no message)");
    }

    #[test]
    fn read_limited_reports_overflow() {
        let (b, complete) = read_limited(&mut &b"abcd"[..], 4).unwrap();
        assert!(complete && b == b"abcd");
        let (b, complete) = read_limited(&mut &b"abcde"[..], 4).unwrap();
        assert!(!complete && b == b"abcd");
    }
}
