//! The convoy-demo-app example crate.
