//! Whole-system tests live in `system/`; this crate has no library code.
