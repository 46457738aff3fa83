//! `KuboStore` against a test double: an in-process HTTP server imitating the two kubo RPC
//! endpoints the store calls (`/api/v0/add`, `/api/v0/cat`), in the shapes kubo answers
//! with (chunked bodies, newline-delimited JSON, `{"Message","Code","Type"}` errors). No
//! kubo binary is needed.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use zkopml_store::{cid_of, AnyStore, Cid, ContentStore, KuboStore, StoreError, CHUNK_SIZE};

/// How the double misbehaves.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Like kubo with default import settings.
    Honest,
    /// `cat` returns other bytes than were added.
    CorruptCat,
    /// `cat` returns more bytes than any raw block can hold.
    HugeCat,
    /// `add` reports another CID than the bytes have (a node that chunks differently).
    OtherCid,
    /// `add` answers 200 with a body that is not JSON.
    BadJson,
    /// `add` answers HTTP 500 with a kubo error object.
    Fail500,
}

const FAIL_MESSAGE: &str = "failed to get block for bafkqaaa: context canceled";

struct Double {
    url: String,
    /// Every query string `add` received.
    add_queries: Arc<Mutex<Vec<String>>>,
}

impl Double {
    fn start(mode: Mode) -> Double {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let add_queries = Arc::new(Mutex::new(Vec::new()));
        let queries = add_queries.clone();
        std::thread::spawn(move || {
            let mut blobs: HashMap<String, Vec<u8>> = HashMap::new();
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                serve(conn, mode, &mut blobs, &queries);
            }
        });
        Double { url, add_queries }
    }
}

