//! PostgreSQL's binary numeric, read two ways: as the unscaled integer of an Arrow decimal (the
//! value times 10^scale, exactly), and as exact decimal text for numerics too wide for Arrow.
//!
//! On the wire a numeric is base-10000 digits with a weight (the power of 10000 of the first
//! digit), a sign and a display scale (digits after the point).

use datafusion::arrow::datatypes::ArrowNativeTypeOp;

use super::malformed;
use crate::{Error, Result};

/// The precision and scale an unconstrained `numeric` (or a query expression of that type)
/// arrives with: 29 digits before the point and 9 after, as analytical engines reading
/// PostgreSQL commonly choose. A value beyond either fails the read, naming the column.
pub const UNCONSTRAINED_PRECISION: u8 = 38;
pub const UNCONSTRAINED_SCALE: i8 = 9;

const POSITIVE: u16 = 0x0000;
const NEGATIVE: u16 = 0x4000;

/// One binary numeric, its digits checked.
struct BinaryNumeric<'a> {
    weight: i16,
    sign: u16,
    display_scale: u16,
    /// Big-endian base-10000 digits, two bytes each.
    digits: &'a [u8],
}

impl<'a> BinaryNumeric<'a> {
    fn parse(value: &'a [u8], column: &str) -> Result<Self> {
        let short = || malformed(&format!("column '{column}' holds a short numeric"));
        let field = |i: usize| {
            value
                .get(i * 2..i * 2 + 2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .ok_or_else(short)
        };
        let count = usize::try_from(field(0)?).unwrap_or(0);
        let numeric = Self {
            weight: field(1)?,
            sign: field(2)? as u16,
            display_scale: field(3)? as u16,
            digits: value.get(8..8 + 2 * count).ok_or_else(short)?,
        };
        if numeric.special().is_none() && numeric.each_digit().any(|d| d >= 10_000) {
            return Err(malformed(&format!(
                "column '{column}' holds a numeric digit outside 0..9999"
            )));
        }
        Ok(numeric)
    }

    fn special(&self) -> Option<&'static str> {
        match self.sign {
            0xC000 => Some("NaN"),
            0xD000 => Some("Infinity"),
            0xF000 => Some("-Infinity"),
            _ => None,
        }
    }

    fn count(&self) -> usize {
        self.digits.len() / 2
    }

    fn each_digit(&self) -> impl Iterator<Item = u16> + '_ {
        self.digits
            .chunks_exact(2)
            .map(|d| u16::from_be_bytes([d[0], d[1]]))
    }

    /// The digit for 10000^power, zero outside the stored ones.
    fn digit(&self, power: i32) -> u16 {
        usize::try_from(i32::from(self.weight) - power)
            .ok()
            .filter(|&i| i < self.count())
            .map_or(0, |i| {
                u16::from_be_bytes([self.digits[2 * i], self.digits[2 * i + 1]])
            })
    }
}

