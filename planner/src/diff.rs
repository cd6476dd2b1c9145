//! What changes in a release between two plans (`convoy-plan diff OLD NEW`): the base branch's
//! plan against a pull request's, so a reviewer sees what the pull request does to the release —
//! packages that start or stop being published, versions, bytes under an unchanged version, and
//! diagnostics that appear or go away. Pure: two plans in, a [`PlanDiff`] out, rendered as
//! Markdown for the pull-request comment or as JSON.

use std::collections::{BTreeMap, BTreeSet};

use convoy_cli::markdown::{cell_code, code, text};
use convoy_schema::plan::{Action, Diagnostic, Package, Plan, Severity};
use serde::Serialize;

/// What differs between two plans, sorted by package, then code.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PlanDiff {
    /// The two digests.
    pub old_digest: String,
    /// The new plan's digest.
    pub new_digest: String,
    /// One entry per package whose release changes.
    pub packages: Vec<PackageChange>,
    /// Diagnostics in the new plan and not the old.
    pub diagnostics_added: Vec<DiagnosticKey>,
    /// Diagnostics in the old plan and not the new.
    pub diagnostics_removed: Vec<DiagnosticKey>,
}

/// A diagnostic as the diff compares it: its code, package and severity (messages may quote
/// paths or versions that change without the finding changing).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct DiagnosticKey {
    /// The package, if any.
    pub package: Option<String>,
    /// Stable code.
    pub code: String,
    /// `error` or `warning`.
    pub severity: Severity,
    /// The message in the plan that has it.
    pub message: String,
}

/// How one package's release changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "kebab-case")]
pub enum PackageChange {
    /// Published by the new plan, not by the old (new, or newly selected).
    Added {
        /// Package.
        name: String,
        /// Version to publish.
        version: String,
    },
    /// Published by the old plan, not by the new.
    Removed {
        /// Package.
        name: String,
        /// Version the old plan published.
        version: String,
        /// What the new plan does with it instead (`skip`, `excluded`, or absent).
        now: Option<Action>,
    },
    /// Published by both, at another version.
    Version {
        /// Package.
        name: String,
        /// Old version.
        from: String,
        /// New version.
        to: String,
    },
    /// Published by both at the same version, with other bytes.
    Bytes {
        /// Package.
        name: String,
        /// Version.
        version: String,
        /// Old checksum.
        from: String,
        /// New checksum.
        to: String,
    },
}

impl PlanDiff {
    /// Whether the release is the same (digests may still differ: commit, observations).
    pub fn is_empty(&self) -> bool {
        self.packages.is_empty()
            && self.diagnostics_added.is_empty()
            && self.diagnostics_removed.is_empty()
    }
}

fn published(plan: &Plan) -> BTreeMap<&str, &Package> {
    plan.packages
        .iter()
        .filter(|p| p.action == Action::Publish)
        .map(|p| (p.name.as_str(), p))
        .collect()
}

fn keys(diagnostics: &[Diagnostic]) -> BTreeMap<(Option<String>, String, Severity), String> {
    diagnostics
        .iter()
        .map(|d| {
            (
                (d.package.clone(), d.code.clone(), d.severity),
                d.message.clone(),
            )
        })
        .collect()
}

/// What `new` changes in the release `old` describes.
pub fn diff(old: &Plan, new: &Plan) -> PlanDiff {
    let (before, after) = (published(old), published(new));
    let names: BTreeSet<&str> = before.keys().chain(after.keys()).copied().collect();
    let mut packages = Vec::new();
    for name in names {
        match (before.get(name), after.get(name)) {
            (None, Some(p)) => packages.push(PackageChange::Added {
                name: name.to_owned(),
                version: p.version.to_string(),
            }),
            (Some(p), None) => packages.push(PackageChange::Removed {
                name: name.to_owned(),
                version: p.version.to_string(),
                now: new
                    .packages
                    .iter()
                    .find(|q| q.name == name)
                    .map(|q| q.action),
            }),
            (Some(a), Some(b)) if a.version != b.version => {
                packages.push(PackageChange::Version {
                    name: name.to_owned(),
                    from: a.version.to_string(),
                    to: b.version.to_string(),
                });
            }
            (Some(a), Some(b)) => {
                if let (Some(x), Some(y)) = (&a.artifact, &b.artifact) {
                    if x.sha256 != y.sha256 {
                        packages.push(PackageChange::Bytes {
                            name: name.to_owned(),
                            version: b.version.to_string(),
                            from: x.sha256.clone(),
                            to: y.sha256.clone(),
                        });
                    }
                }
            }
            (None, None) => {}
        }
    }
    let (was, is) = (keys(&old.diagnostics), keys(&new.diagnostics));
    let only = |a: &BTreeMap<(Option<String>, String, Severity), String>,
                b: &BTreeMap<(Option<String>, String, Severity), String>| {
        let mut list: Vec<DiagnosticKey> = a
            .iter()
            .filter(|(key, _)| !b.contains_key(*key))
            .map(|((package, code, severity), message)| DiagnosticKey {
                package: package.clone(),
                code: code.clone(),
                severity: *severity,
                message: message.clone(),
            })
            .collect();
        // Errors first, then by package and code.
        list.sort_by(|x, y| {
            (x.severity, &x.package, &x.code).cmp(&(y.severity, &y.package, &y.code))
        });
        list
    };
    PlanDiff {
        old_digest: old.digest.clone(),
        new_digest: new.digest.clone(),
        packages,
        diagnostics_added: only(&is, &was),
        diagnostics_removed: only(&was, &is),
    }
}

