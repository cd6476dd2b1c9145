//! The planner's side of packaging, its second IO edge: the `.crate` files a plan names, made by
//! `convoy-package` (staging in a temporary directory, the plan's edits, `cargo package`,
//! clean-up after an interrupt; see [`convoy_package::staging`]) from the planner's
//! [`WorkspaceInput`], with failures to stage as [`PlanError`]s.

use std::collections::BTreeMap;

use convoy_package::python::{self, BuildRequest, BuiltProject};
use convoy_package::staging::{self, PackageInput};
use convoy_registry::python::PythonIndex;
use convoy_schema::plan::Plan;

pub use convoy_package::staging::PackageOptions;

use crate::bundle::PackagingOutcome;
use crate::error::PlanError;
use crate::model::{GitState, WorkspaceInput};

/// Packages the plan's `publish` packages (and those it skips, to compare their bytes with the
/// registry's). A failure of cargo itself is reported in the outcome (it becomes a plan
/// diagnostic); failures to stage are errors.
pub fn package(
    input: &WorkspaceInput,
    plan: &Plan,
    options: &PackageOptions,
) -> Result<PackagingOutcome, PlanError> {
    Ok(staging::package(&package_input(input), plan, options)?)
}

/// Builds each Python project of `requests` (by package key), one after the other; a failed
/// build is its message, which becomes a plan diagnostic.
pub fn build_python(
    requests: &[(String, BuildRequest)],
) -> BTreeMap<String, Result<BuiltProject, String>> {
    requests
        .iter()
        .map(|(key, request)| {
            tracing::debug!(%key, "building a Python project");
            (
                key.clone(),
                python::build(request).map_err(|e| e.to_string()),
            )
        })
        .collect()
}

/// Downloads the files `wanted` (`(package key, file name)`) from the Python index at `index`,
/// each one's bytes or why it could not be read.
pub fn download_served(
    index: &str,
    wanted: &[(String, String)],
    allow_http: bool,
) -> Result<crate::python::bundle::Served, PlanError> {
    if wanted.is_empty() {
        return Ok(BTreeMap::new());
    }
    let failed = |source| PlanError::Registry {
        index: index.to_owned(),
        source,
    };
    let client = PythonIndex::new(index, None, allow_http).map_err(failed)?;
    let runtime = convoy_cli::runtime()?;
    let mut served = BTreeMap::new();
    for (key, filename) in wanted {
        let name = key.strip_prefix("python:").unwrap_or(key);
        let bytes = runtime.block_on(async {
            let links = client
                .project(name, convoy_registry::Freshness::Revalidate)
                .await?
                .unwrap_or_default();
            match links.iter().find(|l| &l.file.filename == filename) {
                Some(link) => client.download(&link.url).await,
                None => Err(convoy_registry::RegistryError::Protocol {
                    detail: format!("the index no longer lists {filename}"),
                }),
            }
        });
        served.insert(
            (key.clone(), filename.clone()),
            bytes.map_err(|e| e.to_string()),
        );
    }
    Ok(served)
}

/// Installs (once per process) the handler that ends packaging's processes and removes its
/// staging areas after an interrupt, printing `convoy-plan: interrupted; staging areas removed`.
pub fn clean_up_on_interrupt() {
    staging::clean_up_on_interrupt("convoy-plan");
}

/// What packaging needs from the planner's input: the cargo version and the commit to stage.
fn package_input(input: &WorkspaceInput) -> PackageInput {
    PackageInput {
        cargo_version: input.cargo_version.clone(),
        git: match &input.git {
            GitState::Checkout(git) => Some(git.clone()),
            GitState::Absent(_) => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use convoy_cli::ExpectedError;
    use convoy_package::PackageError;
    use convoy_schema::plan::GitInputs;

    use super::*;
    use crate::testing::{member, workspace};

    #[test]
    fn the_input_names_the_commit_or_none() {
        let mut input = workspace(vec![member("a", "0.1.0", &[], "")]);
        input.git = GitState::Absent("no git".into());
        assert_eq!(package_input(&input).git, None);
        let git = GitInputs {
            commit: "c".repeat(40),
            tree: "t".repeat(40),
            dirty: false,
            workspace_path: "w".into(),
        };
        input.git = GitState::Checkout(git.clone());
        let converted = package_input(&input);
        assert_eq!(converted.git, Some(git));
        assert_eq!(converted.cargo_version, input.cargo_version);
    }

    #[test]
    fn package_errors_keep_their_code_and_message_as_plan_errors() {
        let errors = [
            PackageError::NoManifest {
                path: "x/Cargo.toml".into(),
            },
            PackageError::Workspace {
                manifest: "x/Cargo.toml".into(),
                message: "boom".into(),
            },
            PackageError::Tool {
                program: "cargo".into(),
                args: "--version".into(),
                message: "not found".into(),
            },
            PackageError::Read {
                path: "a.crate".into(),
                source: std::io::Error::other("gone"),
            },
            PackageError::Staging {
                message: "no space".into(),
            },
        ];
        for error in errors {
            let (code, message) = (error.error_code(), error.to_string());
            let converted = PlanError::from(error);
            assert_eq!(converted.error_code(), code);
            assert_eq!(converted.to_string(), message);
        }
    }
}