/// The value of a numeric as the unscaled integer of a decimal of `scale` whose magnitude stays
/// below `limit` (10^precision).
///
/// # Errors
/// `Unsupported` naming the column, and never quoting the value, for NaN and the infinities, a
/// value with more digits after the point than `scale` keeps (trailing zeros aside) and one too
/// large for the precision.
pub(super) fn unscaled<T: ArrowNativeTypeOp>(
    value: &[u8],
    column: &str,
    scale: i8,
    limit: T,
) -> Result<T> {
    let numeric = BinaryNumeric::parse(value, column)?;
    if let Some(special) = numeric.special() {
        return Err(Error::Unsupported(format!(
            "column '{column}' holds {special}, which a decimal cannot hold; \
             cast it in the source query (to double precision or text, say)"
        )));
    }
    let too_large = || {
        Error::Unsupported(format!(
            "column '{column}' holds a value too large for its decimal type; \
             cast it in the source query (to a numeric of larger precision, or to text)"
        ))
    };
    let ten_thousand = T::usize_as(10_000);
    let mut magnitude = T::ZERO;
    for digit in numeric.each_digit() {
        magnitude = magnitude
            .mul_checked(ten_thousand)
            .and_then(|m| m.add_checked(T::usize_as(usize::from(digit))))
            .map_err(|_| too_large())?;
    }
    // `magnitude` is the value times 10^exponent; the decimal wants it times 10^scale.
    let exponent = 4 * (numeric.count() as i32 - 1 - i32::from(numeric.weight));
    let shift = i32::from(scale) - exponent;
    let ten = T::usize_as(10);
    if numeric.count() == 0 || magnitude.is_zero() {
        magnitude = T::ZERO;
    } else if shift >= 0 {
        magnitude = ten
            .pow_checked(shift as u32)
            .and_then(|factor| magnitude.mul_checked(factor))
            .map_err(|_| too_large())?;
    } else {
        let too_fine = || {
            Error::Unsupported(format!(
                "column '{column}' holds a value with more than {scale} digits after the point; \
                 cast it in the source query (to a numeric of larger scale, or to text)"
            ))
        };
        let divisor = ten.pow_checked((-shift) as u32).map_err(|_| too_fine())?;
        if !magnitude.mod_wrapping(divisor).is_zero() {
            return Err(too_fine());
        }
        magnitude = magnitude.div_wrapping(divisor);
    }
    if !magnitude.is_lt(limit) {
        return Err(too_large());
    }
    Ok(if numeric.sign == NEGATIVE {
        magnitude.neg_wrapping()
    } else {
        magnitude
    })
}

/// A binary numeric as exact decimal text (`NaN`, `Infinity` and `-Infinity` as such).
#[cfg(test)]
pub(super) fn numeric_text(value: &[u8], column: &str) -> Result<String> {
    let mut text = String::new();
    write_text(value, column, &mut text)?;
    Ok(text)
}

/// [`numeric_text`], written into `out` (one numeric per row: no allocation of its own, and no
/// `fmt`, which cost more than the rest of the decoding of such a column).
pub(super) fn write_text(value: &[u8], column: &str, out: &mut String) -> Result<()> {
    let numeric = BinaryNumeric::parse(value, column)?;
    if let Some(special) = numeric.special() {
        out.push_str(special);
        return Ok(());
    }
    if numeric.sign != POSITIVE {
        out.push('-');
    }
    let mut started = false;
    for power in (0..=i32::from(numeric.weight).max(0)).rev() {
        let d = numeric.digit(power);
        if started {
            push_group(out, d, true);
        } else if d != 0 || power == 0 {
            push_group(out, d, false);
            started = true;
        }
    }
    let scale = numeric.display_scale;
    if scale > 0 {
        out.push('.');
        let fraction_start = out.len();
        let groups = (i32::from(scale) + 3) / 4;
        for power in 1..=groups {
            push_group(out, numeric.digit(-power), true);
        }
        out.truncate(fraction_start + scale as usize);
    }
    Ok(())
}

