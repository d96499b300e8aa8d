//! Collecting field errors across several parses, so a request reports all of them at once.
use super::problem::{ApiError, FieldError};

/// Field errors found so far.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    /// Keeps the value, or records the error (its message) under `field`.
    pub fn check<T, E: std::fmt::Display>(&mut self, field: &str, result: Result<T, E>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message: error.to_string(),
                });
                None
            }
        }
    }

    /// `Ok(())` when nothing failed, else every field's error (for domain parsers, which know
    /// nothing of HTTP).
    pub fn into_result(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }

    /// `Ok(())` when nothing failed, else a 422 naming every field.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}
