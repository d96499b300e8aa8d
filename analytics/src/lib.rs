//! Consumes every topic and keeps exact statistics of product popularity and user activity
//! (raw events kept too), flushed with the partition offsets in one transaction.
pub mod buckets;
pub mod cache;
pub mod configuration;
pub mod consumers;
pub mod domain;
pub mod increments;
pub mod metrics;
pub mod migration;
pub mod repository;
pub mod routes;
pub mod startup;
