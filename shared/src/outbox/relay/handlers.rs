//! Handlers of the outbox relay actor's messages.
use actix::prelude::*;

use super::messages::Shutdown;
use super::OutboxRelay;

impl Handler<Shutdown> for OutboxRelay {
    type Result = ();

    fn handle(&mut self, _: Shutdown, ctx: &mut Context<Self>) {
        // Cancelling mid-publish is safe: rows are marked sent only after their acknowledgement.
        if let Some(handle) = self.loop_handle.take() {
            ctx.cancel_future(handle);
        }
        ctx.stop();
    }
}
