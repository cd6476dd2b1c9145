//! Pure: what building the Python projects needs ([`requests`]) and what the builds give,
//! attached to the plan ([`attach`]): each project's files with their sizes and SHA-256, the
//! core metadata its upload is sent with, how it was built — and the diagnostics only the built
//! files can show. The builds themselves run in [`crate::package`] (`convoy-package`).

use std::collections::BTreeMap;
use std::path::Path;

use convoy_package::python::{describe_difference, BuildRequest, BuiltProject};
use convoy_schema::plan::{Action, Diagnostic, Ecosystem, Plan};
use convoy_schema::python::PythonBuild;

use crate::diagnostics::{self, diagnostic, Code};
use crate::python::project::normalize;

/// One build request per Python package the plan publishes or skips (a skipped version is
/// built too, so its files can be compared with the index's), keyed by package key. The
/// project's `pyproject.toml` is built as the plan publishes it (its version set and its
/// requirements pinned), and a dynamic version's `__version__` set as the plan's edit says.
pub fn requests(
    plan: &Plan,
    repository: &Path,
    commit: &str,
    check_reproducible: bool,
) -> Vec<(String, BuildRequest)> {
    plan.packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Python && p.action != Action::Excluded)
        .filter_map(|package| {
            let python = package.python.as_ref()?;
            let mut request = BuildRequest::new(repository, commit, python.project_path.clone());
            request.check_reproducible = check_reproducible;
            let pyproject_edited = !python.requirement_edits.is_empty()
                || package
                    .manifest
                    .edits
                    .iter()
                    .any(|e| e.file == package.manifest_path);
            if pyproject_edited {
                request.edited_files = vec![(
                    package.manifest_path.clone(),
                    package.manifest.published.clone(),
                )];
            }
            request.version_edits = package
                .manifest
                .edits
                .iter()
                .filter(|e| convoy_package::edits::is_python_source(&e.file))
                .cloned()
                .collect();
            Some((package.key(), request))
        })
        .collect()
}

/// What the builds give outside git: Python projects are built from a commit only, so each
/// fails with the reason.
pub fn outside_git(plan: &Plan) -> BTreeMap<String, Result<BuiltProject, String>> {
    plan.packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Python && p.action != Action::Excluded)
        .map(|p| {
            (
                p.key(),
                Err("Python projects are built from a git commit, and the repository is not in a git checkout".to_owned()),
            )
        })
        .collect()
}

/// Bytes the index serves, by (package key, file name), or why they could not be read.
pub type Served = BTreeMap<(String, String), Result<Vec<u8>, String>>;

/// The files the index serves under a skipped version with another sha256 than the build's,
/// as `(package key, file name)`: what [`attach`] needs downloaded to tell a changed source
/// from a backend that does not build reproducibly.
pub fn differing_served(
    plan: &Plan,
    built: &BTreeMap<String, Result<BuiltProject, String>>,
) -> Vec<(String, String)> {
    let Some(inputs) = &plan.inputs.python else {
        return Vec::new();
    };
    let mut wanted = Vec::new();
    for package in plan
        .packages
        .iter()
        .filter(|p| p.ecosystem == Ecosystem::Python && p.action == Action::Skip)
    {
        let (Some(Ok(project)), Some(python)) = (built.get(&package.key()), &package.python) else {
            continue;
        };
        let planned: Option<pep440_rs::Version> = python.version.parse().ok();
        let served = inputs.observations.get(&package.name).and_then(|versions| {
            versions
                .iter()
                .find(|(v, _)| v.parse::<pep440_rs::Version>().ok() == planned)
                .map(|(_, files)| files)
        });
        for file in &project.files {
            let differs = served.into_iter().flatten().any(|s| {
                s.filename == file.file.filename && s.sha256.as_deref() != Some(&file.file.sha256)
            });
            if differs {
                wanted.push((package.key(), file.file.filename.clone()));
            }
        }
    }
    wanted
}

