//! Types that parse external input once ("parse, don't validate"): a value of these types is
//! valid by construction, and every parse error names the offending field.
pub mod action;
pub mod email;
pub mod password;
pub mod profile;

use shared::http::FieldError;

/// Collects field errors across several parses, so a request reports all of them at once.
#[derive(Default)]
pub struct Errors(Vec<FieldError>);

impl Errors {
    /// Keeps the value, or records the error under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.0.push(FieldError {
                    field: field.to_owned(),
                    message,
                });
                None
            }
        }
    }

    /// `Ok(())` when nothing failed.
    pub fn finish(self) -> Result<(), Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(self.0)
        }
    }
}
