//! The `http_server` source: HTTP/1.1 POSTs of events (see [`super::super::body`] for the
//! forms). Answers:
//! - 200 once every sink has the request's events;
//! - 503 with `Retry-After` while a sink is failing, or when one fails during the request
//!   (the shipper keeps the events and sends them again);
//! - 400 for a body that cannot be decoded, 413 over `max_body_bytes`, 415 for an unknown
//!   `Content-Encoding`, 404 off `path`, 405 for other methods.
//!
//! A connection with no request under way is closed after `idle_timeout_secs`; at most
//! `max_connections` are open, and more wait in the listen queue.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use super::super::body;
use super::super::event::Event;
use super::super::lifecycle::Lifecycle;
use super::super::metrics::Component;
use super::super::pipeline::{Pipeline, Refusal};
use super::accept::accept_loop;

/// The source's options, read from its config.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    pub path: String,
    pub strict_path: bool,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    pub idle_timeout: Duration,
}

#[derive(Clone)]
struct Ctx {
    pipeline: Arc<Pipeline>,
    component: Arc<Component>,
    opts: Arc<HttpOptions>,
}

/// Accepts connections until serve stops.
pub async fn run(
    listener: TcpListener,
    opts: HttpOptions,
    pipeline: Arc<Pipeline>,
    component: Arc<Component>,
    life: Lifecycle,
) {
    let max_connections = opts.max_connections;
    let ctx = Ctx {
        pipeline,
        component: component.clone(),
        opts: Arc::new(opts),
    };
    let handle = |stream| {
        let ctx = ctx.clone();
        let life = life.clone();
        async move {
            let idle = ctx.opts.idle_timeout;
            let svc = hyper::service::service_fn(move |req| handle(req, ctx.clone()));
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(idle)
                .keep_alive(true);
            let conn = builder.serve_connection(TokioIo::new(stream), svc);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = life.stopped() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        }
    };
    accept_loop(listener, max_connections, &component, &life, handle).await;
}

fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(text.to_string())));
    *r.status_mut() = status;
    r
}

fn refused(r: Refusal) -> Response<Full<Bytes>> {
    match r {
        Refusal::Unavailable { retry_after } => {
            let mut resp = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "a sink is failing; send again later\n",
            );
            let secs = retry_after.as_secs().max(1).to_string();
            resp.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                secs.parse().expect("digits are a header value"),
            );
            resp
        }
        Refusal::ShuttingDown => {
            let mut resp = answer(StatusCode::SERVICE_UNAVAILABLE, "shutting down\n");
            resp.headers_mut().insert(
                hyper::header::RETRY_AFTER,
                "5".parse().expect("a header value"),
            );
            resp
        }
        Refusal::Failed => answer(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the transform failed on this request; see serve's log\n",
        ),
    }
}

async fn handle(req: Request<Incoming>, ctx: Ctx) -> Result<Response<Full<Bytes>>, Infallible> {
    let opts = &ctx.opts;
    let comp = &ctx.component;
    if ctx.opts.strict_path && req.uri().path() != opts.path {
        comp.error("path_not_found", "receiving");
        return Ok(answer(StatusCode::NOT_FOUND, "no such path\n"));
    }
    if req.method() != Method::POST {
        comp.error("method_not_allowed", "receiving");
        let mut r = answer(StatusCode::METHOD_NOT_ALLOWED, "POST events here\n");
        r.headers_mut().insert(
            hyper::header::ALLOW,
            "POST".parse().expect("a header value"),
        );
        return Ok(r);
    }
    if let Err(r) = ctx.pipeline.admit() {
        return Ok(refused(r));
    }
    let declared = req
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > opts.max_body_bytes as u64) {
        comp.error("request_too_large", "receiving");
        return Ok(answer(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("bodies are limited to {} bytes\n", opts.max_body_bytes),
        ));
    }
    let encoding = req
        .headers()
        .get(hyper::header::CONTENT_ENCODING)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    // Room for the body before it is read: its declared size, or the most it may be. A
    // compressed body may grow to the limit once decoded.
    let reserve = match (&encoding, declared) {
        (None, Some(n)) => n as usize,
        _ => opts.max_body_bytes,
    };
    let mut reservation = ctx.pipeline.budget.bytes(reserve).await;
    let raw = match Limited::new(req.into_body(), opts.max_body_bytes)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some()
            {
                comp.error("request_too_large", "receiving");
                return Ok(answer(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &format!("bodies are limited to {} bytes\n", opts.max_body_bytes),
                ));
            }
            comp.error("request_read_failed", "receiving");
            return Ok(answer(
                StatusCode::BAD_REQUEST,
                &format!("reading the body: {e}\n"),
            ));
        }
    };
    let decoded = match body::decode(encoding.as_deref(), raw, opts.max_body_bytes) {
        Ok(b) => b,
        Err(e) => {
            let status = match e {
                body::BodyError::Encoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body::BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
                body::BodyError::Corrupt(..) => StatusCode::BAD_REQUEST,
            };
            comp.error("decoding_failed", "receiving");
            return Ok(answer(status, &format!("{e}\n")));
        }
    };
    reservation.shrink_bytes(decoded.len());
    let events: Vec<Event> = body::split(&decoded)
        .into_iter()
        .map(Event::plain)
        .collect();
    Ok(match ctx.pipeline.submit(comp, events, reservation).await {
        Ok(()) => answer(StatusCode::OK, ""),
        Err(r) => refused(r),
    })
}
