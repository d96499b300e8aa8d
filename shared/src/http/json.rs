//! A JSON body extractor whose errors name the offending field, e.g. `items[2].action`.
//!
//! actix's `web::Json` reports serde's message without the path for nested fields; this one
//! tracks the path with `serde_path_to_error` and answers in problem+json:
//! 415 wrong content type, 413 too large, 400 not JSON, 422 JSON of the wrong shape.
use std::ops::Deref;

use actix_web::dev::Payload;
use actix_web::http::{header, StatusCode};
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::future::LocalBoxFuture;
use serde::de::DeserializeOwned;

use super::problem::{ApiError, FieldError};

/// The deserialised body.
#[derive(Debug)]
pub struct Json<T>(pub T);

impl<T> Json<T> {
    /// The body, owned.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Json<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for Json<T> {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = JsonBytes::from_request(req, payload);
        Box::pin(async move {
            let bytes = body.await?;
            parse(&bytes).map(Json).map_err(Into::into)
        })
    }
}

/// The raw body of a JSON request, its content type and size checked like [`Json`]'s (415,
/// 413), for handlers that parse it themselves.
#[derive(Debug)]
pub struct JsonBytes(pub web::Bytes);

impl Deref for JsonBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

impl FromRequest for JsonBytes {
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(is_json_media_type);
        let limit = req.app_data::<JsonLimit>().map_or(DEFAULT_LIMIT, |l| l.0);
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            if !is_json {
                return Err(ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported-media-type",
                    "Expected a body with Content-Type: application/json.",
                )
                .into());
            }
            let bytes = body.await.map_err(|e| {
                if e.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large(limit)
                } else {
                    ApiError::bad_request(format!("Could not read the body: {e}"))
                }
            })?;
            if bytes.len() > limit {
                return Err(too_large(limit).into());
            }
            Ok(JsonBytes(bytes))
        })
    }
}

/// `application/json` or any `application/*+json`, parameters (charset) ignored.
fn is_json_media_type(value: &str) -> bool {
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    essence == "application/json" || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Largest body [`Json`] accepts, set by `shared::http::server::build` from configuration.
#[derive(Debug, Clone, Copy)]
pub struct JsonLimit(pub usize);

const DEFAULT_LIMIT: usize = 256 * 1024;

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload-too-large",
        format!("The body is larger than the limit of {limit} bytes."),
    )
}

/// Deserialises `bytes`, mapping errors to 400 (not JSON) or 422 naming the field.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    reject_nul(bytes)?;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|e| {
        let inner = e.inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return ApiError::bad_request(format!("The body is not valid JSON: {inner}"));
        }
        shape_error("", &e.path().to_string(), inner)
    })?;
    deserializer
        .end()
        .map_err(|e| ApiError::bad_request(format!("The body is not valid JSON: {e}")))?;
    Ok(value)
}

/// 422 for a string holding U+0000: valid JSON, but PostgreSQL cannot store it in text, and no
/// field of ours means it. A NUL can only arrive escaped, so bodies without `\u0000` (nearly
/// all) cost one byte scan; the others are walked to name the field.
fn reject_nul(bytes: &[u8]) -> Result<(), ApiError> {
    const ESCAPED_NUL: &[u8] = b"\\u0000";
    if !bytes.windows(ESCAPED_NUL.len()).any(|w| w == ESCAPED_NUL) {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
        return Ok(()); // not JSON: the parse that follows says so
    };
    match nul_path(&value, String::new()) {
        Some(path) => Err(ApiError::validation(vec![FieldError {
            field: if path.is_empty() { "body".into() } else { path },
            message: "must not contain the NUL character (\\u0000)".into(),
        }])),
        None => Ok(()), // an escaped backslash followed by "u0000": harmless text
    }
}

/// The path of the first string or object key holding U+0000.
fn nul_path(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(s) if s.contains('\0') => Some(path),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| nul_path(v, format!("{path}[{i}]"))),
        serde_json::Value::Object(fields) => fields.iter().find_map(|(k, v)| {
            let field = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            if k.contains('\0') {
                Some(field)
            } else {
                nul_path(v, field)
            }
        }),
        _ => None,
    }
}