/// The CID kubo gives `bytes`, computed independently of `cid_of` for a single raw block
/// (`b` + base32 of version 1, codec raw, sha2-256 multihash); larger files fall back to
/// `cid_of` (the dag-pb layout is covered by the crate's own vectors).
fn kubo_cid(bytes: &[u8]) -> String {
    if bytes.len() > CHUNK_SIZE {
        return cid_of(bytes).to_string();
    }
    let mut raw = vec![0x01, 0x55, 0x12, 0x20];
    raw.extend_from_slice(&Sha256::digest(bytes));
    let alphabet = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut out = String::from("b");
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in raw {
        acc = acc << 8 | b as u32;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(alphabet[(acc >> bits & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(alphabet[(acc << (5 - bits) & 31) as usize] as char);
    }
    out
}

fn respond(conn: &mut TcpStream, status: &str, body: &[u8], chunked: bool) {
    let mut out =
        format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nConnection: close\r\n");
    if chunked {
        // kubo streams `add` and `cat` answers.
        out.push_str("Transfer-Encoding: chunked\r\nX-Stream-Output: 1\r\n\r\n");
        let mut bytes = out.into_bytes();
        for chunk in body.chunks(100_000) {
            bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
            bytes.extend_from_slice(chunk);
            bytes.extend_from_slice(b"\r\n");
        }
        bytes.extend_from_slice(b"0\r\n\r\n");
        let _ = conn.write_all(&bytes);
    } else {
        out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(body);
        let _ = conn.write_all(&bytes);
    }
}

fn kubo_error(conn: &mut TcpStream, status: &str, message: &str) {
    let body = serde_json::json!({"Message": message, "Code": 0, "Type": "error"}).to_string();
    respond(conn, status, body.as_bytes(), false);
}

/// The bytes of the single `file` part of a multipart body.
fn file_part(content_type: &str, body: &[u8]) -> Option<Vec<u8>> {
    let boundary = content_type.split("boundary=").nth(1)?.trim_matches('"');
    let head_end = find(body, b"\r\n\r\n")? + 4;
    let head = std::str::from_utf8(&body[..head_end]).ok()?;
    if !head.starts_with(&format!("--{boundary}\r\n")) || !head.contains("name=\"file\"") {
        return None;
    }
    let tail = format!("\r\n--{boundary}--\r\n");
    body[head_end..]
        .strip_suffix(tail.as_bytes())
        .map(<[u8]>::to_vec)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn serve(
    mut conn: TcpStream,
    mode: Mode,
    blobs: &mut HashMap<String, Vec<u8>>,
    add_queries: &Mutex<Vec<String>>,
) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).is_err() || line == "\r\n" || line.is_empty() {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "POST" {
        return kubo_error(&mut conn, "405 Method Not Allowed", "only POST is allowed");
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    match path {
        "/api/v0/add" => {
            add_queries.lock().unwrap().push(query.to_string());
            if mode == Mode::Fail500 {
                return kubo_error(&mut conn, "500 Internal Server Error", FAIL_MESSAGE);
            }
            if mode == Mode::BadJson {
                return respond(&mut conn, "200 OK", b"<html>proxy says hi</html>", false);
            }
            for want in ["cid-version=1", "raw-leaves=true", "pin=true"] {
                if !query.split('&').any(|kv| kv == want) {
                    return kubo_error(&mut conn, "400 Bad Request", &format!("want {want}"));
                }
            }
            let content_type = headers.get("content-type").cloned().unwrap_or_default();
            let Some(file) = file_part(&content_type, &body) else {
                return kubo_error(
                    &mut conn,
                    "400 Bad Request",
                    "file argument 'path' is required",
                );
            };
            let cid = kubo_cid(&file);
            let reported = if mode == Mode::OtherCid {
                // What a node with another chunker would say: a CID of other bytes.
                kubo_cid(&[file.as_slice(), b"-rechunked"].concat())
            } else {
                cid.clone()
            };
            blobs.insert(cid, file.clone());
            let line =
                serde_json::json!({"Name": "f", "Hash": reported, "Size": file.len().to_string()});
            respond(&mut conn, "200 OK", format!("{line}\n").as_bytes(), true);
        }
        "/api/v0/cat" => {
            let arg = query
                .split('&')
                .find_map(|kv| kv.strip_prefix("arg="))
                .unwrap_or("");
            let Some(bytes) = blobs.get(arg).cloned() else {
                return kubo_error(
                    &mut conn,
                    "500 Internal Server Error",
                    &format!("block was not found locally (offline): ipld: could not find {arg}"),
                );
            };
            let bytes = match mode {
                Mode::CorruptCat => [bytes.as_slice(), b"!"].concat(),
                Mode::HugeCat => vec![0; CHUNK_SIZE + 10],
                _ => bytes,
            };
            respond(&mut conn, "200 OK", &bytes, true);
        }
        _ => kubo_error(&mut conn, "404 Not Found", "404 page not found"),
    }
}

#[test]
fn test_double_put_get_round_trip() {
    let double = Double::start(Mode::Honest);
    let store = KuboStore::new(&format!("{}/api/v0/", double.url)).unwrap();
    // Published vectors (`ipfs add --cid-version 1 --raw-leaves`): the empty file and
    // "hello world" without a newline.
    for (bytes, want) in [
        (
            &b""[..],
            "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
        ),
        (
            b"hello world",
            "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e",
        ),
    ] {
        let cid = store.put(bytes).unwrap();
        assert_eq!(cid.to_string(), want);
        assert_eq!(cid, cid_of(bytes));
        assert_eq!(store.get(&cid).unwrap(), bytes);
    }
    // A multi-chunk file (dag-pb root), every byte value, a boundary-like line inside.
    let mut big: Vec<u8> = (0..CHUNK_SIZE * 3 + 17)
        .map(|i| (i * 31 % 256) as u8)
        .collect();
    big[1000..1012].copy_from_slice(b"\r\n--zkopml-\r");
    let cid = store.put(&big).unwrap();
    assert_eq!(cid, cid_of(&big));
    assert_eq!(cid.codec(), 0x70);
    assert_eq!(store.get(&cid).unwrap(), big);
    // Content the node does not have: kubo's error message comes through.
    let missing = cid_of(b"never added");
    match store.get(&missing) {
        Err(e @ StoreError::KuboStatus { status: 500, .. }) => {
            assert!(e.to_string().contains("could not find"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    // Every add asked for what `cid_of` computes, pinned.
    for q in double.add_queries.lock().unwrap().iter() {
        assert!(
            q.contains("cid-version=1") && q.contains("raw-leaves=true"),
            "{q}"
        );
        assert!(
            q.contains("pin=true") && q.contains("chunker=size-262144"),
            "{q}"
        );
    }
}

#[test]
fn test_double_corrupt_bytes_on_cat_are_rejected_naming_the_cid() {
    let double = Double::start(Mode::CorruptCat);
    let store = KuboStore::new(&double.url).unwrap();
    let cid = store.put(b"model bytes").unwrap();
    let err = store.get(&cid).unwrap_err();
    match &err {
        StoreError::Mismatch { expected, actual } => {
            assert_eq!(*expected, cid.to_string());
            assert_eq!(*actual, cid_of(b"model bytes!").to_string());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(&cid.to_string()), "{err}");
    assert!(!err.is_node_error() && !err.is_retryable());
}

#[test]
fn test_double_oversized_cat_for_a_raw_cid_is_rejected() {
    let double = Double::start(Mode::HugeCat);
    let store = KuboStore::new(&double.url).unwrap();
    let cid = store.put(b"small").unwrap();
    match store.get(&cid) {
        Err(StoreError::KuboTooLarge { url, limit }) => {
            assert_eq!(limit, CHUNK_SIZE as u64);
            assert!(url.contains(&cid.to_string()), "{url}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_double_node_reporting_another_cid_on_add_is_rejected() {
    let double = Double::start(Mode::OtherCid);
    let store = KuboStore::new(&double.url).unwrap();
    let err = store.put(b"weights").unwrap_err();
    let ours = cid_of(b"weights").to_string();
    let node = cid_of(b"weights-rechunked").to_string();
    match &err {
        StoreError::KuboCid { ours: o, node: n } => {
            assert_eq!((o, n), (&ours, &node));
        }
        other => panic!("{other:?}"),
    }
    let text = err.to_string();
    assert!(text.contains(&ours) && text.contains(&node), "{text}");
    assert!(err.is_node_error());
}

#[test]
fn test_double_http_500_carries_kubo_message() {
    let double = Double::start(Mode::Fail500);
    let store = KuboStore::new(&double.url).unwrap();
    let err = store.put(b"anything").unwrap_err();
    match &err {
        StoreError::KuboStatus {
            url,
            status,
            message,
        } => {
            assert_eq!(*status, 500);
            assert_eq!(message, FAIL_MESSAGE);
            assert!(
                url.starts_with(&format!("{}/api/v0/add?", double.url)),
                "{url}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains(FAIL_MESSAGE), "{err}");
    assert!(err.is_node_error() && !err.is_retryable());
}

#[test]
fn test_double_bad_json_on_add_is_a_typed_error() {
    let double = Double::start(Mode::BadJson);
    let store = KuboStore::new(&double.url).unwrap();
    match store.put(b"anything") {
        Err(StoreError::KuboResponse { url, reason }) => {
            assert!(url.ends_with("/api/v0/add"), "{url}");
            assert!(reason.contains("bad JSON"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn test_double_unreachable_url_is_named() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let store = KuboStore::new(&format!("http://{addr}")).unwrap();
    for err in [
        store.put(b"x").unwrap_err(),
        store.get(&cid_of(b"x")).unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::KuboUnreachable { .. }), "{err:?}");
        assert!(err.to_string().contains(&addr.to_string()), "{err}");
        assert!(err.is_retryable() && err.is_node_error());
    }
}

/// The agents call the store from async code: building, using and dropping the store on a
/// tokio runtime thread must work (the blocking client runs on threads of its own).
#[test]
fn test_double_inside_a_tokio_runtime() {
    let double = Double::start(Mode::Honest);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let got: Vec<u8> = rt.block_on(async {
        let store = AnyStore::from(KuboStore::new(&double.url).unwrap());
        let cid: Cid = store.put(b"from async").unwrap();
        let bytes = store.get(&cid).unwrap();
        drop(store);
        bytes
    });
    assert_eq!(got, b"from async");
}
