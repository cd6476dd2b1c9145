//! The convoy-demo-core example crate.
