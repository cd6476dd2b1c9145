//! Human-readable forms of a plan: Markdown for pull-request comments and plain text for a
//! terminal. Both are pure functions of the plan, so `convoy-plan show` renders exactly what was
//! reviewed.
//!
//! Markdown layout (for a PR comment, or `$GITHUB_STEP_SUMMARY`):
//!
//! ```text
//! ## Convoy release plan
//! Plan digest: `sha256:…`  (pin it with --expect-digest)
//! Registry / Source lines
//! **summary line**
//! ### Wave 0 … table: Package | Version (current → planned) | Action | Diagnostics
//! ### Not published … table of skip and excluded packages with reasons
//! ### Diagnostics … one bullet each, errors first, with help
//! <details> Manifest edits </details>
//! <details> Published manifests, one nested <details> per package </details>
//! ```

use std::fmt::Write as _;

use convoy_schema::plan::{Action, Diagnostic, Package, PackagingSource, Plan, Severity};

use crate::planning::{latest, observed, severity_counts};

/// One line: counts of packages by action and of diagnostics by severity.
pub fn summary_line(plan: &Plan) -> String {
    let count = |action: Action| plan.packages.iter().filter(|p| p.action == action).count();
    let (errors, warnings) = severity_counts(&plan.diagnostics);
    let waves = plan.waves.len();
    format!(
        "{} to publish in {} {}, {} already published, {} excluded; {} {}, {} {}",
        count(Action::Publish),
        waves,
        plural(waves, "wave", "waves"),
        count(Action::Skip),
        count(Action::Excluded),
        errors,
        plural(errors, "error", "errors"),
        warnings,
        plural(warnings, "warning", "warnings"),
    )
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

fn action_word(action: Action) -> &'static str {
    match action {
        Action::Publish => "publish",
        Action::Skip => "skip",
        Action::Excluded => "excluded",
    }
}

/// `current → planned`, where current is the highest unyanked version observed in the registry.
fn version_change(plan: &Plan, package: &Package) -> String {
    let current = observed(&plan.inputs.registry_observations.crates, &package.name)
        .and_then(latest)
        .map_or_else(|| "—".to_owned(), ToString::to_string);
    format!("{current} → {}", package.version)
}

fn source_words(plan: &Plan) -> String {
    match &plan.inputs.git {
        Some(git) => format!(
            "commit `{}`{}",
            git.commit,
            if git.dirty {
                " with uncommitted changes"
            } else {
                ""
            }
        ),
        None => "not a git checkout".to_owned(),
    }
}

fn artifact_words(plan: &Plan) -> String {
    match &plan.packaging {
        None => {
            "none — a review-only plan, which cannot be executed (plan with --bundle to package)"
                .to_owned()
        }
        Some(packaging) => {
            let source = match packaging.source {
                PackagingSource::GitCommit => "the commit",
                PackagingSource::Copy => "a copy of the tree",
            };
            let mut words = format!(
                "{} `.crate` files packaged from {source} by {}",
                plan.packages
                    .iter()
                    .filter(|p| p.artifact.is_some())
                    .count(),
                packaging.cargo_version
            );
            for (flag, text) in [
                (packaging.edits_applied, "manifest edits applied"),
                (packaging.build_verified, "build verified"),
                (packaging.reproducibility_checked, "reproducibility checked"),
            ] {
                if flag {
                    words.push_str("; ");
                    words.push_str(text);
                }
            }
            words
        }
    }
}

/// `sha256 prefix, size`, or a dash without an artifact.
fn artifact_cell(package: &Package) -> String {
    package.artifact.as_ref().map_or_else(
        || "—".to_owned(),
        |a| {
            format!(
                "`{}…` {}",
                &a.sha256[..a.sha256.len().min(12)],
                human_size(a.size)
            )
        },
    )
}

fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} B")
    } else if bytes < 1024 * 1024 {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
    }
}

fn registry_words(plan: &Plan) -> String {
    match &plan.registry.name {
        Some(name) => format!("`{name}` (`{}`)", plan.registry.index),
        None => format!("`{}`", plan.registry.index),
    }
}

fn diagnostics_of<'a>(plan: &'a Plan, package: &str) -> impl Iterator<Item = &'a Diagnostic> + 'a {
    let package = package.to_owned();
    plan.diagnostics
        .iter()
        .filter(move |d| d.package.as_deref() == Some(package.as_str()))
}

