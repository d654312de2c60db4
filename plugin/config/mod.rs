//! The transform's configuration, in Vector's conventions: a documented struct per
//! component (`type = "sigma"`, `inputs`, snake_case keys, unknown keys rejected), loaded
//! from TOML or YAML either as a bare transform block or from a whole Vector config
//! (`[transforms.<id>]`). `sigma-transform config schema` prints its JSON Schema, whose
//! descriptions are these doc comments.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::event::shape::Shape;

/// The component type: always `sigma`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentType {
    /// The Sigma transform.
    #[default]
    Sigma,
}

/// What the transform does with events.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Every event passes; matching events are tagged.
    #[default]
    Tag,
    /// Only matching events pass (tagged); the others are counted as intentionally
    /// discarded.
    Filter,
    /// Matching events go to the output `matched` (tagged), the others to `_unmatched`, as
    /// Vector's `route` transform names its outputs.
    Route,
}

/// Where and how tags are written.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema, clap::ValueEnum,
)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum OutputProfile {
    /// A `sigma` object (name set by `field`) with one entry per matched rule: id, title,
    /// level, status, author, tags and ATT&CK techniques and tactics.
    #[default]
    Sigma,
    /// Elastic Common Schema 8.x: `event.kind`, `event.risk_score`, `rule.*` (one element
    /// per match), `threat.*`, spliced into the event without dropping any of its values;
    /// the tag entries, and what could not be placed, go under `field`.
    Ecs,
    /// One ECS alert document per (event, matched rule), one per line, carrying the event's
    /// own fields as Elastic's detection alerts do; for SIEMs that index alerts apart
    /// from events. Unmatched events leave as they came (or are dropped in mode filter).
    Alerts,
}

/// Sigma rule levels, in order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    JsonSchema,
    clap::ValueEnum,
)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// `informational`.
    Informational,
    /// `low`.
    Low,
    /// `medium`.
    Medium,
    /// `high`.
    High,
    /// `critical`.
    Critical,
}

impl Level {
    /// Parses a rule's `level`.
    pub fn parse(text: &str) -> Option<Level> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "informational" => Level::Informational,
            "low" => Level::Low,
            "medium" => Level::Medium,
            "high" => Level::High,
            "critical" => Level::Critical,
            _ => return None,
        })
    }
}

/// A set of rules named by id, tag or status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleSelector {
    /// Rule ids.
    #[serde(default)]
    pub ids: Vec<String>,
    /// Rule tags (e.g. `attack.t1569.002`, `attack.execution`), compared case-insensitively.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Rule statuses (`stable`, `test`, `experimental`, `deprecated`, `unsupported`).
    #[serde(default)]
    pub statuses: Vec<String>,
}

impl RuleSelector {
    /// True when the selector names nothing.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty() && self.tags.is_empty() && self.statuses.is_empty()
    }

    /// True when the rule is named by the selector.
    pub fn selects(&self, meta: &crate::rule::RuleMeta) -> bool {
        let id = meta.id.as_deref().unwrap_or_default();
        self.ids.iter().any(|i| i.eq_ignore_ascii_case(id))
            || self
                .tags
                .iter()
                .any(|t| meta.tags.iter().any(|r| r.eq_ignore_ascii_case(t)))
            || meta
                .status
                .as_deref()
                .is_some_and(|s| self.statuses.iter().any(|x| x.eq_ignore_ascii_case(s)))
    }
}

