//! Database queries and mutations. Every mutation writes its event to the outbox in the same
//! transaction, after writing (so locking) the product's row: events of one product keep their
//! order, and their versions grow with it.
pub mod cached;
pub mod products;
