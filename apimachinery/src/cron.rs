//! CronJob schedules as upstream accepts them (`cron.ParseStandard` of robfig/cron v3): five
//! fields (minute, hour, day of month, month, day of week) with `*`, `?`, lists, ranges,
//! steps and month/day names; the `@yearly`/`@annually`/`@monthly`/`@weekly`/`@daily`/
//! `@midnight`/`@hourly` descriptors; `@every <duration>`; and a `TZ=`/`CRON_TZ=` prefix.
//! Errors carry the library's messages, which upstream returns verbatim. A parsed schedule
//! holds each field as a set of bits, as the library does, for the CronJob controller to find
//! the next time in.
//!
//! Time zones are checked against the IANA database under `/usr/share/zoneinfo` (the
//! apiserver upstream embeds one); on a host without it every well-formed name is accepted.

use std::path::Path;

/// Where IANA time zone files live on Debian and most Linux hosts.
const ZONEINFO_DIR: &str = "/usr/share/zoneinfo";

struct Bounds {
    min: u64,
    max: u64,
    names: &'static [(&'static str, u64)],
}

const MINUTES: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOURS: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DAYS_OF_MONTH: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTHS: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
const DAYS_OF_WEEK: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

/// Set in a day-of-month or day-of-week field written as `*` or `?` (without a step): then a
/// day must match both day fields, otherwise either.
pub const STAR: u64 = 1 << 63;

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Five fields (or a descriptor standing for them), each a set of bits: bit `n` set when
    /// value `n` matches, plus [`STAR`] for the day fields.
    Fields {
        /// The zone of a `TZ=`/`CRON_TZ=` prefix.
        location: Option<String>,
        minute: u64,
        hour: u64,
        day_of_month: u64,
        month: u64,
        day_of_week: u64,
    },
    /// `@every <duration>`: a fixed delay, whole seconds, at least one.
    Every { seconds: u64 },
}

impl Schedule {
    /// Whether a day matches both day fields, or (when neither is a star) either.
    pub fn day_matches(&self, day_of_month: u8, day_of_week: u8) -> bool {
        let Schedule::Fields {
            day_of_month: dom,
            day_of_week: dow,
            ..
        } = self
        else {
            return true;
        };
        let dom_hit = dom & (1 << day_of_month) != 0;
        let dow_hit = dow & (1 << day_of_week) != 0;
        if dom & STAR != 0 || dow & STAR != 0 {
            dom_hit && dow_hit
        } else {
            dom_hit || dow_hit
        }
    }
}

/// Parses a schedule; the error is the message upstream shows after `Invalid value: "...": `.
pub fn parse_standard(spec: &str) -> Result<Schedule, String> {
    if spec.is_empty() {
        return Err("empty spec string".to_string());
    }
    let mut spec = spec;
    let mut location = None;
    if spec.starts_with("TZ=") || spec.starts_with("CRON_TZ=") {
        let eq = spec.find('=').unwrap_or(0);
        let (name, rest) = match spec.find(' ') {
            Some(i) => (&spec[eq + 1..i], spec[i..].trim()),
            None => (&spec[eq + 1..], ""),
        };
        load_location(name).map_err(|e| format!("provided bad location {name}: {e}"))?;
        location = Some(name.to_string());
        spec = rest;
    }
    if spec.starts_with('@') {
        return parse_descriptor(spec, location);
    }
    let fields: Vec<&str> = spec.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    let bounds = [&MINUTES, &HOURS, &DAYS_OF_MONTH, &MONTHS, &DAYS_OF_WEEK];
    let mut bits = [0u64; 5];
    for ((field, b), out) in fields.iter().zip(bounds).zip(bits.iter_mut()) {
        for expr in field.split(',').filter(|e| !e.is_empty()) {
            *out |= get_range(expr, b)?;
        }
    }
    let [minute, hour, day_of_month, month, day_of_week] = bits;
    Ok(Schedule::Fields {
        location,
        minute,
        hour,
        day_of_month,
        month,
        day_of_week,
    })
}

/// The bits `min..=max` every `step`.
fn bits(min: u64, max: u64, step: u64) -> u64 {
    (min..=max)
        .step_by(step as usize)
        .fold(0, |acc, v| acc | 1 << v)
}

