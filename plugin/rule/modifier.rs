//! The value modifiers of the Sigma modifiers appendix (v2.1), parsed from the `|mod` chain
//! of a detection key.

use std::fmt;

/// One value modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Modifier {
    Contains,
    StartsWith,
    EndsWith,
    All,
    Exists,
    Cased,
    Neq,
    Windash,
    Re,
    /// `re` sub-modifier `i` (`ignorecase`).
    ReIgnoreCase,
    /// `re` sub-modifier `m` (`multiline`).
    ReMultiLine,
    /// `re` sub-modifier `s` (`dotall`).
    ReDotAll,
    Base64,
    Base64Offset,
    Utf16Le,
    Utf16Be,
    Utf16,
    Lt,
    Lte,
    Gt,
    Gte,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Year,
    Cidr,
    Expand,
    FieldRef,
}

impl Modifier {
    /// Parses a modifier name as written after `|`.
    pub fn parse(name: &str) -> Option<Modifier> {
        use Modifier::*;
        Some(match name {
            "contains" => Contains,
            "startswith" => StartsWith,
            "endswith" => EndsWith,
            "all" => All,
            "exists" => Exists,
            "cased" => Cased,
            "neq" => Neq,
            "windash" => Windash,
            "re" => Re,
            "i" | "ignorecase" => ReIgnoreCase,
            "m" | "multiline" => ReMultiLine,
            "s" | "dotall" => ReDotAll,
            "base64" => Base64,
            "base64offset" => Base64Offset,
            "utf16le" | "wide" => Utf16Le,
            "utf16be" => Utf16Be,
            "utf16" => Utf16,
            "lt" => Lt,
            "lte" => Lte,
            "gt" => Gt,
            "gte" => Gte,
            "minute" => Minute,
            "hour" => Hour,
            "day" => Day,
            "week" => Week,
            "month" => Month,
            "year" => Year,
            "cidr" => Cidr,
            "expand" => Expand,
            "fieldref" => FieldRef,
            _ => return None,
        })
    }

    /// The canonical name.
    pub fn name(self) -> &'static str {
        use Modifier::*;
        match self {
            Contains => "contains",
            StartsWith => "startswith",
            EndsWith => "endswith",
            All => "all",
            Exists => "exists",
            Cased => "cased",
            Neq => "neq",
            Windash => "windash",
            Re => "re",
            ReIgnoreCase => "i",
            ReMultiLine => "m",
            ReDotAll => "s",
            Base64 => "base64",
            Base64Offset => "base64offset",
            Utf16Le => "utf16le",
            Utf16Be => "utf16be",
            Utf16 => "utf16",
            Lt => "lt",
            Lte => "lte",
            Gt => "gt",
            Gte => "gte",
            Minute => "minute",
            Hour => "hour",
            Day => "day",
            Week => "week",
            Month => "month",
            Year => "year",
            Cidr => "cidr",
            Expand => "expand",
            FieldRef => "fieldref",
        }
    }
}

impl fmt::Display for Modifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
