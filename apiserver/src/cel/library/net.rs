//! Upstream's IP and CIDR libraries (`ip`, `isIP`, `ip.isCanonical`, `family`, `isLoopback`,
//! ..., `cidr`, `isCIDR`, `containsIP`, `containsCIDR`, `masked`, `prefixLength`), with a port of
//! Go's `netip.ParseAddr` and `netip.ParsePrefix` so that the same strings are accepted and the
//! errors read the same (`ParseAddr("1.2.3"): IPv4 address too short`).

use super::{error, library_type, owned, str_arg, typed_arg};
use crate::crd::schema::go::quote as go_quote;
use cel::common::types::{CelBool, CelInt, CelString, STRING_TYPE};
use cel::common::value::CowVal;
use cel::{DeclarationError, Env, ExecutionError};
use std::fmt;

/// An IPv4 or IPv6 address (zones and IPv4-mapped IPv6 addresses are rejected by the library).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Addr {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// An `ip()` value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::cel) struct Ip(Addr);

/// A `cidr()` value: an address and a prefix length, host bits kept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(in crate::cel) struct Cidr {
    addr: Addr,
    bits: u8,
}

library_type!(Ip, IP_TYPE, "net.IP");
library_type!(Cidr, CIDR_TYPE, "net.CIDR");

pub(super) fn register(env: &mut Env) -> Result<(), DeclarationError> {
    let ip = || IP_TYPE.to_owned();
    let cidr = || CIDR_TYPE.to_owned();
    env.add_overload("ip", "string_to_ip", vec![STRING_TYPE], string_to_ip)?;
    env.add_overload("isIP", "is_ip", vec![STRING_TYPE], is_ip)?;
    env.add_overload(
        "ip.isCanonical",
        "ip_is_canonical",
        vec![STRING_TYPE],
        is_canonical,
    )?;
    env.add_overload("string", "ip_to_string", vec![ip()], ip_to_string)?;
    env.add_member_overload("family", "ip_family", ip(), vec![], family)?;
    let predicates: [(&str, &str, cel::common::functions::Function); 5] = [
        ("isUnspecified", "ip_is_unspecified", is_unspecified),
        ("isLoopback", "ip_is_loopback", is_loopback),
        (
            "isLinkLocalMulticast",
            "ip_is_link_local_multicast",
            is_link_local_multicast,
        ),
        (
            "isLinkLocalUnicast",
            "ip_is_link_local_unicast",
            is_link_local_unicast,
        ),
        ("isGlobalUnicast", "ip_is_global_unicast", is_global_unicast),
    ];
    for (name, id, f) in predicates {
        env.add_member_overload(name, id, ip(), vec![], f)?;
    }
    env.add_overload("cidr", "string_to_cidr", vec![STRING_TYPE], string_to_cidr)?;
    env.add_overload("isCIDR", "is_cidr", vec![STRING_TYPE], is_cidr)?;
    env.add_overload("string", "cidr_to_string", vec![cidr()], cidr_to_string)?;
    env.add_member_overload(
        "containsIP",
        "cidr_contains_ip_string",
        cidr(),
        vec![STRING_TYPE],
        contains_ip,
    )?;
    env.add_member_overload(
        "containsIP",
        "cidr_contains_ip_ip",
        cidr(),
        vec![ip()],
        contains_ip,
    )?;
    env.add_member_overload(
        "containsCIDR",
        "cidr_contains_cidr_string",
        cidr(),
        vec![STRING_TYPE],
        contains_cidr,
    )?;
    env.add_member_overload(
        "containsCIDR",
        "cidr_contains_cidr",
        cidr(),
        vec![cidr()],
        contains_cidr,
    )?;
    env.add_member_overload("ip", "cidr_ip", cidr(), vec![], cidr_ip)?;
    env.add_member_overload(
        "prefixLength",
        "cidr_prefix_length",
        cidr(),
        vec![],
        prefix_length,
    )?;
    env.add_member_overload("masked", "cidr_masked", cidr(), vec![], masked)?;
    env.add_type(IP_TYPE.to_owned())?;
    env.add_type(CIDR_TYPE.to_owned())?;
    Ok(())
}

