//! Profile fields: display name, age, country, interests.

/// Longest display name, in characters.
const MAX_NAME: usize = 100;
/// Most interests a profile may list, and the longest one.
const MAX_INTERESTS: usize = 32;
const MAX_INTEREST: usize = 64;

/// Trimmed, 1 to 100 characters, no control characters.
pub fn display_name(raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("must not be empty".into());
    }
    if trimmed.chars().count() > MAX_NAME {
        return Err(format!("must be at most {MAX_NAME} characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    Ok(trimmed.to_owned())
}

/// 13 to 120 (the service is not for children; older is a typo).
pub fn age(raw: i64) -> Result<i16, String> {
    match i16::try_from(raw) {
        Ok(age) if (13..=120).contains(&age) => Ok(age),
        _ => Err("must be between 13 and 120".into()),
    }
}

/// An ISO 3166-1 alpha-2 code: two ASCII letters, stored upper-case.
pub fn country(raw: &str) -> Result<String, String> {
    let code = raw.trim();
    if code.len() == 2 && code.chars().all(|c| c.is_ascii_alphabetic()) {
        Ok(code.to_ascii_uppercase())
    } else {
        Err("must be an ISO 3166-1 alpha-2 country code such as \"DE\"".into())
    }
}

/// Category names: each trimmed, 1 to 64 characters without control characters; duplicates (ignoring case) removed,
/// first spelling and order kept; at most 32.
pub fn interests(raw: &[String]) -> Result<Vec<String>, String> {
    let mut kept: Vec<String> = Vec::with_capacity(raw.len());
    for (i, item) in raw.iter().enumerate() {
        let trimmed = item.trim();
        if trimmed.is_empty() || trimmed.chars().count() > MAX_INTEREST {
            return Err(format!("item {i} must be 1 to {MAX_INTEREST} characters"));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(format!("item {i} must not contain control characters"));
        }
        if !kept.iter().any(|k| k.eq_ignore_ascii_case(trimmed)) {
            kept.push(trimmed.to_owned());
        }
    }
    if kept.len() > MAX_INTERESTS {
        return Err(format!("must list at most {MAX_INTERESTS} interests"));
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(display_name("  Ada  ").unwrap(), "Ada");
        assert!(display_name("   ").is_err());
        assert!(display_name("a\u{7}b").is_err());
        assert!(display_name(&"é".repeat(100)).is_ok());
        assert!(display_name(&"é".repeat(101)).is_err());
    }

    #[test]
    fn ages_outside_13_to_120_are_rejected() {
        assert_eq!(age(13), Ok(13));
        assert!(age(12).is_err());
        assert!(age(121).is_err());
        assert!(age(i64::MAX).is_err());
    }

    #[test]
    fn countries_are_two_letters_upper_cased() {
        assert_eq!(country("de").unwrap(), "DE");
        assert!(country("DEU").is_err());
        assert!(country("1A").is_err());
    }

    #[test]
    fn interests_are_trimmed_and_deduplicated() {
        let raw = vec![" Books ".to_string(), "books".into(), "Garden".into()];
        assert_eq!(interests(&raw).unwrap(), vec!["Books", "Garden"]);
        assert!(interests(&["".to_string()]).is_err());
        assert!(interests(&["Books\u{0}".to_string()]).is_err());
        assert!(interests(&["Bo\u{1b}[2Jks".to_string()]).is_err());
        let many: Vec<String> = (0..33).map(|i| format!("c{i}")).collect();
        assert!(interests(&many).is_err());
    }

    proptest! {
        #[test]
        fn valid_interests_parse_to_themselves(items in prop::collection::btree_set("[a-z]{1,10}", 0..32)) {
            let items: Vec<String> = items.into_iter().collect();
            prop_assert_eq!(interests(&items).unwrap(), items);
        }
    }
}
