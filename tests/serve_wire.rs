//! Hostile input on the wire to `serve`: oversized, truncated, compressed-bomb and
//! malformed HTTP requests, slow clients, thousands of idle connections, and malformed
//! forward-protocol messages. Each gets a clear answer (400, 404, 405, 413, 415, or its
//! connection closed), memory stays under a stated bound, serve never stops, and a
//! well-behaved client keeps being served throughout. Runs our binary only, so it needs
//! no `../shared`.

mod procs;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use procs::{count_lines, post, scratch, start_serve_with};

const EVENT: &str = r##"{"Event":{"System":{"Channel":"System","EventID":7045,"Provider":{"#attributes":{"Name":"Service Control Manager"}}},"EventData":{"ServiceName":"PSEXESVC","ImagePath":"%SystemRoot%\\PSEXESVC.exe"}}}"##;

/// Peak RSS bound for serve in these tests (1 MiB bodies, 8 MiB in flight).
const RSS_BOUND_KIB: u64 = 64 * 1024;

fn metrics(addr: &str) -> String {
    procs::http(
        addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
        Duration::from_secs(10),
    )
    .unwrap()
    .1
}

/// A well-behaved client: one event, answered 200 within 5 s (hostile clients hold their
/// connections for the 60 s idle timeout; 5 s leaves room for a loaded CI machine).
fn good_post(addr: &str) {
    let started = Instant::now();
    let (code, body) = post(addr, "", format!("{EVENT}\n").as_bytes()).unwrap();
    assert_eq!(code, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a good client waited {:?}",
        started.elapsed()
    );
}

fn gzip(bytes: &[u8], level: u32) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

