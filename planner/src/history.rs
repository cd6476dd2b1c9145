//! Release history, an IO edge of the planner: reads each member's last release tag, the files
//! it publishes that changed since, and the commits that changed them, from git and
//! `cargo package --list`. What it reads becomes `inputs.release.history` in the plan; the
//! decisions are made in [`crate::versioning`].
//!
//! A member's files are those `cargo package --list` names (so `include`, `exclude`, and a
//! `readme` or `license-file` outside the crate directory count), mapped back to the source
//! tree. Files cargo generates are not sources: `Cargo.toml.orig` is the member's manifest,
//! and a change to the root manifest counts when it changes what the member inherits (its
//! published manifest differs). `Cargo.lock` does not count: a dependency update alone does not
//! make a release.

// An IO edge: planner/clippy.toml forbids these calls everywhere else in the planner.
#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use convoy_schema::plan::{Commit, PackageHistory, TagRef};

use crate::config::{self, Config};
use crate::error::PlanError;
use crate::manifest;
use crate::model::Member;
use crate::planning::ROOT_MANIFEST;
use convoy_package::PackageError;

/// Where the workspace is in its repository.
pub struct Repository<'a> {
    /// The workspace root.
    pub workspace_root: &'a Path,
    /// The workspace root inside the repository ("" at the top).
    pub workspace_path: &'a str,
}

