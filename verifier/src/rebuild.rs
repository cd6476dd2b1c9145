//! `--rebuild`: package the plan's commit again, in a clean staging copy, with the same packaging
//! the planner used, so that [`crate::compare::rebuild_findings`] can check every artifact
//! reproduces. The only place the verifier runs cargo.

use std::collections::BTreeMap;
use std::path::Path;

use convoy_registry::resolve::RegistryChoice;
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
    use convoy_planner::discover::{discover, DiscoverRequest};
    use convoy_planner::model::GitState;
    use convoy_planner::package::{package, PackageOptions};
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
    let request = DiscoverRequest {
        manifest_path: manifest_path.to_path_buf(),
        registry: RegistryChoice::Default,
        registry_state: None,
        selection: plan.inputs.selection.clone(),
        own_outputs: Vec::new(),
        allow_http: false,
        release: plan
            .inputs
            .release
            .as_ref()
            .map(|r| r.request.clone())
            .unwrap_or_default(),
    };
    let discovered = discover(&request).map_err(|e| RebuildError::Impossible(e.to_string()))?;
    if discovered.input.cargo_version != packaging.cargo_version {
        return Err(RebuildError::CargoVersionMismatch {
            planned: packaging.cargo_version.clone(),
            found: discovered.input.cargo_version,
        });
    }
    let mut input = discovered.input;
    input.git = GitState::Checkout(git);
    let options = PackageOptions {
        workspace_root: discovered.root,
        verify_build: false,
        check_reproducible: false,
    };
    let outcome =
        package(&input, plan, &options).map_err(|e| RebuildError::Impossible(e.to_string()))?;
    Ok(outcome
        .result
        .map(|crates| crates.into_iter().map(|c| (c.name, c.bytes)).collect()))
}

impl RebuildError {
    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Impossible(_) => "rebuild-impossible",
            Self::CargoVersionMismatch { .. } => "cargo-version-mismatch",
        }
    }
}
