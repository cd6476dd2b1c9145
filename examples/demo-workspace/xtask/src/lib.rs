//! The convoy-demo-xtask example crate.
