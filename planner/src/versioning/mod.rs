//! Version planning, pure: which members a release includes, the version each becomes and why,
//! the source edits that make it so (versions and requirements), the `Cargo.lock` changes, the
//! changelog sections and the tags.
//!
//! Decisions are made in this order:
//! 1. **Selection.** `-p`/`--exclude`/`--all`, or by default the members whose packaged files
//!    changed since their last release tag (a member with no tag is new, hence changed).
//! 2. **Candidates.** Each selected member's version: as the manifest says (no level asked), a
//!    level (`--bump`, `-p name=LEVEL`, `auto` from Conventional Commits) applied to its last
//!    released version, or `--set-version`.
//! 3. **Groups.** Members that share a version (shared mode, members inheriting
//!    `workspace.package.version`, named groups in `convoy.toml`) all take the highest.
//! 4. **Cascade.** A requirement on a member that no longer admits its new version is
//!    rewritten, and its dependent is released too (at least a patch); repeated to a fixpoint.
//!
//! The result is the workspace input with the edits applied (new versions, rewritten
//! requirements), which the rest of the planner plans as usual, plus what the plan records.

pub mod bump;
pub mod changelog;
pub mod conventional;

use std::collections::{BTreeMap, BTreeSet};

use convoy_schema::plan::{
    ChangelogEdit, Diagnostic, Ecosystem, LockfileEdit, ManifestEdit, PackageHistory, Release,
    TagRef,
};
use semver::{Version, VersionReq};
use toml_edit::DocumentMut;

use crate::config::{self, Config, Versioning};
use crate::diagnostics::{diagnostic, Code};
use crate::manifest::{self, DependencyKey, VersionSite};
use crate::model::{DependencySource, Member, WorkspaceInput};
use crate::planning::ROOT_MANIFEST;
use bump::Level;
use conventional::Change;

/// What version planning decided for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the release includes the member. When it does not, `reason` says why.
    pub released: bool,
    /// The version it has after the release's edits (its written one when nothing moves it).
    pub version: Version,
    /// The release's reason, or why the member is not released.
    pub reason: String,
    /// The release record for the plan (released members only).
    pub release: Option<Release>,
    /// Source edits the release makes for this member (its version, its requirements).
    pub edits: Vec<ManifestEdit>,
}

/// Version planning's result.
#[derive(Debug, Clone)]
pub struct Versioned {
    /// The input with every edit applied: versions, manifest texts, requirements.
    pub input: WorkspaceInput,
    /// Per member name.
    pub decisions: BTreeMap<String, Decision>,
    /// `Cargo.lock` changes, sorted by name.
    pub lockfile_edits: Vec<LockfileEdit>,
    /// Configuration problems and version findings.
    pub diagnostics: Vec<Diagnostic>,
    /// Members not released whose version is their last release tag's: evidence that the
    /// version is published, for dependents' checks.
    pub released_versions: BTreeMap<String, Version>,
}

/// What was asked for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Want {
    /// The version the manifest holds.
    Manifest,
    /// A level applied to the last released version.
    Level(Level),
    /// A level from the Conventional Commits since the last tag.
    Auto,
    /// An exact version.
    Set(Version),
}

impl Want {
    fn parse(text: &str) -> Result<Self, String> {
        if text == "auto" {
            return Ok(Self::Auto);
        }
        // A version in either form: semantic, or PEP 440 (`2.0.0a5` is `2.0.0-alpha.5`).
        let version = |text: &str| {
            Version::parse(text)
                .ok()
                .or_else(|| crate::python::version::of_tag(text))
        };
        if let Some(text) = text.strip_prefix('=') {
            return version(text)
                .map(Self::Set)
                .ok_or_else(|| format!("`{text}` is not a version"));
        }
        if let Some(version) = version(text) {
            return Ok(Self::Set(version));
        }
        Level::parse(text)
            .map(Self::Level)
            .map_err(|e| format!("{e}; or `auto`, or a version such as 1.2.3"))
    }
}

/// A package of another ecosystem (a Python project) as version planning sees it: selection,
/// levels, groups, tags and changelogs apply to it as to a member; its own module makes its
/// source edits from the [`Decision`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherPackage {
    /// Its plan key (`python:NAME`): the name decisions, groups, history and changelogs use.
    pub key: String,
    /// Its name in its ecosystem: what `-p NAME` may say and tags are rendered with.
    pub name: String,
    /// Its written version, canonical.
    pub version: Version,
    /// Its version as written (`2.0.0a5`, `1.0`), for reasons.
    pub version_text: String,
    /// Why it can never be released (a private classifier), if so.
    pub unpublishable: Option<String>,
    /// Whether its index already serves the written version.
    pub published: bool,
    /// Its ecosystem, whose form of a version its tags are rendered with.
    pub ecosystem: Ecosystem,
    /// Why it is released for a dependency's move, if its own ecosystem found that a
    /// requirement of it no longer admits a dependency's new version (the cascade).
    pub cascade: Option<String>,
}

/// A package as version planning sees it: a member of the Cargo workspace, or another
/// ecosystem's package.
struct Node<'a> {
    /// The member; `None` for another ecosystem's package.
    member: Option<&'a Member>,
    /// The member's name, or the other package's key.
    name: String,
    /// What `{name}` in a tag template becomes.
    tag_name: String,
    ecosystem: Ecosystem,
    /// The version the sources say.
    written: Version,
    /// ... as they say it.
    written_text: String,
    /// The written version is already in the registry.
    written_published: bool,
    doc: DocumentMut,
    /// Why the member can never be released to this registry, if so.
    unpublishable: Option<String>,
    inherits_version: bool,
    history: Option<&'a PackageHistory>,
    tag_template: String,
    group: usize,
    version: Version,
    released: Option<Why>,
}

impl Node<'_> {
    fn last_tag(&self) -> Option<&TagRef> {
        self.history.and_then(|h| h.last_tag.as_ref())
    }
    fn changed(&self) -> bool {
        self.history
            .is_none_or(|h| h.last_tag.is_none() || !h.changed_files.is_empty())
    }
    /// Whether `text` (from `-p`, `--exclude` or a group) names this package: a member by
    /// its name; another ecosystem's package by its key, or its name as that ecosystem
    /// compares names.
    fn is(&self, text: &str) -> bool {
        if self.member.is_some() {
            return text == self.name;
        }
        text == self.name
            || crate::python::project::normalize(text.strip_prefix("python:").unwrap_or(text))
                == self.tag_name
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Why {
    level: String,
    reason: String,
}

/// A group of members sharing one version.
struct Group {
    label: String,
    members: Vec<usize>,
}

/// A requirement written on a member, as it will be after the rewrites so far.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Site {
    file: String,
    table: Vec<String>,
    key: String,
}

struct Requirement {
    dependent: usize,
    target: usize,
    key: DependencyKey,
    site: Site,
}

