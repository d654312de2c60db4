//! A rule on one kind of event as a boolean formula in negation normal form: the kind's
//! `when` conditions and the detection, with the kind's field renames applied, over
//! interned atoms. This is the form [`super::implies`] compares.
//!
//! The formula follows the compiled matcher (`plugin/matcher`) exactly: a field test is
//! the OR (AND with `all`) of its values, each value the OR of its alternatives, `neq`
//! negates the test, `x of` becomes AND / OR / at-least, and a field is read under the
//! name the event kind gives it (`Image` is `NewProcessName` on Security 4688).

use std::collections::HashMap;

use crate::logsource::{EventKind, WhenValue};
use crate::rule::Rule;
use crate::rule::condition::Expr;
use crate::rule::detection::{FieldTest, Matcher, SearchExpr};

/// An atomic condition on one event field.
#[derive(Clone, Debug, PartialEq)]
pub enum Atom {
    /// A value test of the detection on an event field (renamed for the kind; `""` is the
    /// keyword search over all values).
    Test { field: String, matcher: Matcher },
    /// A `when` condition of the event kind: the field has one of these values.
    When {
        field: String,
        values: Vec<WhenValue>,
    },
}

impl Atom {
    /// The event field the atom reads.
    pub fn field(&self) -> &str {
        match self {
            Atom::Test { field, .. } | Atom::When { field, .. } => field,
        }
    }

    fn key(&self) -> String {
        format!("{self:?}")
    }
}

/// Atoms shared by every formula of a catalog, so that each distinct one is analysed once.
#[derive(Debug, Default)]
pub struct Atoms {
    atoms: Vec<Atom>,
    index: HashMap<String, u32>,
}

impl Atoms {
    /// The id of `atom`, adding it when new.
    pub fn intern(&mut self, atom: Atom) -> u32 {
        let key = atom.key();
        if let Some(id) = self.index.get(&key) {
            return *id;
        }
        let id = self.atoms.len() as u32;
        self.atoms.push(atom);
        self.index.insert(key, id);
        id
    }

    /// The atom with this id.
    pub fn get(&self, id: u32) -> &Atom {
        &self.atoms[id as usize]
    }

    /// Number of atoms.
    pub fn len(&self) -> usize {
        self.atoms.len()
    }

    /// True when there is none.
    pub fn is_empty(&self) -> bool {
        self.atoms.is_empty()
    }
}

/// A formula in negation normal form: negation only on atoms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Formula {
    /// An atom (`true`) or its negation (`false`).
    Lit(bool, u32),
    And(Vec<Formula>),
    Or(Vec<Formula>),
    /// At least `k` of the formulas hold.
    AtLeast(usize, Vec<Formula>),
}

impl Formula {
    /// Every literal, with its polarity.
    pub fn literals(&self, out: &mut Vec<(bool, u32)>) {
        match self {
            Formula::Lit(p, a) => out.push((*p, *a)),
            Formula::And(v) | Formula::Or(v) | Formula::AtLeast(_, v) => {
                v.iter().for_each(|f| f.literals(out))
            }
        }
    }

    fn and(mut items: Vec<Formula>) -> Formula {
        let mut flat = Vec::with_capacity(items.len());
        for f in items.drain(..) {
            match f {
                Formula::And(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().unwrap()
        } else {
            Formula::And(flat)
        }
    }

    fn or(mut items: Vec<Formula>) -> Formula {
        let mut flat = Vec::with_capacity(items.len());
        for f in items.drain(..) {
            match f {
                Formula::Or(inner) => flat.extend(inner),
                other => flat.push(other),
            }
        }
        if flat.len() == 1 {
            flat.pop().unwrap()
        } else {
            Formula::Or(flat)
        }
    }

    fn at_least(k: usize, items: Vec<Formula>) -> Formula {
        // k = 0 always holds and k > n never does; both stay as they are, and the
        // implication check reads them right.
        if k == 1 {
            Formula::or(items)
        } else if k == items.len() && k > 0 {
            Formula::and(items)
        } else {
            Formula::AtLeast(k, items)
        }
    }
}

/// Builds formulas of rules on event kinds.
pub struct Builder<'a> {
    pub atoms: &'a mut Atoms,
}

impl Builder<'_> {
    /// The rule on one kind of event: `when` conditions AND the detection.
    pub fn variant(&mut self, rule: &Rule, kind: &EventKind) -> Formula {
        let mut items = Vec::new();
        for (field, values) in &kind.when {
            let id = self.atoms.intern(Atom::When {
                field: field.clone(),
                values: values.clone(),
            });
            items.push(Formula::Lit(true, id));
        }
        items.push(self.detection(rule, Some(kind)));
        Formula::and(items)
    }

