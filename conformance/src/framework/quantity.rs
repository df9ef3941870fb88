//! Resource quantities compared by value (`1000m` equals `1`, `1Gi` equals `1024Mi`), as
//! upstream's `resource.Quantity.Cmp` compares them.

/// An exact quantity value: `mantissa * 10^exp`, with no trailing zeros in the mantissa.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Value {
    mantissa: i128,
    exp: i32,
}

/// Parses a quantity string (`500m`, `1.5Gi`, `2e3`). `None` when it is not a quantity.
pub fn parse(s: &str) -> Option<Value> {
    let s = s.trim();
    let (negative, s) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return None;
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    let digits = format!("{int_part}{frac_part}");
    let mut mantissa: i128 = digits.parse().ok()?;
    let mut exp = -i32::try_from(frac_part.len()).ok()?;
    let (exp10, exp2) = match suffix {
        "" => (0, 0),
        "n" => (-9, 0),
        "u" => (-6, 0),
        "m" => (-3, 0),
        "k" => (3, 0),
        "M" => (6, 0),
        "G" => (9, 0),
        "T" => (12, 0),
        "P" => (15, 0),
        "E" => (18, 0),
        "Ki" => (0, 10),
        "Mi" => (0, 20),
        "Gi" => (0, 30),
        "Ti" => (0, 40),
        "Pi" => (0, 50),
        "Ei" => (0, 60),
        s if s.starts_with(['e', 'E']) => (s[1..].parse::<i32>().ok()?, 0),
        _ => return None,
    };
    exp = exp.checked_add(exp10)?;
    mantissa = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if negative {
        mantissa = -mantissa;
    }
    if mantissa == 0 {
        return Some(Value {
            mantissa: 0,
            exp: 0,
        });
    }
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    Some(Value { mantissa, exp })
}

/// Whether `a` and `b` are both quantities of the same value.
pub fn equal(a: &str, b: &str) -> bool {
    matches!((parse(a), parse(b)), (Some(x), Some(y)) if x == y)
}

/// The value in thousandths, rounded up as upstream's `Quantity.MilliValue` rounds
/// (`100m` is 100, `1` is 1000, `1n` is 1). `None` when `s` is not a quantity or overflows.
pub fn milli_value(s: &str) -> Option<i64> {
    let v = parse(s)?;
    let exp = v.exp.checked_add(3)?;
    let milli = if exp >= 0 {
        v.mantissa
            .checked_mul(10i128.checked_pow(u32::try_from(exp).ok()?)?)?
    } else {
        let div = 10i128.checked_pow(u32::try_from(-exp).ok()?)?;
        let q = v.mantissa.div_euclid(div);
        if v.mantissa.rem_euclid(div) == 0 {
            q
        } else {
            q + 1
        }
    };
    i64::try_from(milli).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_values_in_different_forms() {
        assert!(equal("1", "1000m"));
        assert!(equal("1Gi", "1024Mi"));
        assert!(equal("1.5", "1500m"));
        assert!(equal("2e3", "2k"));
        assert!(equal("0", "0m"));
        assert!(equal("750Mi", "768000Ki"));
    }

    #[test]
    fn different_values() {
        assert!(!equal("1", "1001m"));
        assert!(!equal("500Mi", "500M"));
        assert!(!equal("-1", "1"));
    }

    #[test]
    fn milli_values_round_up() {
        assert_eq!(milli_value("100m"), Some(100));
        assert_eq!(milli_value("32"), Some(32_000));
        assert_eq!(milli_value("1n"), Some(1));
        assert_eq!(milli_value("1.5k"), Some(1_500_000));
        assert_eq!(milli_value("1Ki"), Some(1_024_000));
        assert_eq!(milli_value("x"), None);
    }

    #[test]
    fn non_quantities() {
        for s in ["", "abc", "1x", "1..2", ".", "Mi"] {
            assert_eq!(parse(s), None, "{s:?}");
        }
    }
}