/// Deserialises part of an already parsed body; `prefix` (e.g. `[3]`) is prepended to the
/// field path of errors.
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value, prefix: &str) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| shape_error(prefix, &e.path().to_string(), e.inner()))
}

/// 422 naming the field of a well-formed body of the wrong shape.
fn shape_error(prefix: &str, path: &str, inner: &serde_json::Error) -> ApiError {
    let path = if path == "." { "" } else { path };
    let path = match (prefix.is_empty(), path.is_empty()) {
        (true, _) => path.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if path.starts_with('[') => format!("{prefix}{path}"),
        (false, false) => format!("{prefix}.{path}"),
    };
    let message = strip_position(&inner.to_string());
    ApiError::validation(vec![FieldError {
        field: field_name(&path, &message),
        message,
    }])
}

/// serde_json appends " at line L column C", which means nothing to API clients.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// serde reports a missing field at its parent's path with the name in the message; an unknown
/// field's path already ends with its name.
fn field_name(path: &str, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (path.is_empty(), missing) {
        (true, Some(name)) => name.to_owned(),
        (false, Some(name)) => format!("{path}.{name}"),
        (true, None) => "body".to_owned(),
        (false, None) => path.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Item {
        action: String,
        value: Option<u8>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        items: Vec<Item>,
    }

    fn error(json: &str) -> (u16, Vec<FieldError>, String) {
        let e = parse::<Body>(json.as_bytes()).unwrap_err();
        let p = e.problem().clone();
        (p.status, p.errors, p.detail)
    }

    #[test]
    fn wrong_type_in_a_nested_field_names_its_path() {
        let (status, errors, _) = error(r#"{"name":"a","items":[{"action":"x"},{"action":5}]}"#);
        assert_eq!(status, 422);
        assert_eq!(errors[0].field, "items[1].action");
        assert_eq!(errors[0].message, "invalid type: integer `5`, expected a string");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let (_, errors, _) = error(r#"{"items":[]}"#);
        assert_eq!(errors[0].field, "name");
        let (_, errors, _) = error(r#"{"name":"a","items":[{"action":"x","colour":1}]}"#);
        assert_eq!(errors[0].field, "items[0].colour");
    }

    #[test]
    fn a_nul_character_is_a_422_naming_the_field() {
        let (status, errors, _) = error(r#"{"name":"a","items":[{"action":"x\u0000y"}]}"#);
        assert_eq!(status, 422);
        assert_eq!(errors[0].field, "items[0].action");
        // An escaped backslash before "u0000" is ordinary text.
        let body = parse::<Body>(br#"{"name":"a\\u0000","items":[]}"#).unwrap();
        assert_eq!(body.name, "a\\u0000");
    }

    #[test]
    fn malformed_json_is_a_400() {
        let (status, _, detail) = error(r#"{"name":"#);
        assert_eq!(status, 400);
        assert!(detail.starts_with("The body is not valid JSON"), "{detail}");
        assert_eq!(error(r#"{"name":"a","items":[]} trailing"#).0, 400);
    }

    #[test]
    fn values_report_paths_under_their_prefix() {
        let value = serde_json::json!({"action": 5});
        let e = from_value::<Item>(value, "[3]").unwrap_err();
        assert_eq!(e.problem().errors[0].field, "[3].action");
        let e = from_value::<Item>(serde_json::json!({}), "[0]").unwrap_err();
        assert_eq!(e.problem().errors[0].field, "[0].action");
    }

    #[test]
    fn json_media_types_are_recognised() {
        assert!(is_json_media_type("application/json"));
        assert!(is_json_media_type("Application/JSON; charset=utf-8"));
        assert!(is_json_media_type("application/merge-patch+json"));
        assert!(!is_json_media_type("text/plain"));
        assert!(!is_json_media_type("application/jsonx"));
    }

    #[test]
    fn wrong_top_level_type_names_the_body() {
        let (status, errors, _) = error(r#""hello""#);
        assert_eq!(status, 422);
        assert_eq!(errors[0].field, "body");
    }
}
