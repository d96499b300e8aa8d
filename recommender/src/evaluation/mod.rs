//! Offline evaluation with the standard top-k protocol (EVALUATION.md): load ratings, split per
//! user by time, train the production model on the train part through the same aggregator the
//! service uses, and measure P/R/NDCG/MAP/HR@k on the test part.
pub mod dataset;
pub mod metrics;
pub mod runner;
pub mod split;
