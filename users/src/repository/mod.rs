//! Database queries and mutations. Every mutation writes its event to the outbox in the same
//! transaction, after locking (writing) the user's row, so events of one user keep their order.
pub mod known_users;
pub mod sessions;
pub mod users;
