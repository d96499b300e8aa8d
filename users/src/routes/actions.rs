//! Action ingestion: validated, published to `user_actions` keyed by user id, and answered 202
//! only after the broker acknowledged every event of the request.
use actix_web::{web, HttpResponse};
use chrono::Utc;
use futures_util::future::join_all;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::auth::{Authenticator, Caller, Scope};
use shared::db::unexpected;
use shared::events::{event_types, topics, Envelope};
use shared::http::json::{from_value, parse, JsonBytes};
use shared::http::{ApiError, FieldError};
use uuid::Uuid;

use super::AppState;
use crate::domain::action::{ActionRequest, ValidAction};

/// Mounts `/users/{id}/actions`.
pub fn config_actions_api(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/users/{id}/actions").route(web::post().to(post_actions)));
}

/// What was accepted.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ActionsAccepted {
    pub accepted: usize,
    /// The event id of each action, in request order (retry with these to avoid duplicates).
    pub event_ids: Vec<Uuid>,
}

/// One action object, or an array of them (a batch, all or nothing). The handler picks the
/// variant by the body's first byte (cheaper than serde's untagged buffering) and reads the
/// body again as a JSON tree only to report each item's errors under its index.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum ActionsBody {
    One(ActionRequest),
    Many(Vec<ActionRequest>),
}

impl ActionsBody {
    /// Reads a well-formed body; `None` when it does not fit (then the errors are collected).
    fn read(body: &[u8]) -> Option<Self> {
        if body.trim_ascii_start().starts_with(b"[") {
            serde_json::from_slice(body).ok().map(Self::Many)
        } else {
            serde_json::from_slice(body).ok().map(Self::One)
        }
    }

    /// The actions, each with the prefix its errors are reported under (`[i]` in a batch).
    fn into_items(self) -> Vec<(String, ActionRequest)> {
        match self {
            Self::One(request) => vec![(String::new(), request)],
            Self::Many(requests) => requests
                .into_iter()
                .enumerate()
                .map(|(i, request)| (format!("[{i}]"), request))
                .collect(),
        }
    }
}

/// Parses one action or a batch; every invalid field of every item is reported. A well-formed
/// body is read straight into typed actions; only a body that does not fit is read again as a
/// JSON tree to name every offending field.
fn parse_actions(body: &[u8], user: Uuid, max: usize) -> Result<Vec<ValidAction>, ApiError> {
    let now = Utc::now();
    match ActionsBody::read(body).map(ActionsBody::into_items) {
        Some(items) if !items.is_empty() && items.len() <= max => validate_all(
            items.into_iter().map(|(prefix, request)| (prefix, Ok(request))),
            user,
            now,
        ),
        _ => parse_tree(parse::<Value>(body)?, user, max, now),
    }
}

/// Validates parsed items (`Err`: the item's parse errors), collecting every error.
fn validate_all(
    items: impl Iterator<Item = (String, Result<ActionRequest, Vec<FieldError>>)>,
    user: Uuid,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<ValidAction>, ApiError> {
    let mut valid = Vec::new();
    let mut errors = Vec::new();
    for (prefix, parsed) in items {
        match parsed.and_then(|request| request.validate(user, now, &prefix)) {
            Ok(action) => valid.push(action),
            Err(mut field_errors) => errors.append(&mut field_errors),
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(ApiError::validation(errors))
    }
}

/// The slow path: the body as a JSON tree, each item parsed on its own to report its errors
/// under its index.
fn parse_tree(
    body: Value,
    user: Uuid,
    max: usize,
    now: chrono::DateTime<Utc>,
) -> Result<Vec<ValidAction>, ApiError> {
    let items: Vec<(String, Value)> = match body {
        Value::Array(items) if items.is_empty() => return Err(too_few()),
        Value::Array(items) if items.len() > max => {
            return Err(ApiError::validation(vec![FieldError {
                field: "body".into(),
                message: format!("must hold at most {max} actions"),
            }]))
        }
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect(),
        single => vec![(String::new(), single)],
    };
    validate_all(
        items.into_iter().map(|(prefix, item)| {
            let parsed = from_value::<ActionRequest>(item, &prefix).map_err(|e| e.problem().errors.clone());
            (prefix, parsed)
        }),
        user,
        now,
    )
}

fn too_few() -> ApiError {
    ApiError::validation(vec![FieldError {
        field: "body".into(),
        message: "must hold at least one action".into(),
    }])
}

/// Record what a user did: one action object or an array of up to `users.max_actions_per_request`.
#[utoipa::path(post, path = "/api/v1/users/{id}/actions", tag = "actions",
    security(("bearer" = []), ("api_key" = [])), params(("id" = Uuid, Path)), request_body = ActionsBody,
    responses(
        (status = 202, description = "Every action is in Kafka", body = ActionsAccepted),
        (status = 401), (status = 403), (status = 404),
        (status = 422, body = shared::http::problem::Problem),
        (status = 429, description = "More actions than the user's quota (users.limits); see Retry-After",
            body = shared::http::problem::Problem),
        (status = 503, description = "Kafka did not acknowledge: nothing is accepted; retry with the same event ids",
            body = shared::http::problem::Problem),
    ))]
