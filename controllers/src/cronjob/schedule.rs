//! When a CronJob fires: the next time after a given one (robfig/cron's `Next`, walking month,
//! day, hour and minute in the schedule's zone), the most recent time that was due and missed,
//! and how long to wait for the next one.
//!
//! The walk runs on wall-clock times of the zone, which then map to instants with the usual
//! rule for DST gaps and folds (a time skipped by a gap moves forward; a repeated one takes its
//! first instant). Upstream walks instants and moves by whole hours across a transition; the
//! two differ only for schedules firing within the hour a clock change skips or repeats.

use apimachinery::cron::Schedule;
use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};
use std::time::Duration;

/// How far past a scheduled time the controller looks again (upstream `nextScheduleDelta`).
pub const DELTA: Duration = Duration::from_millis(100);

/// More missed times than this earn a warning (upstream's limit in `mostRecentScheduleTime`).
pub const MANY_MISSED: i64 = 100;

/// The zone a schedule's fields are read in: its `TZ=` prefix, else `zone`.
fn zone_of(schedule: &Schedule, zone: &TimeZone) -> TimeZone {
    match schedule {
        Schedule::Fields {
            location: Some(name),
            ..
        } => TimeZone::get(name).unwrap_or_else(|_| zone.clone()),
        _ => zone.clone(),
    }
}

/// The first time strictly after `after` the schedule fires; `None` when none falls within
/// five years (a schedule such as `0 0 30 2 *`).
pub fn next(schedule: &Schedule, zone: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let (minute, hour, month) = match schedule {
        Schedule::Every { seconds } => {
            let at = after
                .as_second()
                .checked_add(i64::try_from(*seconds).ok()?)?;
            return Timestamp::from_second(at).ok();
        }
        Schedule::Fields {
            minute,
            hour,
            month,
            ..
        } => (*minute, *hour, *month),
    };
    let zone = zone_of(schedule, zone);
    let start = after.to_zoned(zone.clone()).datetime();
    // The upcoming whole second.
    let mut t = start
        .with()
        .subsec_nanosecond(0)
        .build()
        .ok()?
        .checked_add(1.second())
        .ok()?;
    let year_limit = t.year() + 5;
    let mut added = false;
    let has = |bits: u64, v: i8| bits & (1u64 << v) != 0;
    'wrap: loop {
        if t.year() > year_limit {
            return None;
        }
        while !has(month, t.month()) {
            if !added {
                added = true;
                t = Date::new(t.year(), t.month(), 1)
                    .ok()?
                    .to_datetime(midnight());
            }
            t = t.checked_add(1.month()).ok()?;
            if t.month() == 1 {
                continue 'wrap;
            }
        }
        while !schedule.day_matches(t.day() as u8, t.weekday().to_sunday_zero_offset() as u8) {
            if !added {
                added = true;
                t = t.date().to_datetime(midnight());
            }
            t = t.checked_add(1.day()).ok()?;
            if t.day() == 1 {
                continue 'wrap;
            }
        }
        while !has(hour, t.hour()) {
            if !added {
                added = true;
                t = t.with().minute(0).second(0).build().ok()?;
            }
            t = t.checked_add(1.hour()).ok()?;
            if t.hour() == 0 {
                continue 'wrap;
            }
        }
        while !has(minute, t.minute()) {
            if !added {
                added = true;
                t = t.with().second(0).build().ok()?;
            }
            t = t.checked_add(1.minute()).ok()?;
            if t.minute() == 0 {
                continue 'wrap;
            }
        }
        // Standard schedules fire at second 0 only.
        while t.second() != 0 {
            added = true;
            t = t.checked_add(1.second()).ok()?;
            if t.second() == 0 {
                continue 'wrap;
            }
        }
        break;
    }
    let at = zone.to_ambiguous_zoned(t).compatible().ok()?.timestamp();
    Some(at)
}

fn midnight() -> jiff::civil::Time {
    jiff::civil::Time::midnight()
}

/// What [`most_recent`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// Where the search started: the last schedule time, else the CronJob's creation (moved up
    /// to the starting deadline when asked).
    pub earliest: Timestamp,
    /// The latest time due by `now`, if any.
    pub most_recent: Option<Timestamp>,
    /// Whether more than [`MANY_MISSED`] times were missed.
    pub many_missed: bool,
}

/// The latest time the schedule fired after `earliest` and by `now` (upstream
/// `mostRecentScheduleTime`); `deadline` (startingDeadlineSeconds) moves `earliest` up to
/// `now - deadline`.
pub fn most_recent(
    schedule: &Schedule,
    zone: &TimeZone,
    earliest: Timestamp,
    deadline: Option<i64>,
    now: Timestamp,
) -> Result<Due, String> {
    let mut earliest = earliest;
    if let Some(seconds) = deadline
        && let Ok(limit) = Timestamp::from_second(now.as_second() - seconds)
        && limit > earliest
    {
        earliest = limit;
    }
    let none = Due {
        earliest,
        most_recent: None,
        many_missed: false,
    };
    let Some(t1) = next(schedule, zone, earliest) else {
        return Ok(none);
    };
    let Some(t2) = next(schedule, zone, t1) else {
        return Ok(if now < t1 {
            none
        } else {
            Due {
                most_recent: Some(t1),
                ..none
            }
        });
    };
    if now < t1 {
        return Ok(none);
    }
    if now < t2 {
        return Ok(Due {
            most_recent: Some(t1),
            ..none
        });
    }
    let between = (t2.as_millisecond() - t1.as_millisecond() + 500) / 1000;
    if between < 1 {
        return Err("time difference between two schedules is less than 1 second".to_string());
    }
    let elapsed = now.as_second() - t1.as_second();
    let missed = elapsed / between + 1;
    // Jump close to `now`, then walk the last steps.
    let from = Timestamp::from_second(t1.as_second() + (missed - 2) * between).unwrap_or(t1);
    let mut most_recent = None;
    let mut t = next(schedule, zone, from);
    while let Some(at) = t.filter(|at| *at <= now) {
        most_recent = Some(at);
        t = next(schedule, zone, at);
    }
    Ok(Due {
        earliest,
        most_recent,
        many_missed: missed > MANY_MISSED,
    })
}

