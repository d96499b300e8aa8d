//! Queries and transactional mutations of accounts.
use anyhow::Context;
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel,
    QueryFilter, QueryOrder, QuerySelect, Set, SqlErr, TransactionTrait,
};
use shared::auth::Role;
use shared::events::user::{UserDeleted, UserProfile};
use shared::events::{event_types, topics, Envelope};
use shared::outbox;
use uuid::Uuid;

use crate::domain::email::Email;
use crate::entity::users::{ActiveModel, Column, Entity as Users, Model};

/// A validated account to create.
pub struct NewUser {
    pub email: Email,
    pub password_hash: String,
    pub display_name: String,
    pub age: Option<i16>,
    pub country: Option<String>,
    pub interests: Vec<String>,
    pub role: Role,
}

/// Why an account was not created.
#[derive(Debug, thiserror::Error)]
pub enum InsertError {
    #[error("an account with this e-mail address exists")]
    EmailTaken,
    #[error(transparent)]
    Unexpected(#[from] anyhow::Error),
}

/// Validated changes; `None` leaves a field as it is, `Some(None)` clears a nullable one.
#[derive(Default)]
pub struct Changes {
    pub display_name: Option<String>,
    pub age: Option<Option<i16>>,
    pub country: Option<Option<String>>,
    pub interests: Option<Vec<String>>,
    pub password_hash: Option<String>,
    pub role: Option<Role>,
}

/// The role stored in a row (`user` for anything unexpected: least privilege).
pub fn role_of(model: &Model) -> Role {
    if model.role == Role::Admin.as_str() {
        Role::Admin
    } else {
        Role::User
    }
}

/// The public profile carried by `user_updates` events.
pub fn profile(model: &Model) -> UserProfile {
    UserProfile {
        id: model.id,
        display_name: model.display_name.clone(),
        age: model.age,
        country: model.country.clone(),
        interests: model.interests.clone(),
        role: role_of(model),
        created_at: model.created_at.to_utc(),
        updated_at: model.updated_at.to_utc(),
    }
}

fn profile_event(event_type: &str, model: &Model) -> Envelope<UserProfile> {
    let mut event = Envelope::new(event_type, model.id.to_string(), profile(model));
    event.occurred_at = model.updated_at.to_utc();
    event
}

/// Creates the account and its `user_registered` event in one transaction.
#[tracing::instrument(skip_all, fields(user_id = tracing::field::Empty))]
pub async fn insert(db: &DatabaseConnection, new: NewUser) -> Result<Model, InsertError> {
    let now = Utc::now().fixed_offset();
    let id = Uuid::now_v7();
    tracing::Span::current().record("user_id", tracing::field::display(id));
    let txn = db.begin().await.context("Failed to begin a transaction")?;
    let row = ActiveModel {
        id: Set(id),
        email: Set(new.email.as_str().to_owned()),
        password_hash: Set(new.password_hash),
        display_name: Set(new.display_name),
        age: Set(new.age),
        country: Set(new.country),
        interests: Set(new.interests),
        role: Set(new.role.as_str().to_owned()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let model = row.insert(&txn).await.map_err(|e| match e.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => InsertError::EmailTaken,
        _ => InsertError::Unexpected(anyhow::Error::new(e).context("Failed to insert the user")),
    })?;
    outbox::enqueue(
        &txn,
        topics::USER_UPDATES,
        &profile_event(event_types::USER_REGISTERED, &model),
    )
    .await?;
    txn.commit().await.context("Failed to commit the registration")?;
    Ok(model)
}

/// The account with this id.
pub async fn find(db: &impl ConnectionTrait, id: Uuid) -> anyhow::Result<Option<Model>> {
    Users::find_by_id(id)
        .one(db)
        .await
        .context("Failed to load the user")
}

/// The account with this (normalised) e-mail address.
pub async fn find_by_email(db: &impl ConnectionTrait, email: &Email) -> anyhow::Result<Option<Model>> {
    Users::find()
        .filter(Column::Email.eq(email.as_str()))
        .one(db)
        .await
        .context("Failed to load the user by e-mail")
}

/// An update's result: the account as it is now, and the sessions it ended (a new password or
/// role ends every session, so that no token issued before it stays valid).
pub struct Updated {
    pub user: Model,
    pub ended_sessions: Vec<Uuid>,
}

/// Applies `changes` and writes `user_updated` (and `user_sessions_ended` when the password or
/// role changed) in one transaction; `None` if the user is gone. `recent` is the access token
/// lifetime.
#[tracing::instrument(skip(db, changes))]
pub async fn update(
    db: &DatabaseConnection,
    id: Uuid,
    changes: Changes,
    recent: std::time::Duration,
) -> anyhow::Result<Option<Updated>> {
    let ends_sessions = changes.password_hash.is_some() || changes.role.is_some();
    let txn = db.begin().await.context("Failed to begin a transaction")?;
    // FOR UPDATE: concurrent changes of one user commit (and enqueue their events) in turn.
    let Some(current) = Users::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await
        .context("Failed to lock the user")?
    else {
        return Ok(None);
    };
    let mut row = current.into_active_model();
    if let Some(name) = changes.display_name {
        row.display_name = Set(name);
    }
    if let Some(age) = changes.age {
        row.age = Set(age);
    }
    if let Some(country) = changes.country {
        row.country = Set(country);
    }
    if let Some(interests) = changes.interests {
        row.interests = Set(interests);
    }
    if let Some(hash) = changes.password_hash {
        row.password_hash = Set(hash);
    }
    if let Some(role) = changes.role {
        row.role = Set(role.as_str().to_owned());
    }
    row.updated_at = Set(Utc::now().fixed_offset());
    let model = row.update(&txn).await.context("Failed to update the user")?;
    outbox::enqueue(
        &txn,
        topics::USER_UPDATES,
        &profile_event(event_types::USER_UPDATED, &model),
    )
    .await?;
    let ended_sessions = if ends_sessions {
        super::sessions::end_in(&txn, id, None, recent).await?
    } else {
        Vec::new()
    };
    txn.commit().await.context("Failed to commit the update")?;
    Ok(Some(Updated {
        user: model,
        ended_sessions,
    }))
}

/// Deletes the account and writes `user_deleted` in one transaction; `false` if it did not exist.
#[tracing::instrument(skip(db))]
pub async fn delete(db: &DatabaseConnection, id: Uuid) -> anyhow::Result<bool> {
    let txn = db.begin().await.context("Failed to begin a transaction")?;
    let deleted = Users::delete_by_id(id)
        .exec(&txn)
        .await
        .context("Failed to delete the user")?;
    if deleted.rows_affected == 0 {
        return Ok(false);
    }
    let event = Envelope::new(event_types::USER_DELETED, id.to_string(), UserDeleted { id });
    outbox::enqueue(&txn, topics::USER_UPDATES, &event).await?;
    txn.commit().await.context("Failed to commit the deletion")?;
    Ok(true)
}

/// Up to `limit` accounts with ids after `after`, in id (= creation) order.
pub async fn list(db: &impl ConnectionTrait, after: Option<Uuid>, limit: u64) -> anyhow::Result<Vec<Model>> {
    let mut query = Users::find().order_by_asc(Column::Id).limit(limit);
    if let Some(after) = after {
        query = query.filter(Column::Id.gt(after));
    }
    query.all(db).await.context("Failed to list users")
}

/// Makes sure the configured admin exists (start-up). `hash` is only called when the account
/// must be created. An existing account with the configured e-mail that is not an admin is
/// never promoted (registration does not verify e-mail addresses: anyone could have taken it):
/// start-up fails and says so.
pub async fn ensure_admin<F, Fut>(db: &DatabaseConnection, email: Email, hash: F) -> anyhow::Result<()>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<String>>,
{
    match find_by_email(db, &email).await? {
        Some(user) if role_of(&user) == Role::Admin => Ok(()),
        Some(user) => anyhow::bail!(
            "admin.email belongs to the existing non-admin account {}: it is not promoted (anyone can \
             register any address). Configure another admin.email, or promote that account by hand \
             after checking who owns it",
            user.id
        ),
        None => {
            let new = NewUser {
                email,
                password_hash: hash().await?,
                display_name: "Administrator".into(),
                age: None,
                country: None,
                interests: Vec::new(),
                role: Role::Admin,
            };
            match insert(db, new).await {
                // Another instance created it at the same moment.
                Ok(_) | Err(InsertError::EmailTaken) => Ok(()),
                Err(InsertError::Unexpected(e)) => Err(e),
            }
        }
    }
}
