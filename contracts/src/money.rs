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

/// The currencies the shop takes: ISO 4217 codes whose minor unit is the cent (two decimals), so
/// that amounts in cents mean what they say. Any other code is refused, however well-formed.
pub const CURRENCIES: [&str; 12] = [
    "AUD", "CAD", "CHF", "CZK", "DKK", "EUR", "GBP", "NOK", "NZD", "PLN", "SEK", "USD",
];

/// What a caller is told when its currency is not one of [`CURRENCIES`].
pub const CURRENCY_RULE: &str =
    "currency must be one of AUD, CAD, CHF, CZK, DKK, EUR, GBP, NOK, NZD, PLN, SEK, USD";

/// `code` as a supported currency, upper-cased (`usd` → `USD`), or `None`.
pub fn currency(code: &str) -> Option<&'static str> {
    let upper = code.trim().to_ascii_uppercase();
    CURRENCIES.into_iter().find(|known| *known == upper)
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

    #[test]
    fn only_supported_currencies_pass() {
        assert_eq!(currency("usd"), Some("USD"));
        assert_eq!(currency("EUR"), Some("EUR"));
        // Well-formed, but not a currency (ZZZ) or not one counted in cents (JPY has none).
        assert_eq!(currency("ZZZ"), None);
        assert_eq!(currency("JPY"), None);
        assert!(CURRENCIES.windows(2).all(|pair| pair[0] < pair[1]));
        let listed = format!("currency must be one of {}", CURRENCIES.join(", "));
        assert_eq!(CURRENCY_RULE, listed);
    }
}