/// Configuration of the `sigma` transform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SigmaConfig {
    /// The component type. Must be `sigma`.
    #[serde(rename = "type", default)]
    pub component_type: ComponentType,
    /// The ids of the upstream components whose events this transform receives (Vector's
    /// `inputs`). Not used when sigma-transform runs on its own.
    #[serde(default)]
    pub inputs: Vec<String>,
    /// Sigma rule files or directories (searched recursively for `.yml` and `.yaml`).
    /// Relative paths are relative to the config file.
    pub rules: Vec<PathBuf>,
    /// Sigma filter files or directories, kept apart from the rules they tune (filters in
    /// `rules` paths are read too). Anything but a filter document here is rejected.
    #[serde(default)]
    pub filters: Vec<PathBuf>,
    /// The shape of incoming events; `auto` detects it per event.
    #[serde(default)]
    pub shape: Shape,
    /// How matches are written into events.
    #[serde(default)]
    pub output: OutputProfile,
    /// Which events leave the transform, and where.
    #[serde(default)]
    pub mode: Mode,
    /// The top-level field that receives the tag object (output `sigma`), or the tag
    /// entries and displaced ECS values (output `ecs`).
    #[serde(default = "default_field")]
    pub field: String,
    /// Logsource mapping file; the built-in `rules/logsources.yaml` when unset.
    #[serde(default)]
    pub logsources: Option<PathBuf>,
    /// Values for `expand` placeholders: a YAML file mapping each placeholder name to a
    /// list of values.
    #[serde(default)]
    pub placeholders: Option<PathBuf>,
    /// Table naming Fluent Bit's positional `StringInserts`; the built-in
    /// `rules/winevt/string_inserts.tsv` when unset.
    #[serde(default)]
    pub string_inserts: Option<PathBuf>,
    /// Only rules at this level or above tag events.
    #[serde(default)]
    pub min_level: Option<Level>,
    /// When set, only the rules it names are used.
    #[serde(default)]
    pub include: RuleSelector,
    /// Rules it names are not used (applied after `include`).
    #[serde(default)]
    pub exclude: RuleSelector,
    /// Refuse to start when any rule is rejected.
    #[serde(default)]
    pub strict: bool,
    /// Bounds on what loading rules may cost (README, "Limits").
    #[serde(default)]
    pub limits: crate::rule::limits::RuleLimits,
    /// Correlation state bounds and event time (docs/semantics.md, "Correlations").
    #[serde(default)]
    pub correlation: crate::correlate::CorrelationOptions,
    /// Start even when no rule is loaded (by default that is an error: a transform that
    /// tags nothing is almost always a wrong path or a filter that selects nothing).
    #[serde(default)]
    pub allow_empty: bool,
    /// Match an event serialized as JSON in a `message` or `log` string (Vector's `file`
    /// source without `decoding.codec = "json"`, Fluent Bit's `tail` without a parser),
    /// when the event has no other shape. The tags go on the event as it came.
    #[serde(default = "default_true")]
    pub wrapped_json: bool,
    /// Each match's tag entry carries `fields`: the event's values of the fields whose
    /// tests decided it (off by default; it costs time on matched events).
    #[serde(default)]
    pub matched_fields: bool,
}

fn default_true() -> bool {
    true
}

fn default_field() -> String {
    "sigma".into()
}

impl SigmaConfig {
    /// A config with defaults for everything but the rules.
    pub fn new(rules: Vec<PathBuf>) -> SigmaConfig {
        SigmaConfig {
            component_type: ComponentType::Sigma,
            inputs: Vec::new(),
            rules,
            filters: Vec::new(),
            shape: Shape::Auto,
            output: OutputProfile::Sigma,
            mode: Mode::Tag,
            field: default_field(),
            logsources: None,
            placeholders: None,
            string_inserts: None,
            min_level: None,
            include: RuleSelector::default(),
            exclude: RuleSelector::default(),
            strict: false,
            limits: Default::default(),
            allow_empty: false,
            wrapped_json: true,
            matched_fields: false,
            correlation: Default::default(),
        }
    }

    /// The JSON Schema of the config.
    pub fn schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(SigmaConfig)).expect("schema serializes")
    }

    /// Resolves relative paths against `base` (the config file's folder).
    pub fn resolve_paths(&mut self, base: &Path) {
        let fix = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        self.rules.iter_mut().for_each(fix);
        self.filters.iter_mut().for_each(fix);
        for p in [
            &mut self.logsources,
            &mut self.placeholders,
            &mut self.string_inserts,
        ]
        .into_iter()
        .flatten()
        {
            fix(p);
        }
    }
}

/// Why a config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("{path}: no transform of type \"sigma\" in [transforms]")]
    NoSigmaTransform { path: PathBuf },
    #[error("{path}: several sigma transforms ({ids}); name one with --id")]
    Ambiguous { path: PathBuf, ids: String },
    #[error("{path}: no transform with id '{id}'")]
    NoSuchId { path: PathBuf, id: String },
}

/// A loaded config: its transform id (when it came from a Vector config) and the block.
#[derive(Clone, Debug)]
pub struct LoadedConfig {
    pub id: Option<String>,
    pub config: SigmaConfig,
}

/// Reads a config file (`.toml`, `.yaml`/`.yml`, or `.json`) as one JSON value.
pub fn read_value(path: &Path) -> Result<serde_json::Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default();
    parse_value(&text, ext).map_err(|reason| ConfigError::Parse {
        path: path.to_path_buf(),
        reason,
    })
}

