//! `/health`, `/ready` (also with each dependency away), `/metrics` and unknown routes.
use crate::helpers::spawn_app_with;

shared::operational_endpoint_tests!("analytics", spawn_app_with, analytics::startup::NEEDS);
