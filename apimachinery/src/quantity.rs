//! Resource quantities (`resource.Quantity`): parsing with upstream's errors, the canonical
//! form upstream serializes (`1000m` is stored as `1`, `1024Mi` as `1Gi`, `0.5` as `500m`), and
//! comparison. Quantities in requests may arrive as JSON numbers; they are stored as strings.

use serde_json::Value;
use std::cmp::Ordering;

/// Upstream's `ErrFormatWrong` message.
pub const FORMAT_ERROR: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";
/// Upstream's `ErrSuffix` message.
pub const SUFFIX_ERROR: &str = "unable to parse quantity's suffix";

/// How a quantity is written back: the family of its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    DecimalSi,
    BinarySi,
    DecimalExponent,
}

/// A parsed quantity: `mantissa * 10^exp10`, exact (rounded up to nano units as upstream does).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quantity {
    mantissa: i128,
    exp10: i32,
    pub format: Format,
}

/// The smallest scale upstream keeps; finer values round up to it.
const MIN_EXP: i32 = -9;

fn pow10(n: u32) -> Option<i128> {
    10i128.checked_pow(n)
}

impl Quantity {
    pub const ZERO: Quantity = Quantity {
        mantissa: 0,
        exp10: 0,
        format: Format::DecimalSi,
    };

