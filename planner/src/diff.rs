//! What changes in a release between two plans (`convoy-plan diff OLD NEW`): the base branch's
//! plan against a pull request's, so a reviewer sees what the pull request does to the release —
//! packages that start or stop being published, versions, bytes under an unchanged version, the
//! target registry, and diagnostics that appear or go away. Pure: two plans in, a [`PlanDiff`]
//! out, rendered as Markdown for the pull-request comment ([`markdown`]) or as JSON
//! ([`PlanDiff::to_pretty_json`]).
//!
//! The Markdown, for a base plan publishing `core 0.1.0` and `app 0.1.0` and a head plan that
//! raises `core` and adds `cli`:
//!
//! ```text
//! ### Changes to the release
//!
//! From plan `sha256:…` (base) to `sha256:…` (this change).
//!
//! | Package | Change |
//! |---|---|
//! | `cli` | now published: `0.1.0` |
//! | `core` | version `0.1.0` → `0.2.0` |
//! ```
//!
//! and when the two plans release the same thing, one line under the heading: "No change to the
//! release (plans … and … publish the same packages, versions and bytes)."

use std::collections::{BTreeMap, BTreeSet};

use convoy_cli::markdown::{cell_code, code, text};
use convoy_schema::plan::{Action, Diagnostic, Package, Plan, Severity};
use convoy_schema::snapshot::RegistryTarget;
use semver::Version;
use serde::Serialize;

/// What differs between two plans' releases. Packages are sorted by name (one entry each),
/// diagnostics by package, code and severity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanDiff {
    /// The old (base) plan's digest.
    pub old_digest: String,
    /// The new plan's digest.
    pub new_digest: String,
    /// Whether the digests are equal (the plans are the same document). Plans made at different
    /// commits always differ in digest, even when they release the same bytes.
    pub digests_equal: bool,
    /// Whether the bytes of every package both plans publish at the same version were compared:
    /// false when either plan is review-only (made without `--bundle`, so it has no artifacts).
    pub bytes_compared: bool,
    /// The target registry, when the plans name different ones.
    pub registry: Option<RegistryChange>,
    /// One entry per package whose release changes.
    pub packages: Vec<PackageChange>,
    /// Diagnostics in the new plan and not the old.
    pub diagnostics_added: Vec<DiagnosticChange>,
    /// Diagnostics in the old plan and not the new.
    pub diagnostics_removed: Vec<DiagnosticChange>,
}

/// The plans target different registries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryChange {
    /// The old plan's registry.
    pub from: RegistryTarget,
    /// The new plan's registry.
    pub to: RegistryTarget,
}

/// A diagnostic one plan has and the other does not. Diagnostics are compared by code, package
/// and severity only: messages quote paths and versions that may change while the finding stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DiagnosticChange {
    /// The package, if any.
    pub package: Option<String>,
    /// Stable code.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The message, from the plan that has the diagnostic.
    pub message: String,
}

/// How one package's release changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum PackageChange {
    /// A member the old plan does not have, which the new plan publishes.
    Added {
        /// Package.
        name: String,
        /// Version to publish.
        version: Version,
    },
    /// A member the old plan publishes and the new plan does not have (it left the workspace or
    /// was renamed).
    Removed {
        /// Package.
        name: String,
        /// The version the old plan published.
        version: Version,
    },
    /// A member in both plans that one publishes and the other does not (`publish` → `skip`,
    /// `excluded` → `publish`, ...). A change between `skip` and `excluded` publishes nothing
    /// either way and is not reported.
    Action {
        /// Package.
        name: String,
        /// The old plan's action.
        from: Action,
        /// The new plan's action.
        to: Action,
        /// The old plan's version.
        from_version: Version,
        /// The new plan's version.
        to_version: Version,
    },
    /// Published by both, at another version.
    Version {
        /// Package.
        name: String,
        /// Old version.
        from: Version,
        /// New version.
        to: Version,
    },
    /// Published by both at the same version, with other bytes: the same version would be
    /// uploaded with other content than the base branch's plan packaged.
    Bytes {
        /// Package.
        name: String,
        /// Version.
        version: Version,
        /// Old `.crate` SHA-256 (lowercase hex).
        from: String,
        /// New `.crate` SHA-256.
        to: String,
    },
}