fn action_words(action: Option<Action>) -> &'static str {
    match action {
        Some(Action::Skip) => "already in the registry",
        Some(Action::Excluded) => "excluded",
        Some(Action::Publish) => "published",
        None => "no longer in the workspace",
    }
}

fn severity_words(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// The diff as Markdown for a pull-request comment; every workspace string escaped.
pub fn markdown(diff: &PlanDiff) -> String {
    let mut out = String::from("### Changes to the release\n\n");
    if diff.is_empty() {
        out.push_str(&format!(
            "No change to the release: plans {} and {} publish the same packages, versions and bytes.\n",
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
    if !diff.packages.is_empty() {
        out.push_str("\n| Package | Change |\n|---|---|\n");
        for change in &diff.packages {
            let (name, words) = match change {
                PackageChange::Added { name, version } => {
                    (name, format!("now published: {}", cell_code(version)))
                }
                PackageChange::Removed { name, version, now } => (
                    name,
                    format!(
                        "no longer published ({} was; now {})",
                        cell_code(version),
                        action_words(*now)
                    ),
                ),
                PackageChange::Version { name, from, to } => (
                    name,
                    format!("version {} → {}", cell_code(from), cell_code(to)),
                ),
                PackageChange::Bytes {
                    name,
                    version,
                    from,
                    to,
                } => (
                    name,
                    format!(
                        "**other bytes under the same version** {}: sha256 {} → {}",
                        cell_code(version),
                        cell_code(&from[..from.len().min(12)]),
                        cell_code(&to[..to.len().min(12)])
                    ),
                ),
            };
            out.push_str(&format!("| {} | {words} |\n", cell_code(name)));
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

    #[test]
    fn every_kind_of_change_in_package_order() {
        let old = plan(
            "sha256:old",
            vec![
                package("a", "1.0.0", Action::Publish, Some("aaaa")),
                package("b", "1.0.0", Action::Publish, None),
                package("c", "1.0.0", Action::Publish, Some("c1")),
                package("d", "1.0.0", Action::Publish, Some("d1")),
                package("gone", "0.1.0", Action::Publish, None),
            ],
            vec![diagnostic("missing-license", "c", Severity::Warning, "old")],
        );
        let new = plan(
            "sha256:new",
            vec![
                package("a", "1.0.0", Action::Skip, None),
                package("b", "1.1.0", Action::Publish, None),
                package("c", "1.0.0", Action::Publish, Some("c2")),
                package("d", "1.0.0", Action::Publish, Some("d1")),
                package("e", "0.1.0", Action::Publish, None),
            ],
            vec![
                diagnostic("missing-license", "c", Severity::Warning, "reworded"),
                diagnostic("version-exists", "e", Severity::Error, "e is taken"),
            ],
        );
        let diff = diff(&old, &new);
        assert_eq!(
            diff.packages,
            [
                PackageChange::Removed {
                    name: "a".into(),
                    version: "1.0.0".into(),
                    now: Some(Action::Skip)
                },
                PackageChange::Version {
                    name: "b".into(),
                    from: "1.0.0".into(),
                    to: "1.1.0".into()
                },
                PackageChange::Bytes {
                    name: "c".into(),
                    version: "1.0.0".into(),
                    from: "c1".into(),
                    to: "c2".into()
                },
                PackageChange::Added {
                    name: "e".into(),
                    version: "0.1.0".into()
                },
                PackageChange::Removed {
                    name: "gone".into(),
                    version: "0.1.0".into(),
                    now: None
                },
            ]
        );
        // A reworded message is the same finding.
        assert_eq!(diff.diagnostics_removed, []);
        assert_eq!(diff.diagnostics_added.len(), 1);
        assert_eq!(diff.diagnostics_added[0].code, "version-exists");
        assert!(!diff.is_empty());
    }

    #[test]
    fn the_same_release_is_no_change_even_with_other_digests() {
        let packages = vec![package("a", "1.0.0", Action::Publish, Some("aa"))];
        let diff = diff(
            &plan("sha256:1", packages.clone(), vec![]),
            &plan("sha256:2", packages, vec![]),
        );
        assert!(diff.is_empty());
        assert!(markdown(&diff).contains("No change to the release"));
    }

    #[test]
    fn the_markdown_escapes_what_the_workspace_wrote() {
        let old = plan("sha256:old", vec![], vec![]);
        let new = plan(
            "sha256:new",
            vec![package("x|`y`<script>", "1.0.0", Action::Publish, None)],
            vec![diagnostic(
                "bad|code",
                "x|`y`<script>",
                Severity::Error,
                "<img src=x onerror=alert(1)> *bold* | pipe",
            )],
        );
        insta::assert_snapshot!(markdown(&diff(&old, &new)));
    }
}
