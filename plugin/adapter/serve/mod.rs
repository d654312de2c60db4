//! `sigma-transform serve`: the transform as a pipeline stage that a stock Vector or
//! Fluent Bit sends events through and gets them back from. A Vector-shaped config
//! ([`config`]) names sources, the `sigma` transform and sinks; every source feeds the one
//! event path in [`pipeline`] (in-flight budget -> [`workers`] on all cores -> sinks), and
//! acknowledges a request or chunk only once every sink has its events.
//!
//! Layers, from the wire in:
//! - [`sources`]: `http_server` ([`body`] decodes bodies), `fluent` ([`forward`] is the
//!   protocol), `socket` and `stdin` (lines);
//! - [`pipeline`], [`workers`], [`event`]: the shared event path;
//! - [`sinks`]: `http`, `fluent`, `socket`, `file`, `console`;
//! - around them: [`lifecycle`] (signals, drain), [`reload`] (SIGHUP, `watch`), [`metrics`]
//!   and [`api`] (`/health`, `/metrics`).

pub mod api;
pub mod body;
pub mod config;
pub mod event;
pub mod forward;
pub mod lane;
pub mod lifecycle;
pub mod metrics;
pub mod pipeline;
pub mod reload;
pub mod sinks;
pub mod sources;
pub mod workers;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::net::TcpListener;

use config::{SourceConfig, Topology};
use metrics::{Component, Kind, Metrics};
use pipeline::{Budget, Pipeline};

/// Why serve cannot start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("transforms.{id}: {reason}")]
    Rules { id: String, reason: String },
    #[error("{component}: cannot listen on {address}: {error}")]
    Bind {
        component: String,
        address: std::net::SocketAddr,
        error: std::io::Error,
    },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Command-line overrides of the `[serve]` table.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub workers: Option<usize>,
    pub watch: bool,
}

/// Starts logging to standard error (`SIGMA_LOG` filters, default `info`).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SIGMA_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .with_target(false)
        .try_init();
}

/// Runs serve until SIGTERM or SIGINT (or until every source has ended, for `stdin`).
pub fn serve(path: &Path, overrides: &Overrides) -> Result<(), ServeError> {
    init_logging();
    let mut topo = config::load(path)?;
    if let Some(w) = overrides.workers {
        topo.config.serve.workers = w;
    }
    topo.config.serve.watch |= overrides.watch;
    let loaded = reload::build(&topo.transform).map_err(|reason| ServeError::Rules {
        id: topo.transform_id.clone(),
        reason,
    })?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(cores.clamp(1, 4))
        .thread_name("sigma-io")
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)?;
    rt.block_on(run(topo, loaded, cores))
}