#[tracing::instrument(skip_all, fields(user_id = %user_id, actions = tracing::field::Empty))]
pub async fn post_actions(
    state: web::Data<AppState>,
    auth: web::Data<Authenticator>,
    caller: Caller,
    user_id: web::Path<Uuid>,
    body: JsonBytes,
) -> Result<HttpResponse, ApiError> {
    let user_id = user_id.into_inner();
    // The user themself, or a backend with the ingest key; not even an admin acts as someone.
    match &caller {
        Caller::User { id, .. } if *id == user_id => {}
        Caller::Service(Scope::Ingest) => {}
        _ => {
            return Err(ApiError::new(
                actix_web::http::StatusCode::FORBIDDEN,
                "forbidden",
                "Actions are posted by the user themself or with an ingest key.",
            ))
        }
    }
    let actions = parse_actions(&body, user_id, state.settings.max_actions_per_request)?;
    state.limits.actions(user_id, actions.len())?;
    tracing::Span::current().record("actions", actions.len());
    // A user's own token proves the account exists (a deletion revokes every token of it);
    // for an ingest key, the known users answer without a query in the common case.
    let exists = match caller {
        Caller::User { .. } => true,
        Caller::Service(_) => state
            .known_users
            .exists(&state.db, &auth.revocations(), user_id)
            .await
            .map_err(unexpected)?,
    };
    if !exists {
        return Err(ApiError::not_found("No such user."));
    }
    let events: Vec<_> = actions
        .into_iter()
        .map(|valid| {
            let mut event = Envelope::new(event_types::USER_ACTION, user_id.to_string(), valid.action);
            event.event_id = valid.event_id;
            event.occurred_at = event.payload.occurred_at;
            event
        })
        .collect();
    // All sends are queued before any is awaited: one round trip for the whole batch.
    let results = join_all(
        events
            .iter()
            .map(|e| state.producer.publish(topics::USER_ACTIONS, e)),
    )
    .await;
    if let Some(error) = results.into_iter().find_map(Result::err) {
        return Err(ApiError::unavailable(
            "Kafka did not acknowledge the actions; none is accepted. Retry with the same event ids.",
            anyhow::Error::new(error),
        ));
    }
    let event_ids: Vec<Uuid> = events.iter().map(|e| e.event_id).collect();
    // The ids tie the request to the consumers' log lines: one line per hundred (a line per
    // action made logging most of the cost of a batch).
    for chunk in event_ids.chunks(100) {
        let ids: Vec<String> = chunk.iter().map(Uuid::to_string).collect();
        tracing::info!(event_ids = %ids.join(","), "actions accepted");
    }
    Ok(HttpResponse::Accepted().json(ActionsAccepted {
        accepted: event_ids.len(),
        event_ids,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(error: ApiError) -> Vec<String> {
        error.problem().errors.iter().map(|e| e.field.clone()).collect()
    }

    #[test]
    fn well_formed_bodies_are_read_straight_into_actions() {
        let user = Uuid::now_v7();
        let one = br#" {"product_id":"0190c0de-0000-7000-8000-000000000001","action":"view"}"#;
        assert_eq!(parse_actions(one, user, 10).map(|a| a.len()).ok(), Some(1));
        let batch = br#"[{"product_id":"0190c0de-0000-7000-8000-000000000001","action":"view"},
                         {"product_id":"0190c0de-0000-7000-8000-000000000002","action":"rate","value":4}]"#;
        let actions = parse_actions(batch, user, 10).unwrap_or_default();
        assert_eq!(actions.len(), 2);
        assert!(actions.iter().all(|a| a.action.user_id == user));
    }

    #[test]
    fn every_offending_field_is_named_with_its_index_whichever_path_found_it() {
        let user = Uuid::now_v7();
        // Parses, but fails validation (the fast path).
        let invalid = br#"[{"product_id":"0190c0de-0000-7000-8000-000000000001","action":"view"},
                           {"product_id":"0190c0de-0000-7000-8000-000000000002","action":"rate"}]"#;
        assert_eq!(
            fields(parse_actions(invalid, user, 10).unwrap_err()),
            vec!["[1].value"]
        );
        // Does not parse (the slow path): both items' errors.
        let malformed = br#"[{"product_id":"nope","action":"view"},{"product_id":"0190c0de-0000-7000-8000-000000000002","action":"jump"}]"#;
        assert_eq!(
            fields(parse_actions(malformed, user, 10).unwrap_err()),
            vec!["[0].product_id", "[1].action"]
        );
        let single = br#"{"product_id":"0190c0de-0000-7000-8000-000000000001","action":"rate","value":9}"#;
        assert_eq!(
            fields(parse_actions(single, user, 10).unwrap_err()),
            vec!["value"]
        );
        assert_eq!(fields(parse_actions(b"[]", user, 10).unwrap_err()), vec!["body"]);
        let two = br#"[{"product_id":"0190c0de-0000-7000-8000-000000000001","action":"view"},
                       {"product_id":"0190c0de-0000-7000-8000-000000000001","action":"view"}]"#;
        assert_eq!(fields(parse_actions(two, user, 1).unwrap_err()), vec!["body"]);
        assert_eq!(parse_actions(b"{", user, 10).unwrap_err().problem().status, 400);
    }
}
