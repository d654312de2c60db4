//! Timestamps for the time modifiers (`minute` ... `year`): the parts are read as written,
//! with no time-zone conversion (the specification says the modifiers do not convert).
//!
//! Accepted: `YYYY-MM-DD`, optionally followed by `T` or a space and `HH:MM[:SS[.fraction]]`
//! and an optional zone (`Z`, `+hh:mm`) which is ignored.

use crate::rule::detection::TimePart;

/// A calendar date and time of day as written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timestamp {
    pub year: i32,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses a timestamp; `None` when the text is not one.
pub fn parse(text: &str) -> Option<Timestamp> {
    let t = text.trim();
    let date = t.get(..10)?;
    let mut d = date.split('-');
    let year = num(d.next()?)? as i32;
    let month = num(d.next()?)?;
    let day = num(d.next()?)?;
    if d.next().is_some()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
    {
        return None;
    }
    let rest = &t[10..];
    let (hour, minute) = if rest.is_empty() {
        (0, 0)
    } else {
        let time = rest.strip_prefix('T').or_else(|| rest.strip_prefix(' '))?;
        let hour = num(time.get(..2)?)?;
        if time.get(2..3)? != ":" {
            return None;
        }
        let minute = num(time.get(3..5)?)?;
        if hour > 23 || minute > 59 {
            return None;
        }
        (hour, minute)
    };
    Some(Timestamp {
        year,
        month,
        day,
        hour,
        minute,
    })
}

fn is_leap(y: i32) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// Days since 1970-01-01 (proleptic Gregorian).
fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(if m <= 2 { y - 1 } else { y });
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

impl Timestamp {
    /// ISO 8601 week number (1 to 53).
    pub fn iso_week(&self) -> u32 {
        let days = days_from_civil(self.year, self.month, self.day);
        let weekday = (days + 3).rem_euclid(7) + 1; // Monday = 1
        let ordinal = days - days_from_civil(self.year, 1, 1) + 1;
        let week = (ordinal - weekday + 10).div_euclid(7);
        if week < 1 {
            // Last week of the previous year.
            let dec31 = Timestamp {
                year: self.year - 1,
                month: 12,
                day: 31,
                hour: 0,
                minute: 0,
            };
            return dec31.iso_week();
        }
        let days_in_year = if is_leap(self.year) { 366 } else { 365 };
        if week == 53 {
            let jan1_next_weekday = (days_from_civil(self.year + 1, 1, 1) + 3).rem_euclid(7) + 1;
            // Week 53 exists only if the year does not end before Thursday.
            if ordinal > days_in_year - 3 && jan1_next_weekday <= 4 {
                return 1;
            }
        }
        week as u32
    }

    /// The part a time modifier extracts.
    pub fn part(&self, part: TimePart) -> f64 {
        f64::from(match part {
            TimePart::Minute => self.minute,
            TimePart::Hour => self.hour,
            TimePart::Day => self.day,
            TimePart::Week => self.iso_week(),
            TimePart::Month => self.month,
            TimePart::Year => return f64::from(self.year),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_windows_timestamps() {
        let t = parse("2019-03-19T23:52:41.6316830Z").unwrap();
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute),
            (2019, 3, 19, 23, 52)
        );
        assert_eq!(parse("2020-02-29 01:02:03").unwrap().day, 29);
        assert!(parse("2019-02-29T00:00:00Z").is_none());
        assert!(parse("not a date").is_none());
        assert!(parse("2019-13-01").is_none());
    }

    #[test]
    fn iso_weeks() {
        for (date, week) in [
            ("2021-01-03", 53),
            ("2021-01-04", 1),
            ("2020-12-31", 53),
            ("2019-12-30", 1),
            ("2024-06-15", 24),
            ("2026-01-01", 1),
            ("2027-01-01", 53),
        ] {
            assert_eq!(parse(date).unwrap().iso_week(), week, "{date}");
        }
    }
}
