//! The planner's IO edge: reads the workspace through `cargo metadata --no-deps`, its manifests,
//! git state, the cargo version, cargo's registry configuration and the registry snapshot, and
//! turns them into a [`WorkspaceInput`].
//!
//! Nothing here writes. `cargo metadata --no-deps` does not resolve, so it creates no
//! `Cargo.lock`; git runs with `--no-optional-locks` so `git status` does not refresh the index.

// An IO edge: planner/clippy.toml forbids these calls everywhere else in the planner.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use cargo_metadata::camino::Utf8Path;
use cargo_metadata::{DependencyKind as MetadataKind, MetadataCommand};
use convoy_registry::auth::{token_from_env, token_variable};
use convoy_registry::python::PythonIndex;
use convoy_registry::{ClientOptions, Freshness, RegistryClient};
use convoy_schema::digest::sha256_digest;
use convoy_schema::plan::{
    package_key, DependencyKind, Ecosystem, GitInputs, ObservationSource, ReleaseRequest, Selection,
};
use convoy_schema::python::PythonTarget;
use convoy_schema::snapshot::{CrateObservations, ObservedVersion, RegistryTarget};
use convoy_schema::RegistrySnapshot;

use crate::error::PlanError;
use crate::model::{
    DeclaredDependency, DependencySource, GitState, Member, PythonInput, RegistryObservations,
    ReleaseContext, WorkspaceInput,
};
use crate::{config, history, python};
use convoy_package::PackageError;
use convoy_registry::resolve::{self as registry_config, RegistryChoice};

/// What to read.
#[derive(Debug, Clone)]
pub struct DiscoverRequest {
    /// `--manifest-path`, default `./Cargo.toml`.
    pub manifest_path: PathBuf,
    /// `--root DIR`: the repository's top directory, which may have no Cargo workspace (then
    /// only its Python projects are planned); with a `Cargo.toml` it is `--manifest-path
    /// DIR/Cargo.toml`.
    pub root: Option<PathBuf>,
    /// `--registry` / `--index`.
    pub registry: RegistryChoice,
    /// `--registry-state`.
    pub registry_state: Option<PathBuf>,
    /// `--package` / `--exclude`.
    pub selection: Selection,
    /// Paths the planner itself writes (`--out`): not counted as uncommitted changes.
    pub own_outputs: Vec<PathBuf>,
    /// Allow plain HTTP to a registry that is not on this machine.
    pub allow_http: bool,
    /// `--bump`, `--set-version`, `--all`, `-p name=LEVEL`.
    pub release: ReleaseRequest,
    /// `--python-index`: the simple API base the Python projects are published to; naming it
    /// reads what it serves for them (else PyPI is the target, not read).
    pub python_index: Option<String>,
}

/// The planner's input and where the workspace is.
#[derive(Debug, Clone)]
pub struct Discovered {
    /// Everything the plan depends on.
    pub input: WorkspaceInput,
    /// Absolute path of the workspace root (kept out of the plan).
    pub root: PathBuf,
    /// Absolute path of the repository's top directory (the workspace root outside git).
    pub repository: PathBuf,
}

