//! The `[api]` endpoint: `GET /health` (200 `{"ok":true}` while serving; 503 while a sink
//! is failing or serve is stopping, so an orchestrator can tell) and `GET /metrics`
//! (Prometheus text format 0.0.4).

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::lifecycle::Lifecycle;
use super::pipeline::Pipeline;

/// Serves the endpoint until serve stops.
pub async fn run(listener: TcpListener, pipeline: Arc<Pipeline>, life: Lifecycle) {
    loop {
        let stream = tokio::select! {
            a = listener.accept() => match a {
                Ok((s, _)) => s,
                Err(_) => continue,
            },
            _ = life.stopped() => return,
        };
        let pipeline = pipeline.clone();
        tokio::spawn(async move {
            let svc = hyper::service::service_fn(move |req| {
                let pipeline = pipeline.clone();
                async move { Ok::<_, Infallible>(answer(&req, &pipeline)) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

fn answer<B>(req: &Request<B>, pipeline: &Pipeline) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (req.method(), req.uri().path()) {
        (&Method::GET, "/health") => match pipeline.admit() {
            Ok(()) => (
                StatusCode::OK,
                "application/json",
                "{\"ok\":true}\n".to_string(),
            ),
            Err(r) => (
                StatusCode::SERVICE_UNAVAILABLE,
                "application/json",
                format!(
                    "{{\"ok\":false,\"reason\":\"{}\"}}\n",
                    match r {
                        super::pipeline::Refusal::Unavailable { .. } => "a sink is failing",
                        super::pipeline::Refusal::ShuttingDown => "shutting down",
                        super::pipeline::Refusal::Failed => "transform failed",
                    }
                ),
            ),
        },
        (&Method::GET, "/metrics") => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            pipeline.metrics.render(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "GET /health or /metrics\n".to_string(),
        ),
    };
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        content_type.parse().expect("a header value"),
    );
    r
}