fn get_range(expr: &str, b: &Bounds) -> Result<u64, String> {
    let range_and_step: Vec<&str> = expr.split('/').collect();
    let low_and_high: Vec<&str> = range_and_step[0].split('-').collect();
    let single = low_and_high.len() == 1;
    let mut extra = 0;
    let (start, mut end) = if low_and_high[0] == "*" || low_and_high[0] == "?" {
        extra = STAR;
        (b.min, b.max)
    } else {
        let start = int_or_name(low_and_high[0], b)?;
        match low_and_high.len() {
            1 => (start, start),
            2 => (start, int_or_name(low_and_high[1], b)?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    let step = match range_and_step.len() {
        1 => 1,
        2 => {
            let step = parse_uint(range_and_step[1])?;
            // "N/step" means "N-max/step".
            if single {
                end = b.max;
            }
            // A stepped star is no wildcard for the day rule.
            if step > 1 {
                extra = 0;
            }
            step
        }
        _ => return Err(format!("too many slashes: {expr}")),
    };
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    if step == 0 {
        return Err(format!("step of range should be a positive number: {expr}"));
    }
    Ok(bits(start, end, step) | extra)
}

fn int_or_name(expr: &str, b: &Bounds) -> Result<u64, String> {
    let lower = expr.to_lowercase();
    if let Some((_, v)) = b.names.iter().find(|(n, _)| *n == lower) {
        return Ok(*v);
    }
    parse_uint(expr)
}

/// `strconv.Atoi` plus the library's negative check, with their messages.
fn parse_uint(expr: &str) -> Result<u64, String> {
    let quoted = go_quote(expr);
    let digits = expr.strip_prefix(['+', '-']).unwrap_or(expr);
    if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {quoted}: invalid syntax"
        ));
    }
    let n: i64 = expr.parse().map_err(|_| {
        format!(
            "failed to parse int from {expr}: strconv.Atoi: parsing {quoted}: value out of range"
        )
    })?;
    if n < 0 {
        return Err(format!("negative number ({n}) not allowed: {expr}"));
    }
    Ok(n.unsigned_abs())
}

fn go_quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn parse_descriptor(spec: &str, location: Option<String>) -> Result<Schedule, String> {
    let all = |b: &Bounds| bits(b.min, b.max, 1);
    let (minute, hour, day_of_month, month, day_of_week) = match spec {
        "@yearly" | "@annually" => (1, 1, 1 << 1, 1 << 1, all(&DAYS_OF_WEEK) | STAR),
        "@monthly" => (1, 1, 1 << 1, all(&MONTHS) | STAR, all(&DAYS_OF_WEEK) | STAR),
        "@weekly" => (1, 1, all(&DAYS_OF_MONTH) | STAR, all(&MONTHS) | STAR, 1),
        "@daily" | "@midnight" => (
            1,
            1,
            all(&DAYS_OF_MONTH) | STAR,
            all(&MONTHS) | STAR,
            all(&DAYS_OF_WEEK) | STAR,
        ),
        "@hourly" => (
            1,
            all(&HOURS) | STAR,
            all(&DAYS_OF_MONTH) | STAR,
            all(&MONTHS) | STAR,
            all(&DAYS_OF_WEEK) | STAR,
        ),
        _ => {
            let Some(d) = spec.strip_prefix("@every ") else {
                return Err(format!("unrecognized descriptor: {spec}"));
            };
            let nanos =
                parse_duration(d).map_err(|e| format!("failed to parse duration {spec}: {e}"))?;
            // The library rounds to whole seconds and waits at least one.
            let seconds = ((nanos + 500_000_000) / 1_000_000_000).max(1);
            return Ok(Schedule::Every {
                seconds: u64::try_from(seconds).unwrap_or(1),
            });
        }
    };
    Ok(Schedule::Fields {
        location,
        minute,
        hour,
        day_of_month,
        month,
        day_of_week,
    })
}

