//! The fake card processor: decides by test card number, like Stripe's test mode.

/// What the processor answers for a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Approved,
    Declined(&'static str),
    /// The processor itself fails.
    ProcessingError,
    /// The processor takes `PAYMENT_SLOW_MS`, then approves.
    SlowApproval,
}

/// Test cards: `4000000000000002` is declined, `4000000000009995` has insufficient funds,
/// `4000000000000119` fails with a processing error, `4000000000000036` is approved slowly; any
/// other well-formed number is approved.
pub(crate) fn decide(card_number: &str) -> Decision {
    match card_number {
        "4000000000000002" => Decision::Declined("card_declined"),
        "4000000000009995" => Decision::Declined("insufficient_funds"),
        "4000000000000119" => Decision::ProcessingError,
        "4000000000000036" => Decision::SlowApproval,
        _ => Decision::Approved,
    }
}

/// A card number is 12 to 19 digits (spaces allowed between groups) that pass the Luhn check.
/// Returns the digits alone.
pub(crate) fn normalise_card(raw: &str) -> Option<String> {
    let digits: String = raw.chars().filter(|c| *c != ' ').collect();
    let valid = (12..=19).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && luhn(&digits);
    valid.then_some(digits)
}

/// The last four digits: the only part of a card that may be stored, logged or traced.
pub(crate) fn last4(digits: &str) -> &str {
    &digits[digits.len().saturating_sub(4)..]
}

fn luhn(digits: &str) -> bool {
    let sum: u32 = digits
        .bytes()
        .rev()
        .map(|b| u32::from(b - b'0'))
        .enumerate()
        .map(|(i, d)| match (i % 2, d * 2) {
            (0, _) => d,
            (_, doubled) if doubled > 9 => doubled - 9,
            (_, doubled) => doubled,
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_cards_decide_as_documented() {
        assert_eq!(decide("4242424242424242"), Decision::Approved);
        assert_eq!(
            decide("4000000000000002"),
            Decision::Declined("card_declined")
        );
        assert_eq!(
            decide("4000000000009995"),
            Decision::Declined("insufficient_funds")
        );
        assert_eq!(decide("4000000000000119"), Decision::ProcessingError);
        assert_eq!(decide("4000000000000036"), Decision::SlowApproval);
    }

    #[test]
    fn card_numbers_are_validated_with_luhn() {
        assert_eq!(
            normalise_card("4242 4242 4242 4242").as_deref(),
            Some("4242424242424242")
        );
        for card in [
            "4000000000000002",
            "4000000000009995",
            "4000000000000119",
            "4000000000000036",
        ] {
            assert!(normalise_card(card).is_some(), "{card}");
        }
        assert_eq!(normalise_card("4242424242424241"), None);
        assert_eq!(normalise_card("42424242abcd4242"), None);
        assert_eq!(normalise_card("4242"), None);
        assert_eq!(last4("4242424242424242"), "4242");
    }
}
