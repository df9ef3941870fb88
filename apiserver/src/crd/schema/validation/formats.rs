//! The string `format`s a CRD schema may use and their checks, as kube-openapi's default
//! `strfmt` registry performs them. Any other format is dropped from the schema before
//! validation (upstream's `StripUnsupportedFormatsPostProcess`), so it checks nothing.

use super::regexp;
use std::net::Ipv6Addr;

/// The formats a v1.33 apiserver keeps, spelled as the registry normalizes names (without `-`).
const SUPPORTED: &[&str] = &[
    "bsonobjectid",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "uuid3",
    "uuid4",
    "uuid5",
    "isbn",
    "isbn10",
    "isbn13",
    "creditcard",
    "ssn",
    "hexcolor",
    "rgbcolor",
    "byte",
    "password",
    "date",
    "duration",
    "datetime",
];

/// The registry's name for `format`, if it is one upstream validates; `None` means the format is
/// stripped and has no effect at all (not even on type checks).
pub(super) fn supported(format: &str) -> Option<String> {
    let normalized = format.replace('-', "");
    SUPPORTED
        .contains(&normalized.as_str())
        .then_some(normalized)
}

/// Whether `s` is valid for the (normalized, supported) format.
pub(super) fn check(normalized: &str, s: &str) -> bool {
    match normalized {
        "bsonobjectid" => s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit()),
        "uri" => is_request_uri(s),
        "email" => is_email(s),
        "hostname" => is_hostname(s),
        "ipv4" => is_ipv4(s),
        "ipv6" => s.contains(':') && s.parse::<Ipv6Addr>().is_ok(),
        "cidr" => is_cidr(s),
        "mac" => is_mac(s),
        "uuid" => is_uuid(s, None),
        "uuid3" => is_uuid(s, Some('3')),
        "uuid4" => is_uuid(s, Some('4')),
        "uuid5" => is_uuid(s, Some('5')),
        "isbn" => is_isbn10(s) || is_isbn13(s),
        "isbn10" => is_isbn10(s),
        "isbn13" => is_isbn13(s),
        "creditcard" => is_credit_card(s),
        "ssn" => is_ssn(s),
        "hexcolor" => is_hex_color(s),
        "rgbcolor" => is_rgb_color(s),
        "byte" => is_base64(s),
        "date" => is_date(s),
        "datetime" => is_date_time(s),
        "duration" => is_duration(s),
        _ => true,
    }
}

/// RFC 1034 host names as kube-openapi's pattern has them (Unicode letters and symbols
/// allowed, a single label may only have a dash after its first character, a final label after
/// a dot is 2 to 63 letters), at most 255 bytes and 63 per label.
fn is_hostname(s: &str) -> bool {
    const PATTERN: &str = r"^([a-zA-Z0-9\p{S}\p{L}]((-?[a-zA-Z0-9\p{S}\p{L}]{0,62})?)|([a-zA-Z0-9\p{S}\p{L}](([a-zA-Z0-9-\p{S}\p{L}]{0,61}[a-zA-Z0-9\p{S}\p{L}])?)(\.)){1,}([a-zA-Z\p{L}]){2,63})$";
    let shape_ok = if s.is_ascii() {
        hostname_shape_ascii(s)
    } else {
        // Unicode letter and symbol classes need the regex engine.
        regexp::matches(PATTERN, s)
    };
    shape_ok && s.len() <= 255 && s.split('.').all(|p| p.len() <= 63)
}

/// The hostname pattern for ASCII input, where `\p{L}` is the letters and `\p{S}` is
/// `$+<=>^`|~`.
fn hostname_shape_ascii(s: &str) -> bool {
    let x = |c: char| c.is_ascii_alphanumeric() || "$+<=>^`|~".contains(c);
    let label = |l: &str| {
        let n = l.chars().count();
        (1..=63).contains(&n)
            && l.chars().all(|c| x(c) || c == '-')
            && l.chars().next().is_some_and(x)
            && l.chars().last().is_some_and(x)
    };
    if let Some((labels, tld)) = s.rsplit_once('.') {
        let tld_len = tld.chars().count();
        return (2..=63).contains(&tld_len)
            && tld.chars().all(|c| c.is_ascii_alphabetic())
            && labels.split('.').all(label);
    }
    let mut chars = s.chars();
    if !chars.next().is_some_and(x) {
        return false;
    }
    let rest = chars.as_str();
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    rest.chars().count() <= 62 && rest.chars().all(x)
}

