//! The per-event path allocates nothing once warm: a counting global allocator watches a
//! second pass over the same events (the first fills the reusable buffers and the regex
//! caches). With `../shared`, the SigmaHQ Windows rules over the regression events as
//! well.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use sigma_transform::logsource::LogsourceMap;
use sigma_transform::rule::BuildOptions;
use sigma_transform::ruleset::RuleSet;
use sigma_transform::transform::{Outcome, Transform, TransformOptions};

struct Counting;

thread_local! {
    /// Allocations made by this thread (tests run on threads of their own).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations of the second of two passes, and the number of matches in it.
fn second_pass(transform: &Transform, lines: &[String]) -> (usize, usize) {
    let mut scratch = transform.scratch();
    let mut out = Vec::with_capacity(lines.iter().map(|l| 2 * l.len() + 4096).sum());
    let mut result = (0, 0);
    for pass in 0..2 {
        out.clear();
        let before = allocations();
        let mut matches = 0;
        for line in lines {
            if let Outcome::Matched(n) =
                transform.process_line(line.as_bytes(), &mut scratch, &mut out)
            {
                matches += n;
            }
            out.push(b'\n');
        }
        if pass == 1 {
            result = (allocations() - before, matches);
        }
    }
    result
}

#[test]
fn bundled_rules_on_sample_events_allocate_nothing_per_event() {
    let set = RuleSet::load(
        &[common::project("rules/windows")],
        &BuildOptions::default(),
    );
    let transform = Transform::new(
        set.rules,
        &LogsourceMap::builtin(),
        TransformOptions::default(),
    );
    let mut lines: Vec<String> = Vec::new();
    for file in ["examples/events/windows-sample.ndjson"]
        .iter()
        .map(|f| common::project(f))
        .chain(
            std::fs::read_dir(common::project("examples/events/shapes"))
                .unwrap()
                .map(|e| e.unwrap().path())
                .filter(|p| p.extension().is_some_and(|e| e == "ndjson")),
        )
    {
        lines.extend(
            std::fs::read_to_string(file)
                .unwrap()
                .lines()
                .map(String::from),
        );
    }
    let (allocations, matches) = second_pass(&transform, &lines);
    assert!(matches > 0, "the sample events match the bundled rules");
    assert_eq!(
        allocations,
        0,
        "allocations in a warm pass over {} events",
        lines.len()
    );
}

#[test]
fn sigmahq_rules_on_regression_events_allocate_nothing_per_event() {
    let Some(shared) =
        common::shared_or_skip("sigmahq_rules_on_regression_events_allocate_nothing_per_event")
    else {
        return;
    };
    let transform = common::sigmahq_transform(&shared);
    let lines: Vec<String> = common::regression_events(&shared)
        .into_iter()
        .map(|(line, _)| line)
        .collect();
    let (allocations, matches) = second_pass(&transform, &lines);
    assert!(
        matches >= lines.len() / 2,
        "{matches} matches on {} events",
        lines.len()
    );
    assert_eq!(
        allocations,
        0,
        "allocations in a warm pass over {} events",
        lines.len()
    );
}
