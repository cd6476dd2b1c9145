//! Pure: the Python projects of a release planned into the plan the Cargo workspace gave —
//! one package each, their requirements on each other pinned, their waves merged with the
//! crates' (no dependency crosses ecosystems, so each ecosystem's waves are computed alone and
//! wave `i` of the release is wave `i` of both).

use std::collections::{BTreeMap, BTreeSet};

use convoy_schema::plan::{
    package_key, Action, DependencyKind, Diagnostic, Ecosystem, ManifestEdit, ManifestPlan,
    Package, PackageDependency, Plan, PythonInputs, Release,
};
use convoy_schema::python::{PythonRelease, RequirementEdit};
use pep440_rs::Version;

use crate::diagnostics::{self, diagnostic, Code};
use crate::graph;
use crate::manifest;
use crate::model::PythonInput;
use crate::python::project::{self, Project};
use crate::python::{specifier, version};
use crate::versioning::{OtherPackage, Versioned};

/// One project with what planning decided for it.
struct Planned {
    project: Project,
    key: String,
    /// The version it is released (or skipped, or left) at: PEP 440 and canonical.
    version: Option<(Version, semver::Version)>,
    action: Action,
    reason: String,
    /// Its written version, canonical: whether the release moves it.
    written: Option<semver::Version>,
    /// The version edit the release makes, if it moves the version.
    edit: Option<ManifestEdit>,
    release: Option<Release>,
}

/// The Python projects of a release as read, before version planning: each with its written
/// version (PEP 440 and canonical) when it has a valid one.
pub struct Read {
    projects: Vec<(Project, Option<(Version, semver::Version)>)>,
    found: Vec<Diagnostic>,
}

/// Reads the projects of `input`: one per normalized name, each version checked.
pub fn read(input: &PythonInput) -> Read {
    let mut found = Vec::new();
    let mut projects: Vec<(Project, Option<(Version, semver::Version)>)> = Vec::new();
    for candidate in &input.projects {
        let Some(read) = project::read(candidate, &mut found) else {
            continue;
        };
        if let Some((first, _)) = projects
            .iter()
            .find(|(p, _)| p.normalized == read.normalized)
        {
            found.push(diagnostic(
                Code::PythonDistributionCollision,
                Some(&package_key(Ecosystem::Python, &read.normalized)),
                format!(
                    "{} and {} are both the project `{}` (names compare after PEP 503 normalization); the second is left out",
                    first.manifest_path, read.manifest_path, read.normalized
                ),
                "rename one of them, or leave one out with `[python] exclude` in convoy.toml",
            ));
            continue;
        }
        let key = package_key(Ecosystem::Python, &read.normalized);
        let version = read
            .version
            .clone()
            .and_then(|pep440| match version::canonical(&pep440) {
                Ok(canonical) => Some((pep440, canonical)),
                Err(why) => {
                    found.push(diagnostic(
                        Code::PythonVersionInvalid,
                        Some(&key),
                        format!("{}: {why}", read.manifest_path),
                        "release a version of the form X.Y.Z, optionally with aN, bN, rcN or .devN",
                    ));
                    None
                }
            });
        projects.push((read, version));
    }
    projects.sort_by(|a, b| a.0.normalized.cmp(&b.0.normalized));
    Read { projects, found }
}

impl Read {
    /// The projects with a version, as version planning takes them; `cascades` are the
    /// reasons found by [`Read::cascades`] so far.
    pub fn versionable(
        &self,
        input: &PythonInput,
        cascades: &BTreeMap<String, String>,
    ) -> Vec<OtherPackage> {
        self.projects
            .iter()
            .filter_map(|(project, version)| {
                let (pep440, canonical) = version.as_ref()?;
                Some(OtherPackage {
                    key: package_key(Ecosystem::Python, &project.normalized),
                    name: project.normalized.clone(),
                    version: canonical.clone(),
                    version_text: pep440.to_string(),
                    unpublishable: project::is_private(&project.classifiers).then(|| {
                        "its `Private ::` classifier keeps it off package indexes".to_owned()
                    }),
                    published: served(input, &project.normalized, pep440).is_some(),
                    ecosystem: Ecosystem::Python,
                    cascade: cascades
                        .get(&package_key(Ecosystem::Python, &project.normalized))
                        .cloned(),
                })
            })
            .collect()
    }

