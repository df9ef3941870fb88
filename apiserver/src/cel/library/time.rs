//! Go's duration and time formats, as rules see them: `time.ParseDuration` (CEL's `duration()`
//! and the literal validator), kube-openapi's `strfmt` duration and date-time formats (how
//! `format: duration` and `format: date-time` values reach CEL), and RFC 3339 timestamps.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Go's `time.ParseDuration`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+`, or `0`.
pub(in crate::cel) fn parse_go_duration(s: &str) -> Result<chrono::Duration, String> {
    let invalid = || format!("time: invalid duration \"{s}\"");
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &rest[..digits];
        rest = &rest[digits..];
        let mut frac_part = "";
        if let Some(after) = rest.strip_prefix('.') {
            let n = after.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &after[..n];
            rest = &after[n..];
            if int_part.is_empty() && frac_part.is_empty() {
                return Err(invalid());
            }
        } else if int_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        if unit_len == 0 {
            return Err(format!("time: missing unit in duration \"{s}\""));
        }
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let nanos_per: u128 = match unit {
            "ns" => 1,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return Err(format!("time: unknown unit \"{unit}\" in duration \"{s}\"")),
        };
        let whole: u128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(nanos_per).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits = frac_part.len().min(30) as u32;
            let frac: u128 = frac_part[..digits as usize]
                .parse()
                .map_err(|_| invalid())?;
            value += frac * nanos_per / 10u128.pow(digits);
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > 1u128 << 63 {
            return Err(invalid());
        }
    }
    let nanos = i64::try_from(total).ok();
    match (neg, nanos) {
        (false, Some(n)) => Ok(chrono::Duration::nanoseconds(n)),
        (true, Some(n)) => Ok(chrono::Duration::nanoseconds(-n)),
        (true, None) if total == 1u128 << 63 => Ok(chrono::Duration::nanoseconds(i64::MIN)),
        _ => Err(invalid()),
    }
}

/// kube-openapi's `strfmt.ParseDuration`: Go durations, or a sum of `<n> <unit>` terms with
/// units from nanoseconds to weeks (`3d`, `1 week`).
pub(in crate::cel) fn parse_strfmt_duration(s: &str) -> Option<chrono::Duration> {
    if let Ok(d) = parse_go_duration(s) {
        return Some(d);
    }
    const UNITS: &[(&[&str], i64)] = &[
        (&["ns", "nano"], 1),
        (&["us", "µs", "micro"], 1_000),
        (&["ms", "milli"], 1_000_000),
        (&["s", "sec"], 1_000_000_000),
        (&["m", "min"], 60_000_000_000),
        (&["h", "hr", "hour"], 3_600_000_000_000),
        (&["d", "day"], 86_400_000_000_000),
        (&["w", "wk", "week"], 604_800_000_000_000),
    ];
    let mut total: i64 = 0;
    let mut matched = false;
    // The terms are `<digits><spaces><letters>`, anywhere in the string.
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let digits_start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let factor: i64 = chars[digits_start..i]
            .iter()
            .collect::<String>()
            .parse()
            .ok()?;
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let unit_start = i;
        while i < chars.len() && (chars[i].is_ascii_alphabetic() || chars[i] == 'µ') {
            i += 1;
        }
        if unit_start == i {
            continue;
        }
        let unit = chars[unit_start..i]
            .iter()
            .collect::<String>()
            .to_lowercase();
        for (variants, nanos) in UNITS {
            let last = variants.len() - 1;
            for (j, v) in variants.iter().enumerate() {
                if (j == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v) {
                    matched = true;
                    total = total.checked_add(factor.checked_mul(*nanos)?)?;
                }
            }
        }
    }
    matched.then(|| chrono::Duration::nanoseconds(total))
}

/// Go's `time.Parse(time.RFC3339, s)`, which also accepts fractional seconds.
pub(in crate::cel) fn parse_rfc3339(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.len() < 20 || s.as_bytes().get(10) != Some(&b'T') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

/// kube-openapi's `strfmt.ParseDateTime`: RFC 3339, with or without a colon in the offset,
/// or without a zone (UTC).
pub(in crate::cel) fn parse_strfmt_date_time(s: &str) -> Option<DateTime<FixedOffset>> {
    if let Some(t) = parse_rfc3339(s) {
        return Some(t);
    }
    for layout in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%dT%H:%M%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, layout) {
            return Some(t);
        }
    }
    for layout in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, layout) {
            return Some(Utc.from_utc_datetime(&t).fixed_offset());
        }
    }
    None
}

/// A `format: date` value (`2006-01-02`) as a timestamp at midnight UTC.
pub(in crate::cel) fn parse_date(s: &str) -> Option<DateTime<FixedOffset>> {
    let date = NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
    Some(
        Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0)?)
            .fixed_offset(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let ms = |s| parse_go_duration(s).map(|d| d.num_milliseconds());
        assert_eq!(ms("1h30m"), Ok(5_400_000));
        assert_eq!(ms("1.5s"), Ok(1_500));
        assert_eq!(ms("-2m"), Ok(-120_000));
        assert_eq!(ms("0"), Ok(0));
        assert_eq!(ms("300ms"), Ok(300));
        assert!(parse_go_duration("1").is_err());
        assert!(parse_go_duration("1d").is_err());
        assert!(parse_go_duration("").is_err());
        assert_eq!(parse_strfmt_duration("3d").map(|d| d.num_hours()), Some(72));
    }

    #[test]
    fn timestamps() {
        assert!(parse_rfc3339("2021-01-01T00:00:00Z").is_some());
        assert!(parse_rfc3339("2021-01-01T00:00:00.5+02:00").is_some());
        assert!(parse_rfc3339("2021-01-01").is_none());
        assert!(parse_date("2021-01-01").is_some());
        assert!(parse_strfmt_date_time("2021-01-01T10:00:00").is_some());
    }
}
