//! Messages of the outbox relay actor.
use actix::Message;

/// Stops relaying (pending rows stay pending and are published by the next relay).
#[derive(Debug, Message)]
#[rtype(result = "()")]
pub struct Shutdown;
