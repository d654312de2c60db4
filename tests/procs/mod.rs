//! Processes that the end-to-end tests start: our binary and the stock shippers. Every
//! process is stopped by its pid (SIGTERM, then SIGKILL after a bounded wait, and always
//! on drop), every wait is bounded in time, and everything listens on 127.0.0.1.

#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// A running process, stopped when dropped.
pub struct Proc {
    pub name: String,
    child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Starts `cmd` with standard output and error in `<dir>/<name>.log`.
    pub fn start(name: &str, dir: &Path, cmd: &mut Command) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let out = File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap_or_else(|e| panic!("start {name}: {e}"));
        Proc {
            name: name.into(),
            child,
            log,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends a signal by pid.
    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([format!("-{sig}"), self.pid().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{sig} {}", self.name);
    }

    /// Whether it is still running.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGTERM, then waits up to `limit`; SIGKILL after that. Returns the exit status and
    /// whether it stopped within the limit.
    pub fn terminate(&mut self, limit: Duration) -> (ExitStatus, bool) {
        if let Some(s) = self.child.try_wait().unwrap() {
            return (s, true);
        }
        self.signal("TERM");
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(s) = self.child.try_wait().unwrap() {
                return (s, true);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        (self.child.wait().unwrap(), false)
    }

    /// SIGKILL, at once.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Peak resident memory (VmHWM) in KiB, while it runs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// The process's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Polls `f` every 50 ms until it holds or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    loop {
        if f() {
            return true;
        }
        if started.elapsed() >= limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `addr` accepts TCP connections.
pub fn wait_port(addr: &str, limit: Duration) -> bool {
    wait_until(limit, || std::net::TcpStream::connect(addr).is_ok())
}

/// Lines in a file (0 when it does not exist yet).
pub fn count_lines(path: &Path) -> usize {
    std::fs::read(path)
        .map(|b| b.iter().filter(|c| **c == b'\n').count())
        .unwrap_or(0)
}

/// Our binary.
pub fn sigma_transform() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sigma-transform"))
}

/// Starts `serve --config config` and waits until it listens on `port` (and is the one
/// listening, not a leftover of something else).
pub fn start_serve(dir: &Path, name: &str, config: &Path, port: u16) -> Proc {
    let mut p = Proc::start(
        name,
        dir,
        sigma_transform().args(["serve", "--config"]).arg(config),
    );
    assert!(
        wait_port(&format!("127.0.0.1:{port}"), Duration::from_secs(20)),
        "{}",
        p.log_text()
    );
    assert!(p.running(), "serve is the listener: {}", p.log_text());
    p
}

/// Writes `config` to `<dir>/serve.toml` and starts serve on it.
pub fn start_serve_with(dir: &Path, config: &str, port: u16) -> Proc {
    std::fs::write(dir.join("serve.toml"), config).unwrap();
    start_serve(dir, "serve", &dir.join("serve.toml"), port)
}

/// A fresh scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sigma-transform-e2e-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Sends one HTTP/1.1 request on a fresh connection and returns (status, body).
pub fn http(
    addr: &str,
    head: &str,
    body: &[u8],
    limit: Duration,
) -> std::io::Result<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr)?;
    s.set_read_timeout(Some(limit))?;
    s.set_write_timeout(Some(limit))?;
    s.write_all(head.as_bytes())?;
    s.write_all(body)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                answer.extend_from_slice(&buf[..n]);
                if let Some(status) = complete_response(&answer) {
                    return Ok(status);
                }
            }
            Err(e) => return Err(e),
        }
    }
    complete_response(&answer).ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("incomplete answer: {}", String::from_utf8_lossy(&answer)),
        )
    })
}

/// POSTs `body` to `http://addr/` with the given extra headers.
pub fn post(addr: &str, headers: &str, body: &[u8]) -> std::io::Result<(u16, String)> {
    let head = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\n{headers}Connection: close\r\n\r\n",
        body.len()
    );
    http(addr, &head, body, Duration::from_secs(30))
}

/// (status, body) once a response with a Content-Length body is complete.
fn complete_response(bytes: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(bytes);
    let head_end = text.find("\r\n\r\n")?;
    let status: u16 = text.get(9..12)?.parse().ok()?;
    let len: usize = text[..head_end]
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let body = &text[head_end + 4..];
    (body.len() >= len).then(|| (status, body.to_string()))
}

/// The value of the first line of `GET /metrics` on `api` that starts with `name` (0 when
/// there is none).
pub fn metric(api: &str, name: &str) -> u64 {
    let text = http(
        api,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"",
        Duration::from_secs(5),
    )
    .map(|r| r.1)
    .unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `serve` with a `stdin` source over `input` until it exits at end of input.
pub fn serve_stdin(dir: &Path, config: &str, input: &str) {
    use std::io::Write as _;
    std::fs::write(dir.join("serve.toml"), config).unwrap();
    let mut child = sigma_transform()
        .args(["serve", "--config"])
        .arg(dir.join("serve.toml"))
        .stdin(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.join("serve.log")).unwrap())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve did not exit at end of input");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        status.success(),
        "{}",
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
}
