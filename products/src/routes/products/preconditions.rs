//! Conditional requests: entity tags (`ETag` is the product's version), `If-Match` on writes
//! (optimistic concurrency) and `If-None-Match` on reads.
use actix_web::http::{header, StatusCode};
use actix_web::HttpRequest;
use shared::http::ApiError;

use crate::domain::catalogue::Expected;

/// The strong entity tag of a version.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// What `If-Match` asks for.
#[derive(Debug, PartialEq)]
pub enum Precondition {
    /// `If-Match: *`: any existing version.
    Any,
    Version(i64),
}

/// Reads `If-Match` (one strong entity tag, or `*`).
pub fn if_match(req: &HttpRequest) -> Result<Option<Precondition>, ApiError> {
    let Some(value) = req.headers().get(header::IF_MATCH) else {
        return Ok(None);
    };
    let value = value.to_str().unwrap_or_default().trim();
    if value == "*" {
        return Ok(Some(Precondition::Any));
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(|v| Some(Precondition::Version(v)))
        .ok_or_else(|| ApiError::bad_request("If-Match must be `*` or one ETag of this API, e.g. \"3\"."))
}

/// The version a write expects: `Some(v)`, or `None` for "whatever is current".
pub fn expected_version(header: Option<Precondition>, body: Option<i64>) -> Result<Option<i64>, ApiError> {
    match (header, body) {
        (Some(Precondition::Version(h)), Some(b)) if h != b => {
            Err(ApiError::bad_request("If-Match and version disagree."))
        }
        (Some(Precondition::Version(v)), _) | (None, Some(v)) | (Some(Precondition::Any), Some(v)) => Ok(Some(v)),
        (Some(Precondition::Any), None) => Ok(None),
        (None, None) => Err(ApiError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "precondition-required",
            "Send If-Match with the product's ETag (or a version field), so a concurrent change is not overwritten.",
        )),
    }
}

/// What a write expects, from `If-Match` and the body's `version` (required).
pub fn expected(req: &HttpRequest, body: Option<i64>) -> Result<Expected, ApiError> {
    Ok(match expected_version(if_match(req)?, body)? {
        Some(version) => Expected::Version(version),
        None => Expected::Current,
    })
}

/// What a deletion expects: `If-Match` is optional there.
pub fn expected_if_any(req: &HttpRequest) -> Result<Expected, ApiError> {
    Ok(match if_match(req)? {
        Some(Precondition::Version(version)) => Expected::Version(version),
        Some(Precondition::Any) | None => Expected::Current,
    })
}

/// Whether `If-None-Match` names `etag` (or is `*`): the client's copy is current.
pub fn holds(req: &HttpRequest, etag: &str) -> bool {
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|tag| tag.trim().trim_start_matches("W/"))
        .any(|tag| tag == "*" || tag == etag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_expected_version_comes_from_if_match_or_the_body() {
        assert_eq!(
            expected_version(Some(Precondition::Version(3)), None).unwrap(),
            Some(3)
        );
        assert_eq!(expected_version(None, Some(4)).unwrap(), Some(4));
        assert_eq!(expected_version(Some(Precondition::Any), None).unwrap(), None);
        assert_eq!(
            expected_version(Some(Precondition::Version(3)), Some(3)).unwrap(),
            Some(3)
        );
        assert_eq!(
            expected_version(Some(Precondition::Version(3)), Some(4))
                .unwrap_err()
                .problem()
                .status,
            400
        );
        assert_eq!(expected_version(None, None).unwrap_err().problem().status, 428);
    }
}
