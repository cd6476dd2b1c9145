//! The convoy-demo-macros example crate.
