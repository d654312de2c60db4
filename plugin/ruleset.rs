//! Loading a rule set: files -> documents -> typed rules and filters, collecting every
//! rejection with its file, line and reason while the other rules load; then the filters
//! are applied to the rules they name ([`crate::rule::filter`]).

use std::path::PathBuf;

use crate::document::{self, DocumentKind, RuleDocument};
use crate::rule::correlation::{self, Correlation};
use crate::rule::filter::{Filter, FilterTargets, refers_to};
use crate::rule::{BuildOptions, Rejection, Rule, RuleError};

/// The outcome of loading rules.
#[derive(Debug, Default)]
pub struct RuleSet {
    /// Detection rules, with the filters that apply to them already applied.
    pub rules: Vec<Rule>,
    /// Filter documents (from the rule paths and the filter paths).
    pub filters: Vec<Filter>,
    /// Correlation documents that are valid and whose references resolve.
    pub correlations: Vec<Correlation>,
    /// Documents that are not valid rules (or could not be read).
    pub rejected: Vec<Rejection>,
    /// Valid documents of kinds not evaluated (none since correlations are; kept for
    /// kinds a later Sigma version adds).
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
    /// Loads every rule (and filter) below `paths`.
    pub fn load(paths: &[PathBuf], opts: &BuildOptions) -> RuleSet {
        RuleSet::load_with_filters(paths, &[], opts)
    }

    /// Loads every rule and filter below `rule_paths`, and every filter below
    /// `filter_paths` (a team's tuning kept apart from the vendor's rules; anything but a
    /// filter there is rejected), then applies the filters.
    pub fn load_with_filters(
        rule_paths: &[PathBuf],
        filter_paths: &[PathBuf],
        opts: &BuildOptions,
    ) -> RuleSet {
        let mut set = RuleSet::default();
        set.read(rule_paths, opts, false);
        set.read(filter_paths, opts, true);
        set.note_duplicate_ids();
        set.apply_filters();
        set.resolve_correlations();
        set
    }

    /// Checks every correlation's references (and cycles); one that cannot be used is
    /// moved to `rejected` with the reason.
    fn resolve_correlations(&mut self) {
        let resolved = correlation::resolve(&self.correlations, &self.rules);
        let all = std::mem::take(&mut self.correlations);
        for (c, r) in all.into_iter().zip(resolved) {
            match r {
                Ok(_) => self.correlations.push(c),
                Err(e) => self.rejected.push(Rejection {
                    path: c.path.clone(),
                    line: Some(c.line),
                    rule: Some(c.meta.title.clone()),
                    error: e,
                }),
            }
        }
    }

    fn read(&mut self, paths: &[PathBuf], opts: &BuildOptions, filters_only: bool) {
        let found = document::rule_files(paths);
        self.rejected.extend(found.unreadable);
        self.warnings.extend(
            found
                .skipped
                .into_iter()
                .map(|(p, why)| format!("{}: skipped: {why}", p.display())),
        );
        for f in found.files {
            for doc in document::read_file(&f, &opts.limits) {
                match doc {
                    Ok(doc) if filters_only && doc.kind != DocumentKind::Filter => {
                        self.rejected.push(doc.reject(RuleError::NotAFilter))
                    }
                    Ok(doc) => self.add_document(&doc, opts),
                    Err(rej) => self.rejected.push(rej),
                }
            }
        }
    }

    /// Applies every filter to the rules it names, and reports what does not fit: a name
    /// no loaded rule has, a named rule outside the filter's logsource, a condition
    /// without `not` (which keeps only what it matches).
    fn apply_filters(&mut self) {
        for f in &self.filters {
            let at = format!("filter '{}' ({})", f.title, f.path.display());
            if f.keeps_only_matches() {
                self.warnings.push(format!(
                    "{at}: its condition '{}' has no 'not', so the rules it names fire only on \
                     events it matches (a filter's condition is ANDed with the rule's; write \
                     'not {}' to exclude them)",
                    f.condition_text(),
                    f.condition_text()
                ));
            }
            if let FilterTargets::Rules(refs) = &f.targets {
                for r in refs {
                    if !self.rules.iter().any(|rule| refers_to(r, rule)) {
                        self.warnings.push(format!(
                            "{at}: no loaded rule has the id, name or title '{r}'"
                        ));
                    }
                }
            }
            let mut applied = 0;
            for rule in self.rules.iter_mut().filter(|r| f.names(r)) {
                if f.covers(&rule.logsource) {
                    f.apply(rule);
                    applied += 1;
                } else if f.targets != FilterTargets::Any {
                    self.warnings.push(format!(
                        "{at}: rule '{}' has logsource '{}', outside the filter's '{}'; not filtered",
                        rule.meta.title, rule.logsource, f.logsource
                    ));
                }
            }
            if applied == 0 && f.targets == FilterTargets::Any {
                self.warnings.push(format!(
                    "{at}: no loaded rule has a logsource inside '{}'",
                    f.logsource
                ));
            }
        }
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
        set.apply_filters();
        set.resolve_correlations();
        set
    }

    fn add_document(&mut self, doc: &RuleDocument, opts: &BuildOptions) {
        const SIGMA_KEYS: [&str; 5] = ["title", "logsource", "detection", "correlation", "filter"];
        if doc.yaml.is_mapping() && SIGMA_KEYS.iter().all(|k| doc.yaml.get(k).is_none()) {
            self.skipped.push(doc.path.clone());
            return;
        }
        if doc.kind == DocumentKind::Filter {
            match Filter::from_document(doc, opts) {
                Ok(f) => self.filters.push(f),
                Err(e) => self.rejected.push(doc.reject(e)),
            }
            return;
        }
        if doc.kind == DocumentKind::Correlation {
            match Correlation::from_document(doc) {
                Ok(c) => self.correlations.push(c),
                Err(e) => self.rejected.push(doc.reject(e)),
            }
            return;
        }
        match Rule::from_document(doc, opts) {
            Ok(rule) => self.rules.push(rule),
            Err(e) if e.is_not_evaluated() => self.not_evaluated.push(doc.reject(e)),
            Err(e) => self.rejected.push(doc.reject(e)),
        }
    }

    /// Documents seen: rules, filters and correlations loaded, rejected and not evaluated.
    pub fn total(&self) -> usize {
        self.rules.len()
            + self.filters.len()
            + self.correlations.len()
            + self.rejected.len()
            + self.not_evaluated.len()
    }
}
