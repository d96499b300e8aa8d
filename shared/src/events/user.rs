//! Payloads of `user_updates`. Never carries credentials, nor the e-mail address: consumers
//! (recommendations, analytics) need the profile, not the means to contact or log in as someone.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::auth::Role;

/// The public profile as it is after the change (`user_registered`, `user_updated`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    pub id: Uuid,
    pub display_name: String,
    pub age: Option<i16>,
    /// ISO 3166-1 alpha-2, upper case.
    pub country: Option<String>,
    /// Category names the user said they like (cold-start recommendations).
    pub interests: Vec<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `user_deleted`: consumers drop what they keep about the user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserDeleted {
    pub id: Uuid,
}

/// `user_sessions_ended`: access tokens of these sessions are refused by every service from now
/// on (logout, a password or role change, a reused refresh token). Never carries tokens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserSessionsEnded {
    pub id: Uuid,
    pub session_ids: Vec<Uuid>,
}
