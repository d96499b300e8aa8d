//! Login sessions and their refresh tokens. A refresh token is 256 random bits, given to the
//! client once and stored only as its SHA-256 hash; each use replaces it (rotation). Presenting
//! a used one again means it was copied: the whole session ends (reuse detection). Ending
//! sessions writes `user_sessions_ended`, so every service refuses their access tokens.
use std::time::Duration;

use anyhow::Context;
use base64::Engine;
use chrono::Utc;
use ring::rand::SecureRandom;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement, TransactionTrait, Value,
};
use shared::events::user::UserSessionsEnded;
use shared::events::{event_types, topics, Envelope};
use shared::outbox;
use uuid::Uuid;

use super::users;
use crate::entity::users::Model;

fn statement(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// A new refresh token: what the client gets, and what is stored.
fn new_token() -> anyhow::Result<(String, Vec<u8>)> {
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| anyhow::anyhow!("no randomness for a refresh token"))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash(&token);
    Ok((token, hash))
}

fn hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

/// Starts a session of `user` lasting `ttl`; returns its id and first refresh token.
pub async fn start(db: &DatabaseConnection, user: Uuid, ttl: Duration) -> anyhow::Result<(Uuid, String)> {
    let session = Uuid::now_v7();
    let (token, token_hash) = new_token()?;
    let now = Utc::now();
    let expires = now + chrono::Duration::from_std(ttl).context("refresh token lifetime")?;
    let txn = db.begin().await.context("Failed to begin the login")?;
    txn.execute(statement(
        "INSERT INTO sessions (id, user_id, created_at, issued_at, expires_at) VALUES ($1, $2, $3, $3, $4)",
        vec![session.into(), user.into(), now.into(), expires.into()],
    ))
    .await
    .context("Failed to start the session")?;
    insert_token(&txn, &token_hash, session).await?;
    txn.commit().await.context("Failed to commit the login")?;
    Ok((session, token))
}

async fn insert_token(txn: &DatabaseTransaction, token_hash: &[u8], session: Uuid) -> anyhow::Result<()> {
    txn.execute(statement(
        "INSERT INTO refresh_tokens (token_hash, session_id, created_at) VALUES ($1, $2, now())",
        vec![token_hash.to_vec().into(), session.into()],
    ))
    .await
    .context("Failed to store the refresh token")?;
    Ok(())
}

/// What presenting a refresh token gave.
pub enum Rotated {
    /// A new refresh token for the same session, and the account as it is now.
    Renewed {
        user: Box<Model>,
        session: Uuid,
        token: String,
    },
    /// Unknown, expired, or of an ended session.
    Invalid,
    /// Used before: the session has been ended.
    Reused { user: Uuid, session: Uuid },
}

/// Exchanges a refresh token for the next one of its session. `recent` is the access token
/// lifetime (which sessions' tokens may still be alive when sessions end).
pub async fn rotate(db: &DatabaseConnection, token: &str, recent: Duration) -> anyhow::Result<Rotated> {
    let token_hash = hash(token);
    let txn = db.begin().await.context("Failed to begin the refresh")?;
    // The session's row lock orders concurrent refreshes of one session and its ending.
    let sql = "SELECT rt.session_id, rt.used_at IS NOT NULL AS used, s.user_id, \
               (s.ended_at IS NOT NULL OR s.expires_at <= now()) AS over \
               FROM refresh_tokens rt JOIN sessions s ON s.id = rt.session_id \
               WHERE rt.token_hash = $1 FOR UPDATE OF s";
    let Some(row) = txn
        .query_one(statement(sql, vec![token_hash.clone().into()]))
        .await
        .context("Failed to look up the refresh token")?
    else {
        return Ok(Rotated::Invalid);
    };
    let session: Uuid = row.try_get("", "session_id")?;
    let user: Uuid = row.try_get("", "user_id")?;
    if row.try_get::<bool>("", "over")? {
        return Ok(Rotated::Invalid);
    }
    if row.try_get::<bool>("", "used")? {
        end_in(&txn, user, Some(session), recent).await?;
        txn.commit().await.context("Failed to end a reused session")?;
        return Ok(Rotated::Reused { user, session });
    }
    let Some(model) = users::find(&txn, user).await? else {
        return Ok(Rotated::Invalid);
    };
    txn.execute(statement(
        "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
        vec![token_hash.into()],
    ))
    .await
    .context("Failed to use the refresh token")?;
    txn.execute(statement(
        "UPDATE sessions SET issued_at = now() WHERE id = $1",
        vec![session.into()],
    ))
    .await
    .context("Failed to touch the session")?;
    let (next, next_hash) = new_token()?;
    insert_token(&txn, &next_hash, session).await?;
    txn.commit().await.context("Failed to commit the refresh")?;
    Ok(Rotated::Renewed {
        user: Box::new(model),
        session,
        token: next,
    })
}

/// Ends `user`'s live sessions (only `only` if given) inside `txn` and writes
/// `user_sessions_ended` naming those whose access tokens may still be alive (issued within
/// `recent`); returns those.
pub async fn end_in(
    txn: &DatabaseTransaction,
    user: Uuid,
    only: Option<Uuid>,
    recent: Duration,
) -> anyhow::Result<Vec<Uuid>> {
    let recent_seconds = recent.as_secs_f64() + 60.0;
    let sql = "UPDATE sessions SET ended_at = now() \
               WHERE user_id = $1 AND ended_at IS NULL AND ($2::uuid IS NULL OR id = $2) \
               RETURNING id, issued_at > now() - make_interval(secs => $3) AS recent";
    let rows = txn
        .query_all(statement(
            sql,
            vec![user.into(), only.into(), recent_seconds.into()],
        ))
        .await
        .context("Failed to end sessions")?;
    let mut ended = Vec::new();
    for row in rows {
        if row.try_get::<bool>("", "recent")? {
            ended.push(row.try_get("", "id")?);
        }
    }
    if !ended.is_empty() {
        let event = Envelope::new(
            event_types::USER_SESSIONS_ENDED,
            user.to_string(),
            UserSessionsEnded {
                id: user,
                session_ids: ended.clone(),
            },
        );
        outbox::enqueue(txn, topics::USER_UPDATES, &event).await?;
    }
    Ok(ended)
}

/// Ends one session of `user` (logout), or all of them; returns those to refuse at once.
pub async fn end(
    db: &DatabaseConnection,
    user: Uuid,
    only: Option<Uuid>,
    recent: Duration,
) -> anyhow::Result<Vec<Uuid>> {
    let txn = db.begin().await.context("Failed to begin the logout")?;
    let ended = end_in(&txn, user, only, recent).await?;
    txn.commit().await.context("Failed to commit the logout")?;
    Ok(ended)
}

/// Deletes sessions that expired over a day ago (hourly; their tokens are long dead).
pub async fn prune(db: &DatabaseConnection) -> anyhow::Result<u64> {
    let result = db
        .execute(statement(
            "DELETE FROM sessions WHERE expires_at < now() - interval '1 day' \
             OR ended_at < now() - interval '1 day'",
            vec![],
        ))
        .await
        .context("Failed to prune sessions")?;
    Ok(result.rows_affected())
}
