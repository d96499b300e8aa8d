//! Black-box tests of the users service over real HTTP, with real Postgres, Redis and Kafka.
mod actions;
mod auth;
mod events;
mod health;
mod helpers;
mod outbox;
mod proptests;
mod users;