    /// The projects that must be released because a requirement they write no longer admits
    /// the new version `versioned` gives the project it names (their requirement is rewritten),
    /// with the reason, by key.
    pub fn cascades(&self, versioned: &Versioned) -> BTreeMap<String, String> {
        let mut found = BTreeMap::new();
        for (dependent, _) in self.projects.iter().filter(|(_, v)| v.is_some()) {
            for declared in &dependent.requirements {
                let Some(specifiers) = declared.specifiers() else {
                    continue;
                };
                let Some((target, Some((written_pep440, written)))) = self
                    .projects
                    .iter()
                    .find(|(p, _)| p.normalized == declared.requirement.name.as_ref())
                else {
                    continue;
                };
                let key = package_key(Ecosystem::Python, &target.normalized);
                let Some(decision) = versioned.decisions.get(&key) else {
                    continue;
                };
                if !decision.released || decision.version == *written {
                    continue;
                }
                let Ok(new) = version::pep440(&decision.version) else {
                    continue;
                };
                if specifiers.contains(&new) {
                    continue;
                }
                found
                    .entry(package_key(Ecosystem::Python, &dependent.normalized))
                    .or_insert_with(|| {
                        format!(
                            "{} {written_pep440} → {new} is outside `{specifiers}`",
                            target.normalized
                        )
                    });
            }
        }
        found
    }
}

/// Adds the Python projects `read` from `input` to `plan` (packages, waves, diagnostics,
/// inputs) at the versions `versioned` decided, and seals it again.
pub fn add(plan: &mut Plan, read: Read, input: &PythonInput, versioned: &Versioned) {
    let Read {
        projects,
        mut found,
    } = read;
    let mut planned: Vec<Planned> = projects
        .into_iter()
        .map(|(project, version)| decide(project, version, input, versioned, &mut found))
        .collect();
    planned.sort_by(|a, b| a.key.cmp(&b.key));
    let by_name: BTreeMap<&str, usize> = planned
        .iter()
        .enumerate()
        .map(|(i, p)| (p.project.normalized.as_str(), i))
        .collect();

    let mut packages = Vec::with_capacity(planned.len());
    let mut edges = BTreeSet::new();
    for entry in &planned {
        let package = package(entry, &planned, &by_name, input, versioned, &mut found);
        if package.action == Action::Publish {
            for dependency in package.dependencies.iter().filter(|d| d.orders_publishing) {
                edges.insert((
                    package.key(),
                    package_key(Ecosystem::Python, &dependency.name),
                ));
            }
        }
        packages.push(package);
    }
    let publish: BTreeSet<String> = packages
        .iter()
        .filter(|p| p.action == Action::Publish)
        .map(Package::key)
        .collect();
    let ordering = graph::order(&publish, &edges);
    for cycle in &ordering.cycles {
        found.push(diagnostic(
            Code::DependencyCycle,
            cycle.first().map(String::as_str),
            format!(
                "the Python projects' requirements form a cycle: {} → `{}`",
                cycle
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(" → "),
                cycle.first().map_or("", String::as_str)
            ),
            "an index cannot serve a requirement before its project exists: move what both need into a project both depend on",
        ));
    }
    for package in &mut packages {
        package.wave = ordering.waves.get(&package.key()).copied();
    }
    for (key, wave) in &ordering.waves {
        let wave = *wave as usize;
        if plan.waves.len() <= wave {
            plan.waves.resize(wave + 1, Vec::new());
        }
        plan.waves[wave].push(key.clone());
        plan.waves[wave].sort();
    }

    plan.packages.extend(packages);
    plan.packages.sort_by_key(Package::key);
    plan.diagnostics.extend(found);
    diagnostics::sort(&mut plan.diagnostics);
    plan.python = Some(input.target.clone());
    plan.inputs.python = Some(inputs(input, &planned));
    plan.seal();
}

