//! The `serve` topology, in Vector's config conventions: `[sources.<id>]`, one
//! `[transforms.<id>] type = "sigma"` block (the transform's own config, unchanged), and
//! `[sinks.<id>]` with `inputs`. Option names are Vector's where Vector has a component of
//! the same type (`address`, `encoding.codec`, `framing.method`, `request.retry_*`,
//! `batch.max_events`, `acknowledgements.enabled`), so that a Vector user recognises them.
//! A `[serve]` table holds what belongs to this process (workers, in-flight limits,
//! reload) and `[api]` the health and metrics endpoint, as Vector's `api` does.
//! Unknown options are errors, as in Vector.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, Mode, SigmaConfig};
use crate::transform::Route;

/// A whole `serve` config: sources -> one `sigma` transform -> sinks.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Where events come from, by component id.
    pub sources: BTreeMap<String, SourceConfig>,
    /// Exactly one transform, of type `sigma` (see `sigma-transform config schema`).
    pub transforms: BTreeMap<String, serde_json::Value>,
    /// Where events go, by component id.
    pub sinks: BTreeMap<String, SinkConfig>,
    /// The process: workers, in-flight limits, rule reloads.
    #[serde(default)]
    pub serve: ServeOptions,
    /// The health and metrics endpoint.
    #[serde(default)]
    pub api: ApiConfig,
    /// Vector's `data_dir`; accepted for compatibility, unused (serve keeps no disk state).
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
}

/// Options of the serve process itself.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServeOptions {
    /// Transform worker threads; 0 means one per available core.
    #[serde(default)]
    pub workers: usize,
    /// Most events held in flight (received, not yet acknowledged by every sink) across
    /// all sources. A source that would go over waits, so backpressure reaches the shipper.
    #[serde(default = "default_max_events")]
    pub max_in_flight_events: usize,
    /// Most bytes of events held in flight across all sources.
    #[serde(default = "default_max_bytes")]
    pub max_in_flight_bytes: usize,
    /// Recompile the rules when a rule file changes (SIGHUP always does).
    #[serde(default)]
    pub watch: bool,
    /// How often `watch` looks at the rule files, in seconds.
    #[serde(default = "default_watch_interval")]
    pub watch_interval_secs: f64,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish, in seconds.
    #[serde(default = "default_drain")]
    pub drain_timeout_secs: f64,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            workers: 0,
            max_in_flight_events: default_max_events(),
            max_in_flight_bytes: default_max_bytes(),
            watch: false,
            watch_interval_secs: default_watch_interval(),
            drain_timeout_secs: default_drain(),
        }
    }
}

fn default_max_events() -> usize {
    100_000
}
fn default_max_bytes() -> usize {
    128 << 20
}
fn default_watch_interval() -> f64 {
    2.0
}
fn default_drain() -> f64 {
    30.0
}

/// The health (`GET /health`) and Prometheus metrics (`GET /metrics`) endpoint.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    /// Serve the endpoint.
    #[serde(default)]
    pub enabled: bool,
    /// Where it listens.
    #[serde(default = "default_api_address")]
    pub address: SocketAddr,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            enabled: false,
            address: default_api_address(),
        }
    }
}

fn default_api_address() -> SocketAddr {
    "127.0.0.1:8686".parse().expect("valid address")
}

/// Vector's `acknowledgements` block.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgements {
    /// Answer a request only after every sink has taken its events (the default here;
    /// `false` is refused: serve never acknowledges what it has not delivered).
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Vector's `decoding` block of a source.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Decoding {
    /// `json`: each event is a JSON object (lines that are not pass through, counted).
    pub codec: Codec,
}

/// Vector's `encoding` block of a sink.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Encoding {
    /// `json`: each event as one JSON object.
    pub codec: Codec,
}

/// Event codecs: events are JSON objects throughout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// JSON objects.
    #[default]
    Json,
}