impl PackageChange {
    /// The package the change is about.
    pub fn name(&self) -> &str {
        match self {
            Self::Added { name, .. }
            | Self::Removed { name, .. }
            | Self::Action { name, .. }
            | Self::Version { name, .. }
            | Self::Bytes { name, .. } => name,
        }
    }
}

impl PlanDiff {
    /// Whether the release is the same: same registry, packages, versions, bytes (where both
    /// plans have them) and diagnostics. The digests may still differ (commit, observations).
    pub fn is_empty(&self) -> bool {
        self.registry.is_none()
            && self.packages.is_empty()
            && self.diagnostics_added.is_empty()
            && self.diagnostics_removed.is_empty()
    }

    /// The diff as pretty-printed JSON with a trailing newline (`--format json`).
    pub fn to_pretty_json(&self) -> String {
        // Plain data with string keys: serializing cannot fail.
        let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
        json.push('\n');
        json
    }
}

/// A plan's members by name (a hand-edited plan naming one twice: the first entry).
fn members(plan: &Plan) -> BTreeMap<&str, &Package> {
    let mut members = BTreeMap::new();
    for package in &plan.packages {
        members.entry(package.name.as_str()).or_insert(package);
    }
    members
}

type DiagnosticKey<'a> = (Option<&'a str>, &'a str, Severity);

/// A plan's diagnostics by (package, code, severity), each with its first message.
fn diagnostics(plan: &Plan) -> BTreeMap<DiagnosticKey<'_>, &Diagnostic> {
    let mut keyed = BTreeMap::new();
    for d in &plan.diagnostics {
        keyed
            .entry((d.package.as_deref(), d.code.as_str(), d.severity))
            .or_insert(d);
    }
    keyed
}

/// Diagnostics of `these` whose key `others` lacks, in key order.
fn only_in(
    these: &BTreeMap<DiagnosticKey<'_>, &Diagnostic>,
    others: &BTreeMap<DiagnosticKey<'_>, &Diagnostic>,
) -> Vec<DiagnosticChange> {
    these
        .iter()
        .filter(|(key, _)| !others.contains_key(*key))
        .map(|(_, d)| DiagnosticChange {
            package: d.package.clone(),
            code: d.code.clone(),
            severity: d.severity,
            message: d.message.clone(),
        })
        .collect()
}

/// How one member's release changes between `old` and `new`, if it does; and whether its bytes
/// could be compared (`false` only for a package both publish at one version without an
/// artifact in both).
fn package_change(
    name: &str,
    old: Option<&Package>,
    new: Option<&Package>,
) -> (Option<PackageChange>, bool) {
    let publishes = |p: &Package| p.action == Action::Publish;
    let change = match (old, new) {
        (None, Some(n)) if publishes(n) => PackageChange::Added {
            name: name.to_owned(),
            version: n.version.clone(),
        },
        (Some(o), None) if publishes(o) => PackageChange::Removed {
            name: name.to_owned(),
            version: o.version.clone(),
        },
        (Some(o), Some(n)) if publishes(o) != publishes(n) => PackageChange::Action {
            name: name.to_owned(),
            from: o.action,
            to: n.action,
            from_version: o.version.clone(),
            to_version: n.version.clone(),
        },
        (Some(o), Some(n)) if publishes(o) && o.version != n.version => PackageChange::Version {
            name: name.to_owned(),
            from: o.version.clone(),
            to: n.version.clone(),
        },
        (Some(o), Some(n)) if publishes(o) => match (&o.artifact, &n.artifact) {
            (Some(a), Some(b)) if a.sha256 != b.sha256 => PackageChange::Bytes {
                name: name.to_owned(),
                version: n.version.clone(),
                from: a.sha256.clone(),
                to: b.sha256.clone(),
            },
            (Some(_), Some(_)) => return (None, true),
            _ => return (None, false),
        },
        _ => return (None, true),
    };
    (Some(change), true)
}