    /// The detection alone, on Sigma field names (`kind` `None`) or renamed for a kind.
    pub fn detection(&mut self, rule: &Rule, kind: Option<&EventKind>) -> Formula {
        self.expr(rule, &rule.detection.expr, true, kind)
    }

    fn expr(&mut self, rule: &Rule, e: &Expr, pos: bool, kind: Option<&EventKind>) -> Formula {
        match e {
            Expr::Search(i) => self.search(&rule.detection.searches[*i].expr, pos, kind),
            Expr::Not(inner) => self.expr(rule, inner, !pos, kind),
            Expr::And(items) | Expr::Or(items) => {
                let parts: Vec<Formula> = items
                    .iter()
                    .map(|i| self.expr(rule, i, pos, kind))
                    .collect();
                if matches!(e, Expr::And(_)) == pos {
                    Formula::and(parts)
                } else {
                    Formula::or(parts)
                }
            }
            Expr::AtLeast(k, items) => {
                let parts: Vec<Formula> = items
                    .iter()
                    .map(|i| self.expr(rule, i, pos, kind))
                    .collect();
                let k = if pos {
                    *k
                } else {
                    // Fewer than k hold <=> at least n - k + 1 fail.
                    (items.len() + 1).saturating_sub(*k)
                };
                Formula::at_least(k, parts)
            }
        }
    }

    fn search(&mut self, e: &SearchExpr, pos: bool, kind: Option<&EventKind>) -> Formula {
        match e {
            SearchExpr::Test(t) => self.test(t, pos, kind),
            SearchExpr::And(items) | SearchExpr::Or(items) => {
                let parts: Vec<Formula> = items.iter().map(|i| self.search(i, pos, kind)).collect();
                if matches!(e, SearchExpr::And(_)) == pos {
                    Formula::and(parts)
                } else {
                    Formula::or(parts)
                }
            }
        }
    }

    fn test(&mut self, t: &FieldTest, pos: bool, kind: Option<&EventKind>) -> Formula {
        let field = match (&t.field, kind) {
            (Some(f), Some(k)) => k.resolve(f).to_string(),
            (Some(f), None) => f.clone(),
            (None, _) => String::new(),
        };
        // `neq` negates the whole test.
        let pos = pos != t.negated;
        let values: Vec<Formula> = t
            .values
            .iter()
            .map(|v| {
                let alts: Vec<Formula> =
                    v.any.iter().map(|m| self.literal(&field, m, pos)).collect();
                if pos {
                    Formula::or(alts)
                } else {
                    Formula::and(alts)
                }
            })
            .collect();
        if t.all == pos {
            Formula::and(values)
        } else {
            Formula::or(values)
        }
    }

    fn literal(&mut self, field: &str, m: &Matcher, pos: bool) -> Formula {
        // `exists: false` holds exactly when `exists: true` does not.
        let (m, pos) = match m {
            Matcher::Exists(false) if !field.is_empty() => (Matcher::Exists(true), !pos),
            other => (other.clone(), pos),
        };
        let id = self.atoms.intern(Atom::Test {
            field: field.to_string(),
            matcher: m,
        });
        Formula::Lit(pos, id)
    }
}
