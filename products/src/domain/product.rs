//! Product fields: each function trims/normalises a raw value or says what is wrong with it.
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

/// Trimmed, 1 to 200 characters.
pub fn name(raw: &str) -> Result<String, String> {
    bounded(raw, MAX_NAME)
}

/// Trimmed, at most 5000 characters (may be empty); line breaks and tabs but no other control
/// characters (a NUL cannot even be stored).
pub fn description(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.chars().count() > MAX_DESCRIPTION {
        return Err(format!("must be at most {MAX_DESCRIPTION} characters"));
    }
    if trimmed
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err("must not contain control characters other than line breaks and tabs".into());
    }
    Ok(trimmed.to_owned())
}

/// Trimmed, 1 to 64 characters. Categories are compared exactly (case matters).
pub fn category(raw: &str) -> Result<String, String> {
    bounded(raw, MAX_LABEL)
}

/// Each trimmed, 1 to 64 characters, duplicates removed (first kept), at most 32.
pub fn tags(raw: &[String]) -> Result<Vec<String>, String> {
    let mut kept: Vec<String> = Vec::with_capacity(raw.len());
    for (i, tag) in raw.iter().enumerate() {
        let tag = bounded(tag, MAX_LABEL).map_err(|e| format!("item {i} {e}"))?;
        if !kept.contains(&tag) {
            kept.push(tag);
        }
    }
    if kept.len() > MAX_TAGS {
        return Err(format!("must list at most {MAX_TAGS} tags"));
    }
    Ok(kept)
}

/// A non-negative decimal string with at most 4 fractional digits, below 10^12. The given
/// scale is kept (`"19.90"` stays `"19.90"`).
pub fn amount(raw: &str) -> Result<Decimal, String> {
    let amount = Decimal::from_str(raw.trim())
        .map_err(|_| "must be a decimal number written as a string, e.g. \"19.99\"".to_owned())?;
    if amount.is_sign_negative() && !amount.is_zero() {
        return Err("must not be negative".into());
    }
    if amount.scale() > 4 {
        return Err("must have at most 4 decimal places".into());
    }
    if amount >= MAX_AMOUNT {
        return Err("must be below 1000000000000".into());
    }
    // abs() turns "-0.00" into "0.00".
    Ok(amount.abs())
}

/// Three ASCII letters (ISO 4217), stored upper-case.
pub fn currency(raw: &str) -> Result<String, String> {
    let code = raw.trim();
    if code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err("must be an ISO 4217 currency code such as \"EUR\"".into())
    }
}

/// Zero or more.
pub fn stock(raw: i64) -> Result<i32, String> {
    i32::try_from(raw)
        .ok()
        .filter(|s| *s >= 0)
        .ok_or_else(|| "must be between 0 and 2147483647".into())
}

/// A JSON object of at most 64 keys, nested at most 8 deep. (NUL characters, which jsonb
/// refuses, never get this far: the JSON extractor refuses them in any request body.)
pub fn attributes(raw: Value) -> Result<Value, String> {
    match &raw {
        Value::Object(map) if map.len() <= MAX_ATTRIBUTES => {}
        Value::Object(_) => return Err(format!("must have at most {MAX_ATTRIBUTES} keys")),
        _ => return Err("must be a JSON object".into()),
    }
    if depth(&raw) > MAX_ATTRIBUTE_DEPTH {
        return Err(format!("must not nest deeper than {MAX_ATTRIBUTE_DEPTH} levels"));
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

fn bounded(raw: &str, max: usize) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > max {
        return Err(format!("must be at most {max} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
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
