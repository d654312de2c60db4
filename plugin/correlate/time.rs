//! Event time for correlations: where each event shape keeps it, how it is read, and how
//! window bounds are written back (RFC 3339, UTC).
//!
//! Looked up in this order (the first that reads as a time wins): the configured
//! `timestamp_field`; evtx_dump's `Event.System.TimeCreated.#attributes.SystemTime`;
//! `@timestamp` (Winlogbeat, Elastic Agent, Vector's Elasticsearch shape); `timestamp`
//! (Vector's log namespace); `TimeCreated` (flat, or `{SystemTime: ...}`); `EventTime`
//! (NXLog); `TimeGenerated` (Fluent Bit's winevtlog); `UtcTime` (Sysmon's own field).
//!
//! Accepted text: `YYYY-MM-DD` then `T` or a space, `HH:MM:SS`, an optional fraction, and
//! an optional zone (`Z`, `+hh:mm`, `+hhmm`, or ` +hhmm` after a space); no zone is UTC.
//! Numbers are Unix time: seconds below 10^11, milliseconds above.

use crate::event::json::JsonEvent;
use crate::event::tree::NodeRef;

/// Paths tried after the configured field, as key lists from the event's root.
const PATHS: &[&[&str]] = &[
    &[
        "Event",
        "System",
        "TimeCreated",
        "#attributes",
        "SystemTime",
    ],
    &["@timestamp"],
    &["timestamp"],
    &["TimeCreated"],
    &["TimeCreated", "SystemTime"],
    &["EventTime"],
    &["TimeGenerated"],
    &["UtcTime"],
];

/// The event's time in milliseconds since the Unix epoch, when it has one.
pub fn event_time(event: &JsonEvent, field: Option<&str>) -> Option<i64> {
    let root = event.root();
    if let Some(f) = field {
        let keys: Vec<&str> = f.split('.').collect();
        if let Some(t) = at(root, &keys).and_then(node_time) {
            return Some(t);
        }
    }
    PATHS
        .iter()
        .find_map(|keys| at(root, keys).and_then(node_time))
}

fn at<'t>(root: NodeRef<'t>, keys: &[&str]) -> Option<NodeRef<'t>> {
    let mut n = root;
    for k in keys {
        n = n.get(k)?;
    }
    Some(n)
}

/// Times after this (the year 10000, in ms) are not times: a hostile number must not
/// push window arithmetic past `i64`.
const LATEST: i64 = 253_402_300_800_000;

fn node_time(n: NodeRef<'_>) -> Option<i64> {
    if let Some(s) = n.as_str() {
        return parse(s);
    }
    let f = n.scalar()?.number()?;
    if !f.is_finite() || f < 0.0 {
        return None;
    }
    let ms = if f < 1e11 { f * 1000.0 } else { f };
    (ms < LATEST as f64).then_some(ms as i64)
}

fn digits(s: &[u8], n: usize) -> Option<i64> {
    if s.len() < n || !s[..n].iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        s[..n]
            .iter()
            .fold(0i64, |a, d| a * 10 + i64::from(d - b'0')),
    )
}

/// Milliseconds since the epoch of a timestamp in the accepted forms.
pub fn parse(text: &str) -> Option<i64> {
    let s = text.trim().as_bytes();
    let year = digits(s, 4)?;
    if s.get(4) != Some(&b'-') || s.get(7) != Some(&b'-') {
        return None;
    }
    let month = digits(&s[5..], 2)?;
    let day = digits(&s[8..], 2)?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let mut ms = days_from_civil(year, month, day) * 86_400_000;
    let mut i = 10;
    if i < s.len() && (s[i] == b'T' || s[i] == b' ') {
        let h = digits(s.get(i + 1..)?, 2)?;
        let m = digits(s.get(i + 4..)?, 2)?;
        let sec = digits(s.get(i + 7..)?, 2)?;
        if s.get(i + 3) != Some(&b':')
            || s.get(i + 6) != Some(&b':')
            || h > 23
            || m > 59
            || sec > 60
        {
            return None;
        }
        ms += ((h * 60 + m) * 60 + sec) * 1000;
        i += 9;
        if s.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < s.len() && s[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &s[start..i];
            let mut millis = 0i64;
            for k in 0..3 {
                millis = millis * 10 + frac.get(k).map_or(0, |d| i64::from(d - b'0'));
            }
            ms += millis;
        }
        if s.get(i) == Some(&b' ') {
            i += 1;
        }
        match s.get(i) {
            None => {}
            Some(b'Z') | Some(b'z') if i + 1 == s.len() => {}
            Some(&sign @ (b'+' | b'-')) => {
                let rest = &s[i + 1..];
                let hh = digits(rest, 2)?;
                let mm = match rest.get(2) {
                    Some(b':') => digits(&rest[3..], 2)?,
                    Some(_) => digits(&rest[2..], 2)?,
                    None => 0,
                };
                let off = (hh * 60 + mm) * 60_000;
                ms += if sign == b'+' { -off } else { off };
            }
            Some(_) => return None,
        }
    } else if i != s.len() {
        return None;
    }
    Some(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// RFC 3339 in UTC with milliseconds, e.g. `2024-05-01T12:00:00.000Z`.
pub fn format(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_s_time_is_read_and_round_trips() {
        let t = parse("2024-05-01T12:34:56.789Z").unwrap();
        assert_eq!(format(t), "2024-05-01T12:34:56.789Z");
        assert_eq!(parse("2024-05-01 12:34:56.789123"), Some(t));
        assert_eq!(parse("2024-05-01T14:34:56.789+02:00"), Some(t));
        assert_eq!(parse("2024-05-01 14:34:56.789 +0200"), Some(t));
        assert_eq!(parse("1970-01-01"), Some(0));
        assert_eq!(format(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            parse("2000-02-29T00:00:00Z").map(format).as_deref(),
            Some("2000-02-29T00:00:00.000Z")
        );
        for bad in [
            "",
            "2024",
            "2024-13-01",
            "2024-05-01T25:00:00",
            "2024-05-01Tx",
            "yesterday",
            "2024-05-01T12:00:00Q",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_shapes_fields_are_found() {
        let cases = [
            r##"{"Event":{"System":{"TimeCreated":{"#attributes":{"SystemTime":"2024-05-01T00:00:01Z"}}}}}"##,
            r#"{"@timestamp":"2024-05-01T00:00:01Z","winlog":{}}"#,
            r#"{"timestamp":"2024-05-01T00:00:01Z"}"#,
            r#"{"TimeCreated":"2024-05-01 00:00:01"}"#,
            r#"{"EventTime":"2024-05-01 00:00:01"}"#,
            r#"{"TimeGenerated":"2024-05-01 00:00:01 +0000"}"#,
            r#"{"UtcTime":"2024-05-01 00:00:01.000"}"#,
            r#"{"when":1714521601}"#,
            r#"{"when":1714521601000}"#,
        ];
        let want = parse("2024-05-01T00:00:01Z");
        for c in cases {
            let ev = JsonEvent::parse(c.as_bytes()).unwrap();
            assert_eq!(event_time(&ev, Some("when")), want, "{c}");
        }
        let ev = JsonEvent::parse(br#"{"x":1}"#).unwrap();
        assert_eq!(event_time(&ev, None), None);
        // Numbers past the year 9999, negative or not finite are not times.
        for bad in [
            r#"{"when":1e300}"#,
            r#"{"when":-5}"#,
            r#"{"when":253402300800000}"#,
        ] {
            let ev = JsonEvent::parse(bad.as_bytes()).unwrap();
            assert_eq!(event_time(&ev, Some("when")), None, "{bad}");
        }
    }
}
