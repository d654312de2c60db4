//! `serve`'s lifecycle and delivery rules, driven over HTTP: a failing sink is retried,
//! then sources answer 503 with `Retry-After` until it recovers, and nothing it failed is
//! acknowledged; SIGTERM lets a request under way finish before exit 0; `stdin` drains
//! and exits at end of input; `watch` reloads changed rules and keeps the running ones
//! when the new set fails. Our binary only, so no `../shared` is needed; the shippers'
//! side of the same behaviour is in `tests/shippers.rs`.

mod procs;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use procs::{count_lines, post, scratch, sigma_transform, start_serve_with, wait_until};

const EVENT: &str = r##"{"Event":{"System":{"Channel":"System","EventID":7045,"Provider":{"#attributes":{"Name":"Service Control Manager"}}},"EventData":{"ServiceName":"PSEXESVC"}}}"##;

fn rules() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("rules/windows")
}

/// A downstream HTTP server: answers each request with the status `status(n)` for the
/// n-th request (0-based) after `delay`, and counts the event lines it was sent with a 200.
fn downstream(
    status: impl Fn(usize) -> u16 + Send + 'static,
    delay: Duration,
) -> (String, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let requests = Arc::new(AtomicUsize::new(0));
    let accepted = Arc::new(AtomicUsize::new(0));
    let (r, a) = (requests.clone(), accepted.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { return };
            conn.set_read_timeout(Some(Duration::from_secs(30)))
                .unwrap();
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut conn = conn;
            loop {
                let mut len = 0usize;
                let mut line = String::new();
                let mut started = false;
                loop {
                    line.clear();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    started = true;
                    if line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                }
                if !started {
                    break;
                }
                let mut body = vec![0u8; len];
                if reader.read_exact(&mut body).is_err() {
                    break;
                }
                let n = r.fetch_add(1, Ordering::SeqCst);
                std::thread::sleep(delay);
                let code = status(n);
                if code == 200 {
                    a.fetch_add(
                        body.iter().filter(|b| **b == b'\n').count(),
                        Ordering::SeqCst,
                    );
                }
                let answer = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
                if conn.write_all(answer.as_bytes()).is_err() {
                    break;
                }
            }
        }
    });
    (addr, requests, accepted)
}

fn http_to_http(port: u16, sink: &str, extra: &str) -> String {
    format!(
        r#"
[sources.in]
type = "http_server"
address = "127.0.0.1:{port}"
[transforms.sigma]
type = "sigma"
inputs = ["in"]
rules = [{:?}]
[sinks.down]
type = "http"
inputs = ["sigma"]
uri = "http://{sink}/"
encoding.codec = "json"
request.retry_attempts = 1
request.retry_initial_backoff_secs = 0.1
request.retry_max_duration_secs = 1.5
request.timeout_secs = 10
{extra}
"#,
        rules()
    )
}

/// The raw answer head to a POST: status and the `Retry-After` header.
fn post_head(addr: &str) -> (u16, Option<String>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = format!("{EVENT}\n");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut text = String::new();
    let _ = s.read_to_string(&mut text);
    let code = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
    let retry = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("retry-after")
            .then(|| v.trim().to_string())
    });
    (code, retry)
}

#[test]
fn a_failing_sink_is_retried_then_refuses_input_until_it_recovers() {
    let dir = scratch("sink-fails");
    // Fails the first 3 requests (the first batch and its retry, then one more), then 200.
    let (down, requests, accepted) = downstream(|n| if n < 3 { 500 } else { 200 }, Duration::ZERO);
    let mut serve = start_serve_with(&dir, &http_to_http(18801, &down, ""), 18801);
    let addr = "127.0.0.1:18801";
    // First try: one attempt and one retry, both 500: the request is refused, not dropped.
    let (code, retry) = post_head(addr);
    assert_eq!(code, 503);
    assert_eq!(
        requests.load(Ordering::SeqCst),
        2,
        "one attempt and one retry"
    );
    let retry: u64 = retry.expect("Retry-After").parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    // While the sink counts as failing, input is refused without touching it.
    let (code, _) = post_head(addr);
    assert_eq!(code, 503);
    assert_eq!(requests.load(Ordering::SeqCst), 2);
    // After the window, a queued batch gets one attempt (fails: the 3rd request), then the
    // sink recovers and the shipper's retry is delivered and acknowledged.
    let mut ok = false;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(600));
        if post_head(addr).0 == 200 {
            ok = true;
            break;
        }
    }
    assert!(ok, "serve took input again once its sink recovered");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "the acknowledged event was delivered"
    );
    let (status, stopped) = serve.terminate(Duration::from_secs(30));
    assert!(stopped && status.success());
    assert!(
        serve.log_text().contains("delivery failed"),
        "{}",
        serve.log_text()
    );
}

