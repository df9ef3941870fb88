//! Timestamps in the forms the API uses.

use chrono::{SecondsFormat, Utc};

/// Now, as a `metav1.Time` (RFC 3339, second precision, `Z`).
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Now plus `seconds`, as a `metav1.Time`.
pub fn now_plus(seconds: i64) -> String {
    (Utc::now() + chrono::Duration::seconds(seconds)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Today's date in UTC (`2006-01-02`).
pub fn today() -> String {
    Utc::now().format("%Y-%m-%d").to_string()
}

/// Now, as a `metav1.MicroTime`.
pub fn now_micro() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true)
}
