//! `convoy-plan apply` and `convoy-plan tag`, the planner's two commands that write, at the IO
//! edge: `apply` writes a plan's source edits into the user's tree for the release pull
//! request, `tag` creates the plan's release tags once the release is verified. Both refuse
//! before writing anything when the plan does not fit the tree or the repository.

// An IO edge: planner/clippy.toml forbids these calls everywhere else in the planner.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use convoy_schema::digest::sha256_digest;
use convoy_schema::plan::{Action, Ecosystem, Plan};

use crate::config::CONFIG_FILE;
use crate::edits::{self, LOCKFILE};
use crate::error::PlanError;

/// What `apply` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Files written, relative to the workspace root, sorted.
    pub files: Vec<String>,
    /// Cargo's complaint when it would still change `Cargo.lock` after the edits (a lockfile
    /// that was stale before the release), if any.
    pub lockfile_warning: Option<String>,
}

/// The repository root: the workspace root less its path inside the repository.
fn repository_root(workspace_root: &Path, plan: &Plan) -> PathBuf {
    let depth = plan.inputs.git.as_ref().map_or(0, |git| {
        git.workspace_path
            .split('/')
            .filter(|p| !p.is_empty())
            .count()
    });
    workspace_root
        .ancestors()
        .nth(depth)
        .unwrap_or(workspace_root)
        .to_path_buf()
}

/// A plan with error diagnostics describes no release: neither `apply` nor `tag` acts on one.
fn describes_a_release(plan: &Plan) -> Result<(), PlanError> {
    let (errors, _) = crate::planning::severity_counts(&plan.diagnostics);
    if errors > 0 {
        return Err(PlanError::PlanHasErrors { count: errors });
    }
    Ok(())
}

/// Every input file whose content differs from what the plan recorded, in words.
fn drift(plan: &Plan, workspace_root: &Path) -> Vec<String> {
    let digest_of = |path: &Path| std::fs::read(path).ok().map(|b| sha256_digest(&b));
    let mut recorded: BTreeMap<PathBuf, (String, Option<String>)> = BTreeMap::new();
    for (file, digest) in &plan.inputs.manifests {
        recorded.insert(
            workspace_root.join(file),
            (file.clone(), Some(digest.clone())),
        );
    }
    recorded.insert(
        workspace_root.join(LOCKFILE),
        (LOCKFILE.to_owned(), plan.inputs.lockfile.clone()),
    );
    if let Some(python) = &plan.inputs.python {
        for (file, digest) in &python.projects {
            recorded.insert(
                repository_root(workspace_root, plan).join(file),
                (file.clone(), Some(digest.clone())),
            );
        }
    }
    if let Some(release) = &plan.inputs.release {
        for (file, digest) in &release.changelogs {
            recorded.insert(
                workspace_root.join(file),
                (file.clone(), Some(digest.clone())),
            );
        }
        recorded.insert(
            repository_root(workspace_root, plan).join(CONFIG_FILE),
            (CONFIG_FILE.to_owned(), release.config.clone()),
        );
    }
    recorded
        .into_iter()
        .filter_map(|(path, (file, expected))| {
            let now = digest_of(&path);
            match (&expected, &now) {
                (Some(expected), Some(now)) if expected == now => None,
                (None, None) => None,
                (Some(_), Some(_)) => Some(format!("{file} was modified")),
                (Some(_), None) => Some(format!("{file} is missing")),
                (None, Some(_)) => Some(format!("{file} is new")),
            }
        })
        .collect()
}

/// Writes the plan's source edits into the workspace at `workspace_root`.
pub fn apply(plan: &Plan, workspace_root: &Path) -> Result<Applied, PlanError> {
    describes_a_release(plan)?;
    let changed = drift(plan, workspace_root);
    if !changed.is_empty() {
        return Err(PlanError::TreeChanged {
            files: changed.join(", "),
        });
    }
    // Python projects' files are named from the repository's top, the workspace's from its root.
    let python_files: Vec<&String> = plan
        .inputs
        .python
        .iter()
        .flat_map(|p| p.projects.keys())
        .chain(
            plan.packages
                .iter()
                .filter(|p| p.ecosystem == Ecosystem::Python)
                .filter_map(|p| Some(&p.release.as_ref()?.changelog.as_ref()?.file)),
        )
        .collect();
    let locate = |file: &str| {
        if python_files.iter().any(|p| p.as_str() == file) {
            repository_root(workspace_root, plan).join(file)
        } else {
            workspace_root.join(file)
        }
    };
    let edited = edits::edited_files(plan, |file| std::fs::read_to_string(locate(file)))?;
    let mut files = Vec::new();
    for (file, text) in &edited {
        let path = locate(file);
        if std::fs::read_to_string(&path).ok().as_deref() == Some(text.as_str()) {
            continue;
        }
        crate::cli::write_atomically(&path, text.as_bytes())?;
        files.push(file.clone());
    }
    let lockfile_warning = if plan.lockfile_edits.is_empty() {
        None
    } else {
        lockfile_still_stale(workspace_root)
    };
    Ok(Applied {
        files,
        lockfile_warning,
    })
}

