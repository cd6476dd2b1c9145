//! `--rebuild`: package the plan's commit again, in a clean staging copy, with the same packaging
//! the planner used (`convoy-package`), so that [`crate::compare::rebuild_findings`] can check
//! every artifact reproduces. The only place the verifier runs cargo.

use std::collections::BTreeMap;
use std::path::Path;

use convoy_package::cargo::{cargo_version, workspace_root};
use convoy_package::staging::{package, PackageInput, PackageOptions};
use convoy_schema::plan::Plan;

/// Why a rebuild could not even be attempted (a refusal, exit 2), as opposed to packaging that
/// ran and failed (a `rebuild-failed` finding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RebuildError {
    /// The plan or the checkout gives nothing to rebuild from.
    #[error("{0}")]
    Impossible(String),
    /// The local cargo is not the one the plan was packaged with.
    #[error("the plan was packaged by `{planned}` but this is `{found}`; .crate bytes differ across cargo versions")]
    CargoVersionMismatch {
        /// The plan's cargo version.
        planned: String,
        /// This machine's.
        found: String,
    },
}

/// The bytes packaging produces now for each package the plan packaged, by name, or cargo's
/// failure. `manifest_path` is the workspace's `Cargo.toml` in a checkout that has the plan's
/// commit.
pub fn rebuild(
    plan: &Plan,
    manifest_path: &Path,
) -> Result<Result<BTreeMap<String, Vec<u8>>, String>, RebuildError> {
    let impossible = |why: &str| RebuildError::Impossible(why.to_owned());
    let packaging = plan
        .packaging
        .as_ref()
        .ok_or_else(|| impossible("the plan has no artifacts to reproduce"))?;
    let git = plan
        .inputs
        .git
        .clone()
        .ok_or_else(|| impossible("the plan records no git commit to rebuild from"))?;
    let root =
        workspace_root(manifest_path).map_err(|e| RebuildError::Impossible(e.to_string()))?;
    let found = cargo_version().map_err(|e| RebuildError::Impossible(e.to_string()))?;
    if found != packaging.cargo_version {
        return Err(RebuildError::CargoVersionMismatch {
            planned: packaging.cargo_version.clone(),
            found,
        });
    }
    let input = PackageInput {
        cargo_version: found,
        git: Some(git),
    };
    let options = PackageOptions {
        workspace_root: root,
        verify_build: false,
        check_reproducible: false,
    };
    let outcome =
        package(&input, plan, &options).map_err(|e| RebuildError::Impossible(e.to_string()))?;
    Ok(outcome
        .result
        .map(|crates| crates.into_iter().map(|c| (c.name, c.bytes)).collect()))
}
