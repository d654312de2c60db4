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
    /// By lowercased provider, so an event's provider is looked up without a copy.
    by_provider: HashMap<String, Templates>,
}

/// One provider's templates.
#[derive(Clone, Debug, Default)]
struct Templates {
    exact: HashMap<(u64, u64), Vec<Names>>,
    any_version: HashMap<u64, Vec<Names>>,
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
            let templates = t.by_provider.entry(provider).or_default();
            templates
                .any_version
                .entry(id)
                .or_default()
                .push(names.clone());
            templates
                .exact
                .entry((id, version))
                .or_default()
                .push(names);
        }
        Ok(t)
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.by_provider
            .values()
            .flat_map(|t| t.exact.values())
            .map(Vec::len)
            .sum()
    }

    /// True when the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_provider.is_empty()
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
        // Lowercased on the stack: this runs for every Fluent Bit event.
        let mut buf = [0u8; 128];
        let owned;
        let provider = if !provider.bytes().any(|b| b.is_ascii_uppercase()) {
            provider
        } else if provider.len() <= buf.len() {
            let b = &mut buf[..provider.len()];
            b.copy_from_slice(provider.as_bytes());
            b.make_ascii_lowercase();
            std::str::from_utf8(b).expect("ASCII lowercasing keeps UTF-8")
        } else {
            owned = provider.to_ascii_lowercase();
            &owned
        };
        let templates = self.by_provider.get(provider)?;
        if let Some(v) = version
            && let Some(rows) = templates.exact.get(&(id, v))
            && let Some(names) = rows.iter().find(|n| n.len() == inserts)
        {
            return Some(names.clone());
        }
        let mut fitting = templates
            .any_version
            .get(&id)?
            .iter()
            .filter(|n| n.len() == inserts);
        let first = fitting.next()?;
        fitting.all(|n| n == first).then(|| first.clone())
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
