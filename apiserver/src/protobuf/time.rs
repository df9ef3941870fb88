//! The JSON forms of `metav1.Time` (RFC 3339, seconds), `metav1.MicroTime` (RFC 3339,
//! microseconds) and `metav1.Duration` (Go's duration syntax), and their parsing back.

use chrono::{DateTime, Utc};

/// Seconds since the epoch as upstream's `Time` marshals it (UTC, second precision). The Go
/// zero time is `null`.
pub fn format_time(seconds: i64) -> serde_json::Value {
    match DateTime::<Utc>::from_timestamp(seconds, 0) {
        Some(t) if seconds != GO_ZERO_TIME => {
            serde_json::Value::String(t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
        }
        _ => serde_json::Value::Null,
    }
}

/// Seconds and nanoseconds as upstream's `MicroTime` marshals them.
pub fn format_micro_time(seconds: i64, nanos: i64) -> serde_json::Value {
    let nanos = u32::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0);
    match DateTime::<Utc>::from_timestamp(seconds, nanos) {
        Some(t) if seconds != GO_ZERO_TIME => serde_json::Value::String(format!(
            "{}.{:06}Z",
            t.format("%Y-%m-%dT%H:%M:%S"),
            nanos / 1000
        )),
        _ => serde_json::Value::Null,
    }
}

/// `time.Time{}.Unix()` in Go: January 1 of year 1.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// An RFC 3339 time as (seconds, nanoseconds).
pub fn parse_time(s: &str) -> Option<(i64, i64)> {
    let t = DateTime::parse_from_rfc3339(s).ok()?;
    Some((t.timestamp(), i64::from(t.timestamp_subsec_nanos())))
}

/// Nanoseconds as Go's `time.Duration.String()` writes them: `1h2m3.5s`, `1.5ms`, `0s`.
pub fn format_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let u = nanos.unsigned_abs();
    if u < 1_000_000_000 {
        let (digits, unit) = match u {
            0..1_000 => (0, "ns"),
            1_000..1_000_000 => (3, "µs"),
            _ => (6, "ms"),
        };
        return format!("{sign}{}{unit}", frac(u, digits));
    }
    let secs = u / 1_000_000_000;
    let seconds = frac(u % 60_000_000_000, 9);
    let (mins, hours) = (secs / 60 % 60, secs / 3600);
    match (hours, secs / 60) {
        (0, 0) => format!("{sign}{seconds}s"),
        (0, _) => format!("{sign}{mins}m{seconds}s"),
        _ => format!("{sign}{hours}h{mins}m{seconds}s"),
    }
}

/// `v / 10^digits` with its fraction, trailing zeros dropped.
fn frac(v: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (whole, part) = (v / scale, v % scale);
    if part == 0 {
        return whole.to_string();
    }
    let fraction = format!("{part:0width$}", width = digits as usize);
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// A Go duration string (`1h30m`, `1.5s`, `-2ms`, `0`) as nanoseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Some(0);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    let total = total.round() as i64;
    Some(if neg { -total } else { total })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        for (nanos, text) in [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (1_000_000_000, "1s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (-2_000_000, "-2ms"),
        ] {
            assert_eq!(format_duration(nanos), text);
            assert_eq!(parse_duration(text), Some(nanos), "{text}");
        }
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000_000));
        assert_eq!(parse_duration("5x"), None);
    }

    #[test]
    fn times() {
        assert_eq!(format_time(0), serde_json::json!("1970-01-01T00:00:00Z"));
        assert_eq!(format_time(GO_ZERO_TIME), serde_json::Value::Null);
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some((1_700_000_000, 0)));
        assert_eq!(
            parse_time("2023-11-14T22:13:20.123456Z"),
            Some((1_700_000_000, 123_456_000))
        );
    }
}