/// Reads everything the plan depends on.
pub fn discover(request: &DiscoverRequest) -> Result<Discovered, PlanError> {
    let manifest_path = match &request.root {
        Some(root) if !root.join("Cargo.toml").is_file() => {
            return discover_without_cargo(request, root)
        }
        Some(root) => absolute(&root.join("Cargo.toml")),
        None => absolute(&request.manifest_path),
    };
    if !manifest_path.is_file() {
        return Err(PackageError::NoManifest {
            path: request.manifest_path.display().to_string(),
        }
        .into());
    }
    // git and `cargo --version` need only the manifest's directory; they run while cargo
    // reads the workspace. The workspace root is the nearest ancestor cargo reports, so the git
    // state is taken again below in the rare case it differs.
    let manifest_dir = manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let (metadata, early_git, cargo_version) = std::thread::scope(|scope| {
        let version = scope.spawn(cargo_version);
        let git = scope.spawn(|| git_state(&manifest_dir, &request.own_outputs));
        let metadata = read_metadata(request, &manifest_path);
        let git = git
            .join()
            .unwrap_or_else(|_| GitState::Absent("git state could not be read".to_owned()));
        let version = version.join().unwrap_or_else(|_| {
            Err(PackageError::Tool {
                program: cargo_program().display().to_string(),
                args: "--version".to_owned(),
                message: "the thread running it panicked".to_owned(),
            }
            .into())
        });
        (metadata, git, version)
    });
    let metadata = metadata?;
    let root = metadata.workspace_root.as_std_path().to_path_buf();
    let git = if root == manifest_dir {
        early_git
    } else {
        git_state(&root, &request.own_outputs)
    };
    tracing::debug!(root = %root.display(), "workspace found");

    let root_manifest = read_text(&root.join("Cargo.toml"))?;
    let packages = metadata.workspace_packages();
    let member_dirs: BTreeMap<&Utf8Path, &str> = packages
        .iter()
        .filter_map(|p| Some((p.manifest_path.parent()?, p.name.as_str())))
        .collect();
    let mut members = Vec::with_capacity(packages.len());
    for package in &packages {
        let dependencies = package
            .dependencies
            .iter()
            .map(|dep| DeclaredDependency {
                name: dep.name.clone(),
                rename: dep.rename.clone(),
                kind: match dep.kind {
                    MetadataKind::Development => DependencyKind::Dev,
                    MetadataKind::Build => DependencyKind::Build,
                    _ => DependencyKind::Normal,
                },
                target: dep.target.as_ref().map(ToString::to_string),
                req: dep.req.to_string(),
                source: match (&dep.path, &dep.source) {
                    (Some(path), _) => DependencySource::Path {
                        member: member_dirs
                            .get(path.as_path())
                            .map(|name| (*name).to_owned()),
                        path: relative(&root, path.as_std_path()),
                    },
                    (None, Some(source)) if source.repr.starts_with("git+") => {
                        DependencySource::Git
                    }
                    _ => DependencySource::Registry(dep.registry.clone()),
                },
            })
            .collect();
        members.push(Member {
            name: package.name.to_string(),
            version: package.version.clone(),
            manifest_path: relative(&root, package.manifest_path.as_std_path()),
            manifest_text: read_text(package.manifest_path.as_std_path())?,
            publish: package.publish.clone(),
            description: package.description.clone(),
            license: package.license.clone(),
            license_file: package.license_file.as_ref().map(ToString::to_string),
            readme: package.readme.as_ref().map(ToString::to_string),
            keywords: package.keywords.clone(),
            dependencies,
        });
    }
    let cargo = CargoSide {
        root,
        git,
        root_manifest,
        members,
        cargo_version: cargo_version?,
    };
    finish(request, cargo)
}

/// What the Cargo side of a repository contributes (empty for a repository without one).
struct CargoSide {
    root: PathBuf,
    git: GitState,
    root_manifest: String,
    members: Vec<Member>,
    cargo_version: String,
}

/// A repository with no Cargo workspace (`--root DIR`): its Python projects only. The plan
/// still names the Cargo registry it would use and the cargo that planned it, so its form is
/// the same; no crate is in it.
fn discover_without_cargo(request: &DiscoverRequest, root: &Path) -> Result<Discovered, PlanError> {
    let nothing = || PlanError::NothingToPlan {
        root: root.display().to_string(),
    };
    let dir = absolute(root);
    if !dir.is_dir() {
        return Err(nothing());
    }
    let git = git_state(&dir, &request.own_outputs);
    let cargo = CargoSide {
        root: dir,
        git,
        root_manifest: String::new(),
        members: Vec::new(),
        cargo_version: cargo_version()?,
    };
    let discovered = finish(request, cargo)?;
    if discovered.input.python.is_none() {
        return Err(nothing());
    }
    Ok(discovered)
}