async fn run(topo: Topology, loaded: workers::Loaded, cores: usize) -> Result<(), ServeError> {
    let opts = &topo.config.serve;
    let mut components = Vec::new();
    let sources: Vec<(String, SourceConfig, Arc<Component>)> = topo
        .config
        .sources
        .iter()
        .map(|(id, s)| {
            let c = Arc::new(Component::new(id, Kind::Source, s.type_name()));
            components.push(c.clone());
            (id.clone(), s.clone(), c)
        })
        .collect();
    let transform = Arc::new(Component::new(&topo.transform_id, Kind::Transform, "sigma"));
    components.push(transform.clone());
    let sink_components: Vec<Arc<Component>> = topo
        .sink_routes
        .iter()
        .map(|(id, _)| {
            let c = Arc::new(Component::new(
                id,
                Kind::Sink,
                topo.config.sinks[id].type_name(),
            ));
            components.push(c.clone());
            c
        })
        .collect();
    let metrics = Arc::new(Metrics::new(components));
    let rules_loaded = loaded.transform.engine().rules().len();
    metrics
        .rules_loaded
        .store(rules_loaded as u64, Ordering::Relaxed);
    for r in &loaded.transform.report().rejected {
        tracing::warn!("rule rejected: {r}");
    }
    let worker_count = if opts.workers == 0 {
        cores
    } else {
        opts.workers
    };
    let workers = workers::Workers::start(worker_count, metrics.clone(), transform);

    // Bind every listener before anything runs, so a taken port fails the start.
    let mut listeners = Vec::new();
    for (id, source, _) in &sources {
        let address = match source {
            SourceConfig::HttpServer { address, .. }
            | SourceConfig::Fluent { address, .. }
            | SourceConfig::Socket { address, .. } => Some(*address),
            SourceConfig::Stdin { .. } => None,
        };
        let listener = match address {
            Some(address) => {
                Some(
                    TcpListener::bind(address)
                        .await
                        .map_err(|error| ServeError::Bind {
                            component: format!("sources.{id}"),
                            address,
                            error,
                        })?,
                )
            }
            None => None,
        };
        listeners.push(listener);
    }
    let api_listener = if topo.config.api.enabled {
        let address = topo.config.api.address;
        Some(
            TcpListener::bind(address)
                .await
                .map_err(|error| ServeError::Bind {
                    component: "api".into(),
                    address,
                    error,
                })?,
        )
    } else {
        None
    };

    let mut sink_handles = Vec::new();
    let mut sink_tasks = Vec::new();
    for ((id, routes), component) in topo.sink_routes.iter().zip(sink_components) {
        let (handle, task) = sinks::start(id, &topo.config.sinks[id], routes.clone(), component);
        sink_handles.push(handle);
        sink_tasks.push(task);
    }
    let pipeline = Arc::new(Pipeline {
        rules: workers::Rules::new(loaded),
        workers,
        lane: Default::default(),
        sinks: sink_handles,
        budget: Budget::new(opts.max_in_flight_events, opts.max_in_flight_bytes),
        metrics: metrics.clone(),
        shutting_down: Default::default(),
    });
    let (life, stopper) = lifecycle::new();
    let mut source_tasks = tokio::task::JoinSet::new();
    for ((id, source, component), listener) in sources.into_iter().zip(listeners) {
        let (p, l) = (pipeline.clone(), life.clone());
        let where_ = listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
            .map_or("standard input".to_string(), |a| a.to_string());
        tracing::info!(source = %id, r#type = source.type_name(), address = %where_, "listening");
        match (source, listener) {
            (
                SourceConfig::HttpServer {
                    path,
                    strict_path,
                    max_body_bytes,
                    max_connections,
                    idle_timeout_secs,
                    ..
                },
                Some(listener),
            ) => {
                let o = sources::http::HttpOptions {
                    path,
                    strict_path,
                    max_body_bytes,
                    max_connections,
                    idle_timeout: secs(idle_timeout_secs),
                };
                source_tasks.spawn(sources::http::run(listener, o, p, component, l));
            }
            (
                SourceConfig::Fluent {
                    max_message_bytes,
                    max_connections,
                    idle_timeout_secs,
                    ..
                },
                Some(listener),
            ) => {
                let o = sources::fluent::FluentOptions {
                    max_message_bytes,
                    max_connections,
                    idle_timeout: secs(idle_timeout_secs),
                };
                source_tasks.spawn(sources::fluent::run(listener, o, p, component, l));
            }
            (
                SourceConfig::Socket {
                    max_length,
                    max_connections,
                    ..
                },
                Some(listener),
            ) => {
                source_tasks.spawn(sources::lines::run_socket(
                    listener,
                    max_length,
                    max_connections,
                    p,
                    component,
                    l,
                ));
            }
            (SourceConfig::Stdin { max_length, .. }, _) => {
                source_tasks.spawn(async move {
                    let _active = l.enter();
                    sources::lines::pump(tokio::io::stdin(), max_length, &p, &component, &l).await;
                });
            }
            _ => unreachable!("every listening source has a listener"),
        }
    }
    if let Some(listener) = api_listener {
        tracing::info!(address = %topo.config.api.address, "api: /health and /metrics");
        tokio::spawn(api::run(listener, pipeline.clone(), life.clone()));
    }
    tracing::info!(
        rules = rules_loaded,
        workers = worker_count,
        sinks = topo.sink_routes.len(),
        "serving"
    );
    if opts.watch {
        tokio::spawn(watch(
            pipeline.clone(),
            topo.transform.clone(),
            secs(opts.watch_interval_secs),
            life.clone(),
        ));
    }

    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("install a SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install a SIGINT handler");
    let mut hup = signal(SignalKind::hangup()).expect("install a SIGHUP handler");
    loop {
        tokio::select! {
            _ = term.recv() => { tracing::info!("SIGTERM: draining"); break; }
            _ = int.recv() => { tracing::info!("SIGINT: draining"); break; }
            _ = hup.recv() => {
                tracing::info!("SIGHUP: reloading rules");
                tokio::spawn(reload::reload(pipeline.clone(), topo.transform.clone()));
            }
            done = source_tasks.join_next() => {
                if done.is_none() {
                    tracing::info!("every source has ended: draining");
                    break;
                }
            }
        }
    }
    stopper.stop();
    let left = stopper.drain(secs(opts.drain_timeout_secs)).await;
    if left > 0 {
        tracing::warn!(
            connections = left,
            "drain timeout: connections still open are closed"
        );
    }
    let delivered = pipeline
        .finish_correlations(secs(opts.drain_timeout_secs))
        .await;
    if delivered > 0 {
        tracing::info!(
            alerts = delivered,
            "correlation windows open at shutdown decided; their alerts delivered"
        );
    }
    pipeline.shutting_down.store(true, Ordering::Relaxed);
    source_tasks.abort_all();
    pipeline.workers.stop();
    tracing::info!(
        events = pipeline
            .metrics
            .components
            .iter()
            .filter(|c| c.kind == Kind::Transform)
            .map(|c| c.received_events.load(Ordering::Relaxed))
            .sum::<u64>(),
        matches = pipeline.metrics.matches_total(),
        "stopped"
    );
    for t in sink_tasks {
        t.abort();
    }
    Ok(())
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.clamp(0.001, 1e9))
}