/// Runs git in `dir` (no optional locks, C locale, UTC dates); its output, or a `tool-failed`
/// error carrying git's message.
pub(crate) fn git(dir: &Path, args: &[&str]) -> Result<String, PlanError> {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .arg("--no-optional-locks")
        .args(args)
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("LC_ALL", "C")
        .env("TZ", "UTC")
        .output()
        .map_err(|e| tool("git", args, e.to_string()))?;
    if !output.status.success() {
        return Err(tool(
            "git",
            args,
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

impl Repository<'_> {
    fn git(&self, args: &[&str]) -> Result<String, PlanError> {
        git(self.workspace_root, args)
    }

    /// A repository path relative to the workspace root; `None` outside the workspace.
    fn to_workspace(&self, path: &str) -> Option<String> {
        if self.workspace_path.is_empty() {
            return Some(path.to_owned());
        }
        path.strip_prefix(self.workspace_path)?
            .strip_prefix('/')
            .map(str::to_owned)
    }

    /// A workspace path relative to the repository root.
    fn to_repository(&self, path: &str) -> String {
        if self.workspace_path.is_empty() {
            path.to_owned()
        } else {
            format!("{}/{path}", self.workspace_path)
        }
    }
}

fn tool(program: &str, args: &[&str], message: String) -> PlanError {
    PackageError::Tool {
        program: program.to_owned(),
        args: args.join(" "),
        message,
    }
    .into()
}

/// The committer date of `HEAD`, `YYYY-MM-DD` in UTC.
pub fn commit_date(repository: &Repository<'_>) -> Result<String, PlanError> {
    Ok(repository
        .git(&[
            "show",
            "-s",
            "--date=format-local:%Y-%m-%d",
            "--format=%cd",
            "HEAD",
        ])?
        .trim()
        .to_owned())
}

/// Tags reachable from `HEAD`, with the commit each points to.
fn tags(repository: &Repository<'_>) -> Result<BTreeMap<String, String>, PlanError> {
    let listing = repository.git(&[
        "tag",
        "--list",
        "--merged",
        "HEAD",
        "--format=%(refname:strip=2)%09%(objectname)%09%(*objectname)",
    ])?;
    Ok(listing
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('\t');
            let name = parts.next()?;
            let object = parts.next()?;
            let peeled = parts.next().filter(|p| !p.is_empty()).unwrap_or(object);
            Some((name.to_owned(), peeled.to_owned()))
        })
        .collect())
}

/// The highest-versioned tag matching `template` for `name`.
pub fn last_tag(template: &str, name: &str, tags: &BTreeMap<String, String>) -> Option<TagRef> {
    last_tag_read(template, name, tags, |text| {
        semver::Version::parse(text).ok()
    })
}

/// [`last_tag`], with `version` reading a tag's version text.
fn last_tag_read(
    template: &str,
    name: &str,
    tags: &BTreeMap<String, String>,
    version: impl Fn(&str) -> Option<semver::Version>,
) -> Option<TagRef> {
    tags.iter()
        .filter_map(|(tag, commit)| {
            Some(TagRef {
                version: version(config::match_tag_text(template, name, tag)?)?,
                name: tag.clone(),
                commit: commit.clone(),
            })
        })
        .max_by(|a, b| a.version.cmp(&b.version).then_with(|| b.name.cmp(&a.name)))
}

/// Whether `path` is inside the directory `dir` (`""` is the top), both `/`-separated.
fn is_under(dir: &str, path: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// A package's history: its tag, the files of it that changed, and the commits that touched
/// them.
fn since(tag: TagRef, changes: &Changes, files: BTreeSet<String>) -> PackageHistory {
    let commits = changes
        .commits
        .iter()
        .filter(|(_, touched)| touched.iter().any(|t| files.contains(t)))
        .map(|(commit, _)| commit.clone())
        .collect();
    PackageHistory {
        last_tag: Some(tag),
        changed_files: files.into_iter().collect(),
        commits,
    }
}

/// What changed between a tag and `HEAD`: paths (workspace-relative) and the commits with
/// the paths each touched.
struct Changes {
    paths: BTreeSet<String>,
    deleted: BTreeSet<String>,
    commits: Vec<(Commit, BTreeSet<String>)>,
}

fn changes_since(repository: &Repository<'_>, commit: &str) -> Result<Changes, PlanError> {
    let range = format!("{commit}..HEAD");
    let diff = repository.git(&[
        "diff",
        "--name-status",
        "--no-renames",
        "-z",
        commit,
        "HEAD",
    ])?;
    let mut paths = BTreeSet::new();
    let mut deleted = BTreeSet::new();
    let mut fields = diff.split('\0');
    while let (Some(status), Some(path)) = (fields.next(), fields.next()) {
        if let Some(path) = repository.to_workspace(path) {
            if status.starts_with('D') {
                deleted.insert(path.clone());
            }
            paths.insert(path);
        }
    }
    // One record per commit: \x1e hash \x1f subject \x1f body \x1f, then the paths it touched.
    let log = repository.git(&[
        "log",
        "-z",
        "--name-only",
        "--no-renames",
        "--format=%x1e%H%x1f%s%x1f%b%x1f",
        &range,
    ])?;
    let mut commits = Vec::new();
    for record in log.split('\x1e').filter(|r| !r.is_empty()) {
        let mut parts = record.splitn(4, '\x1f');
        let (Some(hash), Some(subject), Some(body), Some(files)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let touched = files
            .split(['\0', '\n'])
            .filter(|f| !f.is_empty())
            .filter_map(|f| repository.to_workspace(f))
            .collect();
        commits.push((
            Commit {
                hash: hash.to_owned(),
                subject: subject.to_owned(),
                breaking_note: crate::versioning::conventional::has_breaking_footer(body),
            },
            touched,
        ));
    }
    Ok(Changes {
        paths,
        deleted,
        commits,
    })
}

/// The source files `cargo package --list` would package for `member`, workspace-relative.
///
/// Cargo may create its target directory even to list files; it gets a throwaway one, so the
/// planner never writes into the user's tree.
fn packaged_sources(
    workspace_root: &Path,
    member: &Member,
    target_dir: &Path,
) -> Result<BTreeSet<String>, PlanError> {
    let args = [
        "package",
        "--list",
        "--allow-dirty",
        "--offline",
        "--manifest-path",
        &member.manifest_path,
    ];
    let output = Command::new(crate::discover::cargo_program())
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir)
        .current_dir(workspace_root)
        .output()
        .map_err(|e| tool("cargo", &args, e.to_string()))?;
    if !output.status.success() {
        return Err(tool(
            "cargo",
            &args,
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    let dir = member.dir();
    let outside: Vec<String> = [&member.readme, &member.license_file]
        .into_iter()
        .flatten()
        .map(|path| manifest::join_path(dir, path))
        .collect();
    let mut sources = BTreeSet::new();
    for listed in String::from_utf8_lossy(&output.stdout).lines() {
        let source = match listed {
            "Cargo.toml" | "Cargo.lock" | ".cargo_vcs_info.json" => continue,
            "Cargo.toml.orig" => member.manifest_path.clone(),
            other => {
                let inside = manifest::join_path(dir, other);
                if workspace_root.join(&inside).exists() {
                    inside
                } else {
                    // A readme or license file from outside the crate directory is packaged
                    // under its file name.
                    match outside
                        .iter()
                        .find(|path| path.rsplit('/').next() == Some(other))
                    {
                        Some(path) => path.clone(),
                        None => inside,
                    }
                }
            }
        };
        sources.insert(source);
    }
    Ok(sources)
}

/// Reads every member's release history.
pub fn read(
    repository: &Repository<'_>,
    members: &[Member],
    config: &Config,
    root_manifest: &str,
) -> Result<BTreeMap<String, PackageHistory>, PlanError> {
    let tags = tags(repository)?;
    let target_dir = tempfile::Builder::new()
        .prefix("convoy-list-")
        .tempdir()
        .map_err(|e| PackageError::Staging {
            message: format!("cannot create a temporary directory: {e}"),
        })?;
    let mut by_commit: BTreeMap<String, Changes> = BTreeMap::new();
    let mut history = BTreeMap::new();
    for member in members {
        let Some(tag) = last_tag(&config.tag_template(&member.name), &member.name, &tags) else {
            history.insert(member.name.clone(), PackageHistory::default());
            continue;
        };
        if !by_commit.contains_key(&tag.commit) {
            by_commit.insert(tag.commit.clone(), changes_since(repository, &tag.commit)?);
        }
        let changes = &by_commit[&tag.commit];
        let dir = member.dir();
        let under_dir = |path: &str| is_under(dir, path);
        let outside: Vec<String> = [&member.readme, &member.license_file]
            .into_iter()
            .flatten()
            .map(|path| manifest::join_path(dir, path))
            .collect();
        let relevant = changes
            .paths
            .iter()
            .any(|p| under_dir(p) || outside.contains(p) || p == ROOT_MANIFEST);
        let mut files: BTreeSet<String> = BTreeSet::new();
        if relevant {
            let sources = packaged_sources(repository.workspace_root, member, target_dir.path())?;
            for path in &changes.paths {
                // A file deleted since the tag is no longer listed; one deleted under the crate
                // directory may have been packaged, so it counts.
                if sources.contains(path)
                    || (changes.deleted.contains(path) && under_dir(path) && !dir.is_empty())
                {
                    files.insert(path.clone());
                }
            }
            if changes.paths.contains(ROOT_MANIFEST)
                && member.manifest_path != ROOT_MANIFEST
                && inherited_part_changed(repository, &tag, member, root_manifest)?
            {
                files.insert(ROOT_MANIFEST.to_owned());
            }
        }
        history.insert(member.name.clone(), since(tag, changes, files));
    }
    Ok(history)
}

/// A package of another ecosystem whose history is read: its key, the name its tags carry,
/// and its directory (repository-relative), every file under which is its source.
pub struct OtherSources<'a> {
    /// `python:NAME`.
    pub key: &'a str,
    /// `{name}` in its tags.
    pub name: &'a str,
    /// Its directory; `""` is the top.
    pub dir: &'a str,
    /// Reads a tag's version text as a canonical version (PEP 440 for Python).
    pub version: fn(&str) -> Option<semver::Version>,
}

/// Reads the release history of other ecosystems' packages (a Python project's files are
/// those under its directory: its sdist is built from it). `repository` is the repository's
/// top, so paths are repository-relative.
pub fn read_others(
    repository: &Repository<'_>,
    packages: &[OtherSources<'_>],
    config: &Config,
) -> Result<BTreeMap<String, PackageHistory>, PlanError> {
    let tags = tags(repository)?;
    let mut by_commit: BTreeMap<String, Changes> = BTreeMap::new();
    let mut history = BTreeMap::new();
    for package in packages {
        let template = config.tag_template(package.key);
        let Some(tag) = last_tag_read(&template, package.name, &tags, package.version) else {
            history.insert(package.key.to_owned(), PackageHistory::default());
            continue;
        };
        if !by_commit.contains_key(&tag.commit) {
            by_commit.insert(tag.commit.clone(), changes_since(repository, &tag.commit)?);
        }
        let changes = &by_commit[&tag.commit];
        let files: BTreeSet<String> = changes
            .paths
            .iter()
            .filter(|p| is_under(package.dir, p))
            .cloned()
            .collect();
        history.insert(package.key.to_owned(), since(tag, changes, files));
    }
    Ok(history)
}

/// Whether the member's published manifest, as far as it comes from the root manifest, differs
/// between the tag and now.
fn inherited_part_changed(
    repository: &Repository<'_>,
    tag: &TagRef,
    member: &Member,
    root_manifest: &str,
) -> Result<bool, PlanError> {
    let show = |path: &str| {
        repository
            .git(&[
                "show",
                &format!("{}:{}", tag.commit, repository.to_repository(path)),
            ])
            .ok()
    };
    let (Some(old_root), Some(old_member)) = (show(ROOT_MANIFEST), show(&member.manifest_path))
    else {
        return Ok(true);
    };
    let published = |member_text: &str, root_text: &str| {
        let root = manifest::parse(root_text).ok()?;
        manifest::published_manifest(member_text, member.dir(), &root, &BTreeMap::new()).ok()
    };
    let before = published(&old_member, &old_root);
    let now = published(&old_member, root_manifest);
    Ok(before.is_none() || before != now)
}
