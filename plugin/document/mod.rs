//! Rule documents: Sigma YAML files read from disk, split into documents, each with the
//! file and line it starts at. Nothing here knows what a detection means; it only gets the
//! YAML to the typed-rule layer ([`crate::rule`]) with enough position to report errors.
//!
//! Handled here: directories walked recursively (`.yml`/`.yaml`), multi-document files
//! (`---`), and the old `action: global` / `reset` / `repeat` collections of Sigma 1.0,
//! whose global part is merged into each following document.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_yaml::Value;

use crate::rule::limits::{self, RuleLimits};
use crate::rule::{Rejection, RuleError};

/// What kind of Sigma document this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DocumentKind {
    Detection,
    Correlation,
    Filter,
}

/// One YAML document from a rule file.
#[derive(Clone, Debug)]
pub struct RuleDocument {
    pub path: PathBuf,
    /// 1-based line where the document starts in the file.
    pub line: usize,
    pub kind: DocumentKind,
    pub yaml: Value,
    /// The document's own text, for locating errors.
    pub text: Arc<str>,
}

impl RuleDocument {
    /// The 1-based file line of the first line of this document containing `needle`.
    pub fn locate(&self, needle: &str) -> Option<usize> {
        let needle = needle.trim();
        if needle.is_empty() {
            return None;
        }
        self.text
            .lines()
            .position(|l| {
                let t = l
                    .trim_start()
                    .trim_start_matches("- ")
                    .trim_start_matches(['\'', '"']);
                t.starts_with(needle) || l.contains(needle)
            })
            .map(|i| self.line + i)
    }

    /// A rejection of this document, located where the error's anchor text is.
    pub fn reject(&self, error: RuleError) -> Rejection {
        let line = error
            .anchor()
            .and_then(|a| self.locate(a))
            .or(Some(self.line));
        let rule = self
            .yaml
            .get("title")
            .or_else(|| self.yaml.get("id"))
            .and_then(Value::as_str)
            .map(str::to_string);
        Rejection {
            path: self.path.clone(),
            line,
            rule,
            error,
        }
    }
}

/// The rule files below some paths, and what the walk could not read or skipped.
#[derive(Debug, Default)]
pub struct RuleFiles {
    /// Files given, and `.yml` / `.yaml` regular files in the folders given, each once.
    pub files: Vec<PathBuf>,
    /// Paths that could not be read: rejections (`--strict` fails on them).
    pub unreadable: Vec<Rejection>,
    /// Entries skipped on purpose (FIFOs, links back into the tree), with the reason.
    pub skipped: Vec<(PathBuf, String)>,
}

/// Every rule file below the given paths (files are taken as given; directories are walked
/// for `.yml` and `.yaml`, see [`crate::walk`]), in a stable order.
pub fn rule_files(paths: &[PathBuf]) -> RuleFiles {
    let w = crate::walk::walk(paths, &|p| {
        matches!(p.extension().and_then(|e| e.to_str()), Some("yml" | "yaml"))
    });
    RuleFiles {
        files: w.files,
        unreadable: w
            .unreadable
            .into_iter()
            .map(|(path, reason)| Rejection {
                path,
                line: None,
                rule: None,
                error: RuleError::Io(reason),
            })
            .collect(),
        skipped: w.skipped,
    }
}

/// Reads one rule file into its documents. Errors are per document: a broken document
/// does not hide its neighbours. A file larger than `limits.max_file_bytes` is rejected
/// unread.
pub fn read_file(path: &Path, limits: &RuleLimits) -> Vec<Result<RuleDocument, Rejection>> {
    let reject = |error| {
        vec![Err(Rejection {
            path: path.to_path_buf(),
            line: None,
            rule: None,
            error,
        })]
    };
    let too_large = |bytes: u64| {
        reject(RuleError::Limit {
            limit: "max_file_bytes",
            value: format!("{bytes} bytes, more than {}", limits.max_file_bytes),
        })
    };
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) => return reject(RuleError::Io(e.to_string())),
    };
    if let Ok(meta) = file.metadata()
        && meta.len() > limits.max_file_bytes
    {
        return too_large(meta.len());
    }
    // Read at most one byte past the limit: a file that grows while read stays bounded.
    let mut bytes = Vec::new();
    if let Err(e) = file.take(limits.max_file_bytes + 1).read_to_end(&mut bytes) {
        return reject(RuleError::Io(e.to_string()));
    }
    if bytes.len() as u64 > limits.max_file_bytes {
        return too_large(bytes.len() as u64);
    }
    match String::from_utf8(bytes) {
        Ok(text) => parse_text(path, &text, limits),
        Err(e) => reject(RuleError::Io(format!("not UTF-8 text: {}", e.utf8_error()))),
    }
}