fn severity_word(severity: Severity) -> &'static str {
    match severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Escapes text for a Markdown table cell.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The Markdown form of a plan.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Convoy release plan\n");
    let _ = writeln!(out, "Plan digest: `{}`  ", plan.digest);
    let _ = writeln!(out, "Registry: {}  ", registry_words(plan));
    let _ = writeln!(out, "Source: {}  ", source_words(plan));
    let _ = writeln!(out, "Artifacts: {}\n", artifact_words(plan));
    let _ = writeln!(out, "**{}**\n", summary_line(plan));

    for (wave, names) in plan.waves.iter().enumerate() {
        let _ = writeln!(out, "### Wave {wave}\n");
        let _ = writeln!(
            out,
            "| Package | Version | Action | Artifact | Diagnostics |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for package in names.iter().filter_map(|name| plan.package(name)) {
            let codes: Vec<String> = diagnostics_of(plan, &package.name)
                .map(|d| format!("{} `{}`", severity_word(d.severity), d.code))
                .collect();
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} | {} |",
                package.name,
                version_change(plan, package),
                action_word(package.action),
                artifact_cell(package),
                cell(&codes.join(", "))
            );
        }
        out.push('\n');
    }

    let unpublished: Vec<&Package> = plan
        .packages
        .iter()
        .filter(|p| p.action != Action::Publish)
        .collect();
    if !unpublished.is_empty() {
        let _ = writeln!(out, "### Not published\n");
        let _ = writeln!(out, "| Package | Version | Action | Reason |");
        let _ = writeln!(out, "|---|---|---|---|");
        for package in unpublished {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} | {} |",
                package.name,
                package.version,
                action_word(package.action),
                cell(&package.reason)
            );
        }
        out.push('\n');
    }

    if !plan.diagnostics.is_empty() {
        let _ = writeln!(out, "### Diagnostics\n");
        for d in &plan.diagnostics {
            let package = d
                .package
                .as_deref()
                .map(|p| format!(" `{p}`"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- **{}** `{}`{package}: {}  \n  help: {}",
                severity_word(d.severity),
                d.code,
                d.message,
                d.help
            );
        }
        out.push('\n');
    }

    let edits: Vec<&str> = plan
        .packages
        .iter()
        .flat_map(|p| p.manifest.edits.iter().map(|e| e.summary.as_str()))
        .collect();
    if !edits.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Manifest edits ({})</summary>\n",
            edits.len()
        );
        for edit in edits {
            let _ = writeln!(out, "- {edit}");
        }
        let _ = writeln!(out, "\n</details>\n");
    }

    let published: Vec<&Package> = plan
        .packages
        .iter()
        .filter(|p| p.action == Action::Publish)
        .collect();
    let packaged: Vec<&Package> = published
        .iter()
        .copied()
        .filter(|p| p.artifact.is_some())
        .collect();
    if !packaged.is_empty() {
        let _ = writeln!(out, "<details><summary>Packaged files</summary>\n");
        for package in packaged {
            let Some(artifact) = &package.artifact else {
                continue;
            };
            let _ = writeln!(
                out,
                "<details><summary><code>{}</code> — {} files, {}, sha256 <code>{}</code></summary>\n",
                artifact.file,
                artifact.files.len(),
                human_size(artifact.size),
                artifact.sha256
            );
            for file in &artifact.files {
                let _ = writeln!(out, "- `{file}`");
            }
            let _ = writeln!(out, "\n</details>\n");
        }
        let _ = writeln!(out, "</details>\n");
    }

    if !published.is_empty() {
        let _ = writeln!(out, "<details><summary>Published manifests</summary>\n");
        for package in published {
            let _ = writeln!(
                out,
                "<details><summary><code>{}</code> {}</summary>\n\n```toml\n{}```\n\n</details>\n",
                package.name,
                package.version,
                with_trailing_newline(&package.manifest.published)
            );
        }
        let _ = writeln!(out, "</details>");
    }
    out
}

fn with_trailing_newline(text: &str) -> String {
    if text.ends_with('\n') {
        text.to_owned()
    } else {
        format!("{text}\n")
    }
}

/// One diagnostic on one line, as terminals and CI logs show it: `severity[code] package: message`.
pub fn diagnostic_line(d: &Diagnostic) -> String {
    let package = d
        .package
        .as_deref()
        .map(|p| format!(" {p}:"))
        .unwrap_or_default();
    format!(
        "{}[{}]{package} {}",
        severity_word(d.severity),
        d.code,
        d.message
    )
}

/// The terminal form of a plan.
pub fn human(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "plan      {}", plan.digest);
    let _ = writeln!(out, "registry  {}", registry_words(plan).replace('`', ""));
    let _ = writeln!(out, "source    {}", source_words(plan).replace('`', ""));
    let _ = writeln!(out, "artifacts {}", artifact_words(plan).replace('`', ""));
    let _ = writeln!(out, "{}", summary_line(plan));
    let width = plan
        .packages
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    for (wave, names) in plan.waves.iter().enumerate() {
        let _ = writeln!(out, "\nwave {wave}");
        for package in names.iter().filter_map(|name| plan.package(name)) {
            let artifact = package
                .artifact
                .as_ref()
                .map(|a| format!("  sha256 {}  {}", a.sha256, human_size(a.size)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {:width$}  {}{artifact}",
                package.name,
                version_change(plan, package)
            );
        }
    }
    for action in [Action::Skip, Action::Excluded] {
        let listed: Vec<&Package> = plan
            .packages
            .iter()
            .filter(|p| p.action == action)
            .collect();
        if listed.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{}", action_word(action));
        for package in listed {
            let _ = writeln!(
                out,
                "  {:width$}  {}  {}",
                package.name, package.version, package.reason
            );
        }
    }
    if !plan.diagnostics.is_empty() {
        out.push('\n');
    }
    for d in &plan.diagnostics {
        let _ = writeln!(out, "{}\n  help: {}", diagnostic_line(d), d.help);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planning::plan;
    use crate::testing::{member, workspace};
    use convoy_schema::plan::DependencyKind;

    fn example() -> Plan {
        plan(&workspace(vec![
            member("core", "0.2.0", &[], ""),
            member(
                "macros",
                "0.2.0",
                &[("core", DependencyKind::Dev, Some("0.2"))],
                "",
            ),
            member(
                "app",
                "0.2.0",
                &[
                    ("core", DependencyKind::Normal, None),
                    ("macros", DependencyKind::Normal, Some("0.2")),
                ],
                "",
            ),
            member("xtask", "0.1.0", &[], "publish = false\n"),
        ]))
        .expect("plan")
    }

    #[test]
    fn markdown_snapshot() {
        insta::assert_snapshot!(markdown(&example()));
    }

    #[test]
    fn human_snapshot() {
        insta::assert_snapshot!(human(&example()));
    }

    #[test]
    fn table_cells_escape_pipes() {
        assert_eq!(cell("a|b\nc"), "a\\|b c");
    }
}