    /// Parses a quantity string as `resource.ParseQuantity` does.
    pub fn parse(s: &str) -> Result<Self, &'static str> {
        let s = s.trim_end();
        if s.is_empty() {
            return Err(FORMAT_ERROR);
        }
        let bytes = s.as_bytes();
        let mut i = 0;
        let mut negative = false;
        if bytes[0] == b'+' || bytes[0] == b'-' {
            negative = bytes[0] == b'-';
            i = 1;
        }
        let num_start = i;
        let mut seen_dot = false;
        let mut digits = String::new();
        let mut frac_digits: i32 = 0;
        while i < bytes.len() {
            let c = bytes[i];
            if c.is_ascii_digit() {
                digits.push(c as char);
                if seen_dot {
                    frac_digits += 1;
                }
            } else if c == b'.' && !seen_dot {
                seen_dot = true;
            } else {
                break;
            }
            i += 1;
        }
        if i == num_start || digits.is_empty() {
            return Err(FORMAT_ERROR);
        }
        let suffix = &s[i..];
        if !suffix
            .bytes()
            .all(|c| b"eEinumkKMGTP".contains(&c) || c.is_ascii_digit() || c == b'+' || c == b'-')
        {
            return Err(FORMAT_ERROR);
        }
        let (base2, exp, format) = parse_suffix(suffix).ok_or(SUFFIX_ERROR)?;
        // Strip leading zeros so large inputs do not overflow needlessly.
        let trimmed = digits.trim_start_matches('0');
        let (mut mantissa, mut exp10) = if trimmed.is_empty() {
            (0i128, 0i32)
        } else {
            // Keep at most 36 significant digits; the rest only matters below nano precision
            // for absurdly long inputs.
            let keep = trimmed.len().min(36);
            let dropped = (trimmed.len() - keep) as i32;
            let m: i128 = trimmed[..keep].parse().map_err(|_| FORMAT_ERROR)?;
            (m, dropped - frac_digits)
        };
        if base2 {
            // Multiply by 2^exp exactly.
            let factor = 1i128.checked_shl(exp as u32).ok_or(FORMAT_ERROR)?;
            mantissa = mantissa.checked_mul(factor).ok_or(FORMAT_ERROR)?;
        } else {
            exp10 += exp;
        }
        let mut q = Quantity {
            mantissa: if negative { -mantissa } else { mantissa },
            exp10,
            format,
        };
        q.round_up_to_nano();
        q.normalize();
        Ok(q)
    }

    /// Parses a JSON value that may be a string or a number.
    pub fn from_json(v: &Value) -> Result<Self, &'static str> {
        match v {
            Value::String(s) => Self::parse(s),
            Value::Number(n) => Self::parse(&n.to_string()),
            _ => Err(FORMAT_ERROR),
        }
    }

    fn round_up_to_nano(&mut self) {
        if self.exp10 < MIN_EXP {
            let shift = (MIN_EXP - self.exp10) as u32;
            match pow10(shift) {
                Some(div) => {
                    let q = self.mantissa / div;
                    let r = self.mantissa % div;
                    // Upstream rounds away from zero for positive values (ceiling).
                    self.mantissa = if r > 0 { q + 1 } else { q };
                }
                None => self.mantissa = if self.mantissa > 0 { 1 } else { 0 },
            }
            self.exp10 = MIN_EXP;
        }
    }

    /// Removes trailing decimal zeros from the mantissa.
    fn normalize(&mut self) {
        if self.mantissa == 0 {
            self.exp10 = 0;
            return;
        }
        while self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.exp10 += 1;
        }
    }

    /// The quantity with its sign flipped (to subtract with [`Quantity::add`]).
    pub fn neg(&self) -> Quantity {
        Quantity {
            mantissa: self.mantissa.saturating_neg(),
            ..*self
        }
    }

    pub fn is_zero(&self) -> bool {
        self.mantissa == 0
    }

    pub fn is_negative(&self) -> bool {
        self.mantissa < 0
    }

    /// The value in nano units, saturating (for comparisons and sums).
    pub fn nanos(&self) -> i128 {
        let e = self.exp10 - MIN_EXP;
        match pow10(e.max(0) as u32) {
            Some(f) => self.mantissa.saturating_mul(f),
            None if self.mantissa < 0 => i128::MIN,
            None => i128::MAX,
        }
    }

    /// The value as an integer number of units if it is one.
    fn as_integer(&self) -> Option<i128> {
        if self.exp10 >= 0 {
            pow10(self.exp10 as u32).and_then(|f| self.mantissa.checked_mul(f))
        } else {
            None
        }
    }

    /// Adds another quantity, keeping this one's format (the other's when this one is zero, as
    /// upstream's `Quantity.Add` does, so sums starting from zero read like their terms).
    pub fn add(&self, other: &Quantity) -> Quantity {
        let exp = self.exp10.min(other.exp10);
        let scale = |q: &Quantity| {
            pow10((q.exp10 - exp) as u32)
                .and_then(|f| q.mantissa.checked_mul(f))
                .unwrap_or(i128::MAX)
        };
        let mut q = Quantity {
            mantissa: scale(self).saturating_add(scale(other)),
            exp10: exp,
            format: if self.is_zero() {
                other.format
            } else {
                self.format
            },
        };
        q.normalize();
        q
    }

    /// Upstream's canonical string (`Quantity.String()`).
    pub fn canonical(&self) -> String {
        if self.mantissa == 0 {
            return "0".to_string();
        }
        let mut format = self.format;
        if format == Format::BinarySi {
            let small = self.nanos().abs() < 1024 * 1_000_000_000;
            if small || self.as_integer().is_none() {
                format = Format::DecimalSi;
            }
        }
        match format {
            Format::BinarySi => {
                let mut v = self.as_integer().unwrap_or_default();
                let mut steps = 0;
                while steps < 6 && v % 1024 == 0 {
                    v /= 1024;
                    steps += 1;
                }
                let suffix = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][steps];
                format!("{v}{suffix}")
            }
            Format::DecimalSi | Format::DecimalExponent => {
                let mut m = self.mantissa;
                let mut e = self.exp10;
                while e.rem_euclid(3) != 0 {
                    m = m.saturating_mul(10);
                    e -= 1;
                }
                if format == Format::DecimalExponent {
                    return if e == 0 {
                        format!("{m}")
                    } else {
                        format!("{m}e{e}")
                    };
                }
                let suffix = match e {
                    -9 => "n",
                    -6 => "u",
                    -3 => "m",
                    0 => "",
                    3 => "k",
                    6 => "M",
                    9 => "G",
                    12 => "T",
                    15 => "P",
                    18 => "E",
                    _ => return format!("{m}e{e}"),
                };
                format!("{m}{suffix}")
            }
        }
    }
}

impl PartialOrd for Quantity {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.nanos().cmp(&other.nanos()))
    }
}

/// `(base is 2, exponent, format)` of a suffix.
fn parse_suffix(s: &str) -> Option<(bool, i32, Format)> {
    let dec = |e| Some((false, e, Format::DecimalSi));
    let bin = |e| Some((true, e, Format::BinarySi));
    match s {
        "" => dec(0),
        "n" => dec(-9),
        "u" => dec(-6),
        "m" => dec(-3),
        "k" => dec(3),
        "M" => dec(6),
        "G" => dec(9),
        "T" => dec(12),
        "P" => dec(15),
        "E" => dec(18),
        "Ki" => bin(10),
        "Mi" => bin(20),
        "Gi" => bin(30),
        "Ti" => bin(40),
        "Pi" => bin(50),
        "Ei" => bin(60),
        _ => {
            let rest = s.strip_prefix('e').or_else(|| s.strip_prefix('E'))?;
            let e: i32 = rest.parse().ok()?;
            Some((false, e, Format::DecimalExponent))
        }
    }
}