/// Parses config text of a format named by its file extension (`toml`, `json`, anything
/// else YAML) as one JSON value.
pub fn parse_value(text: &str, ext: &str) -> Result<serde_json::Value, String> {
    match ext {
        "toml" => toml::from_str::<toml::Value>(text)
            .map_err(|e| e.to_string())
            .and_then(|v| serde_json::to_value(v).map_err(|e| e.to_string())),
        "json" => serde_json::from_str(text).map_err(|e| e.to_string()),
        _ => serde_yaml::from_str(text).map_err(|e| e.to_string()),
    }
}

/// Loads a config file (`.toml`, `.yaml`/`.yml`, or `.json`), either a bare transform block
/// or a Vector config with `[transforms.<id>]` tables (pick one with `id`).
pub fn load(path: &Path, id: Option<&str>) -> Result<LoadedConfig, ConfigError> {
    let value = read_value(path)?;
    let parse_err = |reason: String| ConfigError::Parse {
        path: path.to_path_buf(),
        reason,
    };
    let (found_id, block) = match value.get("transforms").and_then(|t| t.as_object()) {
        Some(transforms) => {
            let sigma: Vec<(&String, &serde_json::Value)> = transforms
                .iter()
                .filter(|(_, t)| t.get("type").and_then(|v| v.as_str()) == Some("sigma"))
                .collect();
            let chosen = match id {
                Some(want) => sigma
                    .iter()
                    .find(|(k, _)| k.as_str() == want)
                    .copied()
                    .ok_or_else(|| ConfigError::NoSuchId {
                        path: path.to_path_buf(),
                        id: want.to_string(),
                    })?,
                None => match sigma.as_slice() {
                    [one] => *one,
                    [] => {
                        return Err(ConfigError::NoSigmaTransform {
                            path: path.to_path_buf(),
                        });
                    }
                    many => {
                        return Err(ConfigError::Ambiguous {
                            path: path.to_path_buf(),
                            ids: many
                                .iter()
                                .map(|(k, _)| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                        });
                    }
                },
            };
            (Some(chosen.0.clone()), chosen.1.clone())
        }
        None => (None, value),
    };
    let mut config: SigmaConfig =
        serde_json::from_value(block).map_err(|e| parse_err(e.to_string()))?;
    config.resolve_paths(path.parent().unwrap_or(Path::new(".")));
    Ok(LoadedConfig {
        id: found_id,
        config,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(name: &str, text: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("sigma-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    #[test]
    fn vector_toml_block_and_bare_yaml() {
        let p = write(
            "vector.toml",
            "[sources.win]\ntype = \"file\"\n\n[transforms.tag]\ntype = \"sigma\"\ninputs = [\"win\"]\nrules = [\"rules\"]\nmode = \"route\"\nmin_level = \"high\"\n[transforms.tag.exclude]\nstatuses = [\"experimental\"]\n",
        );
        let c = load(&p, None).unwrap();
        assert_eq!(c.id.as_deref(), Some("tag"));
        assert_eq!(c.config.mode, Mode::Route);
        assert_eq!(c.config.min_level, Some(Level::High));
        assert_eq!(c.config.exclude.statuses, ["experimental"]);
        assert!(
            c.config.rules[0].is_absolute() || c.config.rules[0].starts_with(std::env::temp_dir())
        );
        let y = write(
            "bare.yaml",
            "type: sigma\nrules: [r]\noutput: ecs\nshape: winlogbeat\n",
        );
        let c = load(&y, None).unwrap();
        assert_eq!(c.config.output, OutputProfile::Ecs);
        assert_eq!(c.config.shape, Shape::Winlogbeat);
    }

    #[test]
    fn unknown_keys_and_values_are_errors() {
        let p = write("bad.yaml", "type: sigma\nrules: [r]\nmdoe: tag\n");
        let e = load(&p, None).unwrap_err().to_string();
        assert!(e.contains("unknown field `mdoe`"), "{e}");
        let p = write("bad2.yaml", "type: sigma\nrules: [r]\nmode: drop\n");
        assert!(
            load(&p, None)
                .unwrap_err()
                .to_string()
                .contains("unknown variant `drop`")
        );
        let p = write("none.toml", "[transforms.x]\ntype = \"remap\"\n");
        assert!(matches!(
            load(&p, None),
            Err(ConfigError::NoSigmaTransform { .. })
        ));
    }

    #[test]
    fn schema_describes_every_option() {
        let schema = SigmaConfig::schema();
        let props = schema["properties"].as_object().unwrap();
        for key in [
            "type",
            "inputs",
            "rules",
            "shape",
            "output",
            "mode",
            "field",
            "min_level",
            "include",
            "exclude",
        ] {
            assert!(props.contains_key(key), "{key}");
            assert!(
                props[key].get("description").is_some(),
                "{key} has a description from its doc comment"
            );
        }
    }
}