/// The version, the action and its reason, from version planning's decision.
fn decide(
    project: Project,
    written: Option<(Version, semver::Version)>,
    input: &PythonInput,
    versioned: &Versioned,
    found: &mut Vec<Diagnostic>,
) -> Planned {
    let key = package_key(Ecosystem::Python, &project.normalized);
    let mut planned = Planned {
        project,
        key,
        version: written.clone(),
        action: Action::Excluded,
        reason: "its version cannot be read (see the diagnostics)".to_owned(),
        written: written.as_ref().map(|(_, canonical)| canonical.clone()),
        edit: None,
        release: None,
    };
    let (Some((written_pep440, written)), Some(decision)) =
        (written, versioned.decisions.get(&planned.key))
    else {
        return planned;
    };
    if !decision.released {
        planned.reason = decision.reason.clone();
        return planned;
    }
    let planned_version = if decision.version == written {
        Ok(written_pep440.clone())
    } else {
        version::pep440(&decision.version)
    };
    let pep440 = match planned_version {
        Ok(pep440) => pep440,
        Err(why) => {
            found.push(diagnostic(
                Code::PythonVersionInvalid,
                Some(&planned.key),
                format!(
                    "{}: the release makes the version {}, which {why}",
                    planned.project.manifest_path, decision.version
                ),
                "choose another level or version for this project (-p NAME=LEVEL, --set-version)",
            ));
            planned.reason = "the planned version is not a PEP 440 release".to_owned();
            return planned;
        }
    };
    if decision.version != written {
        planned.edit = version_edit(&planned.project, &written_pep440, &pep440, input);
    }
    let (action, registry_reason) = match served(input, &planned.project.normalized, &pep440) {
        Some(files) => (
            Action::Skip,
            format!(
                "version {pep440} is already on the index ({} file(s))",
                files.len()
            ),
        ),
        None => (
            Action::Publish,
            match input.observations.get(&planned.project.normalized) {
                Some(versions) if versions.is_empty() => {
                    format!("{pep440} is a new project on the index")
                }
                Some(_) => format!("{pep440} is not on the index yet"),
                None => format!("{pep440} (the index was not read)"),
            },
        ),
    };
    planned.action = action;
    planned.reason = format!("{}; {registry_reason}", decision.reason);
    planned.version = Some((pep440, decision.version.clone()));
    planned.release = decision.release.clone();
    planned
}

/// The edit that sets a project's version: `project.version` in `pyproject.toml`, or the
/// `__version__` a dynamic version is read from.
fn version_edit(
    project: &Project,
    from: &Version,
    to: &Version,
    input: &PythonInput,
) -> Option<ManifestEdit> {
    let static_version = project
        .document
        .get("project")
        .and_then(|p| p.get("version"))
        .and_then(toml_edit::Item::as_str)
        .map(str::to_owned);
    if let Some(previous) = static_version {
        return Some(ManifestEdit {
            file: project.manifest_path.clone(),
            table: vec!["project".to_owned()],
            key: "version".to_owned(),
            value: to.to_string(),
            summary: format!("{}: `project.version` {from} → {to}", project.manifest_path),
            previous: Some(previous),
        });
    }
    let (file, text) = input
        .projects
        .iter()
        .find(|p| p.dir == project.dir)?
        .version_file
        .as_ref()?;
    let (attribute, previous) = project::version_assignment(text)?;
    Some(ManifestEdit {
        file: file.clone(),
        table: Vec::new(),
        key: attribute.clone(),
        value: to.to_string(),
        summary: format!("{file}: `{attribute}` {from} → {to}"),
        previous: Some(previous),
    })
}

/// The files the index serves for `version` of `name`, if it has that version.
fn served<'a>(
    input: &'a PythonInput,
    name: &str,
    version: &Version,
) -> Option<&'a Vec<convoy_schema::python::ServedFile>> {
    input
        .observations
        .get(name)?
        .iter()
        .find(|(v, _)| v.parse::<Version>().is_ok_and(|v| v == *version))
        .map(|(_, files)| files)
}