fn is_uuid(s: &str, version: Option<char>) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let mut groups: Vec<&[u8]> = Vec::with_capacity(5);
    for (n, len) in [8usize, 4, 4, 4, 12].into_iter().enumerate() {
        if n > 0 && b.get(i) == Some(&b'-') {
            i += 1;
        }
        let Some(group) = b.get(i..i + len) else {
            return false;
        };
        if !group.iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        groups.push(group);
        i += len;
    }
    if i != b.len() {
        return false;
    }
    match version {
        None => true,
        Some(v) => {
            let variant_ok =
                v == '3' || matches!(groups[3][0], b'8' | b'9' | b'a' | b'b' | b'A' | b'B');
            groups[2][0] == v as u8 && variant_ok
        }
    }
}

/// ISBN checks strip whitespace and dashes first.
fn isbn_digits(s: &str) -> Vec<u8> {
    s.bytes()
        .filter(|b| !matches!(b, b'\t' | b'\n' | b'\x0c' | b'\r' | b' ' | b'-'))
        .collect()
}

fn is_isbn10(s: &str) -> bool {
    let d = isbn_digits(s);
    if d.len() != 10
        || !d[..9].iter().all(u8::is_ascii_digit)
        || !(d[9].is_ascii_digit() || d[9] == b'X')
    {
        return false;
    }
    let mut sum: u32 = d[..9]
        .iter()
        .enumerate()
        .map(|(i, c)| (i as u32 + 1) * u32::from(c - b'0'))
        .sum();
    sum += 10
        * if d[9] == b'X' {
            10
        } else {
            u32::from(d[9] - b'0')
        };
    sum.is_multiple_of(11)
}

fn is_isbn13(s: &str) -> bool {
    let d = isbn_digits(s);
    if d.len() != 13 || !d.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let sum: u32 = d[..12]
        .iter()
        .enumerate()
        .map(|(i, c)| if i % 2 == 0 { 1 } else { 3 } * u32::from(c - b'0'))
        .sum();
    u32::from(d[12] - b'0') == (10 - sum % 10) % 10
}

/// Card numbers with any non-digits removed, in a known issuer range, passing the Luhn check.
fn is_credit_card(s: &str) -> bool {
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let d = digits.as_bytes();
    let at = |i: usize| d.get(i).copied().unwrap_or(b'x');
    let in_range = match (at(0), d.len()) {
        (b'4', 13 | 16) => true,
        (b'5', 16) => (b'1'..=b'5').contains(&at(1)),
        (b'6', 16) => digits.starts_with("6011") || at(1) == b'5',
        (b'3', 15) => matches!(at(1), b'4' | b'7'),
        (b'3', 14) => {
            (at(1) == b'0' && (b'0'..=b'5').contains(&at(2))) || matches!(at(1), b'6' | b'8')
        }
        (b'3', 16) => at(1) == b'5',
        (b'2' | b'1', 15) => digits.starts_with("2131") || digits.starts_with("1800"),
        _ => false,
    };
    if !in_range {
        return false;
    }
    let mut sum = 0;
    for (i, c) in d.iter().rev().enumerate() {
        let mut n = u32::from(c - b'0');
        if i % 2 == 1 {
            n *= 2;
            if n >= 10 {
                n = n % 10 + 1;
            }
        }
        sum += n;
    }
    sum % 10 == 0
}

/// US social security numbers, only in the separated 11-character form.
fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    let sep = |c: u8| c == b'-' || c == b' ';
    b.len() == 11
        && b[..3].iter().all(u8::is_ascii_digit)
        && sep(b[3])
        && b[4..6].iter().all(u8::is_ascii_digit)
        && sep(b[6])
        && b[7..].iter().all(u8::is_ascii_digit)
}

