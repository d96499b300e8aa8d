//! Black-box tests of the products service over real HTTP, with real Postgres, Redis and Kafka.
mod events;
mod health;
mod helpers;
mod products;
mod proptests;