/// Vector's `framing` block.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Framing {
    /// How events are delimited in a stream or request body.
    pub method: FramingMethod,
}

/// Framing methods.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FramingMethod {
    /// One event per line.
    #[default]
    NewlineDelimited,
}

/// Socket modes (Vector's `mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SocketMode {
    /// TCP.
    #[default]
    Tcp,
}

/// A source.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    /// HTTP server: POST bodies as NDJSON, a JSON array or one object, plain or with
    /// `Content-Encoding: gzip` or `zstd`. Answers 200 once every sink has the events;
    /// 503 with `Retry-After` when a sink is failing.
    #[serde(alias = "http")]
    HttpServer {
        /// Where it listens.
        address: SocketAddr,
        /// The path events are posted to.
        #[serde(default = "default_path")]
        path: String,
        /// Reject requests to any other path (404).
        #[serde(default = "default_true")]
        strict_path: bool,
        /// Accepted for Vector compatibility; only `json` exists.
        #[serde(default)]
        decoding: Option<Decoding>,
        /// Accepted for Vector compatibility; bodies are NDJSON, an array or one object.
        #[serde(default)]
        framing: Option<Framing>,
        /// See [`Acknowledgements`].
        #[serde(default)]
        acknowledgements: Acknowledgements,
        /// Largest request body, compressed or not (413 above).
        #[serde(default = "default_max_body")]
        max_body_bytes: usize,
        /// Largest number of open connections; more wait to be accepted.
        #[serde(default = "default_max_connections")]
        max_connections: usize,
        /// A connection with no request under way is closed after this many seconds.
        #[serde(default = "default_idle_timeout")]
        idle_timeout_secs: f64,
    },
    /// Fluentd forward protocol v1 server (Message, Forward, PackedForward and
    /// CompressedPackedForward modes); a `chunk` option is answered with `ack` once every
    /// sink has the events. No shared-key handshake.
    Fluent {
        /// Where it listens.
        address: SocketAddr,
        /// See [`Acknowledgements`].
        #[serde(default)]
        acknowledgements: Acknowledgements,
        /// Largest forward message, compressed or not; a connection that sends a larger
        /// one is closed.
        #[serde(default = "default_max_body")]
        max_message_bytes: usize,
        /// Largest number of open connections; more wait to be accepted.
        #[serde(default = "default_max_connections")]
        max_connections: usize,
        /// A connection that sends nothing for this many seconds is closed.
        #[serde(default = "default_idle_timeout")]
        idle_timeout_secs: f64,
    },
    /// TCP, one JSON event per line. Nothing to acknowledge: at most once.
    Socket {
        /// Where it listens.
        address: SocketAddr,
        /// Only `tcp`.
        #[serde(default)]
        mode: SocketMode,
        /// Longest line; a longer one is dropped and counted as an error.
        #[serde(default = "default_max_length")]
        max_length: usize,
        /// Accepted for Vector compatibility; only `json` exists.
        #[serde(default)]
        decoding: Option<Decoding>,
        /// Accepted for Vector compatibility; lines only.
        #[serde(default)]
        framing: Option<Framing>,
        /// Largest number of open connections; more wait to be accepted.
        #[serde(default = "default_max_connections")]
        max_connections: usize,
    },
    /// Standard input, one JSON event per line; at end of input serve drains and exits.
    /// Nothing to acknowledge: at most once.
    Stdin {
        /// Longest line; a longer one is dropped and counted as an error.
        #[serde(default = "default_max_length")]
        max_length: usize,
        /// Accepted for Vector compatibility; only `json` exists.
        #[serde(default)]
        decoding: Option<Decoding>,
        /// Accepted for Vector compatibility; lines only.
        #[serde(default)]
        framing: Option<Framing>,
    },
}