fn is_hex_color(s: &str) -> bool {
    let hex = s.strip_prefix('#').unwrap_or(s);
    matches!(hex.len(), 3 | 6) && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// `rgb(r, g, b)` with channels 0 to 255 written without leading zeros, spaces allowed around
/// them.
fn is_rgb_color(s: &str) -> bool {
    let Some(inner) = s.strip_prefix("rgb(").and_then(|r| r.strip_suffix(')')) else {
        return false;
    };
    let channels: Vec<&str> = inner.split(',').collect();
    channels.len() == 3
        && channels.iter().all(|c| {
            let c = c.trim_matches(|ch| matches!(ch, '\t' | '\n' | '\x0c' | '\r' | ' '));
            !c.is_empty()
                && c.len() <= 3
                && c.bytes().all(|b| b.is_ascii_digit())
                && (c == "0" || !c.starts_with('0'))
                && c.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

/// Standard base64 with padding; the empty string does not count.
fn is_base64(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || !b.len().is_multiple_of(4) {
        return false;
    }
    let alphabet = |c: &u8| c.is_ascii_alphanumeric() || *c == b'+' || *c == b'/';
    let (body, last) = b.split_at(b.len() - 4);
    body.iter().all(alphabet)
        && match last {
            [a, b, b'=', b'='] => alphabet(a) && alphabet(b),
            [a, b, c, b'='] => alphabet(a) && alphabet(b) && alphabet(c),
            quad => quad.iter().all(alphabet),
        }
}

/// Go's `time.Parse("2006-01-02", s)`: four-digit year, two-digit month and a day that exists.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &b[r];
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
    };
    let (Some(year), Some(month), Some(day)) = (num(0..4), num(5..7), num(8..10)) else {
        return false;
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&day)
}

/// kube-openapi's RFC 3339 date-time check: split at the first `t` (case-insensitively), a
/// valid date, then `hh:mm:ss` (at most 23:59:59), an optional fraction led by any one
/// character, and `z` or a `±hh:mm` offset.
fn is_date_time(s: &str) -> bool {
    if s.len() < 4 {
        return false;
    }
    let lower = s.to_lowercase();
    let mut parts = lower.split('t');
    let (Some(date), Some(time)) = (parts.next(), parts.next()) else {
        return false;
    };
    if !is_date(date) {
        return false;
    }
    let two_digits = |p: &str| p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit());
    let (Some(hh), Some(mm), Some(ss)) = (time.get(0..2), time.get(3..5), time.get(6..8)) else {
        return false;
    };
    if !(two_digits(hh) && two_digits(mm) && two_digits(ss))
        || time.as_bytes()[2] != b':'
        || time.as_bytes()[5] != b':'
    {
        return false;
    }
    let zone_ok = |z: &str| {
        z == "z"
            || (z.len() == 6
                && z.is_ascii()
                && matches!(z.as_bytes()[0], b'+' | b'-')
                && two_digits(&z[1..3])
                && z.as_bytes()[3] == b':'
                && two_digits(&z[4..6]))
    };
    let rest = &time[8..];
    // The fraction is `(.[0-9]+)?` where `.` is any character: try without it, then with one
    // leading character and each possible run of digits.
    let suffix_ok = zone_ok(rest)
        || rest.chars().next().is_some_and(|lead| {
            let digits = &rest[lead.len_utf8()..];
            let run = digits.bytes().take_while(u8::is_ascii_digit).count();
            (1..=run).any(|n| zone_ok(&digits[n..]))
        });
    suffix_ok && hh <= "23" && mm <= "59" && ss <= "59"
}

/// Go's `time.ParseDuration`, or failing that the looser Scala-like form kube-openapi also
/// accepts: whitespace-separated `<digits><unit>` terms (`3 days`, `1hour 5min`), valid if some
/// unit is recognized.
fn is_duration(s: &str) -> bool {
    if go_parse_duration(s) {
        return true;
    }
    const UNITS: &[&[&str]] = &[
        &["ns", "nano"],
        &["us", "µs", "micro"],
        &["ms", "milli"],
        &["s", "sec"],
        &["m", "min"],
        &["h", "hr", "hour"],
        &["d", "day"],
        &["w", "wk", "week"],
    ];
    let is_space = |c: char| matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ');
    let mut rest = s.trim_start_matches(is_space);
    if rest.is_empty() {
        return false;
    }
    let mut recognized = false;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || rest[..digits].parse::<i64>().is_err() {
            return false;
        }
        rest = rest[digits..].trim_start_matches(is_space);
        let unit_len: usize = rest
            .chars()
            .take_while(|c| c.is_ascii_alphabetic() || *c == 'µ')
            .map(char::len_utf8)
            .sum();
        if unit_len == 0 {
            return false;
        }
        let unit = rest[..unit_len].to_lowercase();
        rest = rest[unit_len..].trim_start_matches(is_space);
        for variants in UNITS {
            let last = variants.len() - 1;
            for (i, v) in variants.iter().enumerate() {
                if (i == last && unit.starts_with(v)) || unit.eq_ignore_ascii_case(v) {
                    recognized = true;
                }
            }
        }
    }
    recognized
}

