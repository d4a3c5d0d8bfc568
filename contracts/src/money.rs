//! Money: exact cents in code and storage; the decimal amount only at the JSON edge, beside the
//! cents.

/// Cents as the decimal amount the JSON APIs show (`1999` → `19.99`).
pub fn decimal(cents: i64) -> f64 {
    cents as f64 / 100.0
}

/// A decimal amount as cents, rounded to the nearest cent; `None` unless finite and within
/// the range cents can hold.
pub fn cents(amount: f64) -> Option<i64> {
    let cents = (amount * 100.0).round();
    (cents.is_finite() && cents.abs() < i64::MAX as f64).then_some(cents as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cents_and_decimals_convert_both_ways() {
        assert_eq!(decimal(1999), 19.99);
        assert_eq!(cents(19.99), Some(1999));
        assert_eq!(cents(0.005), Some(1));
        assert_eq!(cents(f64::NAN), None);
        assert_eq!(cents(1e308), None);
    }
}
