//! The `http` sink: NDJSON POSTs (`Content-Type: application/x-ndjson`) over HTTP/1.1
//! keep-alive, to Vector's `http_server` source or Fluent Bit's `http` input. A request is
//! delivered when it is answered 2xx; anything else is an error that the sink task
//! retries. Plain `http://` only (serve sits beside the shipper, on the same host).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::super::config::BatchConfig;
use super::super::event::Event;
use super::runs;

/// Where requests go, read from `uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port` to connect to.
    pub connect: String,
    /// The `Host` header.
    pub authority: String,
    /// Path and query.
    pub path: String,
}

/// Reads an `http://host[:port][/path]` URI.
pub fn parse_uri(uri: &str) -> Result<Target, String> {
    let parsed: hyper::Uri = uri.parse().map_err(|e| format!("uri {uri:?}: {e}"))?;
    match parsed.scheme_str() {
        Some("http") => {}
        Some(other) => {
            return Err(format!(
                "uri {uri:?}: scheme {other} is not supported (only http)"
            ));
        }
        None => return Err(format!("uri {uri:?}: give http://host:port/path")),
    }
    let authority = parsed
        .authority()
        .ok_or_else(|| format!("uri {uri:?}: no host"))?;
    let port = authority.port_u16().unwrap_or(80);
    Ok(Target {
        connect: format!("{}:{port}", authority.host()),
        authority: authority.to_string(),
        path: parsed
            .path_and_query()
            .map_or("/".to_string(), |p| p.to_string()),
    })
}

pub struct HttpSink {
    target: Result<Target, String>,
    batch: BatchConfig,
    conn: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
}

impl HttpSink {
    pub fn new(uri: &str, batch: BatchConfig, timeout_secs: f64) -> HttpSink {
        HttpSink {
            target: parse_uri(uri),
            batch,
            conn: None,
            timeout: Duration::from_secs_f64(timeout_secs.max(0.001)),
        }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, String> {
        let target = self.target.as_ref().map_err(Clone::clone)?;
        if let Some(c) = &mut self.conn
            && c.ready().await.is_ok()
        {
            return Ok(self.conn.as_mut().expect("checked above"));
        }
        let stream = TcpStream::connect(&target.connect)
            .await
            .map_err(|e| format!("connect {}: {e}", target.connect))?;
        let _ = stream.set_nodelay(true);
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake with {}: {e}", target.connect))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(self.conn.insert(send))
    }

    pub async fn deliver(&mut self, events: &[Event]) -> Result<(), String> {
        let (max_events, max_bytes) = (self.batch.max_events, self.batch.max_bytes);
        for run in runs(events, max_events, max_bytes) {
            let mut body = Vec::with_capacity(run.iter().map(|e| e.data.len() + 1).sum());
            for e in run {
                body.extend_from_slice(&e.data);
                body.push(b'\n');
            }
            if let Err(e) = self.post(Bytes::from(body)).await {
                self.conn = None;
                return Err(e);
            }
        }
        Ok(())
    }

    async fn post(&mut self, body: Bytes) -> Result<(), String> {
        let target = self.target.clone()?;
        let timeout = self.timeout;
        let conn = self.connect().await?;
        let req = Request::builder()
            .method(Method::POST)
            .uri(&target.path)
            .header(hyper::header::HOST, &target.authority)
            .header(hyper::header::CONTENT_TYPE, "application/x-ndjson")
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let resp = tokio::time::timeout(timeout, conn.send_request(req))
            .await
            .map_err(|_| format!("no answer from {} within {timeout:?}", target.connect))?
            .map_err(|e| format!("POST to {}: {e}", target.connect))?;
        let status = resp.status();
        // Read the answer to its end, so the connection can carry the next request.
        let answer = resp.into_body().collect().await.map(|b| b.to_bytes());
        if !status.is_success() {
            let text = answer
                .map(|b| String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned())
                .unwrap_or_default();
            return Err(format!("{} answered {status}: {text}", target.connect));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris_are_read_or_refused() {
        assert_eq!(
            parse_uri("http://127.0.0.1:9000/in?x=1").unwrap(),
            Target {
                connect: "127.0.0.1:9000".into(),
                authority: "127.0.0.1:9000".into(),
                path: "/in?x=1".into()
            }
        );
        assert_eq!(
            parse_uri("http://localhost").unwrap().connect,
            "localhost:80"
        );
        assert!(parse_uri("https://x:1/").unwrap_err().contains("only http"));
        assert!(parse_uri("127.0.0.1:80").is_err());
    }
}
