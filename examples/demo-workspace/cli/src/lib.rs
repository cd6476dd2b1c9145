//! The convoy-demo-cli example crate.
