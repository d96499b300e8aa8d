//! Black-box tests of the console over real HTTP, signing in through the real users service
//! (real Postgres and Kafka); the other services are left unreachable, as a degraded system.
mod helpers;
mod pages;
mod session;