#[test]
fn sigterm_finishes_the_request_under_way_then_exits_zero() {
    let dir = scratch("drain");
    let (down, _, accepted) = downstream(|_| 200, Duration::from_millis(1500));
    let mut serve = start_serve_with(&dir, &http_to_http(18811, &down, ""), 18811);
    let client =
        std::thread::spawn(|| post("127.0.0.1:18811", "", format!("{EVENT}\n").as_bytes()));
    std::thread::sleep(Duration::from_millis(400));
    serve.signal("TERM");
    let answer = client.join().unwrap().unwrap();
    assert_eq!(
        answer.0, 200,
        "the request under way was finished: {answer:?}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let (status, stopped) = serve.terminate(Duration::from_secs(30));
    assert!(stopped && status.success(), "{}", serve.log_text());
    assert!(
        TcpStream::connect("127.0.0.1:18811").is_err(),
        "no longer listening"
    );
}

#[test]
fn stdin_source_drains_and_exits_at_end_of_input() {
    let dir = scratch("stdin");
    let out = dir.join("out.ndjson");
    std::fs::write(
        dir.join("serve.toml"),
        format!(
            "[sources.in]\ntype = \"stdin\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [{:?}]\n[sinks.out]\ntype = \"file\"\ninputs = [\"sigma\"]\npath = {:?}\nencoding.codec = \"json\"\n",
            rules(),
            out
        ),
    )
    .unwrap();
    let mut child = sigma_transform()
        .args(["serve", "--config"])
        .arg(dir.join("serve.toml"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..5000 {
        if i % 3 == 0 {
            writeln!(stdin, "{EVENT}").unwrap();
        } else {
            writeln!(stdin, "{{\"n\":{i}}}").unwrap();
        }
    }
    write!(stdin, "{{\"last\":\"no line break\"}}").unwrap();
    drop(stdin);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 5001);
    assert_eq!(text.matches("\"sigma\":").count(), 1667);
    assert!(text.ends_with("{\"last\":\"no line break\"}\n"));
}

const WATCHED: &str = r#"
title: Watched rule RULE_NAME
id: RULE_ID
status: test
level: high
author: tests
logsource: {product: windows, service: system}
detection:
    selection:
        EventID: 7045
        ServiceName: RULE_VALUE
    condition: selection
"#;

#[test]
fn watch_reloads_changed_rules_and_keeps_the_running_set_when_the_new_one_fails() {
    let dir = scratch("watch");
    let rules_dir = dir.join("rules");
    std::fs::create_dir_all(&rules_dir).unwrap();
    let rule = |name: &str, id: &str, value: &str| {
        WATCHED
            .replace("RULE_NAME", name)
            .replace("RULE_ID", id)
            .replace("RULE_VALUE", value)
    };
    let a = "aaaaaaaa-1111-4111-8111-000000000001";
    let b = "bbbbbbbb-1111-4111-8111-000000000002";
    std::fs::write(rules_dir.join("r.yml"), rule("A", a, "PSEXESVC")).unwrap();
    let out = dir.join("out.ndjson");
    let mut serve = start_serve_with(
        &dir,
        &format!(
            "[sources.in]\ntype = \"http_server\"\naddress = \"127.0.0.1:18821\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [\"rules\"]\n[sinks.out]\ntype = \"file\"\ninputs = [\"sigma\"]\npath = {out:?}\nencoding.codec = \"json\"\n[serve]\nwatch = true\nwatch_interval_secs = 0.2\n[api]\nenabled = true\naddress = \"127.0.0.1:18822\"\n"
        ),
        18821,
    );
    let send = |n: usize| {
        let (code, _) = post("127.0.0.1:18821", "", format!("{EVENT}\n").as_bytes()).unwrap();
        assert_eq!(code, 200);
        assert!(wait_until(Duration::from_secs(10), || count_lines(&out) >= n));
        let text = std::fs::read_to_string(&out).unwrap();
        text.lines().nth(n - 1).unwrap().to_string()
    };
    let metric = |name: &str| procs::metric("127.0.0.1:18822", name);
    assert!(send(1).contains(a));
    // A changed rule file is picked up without a signal.
    std::fs::write(rules_dir.join("r.yml"), rule("B", b, "psexesvc")).unwrap();
    assert!(wait_until(Duration::from_secs(10), || metric(
        "sigma_reloads_total{result=\"success\"}"
    ) >= 1));
    let tagged = send(2);
    assert!(tagged.contains(b) && !tagged.contains(a), "{tagged}");
    // A broken rule set (no rule loads) is refused: rule B keeps tagging.
    std::fs::write(rules_dir.join("r.yml"), "title: [unclosed").unwrap();
    assert!(wait_until(Duration::from_secs(10), || metric(
        "sigma_reloads_total{result=\"failure\"}"
    ) >= 1));
    assert!(send(3).contains(b));
    assert_eq!(metric("sigma_rules_loaded"), 1);
    let (status, stopped) = serve.terminate(Duration::from_secs(30));
    assert!(stopped && status.success());
    assert!(
        serve.log_text().contains("rule reload failed"),
        "{}",
        serve.log_text()
    );
}

/// Output `alerts` in mode `filter`: serve writes one alert document per match, each an
/// event of its own, and nothing else.
#[test]
fn alerts_output_sends_one_document_per_match() {
    let dir = scratch("alerts");
    let out = dir.join("out.ndjson");
    std::fs::write(
        dir.join("serve.toml"),
        format!(
            "[sources.in]\ntype = \"stdin\"\n[transforms.sigma]\ntype = \"sigma\"\ninputs = [\"in\"]\nrules = [{:?}]\noutput = \"alerts\"\nmode = \"filter\"\n[sinks.out]\ntype = \"file\"\ninputs = [\"sigma\"]\npath = {:?}\nencoding.codec = \"json\"\n",
            rules(),
            out
        ),
    )
    .unwrap();
    let mut child = sigma_transform()
        .args(["serve", "--config"])
        .arg(dir.join("serve.toml"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..30 {
        if i % 10 == 0 {
            writeln!(stdin, "{EVENT}").unwrap();
        } else {
            writeln!(stdin, "{{\"n\":{i}}}").unwrap();
        }
    }
    drop(stdin);
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "serve did not exit"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success());
    let text = std::fs::read_to_string(&out).unwrap();
    let docs: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        docs.len(),
        3,
        "one alert per matching event (one rule each): {text}"
    );
    for d in &docs {
        assert_eq!(d["event"]["kind"], "alert");
        assert_eq!(d["rule"]["id"], "05dbc954-2e98-4623-a653-c3fbd62f2867");
        assert_eq!(d["Event"]["EventData"]["ServiceName"], "PSEXESVC");
    }
}
