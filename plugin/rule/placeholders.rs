//! Values for `expand` placeholders (`%Workstations%`), given by the user in a YAML file:
//! a map from placeholder name to a value or list of values (Sigma strings, wildcards
//! allowed).

use std::collections::BTreeMap;

/// Placeholder name -> values.
#[derive(Clone, Debug, Default)]
pub struct Placeholders {
    values: BTreeMap<String, Vec<String>>,
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
        Ok(Placeholders { values })
    }

    /// Sets one placeholder's values.
    pub fn insert(&mut self, name: &str, values: Vec<String>) {
        self.values.insert(name.to_string(), values);
    }

    /// Every value `text` expands to: each `%name%` replaced by each of its values (all
    /// combinations); `\%` is a plain percent sign. Fails with the name of a placeholder
    /// that has no values.
    pub fn expand(&self, text: &str) -> Result<Vec<String>, String> {
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
                            .ok_or_else(|| name.to_string())?;
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
        assert_eq!(p.expand("%Missing%"), Err("Missing".to_string()));
        assert_eq!(p.expand("100%").unwrap(), ["100%"]);
    }
}
