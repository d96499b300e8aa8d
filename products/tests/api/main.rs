//! Black-box tests of the products service over real HTTP, with real Postgres, Redis and Kafka.
mod health;
mod helpers;