/// Whether Go's `time.ParseDuration` accepts `s`: `[-+]?([0-9]*(\.[0-9]*)?[a-z]+)+` with units
/// ns, us, µs, μs, ms, s, m, h, and the total within an `int64` of nanoseconds.
fn go_parse_duration(s: &str) -> bool {
    let mut rest = s;
    let mut neg = false;
    if let Some(r) = rest.strip_prefix('-') {
        neg = true;
        rest = r;
    } else if let Some(r) = rest.strip_prefix('+') {
        rest = r;
    }
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let b = rest.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return false;
        }
        let int_len = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let int_part = &rest[..int_len];
        let mut whole: u128 = 0;
        for d in int_part.bytes() {
            whole = whole * 10 + u128::from(d - b'0');
            if whole > 1 << 63 {
                return false;
            }
        }
        rest = &rest[int_len..];
        let mut frac = "";
        if let Some(r) = rest.strip_prefix('.') {
            let frac_len = r.bytes().take_while(u8::is_ascii_digit).count();
            frac = &r[..frac_len];
            rest = &r[frac_len..];
            if int_len == 0 && frac_len == 0 {
                return false;
            }
        } else if int_len == 0 {
            return false;
        }
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| *c == '.' || c.is_ascii_digit())
            .map_or(rest.len(), |(i, _)| i);
        if unit_len == 0 {
            return false;
        }
        let unit: u128 = match &rest[..unit_len] {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => return false,
        };
        rest = &rest[unit_len..];
        if whole > (1u128 << 63) / unit {
            return false;
        }
        let mut value = whole * unit;
        if !frac.is_empty() {
            let scale = 10f64.powi(frac.len().min(300) as i32);
            let f: f64 = frac.parse::<f64>().unwrap_or(0.0);
            value += (f * (unit as f64 / scale)) as u128;
            if value > 1 << 63 {
                return false;
            }
        }
        total += value;
        if total > 1 << 63 {
            return false;
        }
    }
    neg || total < 1 << 63
}

/// Go's pre-1.17 (`ParseIPSloppy`) IPv4 parser: four decimal fields up to 255, leading zeros
/// allowed.
fn parse_ipv4_sloppy(s: &str) -> bool {
    let fields: Vec<&str> = s.split('.').collect();
    fields.len() == 4
        && fields.iter().all(|f| {
            !f.is_empty()
                && f.bytes().all(|b| b.is_ascii_digit())
                && f.trim_start_matches('0').len() <= 3
                && f.parse::<u32>().is_ok_and(|n| n <= 255)
        })
}

