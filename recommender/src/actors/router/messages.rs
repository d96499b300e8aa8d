//! Messages of the router.
use std::sync::mpsc::Sender;

use actix::Message;
use uuid::Uuid;

/// Partitions are being taken away: flush and stop their aggregators, then signal `done`.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Revoke {
    pub partitions: Vec<i32>,
    pub done: Sender<()>,
}

/// Flushes every aggregator (shutdown, tests); `Err` names partitions that failed.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct FlushAll;

/// A user was deleted: every aggregator drops their sequence.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct ForgetUser(pub Uuid);