/// Cargo's message when it would change `Cargo.lock` further (checked offline, `--locked`).
fn lockfile_still_stale(workspace_root: &Path) -> Option<String> {
    let output = Command::new(crate::discover::cargo_program())
        .args([
            "metadata",
            "--offline",
            "--locked",
            "--format-version",
            "1",
            "--manifest-path",
        ])
        .arg(workspace_root.join("Cargo.toml"))
        .output()
        .ok()?;
    (!output.status.success()).then(|| String::from_utf8_lossy(&output.stderr).trim().to_owned())
}

/// A release tag and the message it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseTag {
    /// Tag name.
    pub name: String,
    /// Annotation.
    pub message: String,
}

/// The tags a plan names: one per distinct tag name, with the packages it releases.
pub fn release_tags(plan: &Plan) -> Vec<ReleaseTag> {
    let mut by_tag: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for package in plan
        .packages
        .iter()
        .filter(|p| p.action != Action::Excluded)
    {
        if let Some(release) = &package.release {
            by_tag
                .entry(&release.tag)
                .or_default()
                .push(format!("{} {}", package.name, package.version));
        }
    }
    by_tag
        .into_iter()
        .map(|(name, packages)| ReleaseTag {
            name: name.to_owned(),
            message: format!("Release {}\n\nPlan {}\n", packages.join(", "), plan.digest),
        })
        .collect()
}

fn git(repository: &Path, args: &[&str]) -> Result<String, PlanError> {
    crate::history::git(repository, args).map(|out| out.trim().to_owned())
}

/// What `tag` did with each tag: created, or found already at the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    /// Tags created.
    pub created: Vec<String>,
    /// Tags that already pointed at the plan's commit.
    pub existing: Vec<String>,
    /// Whether they were pushed.
    pub pushed: bool,
}

/// Creates the plan's annotated tags at its commit in the repository holding `workspace_root`,
/// and pushes them to `remote` if asked. Refuses, before creating any, if one exists at
/// another commit.
pub fn tag(plan: &Plan, workspace_root: &Path, push: Option<&str>) -> Result<Tagged, PlanError> {
    let commit = plan
        .inputs
        .git
        .as_ref()
        .map(|g| g.commit.clone())
        .ok_or(PlanError::NoCommit)?;
    describes_a_release(plan)?;
    let tags = release_tags(plan);
    let mut existing = Vec::new();
    for tag in &tags {
        let reference = format!("refs/tags/{}^{{commit}}", tag.name);
        if let Ok(at) = git(
            workspace_root,
            &["rev-parse", "--quiet", "--verify", &reference],
        ) {
            if at != commit {
                return Err(PlanError::TagElsewhere {
                    tag: tag.name.clone(),
                    existing: at,
                    commit,
                });
            }
            existing.push(tag.name.clone());
        }
    }
    let mut created = Vec::new();
    for tag in tags.iter().filter(|t| !existing.contains(&t.name)) {
        git(
            workspace_root,
            &[
                "tag",
                "--annotate",
                "--message",
                &tag.message,
                &tag.name,
                &commit,
            ],
        )?;
        created.push(tag.name.clone());
    }
    if let Some(remote) = push {
        let mut args = vec!["push".to_owned(), remote.to_owned()];
        args.extend(tags.iter().map(|t| format!("refs/tags/{}", t.name)));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        if tags.is_empty() {
            return Ok(Tagged {
                created,
                existing,
                pushed: false,
            });
        }
        git(workspace_root, &args)?;
    }
    Ok(Tagged {
        created,
        existing,
        pushed: push.is_some() && !tags.is_empty(),
    })
}
