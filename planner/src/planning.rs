//! The planner core: a [`WorkspaceInput`] in, a sealed [`Plan`] out. No IO.
//!
//! Decisions are made in this order: each member's action (publish, skip, excluded); where each
//! internal dependency's version is written and which versions the plan must add; the ordering
//! edges and their waves; then the preflight checks. Members are sorted first, so the plan does
//! not depend on the order the input lists them in.

use std::collections::{BTreeMap, BTreeSet};

use convoy_schema::digest::sha256_digest;
use convoy_schema::plan::{
    Action, DependencyKind, Diagnostic, Ecosystem, Inputs, ManifestEdit, ManifestPlan,
    ObservationSource, Observations, Package, PackageDependency, Plan, ReleaseInputs, Selection,
    Severity, PLAN_FORMAT_VERSION,
};
use convoy_schema::snapshot::{CrateObservations, ObservedVersion};
use semver::VersionReq;
use toml_edit::DocumentMut;

use crate::diagnostics::{self, diagnostic, Code};
use crate::graph;
use crate::manifest::{self, DependencyKey, VersionDeclaration, VersionSite};
use crate::model::{DependencySource, GitState, Member, WorkspaceInput};
use crate::versioning::{self, Versioned};

/// Path of the root manifest relative to the workspace root.
pub const ROOT_MANIFEST: &str = "Cargo.toml";

/// Why no plan could be made from the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanningError {
    /// A manifest is not valid TOML.
    #[error("{file} is not valid TOML: {message}")]
    ManifestSyntax {
        /// The manifest, relative to the workspace root.
        file: String,
        /// The parser's message.
        message: String,
    },
}

/// A member with its parsed manifest and decided action.
struct Entry<'a> {
    decision: Option<&'a versioning::Decision>,
    member: &'a Member,
    doc: DocumentMut,
    action: Action,
    reason: String,
    internal: Vec<InternalDependency<'a>>,
}

/// A dependency of a member on another member, with its version as it will be published.
struct InternalDependency<'a> {
    declared: &'a crate::model::DeclaredDependency,
    target: usize,
    key: DependencyKey,
    declaration: VersionDeclaration,
    requirement: Option<String>,
}

impl InternalDependency<'_> {
    fn version_added(&self) -> bool {
        !self.declaration.declared && self.requirement.is_some()
    }
}

/// Builds the plan for `input`.
pub fn plan(input: &WorkspaceInput) -> Result<Plan, PlanningError> {
    let original_root =
        manifest::parse(&input.root_manifest).map_err(|e| PlanningError::ManifestSyntax {
            file: ROOT_MANIFEST.to_owned(),
            message: e.message,
        })?;
    for member in &input.members {
        manifest::parse(&member.manifest_text).map_err(|e| PlanningError::ManifestSyntax {
            file: member.manifest_path.clone(),
            message: e.message,
        })?;
    }
    // Python projects take part in version planning with the members (levels, groups, tags),
    // and are planned into the plan the workspace gave.
    let python = input
        .python
        .as_ref()
        .map(|python| (python, crate::python::plan::read(python)));
    // A Python requirement that no longer admits a dependency's new version releases its
    // project too (the cascade), which may move further versions: repeated to a fixpoint,
    // each pass releasing at least one more project.
    let mut cascades = BTreeMap::new();
    let mut versioned;
    loop {
        let others = python
            .as_ref()
            .map(|(input, read)| read.versionable(input, &cascades))
            .unwrap_or_default();
        versioned = versioning::plan_versions(input, &original_root, &others);
        let Some((_, read)) = &python else {
            break;
        };
        let found = read.cascades(&versioned);
        if found.keys().all(|key| cascades.contains_key(key)) {
            break;
        }
        for (key, reason) in found {
            cascades.entry(key).or_insert(reason);
        }
    }
    let mut original: Vec<&Member> = input.members.iter().collect();
    original.sort_by(|a, b| (&a.name, &a.manifest_path).cmp(&(&b.name, &b.manifest_path)));
    let mut plan = plan_edited(&versioned, inputs(input, &original))?;
    if let Some((python, read)) = python {
        crate::python::plan::add(&mut plan, read, python, &versioned);
    }
    Ok(plan)
}