/// How long from `now` until the controller should look again (upstream
/// `nextScheduleTimeDuration`): just after the next time following the most recent one due.
pub fn wait(schedule: &Schedule, zone: &TimeZone, earliest: Timestamp, now: Timestamp) -> Duration {
    let base = match most_recent(schedule, zone, earliest, None, now) {
        Ok(Due {
            most_recent: Some(at),
            ..
        }) => at,
        Ok(Due { earliest, .. }) => earliest,
        Err(_) => now,
    };
    let Some(at) = next(schedule, zone, base) else {
        return Duration::MAX;
    };
    let until = Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO);
    until + DELTA
}

#[cfg(test)]
mod tests {
    use super::*;
    use apimachinery::cron::parse_standard;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn utc() -> TimeZone {
        TimeZone::UTC
    }

    fn next_of(spec: &str, after: &str) -> Option<String> {
        next(&parse_standard(spec).unwrap(), &utc(), at(after)).map(|t| t.to_string())
    }

    #[test]
    fn next_times_follow_the_fields() {
        assert_eq!(
            next_of("*/1 * * * ?", "2026-11-28T07:20:30Z").as_deref(),
            Some("2026-11-28T07:21:00Z")
        );
        assert_eq!(
            next_of("*/1 * * * ?", "2026-11-28T07:21:00Z").as_deref(),
            Some("2026-11-28T07:22:00Z")
        );
        assert_eq!(
            next_of("30 6 * * mon", "2026-11-28T07:20:00Z").as_deref(),
            Some("2026-11-30T06:30:00Z")
        );
        assert_eq!(
            next_of("0 0 29 2 *", "2026-03-01T00:00:00Z").as_deref(),
            Some("2028-02-29T00:00:00Z")
        );
        assert_eq!(
            next_of("@yearly", "2026-11-28T07:20:00Z").as_deref(),
            Some("2027-01-01T00:00:00Z")
        );
        assert_eq!(next_of("0 0 30 2 *", "2026-01-01T00:00:00Z"), None);
        assert_eq!(
            next_of("@every 90s", "2026-11-28T07:20:00Z").as_deref(),
            Some("2026-11-28T07:21:30Z")
        );
    }

    #[test]
    fn schedules_read_in_their_zone() {
        let Ok(berlin) = TimeZone::get("Europe/Berlin") else {
            return; // no zoneinfo on this host
        };
        let s = parse_standard("0 9 * * *").unwrap();
        assert_eq!(
            next(&s, &berlin, at("2026-11-28T07:20:00Z")).map(|t| t.to_string()),
            Some("2026-11-28T08:00:00Z".to_string())
        );
        let prefixed = parse_standard("CRON_TZ=Europe/Berlin 0 9 * * *").unwrap();
        assert_eq!(
            next(&prefixed, &utc(), at("2026-11-28T07:20:00Z")).map(|t| t.to_string()),
            Some("2026-11-28T08:00:00Z".to_string())
        );
    }

    #[test]
    fn the_most_recent_missed_time_is_found() {
        let s = parse_standard("*/5 * * * *").unwrap();
        let created = at("2026-11-28T07:00:30Z");
        let due = most_recent(&s, &utc(), created, None, at("2026-11-28T07:03:00Z")).unwrap();
        assert_eq!(due.most_recent, None);
        let due = most_recent(&s, &utc(), created, None, at("2026-11-28T07:07:00Z")).unwrap();
        assert_eq!(due.most_recent, Some(at("2026-11-28T07:05:00Z")));
        let due = most_recent(&s, &utc(), created, None, at("2026-11-28T09:12:00Z")).unwrap();
        assert_eq!(due.most_recent, Some(at("2026-11-28T09:10:00Z")));
        assert!(!due.many_missed);
        let due = most_recent(&s, &utc(), created, None, at("2026-11-30T07:00:00Z")).unwrap();
        assert!(due.many_missed);
        // A starting deadline looks only that far back.
        let due = most_recent(&s, &utc(), created, Some(60), at("2026-11-28T07:07:00Z")).unwrap();
        assert_eq!(due.most_recent, None);
    }

    #[test]
    fn the_wait_ends_just_after_the_next_time() {
        let s = parse_standard("*/1 * * * ?").unwrap();
        let w = wait(
            &s,
            &utc(),
            at("2026-11-28T07:20:10Z"),
            at("2026-11-28T07:20:30Z"),
        );
        assert_eq!(w, Duration::from_millis(30_100));
    }
}