/// Go's `netip.ParseAddr`, with its error text.
fn parse_addr(s: &str) -> Result<(Addr, bool), String> {
    for c in s.bytes() {
        match c {
            b'.' => return parse_ipv4(s, s).map(|a| (Addr::V4(a), false)),
            b':' => return parse_ipv6(s),
            b'%' => return Err(addr_error(s, "missing IPv6 address", None)),
            _ => {}
        }
    }
    Err(addr_error(s, "unable to parse IP", None))
}

fn addr_error(input: &str, msg: &str, at: Option<&str>) -> String {
    match at {
        Some(at) if !at.is_empty() => format!(
            "ParseAddr({}): {msg} (at {})",
            go_quote(input),
            go_quote(at)
        ),
        _ => format!("ParseAddr({}): {msg}", go_quote(input)),
    }
}

/// Go's `parseIPv4Fields` on `s`, reporting errors against the whole input `input`.
fn parse_ipv4(input: &str, s: &str) -> Result<[u8; 4], String> {
    let mut fields = [0u8; 4];
    let (mut val, mut pos, mut digits) = (0u32, 0usize, 0usize);
    let bytes = s.as_bytes();
    for (i, &c) in bytes.iter().enumerate() {
        if c.is_ascii_digit() {
            if digits == 1 && val == 0 {
                return Err(addr_error(
                    input,
                    "IPv4 field has octet with leading zero",
                    None,
                ));
            }
            val = val * 10 + u32::from(c - b'0');
            digits += 1;
            if val > 255 {
                return Err(addr_error(input, "IPv4 field has value >255", None));
            }
        } else if c == b'.' {
            if i == 0 || i == bytes.len() - 1 || bytes[i - 1] == b'.' {
                return Err(addr_error(
                    input,
                    "IPv4 field must have at least one digit",
                    Some(&s[i..]),
                ));
            }
            if pos == 3 {
                return Err(addr_error(input, "IPv4 address too long", None));
            }
            fields[pos] = val as u8;
            pos += 1;
            val = 0;
            digits = 0;
        } else {
            return Err(addr_error(input, "unexpected character", Some(&s[i..])));
        }
    }
    if pos < 3 {
        return Err(addr_error(input, "IPv4 address too short", None));
    }
    fields[3] = val as u8;
    Ok(fields)
}

/// Go's `parseIPv6`; the flag tells whether a zone was present.
fn parse_ipv6(input: &str) -> Result<(Addr, bool), String> {
    let (mut s, zone) = match input.split_once('%') {
        Some((_, "")) => return Err(addr_error(input, "zone must be a non-empty string", None)),
        Some((addr, _)) => (addr, true),
        None => (input, false),
    };
    let mut ip = [0u8; 16];
    let mut ellipsis: Option<usize> = None;
    if let Some(rest) = s.strip_prefix("::") {
        ellipsis = Some(0);
        s = rest;
        if s.is_empty() {
            return Ok((Addr::V6(ip), zone));
        }
    }
    let mut i = 0;
    while i < 16 {
        let mut off = 0;
        let mut acc: u32 = 0;
        for (j, c) in s.bytes().enumerate() {
            let Some(d) = (c as char).to_digit(16) else {
                break;
            };
            acc = (acc << 4) + d;
            off = j + 1;
            if j > 3 {
                return Err(addr_error(
                    input,
                    "each group must have 4 or less digits",
                    Some(s),
                ));
            }
            if acc > 0xffff {
                return Err(addr_error(input, "IPv6 field has value >=2^16", Some(s)));
            }
        }
        if off == 0 {
            return Err(addr_error(
                input,
                "each colon-separated field must have at least one digit",
                Some(s),
            ));
        }
        if s.as_bytes().get(off) == Some(&b'.') {
            if ellipsis.is_none() && i != 12 {
                return Err(addr_error(
                    input,
                    "embedded IPv4 address must replace the final 2 fields of the address",
                    Some(s),
                ));
            }
            if i + 4 > 16 {
                return Err(addr_error(
                    input,
                    "too many hex fields to fit an embedded IPv4 at the end of the address",
                    Some(s),
                ));
            }
            let v4 = parse_ipv4(input, s)?;
            ip[i..i + 4].copy_from_slice(&v4);
            s = "";
            i += 4;
            break;
        }
        ip[i] = (acc >> 8) as u8;
        ip[i + 1] = acc as u8;
        i += 2;
        s = &s[off..];
        if s.is_empty() {
            break;
        }
        if !s.starts_with(':') {
            return Err(addr_error(
                input,
                "unexpected character, want colon",
                Some(s),
            ));
        } else if s.len() == 1 {
            return Err(addr_error(
                input,
                "colon must be followed by more characters",
                Some(s),
            ));
        }
        s = &s[1..];
        if s.starts_with(':') {
            if ellipsis.is_some() {
                return Err(addr_error(input, "multiple :: in address", Some(s)));
            }
            ellipsis = Some(i);
            s = &s[1..];
            if s.is_empty() {
                break;
            }
        }
    }
    if !s.is_empty() {
        return Err(addr_error(input, "trailing garbage after address", Some(s)));
    }
    if i < 16 {
        let Some(e) = ellipsis else {
            return Err(addr_error(input, "address string too short", None));
        };
        let n = 16 - i;
        for j in (e..i).rev() {
            ip[j + n] = ip[j];
        }
        ip[e..e + n].fill(0);
    } else if ellipsis.is_some() {
        return Err(addr_error(
            input,
            "the :: must expand to at least one field of zeros",
            Some(s),
        ));
    }
    Ok((Addr::V6(ip), zone))
}

