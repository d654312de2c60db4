//! Names for Fluent Bit's positional `StringInserts`: a table of (provider, event id,
//! version) -> event data field names, shipped as `rules/winevt/string_inserts.tsv` (built
//! from real EVTX records and the providers' manifests; see rules/winevt/README.md).

use std::collections::HashMap;
use std::sync::Arc;

/// The built-in table.
pub const BUILTIN: &str = include_str!("../../rules/winevt/string_inserts.tsv");

/// One template: the field names in insert order.
type Names = Arc<[String]>;

/// Field names by (provider, event id, version).
#[derive(Clone, Debug, Default)]
pub struct InsertNames {
    exact: HashMap<(String, u64, u64), Vec<Names>>,
    any_version: HashMap<(String, u64), Vec<Names>>,
}

impl InsertNames {
    /// The built-in table.
    pub fn builtin() -> InsertNames {
        InsertNames::from_tsv(BUILTIN).expect("the built-in StringInserts table is valid")
    }

    /// Parses the TSV table (`provider`, `event_id`, `version`, `fields`, ...).
    pub fn from_tsv(text: &str) -> Result<InsertNames, String> {
        let mut t = InsertNames::default();
        for (i, line) in text.lines().enumerate().skip(1) {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            let bad = || {
                format!(
                    "line {}: expected provider, event_id, version, fields",
                    i + 1
                )
            };
            if cols.len() < 4 {
                return Err(bad());
            }
            let id: u64 = cols[1].trim().parse().map_err(|_| bad())?;
            let version: u64 = cols[2].trim().parse().map_err(|_| bad())?;
            let names: Arc<[String]> = cols[3].split(',').map(|s| s.trim().to_string()).collect();
            let provider = cols[0].trim().to_ascii_lowercase();
            t.any_version
                .entry((provider.clone(), id))
                .or_default()
                .push(names.clone());
            t.exact
                .entry((provider, id, version))
                .or_default()
                .push(names);
        }
        Ok(t)
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.exact.values().map(Vec::len).sum()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.exact.is_empty()
    }

    /// The names for an event: the row of its version whose field count equals the number
    /// of inserts (Sysmon added fields without raising versions, so one version can have
    /// rows of several lengths), else the names shared by every row of that event with
    /// that field count.
    pub fn lookup(
        &self,
        provider: &str,
        id: u64,
        version: Option<u64>,
        inserts: usize,
    ) -> Option<Arc<[String]>> {
        let provider = provider.to_ascii_lowercase();
        if let Some(v) = version
            && let Some(rows) = self.exact.get(&(provider.clone(), id, v))
            && let Some(names) = rows.iter().find(|n| n.len() == inserts)
        {
            return Some(names.clone());
        }
        let candidates: Vec<&Arc<[String]>> = self
            .any_version
            .get(&(provider, id))?
            .iter()
            .filter(|n| n.len() == inserts)
            .collect();
        match candidates.as_slice() {
            [one] => Some((*one).clone()),
            [first, rest @ ..] if rest.iter().all(|n| n == first) => Some((*first).clone()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_version_then_unique_count() {
        let t = InsertNames::from_tsv(
            "provider\tevent_id\tversion\tfields\nP\t1\t5\ta,b,c\nP\t1\t3\ta,b\nP\t1\t5\ta,b,c,d\n",
        )
        .unwrap();
        assert_eq!(
            &*t.lookup("P", 1, Some(5), 4).unwrap(),
            ["a", "b", "c", "d"]
        );
        assert_eq!(&*t.lookup("p", 1, Some(5), 3).unwrap(), ["a", "b", "c"]);
        assert_eq!(&*t.lookup("P", 1, Some(9), 2).unwrap(), ["a", "b"]);
        assert!(t.lookup("P", 1, None, 5).is_none());
        assert!(t.lookup("Q", 1, Some(5), 3).is_none());
    }
}