/// The rest of discovery, shared: configuration, Python projects, selection, history, the
/// registries' state.
fn finish(request: &DiscoverRequest, cargo: CargoSide) -> Result<Discovered, PlanError> {
    let CargoSide {
        root,
        git,
        root_manifest,
        members,
        cargo_version,
    } = cargo;
    let repository = repository_root(&root, &git);
    let config_text = read_config(repository)?;
    let (config, _) = config::parse(config_text.as_deref());
    let python_projects = python::discover::discover(repository, &config.python)?;
    let python_read: Vec<python::project::Project> = python_projects
        .iter()
        .filter_map(|p| python::project::read(p, &mut Vec::new()))
        .collect();
    let python_names: Vec<String> = python_read
        .iter()
        .map(|p| package_key(Ecosystem::Python, &p.normalized))
        .collect();
    check_selection(
        &request.selection,
        &request.release,
        &members,
        &python_names,
    )?;

    let lockfile_path = root.join("Cargo.lock");
    let lockfile_bytes = if lockfile_path.is_file() {
        Some(read_bytes(&lockfile_path)?)
    } else {
        None
    };
    let lockfile = lockfile_bytes.as_deref().map(sha256_digest);
    let mut release = release_context(
        request,
        &root,
        &git,
        &members,
        &root_manifest,
        config_text,
        lockfile_bytes.map(|b| String::from_utf8_lossy(&b).into_owned()),
    )?;
    python_release_context(
        &mut release,
        repository,
        &config,
        &python_read,
        &python_names,
    )?;
    let registry = resolve_registry(&request.registry, &root)?;
    let python_index = registry_config::python_index(
        request
            .python_index
            .as_deref()
            .unwrap_or(convoy_schema::python::PYPI_INDEX),
        request.allow_http,
    )?;
    let (python_source, python_observations) =
        match (&request.python_index, python_names.is_empty()) {
            (Some(_), false) => (
                ObservationSource::Index,
                read_python_index(&python_index, &python_names, request.allow_http)?,
            ),
            _ => (ObservationSource::Absent, BTreeMap::new()),
        };
    let observations = match (&request.registry_state, &request.registry) {
        (Some(path), _) => read_snapshot(path, &registry)?,
        // Naming a registry on the command line asks for its live state.
        (None, RegistryChoice::Named(_) | RegistryChoice::Index(_)) => {
            read_index(&registry, &members, request.allow_http)?
        }
        (None, RegistryChoice::Default) => RegistryObservations::absent(),
    };
    let input = WorkspaceInput {
        root_manifest,
        members,
        cargo_version,
        git,
        lockfile,
        registry,
        selection: request.selection.clone(),
        observations,
        release,
        python: (!python_projects.is_empty()).then_some(PythonInput {
            projects: python_projects,
            target: PythonTarget {
                index: python_index,
            },
            observations: python_observations,
            source: python_source,
            pin: config.python.pin,
        }),
    };
    let repository = repository.to_path_buf();
    Ok(Discovered {
        input,
        root,
        repository,
    })
}

fn read_metadata(
    request: &DiscoverRequest,
    manifest_path: &Path,
) -> Result<cargo_metadata::Metadata, PackageError> {
    MetadataCommand::new()
        .manifest_path(manifest_path)
        .no_deps()
        .exec()
        .map_err(|error| PackageError::Workspace {
            manifest: request.manifest_path.display().to_string(),
            message: match error {
                cargo_metadata::Error::CargoMetadata { stderr } => stderr.trim_end().to_owned(),
                other => other.to_string(),
            },
        })
}

/// Reads what version planning needs: `convoy.toml` at the repository root, the release
/// history, the commit date, the members' changelogs and the lockfile text.
fn release_context(
    request: &DiscoverRequest,
    root: &Path,
    git: &GitState,
    members: &[Member],
    root_manifest: &str,
    config_text: Option<String>,
    lockfile: Option<String>,
) -> Result<ReleaseContext, PlanError> {
    let workspace_path = match git {
        GitState::Checkout(git) => git.workspace_path.as_str(),
        GitState::Absent(_) => "",
    };
    let (config, _) = config::parse(config_text.as_deref());
    let (history, date) = match git {
        GitState::Checkout(_) => {
            let repository = history::Repository {
                workspace_root: root,
                workspace_path,
            };
            (
                Some(history::read(&repository, members, &config, root_manifest)?),
                Some(history::commit_date(&repository)?),
            )
        }
        GitState::Absent(_) => (None, None),
    };
    let mut changelogs = BTreeMap::new();
    for member in members {
        let dir = member.dir();
        let file = if dir.is_empty() {
            "CHANGELOG.md".to_owned()
        } else {
            format!("{dir}/CHANGELOG.md")
        };
        let path = root.join(&file);
        if path.is_file() {
            changelogs.insert(member.name.clone(), (file, read_text(&path)?));
        }
    }
    Ok(ReleaseContext {
        config: config_text,
        request: request.release.clone(),
        date,
        history,
        changelogs,
        lockfile,
    })
}

