//! Loading a rule set: files -> documents -> typed rules, collecting every rejection with
//! its file, line and reason while the other rules load.

use std::path::PathBuf;

use crate::document::{self, RuleDocument};
use crate::rule::{BuildOptions, Rejection, Rule};

/// The outcome of loading rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Documents that are not valid rules (or could not be read).
    pub rejected: Vec<Rejection>,
    /// Valid documents of kinds not evaluated yet (correlation, filter).
    pub not_evaluated: Vec<Rejection>,
    /// YAML documents that are not Sigma at all (no `title`, `logsource`, `detection`,
    /// `correlation` or `filter`), such as the logsource mapping next to the rules. They
    /// are listed, not rejected.
    pub skipped: Vec<std::path::PathBuf>,
}

impl RuleSet {
    /// Loads every rule below `paths`.
    pub fn load(paths: &[PathBuf], opts: &BuildOptions) -> RuleSet {
        let mut set = RuleSet::default();
        let files = match document::rule_files(paths) {
            Ok(f) => f,
            Err(rej) => {
                set.rejected.push(rej);
                // Load what the other paths hold.
                paths
                    .iter()
                    .filter(|p| p.exists())
                    .flat_map(|p| document::rule_files(std::slice::from_ref(p)).unwrap_or_default())
                    .collect()
            }
        };
        for f in files {
            for doc in document::read_file(&f) {
                match doc {
                    Ok(doc) => set.add_document(&doc, opts),
                    Err(rej) => set.rejected.push(rej),
                }
            }
        }
        set
    }

    /// Loads rules from YAML text (for tests and embedding).
    pub fn from_text(name: &str, text: &str, opts: &BuildOptions) -> RuleSet {
        let mut set = RuleSet::default();
        for doc in document::parse_text(std::path::Path::new(name), text) {
            match doc {
                Ok(doc) => set.add_document(&doc, opts),
                Err(rej) => set.rejected.push(rej),
            }
        }
        set
    }

    fn add_document(&mut self, doc: &RuleDocument, opts: &BuildOptions) {
        const SIGMA_KEYS: [&str; 5] = ["title", "logsource", "detection", "correlation", "filter"];
        if doc.yaml.is_mapping() && SIGMA_KEYS.iter().all(|k| doc.yaml.get(k).is_none()) {
            self.skipped.push(doc.path.clone());
            return;
        }
        match Rule::from_document(doc, opts) {
            Ok(rule) => self.rules.push(rule),
            Err(e) if e.is_not_evaluated() => self.not_evaluated.push(doc.reject(e)),
            Err(e) => self.rejected.push(doc.reject(e)),
        }
    }

    /// Documents seen: loaded, rejected and not evaluated.
    pub fn total(&self) -> usize {
        self.rules.len() + self.rejected.len() + self.not_evaluated.len()
    }
}