/// Attaches the builds (by package key; a failed build carries its message) to `plan`, adds
/// the diagnostics they show, and seals the plan again. `served` holds the bytes the index
/// serves for the files [`differing_served`] named (or why they could not be read).
pub fn attach(
    plan: &mut Plan,
    built: &BTreeMap<String, Result<BuiltProject, String>>,
    served: &Served,
) {
    let mut found = Vec::new();
    let mut owners: BTreeMap<String, String> = BTreeMap::new();
    for package in plan.packages.iter_mut() {
        let key = package.key();
        let (Some(outcome), Some(python)) = (built.get(&key), package.python.as_mut()) else {
            continue;
        };
        let failed = |why: String| {
            diagnostic(
                Code::PackagingFailed,
                Some(&key),
                format!("building the Python project {} failed: {why}", package.manifest_path),
                "fix what the build reports (run `python -m build` in a clean checkout of the commit to reproduce), then plan again",
            )
        };
        let project = match outcome {
            Ok(project) => project,
            Err(message) => {
                found.push(failed(message.clone()));
                continue;
            }
        };
        let built_name = project.metadata.get("Name").map(normalize);
        let built_version = project
            .metadata
            .get("Version")
            .and_then(|v| v.parse::<pep440_rs::Version>().ok());
        let planned_version = python.version.parse::<pep440_rs::Version>().ok();
        if built_name.as_deref() != Some(package.name.as_str())
            || built_version.is_none()
            || built_version != planned_version
        {
            found.push(failed(format!(
                "it built {} {}, but the plan has {} {}",
                project.metadata.get("Name").unwrap_or("(no name)"),
                project.metadata.get("Version").unwrap_or("(no version)"),
                package.name,
                python.version
            )));
            continue;
        }
        for file in &project.files {
            if let Some(owner) = owners.insert(file.file.filename.clone(), key.clone()) {
                found.push(diagnostic(
                    Code::PythonDistributionCollision,
                    Some(&key),
                    format!(
                        "`{owner}` and `{key}` both build {}; an index keeps one file of a name",
                        file.file.filename
                    ),
                    "rename one of the projects",
                ));
            }
        }
        let reproducible = project.reproducibility.as_ref().map(|r| {
            if !r.is_reproducible() {
                let files: Vec<String> = r
                    .differences
                    .iter()
                    .map(|d| format!("{} ({})", d.filename, d.description))
                    .collect();
                found.push(diagnostic(
                    Code::NotReproducible,
                    Some(&key),
                    format!(
                        "building {} twice from the commit gave other bytes, with the build backend {}: {}",
                        package.manifest_path,
                        project.build_backend.as_deref().unwrap_or("(none named)"),
                        files.join("; ")
                    ),
                    "a backend that honours SOURCE_DATE_EPOCH for every archive member (hatchling does) builds reproducibly; setuptools' sdists keep file times",
                ));
            }
            r.is_reproducible()
        });
        if project.native {
            let wheels: Vec<&str> = project
                .files
                .iter()
                .filter(|f| f.file.filename.ends_with(".whl"))
                .map(|f| f.file.filename.as_str())
                .collect();
            found.push(diagnostic(
                Code::PythonNativeWheel,
                Some(&key),
                format!(
                    "{} builds native code: the plan's wheel ({}) is for the platform it was built on only",
                    package.manifest_path,
                    wheels.join(", ")
                ),
                "build the other platforms' wheels in CI (e.g. cibuildwheel, maturin-action) and release them with this version",
            ));
        }
        python.files = project.files.iter().map(|f| f.file.clone()).collect();
        python.metadata = Some(project.metadata.clone());
        python.build = Some(PythonBuild {
            tool: project.tool.clone(),
            backend: project.build_backend.clone(),
            source_date_epoch: project.source_date_epoch,
            native: project.native,
            reproducible,
        });
    }
    check_served(plan, built, served, &mut found);
    plan.diagnostics.extend(found);
    diagnostics::sort(&mut plan.diagnostics);
    plan.seal();
}

