//! `/health`, `/ready` (also with each dependency away), `/metrics` and unknown routes.
use crate::helpers::spawn_app_with;

shared::operational_endpoint_tests!("recommender", spawn_app_with, recommender::startup::NEEDS);
