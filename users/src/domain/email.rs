//! E-mail addresses, normalised so that one mailbox is one account.
use std::fmt;

/// A syntactically valid address, trimmed and lower-cased.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Trims, lower-cases and checks the address (RFC 5322 syntax, at most 254 characters).
    pub fn parse(raw: &str) -> Result<Self, String> {
        let normalised = raw.trim().to_lowercase();
        if normalised.is_empty() {
            return Err("must not be empty".into());
        }
        if normalised.len() > 254 {
            return Err("must be at most 254 characters".into());
        }
        if !email_address::EmailAddress::is_valid(&normalised) || !normalised.contains('@') {
            return Err("is not a valid e-mail address".into());
        }
        Ok(Self(normalised))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn addresses_are_trimmed_and_lower_cased() {
        assert_eq!(
            Email::parse("  Ada.Lovelace@Example.COM ").unwrap().as_str(),
            "ada.lovelace@example.com"
        );
    }

    #[test]
    fn invalid_addresses_are_rejected() {
        for raw in ["", "   ", "plainaddress", "@example.com", "a@", "a b@example.com"] {
            assert!(Email::parse(raw).is_err(), "{raw:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    proptest! {
        #[test]
        fn parsing_is_idempotent(local in "[a-zA-Z0-9._%+-]{1,20}", domain in "[a-zA-Z0-9-]{1,20}\\.[a-z]{2,6}") {
            if let Ok(email) = Email::parse(&format!("{local}@{domain}")) {
                prop_assert_eq!(Email::parse(email.as_str()).unwrap(), email);
            }
        }
    }
}