/// Plans the workspace as the release edits leave it; `recorded` are the inputs as read, before
/// any edit.
fn plan_edited(versioned: &Versioned, recorded: Inputs) -> Result<Plan, PlanningError> {
    let input = &versioned.input;
    let root =
        manifest::parse(&input.root_manifest).map_err(|e| PlanningError::ManifestSyntax {
            file: ROOT_MANIFEST.to_owned(),
            message: e.message,
        })?;
    let mut members: Vec<&Member> = input.members.iter().collect();
    members.sort_by(|a, b| (&a.name, &a.manifest_path).cmp(&(&b.name, &b.manifest_path)));
    let index: BTreeMap<&str, usize> = members
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_str(), i))
        .collect();

    let mut entries = Vec::with_capacity(members.len());
    for member in &members {
        let doc =
            manifest::parse(&member.manifest_text).map_err(|e| PlanningError::ManifestSyntax {
                file: member.manifest_path.clone(),
                message: e.message,
            })?;
        let decision = versioned.decisions.get(&member.name);
        let (action, reason) = decide_action(member, input, decision);
        let internal = member
            .dependencies
            .iter()
            .filter_map(|declared| match &declared.source {
                DependencySource::Path {
                    member: Some(target),
                    ..
                } => {
                    let target = *index.get(target.as_str())?;
                    let key = DependencyKey::of(declared);
                    let declaration = manifest::version_declaration(&doc, &root, &key).unwrap_or(
                        VersionDeclaration {
                            declared: declared.req != "*",
                            site: VersionSite::Member,
                        },
                    );
                    Some(InternalDependency {
                        declared,
                        target,
                        key,
                        declaration,
                        requirement: None,
                    })
                }
                _ => None,
            })
            .collect();
        entries.push(Entry {
            decision,
            member,
            doc,
            action,
            reason,
            internal,
        });
    }

    settle_requirements(&mut entries);

    let mut diagnostics = versioned.diagnostics.clone();
    let packages: Vec<Package> = entries
        .iter()
        .map(|entry| package_entry(entry, &entries, &root, &mut diagnostics))
        .collect::<Result<_, _>>()?;

    let publish: BTreeSet<String> = entries
        .iter()
        .filter(|e| e.action == Action::Publish)
        .map(|e| e.member.name.clone())
        .collect();
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    for entry in entries.iter().filter(|e| e.action == Action::Publish) {
        for dep in entry
            .internal
            .iter()
            .filter(|d| orders_publishing(entry, d, &entries))
        {
            edges.insert((
                entry.member.name.clone(),
                entries[dep.target].member.name.clone(),
            ));
        }
    }
    let mut ordering = graph::order(&publish, &edges);
    let broken = break_cycles_through_published_dev_dependencies(
        &mut ordering,
        &publish,
        &mut edges,
        &entries,
        &index,
        input,
        &mut diagnostics,
    );
    for cycle in &ordering.cycles {
        diagnostics.push(cycle_diagnostic(cycle, &entries, &index));
    }
    check_ordering_dependencies(
        &entries,
        input,
        &versioned.released_versions,
        &mut diagnostics,
    );
    check_packages(&entries, &root, input, &mut diagnostics);
    check_global(input, &mut diagnostics);
    diagnostics::sort(&mut diagnostics);

    let packages = packages
        .into_iter()
        .map(|mut package| {
            package.wave = ordering.waves.get(&package.name).copied();
            for dep in &mut package.dependencies {
                if dep.kind == DependencyKind::Dev
                    && broken.contains(&(package.name.clone(), dep.name.clone()))
                {
                    dep.orders_publishing = false;
                }
            }
            package
        })
        .collect();

    let mut plan = Plan {
        format_version: PLAN_FORMAT_VERSION,
        digest: String::new(),
        inputs: recorded,
        registry: input.registry.clone(),
        python: None,
        packaging: None,
        packages,
        waves: ordering.wave_lists(),
        diagnostics,
        lockfile_edits: versioned.lockfile_edits.clone(),
    };
    plan.seal();
    Ok(plan)
}

/// Why `member` can never be published to the plan's registry, if so.
pub fn publish_refusal(member: &Member, input: &WorkspaceInput) -> Option<String> {
    let registry_name = input.registry.name.as_deref();
    match (&member.publish, registry_name) {
        (Some(allowed), _) if allowed.is_empty() => {
            Some(format!("`publish = false` in {}", member.manifest_path))
        }
        (Some(allowed), Some(name)) if !allowed.iter().any(|a| a == name) => Some(format!(
            "`publish = {allowed:?}` in {} does not allow registry `{name}`",
            member.manifest_path
        )),
        (Some(allowed), None) => Some(format!(
            "`publish = {allowed:?}` in {} names registries, but the target registry was given only by index URL",
            member.manifest_path
        )),
        _ => None,
    }
}

/// The action for a member and the reason, in one sentence.
fn decide_action(
    member: &Member,
    input: &WorkspaceInput,
    decision: Option<&versioning::Decision>,
) -> (Action, String) {
    if let Some(why) = publish_refusal(member, input) {
        return (Action::Excluded, why);
    }
    let release = match decision {
        Some(decision) if !decision.released => return (Action::Excluded, decision.reason.clone()),
        Some(decision) => format!("{}; ", decision.reason),
        None => String::new(),
    };
    let (action, reason) = registry_action(member, input);
    (action, format!("{release}{reason}"))
}

/// Publish or skip, by what the registry holds.
fn registry_action(member: &Member, input: &WorkspaceInput) -> (Action, String) {
    let version = &member.version;
    if input.observations.source == ObservationSource::Absent {
        return (
            Action::Publish,
            format!("registry not observed; version {version} assumed unpublished"),
        );
    }
    match observed(&input.observations.crates, &member.name) {
        None => (
            Action::Publish,
            format!("`{}` is not in the registry observations; version {version} assumed unpublished", member.name),
        ),
        Some([]) => (
            Action::Publish,
            format!("new crate: the registry has no version of `{}`", member.name),
        ),
        Some(versions) => match versions.iter().find(|v| &v.version == version) {
            Some(present) => (
                Action::Skip,
                format!(
                    "version {version} is already in the registry{} (cksum {}); without artifacts the content cannot be compared yet",
                    if present.yanked { ", yanked" } else { "" },
                    present.cksum
                ),
            ),
            None => (
                Action::Publish,
                match latest(versions) {
                    Some(latest) => format!("version {version} is not in the registry (latest there: {latest})"),
                    None => format!("version {version} is not in the registry"),
                },
            ),
        },
    }
}