/// Plans the versions of `input`'s members and of `others`, the packages of other ecosystems
/// released with them.
pub fn plan_versions(
    input: &WorkspaceInput,
    root: &DocumentMut,
    others: &[OtherPackage],
) -> Versioned {
    let context = &input.release;
    let (config, mut diagnostics) = config::parse(context.config.as_deref());
    let history_of = |name: &str| context.history.as_ref().and_then(|h| h.get(name));
    let mut members: Vec<&Member> = input.members.iter().collect();
    members.sort_by(|a, b| (&a.name, &a.manifest_path).cmp(&(&b.name, &b.manifest_path)));
    let mut nodes: Vec<Node<'_>> = members
        .iter()
        .map(|member| {
            let doc = manifest::parse(&member.manifest_text).unwrap_or_default();
            Node {
                inherits_version: manifest::inherits_version(&doc),
                doc,
                member: Some(member),
                name: member.name.clone(),
                tag_name: member.name.clone(),
                ecosystem: Ecosystem::Cargo,
                written: member.version.clone(),
                written_text: member.version.to_string(),
                written_published: crate::planning::observed(
                    &input.observations.crates,
                    &member.name,
                )
                .is_some_and(|versions| versions.iter().any(|v| v.version == member.version)),
                unpublishable: crate::planning::publish_refusal(member, input),
                history: history_of(&member.name),
                tag_template: config.tag_template(&member.name),
                group: 0,
                version: member.version.clone(),
                released: None,
            }
        })
        .collect();
    nodes.extend(others.iter().map(|other| Node {
        member: None,
        name: other.key.clone(),
        tag_name: other.name.clone(),
        ecosystem: other.ecosystem,
        written: other.version.clone(),
        written_text: other.version_text.clone(),
        written_published: other.published,
        doc: DocumentMut::new(),
        unpublishable: other.unpublishable.clone(),
        inherits_version: false,
        history: history_of(&other.key),
        tag_template: config.tag_template(&other.key),
        group: 0,
        version: other.version.clone(),
        released: None,
    }));
    let groups = assign_groups(&mut nodes, &config, &mut diagnostics);
    let requirements = requirements(&nodes, root);
    let mut texts: BTreeMap<Site, String> = requirements
        .iter()
        .filter_map(|r| {
            let text = site_text(&nodes, root, &r.site)?;
            Some((r.site.clone(), text))
        })
        .collect();

    // 1 and 2: selection and candidates.
    let request = &context.request;
    let global = match request.level.as_deref().map(Want::parse) {
        None => Ok(Want::Manifest),
        Some(parsed) => parsed,
    };
    let global = global.unwrap_or_else(|message| {
        diagnostics.push(diagnostic(
            Code::InvalidBump,
            None,
            format!("--bump/--set-version: {message}"),
            "pass --bump major|minor|patch|prerelease[=ID]|release|auto, or --set-version X.Y.Z",
        ));
        Want::Manifest
    });
    let selection = &input.selection;
    let explicit = !selection.packages.is_empty();
    let mut not_released: BTreeMap<usize, String> = BTreeMap::new();
    for (index, node) in nodes.iter_mut().enumerate() {
        let name = &node.name.clone();
        if let Some(why) = &node.unpublishable {
            not_released.insert(index, why.clone());
            continue;
        }
        if selection.exclude.iter().any(|n| node.is(n)) {
            not_released.insert(index, "excluded with --exclude".to_owned());
            continue;
        }
        let override_ = request
            .packages
            .iter()
            .find(|(n, _)| node.is(n))
            .map(|(_, level)| level);
        let picked = override_.is_some()
            || if explicit {
                selection.packages.iter().any(|n| node.is(n))
            } else {
                request.all || node.changed()
            };
        if !picked {
            let why = if explicit {
                "not selected with --package".to_owned()
            } else {
                match node.last_tag() {
                    Some(tag) => format!("unchanged since {}", tag.name),
                    None => "not selected".to_owned(),
                }
            };
            not_released.insert(index, why);
            continue;
        }
        let want = match override_ {
            Some(text) => Want::parse(text).unwrap_or_else(|message| {
                diagnostics.push(diagnostic(
                    Code::InvalidBump,
                    Some(name),
                    format!("-p {name}={text}: {message}"),
                    "write -p NAME=LEVEL with a level, `auto`, or a version",
                ));
                Want::Manifest
            }),
            None => global.clone(),
        };
        let source = match override_ {
            Some(text) => format!("-p {name}={text}"),
            None => match &request.level {
                Some(level) if level.starts_with('=') => format!("--set-version {}", &level[1..]),
                Some(level) => format!("--bump {level}"),
                None => String::new(),
            },
        };
        let chosen_explicitly = override_.is_some() || explicit || request.all;
        match candidate(node, &want, &source, chosen_explicitly) {
            Ok(Some((version, why))) => {
                node.version = version;
                node.released = Some(why);
            }
            Ok(None) => {
                let tag = node.last_tag().map(|t| t.name.clone()).unwrap_or_default();
                diagnostics.push(diagnostic(
                    Code::UnreleasedChanges,
                    Some(name),
                    format!(
                        "`{name}` changed since {tag} ({}) but its version is still {}; it is not released",
                        changed_summary(node.history),
                        node.written_text
                    ),
                    format!("release it with `convoy-plan --bump auto` (or -p {name}=patch|minor|major)"),
                ));
                not_released.insert(
                    index,
                    format!(
                        "changed since {tag}, but the version is still {} (no --bump)",
                        node.written_text
                    ),
                );
            }
            Err(problem) => {
                diagnostics.push(problem);
                not_released.insert(index, "the requested version cannot be applied".to_owned());
            }
        }
    }

    // Other ecosystems' cascades, found by their modules from an earlier pass.
    let first_other = nodes.len() - others.len();
    for (offset, other) in others.iter().enumerate() {
        if let Some(reason) = &other.cascade {
            cascade(
                &mut nodes,
                first_other + offset,
                reason,
                selection,
                &mut diagnostics,
            );
        }
    }

    // 3 and 4: groups and cascade, to a fixpoint. Versions only rise and each pass releases a
    // member or rewrites a requirement, so the bound is never reached in practice.
    let mut rewrites: BTreeMap<Site, (String, String)> = BTreeMap::new();
    for _ in 0..(nodes.len() * 4 + 8) {
        let mut changed = settle_groups(&mut nodes, &groups, &not_released);
        for requirement in &requirements {
            let target = &nodes[requirement.target];
            if target.version == target.written {
                continue;
            }
            let Some(text) = texts.get(&requirement.site).cloned() else {
                continue;
            };
            let Ok(req) = VersionReq::parse(&text) else {
                continue;
            };
            if req.matches(&target.version) {
                continue;
            }
            let Some(new) = bump::rewrite_requirement(&text, &target.version) else {
                continue;
            };
            let reason = format!(
                "{} {} → {} is outside {}",
                target.name, target.written, target.version, req
            );
            texts.insert(requirement.site.clone(), new.clone());
            rewrites.insert(requirement.site.clone(), (text, new));
            changed = true;
            for dependent in requirements
                .iter()
                .filter(|r| r.site == requirement.site)
                .map(|r| r.dependent)
                .collect::<BTreeSet<_>>()
            {
                changed |= cascade(&mut nodes, dependent, &reason, selection, &mut diagnostics);
            }
        }
        if !changed {
            break;
        }
    }
    for (index, node) in nodes.iter().enumerate() {
        if node.released.is_some() {
            not_released.remove(&index);
        }
    }

    finish(
        input,
        root,
        &config,
        nodes,
        &requirements,
        &rewrites,
        not_released,
        diagnostics,
    )
}

