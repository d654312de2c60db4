//! Values for `expand` placeholders (`%Workstations%`), given by the user in a YAML file:
//! a map from placeholder name to a value or list of values (Sigma strings, wildcards
//! allowed).

use std::collections::BTreeMap;

/// Placeholder name -> values.
#[derive(Clone, Debug)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
    /// Most values one `expand` may give ([`super::limits::RuleLimits::max_values_per_rule`]).
    limit: usize,
}

impl Default for Placeholders {
    fn default() -> Self {
        Placeholders {
            values: BTreeMap::new(),
            limit: super::limits::RuleLimits::default().max_values_per_rule,
        }
    }
}

/// Why a value cannot be expanded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExpandError {
    /// This placeholder has no values.
    Missing(String),
    /// The combinations would be this many, more than the limit.
    TooMany(u128),
}

impl Placeholders {
    /// Parses a placeholders file.
    pub fn from_yaml(text: &str) -> Result<Placeholders, String> {
        let map: BTreeMap<String, serde_yaml::Value> =
            serde_yaml::from_str(text).map_err(|e| e.to_string())?;
        let mut values = BTreeMap::new();
        for (name, v) in map {
            let list = match v {
                serde_yaml::Value::Sequence(s) => {
                    s.iter().map(yaml_text).collect::<Option<Vec<_>>>()
                }
                other => yaml_text(&other).map(|t| vec![t]),
            }
            .ok_or_else(|| format!("placeholder '{name}': values must be strings or numbers"))?;
            values.insert(name.trim_matches('%').to_string(), list);
        }
        Ok(Placeholders {
            values,
            ..Placeholders::default()
        })
    }

    /// Sets the most values one `expand` may give.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// How many values `text` expands to, counted without expanding (saturating).
    fn combinations(&self, text: &str) -> Result<u128, ExpandError> {
        let mut count: u128 = 1;
        let mut rest = text;
        while let Some(i) = rest.find('%') {
            let escaped = i > 0 && rest.as_bytes()[i - 1] == b'\\';
            let after = &rest[i + 1..];
            match after.find('%') {
                Some(end) if end > 0 && !escaped => {
                    let name = &after[..end];
                    let n = self
                        .values
                        .get(name)
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| ExpandError::Missing(name.to_string()))?
                        .len();
                    count = count.saturating_mul(n as u128);
                    rest = &after[end + 1..];
                }
                _ => rest = after,
            }
        }
        Ok(count)
    }

    /// Sets one placeholder's values.
    pub fn insert(&mut self, name: &str, values: Vec<String>) {
        self.values.insert(name.to_string(), values);
    }

    /// Every value `text` expands to: each `%name%` replaced by each of its values (all
    /// combinations); `\%` is a plain percent sign. Fails with the name of a placeholder
    /// that has no values, or when the combinations would be more than the limit (counted
    /// first: nothing is built).
    pub fn expand(&self, text: &str) -> Result<Vec<String>, ExpandError> {
        let count = self.combinations(text)?;
        if count > self.limit as u128 {
            return Err(ExpandError::TooMany(count));
        }
        let mut results = vec![String::new()];
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("\\%") {
                results.iter_mut().for_each(|r| r.push('%'));
                rest = after;
            } else if let Some(after) = rest.strip_prefix('%') {
                match after.find('%') {
                    Some(end) if end > 0 => {
                        let name = &after[..end];
                        let values = self
                            .values
                            .get(name)
                            .filter(|v| !v.is_empty())
                            .ok_or_else(|| ExpandError::Missing(name.to_string()))?;
                        results = results
                            .iter()
                            .flat_map(|r| values.iter().map(move |v| format!("{r}{v}")))
                            .collect();
                        rest = &after[end + 1..];
                    }
                    _ => {
                        results.iter_mut().for_each(|r| r.push('%'));
                        rest = after;
                    }
                }
            } else {
                let c = rest.chars().next().unwrap_or_default();
                results.iter_mut().for_each(|r| r.push(c));
                rest = &rest[c.len_utf8()..];
            }
        }
        Ok(results)
    }
}

fn yaml_text(v: &serde_yaml::Value) -> Option<String> {
    match v {
        serde_yaml::Value::String(s) => Some(s.clone()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_all_combinations_and_escapes() {
        let p = Placeholders::from_yaml("Workstations: [ws1, ws2]\n'%Servers%': srv*\n").unwrap();
        assert_eq!(p.expand("%Workstations%").unwrap(), ["ws1", "ws2"]);
        assert_eq!(
            p.expand("a-%Servers%-%Workstations%").unwrap(),
            ["a-srv*-ws1", "a-srv*-ws2"]
        );
        assert_eq!(p.expand("\\%plain%Servers%").unwrap(), ["%plainsrv*"]);
        assert_eq!(
            p.expand("%Missing%"),
            Err(ExpandError::Missing("Missing".to_string()))
        );
        assert_eq!(p.expand("100%").unwrap(), ["100%"]);
    }

    #[test]
    fn combinations_over_the_limit_are_refused_before_expanding() {
        let values: Vec<String> = (0..1000).map(|i| format!("v{i}")).collect();
        let mut p = Placeholders::default();
        for n in ["a", "b", "c"] {
            p.insert(n, values.clone());
        }
        assert_eq!(
            p.expand("%a%-%b%-%c%"),
            Err(ExpandError::TooMany(1_000_000_000))
        );
        assert_eq!(
            p.expand("%a%%a%%a%%a%%a%%a%"),
            Err(ExpandError::TooMany(10u128.pow(18)))
        );
        assert_eq!(p.expand("%a%").unwrap().len(), 1000);
        p.set_limit(999);
        assert_eq!(p.expand("%a%"), Err(ExpandError::TooMany(1000)));
        assert_eq!(p.expand("\\%a%").unwrap(), ["%a%"]);
    }
}
