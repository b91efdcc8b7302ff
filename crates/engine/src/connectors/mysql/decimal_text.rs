//! Decimal text (`-123.450`, as MySQL sends a DECIMAL) into the unscaled integer of an Arrow
//! decimal, exactly: a digit that would be lost is an error, never a rounding. (arrow's own
//! `parse_decimal` drops the digits past the scale.)

use datafusion::arrow::datatypes::ArrowNativeTypeOp;

/// The value of `text` times 10^`scale`, when that is a whole number whose magnitude stays below
/// `limit` (10^precision). `None` for anything else: a non-zero digit past the scale, too many
/// digits before the point, or text that is not a plain decimal.
pub fn unscaled<T: ArrowNativeTypeOp>(text: &str, scale: i8, limit: T) -> Option<T> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let scale = usize::try_from(scale).ok()?;
    let (kept, past_scale) = fraction.split_at(fraction.len().min(scale));
    if past_scale.bytes().any(|b| b != b'0') {
        return None;
    }
    let padding = std::iter::repeat_n(b'0', scale - kept.len());
    let ten = T::usize_as(10);
    let mut value = T::ZERO;
    for b in whole.bytes().chain(kept.bytes()).chain(padding) {
        if !b.is_ascii_digit() {
            return None;
        }
        value = value
            .mul_checked(ten)
            .and_then(|v| v.add_checked(T::usize_as(usize::from(b - b'0'))))
            .ok()?;
    }
    if !value.is_lt(limit) {
        return None;
    }
    Some(if negative {
        value.neg_wrapping()
    } else {
        value
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::i256;

    const LIMIT: i128 = 10i128.pow(12);

    #[test]
    fn decimal_text_becomes_its_unscaled_integer() {
        assert_eq!(unscaled("123.450", 3, LIMIT), Some(123_450));
        assert_eq!(unscaled("-0.5", 3, LIMIT), Some(-500));
        assert_eq!(unscaled("7", 2, LIMIT), Some(700));
        assert_eq!(unscaled(".25", 2, LIMIT), Some(25));
        assert_eq!(unscaled("1.2000", 1, LIMIT), Some(12), "trailing zeros");
        assert_eq!(
            unscaled(
                "-99999999999999999999999999999.5",
                1,
                i256::from_i128(10).pow_wrapping(40)
            ),
            Some(i256::from_i128(-999_999_999_999_999_999_999_999_999_995))
        );
    }

    #[test]
    fn a_digit_that_would_be_lost_or_a_value_too_large_is_refused() {
        assert_eq!(unscaled("1.234", 2, LIMIT), None);
        assert_eq!(unscaled("1000000000", 3, LIMIT), None);
        assert_eq!(unscaled("1e5", 0, LIMIT), None);
        assert_eq!(unscaled("", 0, LIMIT), None);
        assert_eq!(unscaled("-", 0, LIMIT), None);
        assert_eq!(unscaled("1.5", -1, LIMIT), None);
    }
}
