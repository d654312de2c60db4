//! Why a rule document cannot become a rule: typed reasons a rule author can act on.

use std::path::PathBuf;

use super::condition::ConditionError;

/// A reason a rule is rejected. The `Display` text is what `check` prints.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read file: {0}")]
    Io(String),
    #[error("YAML syntax error: {0}")]
    Yaml(String),
    #[error("the document is not a map of Sigma attributes")]
    NotAMap,
    #[error("missing mandatory attribute '{0}'")]
    Missing(&'static str),
    #[error("attribute '{attr}' must be {expected}")]
    BadAttribute {
        attr: String,
        expected: &'static str,
    },
    #[error("search identifier '{0}' is empty")]
    EmptySearch(String),
    #[error("search identifier '{ident}' has a value of an unsupported type ({found})")]
    BadSearch { ident: String, found: &'static str },
    #[error("unknown modifier '{modifier}' in '{key}'")]
    UnknownModifier { key: String, modifier: String },
    #[error("modifiers in '{key}' cannot be combined: {reason}")]
    ModifierConflict { key: String, reason: String },
    #[error("value of '{key}' is not valid for its modifiers: {reason}")]
    BadValue { key: String, reason: String },
    #[error("regular expression in '{key}' cannot be used: {reason}")]
    Regex { key: String, reason: String },
    #[error(
        "placeholder '%{placeholder}%' in '{key}' has no values (give them in a placeholders file)"
    )]
    Placeholder { key: String, placeholder: String },
    #[error("condition: {0}")]
    Condition(#[from] ConditionError),
    #[error("this is a {0} document; {0} rules are recognised but not evaluated yet")]
    NotEvaluated(&'static str),
    #[error(
        "only filter documents are read from filter paths (--filters, `filters`); load rules with --rules"
    )]
    NotAFilter,
    #[error("correlation: {0}")]
    Correlation(String),
    #[error("multi-document file: {0}")]
    Collection(String),
    #[error(
        "over the limit {limit} ({value}; raise it in the config's `limits` if this rule is trusted)"
    )]
    Limit { limit: &'static str, value: String },
}

impl RuleError {
    /// The text to look for in the source to locate the error's line.
    pub fn anchor(&self) -> Option<&str> {
        match self {
            RuleError::UnknownModifier { key, .. }
            | RuleError::ModifierConflict { key, .. }
            | RuleError::BadValue { key, .. }
            | RuleError::Regex { key, .. }
            | RuleError::Placeholder { key, .. } => Some(key),
            RuleError::EmptySearch(ident) | RuleError::BadSearch { ident, .. } => Some(ident),
            RuleError::Condition(_) => Some("condition"),
            RuleError::Missing(_) => None,
            RuleError::BadAttribute { attr, .. } => Some(attr),
            _ => None,
        }
    }

    /// True when the document is valid Sigma of a kind this engine does not evaluate yet.
    pub fn is_not_evaluated(&self) -> bool {
        matches!(self, RuleError::NotEvaluated(_))
    }
}

/// A rejected rule: where it is and why.
#[derive(Clone, Debug, PartialEq)]
pub struct Rejection {
    pub path: PathBuf,
    /// 1-based line, where it could be located.
    pub line: Option<usize>,
    /// The rule's title or id, when the document got that far.
    pub rule: Option<String>,
    pub error: RuleError,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.error)
    }
}