fn package(
    entry: &Planned,
    planned: &[Planned],
    by_name: &BTreeMap<&str, usize>,
    input: &PythonInput,
    versioned: &Versioned,
    found: &mut Vec<Diagnostic>,
) -> Package {
    let project = &entry.project;
    let key = Some(entry.key.as_str());
    let mut document = project.document.clone();
    let mut source_edits: Vec<ManifestEdit> = entry.edit.iter().cloned().collect();
    let mut dependencies = Vec::new();
    let mut requirement_edits = Vec::new();
    for declared in &project.requirements {
        let Some(&target) = by_name.get(declared.requirement.name.as_ref()) else {
            continue;
        };
        let target = &planned[target];
        if declared.is_url() {
            found.push(diagnostic(
                Code::PythonRequirementInvalid,
                key,
                format!(
                    "{}: `{}` in `{}` names `{}` of this repository by URL, which an index refuses",
                    project.manifest_path, declared.text, declared.field, target.project.normalized
                ),
                "name it without a URL (a uv workspace maps it with `[tool.uv.sources]`); the plan pins the version",
            ));
            continue;
        }
        let Some((target_version, _)) = &target.version else {
            if entry.action == Action::Publish {
                found.push(diagnostic(
                    Code::ExcludedDependency,
                    key,
                    format!(
                        "`{}` requires `{}`, whose version cannot be read, so this release cannot publish it",
                        entry.key, target.key
                    ),
                    format!("fix the version of `{}` (see its diagnostics)", target.key),
                ));
            }
            continue;
        };
        let moved = target
            .written
            .as_ref()
            .is_some_and(|written| target.version.as_ref().is_some_and(|(_, c)| c != written));
        let published = match declared.specifiers() {
            Some(specifiers)
                if !specifiers.contains(target_version)
                    && moved
                    && entry.action != Action::Excluded =>
            {
                // The cascade: the dependency moved out of the range, so the requirement is
                // rewritten, in the tree and in what is published, in its own style where it
                // has one that can say the new version, else as the configuration pins.
                let rewritten = declared.respecified(
                    &specifier::moved(&declared.text, specifiers, target_version)
                        .unwrap_or_else(|| input.pin.specifier(&target_version.to_string())),
                );
                let mut table = vec!["project".to_owned()];
                table.extend(declared.field.split('.').map(str::to_owned));
                source_edits.push(ManifestEdit {
                    file: project.manifest_path.clone(),
                    table,
                    key: declared.index.to_string(),
                    value: rewritten.clone(),
                    summary: format!(
                        "{}: requirement on `{}` in `{}` \"{}\" → \"{rewritten}\"",
                        project.manifest_path,
                        target.project.normalized,
                        declared.field,
                        declared.text
                    ),
                    previous: Some(declared.text.clone()),
                });
                requirement_edits.push(RequirementEdit {
                    file: project.manifest_path.clone(),
                    field: declared.field.clone(),
                    from: declared.text.clone(),
                    to: rewritten.clone(),
                });
                rewritten
            }
            Some(specifiers) if !specifiers.contains(target_version) => {
                found.push(diagnostic(
                    Code::RequirementNotSatisfied,
                    key,
                    format!(
                        "{}: `{}` in `{}` does not allow {target_version}, the version of `{}` this release has",
                        project.manifest_path, declared.text, declared.field, target.project.normalized
                    ),
                    format!("widen the requirement to allow {target_version}, or remove its specifier and let the plan pin it"),
                ));
                declared.text.clone()
            }
            Some(_) => declared.text.clone(),
            None => {
                let pinned = declared.pinned(&input.pin.specifier(&target_version.to_string()));
                found.push(diagnostic(
                    Code::PythonRequirementPinned,
                    key,
                    format!(
                        "{}: `{}` in `{}` is published as `{pinned}`",
                        project.manifest_path, declared.text, declared.field
                    ),
                    "nothing to do; write a specifier yourself to choose another range",
                ));
                project::replace_requirement(
                    &mut document,
                    &declared.field,
                    declared.index,
                    &pinned,
                );
                requirement_edits.push(RequirementEdit {
                    file: project.manifest_path.clone(),
                    field: declared.field.clone(),
                    from: declared.text.clone(),
                    to: pinned.clone(),
                });
                pinned
            }
        };
        if entry.action == Action::Publish
            && target.action == Action::Excluded
            && served(input, &target.project.normalized, target_version).is_none()
            && !versioned.released_versions.contains_key(&target.key)
        {
            found.push(diagnostic(
                Code::ExcludedDependency,
                key,
                format!(
                    "`{}` requires `{}` {target_version}, which this release does not publish ({}) and the index does not serve",
                    entry.key, target.key, target.reason
                ),
                format!("release `{}` too, or publish it first", target.key),
            ));
        }
        dependencies.push(PackageDependency {
            name: target.project.normalized.clone(),
            rename: None,
            kind: DependencyKind::Normal,
            target: declared.marker(),
            requirement: Some(published),
            orders_publishing: true,
            extra: declared.extra.clone(),
        });
    }
    // What is published has the release's source edits too (its version, a cascade's
    // rewrites), made as `convoy-plan apply` makes them.
    for edit in source_edits
        .iter()
        .filter(|e| e.file == project.manifest_path)
    {
        let _ = manifest::set_string(&mut document, &edit.table, &edit.key, &edit.value);
    }
    let (pep440, canonical) = entry
        .version
        .clone()
        .map_or((String::new(), semver::Version::new(0, 0, 0)), |(p, c)| {
            (p.to_string(), c)
        });
    Package {
        name: project.normalized.clone(),
        ecosystem: Ecosystem::Python,
        version: canonical,
        manifest_path: project.manifest_path.clone(),
        action: entry.action,
        reason: entry.reason.clone(),
        wave: None,
        dependencies,
        manifest: ManifestPlan {
            edits: source_edits,
            published: document.to_string(),
        },
        artifact: None,
        publish_metadata: None,
        release: entry.release.clone(),
        python: Some(PythonRelease {
            project_name: project.name.clone(),
            version: pep440,
            project_path: project.dir.clone(),
            requirement_edits,
            files: Vec::new(),
            metadata: None,
            build: None,
        }),
    }
}