impl Addr {
    fn is_4in6(&self) -> bool {
        matches!(self, Addr::V6(b) if b[..10] == [0; 10] && b[10] == 0xff && b[11] == 0xff)
    }

    fn bit_len(&self) -> u8 {
        match self {
            Addr::V4(_) => 32,
            Addr::V6(_) => 128,
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Addr::V4(b) => b,
            Addr::V6(b) => b,
        }
    }

    fn is_unspecified(&self) -> bool {
        self.bytes().iter().all(|b| *b == 0)
    }

    fn is_loopback(&self) -> bool {
        match self {
            Addr::V4(b) => b[0] == 127,
            Addr::V6(b) => b[..15] == [0; 15] && b[15] == 1,
        }
    }

    fn is_multicast(&self) -> bool {
        match self {
            Addr::V4(b) => b[0] & 0xf0 == 0xe0,
            Addr::V6(b) => b[0] == 0xff,
        }
    }

    fn is_link_local_multicast(&self) -> bool {
        match self {
            Addr::V4(b) => b[0] == 224 && b[1] == 0 && b[2] == 0,
            Addr::V6(b) => b[0] == 0xff && b[1] & 0x0f == 0x02,
        }
    }

    fn is_link_local_unicast(&self) -> bool {
        match self {
            Addr::V4(b) => b[0] == 169 && b[1] == 254,
            Addr::V6(b) => b[0] == 0xfe && b[1] & 0xc0 == 0x80,
        }
    }

    fn is_global_unicast(&self) -> bool {
        if let Addr::V4(b) = self
            && (*b == [0; 4] || *b == [255; 4])
        {
            return false;
        }
        !self.is_unspecified()
            && !self.is_loopback()
            && !self.is_multicast()
            && !self.is_link_local_unicast()
    }

    /// The address with all bits after the first `bits` cleared.
    fn masked(&self, bits: u8) -> Addr {
        let mask = |bytes: &mut [u8]| {
            for (i, b) in bytes.iter_mut().enumerate() {
                let keep = (bits as usize).saturating_sub(i * 8).min(8);
                *b &= if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
            }
        };
        let mut out = *self;
        match &mut out {
            Addr::V4(b) => mask(b),
            Addr::V6(b) => mask(b),
        }
        out
    }
}

impl fmt::Display for Addr {
    /// Go's `Addr.String`: dotted quad, or RFC 5952 for IPv6.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::V4(b) => write!(f, "{}.{}.{}.{}", b[0], b[1], b[2], b[3]),
            Addr::V6(b) => {
                let groups: Vec<u16> = b
                    .chunks(2)
                    .map(|c| (u16::from(c[0]) << 8) | u16::from(c[1]))
                    .collect();
                let (mut best_start, mut best_len) = (usize::MAX, 0);
                let mut i = 0;
                while i < 8 {
                    let start = i;
                    while i < 8 && groups[i] == 0 {
                        i += 1;
                    }
                    if i - start > best_len && i - start >= 2 {
                        best_start = start;
                        best_len = i - start;
                    }
                    i += 1;
                }
                let mut i = 0;
                while i < 8 {
                    if i == best_start {
                        f.write_str("::")?;
                        i += best_len;
                        continue;
                    }
                    if i > 0 && i != best_start + best_len {
                        f.write_str(":")?;
                    }
                    write!(f, "{:x}", groups[i])?;
                    i += 1;
                }
                Ok(())
            }
        }
    }
}