/// Appends a base-10000 digit as four decimal digits, or without its leading zeros.
fn push_group(out: &mut String, group: u16, padded: bool) {
    let digits = [group / 1000, group / 100 % 10, group / 10 % 10, group % 10];
    let skip = if padded {
        0
    } else {
        digits[..3].iter().take_while(|&&d| d == 0).count()
    };
    for d in &digits[skip..] {
        out.push(char::from(b'0' + *d as u8));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use datafusion::arrow::datatypes::i256;

    /// A binary numeric as PostgreSQL sends it.
    pub fn numeric(weight: i16, sign: u16, scale: i16, digits: &[i16]) -> Vec<u8> {
        let mut bytes = Vec::new();
        for part in [digits.len() as i16, weight, sign as i16, scale] {
            bytes.extend_from_slice(&part.to_be_bytes());
        }
        for d in digits {
            bytes.extend_from_slice(&d.to_be_bytes());
        }
        bytes
    }

    #[test]
    fn numerics_keep_every_digit_as_text() {
        let text = |bytes: Vec<u8>| numeric_text(&bytes, "n").unwrap();
        assert_eq!(text(numeric(0, 0, 2, &[12, 3400])), "12.34");
        assert_eq!(text(numeric(1, NEGATIVE, 0, &[1, 2])), "-10002");
        assert_eq!(text(numeric(-1, 0, 5, &[5])), "0.00050");
        assert_eq!(text(numeric(0, 0, 0, &[])), "0");
        assert_eq!(text(numeric(1, 0, 1, &[100, 7, 5000])), "1000007.5");
        assert_eq!(text(numeric(0, 0xC000, 0, &[])), "NaN");
        assert!(
            numeric_text(&numeric(0, 0, 0, &[10_000]), "n")
                .unwrap_err()
                .to_string()
                .contains("digit outside")
        );
    }

    #[test]
    fn numerics_become_the_unscaled_integers_of_their_decimal() {
        let as_128 = |bytes: Vec<u8>, scale: i8| unscaled(&bytes, "n", scale, 10i128.pow(38));
        // 12.34 at scale 2, 4 and 0 (the last has a digit too many).
        assert_eq!(as_128(numeric(0, 0, 2, &[12, 3400]), 2).unwrap(), 1234);
        assert_eq!(as_128(numeric(0, 0, 2, &[12, 3400]), 4).unwrap(), 123_400);
        assert!(as_128(numeric(0, 0, 2, &[12, 3400]), 0).is_err());
        // -10002, 0.0005 and 1e20 (one stored digit, trailing groups left out).
        assert_eq!(
            as_128(numeric(1, NEGATIVE, 0, &[1, 2]), 2).unwrap(),
            -1_000_200
        );
        assert_eq!(as_128(numeric(-1, 0, 5, &[5]), 9).unwrap(), 500_000);
        assert_eq!(as_128(numeric(5, 0, 0, &[1]), 0).unwrap(), 10i128.pow(20));
        assert_eq!(as_128(numeric(0, 0, 3, &[]), 9).unwrap(), 0);
        // Trailing zeros past the scale are not digits lost.
        assert_eq!(as_128(numeric(0, 0, 4, &[1, 2000]), 1).unwrap(), 12);
    }

    #[test]
    fn a_numeric_a_decimal_cannot_hold_fails_naming_the_column_not_the_value() {
        let fail = |bytes: Vec<u8>, scale: i8, limit: i128| {
            unscaled(&bytes, "amount", scale, limit)
                .unwrap_err()
                .to_string()
        };
        let nan = fail(numeric(0, 0xC000, 0, &[]), 2, 10i128.pow(10));
        assert!(nan.contains("'amount'") && nan.contains("NaN"), "{nan}");
        let fine = fail(numeric(-1, 0, 5, &[1234]), 2, 10i128.pow(10));
        assert!(
            fine.contains("more than 2 digits after the point"),
            "{fine}"
        );
        assert!(!fine.contains("1234"), "{fine}");
        let large = fail(numeric(2, 0, 0, &[1]), 0, 10i128.pow(5));
        assert!(large.contains("too large"), "{large}");
        // Past i128 altogether: 10^40.
        let huge = fail(numeric(10, 0, 0, &[1]), 0, 10i128.pow(38));
        assert!(huge.contains("too large"), "{huge}");
    }

    #[test]
    fn wide_numerics_fit_a_256_bit_decimal() {
        // 10^40 + 0.5 at scale 10.
        let bytes = numeric(10, 0, 1, &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5000]);
        let limit = i256::from_i128(10).pow_checked(60).unwrap();
        let value: i256 = unscaled(&bytes, "n", 10, limit).unwrap();
        let expected = i256::from_i128(10)
            .pow_checked(50)
            .unwrap()
            .checked_add(i256::from_i128(5_000_000_000))
            .unwrap();
        assert_eq!(value, expected);
    }
}
