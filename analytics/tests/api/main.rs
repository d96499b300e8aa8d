//! Black-box tests of the analytics service over real HTTP, with real Postgres, Redis and Kafka.
mod health;
mod helpers;