/// The IPv6 side of the sloppy parser, which also allows leading zeros in an embedded IPv4 tail.
fn parse_ipv6_sloppy(s: &str) -> bool {
    if s.parse::<Ipv6Addr>().is_ok() {
        return true;
    }
    match s.rsplit_once(':') {
        Some((head, tail)) if tail.contains('.') && parse_ipv4_sloppy(tail) => {
            let normalized: Vec<String> = tail
                .split('.')
                .map(|f| f.parse::<u32>().unwrap_or(256).to_string())
                .collect();
            format!("{head}:{}", normalized.join("."))
                .parse::<Ipv6Addr>()
                .is_ok()
        }
        _ => false,
    }
}

/// kube-openapi's `ipv4`: whatever `ParseIPSloppy` accepts, as long as it contains a dot, so an
/// IPv4-mapped IPv6 address such as `::ffff:1.2.3.4` passes too.
fn is_ipv4(s: &str) -> bool {
    let first_sep = s.bytes().find(|b| *b == b'.' || *b == b':');
    let parsed = match first_sep {
        Some(b'.') => parse_ipv4_sloppy(s),
        Some(b':') => parse_ipv6_sloppy(s),
        _ => false,
    };
    parsed && s.contains('.')
}

/// `ParseCIDRSloppy`: an address, `/`, and a decimal prefix within the address length.
fn is_cidr(s: &str) -> bool {
    let Some((addr, prefix)) = s.split_once('/') else {
        return false;
    };
    let bits = if parse_ipv4_sloppy(addr) {
        32
    } else if parse_ipv6_sloppy(addr) {
        128
    } else {
        return false;
    };
    !prefix.is_empty()
        && prefix.bytes().all(|b| b.is_ascii_digit())
        && prefix.trim_start_matches('0').len() <= 3
        && prefix.parse::<u32>().is_ok_and(|n| n <= bits)
}

/// Go's `net.ParseMAC`: 6, 8 or 20 octets as `xx:xx:...`/`xx-xx-...`, or as dotted `xxxx.xxxx`
/// groups.
fn is_mac(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 14 {
        return false;
    }
    let hex2 = |p: &[u8]| p.len() == 2 && p.iter().all(u8::is_ascii_hexdigit);
    let octets_ok = |n: usize| matches!(n, 6 | 8 | 20);
    if b[2] == b':' || b[2] == b'-' {
        if !(b.len() + 1).is_multiple_of(3) || !octets_ok((b.len() + 1) / 3) {
            return false;
        }
        let sep = b[2];
        return b.chunks(3).all(|chunk| match chunk {
            [x, y] => hex2(&[*x, *y]),
            [x, y, z] => hex2(&[*x, *y]) && *z == sep,
            _ => false,
        });
    }
    if b[4] == b'.' {
        if !(b.len() + 1).is_multiple_of(5) || !octets_ok(2 * (b.len() + 1) / 5) {
            return false;
        }
        return b.chunks(5).all(|chunk| match chunk {
            [a, b2, c, d] => hex2(&[*a, *b2]) && hex2(&[*c, *d]),
            [a, b2, c, d, e] => hex2(&[*a, *b2]) && hex2(&[*c, *d]) && *e == b'.',
            _ => false,
        });
    }
    false
}

/// Go's `url.ParseRequestURI`: an absolute URI or an absolute path, no control characters,
/// a well-formed authority (host characters, numeric port, userinfo) and valid `%` escapes.
fn is_request_uri(s: &str) -> bool {
    if s.is_empty() || s.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return false;
    }
    if s == "*" {
        return true;
    }
    let Some((scheme, rest)) = split_scheme(s) else {
        return false;
    };
    let rest = if rest.ends_with('?') && rest.matches('?').count() == 1 {
        &rest[..rest.len() - 1]
    } else {
        rest.split_once('?').map_or(rest, |(before, _)| before)
    };
    if !rest.starts_with('/') {
        // A scheme followed by a rootless path is an opaque URI; without one it is invalid.
        return !scheme.is_empty();
    }
    let mut path = rest;
    if !scheme.is_empty() && rest.starts_with("//") {
        let after = &rest[2..];
        let (authority, tail) = after.find('/').map_or((after, ""), |i| after.split_at(i));
        if !valid_authority(authority) {
            return false;
        }
        path = tail;
    }
    valid_escapes(path, false)
}