/// Splits `text` into YAML documents and parses each, within `limits` (nesting depth
/// per document before it is parsed, documents and values per file). A UTF-8 byte order
/// mark at the start is skipped.
pub fn parse_text(
    path: &Path,
    text: &str,
    limits: &RuleLimits,
) -> Vec<Result<RuleDocument, Rejection>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs: Vec<Result<RuleDocument, Rejection>> = Vec::new();
    let mut global: Option<Value> = None;
    let mut documents = 0usize;
    let mut values = 0usize;
    let limit = |line: usize, limit: &'static str, value: String| {
        Err(Rejection {
            path: path.to_path_buf(),
            line: Some(line),
            rule: None,
            error: RuleError::Limit { limit, value },
        })
    };
    for (line, chunk) in split_documents(text) {
        if chunk
            .lines()
            .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        {
            continue;
        }
        documents += 1;
        if documents > limits.max_documents_per_file {
            docs.push(limit(
                line,
                "max_documents_per_file",
                format!(
                    "document {documents} of one file, more than {}; it and the rest of the file are not read",
                    limits.max_documents_per_file
                ),
            ));
            break;
        }
        let depth = limits::yaml_depth(chunk);
        if depth > limits.max_yaml_depth {
            docs.push(limit(
                line,
                "max_yaml_depth",
                format!("nested {depth} deep, more than {}", limits.max_yaml_depth),
            ));
            continue;
        }
        let yaml: Value = match serde_yaml::from_str(chunk) {
            Ok(v) => v,
            Err(e) => {
                let at = e.location().map(|l| line + l.line() - 1);
                let msg = e.to_string();
                let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
                docs.push(Err(Rejection {
                    path: path.to_path_buf(),
                    line: at.or(Some(line)),
                    rule: None,
                    error: RuleError::Yaml(msg),
                }));
                continue;
            }
        };
        let action = yaml
            .get("action")
            .and_then(Value::as_str)
            .map(str::to_string);
        let yaml = match action.as_deref() {
            Some("global") => {
                let mut g = yaml;
                if let Value::Mapping(m) = &mut g {
                    m.remove("action");
                }
                global = Some(g);
                continue;
            }
            Some("reset") => {
                global = None;
                continue;
            }
            Some("repeat") => {
                // Repeat the previous document with these keys changed.
                let Some(Ok(prev)) = docs.iter().rev().find(|d| d.is_ok()) else {
                    docs.push(Err(Rejection {
                        path: path.to_path_buf(),
                        line: Some(line),
                        rule: None,
                        error: RuleError::Collection(
                            "'action: repeat' with no document before it".into(),
                        ),
                    }));
                    continue;
                };
                let mut base = prev.yaml.clone();
                let mut patch = yaml;
                if let Value::Mapping(m) = &mut patch {
                    m.remove("action");
                }
                merge(&mut base, patch);
                base
            }
            Some(other) => {
                docs.push(Err(Rejection {
                    path: path.to_path_buf(),
                    line: Some(line),
                    rule: None,
                    error: RuleError::Collection(format!("unknown action '{other}'")),
                }));
                continue;
            }
            None => match &global {
                Some(g) => {
                    let mut base = g.clone();
                    merge(&mut base, yaml);
                    base
                }
                None => yaml,
            },
        };
        values += limits::yaml_values(&yaml);
        if values > limits.max_values_per_file {
            docs.push(limit(
                line,
                "max_values_per_file",
                format!(
                    "{values} values up to this document, more than {}; it and the rest of the file are not read",
                    limits.max_values_per_file
                ),
            ));
            break;
        }
        let kind = if yaml.get("correlation").is_some() {
            DocumentKind::Correlation
        } else if yaml.get("filter").is_some() && yaml.get("detection").is_none() {
            DocumentKind::Filter
        } else {
            DocumentKind::Detection
        };
        docs.push(Ok(RuleDocument {
            path: path.to_path_buf(),
            line,
            kind,
            yaml,
            text: Arc::from(chunk),
        }));
    }
    docs
}

/// Deep-merges `patch` into `base` (maps merge, anything else replaces).
fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Mapping(b), Value::Mapping(p)) => {
            for (k, v) in p {
                match b.get_mut(&k) {
                    Some(existing) => merge(existing, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, p) => *b = p,
    }
}

/// Splits on `---` document markers, giving each document's first line (1-based).
fn split_documents(text: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start_byte = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let t = line.trim_end();
        if t == "---" || t.starts_with("--- ") {
            out.push((start_line, &text[start_byte..offset]));
            start_byte = offset + line.len();
            start_line = i + 2;
        }
        offset += line.len();
    }
    out.push((start_line, &text[start_byte..]));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multi_document_files_keep_their_lines() {
        let text = "title: a\ndetection: {}\n---\n# comment\ntitle: b\n";
        let docs = parse_text(Path::new("x.yml"), text, &RuleLimits::default());
        assert_eq!(docs.len(), 2);
        let b = docs[1].as_ref().unwrap();
        assert_eq!(b.line, 4);
        assert_eq!(b.locate("title"), Some(5));
    }

    #[test]
    fn global_action_merges_into_each_document() {
        let text = "action: global\ntitle: t\ndetection:\n  condition: sel\n---\ndetection:\n  sel: {a: 1}\n---\ndetection:\n  sel: {a: 2}\n";
        let docs: Vec<_> = parse_text(Path::new("x.yml"), text, &RuleLimits::default())
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(docs.len(), 2);
        for d in &docs {
            assert_eq!(d.yaml["title"].as_str(), Some("t"));
            assert_eq!(d.yaml["detection"]["condition"].as_str(), Some("sel"));
        }
    }

    #[test]
    fn yaml_errors_point_at_the_line() {
        let text = "title: a\n---\ntitle: b\ndetection: [unclosed\n";
        let docs = parse_text(Path::new("x.yml"), text, &RuleLimits::default());
        let err = docs[1].as_ref().unwrap_err();
        assert!(matches!(err.error, RuleError::Yaml(_)));
        assert!(err.line.unwrap() >= 3, "{err}");
    }

    #[test]
    fn correlation_and_filter_documents_are_recognised() {
        let docs = parse_text(
            Path::new("x.yml"),
            "title: c\ncorrelation: {type: event_count}\n---\ntitle: f\nfilter: {rules: [a]}\nlogsource: {}\n",
            &RuleLimits::default(),
        );
        assert_eq!(docs[0].as_ref().unwrap().kind, DocumentKind::Correlation);
        assert_eq!(docs[1].as_ref().unwrap().kind, DocumentKind::Filter);
    }
}