#[test]
fn hostile_http_requests_get_clear_answers_and_others_are_served() {
    let dir = scratch("wire-http");
    let out = dir.join("out.ndjson");
    let mut serve = start_serve_with(
        &dir,
        &format!(
            r#"
[sources.in]
type = "http_server"
address = "127.0.0.1:18781"
max_body_bytes = 1048576
idle_timeout_secs = 2
max_connections = 4096
[transforms.sigma]
type = "sigma"
inputs = ["in"]
rules = [{:?}]
[sinks.out]
type = "file"
inputs = ["sigma"]
path = {:?}
encoding.codec = "json"
[serve]
max_in_flight_bytes = 8388608
[api]
enabled = true
address = "127.0.0.1:18782"
"#,
            procs_root().join("rules/windows"),
            out
        ),
        18781,
    );
    let addr = "127.0.0.1:18781";
    let mut good = 0;
    good_post(addr);
    good += 1;

    // A huge declared length is refused before any body is read.
    let started = Instant::now();
    let (code, body) = procs::http(
        addr,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n",
        b"",
        Duration::from_secs(10),
    )
    .unwrap();
    assert_eq!(code, 413, "{body}");
    assert!(started.elapsed() < Duration::from_secs(2));
    // A chunked body over the limit.
    let mut chunked = Vec::new();
    for _ in 0..40 {
        chunked.extend_from_slice(format!("{:x}\r\n", 65536).as_bytes());
        chunked.extend_from_slice(&[b' '; 65536]);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let r = procs::http(
        addr,
        "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        &chunked,
        Duration::from_secs(10),
    );
    // The answer comes before the whole body is read; the server may close first.
    if let Ok((code, body)) = r {
        assert_eq!(code, 413, "{body}");
    }
    good_post(addr);
    good += 1;

    // A truncated gzip body.
    let gz = gzip(format!("{EVENT}\n").repeat(200).as_bytes(), 6);
    let (code, body) = post(addr, "Content-Encoding: gzip\r\n", &gz[..gz.len() / 2]).unwrap();
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("gzip"), "{body}");
    // A gzip bomb: 256 MiB of zeros in ~256 KB, stopped at the 1 MiB decoded limit.
    let bomb = gzip(&vec![0u8; 256 << 20], 9);
    assert!(bomb.len() < 1 << 20);
    let started = Instant::now();
    let (code, body) = post(addr, "Content-Encoding: gzip\r\n", &bomb).unwrap();
    assert_eq!(code, 413, "{body}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A zstd body that is not zstd, an unknown encoding, a wrong method and path.
    let (code, _) = post(addr, "Content-Encoding: zstd\r\n", b"not zstd").unwrap();
    assert_eq!(code, 400);
    let (code, body) = post(addr, "Content-Encoding: br\r\n", b"x").unwrap();
    assert_eq!(code, 415, "{body}");
    let (code, _) = procs::http(
        addr,
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(code, 405);
    let (code, _) = procs::http(
        addr,
        "POST /elsewhere HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n",
        b"{}",
        Duration::from_secs(5),
    )
    .unwrap();
    assert_eq!(code, 404);
    // Garbage instead of HTTP closes that connection only.
    let mut junk = TcpStream::connect(addr).unwrap();
    junk.write_all(b"\x00\x01\x02 not http at all\r\n\r\n")
        .unwrap();
    junk.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = [0u8; 256];
    let n = junk.read(&mut buf).unwrap_or(0);
    assert!(n == 0 || String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 400"));
    good_post(addr);
    good += 1;

    // Lines that are not JSON pass through, counted; one answer for the whole body.
    let (code, _) = post(addr, "", format!("{EVENT}\nnot json\n[1,2]\n").as_bytes()).unwrap();
    assert_eq!(code, 200);
    good += 3;
    assert!(metrics("127.0.0.1:18782").contains("sigma_unparsed_events_total 2"));

    // An event serialized in `message` (a file source without a JSON codec) is matched as
    // itself; one of no known shape is counted.
    let wrapped = serde_json::json!({"message": EVENT, "host": "h"}).to_string();
    let (code, _) = post(
        addr,
        "",
        format!("{wrapped}\n{{\"host\":\"h\"}}\n").as_bytes(),
    )
    .unwrap();
    assert_eq!(code, 200);
    good += 2;
    let m = metrics("127.0.0.1:18782");
    assert!(m.contains("sigma_unwrapped_events_total 1"), "{m}");
    assert!(m.contains("sigma_unknown_shape_events_total 1"), "{m}");

    // A slow client trickling its headers is cut off; others are served meanwhile.
    let mut slow = TcpStream::connect(addr).unwrap();
    slow.write_all(b"POST / HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let mut cut = false;
    while started.elapsed() < Duration::from_secs(8) {
        if slow.write_all(b"X").is_err() {
            cut = true;
            break;
        }
        good_post(addr);
        good += 1;
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(cut, "a slow client kept its connection for 8 s");

    // Thousands of idle connections: a good client is still served at once, and the idle
    // ones are closed after the idle timeout.
    let idle: Vec<TcpStream> = (0..2000)
        .map(|_| TcpStream::connect(addr).unwrap())
        .collect();
    good_post(addr);
    good += 1;
    let rss_with_idle = serve.peak_rss_kib().unwrap();
    std::thread::sleep(Duration::from_secs(4));
    let mut closed = 0;
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        if matches!(s.read(&mut buf), Ok(0)) {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 2000,
        "idle connections closed after the idle timeout"
    );
    good_post(addr);
    good += 1;

    let peak = serve.peak_rss_kib().unwrap();
    let text = metrics("127.0.0.1:18782");
    let (status, stopped) = serve.terminate(Duration::from_secs(30));
    assert!(stopped && status.success(), "{}", serve.log_text());
    assert_eq!(count_lines(&out), good, "exactly the good events came out");
    assert!(peak < RSS_BOUND_KIB, "peak RSS {peak} KiB");
    for want in [
        "error_type=\"request_too_large\",stage=\"receiving\"",
        "error_type=\"decoding_failed\",stage=\"receiving\"",
        "error_type=\"path_not_found\"",
        "error_type=\"method_not_allowed\"",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    eprintln!(
        "hostile http: {good} good events out; peak RSS {:.1} MiB ({:.1} MiB with 2,000 idle connections), bound {} MiB",
        peak as f64 / 1024.0,
        rss_with_idle as f64 / 1024.0,
        RSS_BOUND_KIB / 1024
    );
}

fn procs_root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn pack(v: &rmpv::Value) -> Vec<u8> {
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, v).unwrap();
    out
}

/// A Forward mode message of one event with a chunk id.
fn forward_message(chunk: &str) -> Vec<u8> {
    use rmpv::Value;
    let record: Value = serde_json::from_str(EVENT).unwrap();
    pack(&Value::Array(vec![
        Value::from("win"),
        Value::Array(vec![Value::Array(vec![
            Value::from(1_700_000_000u64),
            record,
        ])]),
        Value::Map(vec![(Value::from("chunk"), Value::from(chunk))]),
    ]))
}

/// Sends a good message on a fresh connection and expects its ack.
fn acked(addr: &str, chunk: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(&forward_message(chunk)).unwrap();
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    let ack = rmpv::decode::read_value(&mut &buf[..n]).unwrap();
    assert_eq!(ack["ack"].as_str(), Some(chunk), "{ack}");
}

/// Sends `bytes` and expects the connection to be closed without an ack.
fn closed_without_ack(addr: &str, bytes: &[u8], what: &str) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(bytes);
    let mut buf = [0u8; 256];
    match s.read(&mut buf) {
        Ok(0) | Err(_) => {}
        Ok(n) => panic!("{what}: answered {:?}", &buf[..n]),
    }
}

#[test]
fn hostile_forward_messages_close_only_their_connection() {
    use rmpv::Value;
    let dir = scratch("wire-forward");
    let out = dir.join("out.ndjson");
    let mut serve = start_serve_with(
        &dir,
        &format!(
            r#"
[sources.in]
type = "fluent"
address = "127.0.0.1:18791"
max_message_bytes = 1048576
idle_timeout_secs = 2
[transforms.sigma]
type = "sigma"
inputs = ["in"]
rules = [{:?}]
[sinks.out]
type = "file"
inputs = ["sigma"]
path = {:?}
encoding.codec = "json"
[api]
enabled = true
address = "127.0.0.1:18792"
"#,
            procs_root().join("rules/windows"),
            out
        ),
        18791,
    );
    let addr = "127.0.0.1:18791";
    acked(addr, "first");
    closed_without_ack(addr, &[0xc1, 0x00], "reserved marker");
    closed_without_ack(addr, &vec![0x91; 10_000], "nesting 10,000 deep");
    closed_without_ack(addr, &pack(&Value::from("just a string")), "not a message");
    closed_without_ack(
        addr,
        &pack(&Value::Array(vec![
            Value::from("t"),
            Value::Binary(vec![1, 2, 3]),
            Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]),
        ])),
        "bad gzip entries",
    );
    // A compressed bomb: 64 MiB of packed entries in a small message.
    let entry = pack(&Value::Array(vec![
        Value::from(1),
        Value::Map(vec![(Value::from("k"), Value::from("v"))]),
    ]));
    let bomb = gzip(&entry.repeat((64 << 20) / entry.len()), 9);
    assert!(bomb.len() < 1 << 20);
    closed_without_ack(
        addr,
        &pack(&Value::Array(vec![
            Value::from("t"),
            Value::Binary(bomb),
            Value::Map(vec![(Value::from("compressed"), Value::from("gzip"))]),
        ])),
        "gzip bomb",
    );
    // A message over max_message_bytes: a 4 MiB string header.
    let mut big = vec![0x93, 0xa1, b't', 0xdb];
    big.extend_from_slice(&(4u32 << 20).to_be_bytes());
    big.extend(std::iter::repeat_n(b'a', 2 << 20));
    closed_without_ack(addr, &big, "message over the limit");
    acked(addr, "between");
    // A connection cut in the middle of a message, and an idle one.
    {
        let mut s = TcpStream::connect(addr).unwrap();
        let m = forward_message("cut");
        s.write_all(&m[..m.len() / 2]).unwrap();
    }
    let mut idle = TcpStream::connect(addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
    let mut buf = [0u8; 16];
    let started = Instant::now();
    assert!(matches!(idle.read(&mut buf), Ok(0) | Err(_)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "idle closed after ~2 s"
    );
    acked(addr, "last");
    let text = metrics("127.0.0.1:18792");
    let peak = serve.peak_rss_kib().unwrap();
    let (status, stopped) = serve.terminate(Duration::from_secs(30));
    assert!(stopped && status.success(), "{}", serve.log_text());
    assert_eq!(
        count_lines(&out),
        3,
        "the three acknowledged events, nothing else"
    );
    assert!(peak < RSS_BOUND_KIB, "peak RSS {peak} KiB");
    for want in [
        "error_type=\"parser_failed\"",
        "error_type=\"message_too_large\"",
        "error_type=\"idle_timeout\"",
        "error_type=\"connection_closed\"",
    ] {
        assert!(text.contains(want), "{want}\n{text}");
    }
    eprintln!(
        "hostile forward: 3 good messages acknowledged between 7 bad ones; peak RSS {:.1} MiB",
        peak as f64 / 1024.0
    );
}