/// What `new` changes in the release `old` describes.
pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
    let (before, after) = (members(old), members(new));
    let names: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    let mut packages = Vec::new();
    let mut bytes_compared = true;
    for name in names {
        let (change, compared) =
            package_change(name, before.get(name).copied(), after.get(name).copied());
        packages.extend(change);
        bytes_compared &= compared;
    }
    let (was, is) = (diagnostics(old), diagnostics(new));
    PlanDiff {
        old_digest: old.digest.clone(),
        new_digest: new.digest.clone(),
        digests_equal: old.digest == new.digest,
        bytes_compared,
        registry: (old.registry != new.registry).then(|| RegistryChange {
            from: old.registry.clone(),
            to: new.registry.clone(),
        }),
        packages,
        diagnostics_added: only_in(&is, &was),
        diagnostics_removed: only_in(&was, &is),
    }
}

/// Why a package is not published, in words for the table.
fn unpublished_words(action: Action) -> &'static str {
    match action {
        Action::Skip => "already in the registry",
        Action::Excluded => "excluded",
        // Not called for `publish`; kept total.
        Action::Publish => "published",
    }
}

fn severity_words(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// A checksum shortened for a table cell: its first 12 characters (the JSON has all of it).
fn short(sha256: &str) -> String {
    cell_code(&sha256.chars().take(12).collect::<String>())
}

fn registry_words(registry: &RegistryTarget) -> String {
    match &registry.name {
        Some(name) => format!("{} ({})", code(name), code(&registry.index)),
        None => code(&registry.index),
    }
}

/// The table cell describing `change`; every workspace string escaped for a cell.
fn change_words(change: &PackageChange) -> String {
    match change {
        PackageChange::Added { version, .. } => {
            format!("now published: {}", cell_code(&version.to_string()))
        }
        PackageChange::Removed { version, .. } => format!(
            "no longer published: {} (no longer in the workspace)",
            cell_code(&version.to_string())
        ),
        PackageChange::Action {
            from,
            to,
            from_version,
            to_version,
            ..
        } => {
            let (old, new) = (
                cell_code(&from_version.to_string()),
                cell_code(&to_version.to_string()),
            );
            let moved = from_version != to_version;
            if *to == Action::Publish {
                let at = if moved {
                    format!(" at {old}")
                } else {
                    String::new()
                };
                format!(
                    "now published: {new} (was {}{at})",
                    unpublished_words(*from)
                )
            } else {
                let at = if moved {
                    format!(" at {new}")
                } else {
                    String::new()
                };
                format!(
                    "no longer published: {old} ({}{at})",
                    unpublished_words(*to)
                )
            }
        }
        PackageChange::Version { from, to, .. } => format!(
            "version {} → {}",
            cell_code(&from.to_string()),
            cell_code(&to.to_string())
        ),
        PackageChange::Bytes {
            version, from, to, ..
        } => format!(
            "**other bytes under the same version** {}: sha256 {} → {}",
            cell_code(&version.to_string()),
            short(from),
            short(to)
        ),
    }
}

/// The diff as Markdown for a pull-request comment (see the module documentation); every
/// string from the plans escaped.
pub fn markdown(diff: &PlanDiff) -> String {
    let mut out = String::from("### Changes to the release\n\n");
    if diff.is_empty() {
        let what = if diff.bytes_compared {
            "the same packages, versions and bytes"
        } else {
            "the same packages and versions; bytes were not compared, as one plan or both are review-only"
        };
        out.push_str(&format!(
            "No change to the release (plans {} and {} publish {what}).\n",
            code(&diff.old_digest),
            code(&diff.new_digest)
        ));
        return out;
    }
    out.push_str(&format!(
        "From plan {} (base) to {} (this change).\n",
        code(&diff.old_digest),
        code(&diff.new_digest)
    ));
    if let Some(RegistryChange { from, to }) = &diff.registry {
        out.push_str(&format!(
            "\n**Target registry** {} → {}\n",
            registry_words(from),
            registry_words(to)
        ));
    }
    if !diff.packages.is_empty() {
        out.push_str("\n| Package | Change |\n|---|---|\n");
        for change in &diff.packages {
            out.push_str(&format!(
                "| {} | {} |\n",
                cell_code(change.name()),
                change_words(change)
            ));
        }
    }
    for (title, list) in [
        ("New diagnostics", &diff.diagnostics_added),
        ("Diagnostics resolved", &diff.diagnostics_removed),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("\n**{title}**\n\n"));
        for d in list {
            let package = d
                .package
                .as_deref()
                .map_or(String::new(), |p| format!(" {}", code(p)));
            out.push_str(&format!(
                "- {} {}{package}: {}\n",
                severity_words(d.severity),
                code(&d.code),
                text(&d.message)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_schema::plan::Artifact;

    /// A planned package, from the planner itself.
    fn base_package() -> Package {
        crate::planning::plan(&crate::testing::workspace(vec![crate::testing::member(
            "base",
            "1.0.0",
            &[],
            "",
        )]))
        .expect("plan")
        .packages
        .remove(0)
    }

    fn package(name: &str, version: &str, action: Action, sha: Option<&str>) -> Package {
        let mut p = base_package();
        p.name = name.to_owned();
        p.version = version.parse().expect("version");
        p.action = action;
        p.artifact = sha.map(|sha256| Artifact {
            file: format!("{name}-{version}.crate"),
            size: 1,
            sha256: sha256.to_owned(),
            lockfile: None,
            packaged_against: BTreeMap::new(),
            files: Vec::new(),
        });
        p
    }

    fn plan(digest: &str, packages: Vec<Package>, diagnostics: Vec<Diagnostic>) -> Plan {
        let mut plan = crate::planning::plan(&crate::testing::workspace(vec![])).expect("plan");
        plan.digest = digest.to_owned();
        plan.packages = packages;
        plan.diagnostics = diagnostics;
        plan
    }

    fn diagnostic(code: &str, package: &str, severity: Severity, message: &str) -> Diagnostic {
        Diagnostic {
            code: code.to_owned(),
            severity,
            package: Some(package.to_owned()),
            message: message.to_owned(),
            help: String::new(),
        }
    }

    fn v(text: &str) -> Version {
        text.parse().expect("version")
    }

    /// A base plan and a head plan with one change of every kind.
    fn every_kind() -> (Plan, Plan) {
        let old = plan(
            "sha256:old",
            vec![
                package("a-skipped", "1.0.0", Action::Publish, Some("aaaa")),
                package("b-raised", "1.0.0", Action::Publish, Some("b1")),
                package("c-rebuilt", "1.0.0", Action::Publish, Some("c1")),
                package("d-same", "1.0.0", Action::Publish, Some("d1")),
                package("f-selected", "0.3.0", Action::Excluded, None),
                package("g-quiet", "2.0.0", Action::Skip, Some("g1")),
                package("gone", "0.1.0", Action::Publish, Some("9")),
                package("h-dropped", "0.5.0", Action::Publish, Some("h1")),
            ],
            vec![
                diagnostic("missing-license", "c-rebuilt", Severity::Warning, "old"),
                diagnostic("missing-readme", "d-same", Severity::Warning, "fixed"),
            ],
        );
        let new = plan(
            "sha256:new",
            vec![
                package("a-skipped", "1.0.0", Action::Skip, Some("aaaa")),
                package("b-raised", "1.1.0", Action::Publish, Some("b2")),
                package("c-rebuilt", "1.0.0", Action::Publish, Some("c2")),
                package("d-same", "1.0.0", Action::Publish, Some("d1")),
                package("e-new", "0.1.0", Action::Publish, Some("e1")),
                package("f-selected", "0.4.0", Action::Publish, Some("f1")),
                package("g-quiet", "2.0.0", Action::Excluded, None),
                package("h-dropped", "0.6.0", Action::Excluded, None),
                package("unpublished-new", "0.1.0", Action::Excluded, None),
            ],
            vec![
                diagnostic("version-exists", "e-new", Severity::Error, "e is taken"),
                diagnostic(
                    "missing-license",
                    "c-rebuilt",
                    Severity::Warning,
                    "reworded",
                ),
            ],
        );
        (old, new)
    }

    #[test]
    fn every_kind_of_change_in_package_order() {
        let (old, new) = every_kind();
        let diff = diff(&old, &new);
        assert_eq!(
            diff.packages,
            [
                PackageChange::Action {
                    name: "a-skipped".into(),
                    from: Action::Publish,
                    to: Action::Skip,
                    from_version: v("1.0.0"),
                    to_version: v("1.0.0"),
                },
                PackageChange::Version {
                    name: "b-raised".into(),
                    from: v("1.0.0"),
                    to: v("1.1.0"),
                },
                PackageChange::Bytes {
                    name: "c-rebuilt".into(),
                    version: v("1.0.0"),
                    from: "c1".into(),
                    to: "c2".into(),
                },
                PackageChange::Added {
                    name: "e-new".into(),
                    version: v("0.1.0"),
                },
                PackageChange::Action {
                    name: "f-selected".into(),
                    from: Action::Excluded,
                    to: Action::Publish,
                    from_version: v("0.3.0"),
                    to_version: v("0.4.0"),
                },
                // g-quiet: skip → excluded publishes nothing either way.
                PackageChange::Removed {
                    name: "gone".into(),
                    version: v("0.1.0"),
                },
                PackageChange::Action {
                    name: "h-dropped".into(),
                    from: Action::Publish,
                    to: Action::Excluded,
                    from_version: v("0.5.0"),
                    to_version: v("0.6.0"),
                },
                // unpublished-new: a new member that is not published changes no release.
            ]
        );
        // A reworded message is the same finding.
        assert_eq!(
            diff.diagnostics_added,
            [DiagnosticChange {
                package: Some("e-new".into()),
                code: "version-exists".into(),
                severity: Severity::Error,
                message: "e is taken".into(),
            }]
        );
        assert_eq!(
            diff.diagnostics_removed,
            [DiagnosticChange {
                package: Some("d-same".into()),
                code: "missing-readme".into(),
                severity: Severity::Warning,
                message: "fixed".into(),
            }]
        );
        assert!(!diff.digests_equal);
        assert!(diff.bytes_compared);
        assert_eq!(diff.registry, None);
        assert!(!diff.is_empty());
    }

    #[test]
    fn the_diff_does_not_depend_on_the_order_of_packages_or_diagnostics() {
        let (old, new) = every_kind();
        let expected = diff(&old, &new);
        let (mut old_reversed, mut new_reversed) = (old.clone(), new.clone());
        old_reversed.packages.reverse();
        new_reversed.packages.reverse();
        old_reversed.diagnostics.reverse();
        new_reversed.diagnostics.reverse();
        assert_eq!(diff(&old_reversed, &new_reversed), expected);
    }

    #[test]
    fn diagnostics_are_sorted_by_package_then_code_and_keyed_with_severity() {
        let old = plan(
            "sha256:1",
            vec![],
            vec![diagnostic(
                "z-code",
                "m",
                Severity::Warning,
                "was a warning",
            )],
        );
        let mut workspace_wide = diagnostic("lockfile-absent", "", Severity::Warning, "no lock");
        workspace_wide.package = None;
        let new = plan(
            "sha256:2",
            vec![],
            vec![
                diagnostic("z-code", "m", Severity::Error, "now an error"),
                diagnostic("b-code", "z", Severity::Error, "z"),
                diagnostic("a-code", "z", Severity::Warning, "z"),
                diagnostic("c-code", "a", Severity::Warning, "a"),
                // The same finding twice: reported once, with the first message.
                diagnostic("c-code", "a", Severity::Warning, "a again"),
                workspace_wide,
            ],
        );
        let diff = diff(&old, &new);
        let added: Vec<(Option<&str>, &str, Severity, &str)> = diff
            .diagnostics_added
            .iter()
            .map(|d| {
                (
                    d.package.as_deref(),
                    d.code.as_str(),
                    d.severity,
                    d.message.as_str(),
                )
            })
            .collect();
        assert_eq!(
            added,
            [
                (None, "lockfile-absent", Severity::Warning, "no lock"),
                (Some("a"), "c-code", Severity::Warning, "a"),
                (Some("m"), "z-code", Severity::Error, "now an error"),
                (Some("z"), "a-code", Severity::Warning, "z"),
                (Some("z"), "b-code", Severity::Error, "z"),
            ]
        );
        // Another severity is another finding: the warning went away.
        assert_eq!(diff.diagnostics_removed.len(), 1);
        assert_eq!(diff.diagnostics_removed[0].severity, Severity::Warning);
        assert!(diff.packages.is_empty());
        assert!(!diff.is_empty());
    }

    #[test]
    fn the_same_release_is_no_change_even_with_other_digests() {
        let packages = vec![
            package("a", "1.0.0", Action::Publish, Some("aa")),
            package("b", "1.0.0", Action::Skip, Some("bb")),
        ];
        let diff = diff(
            &plan("sha256:1", packages.clone(), vec![]),
            &plan("sha256:2", packages, vec![]),
        );
        assert!(diff.is_empty());
        assert!(!diff.digests_equal);
        assert!(diff.bytes_compared);
        assert_eq!(
            markdown(&diff),
            "### Changes to the release\n\nNo change to the release (plans `sha256:1` and \
             `sha256:2` publish the same packages, versions and bytes).\n"
        );
    }

    #[test]
    fn a_plan_compared_with_itself_has_equal_digests_and_no_change() {
        let (old, _) = every_kind();
        let diff = diff(&old, &old);
        assert!(diff.is_empty());
        assert!(diff.digests_equal);
    }

    #[test]
    fn review_only_plans_do_not_claim_the_same_bytes() {
        let packaged = vec![package("a", "1.0.0", Action::Publish, Some("aa"))];
        let review_only = vec![package("a", "1.0.0", Action::Publish, None)];
        let diff = diff(
            &plan("sha256:1", review_only, vec![]),
            &plan("sha256:2", packaged, vec![]),
        );
        assert!(diff.is_empty());
        assert!(!diff.bytes_compared);
        let text = markdown(&diff);
        assert!(text.contains("No change to the release"), "{text}");
        assert!(text.contains("bytes were not compared"), "{text}");
        // Not packaged on either side, but published at another version: still a change.
        let raised = vec![package("a", "1.1.0", Action::Publish, None)];
        let review_only = vec![package("a", "1.0.0", Action::Publish, None)];
        let diff = super::diff(
            &plan("sha256:1", review_only, vec![]),
            &plan("sha256:2", raised, vec![]),
        );
        assert_eq!(diff.packages.len(), 1);
        assert!(diff.bytes_compared);
    }

    #[test]
    fn another_target_registry_is_a_change() {
        let old = plan("sha256:1", vec![], vec![]);
        let mut new = plan("sha256:2", vec![], vec![]);
        new.registry = RegistryTarget {
            name: Some("internal".into()),
            index: "sparse+https://crates.internal.invalid/index/".into(),
        };
        let diff = diff(&old, &new);
        assert_eq!(
            diff.registry,
            Some(RegistryChange {
                from: old.registry.clone(),
                to: new.registry.clone()
            })
        );
        assert!(!diff.is_empty());
        assert!(
            markdown(&diff).contains(
                "**Target registry** `crates-io` (`sparse+https://index.crates.io/`) → \
                 `internal` (`sparse+https://crates.internal.invalid/index/`)"
            ),
            "{}",
            markdown(&diff)
        );
    }

    #[test]
    fn json_names_each_change_by_kind() {
        let (old, new) = every_kind();
        let json: serde_json::Value =
            serde_json::from_str(&diff(&old, &new).to_pretty_json()).expect("json");
        assert_eq!(json["digests_equal"], false);
        assert_eq!(json["bytes_compared"], true);
        assert_eq!(json["registry"], serde_json::Value::Null);
        assert_eq!(
            json["packages"][0],
            serde_json::json!({
                "change": "action", "name": "a-skipped", "from": "publish", "to": "skip",
                "from_version": "1.0.0", "to_version": "1.0.0",
            })
        );
        assert_eq!(
            json["packages"][1],
            serde_json::json!({
                "change": "version", "name": "b-raised", "from": "1.0.0", "to": "1.1.0",
            })
        );
        assert_eq!(
            json["packages"][2],
            serde_json::json!({
                "change": "bytes", "name": "c-rebuilt", "version": "1.0.0",
                "from": "c1", "to": "c2",
            })
        );
        assert_eq!(
            json["diagnostics_added"][0],
            serde_json::json!({
                "package": "e-new", "code": "version-exists", "severity": "error",
                "message": "e is taken",
            })
        );
    }

    #[test]
    fn markdown_of_every_kind_of_change() {
        let (old, new) = every_kind();
        let mut diff = diff(&old, &new);
        // Full-length checksums are shortened in the table.
        if let Some(PackageChange::Bytes { from, to, .. }) = diff.packages.get_mut(2) {
            *from = "0123456789abcdef".repeat(4);
            *to = "fedcba9876543210".repeat(4);
        }
        insta::assert_snapshot!(markdown(&diff));
    }

    /// Package names, codes, messages and checksums as a hand-edited plan file may have them.
    fn hostile() -> (Plan, Plan) {
        let name = "x|`y`<script>alert(1)</script>";
        let message =
            "<script>alert(1)</script> `code` *bold* | a | b |\n\n# Fake heading\n![i](https://attacker.invalid/i.png)";
        let old = plan(
            "sha256:old",
            vec![
                package(name, "1.0.0", Action::Publish, Some("é|`<script>é")),
                package("gone|`x`", "1.0.0", Action::Publish, None),
            ],
            vec![diagnostic("old|`code`", name, Severity::Warning, message)],
        );
        let new = plan(
            "sha256:new",
            vec![
                package(name, "1.0.0", Action::Publish, Some("é|`<b>x</b>`é")),
                package("new<script>|", "1.0.0", Action::Publish, None),
            ],
            vec![diagnostic("bad|`code`", name, Severity::Error, message)],
        );
        (old, new)
    }

    #[test]
    fn the_markdown_escapes_what_the_workspace_wrote() {
        let (old, new) = hostile();
        insta::assert_snapshot!(markdown(&diff(&old, &new)));
    }

    #[test]
    fn hostile_text_adds_no_heading_html_or_table_cell() {
        use pulldown_cmark::{html, Options, Parser};
        let (old, new) = hostile();
        let out = markdown(&diff(&old, &new));
        let mut rendered = String::new();
        html::push_html(
            &mut rendered,
            Parser::new_ext(
                &out,
                Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_GFM,
            ),
        );
        let headings: Vec<&str> = rendered.lines().filter(|l| l.starts_with("<h")).collect();
        assert_eq!(headings, ["<h3>Changes to the release</h3>"], "{rendered}");
        for tag in ["<script", "<img", "<a ", "<b>"] {
            assert!(!rendered.contains(tag), "{tag} in {rendered}");
        }
        let table = &rendered[rendered.find("<table>").expect("a table")..];
        let table = &table[..table.find("</table>").expect("closed table")];
        let rows: Vec<&str> = table.split("<tr>").skip(2).collect();
        assert_eq!(rows.len(), 3, "{table}");
        for row in rows {
            assert_eq!(row.matches("</td>").count(), 2, "{row}");
        }
        // The names are still shown as written.
        assert!(
            rendered.contains("<code>x|`y`&lt;script&gt;alert(1)&lt;/script&gt;</code>"),
            "{rendered}"
        );
    }
}