/// Go's `getScheme`: `None` when the string starts with `:`.
fn split_scheme(s: &str) -> Option<(&str, &str)> {
    for (i, c) in s.bytes().enumerate() {
        match c {
            b'a'..=b'z' | b'A'..=b'Z' => {}
            b'0'..=b'9' | b'+' | b'-' | b'.' if i > 0 => {}
            b':' if i == 0 => return None,
            b':' => return Some((&s[..i], &s[i + 1..])),
            _ => return Some(("", s)),
        }
    }
    Some(("", s))
}

fn valid_authority(authority: &str) -> bool {
    let (userinfo, host) = match authority.rfind('@') {
        Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
        None => (None, authority),
    };
    if !valid_host(host) {
        return false;
    }
    userinfo.is_none_or(|u| {
        u.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._:~!$&'()*+,;=%@".contains(c))
            && valid_escapes(u, false)
    })
}

fn valid_host(host: &str) -> bool {
    let port = if host.starts_with('[') {
        let Some(close) = host.rfind(']') else {
            return false;
        };
        &host[close + 1..]
    } else {
        host.rfind(':').map_or("", |i| &host[i..])
    };
    let port_ok = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && valid_escapes(host, true)
}

/// Go's `unescape` checks: every `%` starts two hex digits, and in a host an escape may only
/// encode a non-ASCII byte (or be `%25`), and unescaped ASCII is limited to what a host allows.
fn valid_escapes(s: &str, host: bool) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if i + 2 >= b.len()
                    || !b[i + 1].is_ascii_hexdigit()
                    || !b[i + 2].is_ascii_hexdigit()
                {
                    return false;
                }
                if host && hex_value(b[i + 1]) < 8 && &b[i..i + 3] != b"%25" {
                    return false;
                }
                i += 3;
            }
            c if host && c < 0x80 && !host_char_ok(c) => return false,
            _ => i += 1,
        }
    }
    true
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

fn host_char_ok(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:[]<>\"".contains(&c)
}

/// Go's `mail.ParseAddress` accepting the input with a non-empty address: an addr-spec, or a
/// display name followed by `<addr-spec>`.
fn is_email(s: &str) -> bool {
    let s = s.trim_matches(|c| c == ' ' || c == '\t');
    if let Some(open) = s.find('<') {
        let Some(inner) = s[open + 1..].strip_suffix('>') else {
            return false;
        };
        let name = s[..open].trim();
        return valid_display_name(name) && valid_addr_spec(inner);
    }
    valid_addr_spec(s)
}

fn valid_display_name(name: &str) -> bool {
    if name.is_empty() {
        return true;
    }
    if let Some(quoted) = name.strip_prefix('"') {
        return quoted.strip_suffix('"').is_some_and(valid_quoted_content);
    }
    name.split([' ', '\t']).filter(|w| !w.is_empty()).all(|w| {
        w.split('.')
            .all(|a| !a.is_empty() && a.chars().all(is_atext))
    })
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn valid_quoted_content(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return false,
            '"' => return false,
            c if (c as u32) < 0x20 && c != '\t' => return false,
            _ => {}
        }
    }
    true
}

fn valid_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|a| !a.is_empty() && a.chars().all(is_atext))
}

fn valid_addr_spec(s: &str) -> bool {
    let domain = if let Some(quoted) = s.strip_prefix('"') {
        // A quoted local part: find its closing quote, skipping escaped characters.
        let mut end = None;
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => {
                    end = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(end) = end else {
            return false;
        };
        if !valid_quoted_content(&quoted[..end]) {
            return false;
        }
        match quoted[end + 1..].strip_prefix('@') {
            Some(domain) => domain,
            None => return false,
        }
    } else {
        match s.rsplit_once('@') {
            Some((local, domain)) if valid_dot_atom(local) => domain,
            _ => return false,
        }
    };
    if let Some(literal) = domain.strip_prefix('[') {
        return literal
            .strip_suffix(']')
            .is_some_and(|l| !l.contains(['[', ']', '\\']));
    }
    valid_dot_atom(domain)
}