fn default_path() -> String {
    "/".into()
}
fn default_true() -> bool {
    true
}
fn default_max_body() -> usize {
    32 << 20
}
fn default_max_connections() -> usize {
    1024
}
fn default_idle_timeout() -> f64 {
    60.0
}
fn default_max_length() -> usize {
    1 << 20
}

/// Vector's `request` block of the `http` sink.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestConfig {
    /// Attempts after the first before a batch fails (and its sources answer 503 or
    /// withhold their ack, so the shipper sends it again).
    #[serde(default = "default_retry_attempts")]
    pub retry_attempts: u32,
    /// Wait before the first retry; each later wait doubles.
    #[serde(default = "default_backoff")]
    pub retry_initial_backoff_secs: f64,
    /// Longest wait between two attempts.
    #[serde(default = "default_max_backoff")]
    pub retry_max_duration_secs: f64,
    /// Time allowed for one attempt (connect, send, answer).
    #[serde(default = "default_timeout")]
    pub timeout_secs: f64,
}

impl Default for RequestConfig {
    fn default() -> Self {
        RequestConfig {
            retry_attempts: default_retry_attempts(),
            retry_initial_backoff_secs: default_backoff(),
            retry_max_duration_secs: default_max_backoff(),
            timeout_secs: default_timeout(),
        }
    }
}

fn default_retry_attempts() -> u32 {
    5
}
fn default_backoff() -> f64 {
    1.0
}
fn default_max_backoff() -> f64 {
    8.0
}
fn default_timeout() -> f64 {
    30.0
}

/// Vector's `batch` block.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    /// Most events in one request or forward message.
    #[serde(default = "default_batch_events")]
    pub max_events: usize,
    /// Most bytes of events in one request or forward message.
    #[serde(default = "default_batch_bytes")]
    pub max_bytes: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_events: default_batch_events(),
            max_bytes: default_batch_bytes(),
        }
    }
}

fn default_batch_events() -> usize {
    1000
}
fn default_batch_bytes() -> usize {
    10 << 20
}

/// Console targets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ConsoleTarget {
    /// Standard output.
    #[default]
    Stdout,
    /// Standard error.
    Stderr,
}

/// A sink. Every sink takes `inputs`: the transform's id (modes `tag` and `filter`) or
/// `<id>.matched` / `<id>._unmatched` / `<id>.correlations` (mode `route`).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    /// NDJSON POST with retries and backoff (to Vector's `http_server` source or Fluent
    /// Bit's `http` input). A batch is delivered when the answer is 2xx.
    Http {
        /// Upstream outputs.
        inputs: Vec<String>,
        /// `http://host:port/path` (no TLS).
        uri: String,
        /// Only `json`.
        encoding: Encoding,
        /// Only `newline_delimited` (the default).
        #[serde(default)]
        framing: Option<Framing>,
        /// See [`RequestConfig`].
        #[serde(default)]
        request: RequestConfig,
        /// See [`BatchConfig`].
        #[serde(default)]
        batch: BatchConfig,
        /// Accepted for Vector compatibility.
        #[serde(default)]
        acknowledgements: Acknowledgements,
    },
    /// Forward-protocol client that sends Forward mode messages with a `chunk` option and
    /// waits for each `ack` (to a Fluent Bit or Fluentd `forward` input). Events keep the
    /// tag and time they came with; others get `tag` and the time they arrived.
    Fluent {
        /// Upstream outputs.
        inputs: Vec<String>,
        /// `host:port`.
        address: SocketAddr,
        /// The tag of events that came without one (not from a `fluent` source).
        #[serde(default = "default_tag")]
        tag: String,
        /// Retries and timeouts, as for `http`.
        #[serde(default)]
        request: RequestConfig,
        /// See [`BatchConfig`].
        #[serde(default)]
        batch: BatchConfig,
        /// Accepted for Vector compatibility.
        #[serde(default)]
        acknowledgements: Acknowledgements,
    },
    /// TCP, one JSON event per line. A batch is delivered when written to the socket.
    Socket {
        /// Upstream outputs.
        inputs: Vec<String>,
        /// `host:port`.
        address: SocketAddr,
        /// Only `tcp`.
        #[serde(default)]
        mode: SocketMode,
        /// Only `json`.
        encoding: Encoding,
        /// Only `newline_delimited`.
        #[serde(default)]
        framing: Option<Framing>,
        /// Retries and timeouts, as for `http`.
        #[serde(default)]
        request: RequestConfig,
        /// Accepted for Vector compatibility.
        #[serde(default)]
        acknowledgements: Acknowledgements,
    },
    /// Appends one JSON event per line to a file. A batch is delivered when written and
    /// flushed to the file.
    File {
        /// Upstream outputs.
        inputs: Vec<String>,
        /// The file, relative to the config file's folder.
        path: PathBuf,
        /// Only `json`.
        encoding: Encoding,
        /// Accepted for Vector compatibility.
        #[serde(default)]
        acknowledgements: Acknowledgements,
    },
    /// One JSON event per line on standard output or error.
    Console {
        /// Upstream outputs.
        inputs: Vec<String>,
        /// Where to write.
        #[serde(default)]
        target: ConsoleTarget,
        /// Only `json`.
        encoding: Encoding,
        /// Accepted for Vector compatibility.
        #[serde(default)]
        acknowledgements: Acknowledgements,
    },
}

