//! The recommender's core, between the routes and consumers on one side and the repositories
//! and the model on the other: the catalogue view, the list types, building lists, refreshing
//! them outside flushes, and the read path (`recommendations`).
pub mod builder;
pub mod catalogue;
pub mod list;
pub mod recommendations;
pub mod refresh;
