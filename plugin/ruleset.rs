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
    /// Things a rule author should know that do not reject a rule: duplicate rule ids,
    /// entries of a rules folder skipped on purpose (FIFOs, links back into the tree).
    pub warnings: Vec<String>,
}

impl RuleSet {
    /// Loads every rule below `paths`.
    pub fn load(paths: &[PathBuf], opts: &BuildOptions) -> RuleSet {
        let mut set = RuleSet::default();
        let found = document::rule_files(paths);
        set.rejected.extend(found.unreadable);
        set.warnings.extend(
            found
                .skipped
                .into_iter()
                .map(|(p, why)| format!("{}: skipped: {why}", p.display())),
        );
        let files = found.files;
        for f in files {
            for doc in document::read_file(&f, &opts.limits) {
                match doc {
                    Ok(doc) => set.add_document(&doc, opts),
                    Err(rej) => set.rejected.push(rej),
                }
            }
        }
        set.note_duplicate_ids();
        set
    }

    /// Rule ids are unique in Sigma: a second rule with an id already loaded is reported
    /// (both still load; a tag's id would no longer say which rule fired).
    fn note_duplicate_ids(&mut self) {
        let mut first: std::collections::HashMap<&str, &Rule> = Default::default();
        for r in &self.rules {
            let Some(id) = r.meta.id.as_deref() else {
                continue;
            };
            if let Some(prev) = first.insert(id, r) {
                self.warnings.push(format!(
                    "rule id {id} is used twice: {} and {}",
                    prev.path.display(),
                    r.path.display()
                ));
                first.insert(id, prev);
            }
        }
    }

    /// Loads rules from YAML text (for tests and embedding).
    pub fn from_text(name: &str, text: &str, opts: &BuildOptions) -> RuleSet {
        let mut set = RuleSet::default();
        for doc in document::parse_text(std::path::Path::new(name), text, &opts.limits) {
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
