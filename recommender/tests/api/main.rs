//! Black-box tests of the recommender over real HTTP, with real Postgres, Redis and Kafka.
mod crash;
mod health;
mod helpers;
mod migration;
mod pipeline;