/// The plan's `inputs.python`: every file read, and the observations of the projects planned.
fn inputs(input: &PythonInput, planned: &[Planned]) -> PythonInputs {
    let mut projects = BTreeMap::new();
    for candidate in &input.projects {
        projects.insert(
            candidate.manifest_path(),
            convoy_schema::digest::sha256_digest(candidate.pyproject.as_bytes()),
        );
        if let Some((path, text)) = &candidate.version_file {
            projects.insert(
                path.clone(),
                convoy_schema::digest::sha256_digest(text.as_bytes()),
            );
        }
    }
    let names: BTreeSet<&str> = planned
        .iter()
        .map(|p| p.project.normalized.as_str())
        .collect();
    PythonInputs {
        projects,
        source: input.source,
        observations: input
            .observations
            .iter()
            .filter(|(name, _)| names.contains(name.as_str()))
            .map(|(name, versions)| (name.clone(), versions.clone()))
            .collect(),
    }
}

/// [`add`] for tests: `input`'s projects planned with no workspace and no history (each at its
/// written version), the selection applied.
#[cfg(test)]
pub fn add_alone(plan: &mut Plan, input: &PythonInput, selection: &convoy_schema::plan::Selection) {
    let read = read(input);
    let mut workspace = crate::testing::workspace(Vec::new());
    workspace.selection = selection.clone();
    let versioned = crate::versioning::plan_versions(
        &workspace,
        &toml_edit::DocumentMut::new(),
        &read.versionable(input, &BTreeMap::new()),
    );
    add(plan, read, input, &versioned);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Pin;
    use crate::python::PythonProject;
    use convoy_schema::plan::ObservationSource;
    use convoy_schema::plan::Selection;
    use convoy_schema::python::{PythonTarget, ServedFile};

    fn project(dir: &str, name: &str, version: &str, dependencies: &[&str]) -> PythonProject {
        let deps: Vec<String> = dependencies.iter().map(|d| format!("{d:?}")).collect();
        PythonProject {
            dir: dir.into(),
            pyproject: format!(
                "[project]\nname = \"{name}\"\nversion = \"{version}\"\ndescription = \"d\"\nreadme = \"README.md\"\nlicense = \"MIT\"\ndependencies = [{}]\n",
                deps.join(", ")
            ),
            version_file: None,
        }
    }

    fn input(projects: Vec<PythonProject>) -> PythonInput {
        PythonInput {
            projects,
            target: PythonTarget {
                index: "http://127.0.0.1:1/simple/".into(),
            },
            observations: BTreeMap::new(),
            source: ObservationSource::Absent,
            pin: Pin::Exact,
        }
    }

    fn cargo_plan() -> Plan {
        let mut plan = Plan {
            format_version: convoy_schema::plan::PLAN_FORMAT_VERSION,
            digest: String::new(),
            inputs: convoy_schema::plan::Inputs::new("cargo"),
            registry: convoy_schema::snapshot::RegistryTarget {
                name: None,
                index: "sparse+http://127.0.0.1:1/".into(),
            },
            python: None,
            packaging: None,
            packages: [("app", 1), ("core", 0)]
                .into_iter()
                .map(|(name, wave)| Package {
                    name: name.into(),
                    ecosystem: Ecosystem::Cargo,
                    version: semver::Version::new(1, 0, 0),
                    manifest_path: format!("{name}/Cargo.toml"),
                    action: Action::Publish,
                    reason: "new".into(),
                    wave: Some(wave),
                    dependencies: Vec::new(),
                    manifest: ManifestPlan {
                        edits: Vec::new(),
                        published: String::new(),
                    },
                    artifact: None,
                    publish_metadata: None,
                    release: None,
                    python: None,
                })
                .collect(),
            waves: vec![vec!["core".into()], vec!["app".into()]],
            diagnostics: Vec::new(),
            lockfile_edits: Vec::new(),
        };
        plan.seal();
        plan
    }

    fn codes(plan: &Plan) -> Vec<(&str, &str)> {
        plan.diagnostics
            .iter()
            .map(|d| (d.code.as_str(), d.package.as_deref().unwrap_or("")))
            .collect()
    }

    #[test]
    fn internal_requirements_are_pinned_and_order_the_waves() {
        let mut plan = cargo_plan();
        add_alone(
            &mut plan,
            &input(vec![
                project(
                    "py/app",
                    "Demo_App",
                    "2.0.0-alpha.5",
                    &["demo-core; python_version >= \"3.9\"", "attrs>=23"],
                ),
                project("py/core", "demo.core", "2.0.0a5", &[]),
                project(
                    "py/plugin",
                    "demo-plugin",
                    "1.0",
                    &["demo-app>=2.0.0a1", "demo_core"],
                ),
            ]),
            &Selection::default(),
        );
        assert_eq!(
            plan.waves,
            [
                vec!["core", "python:demo-core"],
                vec!["app", "python:demo-app"],
                vec!["python:demo-plugin"]
            ]
        );
        let app = plan.package("python:demo-app").unwrap();
        assert_eq!(app.version.to_string(), "2.0.0-alpha.5");
        let python = app.python.as_ref().unwrap();
        assert_eq!(
            (python.version.as_str(), python.project_name.as_str()),
            ("2.0.0a5", "Demo_App")
        );
        assert_eq!(
            python.requirement_edits,
            [RequirementEdit {
                file: "py/app/pyproject.toml".into(),
                field: "dependencies".into(),
                from: "demo-core; python_version >= \"3.9\"".into(),
                to: "demo-core==2.0.0a5; python_version >= \"3.9\"".into(),
            }]
        );
        let published: toml_edit::DocumentMut = app.manifest.published.parse().unwrap();
        let requirements: Vec<&str> = published["project"]["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        assert_eq!(
            requirements,
            ["demo-core==2.0.0a5; python_version >= \"3.9\"", "attrs>=23"]
        );
        assert_eq!(app.dependencies.len(), 1);
        assert_eq!(
            app.dependencies[0].target.as_deref(),
            Some("python_full_version >= '3.9'")
        );
        let plugin = plan.package("python:demo-plugin").unwrap();
        assert_eq!(
            plugin
                .dependencies
                .iter()
                .map(|d| d.requirement.as_deref().unwrap())
                .collect::<Vec<_>>(),
            ["demo-app>=2.0.0a1", "demo_core==2.0.0a5"]
        );
        assert_eq!(plan.inconsistency(), None);
        assert!(plan.digest_is_valid());
        assert_eq!(
            codes(&plan),
            [
                ("python-requirement-pinned", "python:demo-app"),
                ("python-requirement-pinned", "python:demo-plugin"),
            ]
        );
        let inputs = plan.inputs.python.as_ref().unwrap();
        assert_eq!(inputs.projects.len(), 3);
    }

    #[test]
    fn requirements_that_exclude_the_release_and_cycles_are_errors() {
        let mut plan = cargo_plan();
        add_alone(
            &mut plan,
            &input(vec![
                project("a", "a", "1.0.0", &["b>=2"]),
                project("b", "b", "1.0.0", &["a"]),
                project("c", "c", "1.0.0+local", &[]),
                project("d", "d", "1.0.0", &["c"]),
                project("e", "A", "1.0.0", &[]),
            ]),
            &Selection::default(),
        );
        assert_eq!(
            codes(&plan),
            [
                ("dependency-cycle", "python:a"),
                ("python-distribution-collision", "python:a"),
                ("requirement-not-satisfied", "python:a"),
                ("python-version-invalid", "python:c"),
                ("excluded-dependency", "python:d"),
                ("python-requirement-pinned", "python:b"),
            ]
        );
        assert_eq!(plan.package("python:c").unwrap().action, Action::Excluded);
        assert_eq!(plan.inconsistency(), None);
    }

    #[test]
    fn versions_on_the_index_are_skipped_and_the_selection_applies() {
        let mut served = input(vec![
            project("a", "a", "1.0", &[]),
            project("b", "b", "2.0", &["a"]),
            project("c", "c", "3.0", &[]),
        ]);
        served.source = ObservationSource::Index;
        served.observations.insert(
            "a".into(),
            [(
                "1.0.0".to_owned(),
                vec![ServedFile {
                    filename: "a-1.0.tar.gz".into(),
                    sha256: None,
                    yanked: false,
                }],
            )]
            .into(),
        );
        served.observations.insert("b".into(), BTreeMap::new());
        let mut plan = cargo_plan();
        add_alone(
            &mut plan,
            &served,
            &Selection {
                packages: vec![],
                exclude: vec!["python:c".into()],
            },
        );
        let actions: Vec<(String, Action, &str)> = plan
            .packages
            .iter()
            .filter(|p| p.ecosystem == Ecosystem::Python)
            .map(|p| (p.key(), p.action, p.reason.as_str()))
            .collect();
        assert_eq!(
            actions,
            [
                (
                    "python:a".to_owned(),
                    Action::Skip,
                    "version 1.0 as the manifest says (no git history); version 1.0 is already on the index (1 file(s))"
                ),
                (
                    "python:b".to_owned(),
                    Action::Publish,
                    "version 2.0 as the manifest says (no git history); 2.0 is a new project on the index"
                ),
                (
                    "python:c".to_owned(),
                    Action::Excluded,
                    "excluded with --exclude"
                ),
            ]
        );
        assert_eq!(plan.waves[0], ["core", "python:b"]);
        assert_eq!(plan.inputs.python.as_ref().unwrap().observations.len(), 2);
    }
}
