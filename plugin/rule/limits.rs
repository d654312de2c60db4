//! Bounds on what rules may cost to load, so a rule from a shared repository cannot take
//! the process down: each is checked before the work it bounds (file size and YAML
//! nesting before parsing, the number of `expand` combinations before expanding), and
//! going over one rejects that rule or document with the limit in its reason.
//!
//! The defaults are far above anything SigmaHQ has (its largest file is 288 KiB, its
//! deepest YAML 5 levels, its largest rule 4,433 values, all of it 50,133 values), and
//! keep a hostile rule set within about a gigabyte of memory while loading.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The bounds (config table `limits`; README "Limits").
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct RuleLimits {
    /// Largest rule file read, in bytes; a larger file is rejected unread.
    pub max_file_bytes: u64,
    /// Deepest nesting of YAML collections (flow `[`/`{` and block indentation), checked
    /// with one pass over the text before the YAML parser runs (its cost grows with the
    /// square of the depth).
    pub max_yaml_depth: usize,
    /// Most documents in one file, `action: repeat` and `global` documents included; the
    /// documents after it are rejected.
    pub max_documents_per_file: usize,
    /// Most values in one rule after `expand` placeholders are expanded (checked before
    /// expanding).
    pub max_values_per_rule: usize,
    /// Most values in one file (`action: repeat` copies the previous document, so a
    /// small file can hold many large rules).
    pub max_values_per_file: usize,
}

impl Default for RuleLimits {
    fn default() -> Self {
        RuleLimits {
            max_file_bytes: 4 << 20,
            max_yaml_depth: 64,
            max_documents_per_file: 1_000,
            max_values_per_rule: 100_000,
            max_values_per_file: 200_000,
        }
    }
}

/// The nesting depth of YAML text, counted without parsing: open flow brackets outside
/// quotes, plus the number of distinct indentation levels of the enclosing block lines.
/// An upper bound of what the parser would nest, computed in one pass.
pub fn yaml_depth(text: &str) -> usize {
    let mut max = 0;
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for line in text.lines() {
        let trimmed = line.trim_start_matches(' ');
        if flow == 0 {
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
            // `- - - x` nests one level per dash.
            let dashes = trimmed.split(' ').take_while(|t| *t == "-").count();
            max = max.max(indents.len() + dashes);
        }
        let (mut single, mut double) = (false, false);
        let bytes = trimmed.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if double => i += 1,
                b'"' if !single => double = !double,
                b'\'' if !double => single = !single,
                b'#' if !single && !double && (i == 0 || bytes[i - 1] == b' ') => break,
                b'[' | b'{' if !single && !double => {
                    flow += 1;
                    max = max.max(indents.len() + flow);
                }
                b']' | b'}' if !single && !double => flow = flow.saturating_sub(1),
                _ => {}
            }
            i += 1;
        }
    }
    max
}

/// The number of values in a YAML value (scalars, counted through lists and maps).
pub fn yaml_values(v: &serde_yaml::Value) -> usize {
    let mut n = 0;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            serde_yaml::Value::Sequence(s) => stack.extend(s.iter()),
            serde_yaml::Value::Mapping(m) => stack.extend(m.values()),
            serde_yaml::Value::Tagged(t) => stack.push(&t.value),
            _ => n += 1,
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_blocks_flows_and_dashes_but_not_quoted_brackets() {
        assert_eq!(yaml_depth("title: x\n"), 1);
        assert_eq!(yaml_depth("a:\n  b:\n    c: 1\n  d: 2\n"), 3);
        assert_eq!(yaml_depth("a: [[{b: 1}]]\n"), 4);
        assert_eq!(yaml_depth("a: '[[[[' # [[[\n"), 1);
        assert_eq!(yaml_depth("a: \"\\\"[[\"\n"), 1);
        assert_eq!(yaml_depth("- - - x\n"), 4);
        assert_eq!(
            yaml_depth(&"[".repeat(40_000)),
            40_001,
            "the line, then each bracket"
        );
        let deep: String = (0..100)
            .map(|i| format!("{}a{i}:\n", " ".repeat(i)))
            .collect();
        assert_eq!(yaml_depth(&deep), 100);
    }

    #[test]
    fn values_are_counted_through_collections() {
        let v: serde_yaml::Value = serde_yaml::from_str("a: [1, 2, {b: 3}]\nc: x\n").unwrap();
        assert_eq!(yaml_values(&v), 4);
    }
}