/// Rewrites every quantity in a resource map (`{"cpu": "1000m"}`) canonically, accepting JSON
/// numbers. Fails with upstream's decoding message on a malformed quantity.
pub fn canonicalize_map(map: &mut Value) -> Result<(), String> {
    let Some(m) = map.as_object_mut() else {
        return Ok(());
    };
    for v in m.values_mut() {
        canonicalize_value(v)?;
    }
    Ok(())
}

/// Rewrites one quantity canonically (a JSON string or number); other values are left alone.
pub fn canonicalize_value(v: &mut Value) -> Result<(), String> {
    if v.is_string() || v.is_number() {
        let q = Quantity::from_json(v).map_err(str::to_string)?;
        *v = Value::String(q.canonical());
    }
    Ok(())
}

/// Canonicalizes the quantity maps or values at JSON pointers that exist in `obj`.
pub fn canonicalize_at(obj: &mut Value, pointers: &[&str]) -> Result<(), String> {
    for p in pointers {
        if let Some(v) = obj.pointer_mut(p) {
            if v.is_object() {
                canonicalize_map(v)?;
            } else {
                canonicalize_value(v)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(s: &str) -> String {
        Quantity::parse(s).unwrap().canonical()
    }

    #[test]
    fn sums_from_zero_keep_the_terms_format() {
        let mi = Quantity::parse("256Mi").unwrap();
        assert_eq!(Quantity::ZERO.add(&mi).canonical(), "256Mi");
        assert_eq!(
            mi.add(&Quantity::parse("144Mi").unwrap()).canonical(),
            "400Mi"
        );
        assert_eq!(
            Quantity::parse("1").unwrap().add(&mi).canonical(),
            "268435457"
        );
    }

    #[test]
    fn canonical_forms_match_upstream() {
        assert_eq!(c("1000m"), "1");
        assert_eq!(c("0.5"), "500m");
        assert_eq!(c("100m"), "100m");
        assert_eq!(c("1024Mi"), "1Gi");
        assert_eq!(c("1.5Gi"), "1536Mi");
        assert_eq!(c("2000"), "2k");
        assert_eq!(c("1500"), "1500");
        assert_eq!(c("1e3"), "1e3");
        assert_eq!(c("128974848"), "128974848");
        assert_eq!(c("129e6"), "129e6");
        assert_eq!(c("123Mi"), "123Mi");
        assert_eq!(c("0"), "0");
        assert_eq!(c("0Gi"), "0");
        assert_eq!(c("512"), "512");
        assert_eq!(c("100Ki"), "100Ki");
        assert_eq!(c("0.5Ki"), "512");
        assert_eq!(c("0.1m"), "100u");
        assert_eq!(c("1n"), "1n");
        assert_eq!(c("0.1n"), "1n");
        assert_eq!(c("-1"), "-1");
        assert_eq!(c("10G"), "10G");
    }

    #[test]
    fn rejects_bad_input() {
        assert_eq!(Quantity::parse("abc"), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse("1x"), Err(FORMAT_ERROR));
        assert_eq!(Quantity::parse("1Kii"), Err(SUFFIX_ERROR));
        assert_eq!(Quantity::parse(""), Err(FORMAT_ERROR));
    }

    #[test]
    fn compares_across_formats() {
        let a = Quantity::parse("1Gi").unwrap();
        let b = Quantity::parse("1G").unwrap();
        assert!(a > b);
        assert!(Quantity::parse("500m").unwrap() < Quantity::parse("1").unwrap());
        let sum = Quantity::parse("500m")
            .unwrap()
            .add(&Quantity::parse("1").unwrap());
        assert_eq!(sum.canonical(), "1500m");
    }

    #[test]
    fn numbers_become_strings() {
        let mut v = serde_json::json!({"cpu": 1, "memory": "1024Mi"});
        canonicalize_map(&mut v).unwrap();
        assert_eq!(v, serde_json::json!({"cpu": "1", "memory": "1Gi"}));
    }
}