/// Adds the Python projects' release history and changelogs (`CHANGELOG.md` beside each
/// `pyproject.toml`) to `release`, keyed by package key, paths repository-relative.
fn python_release_context(
    release: &mut ReleaseContext,
    repository: &Path,
    config: &config::Config,
    projects: &[python::project::Project],
    keys: &[String],
) -> Result<(), PlanError> {
    if let Some(history) = &mut release.history {
        let sources: Vec<history::OtherSources<'_>> = projects
            .iter()
            .zip(keys)
            .map(|(project, key)| history::OtherSources {
                key,
                name: &project.normalized,
                dir: &project.dir,
                version: python::version::of_tag,
            })
            .collect();
        let top = history::Repository {
            workspace_root: repository,
            workspace_path: "",
        };
        history.extend(history::read_others(&top, &sources, config)?);
    }
    for (project, key) in projects.iter().zip(keys) {
        let file = python::project::in_dir(&project.dir, "CHANGELOG.md");
        let path = repository.join(&file);
        if path.is_file() {
            release
                .changelogs
                .insert(key.clone(), (file, read_text(&path)?));
        }
    }
    Ok(())
}

/// The repository's top directory: the workspace root less its path inside the repository.
fn repository_root<'a>(root: &'a Path, git: &GitState) -> &'a Path {
    let workspace_path = match git {
        GitState::Checkout(git) => git.workspace_path.as_str(),
        GitState::Absent(_) => "",
    };
    let depth = workspace_path.split('/').filter(|p| !p.is_empty()).count();
    root.ancestors().nth(depth).unwrap_or(root)
}

/// `convoy.toml` at the repository root, if there is one.
fn read_config(repository: &Path) -> Result<Option<String>, PackageError> {
    let path = repository.join(config::CONFIG_FILE);
    if path.is_file() {
        Ok(Some(read_text(&path)?))
    } else {
        Ok(None)
    }
}

/// Every `--package`/`--exclude` name is a member, or a Python project (by its key
/// `python:NAME`, or by its name).
fn check_selection(
    selection: &Selection,
    release: &ReleaseRequest,
    members: &[Member],
    python: &[String],
) -> Result<(), PlanError> {
    let overrides: Vec<String> = release.packages.keys().cloned().collect();
    let lists = [
        ("--package", &selection.packages),
        ("--exclude", &selection.exclude),
        ("--package", &overrides),
    ];
    for (option, names) in lists {
        for name in names {
            let bare = name.strip_prefix("python:").unwrap_or(name);
            let is_python = python.iter().any(|key| {
                key.strip_prefix("python:") == Some(python::project::normalize(bare).as_str())
            });
            if !(members.iter().any(|m| &m.name == name) || is_python) {
                let mut all: Vec<String> = members
                    .iter()
                    .map(|m| m.name.clone())
                    .chain(python.iter().cloned())
                    .collect();
                all.sort();
                return Err(PlanError::UnknownPackage {
                    option,
                    name: name.clone(),
                    members: all,
                });
            }
        }
    }
    Ok(())
}

fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(path))
            .unwrap_or_else(|_| path.to_path_buf())
    }
}