/// The observed versions of `name`, matched as registries match names (ASCII case-insensitive).
pub fn observed<'a>(crates: &'a CrateObservations, name: &str) -> Option<&'a [ObservedVersion]> {
    crates
        .get(name)
        .or_else(|| {
            crates
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, versions)| versions)
        })
        .map(Vec::as_slice)
}

/// The highest version that is not yanked.
pub fn latest(versions: &[ObservedVersion]) -> Option<&semver::Version> {
    versions
        .iter()
        .filter(|v| !v.yanked)
        .map(|v| &v.version)
        .max()
}

/// Fills every internal dependency's published requirement: the written one, or the one the plan
/// adds (`^<member version>`) to normal and build path dependencies of packages that get packaged
/// (`publish`, and `skip`, whose bytes are packaged to compare them with the registry's).
/// A version added to `[workspace.dependencies]` reaches every member that inherits the entry,
/// dev-dependencies included, so those are settled after the root additions are known.
fn settle_requirements(entries: &mut [Entry<'_>]) {
    let versions: Vec<semver::Version> = entries.iter().map(|e| e.member.version.clone()).collect();
    let mut root_added: BTreeMap<String, String> = BTreeMap::new();
    for entry in entries.iter().filter(|e| e.action != Action::Excluded) {
        for dep in &entry.internal {
            if !dep.declaration.declared
                && dep.declaration.site == VersionSite::WorkspaceRoot
                && dep.key.kind != DependencyKind::Dev
            {
                root_added.insert(dep.key.key.clone(), format!("^{}", versions[dep.target]));
            }
        }
    }
    for entry in entries.iter_mut() {
        let publishes = entry.action != Action::Excluded;
        for dep in &mut entry.internal {
            dep.requirement = if dep.declaration.declared {
                Some(dep.declared.req.clone())
            } else if dep.declaration.site == VersionSite::WorkspaceRoot {
                root_added.get(&dep.key.key).cloned()
            } else if publishes && dep.key.kind != DependencyKind::Dev {
                Some(format!("^{}", versions[dep.target]))
            } else {
                None
            };
        }
    }
}

fn orders_publishing(
    entry: &Entry<'_>,
    dep: &InternalDependency<'_>,
    entries: &[Entry<'_>],
) -> bool {
    dep.requirement.is_some() && entries[dep.target].member.name != entry.member.name
}

/// The plan's entry for one member; pushes the warnings for the edits it makes.
fn package_entry(
    entry: &Entry<'_>,
    entries: &[Entry<'_>],
    root: &DocumentMut,
    diagnostics: &mut Vec<Diagnostic>,
) -> Result<Package, PlanningError> {
    let member = entry.member;
    let mut edits: Vec<ManifestEdit> = entry.decision.map(|d| d.edits.clone()).unwrap_or_default();
    let mut added_versions = BTreeMap::new();
    for dep in entry.internal.iter().filter(|d| d.version_added()) {
        let Some(requirement) = &dep.requirement else {
            continue;
        };
        added_versions.insert(dep.key.clone(), requirement.clone());
        let target = &entries[dep.target].member.name;
        let (file, table) = match dep.declaration.site {
            VersionSite::Member => (
                member.manifest_path.clone(),
                manifest::entry_table_path(&entry.doc, &dep.key),
            ),
            VersionSite::WorkspaceRoot => (
                ROOT_MANIFEST.to_owned(),
                vec![
                    "workspace".to_owned(),
                    "dependencies".to_owned(),
                    dep.key.key.clone(),
                ],
            ),
        };
        let edit = ManifestEdit {
            summary: format!(
                "{file}: add `version = \"{requirement}\"` to the path dependency on `{target}` in [{}]",
                table[..table.len() - 1].join(".")
            ),
            file,
            table,
            key: "version".to_owned(),
            value: requirement.clone(),
            previous: None,
        };
        if entry.action != Action::Excluded && !edits.contains(&edit) {
            diagnostics.push(diagnostic(
                Code::PathDependencyVersionAdded,
                Some(&member.name),
                format!(
                    "`{}` depends on member `{target}` by path without a version; the plan adds `version = \"{requirement}\"` ({})",
                    member.name, edit.file
                ),
                format!(
                    "write the version requirement in {} yourself to make this warning go away",
                    edit.file
                ),
            ));
            edits.push(edit);
        }
    }
    let published =
        manifest::published_manifest(&member.manifest_text, member.dir(), root, &added_versions)
            .map_err(|e| PlanningError::ManifestSyntax {
                file: member.manifest_path.clone(),
                message: e.message,
            })?;
    let mut dependencies: Vec<PackageDependency> = entry
        .internal
        .iter()
        .map(|dep| PackageDependency {
            name: entries[dep.target].member.name.clone(),
            rename: dep.declared.rename.clone(),
            kind: dep.key.kind,
            target: dep.key.target.clone(),
            requirement: dep.requirement.clone(),
            orders_publishing: orders_publishing(entry, dep, entries),
            extra: None,
        })
        .collect();
    dependencies.sort_by(|a, b| {
        (a.kind, &a.target, &a.name, &a.rename).cmp(&(b.kind, &b.target, &b.name, &b.rename))
    });
    Ok(Package {
        name: member.name.clone(),
        ecosystem: Ecosystem::Cargo,
        version: member.version.clone(),
        manifest_path: member.manifest_path.clone(),
        action: entry.action,
        reason: entry.reason.clone(),
        wave: None,
        dependencies,
        manifest: ManifestPlan { edits, published },
        artifact: None,
        publish_metadata: None,
        release: entry
            .decision
            .filter(|_| entry.action != Action::Excluded)
            .and_then(|d| d.release.clone()),
        python: None,
    })
}

fn kind_words(kind: DependencyKind) -> &'static str {
    match kind {
        DependencyKind::Normal => "normal dependency",
        DependencyKind::Build => "build-dependency",
        DependencyKind::Dev => "dev-dependency",
    }
}

/// Going beyond cargo: an edge of a cycle that is only a versioned dev-dependency, whose
/// requirement a version already in the registry satisfies, does not need to wait for this
/// plan's version. Such edges are dropped (with a warning) until no cycle has one; the cycles
/// left stay errors. Returns the dropped edges.
fn break_cycles_through_published_dev_dependencies(
    ordering: &mut graph::Ordering,
    publish: &BTreeSet<String>,
    edges: &mut BTreeSet<(String, String)>,
    entries: &[Entry<'_>],
    index: &BTreeMap<&str, usize>,
    input: &WorkspaceInput,
    diagnostics: &mut Vec<Diagnostic>,
) -> BTreeSet<(String, String)> {
    let mut broken = BTreeSet::new();
    while !ordering.cycles.is_empty() {
        let mut dropped_any = false;
        for cycle in ordering.cycles.clone() {
            for (entry, to, ordering_deps) in cycle_edges(&cycle, entries, index) {
                let from = &entry.member.name;
                if ordering_deps.is_empty()
                    || ordering_deps
                        .iter()
                        .any(|d| d.key.kind != DependencyKind::Dev)
                {
                    continue;
                }
                let satisfied_by = ordering_deps.iter().find_map(|dep| {
                    let req = VersionReq::parse(dep.requirement.as_deref()?).ok()?;
                    observed(&input.observations.crates, to)?
                        .iter()
                        .filter(|v| !v.yanked && req.matches(&v.version))
                        .map(|v| v.version.clone())
                        .max()
                        .map(|version| (dep.requirement.clone().unwrap_or_default(), version))
                });
                let Some((requirement, version)) = satisfied_by else {
                    continue;
                };
                if edges.remove(&(from.clone(), to.clone())) {
                    dropped_any = true;
                    broken.insert((from.clone(), to.clone()));
                    diagnostics.push(diagnostic(
                        Code::DevDependencyCycleBroken,
                        Some(from),
                        format!(
                            "`{from}`'s dev-dependency on `{to}` {requirement} is satisfied by `{to}` {version}, already in the registry, so it does not wait for this plan's `{to}`: the cycle {} is broken there",
                            cycle.iter().chain(cycle.first()).map(|n| format!("`{n}`")).collect::<Vec<_>>().join(" → ")
                        ),
                        format!("nothing to do; to be independent of the registry, remove `version` from that dev-dependency in {}", entry.member.manifest_path),
                    ));
                    break;
                }
            }
        }
        if !dropped_any {
            break;
        }
        *ordering = graph::order(publish, edges);
    }
    broken
}

/// Each edge of a cycle: the dependent's entry, the dependency's name, and the dependent's
/// ordering dependencies on it.
fn cycle_edges<'e, 'a, 'c>(
    cycle: &'c [String],
    entries: &'e [Entry<'a>],
    index: &BTreeMap<&str, usize>,
) -> Vec<(&'e Entry<'a>, &'c String, Vec<&'e InternalDependency<'a>>)> {
    cycle
        .iter()
        .enumerate()
        .filter_map(|(position, from)| {
            let to = &cycle[(position + 1) % cycle.len()];
            let entry = &entries[*index.get(from.as_str())?];
            let ordering = entry
                .internal
                .iter()
                .filter(|d| &entries[d.target].member.name == to && d.requirement.is_some())
                .collect();
            Some((entry, to, ordering))
        })
        .collect()
}

/// Names a cycle edge by edge and says how to break it.
fn cycle_diagnostic(
    cycle: &[String],
    entries: &[Entry<'_>],
    index: &BTreeMap<&str, usize>,
) -> Diagnostic {
    let mut steps = Vec::new();
    let mut breakable = Vec::new();
    for (entry, to, ordering) in cycle_edges(cycle, entries, index) {
        let from = &entry.member.name;
        let kinds: Vec<String> = ordering
            .iter()
            .map(|d| {
                format!(
                    "{} {}",
                    kind_words(d.key.kind),
                    d.requirement.as_deref().unwrap_or("")
                )
            })
            .collect();
        steps.push(format!(
            "`{from}` → `{to}` ({}, {})",
            kinds.join(" and "),
            entry.member.manifest_path
        ));
        if ordering.iter().all(|d| d.key.kind == DependencyKind::Dev) {
            breakable.push(format!(
                "remove `version` from the dev-dependency on `{to}` in {}",
                entry.member.manifest_path
            ));
        }
    }
    let help = if breakable.is_empty() {
        "normal and build dependencies cannot form a cycle on a registry: move the code both sides need into a new crate that both depend on".to_owned()
    } else {
        format!(
            "{}: a version-less dev-dependency is dropped on publish and does not order publishing",
            breakable.join(", or ")
        )
    };
    diagnostic(
        Code::DependencyCycle,
        cycle.first().map(String::as_str),
        format!(
            "publishing order has a cycle: {} → `{}`",
            steps.join(", then "),
            cycle.first().map_or("", String::as_str)
        ),
        help,
    )
}

/// Requirements on members must match their planned versions; dependencies on members that this
/// plan does not publish must already be satisfied by the registry.
fn check_ordering_dependencies(
    entries: &[Entry<'_>],
    input: &WorkspaceInput,
    released_versions: &BTreeMap<String, semver::Version>,
    diagnostics: &mut Vec<Diagnostic>,
) {
    for entry in entries.iter().filter(|e| e.action == Action::Publish) {
        let member = entry.member;
        for dep in entry
            .internal
            .iter()
            .filter(|d| orders_publishing(entry, d, entries))
        {
            let Some(requirement) = &dep.requirement else {
                continue;
            };
            let target = &entries[dep.target];
            let parsed = VersionReq::parse(requirement);
            let where_ = format!("{} in {}", kind_words(dep.key.kind), member.manifest_path);
            match target.action {
                Action::Publish | Action::Skip => {
                    let satisfied = parsed
                        .as_ref()
                        .is_ok_and(|req| req.matches(&target.member.version));
                    if !satisfied {
                        diagnostics.push(diagnostic(
                            Code::RequirementNotSatisfied,
                            Some(&member.name),
                            format!(
                                "`{}` requires `{}` {requirement} ({where_}), but the plan has `{}` at version {}",
                                member.name, target.member.name, target.member.name, target.member.version
                            ),
                            format!(
                                "change the requirement in {} to match {} (for example \"{}\"), or change `{}`'s version",
                                member.manifest_path, target.member.version, target.member.version, target.member.name
                            ),
                        ));
                    }
                }
                Action::Excluded => {
                    // A release tag at the member's version says that version was released.
                    let tagged = parsed.as_ref().is_ok_and(|req| {
                        released_versions
                            .get(&target.member.name)
                            .is_some_and(|v| req.matches(v))
                    });
                    let in_registry = tagged
                        || parsed.as_ref().is_ok_and(|req| {
                            observed(&input.observations.crates, &target.member.name).is_some_and(
                                |versions| {
                                    versions
                                        .iter()
                                        .any(|v| !v.yanked && req.matches(&v.version))
                                },
                            )
                        });
                    if !in_registry {
                        let registry_words =
                            if input.observations.source == ObservationSource::Absent {
                                "no registry observations show a matching version"
                            } else {
                                "the registry has no version matching it"
                            };
                        let mut help = format!(
                            "publish `{}` with this plan (it was excluded: {}), or publish a version matching {requirement} first",
                            target.member.name, target.reason
                        );
                        if dep.key.kind == DependencyKind::Dev {
                            help.push_str(", or remove `version` from the dev-dependency so it is dropped on publish");
                        }
                        diagnostics.push(diagnostic(
                            Code::ExcludedDependency,
                            Some(&member.name),
                            format!(
                                "`{}` needs `{}` {requirement} ({where_}), but `{}` is not published by this plan and {registry_words}",
                                member.name, target.member.name, target.member.name
                            ),
                            help,
                        ));
                    }
                }
            }
        }
    }
}

/// Metadata and dependency checks on every package to publish, and name collisions between them.
fn check_packages(
    entries: &[Entry<'_>],
    root: &DocumentMut,
    input: &WorkspaceInput,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let mut by_collision_key: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for entry in entries {
        let member = entry.member;
        let name = member.name.as_str();
        let file = &member.manifest_path;
        if entry.action == Action::Skip {
            let yanked = observed(&input.observations.crates, name)
                .is_some_and(|vs| vs.iter().any(|v| v.version == member.version && v.yanked));
            if yanked {
                diagnostics.push(diagnostic(
                    Code::PlannedVersionYanked,
                    Some(name),
                    format!(
                        "`{name}` {} is in the registry but yanked; it is skipped",
                        member.version
                    ),
                    format!("bump the version in {file} to publish a replacement, or unyank it"),
                ));
            }
        }
        if entry.action != Action::Publish {
            continue;
        }
        by_collision_key
            .entry(diagnostics::collision_key(name))
            .or_default()
            .push(name);
        if member
            .description
            .as_deref()
            .is_none_or(|d| d.trim().is_empty())
        {
            diagnostics.push(diagnostic(
                Code::MissingDescription,
                Some(name),
                format!("`{name}` has no `package.description` ({file})"),
                format!("add `description = \"...\"` under [package] in {file}"),
            ));
        }
        if member.license.is_none() && member.license_file.is_none() {
            diagnostics.push(diagnostic(
                Code::MissingLicense,
                Some(name),
                format!("`{name}` has neither `license` nor `license-file` ({file})"),
                format!("add an SPDX expression such as `license = \"MIT OR Apache-2.0\"`, or `license-file = \"LICENSE\"`, under [package] in {file}"),
            ));
        }
        if member.keywords.len() > 5 {
            diagnostics.push(diagnostic(
                Code::TooManyKeywords,
                Some(name),
                format!(
                    "`{name}` has {} keywords ({file}); registries accept at most 5",
                    member.keywords.len()
                ),
                format!("keep at most 5 entries in `keywords` in {file}"),
            ));
        }
        if !diagnostics::is_valid_crate_name(name) {
            diagnostics.push(diagnostic(
                Code::InvalidCrateName,
                Some(name),
                format!("`{name}` ({file}) is not a valid registry crate name"),
                "use ASCII letters, digits, `-` and `_`, start with a letter, at most 64 characters; or set `publish = false`".to_owned(),
            ));
        }
        for dep in &member.dependencies {
            check_dependency(entry, dep, root, input, diagnostics);
        }
    }
    check_registry_names(entries, input, diagnostics);
    for names in by_collision_key.values().filter(|names| names.len() > 1) {
        diagnostics.push(diagnostic(
            Code::NameCollision,
            names.first().copied(),
            format!(
                "crate names {} differ only by `-`/`_` or case; a registry treats them as one name",
                names
                    .iter()
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            "rename all but one of them".to_owned(),
        ));
    }
}

/// New crates are listed (their first publish needs an API token and the stricter rate bucket),
/// and a new crate whose name a registry would confuse with an existing one is an error.
fn check_registry_names(
    entries: &[Entry<'_>],
    input: &WorkspaceInput,
    diagnostics: &mut Vec<Diagnostic>,
) {
    if input.observations.source == ObservationSource::Absent {
        return;
    }
    let registry = input
        .registry
        .name
        .as_deref()
        .unwrap_or(input.registry.index.as_str());
    for entry in entries.iter().filter(|e| e.action == Action::Publish) {
        let name = entry.member.name.as_str();
        let exact = input
            .observations
            .crates
            .get(name)
            .is_some_and(|v| !v.is_empty());
        let key = diagnostics::collision_key(name);
        let colliding: Vec<&String> = input
            .observations
            .crates
            .iter()
            .filter(|(other, versions)| {
                *other != name && !versions.is_empty() && diagnostics::collision_key(other) == key
            })
            .map(|(other, _)| other)
            .collect();
        if let Some(existing) = colliding.first() {
            diagnostics.push(diagnostic(
                Code::RegistryNameCollision,
                Some(name),
                format!("registry `{registry}` already has a crate `{existing}`, which it treats as the same name as `{name}`"),
                format!("rename `{name}` in {} to a name that differs by more than `-`/`_` or case", entry.member.manifest_path),
            ));
        } else if !exact
            && observed(&input.observations.crates, name).is_none_or(<[ObservedVersion]>::is_empty)
        {
            diagnostics.push(diagnostic(
                Code::NewCrate,
                Some(name),
                format!("`{name}` is a new crate in registry `{registry}`"),
                "its first publish needs an API token (trusted publishing cannot create crates) and counts against the registry's new-crate rate limit (crates.io: 5 at once, then 1 per 10 minutes)",
            ));
        }
    }
}

fn check_dependency(
    entry: &Entry<'_>,
    dep: &crate::model::DeclaredDependency,
    root: &DocumentMut,
    input: &WorkspaceInput,
    diagnostics: &mut Vec<Diagnostic>,
) {
    let member = entry.member;
    let name = member.name.as_str();
    let file = &member.manifest_path;
    let key = DependencyKey::of(dep);
    let declared = manifest::version_declaration(&entry.doc, root, &key)
        .map_or(dep.req != "*", |d| d.declared);
    let dropped = dep.kind == DependencyKind::Dev && !declared;
    if dropped {
        return;
    }
    let words = kind_words(dep.kind);
    match &dep.source {
        DependencySource::Git if !declared => diagnostics.push(diagnostic(
            Code::GitDependencyWithoutVersion,
            Some(name),
            format!("`{name}` has a git {words} on `{}` without a version ({file})", dep.name),
            format!("add a `version` to the `{}` entry in {file} (cargo publishes it as a registry dependency), or make it a dev-dependency", dep.manifest_key()),
        )),
        DependencySource::Path { member: None, path } if !declared => diagnostics.push(diagnostic(
            Code::PathDependencyOutsideWorkspace,
            Some(name),
            format!("`{name}` has a path {words} on `{}` at `{path}`, outside the workspace, without a version ({file})", dep.name),
            format!("publish `{}` first and add its `version` to the entry in {file}", dep.name),
        )),
        _ => {}
    }
    let wildcard = (declared && dep.req.trim() == "*")
        || (!declared && matches!(dep.source, DependencySource::Registry(_)));
    if wildcard {
        let mut found = diagnostic(
            Code::WildcardRequirement,
            Some(name),
            format!(
                "`{name}` has a `*` requirement on `{}` ({words}, {file})",
                dep.name
            ),
            format!(
                "write a real requirement for `{}` in {file}, such as the version you test with",
                dep.manifest_key()
            ),
        );
        found.severity = diagnostics::wildcard_severity(input.registry.name.as_deref());
        diagnostics.push(found);
    }
}

fn check_global(input: &WorkspaceInput, diagnostics: &mut Vec<Diagnostic>) {
    // The Cargo registry's observations matter only to a plan with crates.
    if input.observations.source == ObservationSource::Absent && !input.members.is_empty() {
        diagnostics.push(diagnostic(
            Code::RegistryObservationsAbsent,
            None,
            "no registry observations were given: every selected version is planned for upload, none skipped",
            "pass --registry-state FILE with what the registry holds, so versions already published are skipped",
        ));
    }
    match &input.git {
        GitState::Absent(why) => diagnostics.push(diagnostic(
            Code::NotAGitCheckout,
            None,
            format!("git inputs are absent: {why}"),
            "plan from a git checkout so the plan records the commit it was made from",
        )),
        GitState::Checkout(git) if git.dirty => diagnostics.push(diagnostic(
            Code::DirtyWorkingTree,
            None,
            format!("the workspace has changes not in commit {}", git.commit),
            "commit or stash them (`git status` lists them) so the plan describes a commit",
        )),
        GitState::Checkout(_) => {}
    }
}

/// The plan's `inputs` member.
fn inputs(input: &WorkspaceInput, members: &[&Member]) -> Inputs {
    let mut manifests = BTreeMap::new();
    // A repository without a Cargo workspace (`--root`) has no root manifest to record.
    if !(members.is_empty() && input.root_manifest.is_empty()) {
        manifests.insert(
            ROOT_MANIFEST.to_owned(),
            sha256_digest(input.root_manifest.as_bytes()),
        );
    }
    for member in members {
        manifests.insert(
            member.manifest_path.clone(),
            sha256_digest(member.manifest_text.as_bytes()),
        );
    }
    // The workspace's crates, and registry crates whose names collide with them (the
    // registry-name-collision check depends on those too).
    let mut crates = CrateObservations::new();
    let collision_keys: BTreeSet<String> = members
        .iter()
        .map(|m| diagnostics::collision_key(&m.name))
        .collect();
    for (name, versions) in &input.observations.crates {
        let collides = collision_keys.contains(&diagnostics::collision_key(name));
        if collides
            && !members.iter().any(|m| m.name.eq_ignore_ascii_case(name))
            && !versions.is_empty()
        {
            let mut versions = versions.clone();
            versions.sort_by(|a, b| {
                (&a.version, &a.cksum, a.yanked).cmp(&(&b.version, &b.cksum, b.yanked))
            });
            versions.dedup();
            crates.insert(name.clone(), versions);
        }
    }
    for member in members {
        if let Some(versions) = observed(&input.observations.crates, &member.name) {
            let mut versions = versions.to_vec();
            versions.sort_by(|a, b| {
                (&a.version, &a.cksum, a.yanked).cmp(&(&b.version, &b.cksum, b.yanked))
            });
            versions.dedup();
            crates.insert(member.name.clone(), versions);
        }
    }
    let sorted = |list: &[String]| {
        let set: BTreeSet<String> = list.iter().cloned().collect();
        set.into_iter().collect::<Vec<_>>()
    };
    Inputs {
        cargo_version: input.cargo_version.clone(),
        git: match &input.git {
            GitState::Checkout(git) => Some(git.clone()),
            GitState::Absent(_) => None,
        },
        manifests,
        lockfile: input.lockfile.clone(),
        selection: Selection {
            packages: sorted(&input.selection.packages),
            exclude: sorted(&input.selection.exclude),
        },
        registry_observations: Observations {
            source: input.observations.source,
            crates,
        },
        release: Some(release_inputs(input)),
        python: None,
    }
}

/// The plan's `inputs.release`.
fn release_inputs(input: &WorkspaceInput) -> ReleaseInputs {
    let context = &input.release;
    ReleaseInputs {
        config: context
            .config
            .as_deref()
            .map(|t| sha256_digest(t.as_bytes())),
        request: context.request.clone(),
        date: context.date.clone(),
        history: context.history.clone().unwrap_or_default(),
        changelogs: context
            .changelogs
            .values()
            .map(|(file, text)| (file.clone(), sha256_digest(text.as_bytes())))
            .collect(),
    }
}

/// Count of diagnostics by severity: (errors, warnings).
pub fn severity_counts(diagnostics: &[Diagnostic]) -> (usize, usize) {
    let errors = diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    (errors, diagnostics.len() - errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::RegistryObservations;
    use crate::testing::{member, workspace, PathDep};
    use convoy_schema::snapshot::ObservedVersion;
    use proptest::prelude::*;

    const NORMAL: DependencyKind = DependencyKind::Normal;
    const DEV: DependencyKind = DependencyKind::Dev;

    #[test]
    fn version_added_to_path_dependency_orders_and_is_edited() {
        let plan = plan(&workspace(vec![
            member("a", "0.2.0", &[], ""),
            member("b", "1.0.0", &[("a", NORMAL, None)], ""),
        ]))
        .unwrap();
        let b = plan.package("b").unwrap();
        assert_eq!(b.dependencies[0].requirement.as_deref(), Some("^0.2.0"));
        assert_eq!(b.manifest.edits.len(), 1);
        assert_eq!(b.manifest.edits[0].table, ["dependencies", "a"]);
        assert!(
            b.manifest
                .published
                .contains("a = { version = \"^0.2.0\" }"),
            "{}",
            b.manifest.published
        );
        assert_eq!(plan.waves, [["a"], ["b"]]);
        assert!(plan.digest_is_valid());
    }

    #[test]
    fn skipped_packages_get_the_edits_their_packaging_needs() {
        let mut input = workspace(vec![
            member("a", "0.2.0", &[], ""),
            member("b", "1.0.0", &[("a", NORMAL, None)], ""),
        ]);
        let present = |v: &str| ObservedVersion {
            version: v.parse().unwrap(),
            cksum: "00".repeat(32),
            yanked: false,
        };
        input.observations = RegistryObservations {
            source: ObservationSource::Snapshot,
            crates: [
                ("a".to_owned(), vec![present("0.2.0")]),
                ("b".to_owned(), vec![present("1.0.0")]),
            ]
            .into_iter()
            .collect(),
        };
        let plan = plan(&input).unwrap();
        let b = plan.package("b").unwrap();
        assert_eq!(b.action, Action::Skip);
        assert_eq!(
            b.manifest.edits.len(),
            1,
            "b is packaged to compare its bytes, so it needs a's version"
        );
        assert!(
            b.manifest
                .published
                .contains("a = { version = \"^0.2.0\" }"),
            "{}",
            b.manifest.published
        );
    }

    #[test]
    fn skipped_dependency_does_not_delay_its_dependents() {
        let mut input = workspace(vec![
            member("a", "0.1.0", &[], ""),
            member("b", "0.1.0", &[("a", NORMAL, Some("0.1"))], ""),
        ]);
        input.observations = RegistryObservations {
            source: ObservationSource::Snapshot,
            crates: [(
                "A".to_owned(),
                vec![ObservedVersion {
                    version: "0.1.0".parse().unwrap(),
                    cksum: "00".repeat(32),
                    yanked: false,
                }],
            )]
            .into_iter()
            .collect(),
        };
        let plan = plan(&input).unwrap();
        assert_eq!(
            plan.package("a").unwrap().action,
            Action::Skip,
            "names match case-insensitively"
        );
        assert_eq!(plan.waves, [["b"]]);
        assert_eq!(
            plan.inputs
                .registry_observations
                .crates
                .keys()
                .collect::<Vec<_>>(),
            ["a"]
        );
    }

    /// A random workspace: a DAG of members (edges to lower indices) with random kinds and
    /// requirements, some members `publish = false`, and a random permutation of the list.
    fn random_workspace() -> impl Strategy<Value = (WorkspaceInput, Vec<usize>)> {
        (1usize..14).prop_flat_map(|n| {
            let edges = proptest::collection::vec((0..n, 0..n, 0u8..4), 0..n * 2);
            let unpublished = proptest::collection::vec(any::<bool>(), n);
            let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
            (edges, unpublished, order).prop_map(move |(edges, unpublished, order)| {
                let name = |i: usize| format!("m{i:02}");
                let names: Vec<String> = (0..n).map(name).collect();
                let members = (0..n)
                    .map(|i| {
                        let mut deps: Vec<PathDep<'_>> = Vec::new();
                        for (from, to, style) in &edges {
                            if *from != i
                                || to >= from
                                || deps.iter().any(|(t, _, _)| *t == names[*to])
                            {
                                continue;
                            }
                            let dep = match style {
                                0 => (names[*to].as_str(), NORMAL, Some("0.1")),
                                1 => (names[*to].as_str(), NORMAL, None),
                                2 => (names[*to].as_str(), DEV, Some("0.1")),
                                _ => (names[*to].as_str(), DEV, None),
                            };
                            deps.push(dep);
                        }
                        let extra = if unpublished[i] && i % 3 == 0 {
                            "publish = false\n"
                        } else {
                            ""
                        };
                        member(&names[i], "0.1.0", &deps, extra)
                    })
                    .collect();
                (workspace(members), order)
            })
        })
    }

    proptest! {
        #[test]
        fn plan_is_independent_of_member_order((input, order) in random_workspace()) {
            let expected = plan(&input).unwrap().to_pretty_json();
            let mut shuffled = input.clone();
            shuffled.members = order.iter().map(|&i| input.members[i].clone()).collect();
            prop_assert_eq!(plan(&shuffled).unwrap().to_pretty_json(), expected);
        }

        #[test]
        fn ordering_edges_go_from_lower_to_higher_waves((input, _) in random_workspace()) {
            let plan = plan(&input).unwrap();
            for package in plan.packages.iter().filter(|p| p.action == Action::Publish) {
                let wave = package.wave.expect("publish packages have a wave");
                prop_assert!(plan.waves[wave as usize].contains(&package.name));
                for dep in package.dependencies.iter().filter(|d| d.orders_publishing) {
                    if let Some(target_wave) = plan.package(&dep.name).and_then(|t| t.wave) {
                        prop_assert!(target_wave < wave, "{} -> {}", package.name, dep.name);
                    }
                }
            }
            for package in plan.packages.iter().filter(|p| p.action != Action::Publish) {
                prop_assert_eq!(package.wave, None);
            }
            prop_assert!(plan.digest_is_valid());
        }
    }
}