fn default_tag() -> String {
    "sigma".into()
}

impl SourceConfig {
    /// The component type as written in config.
    pub fn type_name(&self) -> &'static str {
        match self {
            SourceConfig::HttpServer { .. } => "http_server",
            SourceConfig::Fluent { .. } => "fluent",
            SourceConfig::Socket { .. } => "socket",
            SourceConfig::Stdin { .. } => "stdin",
        }
    }

    fn acknowledgements(&self) -> Option<&Acknowledgements> {
        match self {
            SourceConfig::HttpServer {
                acknowledgements, ..
            }
            | SourceConfig::Fluent {
                acknowledgements, ..
            } => Some(acknowledgements),
            _ => None,
        }
    }
}

impl SinkConfig {
    /// The component type as written in config.
    pub fn type_name(&self) -> &'static str {
        match self {
            SinkConfig::Http { .. } => "http",
            SinkConfig::Fluent { .. } => "fluent",
            SinkConfig::Socket { .. } => "socket",
            SinkConfig::File { .. } => "file",
            SinkConfig::Console { .. } => "console",
        }
    }

    /// The upstream outputs this sink reads.
    pub fn inputs(&self) -> &[String] {
        match self {
            SinkConfig::Http { inputs, .. }
            | SinkConfig::Fluent { inputs, .. }
            | SinkConfig::Socket { inputs, .. }
            | SinkConfig::File { inputs, .. }
            | SinkConfig::Console { inputs, .. } => inputs,
        }
    }
}

/// A checked topology: the config, its transform, and which routes reach each sink.
#[derive(Clone, Debug)]
pub struct Topology {
    pub config: ServeConfig,
    /// The transform's id and config (paths resolved).
    pub transform_id: String,
    pub transform: SigmaConfig,
    /// For each sink (in `config.sinks` order), the transform outputs it reads.
    pub sink_routes: Vec<(String, Vec<Route>)>,
    /// The config file's folder, for relative paths.
    pub base: PathBuf,
}

/// Loads and checks a serve config.
pub fn load(path: &Path) -> Result<Topology, ConfigError> {
    let value = crate::config::read_value(path)?;
    let err = |reason: String| ConfigError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let config: ServeConfig = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
    let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
    check(config, &base).map_err(err)
}

