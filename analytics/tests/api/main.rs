//! Black-box tests of analytics over real HTTP, with real Postgres, Redis and Kafka.
mod crash;
mod health;
mod helpers;
mod statistics;