/// Puts every member in its group: the named groups, the members inheriting
/// `workspace.package.version` (they cannot differ), or everything in shared mode.
fn assign_groups(
    nodes: &mut [Node<'_>],
    config: &Config,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<Group> {
    // A member's name first, then another ecosystem's package by its own name.
    let find_named = |name: &str| {
        nodes
            .iter()
            .position(|n| n.name == name)
            .or_else(|| nodes.iter().position(|n| n.is(name)))
    };
    // Union-find over member indices.
    let mut parent: Vec<usize> = (0..nodes.len()).collect();
    fn find(parent: &mut [usize], i: usize) -> usize {
        let mut root = i;
        while parent[root] != root {
            root = parent[root];
        }
        parent[i] = root;
        root
    }
    let union = |parent: &mut Vec<usize>, a: usize, b: usize| {
        let (a, b) = (find(parent, a), find(parent, b));
        if a != b {
            parent[a.max(b)] = a.min(b);
        }
    };
    let mut labels: BTreeMap<usize, String> = BTreeMap::new();
    let inheriting: Vec<usize> = (0..nodes.len())
        .filter(|&i| nodes[i].inherits_version)
        .collect();
    for pair in inheriting.windows(2) {
        union(&mut parent, pair[0], pair[1]);
    }
    if config.versioning == Versioning::Shared {
        let shared: Vec<usize> = (0..nodes.len())
            .filter(|&i| nodes[i].unpublishable.is_none() || nodes[i].inherits_version)
            .collect();
        for pair in shared.windows(2) {
            union(&mut parent, pair[0], pair[1]);
        }
        if let Some(&first) = shared.first() {
            labels.insert(first, "the workspace (shared versioning)".to_owned());
        }
    }
    if let Some(&first) = inheriting.first() {
        labels
            .entry(first)
            .or_insert_with(|| "`workspace.package.version`".to_owned());
    }
    for group in &config.groups {
        let mut found = Vec::new();
        for name in &group.members {
            match find_named(name) {
                Some(i) => found.push(i),
                None => diagnostics.push(diagnostic(
                    Code::ConfigInvalid,
                    None,
                    format!(
                        "{}: group `{}` names `{name}`, which is neither a member of the workspace nor a Python project",
                        config::CONFIG_FILE,
                        group.name
                    ),
                    "correct or remove the name",
                )),
            }
        }
        for pair in found.windows(2) {
            union(&mut parent, pair[0], pair[1]);
        }
        if let Some(&first) = found.first() {
            labels.insert(first, format!("group `{}`", group.name));
        }
    }
    let mut by_root: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for i in 0..nodes.len() {
        by_root.entry(find(&mut parent, i)).or_default().push(i);
    }
    let mut groups = Vec::new();
    for members in by_root.into_values() {
        let label = members
            .iter()
            .find_map(|m| labels.get(m).cloned())
            .unwrap_or_default();
        // A group that shares one template shares one tag: the group's own template wins.
        for &m in &members {
            nodes[m].group = groups.len();
        }
        groups.push(Group { label, members });
    }
    groups
}

/// Every written requirement of a member on another member, with where it is written.
fn requirements(nodes: &[Node<'_>], root: &DocumentMut) -> Vec<Requirement> {
    let index: BTreeMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.name.as_str(), i))
        .collect();
    let mut found = Vec::new();
    for (dependent, node) in nodes.iter().enumerate() {
        let Some(member) = node.member else {
            continue;
        };
        for declared in &member.dependencies {
            let DependencySource::Path {
                member: Some(target),
                ..
            } = &declared.source
            else {
                continue;
            };
            let Some(&target) = index.get(target.as_str()) else {
                continue;
            };
            let key = DependencyKey::of(declared);
            let Some(declaration) = manifest::version_declaration(&node.doc, root, &key) else {
                continue;
            };
            if !declaration.declared {
                continue;
            }
            let site = match declaration.site {
                VersionSite::Member => manifest::requirement_site(
                    &node.doc,
                    &manifest::entry_table_path(&node.doc, &key),
                )
                .map(|s| Site {
                    file: member.manifest_path.clone(),
                    table: s.table,
                    key: s.key,
                }),
                VersionSite::WorkspaceRoot => manifest::requirement_site(
                    root,
                    &[
                        "workspace".to_owned(),
                        "dependencies".to_owned(),
                        key.key.clone(),
                    ],
                )
                .map(|s| Site {
                    file: ROOT_MANIFEST.to_owned(),
                    table: s.table,
                    key: s.key,
                }),
            };
            if let Some(site) = site {
                found.push(Requirement {
                    dependent,
                    target,
                    key,
                    site,
                });
            }
        }
    }
    found
}

fn site_text(nodes: &[Node<'_>], root: &DocumentMut, site: &Site) -> Option<String> {
    let doc = if site.file == ROOT_MANIFEST {
        root
    } else {
        &nodes
            .iter()
            .find(|n| n.member.is_some_and(|m| m.manifest_path == site.file))?
            .doc
    };
    let mut path = site.table.clone();
    path.push(site.key.clone());
    let (last, table) = path.split_last()?;
    let mut scope: &dyn toml_edit::TableLike = doc.as_table();
    for part in table {
        scope = scope.get(part)?.as_table_like()?;
    }
    scope.get(last)?.as_str().map(str::to_owned)
}

/// The version a selected member gets, and why; `None` when nothing asks for a new version
/// and the manifest's is already released.
fn candidate(
    node: &Node<'_>,
    want: &Want,
    source: &str,
    chosen_explicitly: bool,
) -> Result<Option<(Version, Why)>, Diagnostic> {
    let name = &node.name;
    let manifest = &node.written;
    // In reasons, versions as the package's ecosystem writes them.
    let written = &node.written_text;
    let shown = |version: &Version| ecosystem_version(node.ecosystem, version);
    let why = |level: &str, reason: String| Why {
        level: level.to_owned(),
        reason,
    };
    let first_release = || {
        let reason = match node.history {
            Some(_) => format!("first release: no tag matching `{}` yet", node.tag_template),
            None => format!("version {written} as the manifest says (no git history)"),
        };
        why("first-release", reason)
    };
    let level =
        match want {
            Want::Manifest => {
                return Ok(match node.last_tag() {
                    None => Some((manifest.clone(), first_release())),
                    Some(tag) if manifest > &tag.version => Some((
                        manifest.clone(),
                        why(
                            "manifest",
                            format!(
                        "version {written} in the manifest is newer than the last release tag {}",
                        tag.name
                    ),
                        ),
                    )),
                    Some(tag) if chosen_explicitly => Some((
                        manifest.clone(),
                        why(
                            "manifest",
                            format!(
                                "selected; version {written} is the last release tag {}'s",
                                tag.name
                            ),
                        ),
                    )),
                    Some(_) => None,
                })
            }
            Want::Set(version) => {
                if let Some(tag) = node.last_tag() {
                    if version <= &tag.version {
                        return Err(diagnostic(
                            Code::VersionNotGreater,
                            Some(name),
                            format!(
                            "{source}: `{name}` {} is not greater than its last release {} ({})",
                            shown(version), shown(&tag.version), tag.name
                        ),
                            format!("choose a version above {}", shown(&tag.version)),
                        ));
                    }
                }
                return Ok(Some((
                    version.clone(),
                    why("set", format!("set to {} ({source})", shown(version))),
                )));
            }
            Want::Level(level) => (level.clone(), format!("{level} bump ({source})")),
            Want::Auto => {
                let commits = node.history.map(|h| h.commits.as_slice()).unwrap_or(&[]);
                let change = conventional::level_of(
                    commits
                        .iter()
                        .map(|c| conventional::classify(&c.subject, c.breaking_note)),
                );
                let (level, words) = match change {
                    Change::Breaking => (Level::Major, "a breaking change"),
                    Change::Feature => (Level::Minor, "a `feat` commit"),
                    Change::Fix => (Level::Patch, "fixes and other changes"),
                };
                (
                    level.clone(),
                    format!("{level} bump ({source}: {words} since the last tag)"),
                )
            }
        };
    let (level, words) = level;
    let Some(tag) = node.last_tag() else {
        if !node.written_published {
            return Ok(Some((manifest.clone(), first_release())));
        }
        let version = bump::bump(manifest, &level).map_err(|e| invalid_bump(name, source, &e))?;
        return Ok(Some((
            version,
            why(
                &level.to_string(),
                format!("{words}: no release tag, and {written} is already in the registry"),
            ),
        )));
    };
    let target = bump::bump(&tag.version, &level).map_err(|e| invalid_bump(name, source, &e))?;
    if manifest >= &target {
        return Ok(Some((
            manifest.clone(),
            why(
                &level.to_string(),
                format!(
                    "{words} from {} gives {}; the manifest already says {written}",
                    tag.name,
                    shown(&target)
                ),
            ),
        )));
    }
    Ok(Some((
        target,
        why(&level.to_string(), format!("{words} from {}", tag.name)),
    )))
}

fn invalid_bump(name: &str, source: &str, error: &bump::BumpError) -> Diagnostic {
    diagnostic(
        Code::InvalidBump,
        Some(name),
        format!("{source}: `{name}`: {error}"),
        "choose another level for this package with -p NAME=LEVEL, or --set-version",
    )
}

/// Raises every member of a group with a released member to the group's highest version, and
/// releases the publishable ones. Returns whether anything changed.
fn settle_groups(
    nodes: &mut [Node<'_>],
    groups: &[Group],
    not_released: &BTreeMap<usize, String>,
) -> bool {
    let mut changed = false;
    for group in groups.iter().filter(|g| g.members.len() > 1) {
        let released: Vec<usize> = group
            .members
            .iter()
            .copied()
            .filter(|&m| nodes[m].released.is_some())
            .collect();
        let Some(mut version) = released.iter().map(|&m| nodes[m].version.clone()).max() else {
            continue;
        };
        // The shared version must be new for every member: above each one's last release
        // (a patch above it, at least) and not below a first release's manifest version.
        for &m in &group.members {
            let node = &nodes[m];
            let floor = match node.last_tag() {
                Some(tag) if tag.version >= version => {
                    bump::bump(&tag.version, &Level::Patch).unwrap_or_else(|_| tag.version.clone())
                }
                Some(_) => continue,
                None => node.written.clone(),
            };
            version = version.max(floor);
        }
        let leader = released
            .iter()
            .copied()
            .find(|&m| nodes[m].version == version)
            .map(|m| nodes[m].name.clone())
            .unwrap_or_default();
        for &m in &group.members {
            let node = &mut nodes[m];
            if node.version != version {
                node.version = version.clone();
                changed = true;
            }
            let may_release = node.unpublishable.is_none()
                && !not_released
                    .get(&m)
                    .is_some_and(|why| why.starts_with("excluded"));
            if node.released.is_none() && may_release {
                node.released = Some(Why {
                    level: "group".to_owned(),
                    reason: format!("shares the version of {} with `{leader}`", group.label),
                });
                changed = true;
            }
        }
    }
    changed
}

/// Releases `dependent` because a requirement of it was rewritten (at least a patch above its
/// last release). Returns whether anything changed.
fn cascade(
    nodes: &mut [Node<'_>],
    dependent: usize,
    reason: &str,
    selection: &convoy_schema::plan::Selection,
    diagnostics: &mut Vec<Diagnostic>,
) -> bool {
    let node = &mut nodes[dependent];
    let name = node.name.clone();
    if node.unpublishable.is_some() {
        return false;
    }
    if selection.exclude.iter().any(|n| node.is(n)) {
        diagnostics.push(diagnostic(
            Code::CascadeExcluded,
            Some(&name),
            format!("`{name}`'s requirement is rewritten ({reason}), but `{name}` is excluded with --exclude and is not released"),
            format!("release `{name}` too (drop --exclude {name}), or it keeps requiring the old version in the registry"),
        ));
        return false;
    }
    if let Some(why) = &mut node.released {
        // One mention per dependency move, however many requirements name it.
        let moved = reason.split(" is outside ").next().unwrap_or(reason);
        if !why.reason.contains(moved) {
            why.reason
                .push_str(&format!("; requirement rewritten: {reason}"));
        }
        return false;
    }
    let manifest = node.written.clone();
    let version = match node.last_tag() {
        Some(tag) if manifest <= tag.version => {
            bump::bump(&tag.version, &Level::Patch).unwrap_or_else(|_| manifest.clone())
        }
        _ => manifest,
    };
    node.version = version;
    node.released = Some(Why {
        level: "cascade".to_owned(),
        reason: format!("dependency moved: {reason}"),
    });
    true
}

fn changed_summary(history: Option<&PackageHistory>) -> String {
    match history {
        Some(h) if !h.commits.is_empty() => format!(
            "{} commit{}",
            h.commits.len(),
            if h.commits.len() == 1 { "" } else { "s" }
        ),
        Some(h) => format!(
            "{} file{}",
            h.changed_files.len(),
            if h.changed_files.len() == 1 { "" } else { "s" }
        ),
        None => "no history".to_owned(),
    }
}

/// Turns the decided versions and rewrites into edits, applies them to the input, and builds
/// the records the plan keeps.
#[allow(clippy::too_many_arguments)]
fn finish(
    input: &WorkspaceInput,
    root: &DocumentMut,
    config: &Config,
    nodes: Vec<Node<'_>>,
    requirements: &[Requirement],
    rewrites: &BTreeMap<Site, (String, String)>,
    not_released: BTreeMap<usize, String>,
    mut diagnostics: Vec<Diagnostic>,
) -> Versioned {
    let context = &input.release;
    let mut edits: BTreeMap<usize, Vec<ManifestEdit>> = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        // Another ecosystem's module edits its own sources.
        let Some(member) = node.member else {
            continue;
        };
        if node.version == node.written {
            continue;
        }
        let from = node.written.to_string();
        let to = node.version.to_string();
        let edit = if node.inherits_version {
            let previous = root
                .get("workspace")
                .and_then(|w| w.get("package"))
                .and_then(|p| p.get("version"))
                .and_then(toml_edit::Item::as_str)
                .map(str::to_owned);
            ManifestEdit {
                file: ROOT_MANIFEST.to_owned(),
                table: vec!["workspace".to_owned(), "package".to_owned()],
                key: "version".to_owned(),
                value: to.clone(),
                summary: format!("{ROOT_MANIFEST}: `workspace.package.version` {from} → {to}"),
                previous,
            }
        } else {
            let previous = node
                .doc
                .get("package")
                .and_then(|p| p.get("version"))
                .and_then(toml_edit::Item::as_str)
                .map(str::to_owned);
            ManifestEdit {
                file: member.manifest_path.clone(),
                table: vec!["package".to_owned()],
                key: "version".to_owned(),
                value: to.clone(),
                summary: format!("{}: `package.version` {from} → {to}", member.manifest_path),
                previous,
            }
        };
        edits.entry(i).or_default().push(edit);
    }
    for requirement in requirements {
        let Some((from, to)) = rewrites.get(&requirement.site) else {
            continue;
        };
        let target = &nodes[requirement.target].name;
        let site = &requirement.site;
        let edit = ManifestEdit {
            file: site.file.clone(),
            table: site.table.clone(),
            key: site.key.clone(),
            value: to.clone(),
            summary: format!(
                "{}: requirement on `{target}` in [{}] \"{from}\" → \"{to}\"",
                site.file,
                site.table.join(".")
            ),
            previous: Some(from.clone()),
        };
        let list = edits.entry(requirement.dependent).or_default();
        if !list.contains(&edit) {
            list.push(edit);
        }
    }

    // The edited workspace: texts, versions and requirements as the release makes them.
    let mut edited = input.clone();
    let mut root_doc = root.clone();
    let mut member_docs: BTreeMap<String, DocumentMut> = nodes
        .iter()
        .filter_map(|n| Some((n.member?.manifest_path.clone(), n.doc.clone())))
        .collect();
    for edit in edits.values().flatten() {
        let doc = if edit.file == ROOT_MANIFEST {
            &mut root_doc
        } else {
            match member_docs.get_mut(&edit.file) {
                Some(doc) => doc,
                None => continue,
            }
        };
        let _ = manifest::set_string(doc, &edit.table, &edit.key, &edit.value);
    }
    if edits.values().flatten().any(|e| e.file == ROOT_MANIFEST) {
        edited.root_manifest = root_doc.to_string();
    }
    let touched: BTreeSet<&str> = edits.values().flatten().map(|e| e.file.as_str()).collect();
    let versions: BTreeMap<&str, &Version> = nodes
        .iter()
        .map(|n| (n.name.as_str(), &n.version))
        .collect();
    for member in &mut edited.members {
        if touched.contains(member.manifest_path.as_str()) {
            if let Some(doc) = member_docs.get(&member.manifest_path) {
                member.manifest_text = doc.to_string();
            }
        }
        if let Some(version) = versions.get(member.name.as_str()) {
            member.version = (*version).clone();
        }
    }
    for requirement in requirements {
        let Some((_, to)) = rewrites.get(&requirement.site) else {
            continue;
        };
        let Some(dependent) = nodes[requirement.dependent].member else {
            continue;
        };
        let normalized = VersionReq::parse(to).map_or_else(|_| to.clone(), |r| r.to_string());
        if let Some(member) = edited
            .members
            .iter_mut()
            .find(|m| m.manifest_path == dependent.manifest_path)
        {
            for dep in &mut member.dependencies {
                if DependencyKey::of(dep) == requirement.key {
                    dep.req = normalized.clone();
                }
            }
        }
    }

    // The records.
    let mut decisions = BTreeMap::new();
    let mut released_versions = BTreeMap::new();
    for (i, node) in nodes.iter().enumerate() {
        let name = &node.name;
        let member_edits = edits.remove(&i).unwrap_or_default();
        let Some(why) = &node.released else {
            if let Some(tag) = node.last_tag() {
                if tag.version == node.written {
                    released_versions.insert(name.clone(), tag.version.clone());
                }
            }
            decisions.insert(
                name.clone(),
                Decision {
                    released: false,
                    version: node.version.clone(),
                    reason: not_released
                        .get(&i)
                        .cloned()
                        .unwrap_or_else(|| "not selected".to_owned()),
                    release: None,
                    edits: member_edits,
                },
            );
            continue;
        };
        let commits = node.history.map(|h| h.commits.clone()).unwrap_or_default();
        let changelog = context
            .changelogs
            .get(name)
            .filter(|_| config.package(name).changelog)
            .and_then(|(file, _)| {
                let date = context.date.as_deref()?;
                let mut entries: Vec<changelog::Entry<'_>> = commits
                    .iter()
                    .map(|c| changelog::Entry {
                        subject: &c.subject,
                        hash: &c.hash,
                        breaking_note: c.breaking_note,
                    })
                    .collect();
                // Released for a dependency or a group: the reason is the change.
                if entries.is_empty() {
                    entries.push(changelog::Entry {
                        subject: &why.reason,
                        hash: "",
                        breaking_note: false,
                    });
                }
                Some(ChangelogEdit {
                    file: file.clone(),
                    section: changelog::section(&node.version.to_string(), date, &entries),
                })
            });
        decisions.insert(
            name.clone(),
            Decision {
                released: true,
                version: node.version.clone(),
                reason: why.reason.clone(),
                release: Some(Release {
                    previous_version: node.written.clone(),
                    last_tag: node.last_tag().cloned(),
                    level: why.level.clone(),
                    tag: config::render_tag_text(
                        &node.tag_template,
                        &node.tag_name,
                        &ecosystem_version(node.ecosystem, &node.version),
                    ),
                    commits,
                    changelog,
                }),
                edits: member_edits,
            },
        );
    }
    let lockfile_edits = context
        .lockfile
        .as_deref()
        .map(|text| lockfile_edits(text, &nodes))
        .unwrap_or_default();
    crate::diagnostics::sort(&mut diagnostics);
    Versioned {
        input: edited,
        decisions,
        lockfile_edits,
        diagnostics,
        released_versions,
    }
}

/// `version` as `ecosystem` writes it, in tags and reasons: PEP 440 for a Python project.
fn ecosystem_version(ecosystem: Ecosystem, version: &Version) -> String {
    match ecosystem {
        Ecosystem::Python => crate::python::version::pep440_text(version),
        _ => version.to_string(),
    }
}

/// The member versions `Cargo.lock` records that the release changes.
fn lockfile_edits(lockfile: &str, nodes: &[Node<'_>]) -> Vec<LockfileEdit> {
    let Ok(doc) = lockfile.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let Some(packages) = doc
        .get("package")
        .and_then(toml_edit::Item::as_array_of_tables)
    else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for node in nodes
        .iter()
        .filter(|n| n.member.is_some() && n.version != n.written)
    {
        let listed = packages.iter().any(|p| {
            p.get("name").and_then(toml_edit::Item::as_str) == Some(node.name.as_str())
                && p.get("version").and_then(toml_edit::Item::as_str)
                    == Some(node.written.to_string().as_str())
                && !p.contains_key("source")
        });
        if listed {
            found.push(LockfileEdit {
                name: node.name.clone(),
                from: node.written.clone(),
                to: node.version.clone(),
            });
        }
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::plan as make_plan;
    use crate::testing::{member, workspace, PathDep};
    use convoy_schema::plan::{Action, Commit, Plan, ReleaseRequest};

    const NORMAL: convoy_schema::plan::DependencyKind = convoy_schema::plan::DependencyKind::Normal;
    const DEV: convoy_schema::plan::DependencyKind = convoy_schema::plan::DependencyKind::Dev;

    fn v(text: &str) -> Version {
        Version::parse(text).unwrap()
    }

    /// A workspace whose members are all tagged at their versions; `changed` names the members
    /// with changes since, each with the commit subjects given.
    fn tagged(members: Vec<Member>, changed: &[(&str, &[&str])]) -> WorkspaceInput {
        let mut input = workspace(members);
        let mut history = BTreeMap::new();
        for m in &input.members {
            let commits: Vec<Commit> = changed
                .iter()
                .find(|(name, _)| *name == m.name)
                .map(|(_, subjects)| {
                    subjects
                        .iter()
                        .enumerate()
                        .map(|(i, s)| Commit {
                            hash: format!("{i:0>40}"),
                            subject: (*s).to_owned(),
                            breaking_note: false,
                        })
                        .collect()
                })
                .unwrap_or_default();
            let changed_files = if changed.iter().any(|(n, _)| *n == m.name) {
                vec![format!("{}/src/lib.rs", m.name)]
            } else {
                Vec::new()
            };
            history.insert(
                m.name.clone(),
                PackageHistory {
                    last_tag: Some(TagRef {
                        name: format!("{}-v{}", m.name, m.version),
                        version: m.version.clone(),
                        commit: "a".repeat(40),
                    }),
                    changed_files,
                    commits,
                },
            );
        }
        input.release.history = Some(history);
        input.release.date = Some("2026-11-22".to_owned());
        input
    }

    fn bump_all(mut input: WorkspaceInput, level: &str) -> WorkspaceInput {
        input.release.request = ReleaseRequest {
            level: Some(level.to_owned()),
            ..ReleaseRequest::default()
        };
        input
    }

    /// (action, version, how) of `name`.
    fn outcome(plan: &Plan, name: &str) -> (Action, String, String) {
        let p = plan.package(name).unwrap();
        (
            p.action,
            p.version.to_string(),
            p.release
                .as_ref()
                .map(|r| r.level.clone())
                .unwrap_or_default(),
        )
    }

    fn released(plan: &Plan) -> Vec<(String, String)> {
        plan.packages
            .iter()
            .filter(|p| p.action == Action::Publish)
            .map(|p| (p.name.clone(), p.version.to_string()))
            .collect()
    }

    fn one(version: &str) -> WorkspaceInput {
        tagged(vec![member("a", version, &[], "")], &[("a", &["fix: x"])])
    }

    #[test]
    fn every_level_on_stable_zero_and_prerelease_versions() {
        let cases = [
            ("1.2.3", "major", "2.0.0"),
            ("1.2.3", "minor", "1.3.0"),
            ("1.2.3", "patch", "1.2.4"),
            ("1.2.3", "prerelease", "1.2.4-alpha.1"),
            ("1.2.3", "prerelease=rc", "1.2.4-rc.1"),
            ("0.2.3", "major", "0.3.0"),
            ("0.2.3", "minor", "0.2.4"),
            ("0.2.3", "patch", "0.2.4"),
            ("0.0.3", "major", "0.0.4"),
            ("0.0.3", "minor", "0.0.4"),
            ("2.0.0-alpha.4", "prerelease", "2.0.0-alpha.5"),
            ("2.0.0-alpha.4", "prerelease=beta", "2.0.0-beta.1"),
            ("2.0.0-alpha.4", "release", "2.0.0"),
            ("2.0.0-alpha.4", "major", "2.0.0"),
            ("1.3.0-rc.1", "minor", "1.3.0"),
            ("1.2.3", "=1.5.0", "1.5.0"),
        ];
        for (from, level, to) in cases {
            let plan = make_plan(&bump_all(one(from), level)).unwrap();
            assert_eq!(outcome(&plan, "a").1, to, "{from} + {level}");
            assert_eq!(plan.package("a").unwrap().action, Action::Publish);
            let release = plan.package("a").unwrap().release.clone().unwrap();
            assert_eq!(release.previous_version, v(from));
            assert_eq!(release.tag, format!("a-v{to}"));
            assert_eq!(
                plan.package("a").unwrap().manifest.edits[0].summary,
                format!("a/Cargo.toml: `package.version` {from} → {to}")
            );
        }
    }

    #[test]
    fn impossible_levels_are_coded_errors() {
        for (from, level, code) in [
            ("1.2.3", "release", "invalid-bump"),
            ("2.0.0-beta.2", "prerelease=alpha", "invalid-bump"),
            ("1.2.3", "=1.2.3", "version-not-greater"),
            ("1.2.3", "=1.0.0", "version-not-greater"),
            ("1.2.3", "sideways", "invalid-bump"),
        ] {
            let plan = make_plan(&bump_all(one(from), level)).unwrap();
            assert!(plan.has_errors(), "{from} + {level}");
            assert!(
                plan.diagnostics.iter().any(|d| d.code == code),
                "{from} + {level}: {:?}",
                plan.diagnostics
            );
        }
    }

    #[test]
    fn independent_mode_releases_only_what_changed() {
        let input = tagged(
            vec![member("a", "1.0.0", &[], ""), member("b", "1.0.0", &[], "")],
            &[("a", &["fix: x"])],
        );
        let plan = make_plan(&bump_all(input, "minor")).unwrap();
        assert_eq!(released(&plan), [("a".to_owned(), "1.1.0".to_owned())]);
        let b = plan.package("b").unwrap();
        assert_eq!(b.action, Action::Excluded);
        assert_eq!(b.reason, "unchanged since b-v1.0.0");
        assert!(b.manifest.edits.is_empty());
    }

    #[test]
    fn without_a_level_a_changed_package_is_not_released_and_says_why() {
        let input = tagged(vec![member("a", "1.0.0", &[], "")], &[("a", &["fix: x"])]);
        let plan = make_plan(&input).unwrap();
        assert!(released(&plan).is_empty());
        let warning = plan
            .diagnostics
            .iter()
            .find(|d| d.code == "unreleased-changes");
        assert!(warning.unwrap().message.contains("1 commit"), "{warning:?}");
        // Bumped by hand: the manifest's version is released as written.
        let input = tagged(vec![member("a", "1.0.0", &[], "")], &[("a", &["fix: x"])]);
        let mut bumped = input.clone();
        bumped.members[0] = member("a", "1.1.0", &[], "");
        let plan = make_plan(&bumped).unwrap();
        assert_eq!(
            outcome(&plan, "a"),
            (Action::Publish, "1.1.0".into(), "manifest".into())
        );
        assert!(plan.package("a").unwrap().manifest.edits.is_empty());
    }

    #[test]
    fn a_bump_already_applied_is_not_applied_twice() {
        let mut input = bump_all(one("1.0.0"), "minor");
        input.members[0] = member("a", "1.1.0", &[], "");
        let plan = make_plan(&input).unwrap();
        assert_eq!(outcome(&plan, "a").1, "1.1.0");
        assert!(plan.package("a").unwrap().manifest.edits.is_empty());
    }

    #[test]
    fn auto_reads_conventional_commits() {
        for (subjects, to) in [
            (&["fix: a", "docs: b"][..], "1.0.1"),
            (&["fix: a", "feat(x): b"][..], "1.1.0"),
            (&["feat!: drop it", "fix: a"][..], "2.0.0"),
            (&["Update README"][..], "1.0.1"),
        ] {
            let input = tagged(vec![member("a", "1.0.0", &[], "")], &[("a", subjects)]);
            let plan = make_plan(&bump_all(input, "auto")).unwrap();
            assert_eq!(outcome(&plan, "a").1, to, "{subjects:?}");
            assert_eq!(
                plan.package("a")
                    .unwrap()
                    .release
                    .as_ref()
                    .unwrap()
                    .commits
                    .len(),
                subjects.len()
            );
        }
        let mut input = tagged(
            vec![member("a", "1.0.0", &[], "")],
            &[("a", &["refactor: x"])],
        );
        if let Some(history) = &mut input.release.history {
            history.get_mut("a").unwrap().commits[0].breaking_note = true;
        }
        assert_eq!(
            outcome(&make_plan(&bump_all(input, "auto")).unwrap(), "a").1,
            "2.0.0"
        );
    }

    #[test]
    fn per_package_levels_add_to_the_selection() {
        let mut input = tagged(
            vec![member("a", "1.0.0", &[], ""), member("b", "1.0.0", &[], "")],
            &[("a", &["fix: x"])],
        );
        input.release.request.level = Some("patch".to_owned());
        input
            .release
            .request
            .packages
            .insert("b".to_owned(), "major".to_owned());
        let plan = make_plan(&input).unwrap();
        assert_eq!(
            released(&plan),
            [
                ("a".to_owned(), "1.0.1".to_owned()),
                ("b".to_owned(), "2.0.0".to_owned())
            ]
        );
    }

    #[test]
    fn shared_mode_gives_everything_one_version_and_one_tag() {
        let mut input = tagged(
            vec![
                member("a", "1.0.0", &[], ""),
                member("b", "1.0.0", &[], ""),
                member("c", "1.0.0", &[], ""),
            ],
            &[("a", &["feat: x"]), ("b", &["fix: y"])],
        );
        input.release.config = Some("versioning = \"shared\"\n".to_owned());
        for history in input.release.history.as_mut().unwrap().values_mut() {
            let tag = history.last_tag.as_mut().unwrap();
            tag.name = "v1.0.0".to_owned();
        }
        let plan = make_plan(&bump_all(input, "auto")).unwrap();
        assert_eq!(
            released(&plan),
            [
                ("a".into(), "1.1.0".into()),
                ("b".into(), "1.1.0".into()),
                ("c".into(), "1.1.0".into())
            ]
        );
        for name in ["a", "b", "c"] {
            assert_eq!(
                plan.package(name).unwrap().release.as_ref().unwrap().tag,
                "v1.1.0"
            );
        }
        assert_eq!(outcome(&plan, "c").2, "group");
        assert_eq!(crate::apply::release_tags(&plan).len(), 1);
    }

    #[test]
    fn inheriting_the_workspace_version_implies_one_shared_version_and_one_root_edit() {
        let inherit = |m: Member| Member {
            manifest_text: m
                .manifest_text
                .replace("version = \"0.2.0\"", "version.workspace = true"),
            ..m
        };
        let mut input = tagged(
            vec![
                inherit(member("a", "0.2.0", &[], "")),
                inherit(member("b", "0.2.0", &[], "")),
                member("c", "0.2.0", &[], ""),
            ],
            &[("a", &["feat!: x"])],
        );
        input
            .root_manifest
            .push_str("\n[workspace.package]\nversion = \"0.2.0\"\n");
        let plan = make_plan(&bump_all(input, "auto")).unwrap();
        assert_eq!(
            released(&plan),
            [("a".into(), "0.3.0".into()), ("b".into(), "0.3.0".into())]
        );
        let edits: Vec<&str> = crate::edits::manifest_edits(&plan)
            .iter()
            .map(|e| e.summary.as_str())
            .collect();
        assert_eq!(
            edits,
            ["Cargo.toml: `workspace.package.version` 0.2.0 → 0.3.0"]
        );
    }

    #[test]
    fn named_groups_always_share_a_version() {
        let mut input = tagged(
            vec![
                member("a", "1.0.0", &[], ""),
                member("b", "1.4.0", &[], ""),
                member("c", "1.0.0", &[], ""),
            ],
            &[("a", &["feat: x"])],
        );
        input.release.config = Some("[groups.pair]\nmembers = [\"a\", \"b\"]\n".to_owned());
        let plan = make_plan(&bump_all(input, "auto")).unwrap();
        // a's minor bump gives 1.1.0, but b was released as 1.4.0: the shared version has to
        // be new for b too, so it is a patch above b's last release.
        assert_eq!(
            released(&plan),
            [("a".into(), "1.4.1".into()), ("b".into(), "1.4.1".into())]
        );
        assert_eq!(outcome(&plan, "b").2, "group");
        assert!(!plan.has_errors(), "{:?}", plan.diagnostics);
    }

    #[test]
    fn cascade_through_a_chain() {
        // c requires b exactly, b requires a ^0.2; a's breaking bump moves b, b's patch moves c.
        let deps_b: &[PathDep<'_>] = &[("a", NORMAL, Some("0.2"))];
        let deps_c: &[PathDep<'_>] = &[("b", NORMAL, Some("=0.2.0"))];
        let input = tagged(
            vec![
                member("a", "0.2.0", &[], ""),
                member("b", "0.2.0", deps_b, ""),
                member("c", "0.2.0", deps_c, ""),
                member("d", "0.2.0", &[], ""),
            ],
            &[("a", &["feat!: break"])],
        );
        let plan = make_plan(&bump_all(input, "auto")).unwrap();
        assert_eq!(
            released(&plan),
            [
                ("a".into(), "0.3.0".into()),
                ("b".into(), "0.2.1".into()),
                ("c".into(), "0.2.1".into())
            ]
        );
        let b = plan.package("b").unwrap();
        assert!(
            b.reason.contains("a 0.2.0 → 0.3.0 is outside ^0.2"),
            "{}",
            b.reason
        );
        assert_eq!(b.release.as_ref().unwrap().level, "cascade");
        let edits: Vec<&str> = crate::edits::manifest_edits(&plan)
            .iter()
            .map(|e| e.summary.as_str())
            .collect();
        assert!(
            edits.contains(
                &"b/Cargo.toml: requirement on `a` in [dependencies.a] \"0.2\" → \"0.3\""
            ),
            "{edits:?}"
        );
        assert!(
            edits.contains(
                &"c/Cargo.toml: requirement on `b` in [dependencies.b] \"=0.2.0\" → \"=0.2.1\""
            ),
            "{edits:?}"
        );
        assert!(!plan.has_errors(), "{:?}", plan.diagnostics);
    }

    #[test]
    fn cascade_through_a_diamond_releases_the_bottom_once() {
        let on_a: &[PathDep<'_>] = &[("a", NORMAL, Some("1"))];
        let on_bc: &[PathDep<'_>] = &[("b", NORMAL, Some("=1.0.0")), ("c", NORMAL, Some("=1.0.0"))];
        let input = tagged(
            vec![
                member("a", "1.0.0", &[], ""),
                member("b", "1.0.0", on_a, ""),
                member("c", "1.0.0", on_a, ""),
                member("d", "1.0.0", on_bc, ""),
            ],
            &[("a", &["feat!: break"])],
        );
        let plan = make_plan(&bump_all(input, "auto")).unwrap();
        assert_eq!(
            released(&plan),
            [
                ("a".into(), "2.0.0".into()),
                ("b".into(), "1.0.1".into()),
                ("c".into(), "1.0.1".into()),
                ("d".into(), "1.0.1".into())
            ]
        );
        assert_eq!(
            plan.waves,
            [
                vec!["a".to_owned()],
                vec!["b".into(), "c".into()],
                vec!["d".into()]
            ]
        );
        let d = plan.package("d").unwrap();
        assert!(
            d.reason.contains("b 1.0.0 → 1.0.1") && d.reason.contains("c 1.0.0 → 1.0.1"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn a_compatible_requirement_does_not_cascade_and_dev_dependencies_count() {
        let on_a: &[PathDep<'_>] = &[("a", NORMAL, Some("1.0"))];
        let dev_on_a: &[PathDep<'_>] = &[("a", DEV, Some("1.0"))];
        let input = tagged(
            vec![
                member("a", "1.0.0", &[], ""),
                member("b", "1.0.0", on_a, ""),
                member("t", "1.0.0", dev_on_a, ""),
            ],
            &[("a", &["feat: add"])],
        );
        let plan = make_plan(&bump_all(input.clone(), "auto")).unwrap();
        assert_eq!(released(&plan), [("a".into(), "1.1.0".into())]);
        let plan = make_plan(&bump_all(input, "major")).unwrap();
        assert_eq!(
            released(&plan),
            [
                ("a".into(), "2.0.0".into()),
                ("b".into(), "1.0.1".into()),
                ("t".into(), "1.0.1".into())
            ]
        );
    }

    #[test]
    fn an_excluded_dependent_gets_its_requirement_rewritten_and_a_warning() {
        let on_a: &[PathDep<'_>] = &[("a", NORMAL, Some("1"))];
        let mut input = tagged(
            vec![
                member("a", "1.0.0", &[], ""),
                member("b", "1.0.0", on_a, ""),
                member("x", "1.0.0", on_a, "publish = false\n"),
            ],
            &[("a", &["feat!: break"])],
        );
        input.selection.exclude = vec!["b".to_owned()];
        let plan = make_plan(&bump_all(input, "auto")).unwrap();
        assert_eq!(released(&plan), [("a".into(), "2.0.0".into())]);
        assert!(plan
            .diagnostics
            .iter()
            .any(|d| d.code == "cascade-excluded"));
        // The never-published member's requirement is rewritten too, so the workspace resolves.
        assert_eq!(plan.package("x").unwrap().manifest.edits.len(), 1);
    }

    #[test]
    fn untagged_packages_are_first_releases_at_their_manifest_version() {
        let mut input = workspace(vec![member("a", "0.1.0", &[], "")]);
        input.release.history = Some(BTreeMap::from([(
            "a".to_owned(),
            PackageHistory::default(),
        )]));
        let plan = make_plan(&bump_all(input, "minor")).unwrap();
        assert_eq!(
            outcome(&plan, "a"),
            (Action::Publish, "0.1.0".into(), "first-release".into())
        );
    }

    #[test]
    fn changelog_sections_use_the_commit_date_and_the_commits() {
        let mut input = tagged(
            vec![member("a", "1.0.0", &[], "")],
            &[("a", &["feat(api): add `x`", "fix: y"])],
        );
        input.release.changelogs.insert(
            "a".into(),
            ("a/CHANGELOG.md".into(), "# Changelog\n".into()),
        );
        let plan = make_plan(&bump_all(input, "auto")).unwrap();
        let changelog = plan
            .package("a")
            .unwrap()
            .release
            .as_ref()
            .unwrap()
            .changelog
            .clone()
            .unwrap();
        assert_eq!(changelog.file, "a/CHANGELOG.md");
        assert!(
            changelog.section.starts_with("## [1.1.0] - 2026-11-22\n"),
            "{}",
            changelog.section
        );
        assert!(
            changelog
                .section
                .contains("### Added\n\n- **api:** add `x` (0000000)"),
            "{}",
            changelog.section
        );
        let digest = &plan.inputs.release.as_ref().unwrap().changelogs["a/CHANGELOG.md"];
        assert!(digest.starts_with("sha256:"));
    }

    #[test]
    fn configuration_problems_are_plan_errors_not_panics() {
        let mut input = one("1.0.0");
        input.release.config = Some("versioning = [\n".to_owned());
        let plan = make_plan(&input).unwrap();
        assert!(plan.diagnostics.iter().any(|d| d.code == "config-invalid"));
        assert!(plan.has_errors());
    }

    /// A workspace tagged as [`tagged`] says, with Python projects (dir, pyproject, version
    /// file) tagged at their versions; `changed` names the changed ones by key.
    fn with_python(
        members: Vec<Member>,
        projects: Vec<crate::python::PythonProject>,
        changed: &[&str],
    ) -> WorkspaceInput {
        let mut input = tagged(members, &[]);
        let history = input.release.history.as_mut().unwrap();
        for project in &projects {
            let read = crate::python::project::read(project, &mut Vec::new()).unwrap();
            let key = format!("python:{}", read.normalized);
            let pep440 = read.version.unwrap();
            history.insert(
                key.clone(),
                PackageHistory {
                    last_tag: Some(TagRef {
                        name: format!("{}-v{pep440}", read.normalized),
                        version: crate::python::version::canonical(&pep440).unwrap(),
                        commit: "a".repeat(40),
                    }),
                    changed_files: if changed.contains(&key.as_str()) {
                        vec![format!("{}/src/x.py", project.dir)]
                    } else {
                        Vec::new()
                    },
                    commits: Vec::new(),
                },
            );
        }
        input.python = Some(crate::model::PythonInput {
            projects,
            target: convoy_schema::python::PythonTarget {
                index: "http://127.0.0.1:1/simple/".into(),
            },
            observations: BTreeMap::new(),
            source: convoy_schema::plan::ObservationSource::Absent,
            pin: crate::config::Pin::Exact,
        });
        input
    }

    fn pyproject(
        dir: &str,
        name: &str,
        version: Option<&str>,
        deps: &str,
    ) -> crate::python::PythonProject {
        let version_line = match version {
            Some(v) => format!("version = \"{v}\"\n"),
            None => "dynamic = [\"version\"]\n".to_owned(),
        };
        crate::python::PythonProject {
            dir: dir.into(),
            pyproject: format!(
                "[project]\nname = \"{name}\"\n{version_line}description = \"d\"\nreadme = \"README.md\"\nlicense = \"MIT\"\ndependencies = [{deps}]\n"
            ),
            version_file: version
                .is_none()
                .then(|| (format!("{dir}/src/{name}/__init__.py"), "__version__ = \"0.4.0rc1\"\n".into())),
        }
    }

    #[test]
    fn versions_are_read_in_either_form() {
        assert_eq!(Want::parse("2.0.0a5"), Ok(Want::Set(v("2.0.0-alpha.5"))));
        assert_eq!(Want::parse("=2.0.0-rc.1"), Ok(Want::Set(v("2.0.0-rc.1"))));
        assert_eq!(Want::parse("minor"), Ok(Want::Level(Level::Minor)));
        assert!(Want::parse("=next")
            .unwrap_err()
            .contains("`next` is not a version"));
        assert!(Want::parse("1.0+local").is_err());
    }

    #[test]
    fn python_projects_take_levels_groups_and_tags_like_members() {
        let mut input = with_python(
            vec![member("core", "1.0.0", &[], "")],
            vec![
                pyproject("py/app", "app-py", Some("2.0.0a5"), "\"lib-py\""),
                pyproject("py/lib", "lib_py", None, ""),
                pyproject("py/bind", "bind-py", Some("1.0.0"), ""),
                pyproject("py/idle", "idle-py", Some("3.0.0"), ""),
            ],
            &["python:app-py", "python:lib-py"],
        );
        // `core` and the bindings share a version across ecosystems.
        input.release.config =
            Some("[groups.bindings]\nmembers = [\"core\", \"python:bind-py\"]\n".to_owned());
        input.release.request = ReleaseRequest {
            level: Some("prerelease".to_owned()),
            packages: [
                ("core".to_owned(), "minor".to_owned()),
                ("lib-py".to_owned(), "release".to_owned()),
            ]
            .into(),
            ..ReleaseRequest::default()
        };
        let plan = make_plan(&input).unwrap();
        let shown = |key: &str| {
            let p = plan.package(key).unwrap();
            (
                p.action,
                p.python
                    .as_ref()
                    .map_or(p.version.to_string(), |py| py.version.clone()),
                p.release.as_ref().map(|r| (r.level.clone(), r.tag.clone())),
            )
        };
        let released = |version: &str, level: &str, tag: &str| {
            (
                Action::Publish,
                version.to_owned(),
                Some((level.to_owned(), tag.to_owned())),
            )
        };
        assert_eq!(
            shown("python:app-py"),
            released("2.0.0a6", "prerelease", "app-py-v2.0.0a6")
        );
        assert_eq!(
            shown("python:lib-py"),
            released("0.4.0", "release", "lib-py-v0.4.0")
        );
        assert_eq!(shown("core"), released("1.1.0", "minor", "core-v1.1.0"));
        assert_eq!(
            shown("python:bind-py"),
            released("1.1.0", "group", "bind-py-v1.1.0")
        );
        let idle = plan.package("python:idle-py").unwrap();
        assert_eq!(
            (idle.action, idle.reason.as_str()),
            (Action::Excluded, "unchanged since idle-py-v3.0.0")
        );
        // The edits: `project.version`, or the `__version__` a dynamic version comes from;
        // what is published carries the new version and the pin on it.
        let app = plan.package("python:app-py").unwrap();
        assert_eq!(
            app.reason,
            "prerelease bump (--bump prerelease) from app-py-v2.0.0a5; 2.0.0a6 (the index was not read)"
        );
        assert_eq!(
            app.manifest
                .edits
                .iter()
                .map(|e| e.summary.as_str())
                .collect::<Vec<_>>(),
            ["py/app/pyproject.toml: `project.version` 2.0.0a5 → 2.0.0a6"]
        );
        let published: toml_edit::DocumentMut = app.manifest.published.parse().unwrap();
        assert_eq!(published["project"]["version"].as_str(), Some("2.0.0a6"));
        assert_eq!(
            published["project"]["dependencies"][0].as_str(),
            Some("lib-py==0.4.0")
        );
        let lib = plan.package("python:lib-py").unwrap();
        assert_eq!(
            lib.manifest.edits,
            [ManifestEdit {
                file: "py/lib/src/lib_py/__init__.py".into(),
                table: Vec::new(),
                key: "__version__".into(),
                value: "0.4.0".into(),
                summary: "py/lib/src/lib_py/__init__.py: `__version__` 0.4.0rc1 → 0.4.0".into(),
                previous: Some("0.4.0rc1".into()),
            }]
        );
        // `convoy-plan apply` writes the same edits into the tree.
        let mut tree: BTreeMap<String, String> = input
            .members
            .iter()
            .map(|m| (m.manifest_path.clone(), m.manifest_text.clone()))
            .collect();
        for project in &input.python.as_ref().unwrap().projects {
            tree.insert(project.manifest_path(), project.pyproject.clone());
            tree.extend(project.version_file.clone());
        }
        let edited = crate::edits::edited_files(&plan, |file| {
            tree.get(file)
                .cloned()
                .ok_or(format!("{file} is not in the tree"))
        })
        .unwrap();
        assert_eq!(
            edited.keys().collect::<Vec<_>>(),
            [
                "core/Cargo.toml",
                "py/app/pyproject.toml",
                "py/bind/pyproject.toml",
                "py/lib/src/lib_py/__init__.py"
            ]
        );
        assert_eq!(
            edited["py/lib/src/lib_py/__init__.py"],
            "__version__ = \"0.4.0\"\n"
        );
        assert!(edited["py/bind/pyproject.toml"].contains("version = \"1.1.0\"\n"));
        assert_eq!(plan.inconsistency(), None);
    }

    #[test]
    fn python_versions_in_reasons_and_diagnostics_are_pep_440() {
        let mut input = with_python(
            Vec::new(),
            vec![
                pyproject("py/a", "a-py", Some("3.0"), ""),
                pyproject("py/b", "b-py", Some("1.0rc1"), ""),
            ],
            &["python:b-py"],
        );
        input.release.request = ReleaseRequest {
            packages: [
                ("a-py".to_owned(), "2.0.0rc1".to_owned()),
                ("b-py".to_owned(), "=1.0.0-rc.2".to_owned()),
            ]
            .into(),
            ..ReleaseRequest::default()
        };
        let plan = make_plan(&input).unwrap();
        let refused = plan
            .diagnostics
            .iter()
            .find(|d| d.code == "version-not-greater")
            .unwrap();
        assert_eq!(
            refused.message,
            "-p python:a-py=2.0.0rc1: `python:a-py` 2.0.0rc1 is not greater than its last release 3.0.0 (a-py-v3.0)"
        );
        assert_eq!(
            plan.package("python:b-py").unwrap().reason,
            "set to 1.0.0rc2 (-p python:b-py==1.0.0-rc.2); 1.0.0rc2 (the index was not read)"
        );
    }

    #[test]
    fn a_python_requirement_left_behind_by_a_move_is_rewritten_and_its_project_released() {
        let mut input = with_python(
            Vec::new(),
            vec![
                pyproject("py/core", "core-py", Some("1.0.0"), ""),
                pyproject(
                    "py/user",
                    "user-py",
                    Some("2.0.0"),
                    "\"core-py[fast]~=1.0.0; os_name != 'nt'\"",
                ),
                pyproject("py/next", "next-py", Some("0.1.0"), "\"user-py>=2,<2.0.1\""),
                pyproject("py/kept", "kept-py", Some("1.0.0"), "\"core-py>=1\""),
                pyproject("py/held", "held-py", Some("1.0.0"), "\"core-py==1.0.0\""),
            ],
            &[],
        );
        input.release.request = ReleaseRequest {
            packages: [("core-py".to_owned(), "minor".to_owned())].into(),
            ..ReleaseRequest::default()
        };
        input.selection.exclude = vec!["held-py".to_owned()];
        let plan = make_plan(&input).unwrap();
        let shown = |key: &str| {
            let p = plan.package(key).unwrap();
            (
                p.action,
                p.python.as_ref().unwrap().version.clone(),
                p.release
                    .as_ref()
                    .map(|r| r.level.clone())
                    .unwrap_or_default(),
            )
        };
        assert_eq!(
            shown("python:core-py"),
            (Action::Publish, "1.1.0".into(), "minor".into())
        );
        // `~=1.0.0` does not admit 1.1.0: rewritten in its style (`~=1.1.0`), and `user-py`
        // released a patch above its
        // tag; which moves `user-py` out of `next-py`'s range in turn.
        assert_eq!(
            shown("python:user-py"),
            (Action::Publish, "2.0.1".into(), "cascade".into())
        );
        assert_eq!(
            shown("python:next-py"),
            (Action::Publish, "0.1.1".into(), "cascade".into())
        );
        assert_eq!(shown("python:kept-py").0, Action::Excluded);
        let user = plan.package("python:user-py").unwrap();
        assert_eq!(
            user.reason,
            "dependency moved: core-py 1.0.0 → 1.1.0 is outside `~=1.0.0`; 2.0.1 (the index was not read)"
        );
        let rewrite = &user.manifest.edits[1];
        assert_eq!(
            (
                rewrite.table.join("."),
                rewrite.key.as_str(),
                rewrite.value.as_str()
            ),
            (
                "project.dependencies".to_owned(),
                "0",
                "core-py[fast]~=1.1.0; os_name != 'nt'"
            )
        );
        let published: toml_edit::DocumentMut = user.manifest.published.parse().unwrap();
        assert_eq!(
            published["project"]["dependencies"][0].as_str(),
            Some("core-py[fast]~=1.1.0; os_name != 'nt'")
        );
        // The tree gets the same rewrite from `convoy-plan apply`.
        let project = &input.python.as_ref().unwrap().projects[1];
        let edited = crate::edits::edited_files(&plan, |file| {
            input
                .python
                .as_ref()
                .unwrap()
                .projects
                .iter()
                .find(|p| p.manifest_path() == file)
                .map(|p| p.pyproject.clone())
                .ok_or("not in the tree")
        })
        .unwrap();
        assert!(edited[&project.manifest_path()]
            .contains("dependencies = [\"core-py[fast]~=1.1.0; os_name != 'nt'\"]"));
        // An excluded dependent is left behind, with a diagnostic.
        assert!(plan.diagnostics.iter().any(
            |d| d.code == "cascade-excluded" && d.package.as_deref() == Some("python:held-py")
        ));
        assert_eq!(plan.inconsistency(), None);
    }
}