/// The library's `parseIPAddr`: `ParseAddr` without zones or IPv4-mapped IPv6 addresses.
fn parse_ip(raw: &str) -> Result<Addr, String> {
    let (addr, zone) = parse_addr(raw).map_err(|e| {
        format!(
            "IP Address {} parse error during conversion from string: {e}",
            go_quote(raw)
        )
    })?;
    if zone {
        return Err(format!(
            "IP address {} with zone value is not allowed",
            go_quote(raw)
        ));
    }
    if addr.is_4in6() {
        return Err(format!(
            "IPv4-mapped IPv6 address {} is not allowed",
            go_quote(raw)
        ));
    }
    Ok(addr)
}

/// The library's `parseCIDR` on Go's `netip.ParsePrefix`.
fn parse_cidr(raw: &str) -> Result<Cidr, String> {
    let prefix_error = |msg: &str| {
        format!(
            "network address parse error during conversion from string: netip.ParsePrefix({}): {msg}",
            go_quote(raw)
        )
    };
    let Some(slash) = raw.rfind('/') else {
        return Err(prefix_error("no '/'"));
    };
    let (addr, zone) = parse_addr(&raw[..slash]).map_err(|e| prefix_error(&e))?;
    if zone {
        return Err(prefix_error("IPv6 zones cannot be present in a prefix"));
    }
    let bits_str = &raw[slash + 1..];
    let bad_bits = || prefix_error(&format!("bad bits after slash: {}", go_quote(bits_str)));
    if bits_str.len() > 1 && !matches!(bits_str.as_bytes()[0], b'1'..=b'9') {
        return Err(bad_bits());
    }
    let bits: i64 = bits_str.parse().map_err(|_| bad_bits())?;
    if bits < 0 || bits > i64::from(addr.bit_len()) {
        return Err(prefix_error("prefix length out of range"));
    }
    if addr.is_4in6() {
        return Err(format!(
            "IPv4-mapped IPv6 address {} is not allowed",
            go_quote(raw)
        ));
    }
    Ok(Cidr {
        addr,
        bits: bits as u8,
    })
}

fn string_to_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "ip")?;
    parse_ip(s)
        .map(Ip)
        .map_err(|e| error("ip", e))
        .and_then(owned)
}

fn is_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "isIP")?;
    owned(CelBool::from(parse_ip(s).is_ok()))
}

fn is_canonical<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "ip.isCanonical")?;
    let addr = parse_ip(s).map_err(|e| error("ip.isCanonical", e))?;
    owned(CelBool::from(addr.to_string() == s))
}

fn ip_to_string<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let ip = typed_arg::<Ip>(&args, 0, "string")?;
    owned(CelString::from(ip.0.to_string()))
}

fn family<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let ip = typed_arg::<Ip>(&args, 0, "family")?;
    owned(CelInt::from(match ip.0 {
        Addr::V4(_) => 4,
        Addr::V6(_) => 6,
    }))
}

fn predicate<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
    name: &str,
    f: impl FnOnce(&Addr) -> bool,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let ip = typed_arg::<Ip>(&args, 0, name)?;
    owned(CelBool::from(f(&ip.0)))
}

fn is_unspecified<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    predicate(args, "isUnspecified", Addr::is_unspecified)
}

fn is_loopback<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    predicate(args, "isLoopback", Addr::is_loopback)
}

fn is_link_local_multicast<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    predicate(args, "isLinkLocalMulticast", Addr::is_link_local_multicast)
}

fn is_link_local_unicast<'b, 'v>(
    args: Vec<CowVal<'b, 'v>>,
) -> Result<CowVal<'b, 'v>, ExecutionError> {
    predicate(args, "isLinkLocalUnicast", Addr::is_link_local_unicast)
}

fn is_global_unicast<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    predicate(args, "isGlobalUnicast", Addr::is_global_unicast)
}

fn cidr_error(e: String) -> ExecutionError {
    error(
        "cidr",
        format!("network address parse error during conversion from string: {e}"),
    )
}