/// Polls the rule files and reloads when they change.
async fn watch(
    pipeline: Arc<Pipeline>,
    cfg: crate::config::SigmaConfig,
    every: Duration,
    life: lifecycle::Lifecycle,
) {
    let snapshot = {
        let c = cfg.clone();
        move || {
            let c = c.clone();
            tokio::task::spawn_blocking(move || reload::fingerprint(&c))
        }
    };
    let mut last = snapshot().await.unwrap_or_default();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = life.stopped() => return,
        }
        let now = snapshot().await.unwrap_or_default();
        if now != last {
            tracing::info!("rule files changed: reloading");
            last = now;
            reload::reload(pipeline.clone(), cfg.clone()).await;
        }
    }
}

/// Checks a serve config's wiring (for `validate`): `None` when the file is not a serve
/// config, that is, it has no `[sources]`/`[sinks]` (a transform block), or some of them
/// are of types only Vector has (a Vector config holding the sigma transform, for the
/// native component or `run --config`).
pub fn validate_topology(path: &Path) -> Option<Result<Topology, crate::config::ConfigError>> {
    let value = crate::config::read_value(path).ok()?;
    let types = |section: &str| -> Vec<String> {
        value
            .get(section)
            .and_then(|s| s.as_object())
            .map(|m| {
                m.values()
                    .map(|c| {
                        c.get("type")
                            .and_then(|t| t.as_str())
                            .unwrap_or("")
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let (sources, sinks) = (types("sources"), types("sinks"));
    if sources.is_empty() && sinks.is_empty() {
        return None;
    }
    let serve_source =
        |t: &String| ["http_server", "http", "fluent", "socket", "stdin"].contains(&t.as_str());
    let serve_sink =
        |t: &String| ["http", "fluent", "socket", "file", "console"].contains(&t.as_str());
    if !sources.iter().all(serve_source) || !sinks.iter().all(serve_sink) {
        return None;
    }
    Some(config::load(path))
}
