//! Product fields: each function trims/normalises a raw value or says what is wrong with it
//! ([`Invalid`], whose message the API shows under the field's name).
use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

const MAX_NAME: usize = 200;
const MAX_DESCRIPTION: usize = 5000;
const MAX_LABEL: usize = 64;
const MAX_TAGS: usize = 32;
const MAX_ATTRIBUTES: usize = 64;
/// Largest price amount (exclusive), 10^12 in any currency.
const MAX_AMOUNT: Decimal = Decimal::from_parts(3_567_587_328, 232, 0, false, 0);

/// What is wrong with a field's value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    ControlCharacters,
    #[error("must not contain control characters other than line breaks and tabs")]
    ControlCharactersInText,
    #[error("item {index} {reason}")]
    Item { index: usize, reason: Box<Invalid> },
    #[error("must list at most {0} tags")]
    TooManyTags(usize),
    #[error("must be a decimal number written as a string, e.g. \"19.99\"")]
    NotADecimal,
    #[error("must not be negative")]
    Negative,
    #[error("must have at most 4 decimal places")]
    TooPrecise,
    #[error("must be below 1000000000000")]
    TooLarge,
    #[error("must be an ISO 4217 currency code such as \"EUR\"")]
    NotACurrency,
    #[error("must be between 0 and 2147483647")]
    StockOutOfRange,
    #[error("must have at most {0} keys")]
    TooManyKeys(usize),
    #[error("must be a JSON object")]
    NotAnObject,
    #[error("must not nest deeper than {0} levels")]
    TooDeep(usize),
}

/// Trimmed, 1 to 200 characters.
pub fn name(raw: &str) -> Result<String, Invalid> {
    bounded(raw, MAX_NAME)
}

/// Trimmed, at most 5000 characters (may be empty); line breaks and tabs but no other control
/// characters (a NUL cannot even be stored).
pub fn description(raw: &str) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > MAX_DESCRIPTION {
        return Err(Invalid::TooLong(MAX_DESCRIPTION));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(Invalid::ControlCharactersInText);
    }
    Ok(trimmed.to_owned())
}

/// Trimmed, 1 to 64 characters. Categories are compared exactly (case matters).
pub fn category(raw: &str) -> Result<String, Invalid> {
    bounded(raw, MAX_LABEL)
}

/// Each trimmed, 1 to 64 characters, duplicates removed (first kept), at most 32.
pub fn tags(raw: &[String]) -> Result<Vec<String>, Invalid> {
    let mut kept: Vec<String> = Vec::with_capacity(raw.len());
    for (i, tag) in raw.iter().enumerate() {
        let tag = bounded(tag, MAX_LABEL).map_err(|reason| Invalid::Item {
            index: i,
            reason: Box::new(reason),
        })?;
        if !kept.contains(&tag) {
            kept.push(tag);
        }
    }
    if kept.len() > MAX_TAGS {
        return Err(Invalid::TooManyTags(MAX_TAGS));
    }
    Ok(kept)
}

/// A non-negative decimal string with at most 4 fractional digits, below 10^12. The given
/// scale is kept (`"19.90"` stays `"19.90"`).
pub fn amount(raw: &str) -> Result<Decimal, Invalid> {
    let amount = Decimal::from_str(raw.trim()).map_err(|_| Invalid::NotADecimal)?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err(Invalid::Negative);
    }
    if amount.scale() > 4 {
        return Err(Invalid::TooPrecise);
    }
    if amount >= MAX_AMOUNT {
        return Err(Invalid::TooLarge);
    }
    // abs() turns "-0.00" into "0.00".
    Ok(amount.abs())
}

/// Three ASCII letters (ISO 4217), stored upper-case.
pub fn currency(raw: &str) -> Result<String, Invalid> {
    let code = raw.trim();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err(Invalid::NotACurrency)
    }
}

/// Zero or more.
pub fn stock(raw: i64) -> Result<i32, Invalid> {
    i32::try_from(raw)
        .ok()
        .filter(|s| *s >= 0)
        .ok_or(Invalid::StockOutOfRange)
}

/// A JSON object of at most 64 keys, nested at most 8 deep. (NUL characters, which jsonb
/// refuses, never get this far: the JSON extractor refuses them in any request body.)
pub fn attributes(raw: Value) -> Result<Value, Invalid> {
    match &raw {
        Value::Object(map) if map.len() <= MAX_ATTRIBUTES => {}
        Value::Object(_) => return Err(Invalid::TooManyKeys(MAX_ATTRIBUTES)),
        _ => return Err(Invalid::NotAnObject),
    }
    if depth(&raw) > MAX_ATTRIBUTE_DEPTH {
        return Err(Invalid::TooDeep(MAX_ATTRIBUTE_DEPTH));
    }
    Ok(raw)
}

const MAX_ATTRIBUTE_DEPTH: usize = 8;

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn bounded(raw: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(Invalid::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(Invalid::TooLong(max));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(Invalid::ControlCharacters);
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn amounts_are_exact_non_negative_and_bounded() {
        assert_eq!(amount("19.90").unwrap().to_string(), "19.90");
        assert_eq!(amount("0").unwrap().to_string(), "0");
        assert_eq!(amount("-0.00").unwrap().to_string(), "0.00");
        assert!(amount("-1").is_err());
        assert!(amount("1.00001").is_err());
        assert!(amount("abc").is_err());
        assert!(amount("1000000000000").is_err());
        assert!(amount("999999999999.9999").is_ok());
    }

    #[test]
    fn control_characters_and_deep_attributes_are_refused() {
        assert!(description("two\nlines\tand a tab").is_ok());
        assert!(description("nul \u{0}").is_err());
        assert!(description("clear screen \u{1b}[2J").is_err());
        assert!(attributes(serde_json::json!({"colour": "red", "sizes": [1, 2]})).is_ok());
        let mut deep = serde_json::json!(1);
        for _ in 0..10 {
            deep = serde_json::json!([deep]);
        }
        assert!(attributes(serde_json::json!({ "deep": deep })).is_err());
    }

    #[test]
    fn currencies_and_stock() {
        assert_eq!(currency("eur").unwrap(), "EUR");
        assert!(currency("EURO").is_err());
        assert!(stock(-1).is_err());
        assert!(stock(i64::from(i32::MAX) + 1).is_err());
    }

    #[test]
    fn labels_and_tags() {
        assert_eq!(name("  Lamp ").unwrap(), "Lamp");
        assert!(name("").is_err());
        assert_eq!(
            tags(&["a".into(), "a".into(), " b ".into()]).unwrap(),
            vec!["a", "b"]
        );
        assert!(tags(&["".into()]).is_err());
        assert!(attributes(serde_json::json!([1])).is_err());
    }

    proptest! {
        #[test]
        fn any_valid_amount_string_round_trips(units in 0u64..999_999_999_999, fraction in 0u32..10_000, scale in 0u32..=4) {
            let fraction = fraction % 10u32.pow(scale);
            let raw = if scale == 0 { units.to_string() } else { format!("{units}.{fraction:0width$}", width = scale as usize) };
            prop_assert_eq!(amount(&raw).unwrap().to_string(), raw);
        }
    }
}
