//! The whole SigmaHQ corpus under ../shared/sigma: every rule loads or is rejected with a
//! reason. The rejections are kept in a snapshot (`tests/snapshots/corpus-rejections.txt`)
//! so that any change in what loads is seen in review; `UPDATE_SNAPSHOTS=1 cargo test
//! --test corpus` rewrites it.

mod common;

use sigma_transform::logsource::LogsourceMap;
use sigma_transform::matcher::{CompileNote, Matcher};
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;

fn relative(path: &std::path::Path, base: &std::path::Path) -> String {
    path.strip_prefix(base)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[test]
fn corpus_loads_or_is_rejected_with_a_reason() {
    let Some(shared) = common::shared_or_skip("corpus_loads_or_is_rejected_with_a_reason") else {
        return;
    };
    let sigma = shared.join("sigma");
    let set = RuleSet::load(std::slice::from_ref(&sigma), &BuildOptions::default());
    let (_, notes) = Matcher::compile(&set.rules, &LogsourceMap::builtin());
    let mut lines = Vec::new();
    for r in &set.rejected {
        assert!(!r.error.to_string().is_empty());
        lines.push(format!(
            "rejected {}:{}: {}",
            relative(&r.path, &sigma),
            r.line.map(|l| l.to_string()).unwrap_or_default(),
            r.error
        ));
    }
    for r in &set.not_evaluated {
        lines.push(format!(
            "not-evaluated {}: {}",
            relative(&r.path, &sigma),
            r.error
        ));
    }
    for n in &notes {
        if let CompileNote::TooLarge { rule, reason } = n {
            lines.push(format!(
                "disabled {}: {reason}",
                relative(&set.rules[*rule].path, &sigma)
            ));
        }
    }
    lines.sort();
    let summary = format!(
        "# {} documents: {} loaded, {} rejected, {} not evaluated, {} skipped (not Sigma)\n",
        set.total(),
        set.rules.len(),
        set.rejected.len(),
        set.not_evaluated.len(),
        set.skipped.len()
    );
    let snapshot = summary + &lines.join("\n") + "\n";
    let path = common::project("tests/snapshots/corpus-rejections.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &snapshot).unwrap();
    }
    let stored = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        stored, snapshot,
        "corpus rejections changed; review and run UPDATE_SNAPSHOTS=1 cargo test --test corpus"
    );
}

#[test]
fn detection_rule_folders_load_at_least_99_5_percent() {
    let Some(shared) = common::shared_or_skip("detection_rule_folders_load_at_least_99_5_percent")
    else {
        return;
    };
    let sigma = shared.join("sigma");
    let dirs = ["rules", "rules-emerging-threats", "rules-threat-hunting"].map(|d| sigma.join(d));
    let set = RuleSet::load(&dirs, &BuildOptions::default());
    let rate = set.rules.len() as f64 / set.total() as f64;
    eprintln!(
        "corpus: {} of {} documents load ({:.2}%)",
        set.rules.len(),
        set.total(),
        rate * 100.0
    );
    assert!(
        set.total() > 3700,
        "the corpus has ~3,750 rules in these folders"
    );
    assert!(rate >= 0.995, "only {:.2}% load", rate * 100.0);
    let (matcher, notes) = Matcher::compile(&set.rules, &LogsourceMap::builtin());
    assert!(
        !notes
            .iter()
            .any(|n| matches!(n, CompileNote::TooLarge { .. })),
        "no rule hits a size limit: {notes:?}"
    );
    assert!(matcher.stats().predicates > 10_000);
}
