//! `convoy-verify`'s one operation, [`run`]: read the plan (and the bundle), resolve and read the
//! registry, rebuild if asked, and [`compare`] — a report, or the [`VerifyError`] that stopped it.
//! The command line ([`crate::cli`]) only builds the [`Request`], calls [`run`] and prints.

use std::collections::BTreeMap;
use std::path::PathBuf;

use convoy_registry::auth::{token_from_env, token_variable};
use convoy_registry::python::PythonIndex;
use convoy_registry::resolve::{python_index, resolve_target, RegistryChoice};
use convoy_registry::{ClientOptions, RegistryClient};
use convoy_schema::plan::Package;
use convoy_schema::report::VerifyReport;

use crate::compare::{compare, packages_to_check, Checks, Observed};
use crate::error::VerifyError;
use crate::observe::{observe, wanted};

/// What to verify, and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The plan file.
    pub plan: PathBuf,
    /// The registry named on the command line; `None`: the one the plan names.
    pub registry: Option<RegistryChoice>,
    /// Allow plain HTTP to a registry that is not on this machine.
    pub allow_http: bool,
    /// The Python index's simple API base; `None`: the one the plan names.
    pub python_index: Option<String>,
    /// Which packages, and whether a yanked version is an error.
    pub checks: Checks,
    /// Download every `.crate` and hash it.
    pub download: bool,
    /// With `download`: the bundle directory to compare the downloads with.
    pub bundle: Option<PathBuf>,
    /// Rebuild from the workspace whose `Cargo.toml` this is (in a checkout that has the plan's
    /// commit).
    pub rebuild: Option<PathBuf>,
}

/// Verifies what the registry serves against the plan, as `request` asks. `Err` when it could not
/// verify at all (bad input, registry unreadable, rebuild refused); a mismatch is a finding in
/// the report, not an error.
pub fn run(request: &Request) -> Result<VerifyReport, VerifyError> {
    let plan = convoy_cli::read_plan(&request.plan)?;
    if let Some(detail) = plan.inconsistency() {
        return Err(VerifyError::PlanInconsistent { detail });
    }
    let mut bundle = BTreeMap::new();
    if let Some(dir) = &request.bundle {
        for (file, read) in convoy_cli::read_bundle(&plan, dir) {
            let bytes = read.map_err(|reason| VerifyError::BundleFile {
                file: file.clone(),
                reason,
            })?;
            bundle.insert(file, bytes);
        }
    }
    let registry = match &request.registry {
        None => plan.registry.clone(),
        Some(choice) => resolve_target(choice, &std::env::current_dir().unwrap_or_default())?,
    };
    let checks = request.checks;
    let packages = packages_to_check(&plan, checks);
    let crates: Vec<&Package> = packages
        .iter()
        .copied()
        .filter(|p| p.ecosystem.is_cargo())
        .collect();
    let names: Vec<String> = crates.iter().map(|p| p.name.clone()).collect();
    let downloads = if request.download {
        wanted(&plan, &crates)
    } else {
        Vec::new()
    };
    let python_index = match (&request.python_index, &plan.python) {
        (Some(given), _) => Some(python_index(given, request.allow_http)?),
        (None, Some(planned)) => Some(planned.index.clone()),
        (None, None) => None,
    };
    let read_token = token_variable(registry.name.as_deref(), None)
        .and_then(|v| token_from_env(&v, &|v| std::env::var(v).ok()));
    let runtime = convoy_cli::runtime()?;
    let mut observed = if names.is_empty() {
        Observed::default()
    } else {
        runtime
            .block_on(async {
                let client = RegistryClient::connect(
                    &registry.index,
                    ClientOptions {
                        allow_http: request.allow_http,
                        read_token,
                    },
                )
                .await?;
                observe(&client, &names, &downloads).await
            })
            .map_err(|source| VerifyError::Registry {
                index: registry.index.clone(),
                source,
            })?
    };
    if let Some(index_url) =
        python_index.filter(|_| packages.iter().any(|p| !p.ecosystem.is_cargo()))
    {
        let python_error = |source| VerifyError::Registry {
            index: index_url.clone(),
            source,
        };
        let index = PythonIndex::new(&index_url, None, request.allow_http).map_err(python_error)?;
        observed.python = runtime
            .block_on(crate::python::observe(&index, &packages, request.download))
            .map_err(python_error)?;
    }
    observed.bundle = bundle;
    let rebuilt = match &request.rebuild {
        Some(manifest_path) => Some(crate::rebuild::rebuild(&plan, manifest_path)?),
        None => None,
    };
    Ok(compare(
        &plan,
        &registry,
        &observed,
        rebuilt.as_ref(),
        checks,
    ))
}