fn string_to_cidr<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "cidr")?;
    parse_cidr(s).map_err(cidr_error).and_then(owned)
}

fn is_cidr<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let s = str_arg(&args, 0, "isCIDR")?;
    owned(CelBool::from(parse_cidr(s).is_ok()))
}

fn cidr_to_string<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<Cidr>(&args, 0, "string")?;
    owned(CelString::from(format!("{}/{}", c.addr, c.bits)))
}

fn contains_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<Cidr>(&args, 0, "containsIP")?;
    let addr = match typed_arg::<Ip>(&args, 1, "containsIP") {
        Ok(ip) => ip.0,
        Err(_) => {
            // Upstream reports an unparseable string as the overload mismatch of the CIDR
            // argument, not as the parse error.
            let s = str_arg(&args, 1, "containsIP")?;
            parse_ip(s).map_err(|_| super::no_such_overload("containsIP"))?
        }
    };
    let same_family = addr.bit_len() == c.addr.bit_len();
    owned(CelBool::from(
        same_family && addr.masked(c.bits) == c.addr.masked(c.bits),
    ))
}

fn contains_cidr<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<Cidr>(&args, 0, "containsCIDR")?;
    let other = match typed_arg::<Cidr>(&args, 1, "containsCIDR") {
        Ok(o) => *o,
        Err(_) => {
            let s = str_arg(&args, 1, "containsCIDR")?;
            parse_cidr(s).map_err(cidr_error)?
        }
    };
    // Upstream compares the masked receiver with the other prefix's address unmasked
    // (`Masked() == PrefixFrom(other.Addr(), bits)`), so only prefixes that start at the same
    // address as the receiver's network are contained.
    let equal_masked = c.addr.masked(c.bits) == other.addr;
    owned(CelBool::from(equal_masked && c.bits <= other.bits))
}

fn cidr_ip<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<Cidr>(&args, 0, "ip")?;
    owned(Ip(c.addr))
}

fn prefix_length<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<Cidr>(&args, 0, "prefixLength")?;
    owned(CelInt::from(i64::from(c.bits)))
}

fn masked<'b, 'v>(args: Vec<CowVal<'b, 'v>>) -> Result<CowVal<'b, 'v>, ExecutionError> {
    let c = typed_arg::<Cidr>(&args, 0, "masked")?;
    owned(Cidr {
        addr: c.addr.masked(c.bits),
        bits: c.bits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_errors_match_go() {
        assert_eq!(
            parse_ip("192.168.0.1.0").unwrap_err(),
            "IP Address \"192.168.0.1.0\" parse error during conversion from string: ParseAddr(\"192.168.0.1.0\"): IPv4 address too long"
        );
        assert_eq!(
            parse_ip("2001:db8:::68").unwrap_err(),
            "IP Address \"2001:db8:::68\" parse error during conversion from string: ParseAddr(\"2001:db8:::68\"): each colon-separated field must have at least one digit (at \":68\")"
        );
        assert_eq!(
            parse_ip("::ffff:1.2.3.4").unwrap_err(),
            "IPv4-mapped IPv6 address \"::ffff:1.2.3.4\" is not allowed"
        );
        assert_eq!(
            parse_cidr("2001:db8::/").unwrap_err(),
            "network address parse error during conversion from string: netip.ParsePrefix(\"2001:db8::/\"): bad bits after slash: \"\""
        );
        assert!(parse_ip("01.2.3.4").is_err());
    }

    #[test]
    fn canonical_forms() {
        let s = |raw: &str| parse_ip(raw).unwrap().to_string();
        assert_eq!(s("2001:DB8::68"), "2001:db8::68");
        assert_eq!(s("2001:db8:0:0:0:0:0:abcd"), "2001:db8::abcd");
        assert_eq!(s("::"), "::");
        assert_eq!(s("::1"), "::1");
        assert_eq!(s("1:0:0:1:0:0:0:1"), "1:0:0:1::1");
        assert_eq!(s("fe80::"), "fe80::");
        assert_eq!(s("1:2:3:4:5:6:7:8"), "1:2:3:4:5:6:7:8");
        assert_eq!(s("1:0:2:3:4:5:6:7"), "1:0:2:3:4:5:6:7");
    }
}