/// Checks the wiring: one sigma transform fed by the sources, every sink fed by it.
pub fn check(config: ServeConfig, base: &Path) -> Result<Topology, String> {
    if config.sources.is_empty() {
        return Err("no [sources]: give at least one".into());
    }
    if config.sinks.is_empty() {
        return Err("no [sinks]: give at least one".into());
    }
    let (transform_id, block) = match config.transforms.iter().collect::<Vec<_>>().as_slice() {
        [(id, block)] => ((*id).clone(), (*block).clone()),
        [] => return Err("no [transforms]: serve needs one of type \"sigma\"".into()),
        _ => {
            return Err(format!(
                "serve runs one transform, of type \"sigma\"; found {} ({}). Run other transforms in the shipper",
                config.transforms.len(),
                config
                    .transforms
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    };
    let kind = block.get("type").and_then(|t| t.as_str()).unwrap_or("");
    if kind != "sigma" {
        return Err(format!(
            "transforms.{transform_id}: type \"{kind}\" is not served here; serve runs a transform of type \"sigma\""
        ));
    }
    let mut transform: SigmaConfig =
        serde_json::from_value(block).map_err(|e| format!("transforms.{transform_id}: {e}"))?;
    transform.resolve_paths(base);
    if transform.inputs.is_empty() {
        return Err(format!(
            "transforms.{transform_id}: inputs is empty; name the sources it reads"
        ));
    }
    for input in &transform.inputs {
        if !config.sources.contains_key(input) {
            return Err(format!(
                "transforms.{transform_id}: input \"{input}\" is not a source (sources: {})",
                config
                    .sources
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    for (id, source) in &config.sources {
        if !transform.inputs.contains(id) {
            return Err(format!(
                "sources.{id} is not an input of transforms.{transform_id}"
            ));
        }
        if source
            .acknowledgements()
            .is_some_and(|a| a.enabled == Some(false))
        {
            return Err(format!(
                "sources.{id}: acknowledgements.enabled = false is not supported; serve acknowledges only what every sink has taken"
            ));
        }
    }
    let mut sink_routes = Vec::new();
    for (id, sink) in &config.sinks {
        if sink.inputs().is_empty() {
            return Err(format!("sinks.{id}: inputs is empty"));
        }
        let mut routes = Vec::new();
        for input in sink.inputs() {
            let route = output_route(&transform_id, transform.mode, input)
                .map_err(|why| format!("sinks.{id}: input \"{input}\": {why}"))?;
            if !routes.contains(&route) {
                routes.push(route);
            }
        }
        if let SinkConfig::Http { uri, .. } = sink {
            super::sinks::http::parse_uri(uri).map_err(|why| format!("sinks.{id}: {why}"))?;
        }
        sink_routes.push((id.clone(), routes));
    }
    let mut config = config;
    for sink in config.sinks.values_mut() {
        if let SinkConfig::File { path, .. } = sink
            && path.is_relative()
        {
            *path = base.join(&*path);
        }
    }
    Ok(Topology {
        config,
        transform_id,
        transform,
        sink_routes,
        base: base.to_path_buf(),
    })
}

/// Which transform output a sink input names.
fn output_route(id: &str, mode: Mode, input: &str) -> Result<Route, String> {
    let Some(rest) = input.strip_prefix(id) else {
        return Err(format!(
            "not an output of transforms.{id} (sinks read the sigma transform)"
        ));
    };
    match (mode, rest) {
        (Mode::Tag | Mode::Filter, "") => Ok(Route::Default),
        (Mode::Route, ".matched") => Ok(Route::Matched),
        (Mode::Route, "._unmatched") => Ok(Route::Unmatched),
        (Mode::Route, ".correlations") => Ok(Route::Correlations),
        (Mode::Route, "") => Err(format!(
            "mode route has outputs \"{id}.matched\", \"{id}._unmatched\" and \"{id}.correlations\"; name one"
        )),
        _ => Err(format!("transforms.{id} has no output \"{input}\"")),
    }
}

/// The JSON Schema of the serve config.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(ServeConfig)).expect("schema serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(toml_text: &str) -> Result<Topology, String> {
        let v: toml::Value = toml::from_str(toml_text).map_err(|e| e.to_string())?;
        let cfg: ServeConfig =
            serde_json::from_value(serde_json::to_value(v).unwrap()).map_err(|e| e.to_string())?;
        check(cfg, Path::new("/base"))
    }

    const ISSUE_EXAMPLE: &str = r#"
[sources.in]
type = "http_server"
address = "127.0.0.1:18681"
[transforms.tag]
type = "sigma"
inputs = ["in"]
rules = ["rules"]
[sinks.out]
type = "file"
inputs = ["tag"]
path = "out.ndjson"
encoding.codec = "json"
"#;

    #[test]
    fn the_vector_shaped_example_loads_as_written() {
        let t = parse(ISSUE_EXAMPLE).unwrap();
        assert_eq!(t.transform_id, "tag");
        assert_eq!(t.transform.rules, [PathBuf::from("/base/rules")]);
        assert_eq!(t.sink_routes, [("out".to_string(), vec![Route::Default])]);
        match &t.config.sinks["out"] {
            SinkConfig::File { path, .. } => assert_eq!(path, Path::new("/base/out.ndjson")),
            other => panic!("{other:?}"),
        }
        let fluent = ISSUE_EXAMPLE.replace("\"http_server\"", "\"fluent\"");
        assert!(matches!(
            parse(&fluent).unwrap().config.sources["in"],
            SourceConfig::Fluent { .. }
        ));
    }

    #[test]
    fn wiring_mistakes_are_named() {
        let e =
            parse(&ISSUE_EXAMPLE.replace("inputs = [\"tag\"]", "inputs = [\"in\"]")).unwrap_err();
        assert!(
            e.contains("sinks.out") && e.contains("not an output"),
            "{e}"
        );
        let e =
            parse(&ISSUE_EXAMPLE.replace("inputs = [\"in\"]", "inputs = [\"nope\"]")).unwrap_err();
        assert!(e.contains("\"nope\" is not a source"), "{e}");
        let e = parse(&ISSUE_EXAMPLE.replace(
            "rules = [\"rules\"]",
            "rules = [\"rules\"]\nmode = \"route\"",
        ))
        .unwrap_err();
        assert!(e.contains("tag.matched"), "{e}");
        let routed = ISSUE_EXAMPLE
            .replace(
                "rules = [\"rules\"]",
                "rules = [\"rules\"]\nmode = \"route\"",
            )
            .replace(
                "inputs = [\"tag\"]",
                "inputs = [\"tag._unmatched\", \"tag.matched\"]",
            );
        assert_eq!(
            parse(&routed).unwrap().sink_routes[0].1,
            [Route::Unmatched, Route::Matched]
        );
        let with_alerts = routed.replace(
            "inputs = [\"tag._unmatched\", \"tag.matched\"]",
            "inputs = [\"tag.correlations\"]",
        );
        assert_eq!(
            parse(&with_alerts).unwrap().sink_routes[0].1,
            [Route::Correlations]
        );
        let e = parse(&ISSUE_EXAMPLE.replace("type = \"file\"", "type = \"file\"\nbogus = 1"))
            .unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        let e = parse(&ISSUE_EXAMPLE.replace("type = \"sigma\"", "type = \"remap\"")).unwrap_err();
        assert!(e.contains("\"remap\" is not served"), "{e}");
        let e = parse(&ISSUE_EXAMPLE.replace(
            "address = \"127.0.0.1:18681\"",
            "address = \"127.0.0.1:18681\"\nacknowledgements.enabled = false",
        ))
        .unwrap_err();
        assert!(e.contains("acknowledgements.enabled = false"), "{e}");
    }

    #[test]
    fn schema_documents_sources_and_sinks() {
        let s = schema().to_string();
        for word in [
            "http_server",
            "fluent",
            "max_in_flight_events",
            "retry_attempts",
        ] {
            assert!(s.contains(word), "{word}");
        }
    }
}