/// `path` relative to `root`, `/`-separated, with `..` where it lies outside.
fn relative(root: &Path, path: &Path) -> String {
    let root: Vec<Component<'_>> = root.components().collect();
    let path: Vec<Component<'_>> = path.components().collect();
    let common = root.iter().zip(&path).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_owned(); root.len() - common];
    parts.extend(
        path[common..]
            .iter()
            .map(|c| c.as_os_str().to_string_lossy().into_owned()),
    );
    parts.join("/")
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, PackageError> {
    std::fs::read(path).map_err(|source| PackageError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// Manifests, lockfiles and snapshots: regular files only, bounded (a FIFO is an error, not a
/// hang).
fn read_text(path: &Path) -> Result<String, PackageError> {
    convoy_cli::read_document(path).map_err(|reason| PackageError::Read {
        path: path.display().to_string(),
        source: std::io::Error::other(reason),
    })
}

/// The cargo that `cargo metadata` ran: `$CARGO`, else `cargo` on PATH.
pub(crate) use convoy_package::cargo::cargo_program;

/// `cargo --version`, as packaging runs it.
fn cargo_version() -> Result<String, PlanError> {
    Ok(convoy_package::cargo::cargo_version()?)
}

/// Runs git in `dir`; `None` when git is missing or the command fails (the workspace need not
/// be in a git checkout).
fn git(dir: &Path, args: &[&str]) -> Option<String> {
    crate::history::git(dir, args).ok()
}

fn git_state(root: &Path, own_outputs: &[PathBuf]) -> GitState {
    let Some(prefix) = git(root, &["rev-parse", "--show-prefix"]) else {
        return GitState::Absent(
            "the workspace is not inside a git work tree (or git is not installed)".to_owned(),
        );
    };
    let Some(commit) = git(root, &["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]) else {
        return GitState::Absent("the git repository has no commit yet".to_owned());
    };
    let Some(tree) = git(root, &["rev-parse", "--verify", "--quiet", "HEAD^{tree}"]) else {
        return GitState::Absent("the commit's tree cannot be read".to_owned());
    };
    let mut status_args: Vec<String> = [
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--",
        ".",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    for output in own_outputs {
        let output = absolute(output);
        if output.starts_with(root) {
            status_args.push(format!(":(exclude,literal){}", relative(root, &output)));
        }
    }
    let status_args: Vec<&str> = status_args.iter().map(String::as_str).collect();
    let dirty = git(root, &status_args).is_none_or(|status| !status.is_empty());
    GitState::Checkout(GitInputs {
        commit: commit.trim().to_owned(),
        tree: tree.trim().to_owned(),
        dirty,
        workspace_path: prefix.trim().trim_end_matches('/').to_owned(),
    })
}

fn resolve_registry(choice: &RegistryChoice, root: &Path) -> Result<RegistryTarget, PlanError> {
    Ok(registry_config::resolve_target(choice, root)?)
}

/// Reads every member's index file from the live registry (and the `-`/`_` variants of each name,
/// which a registry treats as the same name), at most 16 requests at a time.
/// What the Python index at `index` serves for the projects `keys` (`python:NAME`), by
/// normalized name and version.
fn read_python_index(
    index: &str,
    keys: &[String],
    allow_http: bool,
) -> Result<convoy_schema::python::PythonObservations, PlanError> {
    let failed = |source| PlanError::Registry {
        index: index.to_owned(),
        source,
    };
    let client = PythonIndex::new(index, None, allow_http).map_err(failed)?;
    let runtime = convoy_cli::runtime()?;
    let mut observations = BTreeMap::new();
    for key in keys {
        let name = key.strip_prefix("python:").unwrap_or(key);
        let links = runtime
            .block_on(client.project(name, Freshness::Revalidate))
            .map_err(failed)?;
        let versions = links
            .map(|links| convoy_registry::python::by_version(name, &links))
            .unwrap_or_default();
        observations.insert(name.to_owned(), versions);
    }
    Ok(observations)
}

fn read_index(
    registry: &RegistryTarget,
    members: &[Member],
    allow_http: bool,
) -> Result<RegistryObservations, PlanError> {
    let mut names: BTreeSet<String> = BTreeSet::new();
    for member in members {
        names.insert(member.name.clone());
        names.insert(member.name.replace('_', "-"));
        names.insert(member.name.replace('-', "_"));
    }
    let names: Vec<String> = names.into_iter().collect();
    let read_token = token_variable(registry.name.as_deref(), None)
        .and_then(|variable| token_from_env(&variable, &|v| std::env::var(v).ok()));
    let files = convoy_cli::runtime()?
        .block_on(async {
            let client = RegistryClient::connect(
                &registry.index,
                ClientOptions {
                    allow_http,
                    read_token,
                },
            )
            .await?;
            client.index_files(&names, 16, Freshness::Revalidate).await
        })
        .map_err(|source| PlanError::Registry {
            index: registry.index.clone(),
            source,
        })?;
    let mut crates = CrateObservations::new();
    for entries in files.into_values().flatten() {
        for entry in entries {
            crates
                .entry(entry.name.clone())
                .or_default()
                .push(ObservedVersion {
                    version: entry.vers,
                    cksum: entry.cksum,
                    yanked: entry.yanked,
                });
        }
    }
    // A member the registry does not have is observed to have no versions.
    for member in members {
        let known = crates
            .keys()
            .any(|name| name.eq_ignore_ascii_case(&member.name));
        if !known {
            crates.insert(member.name.clone(), Vec::new());
        }
    }
    Ok(RegistryObservations {
        source: ObservationSource::Index,
        crates,
    })
}

fn read_snapshot(
    path: &Path,
    registry: &RegistryTarget,
) -> Result<RegistryObservations, PlanError> {
    let text = read_text(path)?;
    let snapshot = RegistrySnapshot::from_json(&text).map_err(|source| PlanError::Snapshot {
        path: path.display().to_string(),
        source,
    })?;
    if let Some(observed) = &snapshot.registry {
        if observed.index != registry.index {
            return Err(PlanError::SnapshotRegistryMismatch {
                path: path.display().to_string(),
                snapshot_index: observed.index.clone(),
                plan_index: registry.index.clone(),
            });
        }
    }
    Ok(RegistryObservations {
        source: ObservationSource::Snapshot,
        crates: snapshot.crates,
    })
}
