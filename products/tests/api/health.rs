//! `/health`, `/ready` (also with each dependency away), `/metrics` and unknown routes.
use crate::helpers::spawn_app_with;

shared::operational_endpoint_tests!("products", spawn_app_with, products::startup::NEEDS);
