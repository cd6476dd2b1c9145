//! Python projects in a release: [`discover`] (IO) finds them — the `[python] members` globs of
//! `convoy.toml`, else the uv workspace's members — and reads their `pyproject.toml`;
//! [`project`] (pure) reads each into a name, a PEP 440 version and PEP 508 requirements;
//! [`version`] (pure) maps PEP 440 versions onto the plan's canonical ones; [`plan`] (pure)
//! adds them to the plan the Cargo workspace gave, in the same waves, and [`specifier`] (pure)
//! moves a requirement a dependency's new version left behind; [`bundle`] (pure) attaches
//! their built files.

pub mod bundle;
pub mod discover;
pub mod plan;
pub mod project;
pub mod specifier;
pub mod version;

pub use project::PythonProject;