/// A version already on the index is skipped only when the index serves every planned file
/// with the planned bytes — or, for a backend that does not build reproducibly, with the same
/// archive members, only their timestamps or the archive's headers differing (the served file
/// is kept: it is that version). A file of the same name with other contents means the sources
/// changed without a new version. When the index has some of the files, the others are
/// uploaded.
fn check_served(
    plan: &mut Plan,
    built: &BTreeMap<String, Result<BuiltProject, String>>,
    served_bytes: &Served,
    found: &mut Vec<Diagnostic>,
) {
    let observations = plan
        .inputs
        .python
        .as_ref()
        .map(|p| p.observations.clone())
        .unwrap_or_default();
    for package in plan
        .packages
        .iter_mut()
        .filter(|p| p.ecosystem == Ecosystem::Python && p.action == Action::Skip)
    {
        let key = package.key();
        let Some(python) = package.python.as_mut() else {
            continue;
        };
        if python.files.is_empty() {
            continue;
        }
        let planned: Option<pep440_rs::Version> = python.version.parse().ok();
        let Some(served) = observations.get(&package.name).and_then(|versions| {
            versions
                .iter()
                .find(|(v, _)| v.parse::<pep440_rs::Version>().ok() == planned)
                .map(|(_, files)| files)
        }) else {
            continue;
        };
        let mut missing = Vec::new();
        let mut rebuilt_differently = Vec::new();
        for file in &python.files {
            let same_members = || {
                let planned = built
                    .get(&key)?
                    .as_ref()
                    .ok()?
                    .files
                    .iter()
                    .find(|f| f.file.filename == file.filename)?;
                let served = served_bytes
                    .get(&(key.clone(), file.filename.clone()))?
                    .as_ref()
                    .ok()?;
                let difference = describe_difference(&planned.bytes, served, file.kind);
                difference
                    .starts_with("the files are equal")
                    .then_some(difference)
            };
            match served.iter().find(|s| s.filename == file.filename) {
                Some(s) if s.sha256.as_deref() == Some(file.sha256.as_str()) => {}
                Some(_) if same_members().is_some() => {
                    rebuilt_differently.push((
                        file.filename.clone(),
                        same_members().unwrap_or_default(),
                    ));
                }
                Some(s) => found.push(diagnostic(
                    Code::VersionExistsWithDifferentContent,
                    Some(&key),
                    format!(
                        "{} {} is already on the index, and its file {} has sha256 {} there, but the commit builds {}: the sources changed since that version was published",
                        package.name,
                        python.version,
                        file.filename,
                        s.sha256.as_deref().unwrap_or("(not stated)"),
                        file.sha256
                    ),
                    format!("raise the version in {} to publish the change", package.manifest_path),
                )),
                None => missing.push(file.filename.clone()),
            }
        }
        // The version is what the index serves: the plan records (and the bundle holds) the
        // served file where a rebuild differs only in timestamps.
        for (filename, _) in &rebuilt_differently {
            let served = served_bytes
                .get(&(key.clone(), filename.clone()))
                .and_then(|r| r.as_ref().ok());
            let file = python.files.iter_mut().find(|f| &f.filename == filename);
            if let (Some(file), Some(bytes)) = (file, served) {
                file.sha256 = convoy_schema::digest::sha256_hex(bytes);
                file.size = bytes.len() as u64;
            }
        }
        if missing.is_empty() && !rebuilt_differently.is_empty() {
            let files: Vec<String> = rebuilt_differently
                .iter()
                .map(|(file, how)| format!("{file} ({how})"))
                .collect();
            package.reason = format!(
                "version {} is already on the index with the same files; the build is not byte-reproducible, but the served {} hold the same contents",
                python.version,
                files.join(", ")
            );
        } else if missing.is_empty() {
            package.reason = format!(
                "version {} is already on the index with the same files ({})",
                python.version,
                python
                    .files
                    .iter()
                    .map(|f| f.filename.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        } else {
            package.action = Action::Publish;
            package.reason = format!(
                "version {} is on the index without {}, which are uploaded",
                python.version,
                missing.join(", ")
            );
        }
    }
    // A package that became `publish` needs a wave: its requirements are served already (they
    // were planned before it), so the earliest wave after its dependencies' will do.
    let waves: BTreeMap<String, u32> = plan
        .packages
        .iter()
        .filter_map(|p| Some((p.key(), p.wave?)))
        .collect();
    let mut late = Vec::new();
    for package in plan
        .packages
        .iter_mut()
        .filter(|p| p.action == Action::Publish && p.wave.is_none())
    {
        let wave = package
            .dependencies
            .iter()
            .filter_map(|d| {
                waves.get(&convoy_schema::plan::package_key(
                    package.ecosystem,
                    &d.name,
                ))
            })
            .map(|w| w + 1)
            .max()
            .unwrap_or(0);
        package.wave = Some(wave);
        late.push((wave as usize, package.key()));
    }
    for (wave, key) in late {
        if plan.waves.len() <= wave {
            plan.waves.resize(wave + 1, Vec::new());
        }
        plan.waves[wave].push(key);
        plan.waves[wave].sort();
    }
}
