//! Messages of a partition aggregator.
use actix::Message;

use crate::increments::Recorded;

/// Buffers an event until the next flush.
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Buffer(pub Recorded);

/// Flushes now (revoke, shutdown, tests); `Ok` once everything buffered is durable.
#[derive(Debug, Message)]
#[rtype(result = "Result<(), String>")]
pub struct FlushNow;