/// Go's `time.ParseDuration`, returning nanoseconds.
pub fn parse_duration(orig: &str) -> Result<i128, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let (neg, mut s) = match orig.as_bytes().first() {
        Some(b'-') => (true, &orig[1..]),
        Some(b'+') => (false, &orig[1..]),
        _ => (false, orig),
    };
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: i128 = 0;
    while !s.is_empty() {
        let int_len = s.bytes().take_while(u8::is_ascii_digit).count();
        let int_part = &s[..int_len];
        s = &s[int_len..];
        let mut frac_part = "";
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            frac_part = &rest[..n];
            s = &rest[n..];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return Err(invalid());
        }
        let unit_len = s
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        let unit = &s[..unit_len];
        s = &s[unit_len..];
        if unit.is_empty() {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let scale: i128 = match unit {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(unit),
                    go_quote(orig)
                ));
            }
        };
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().map_err(|_| invalid())?
        };
        let mut value = whole.checked_mul(scale).ok_or_else(invalid)?;
        if !frac_part.is_empty() {
            let digits = frac_part.len().min(30) as u32;
            let frac: i128 = frac_part[..digits as usize]
                .parse()
                .map_err(|_| invalid())?;
            value += frac * scale / 10i128.pow(digits);
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > i128::from(i64::MAX) {
            return Err(invalid());
        }
    }
    Ok(if neg { -total } else { total })
}

/// Go's `time.LoadLocation` as far as validation needs it: whether `name` is a zone.
pub fn load_location(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "UTC" || name == "Local" {
        return Ok(());
    }
    if name.contains("..") || name.starts_with('/') || name.starts_with('\\') {
        return Err("time: invalid location name".to_string());
    }
    let dir = Path::new(ZONEINFO_DIR);
    if !dir.is_dir() {
        return Ok(());
    }
    let is_zone = std::fs::read(dir.join(name)).is_ok_and(|b| b.starts_with(b"TZif"));
    if is_zone {
        Ok(())
    } else {
        Err(format!("unknown time zone {name}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_upstream_accepts() {
        for ok in [
            "*/5 * * * *",
            "0 0 1 1 *",
            "0-59/15 0,12 * jan-DEC mon-fri",
            "? * * * ?",
            "5/10 * * * *",
            "@hourly",
            "@every 1h30m",
            "@every 1.5s",
            "CRON_TZ=UTC 0 * * * *",
        ] {
            assert!(parse_standard(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_with_library_messages() {
        let cases = [
            ("* * * *", "expected exactly 5 fields, found 4: [* * * *]"),
            ("", "empty spec string"),
            ("60 * * * *", "end of range (60) above maximum (59): 60"),
            ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
            (
                "5-3 * * * *",
                "beginning of range (5) beyond end of range (3): 5-3",
            ),
            (
                "x * * * *",
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax",
            ),
            (
                "*/0 * * * *",
                "step of range should be a positive number: */0",
            ),
            ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
            ("@often", "unrecognized descriptor: @often"),
            (
                "@every 1d",
                "failed to parse duration @every 1d: time: unknown unit \"d\" in duration \"1d\"",
            ),
            (
                "@every x",
                "failed to parse duration @every x: time: invalid duration \"x\"",
            ),
        ];
        for (spec, msg) in cases {
            assert_eq!(parse_standard(spec), Err(msg.to_string()), "{spec}");
        }
    }

    #[test]
    fn fields_become_bits_with_the_day_rule() {
        let Ok(s @ Schedule::Fields { .. }) = parse_standard("*/15 0,12 1 jan-mar mon") else {
            panic!("not fields");
        };
        let Schedule::Fields {
            minute,
            hour,
            month,
            ..
        } = &s
        else {
            unreachable!()
        };
        assert_eq!(*minute, 1 | 1 << 15 | 1 << 30 | 1 << 45);
        assert_eq!(*hour, 1 | 1 << 12);
        assert_eq!(*month, 0b1110);
        // Neither day field is a star: the 1st or any Monday.
        assert!(s.day_matches(1, 3));
        assert!(s.day_matches(9, 1));
        assert!(!s.day_matches(9, 2));
        // A star day of week: the day of month alone decides.
        let daily = parse_standard("0 0 1 * ?").unwrap();
        assert!(daily.day_matches(1, 3));
        assert!(!daily.day_matches(2, 3));
        assert_eq!(
            parse_standard("@every 1.6s"),
            Ok(Schedule::Every { seconds: 2 })
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert_eq!(
            parse_duration("1"),
            Err("time: missing unit in duration \"1\"".to_string())
        );
    }

    #[test]
    fn time_zones() {
        assert_eq!(load_location("UTC"), Ok(()));
        if Path::new(ZONEINFO_DIR).join("Europe/Berlin").exists() {
            assert_eq!(load_location("Europe/Berlin"), Ok(()));
            assert_eq!(
                load_location("Mars/Olympus"),
                Err("unknown time zone Mars/Olympus".to_string())
            );
        }
    }
}
