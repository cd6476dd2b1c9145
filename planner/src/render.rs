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
//! ### Versions … table: Package | Last release → New | How | Reason | Tag
//! <details> Commits since the last release, per package </details>
//! ### Wave 0 … table: Package | Version (current → planned) | Action | Diagnostics
//! ### Not published … table of skip and excluded packages with reasons
//! ### Diagnostics … one bullet each, errors first, with help
//! <details> Source edits (manifests, Cargo.lock, changelogs) </details>
//! <details> Published manifests, one nested <details> per package </details>
//! ```
//!
//! Every string taken from the plan goes through [`escape`], whatever field it is: the plan
//! carries text from the workspace under review, and `show` reads plan files from anywhere.

use convoy_cli::markdown as escape;

use std::fmt::Write as _;

use convoy_schema::plan::{Action, Diagnostic, Package, PackagingSource, Plan, Release, Severity};

use crate::planning::{latest, observed, severity_counts};

/// How the words shared by both forms show a value from the plan: quoted as code, or as text.
struct Style {
    code: fn(&str) -> String,
    text: fn(&str) -> String,
}

/// The terminal shows values as they are.
const PLAIN: Style = Style {
    code: str::to_owned,
    text: str::to_owned,
};

/// Markdown shows them escaped.
const MARKDOWN: Style = Style {
    code: escape::code,
    text: escape::text,
};

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

/// `current → planned`, where current is the highest unyanked version observed in the registry
/// (for a Python project, on the index).
fn version_change(plan: &Plan, package: &Package, style: &Style) -> String {
    let current = match &package.python {
        None => observed(&plan.inputs.registry_observations.crates, &package.name)
            .and_then(latest)
            .map(ToString::to_string),
        Some(_) => latest_served(plan, &package.name),
    }
    .map_or_else(|| "—".to_owned(), |v| (style.text)(&v));
    format!("{current} → {}", (style.text)(&shown_version(package)))
}

/// The version as the package's ecosystem writes it: PEP 440 for a Python project.
pub fn shown_version(package: &Package) -> String {
    match &package.python {
        Some(python) => python.version.clone(),
        None => package.version.to_string(),
    }
}

/// `version` (canonical) as `package`'s ecosystem writes it.
fn in_ecosystem(package: &Package, version: &semver::Version) -> String {
    match &package.python {
        Some(_) => crate::python::version::pep440_text(version),
        None => version.to_string(),
    }
}

/// The highest version with an unyanked file the index was observed to serve for a project.
fn latest_served(plan: &Plan, name: &str) -> Option<String> {
    plan.inputs
        .python
        .as_ref()?
        .observations
        .get(name)?
        .iter()
        .filter(|(_, files)| files.iter().any(|f| !f.yanked))
        .filter_map(|(v, _)| Some((v.parse::<pep440_rs::Version>().ok()?, v)))
        .max()
        .map(|(_, v)| v.clone())
}

fn source_words(plan: &Plan, style: &Style) -> String {
    match &plan.inputs.git {
        Some(git) => format!(
            "commit {}{}",
            (style.code)(&git.commit),
            if git.dirty {
                " with uncommitted changes"
            } else {
                ""
            }
        ),
        None => "not a git checkout".to_owned(),
    }
}

fn artifact_words(plan: &Plan, style: &Style) -> String {
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
                "{} {} files packaged from {source} by {}",
                plan.packages
                    .iter()
                    .filter(|p| p.artifact.is_some())
                    .count(),
                (style.code)(".crate"),
                (style.text)(&packaging.cargo_version)
            );
            let python: Vec<&convoy_schema::python::PythonRelease> = plan
                .packages
                .iter()
                .filter_map(|p| p.python.as_ref())
                .filter(|p| !p.files.is_empty())
                .collect();
            if let Some(tool) = python.iter().find_map(|p| p.build.as_ref()) {
                words.push_str(&format!(
                    "; {} Python files built from the commit by {}",
                    python.iter().map(|p| p.files.len()).sum::<usize>(),
                    (style.text)(&tool.tool)
                ));
            }
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

/// `sha256 prefix, size`, or a dash without an artifact; for a Python project, its files.
fn artifact_cell(package: &Package) -> String {
    if let Some(python) = package.python.as_ref().filter(|p| !p.files.is_empty()) {
        let size: u64 = python.files.iter().map(|f| f.size).sum();
        return format!("{} files, {}", python.files.len(), human_size(size));
    }
    package.artifact.as_ref().map_or_else(
        || "—".to_owned(),
        |a| {
            // By characters: a plan file given to `show` may hold anything here.
            let prefix: String = a.sha256.chars().take(12).collect();
            format!(
                "{} {}",
                escape::cell_code(&format!("{prefix}…")),
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

fn registry_words(plan: &Plan, style: &Style) -> String {
    let index = (style.code)(&plan.registry.index);
    let mut words = match &plan.registry.name {
        Some(name) => format!("{} ({index})", (style.code)(name)),
        None => index,
    };
    if let Some(python) = &plan.python {
        words.push_str(&format!("; Python index {}", (style.code)(&python.index)));
    }
    words
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

/// The Markdown form of a plan.
pub fn markdown(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Convoy release plan\n");
    let _ = writeln!(out, "Plan digest: {}  ", escape::code(&plan.digest));
    let _ = writeln!(out, "Registry: {}  ", registry_words(plan, &MARKDOWN));
    let _ = writeln!(out, "Source: {}  ", source_words(plan, &MARKDOWN));
    let _ = writeln!(out, "Artifacts: {}\n", artifact_words(plan, &MARKDOWN));
    let _ = writeln!(out, "**{}**\n", summary_line(plan));
    markdown_versions(plan, &mut out);

    for (wave, names) in plan.waves.iter().enumerate() {
        let _ = writeln!(out, "### Wave {wave}\n");
        let _ = writeln!(
            out,
            "| Package | Version | Action | Artifact | Diagnostics |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|");
        for package in names.iter().filter_map(|name| plan.package(name)) {
            let codes: Vec<String> = diagnostics_of(plan, &package.key())
                .map(|d| {
                    format!(
                        "{} {}",
                        severity_word(d.severity),
                        escape::cell_code(&d.code)
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                escape::cell_code(&package.key()),
                version_change(plan, package, &MARKDOWN),
                action_word(package.action),
                artifact_cell(package),
                codes.join(", ")
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
                "| {} | {} | {} | {} |",
                escape::cell_code(&package.key()),
                escape::text(&shown_version(package)),
                action_word(package.action),
                escape::text(&package.reason)
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
                .map(|p| format!(" {}", escape::code(p)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "- **{}** {}{package}: {}  \n  help: {}",
                severity_word(d.severity),
                escape::code(&d.code),
                escape::text(&d.message),
                escape::text(&d.help)
            );
        }
        out.push('\n');
    }

    let edits = source_edits(plan);
    if !edits.is_empty() {
        let _ = writeln!(
            out,
            "<details><summary>Source edits ({})</summary>\n",
            edits.len()
        );
        for edit in edits {
            let _ = writeln!(out, "- {}", escape::text(&edit));
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
                escape::html(&artifact.file),
                artifact.files.len(),
                human_size(artifact.size),
                escape::html(&artifact.sha256)
            );
            for file in &artifact.files {
                let _ = writeln!(out, "- {}", escape::code(file));
            }
            let _ = writeln!(out, "\n</details>\n");
        }
        let _ = writeln!(out, "</details>\n");
    }
    let built: Vec<&Package> = published
        .iter()
        .copied()
        .filter(|p| p.python.as_ref().is_some_and(|py| !py.files.is_empty()))
        .collect();
    if !built.is_empty() {
        let _ = writeln!(out, "<details><summary>Python files</summary>\n");
        for package in built {
            let Some(python) = &package.python else {
                continue;
            };
            let _ = writeln!(
                out,
                "<details><summary><code>{}</code> {}{}</summary>\n",
                escape::html(&package.key()),
                escape::html(&python.version),
                python
                    .build
                    .as_ref()
                    .map(|b| format!(
                        ", built by {}{}",
                        escape::html(b.backend.as_deref().unwrap_or(&b.tool)),
                        if b.native {
                            " (native: this platform only)"
                        } else {
                            ""
                        }
                    ))
                    .unwrap_or_default()
            );
            for file in &python.files {
                let _ = writeln!(
                    out,
                    "- {} {}, sha256 {}",
                    escape::code(&file.filename),
                    human_size(file.size),
                    escape::code(&file.sha256)
                );
            }
            for edit in &python.requirement_edits {
                let _ = writeln!(
                    out,
                    "- requirement {} published as {}",
                    escape::code(&edit.from),
                    escape::code(&edit.to)
                );
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
                "<details><summary><code>{}</code> {}</summary>\n\n{}\n</details>\n",
                escape::html(&package.key()),
                escape::html(&shown_version(package)),
                escape::code_block("toml", &package.manifest.published)
            );
        }
        let _ = writeln!(out, "</details>");
    }
    out
}

/// Every change the plan makes to the tree, in words: manifest edits (each once), `Cargo.lock`
/// versions and changelog sections.
pub fn source_edits(plan: &Plan) -> Vec<String> {
    let mut edits: Vec<String> = Vec::new();
    for edit in crate::edits::manifest_edits(plan) {
        edits.push(edit.summary.clone());
    }
    for edit in &plan.lockfile_edits {
        edits.push(format!(
            "{}: `{}` {} → {}",
            crate::edits::LOCKFILE,
            edit.name,
            edit.from,
            edit.to
        ));
    }
    for package in plan
        .packages
        .iter()
        .filter(|p| p.action != Action::Excluded)
    {
        if let Some(changelog) = package.release.as_ref().and_then(|r| r.changelog.as_ref()) {
            edits.push(format!(
                "{}: a section for {} {}",
                changelog.file, package.name, package.version
            ));
        }
    }
    edits
}

/// Released packages: those with a release record that the plan publishes or skips.
fn released(plan: &Plan) -> impl Iterator<Item = (&Package, &Release)> {
    plan.packages
        .iter()
        .filter(|p| p.action != Action::Excluded)
        .filter_map(|p| Some((p, p.release.as_ref()?)))
}

fn last_release(package: &Package, release: &Release) -> String {
    release
        .last_tag
        .as_ref()
        .map_or_else(|| "new".to_owned(), |t| in_ecosystem(package, &t.version))
}

/// The version table and the commits behind it.
fn markdown_versions(plan: &Plan, out: &mut String) {
    let rows: Vec<(&Package, &Release)> = released(plan).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(out, "### Versions\n");
    let _ = writeln!(out, "| Package | Last release → New | How | Reason | Tag |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    for (package, release) in &rows {
        let _ = writeln!(
            out,
            "| {} | {} → {} | {} | {} | {} |",
            escape::cell_code(&package.key()),
            escape::text(&last_release(package, release)),
            escape::text(&shown_version(package)),
            escape::text(&release.level),
            escape::text(&package.reason),
            escape::cell_code(&release.tag)
        );
    }
    out.push('\n');
    let with_commits: Vec<&(&Package, &Release)> =
        rows.iter().filter(|(_, r)| !r.commits.is_empty()).collect();
    if with_commits.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<details><summary>Commits since the last release</summary>\n"
    );
    for (package, release) in with_commits {
        let since = release
            .last_tag
            .as_ref()
            .map(|t| escape::html(&t.name))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<details><summary><code>{}</code> — {} since {since}</summary>\n",
            escape::html(&package.key()),
            release.commits.len()
        );
        for commit in &release.commits {
            let short: String = commit.hash.chars().take(7).collect();
            let _ = writeln!(
                out,
                "- {} {}{}",
                escape::code(&short),
                escape::text(&commit.subject),
                if commit.breaking_note {
                    " (BREAKING CHANGE)"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(out, "\n</details>\n");
    }
    let _ = writeln!(out, "</details>\n");
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
    let _ = writeln!(out, "registry  {}", registry_words(plan, &PLAIN));
    let _ = writeln!(out, "source    {}", source_words(plan, &PLAIN));
    let _ = writeln!(out, "artifacts {}", artifact_words(plan, &PLAIN));
    let _ = writeln!(out, "{}", summary_line(plan));
    let width = plan
        .packages
        .iter()
        .map(|p| p.key().len())
        .max()
        .unwrap_or(0);
    let rows: Vec<(&Package, &Release)> = released(plan).collect();
    if !rows.is_empty() {
        let _ = writeln!(out, "\nversions");
        for (package, release) in rows {
            let _ = writeln!(
                out,
                "  {:width$}  {} → {}  {}  tag {}  ({} commit{})\n  {:width$}  {}",
                package.key(),
                last_release(package, release),
                shown_version(package),
                release.level,
                release.tag,
                release.commits.len(),
                plural(release.commits.len(), "", "s"),
                "",
                package.reason
            );
        }
    }
    let edits = source_edits(plan);
    if !edits.is_empty() {
        let _ = writeln!(out, "\nsource edits (convoy-plan apply writes them)");
        for edit in edits {
            let _ = writeln!(out, "  {edit}");
        }
    }
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
                package.key(),
                version_change(plan, package, &PLAIN)
            );
            for file in package.python.iter().flat_map(|p| &p.files) {
                let _ = writeln!(
                    out,
                    "  {:width$}    {}  sha256 {}  {}",
                    "",
                    file.filename,
                    file.sha256,
                    human_size(file.size)
                );
            }
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
                package.key(),
                shown_version(package),
                package.reason
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
    use convoy_schema::plan::{Artifact, DependencyKind, Packaging, PackagingSource};

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

    /// The example with two Python projects, one requiring the other, built (hand-made files).
    fn mixed() -> Plan {
        use crate::python::PythonProject;
        use convoy_schema::python::{DistFile, DistKind, PythonBuild, PythonTarget};
        let mut plan = example();
        let project = |dir: &str, name: &str, deps: &str| {
            PythonProject {
            dir: dir.into(),
            pyproject: format!("[project]\nname = \"{name}\"\nversion = \"0.2.0a1\"\ndescription = \"d\"\nreadme = \"R.md\"\nlicense = \"MIT\"\ndependencies = [{deps}]\n"),
            version_file: None,
        }
        };
        crate::python::plan::add_alone(
            &mut plan,
            &crate::model::PythonInput {
                projects: vec![
                    project("py/app", "demo-app", "\"demo-core\""),
                    project("py/core", "demo-core", ""),
                ],
                target: PythonTarget {
                    index: "https://pypi.org/simple/".into(),
                },
                observations: Default::default(),
                source: convoy_schema::plan::ObservationSource::Absent,
                pin: crate::config::Pin::Exact,
            },
            &Default::default(),
        );
        for package in &mut plan.packages {
            if let Some(python) = &mut package.python {
                let stem = package.name.replace('-', "_");
                python.files = vec![
                    DistFile {
                        filename: format!("{stem}-0.2.0a1.tar.gz"),
                        kind: DistKind::Sdist,
                        pyversion: "source".into(),
                        size: 2100,
                        sha256: "a".repeat(64),
                    },
                    DistFile {
                        filename: format!("{stem}-0.2.0a1-py3-none-any.whl"),
                        kind: DistKind::BdistWheel,
                        pyversion: "py3".into(),
                        size: 1900,
                        sha256: "b".repeat(64),
                    },
                ];
                python.build = Some(PythonBuild {
                    tool: "build 1.2.2.post1".into(),
                    backend: Some("hatchling.build".into()),
                    source_date_epoch: 1_704_164_645,
                    native: false,
                    reproducible: None,
                });
            }
        }
        plan.seal();
        plan
    }

    #[test]
    fn mixed_release_snapshots() {
        let plan = mixed();
        assert_eq!(plan.inconsistency(), None);
        insta::assert_snapshot!(human(&plan));
        insta::assert_snapshot!(markdown(&plan));
    }

    /// Text a pull request controls, trying every way out of the place the renderer puts it: a
    /// fence, a heading, an image, raw HTML, a link, table pipes, a blank line, a task list.
    const HOSTILE: &str = "x``` y\n```\n## Plan approved, digest sha256:00\n\
        ![ok](https://attacker.invalid/a.png) <img src=\"https://attacker.invalid/b.png\"> \
        [review](https://attacker.invalid/c) | a | b |\n\n# Fake\n<details open>\n- [x] done\n";

    /// The example with a hostile description in `app`'s manifest, and the same text in every
    /// other string the renderer shows, as a hand-edited plan file given to `show` may have it.
    fn hostile() -> Plan {
        let mut app = member(
            "app",
            "0.2.0",
            &[("core", DependencyKind::Normal, None)],
            "",
        );
        app.manifest_text = app.manifest_text.replace(
            "description = \"app\"",
            &format!("description = '''\n{HOSTILE}'''"),
        );
        app.description = Some(HOSTILE.to_owned());
        let mut plan = plan(&workspace(vec![
            member("core", "0.2.0", &[], ""),
            app,
            member("xtask", "0.1.0", &[], "publish = false\n"),
        ]))
        .expect("plan");
        let hostile = || HOSTILE.to_owned();
        plan.registry.name = Some(hostile());
        plan.registry.index = hostile();
        if let Some(git) = &mut plan.inputs.git {
            git.commit = hostile();
        }
        plan.packaging = Some(Packaging {
            cargo_version: hostile(),
            source: PackagingSource::GitCommit,
            edits_applied: true,
            build_verified: false,
            reproducibility_checked: false,
        });
        for package in &mut plan.packages {
            package.reason = hostile();
            for edit in &mut package.manifest.edits {
                edit.summary = hostile();
            }
            if let Some(release) = &mut package.release {
                release.level = hostile();
                release.tag = hostile();
                release.last_tag = Some(convoy_schema::plan::TagRef {
                    name: hostile(),
                    version: "1.0.0".parse().expect("version"),
                    commit: hostile(),
                });
                release.commits = vec![convoy_schema::plan::Commit {
                    hash: hostile(),
                    subject: hostile(),
                    breaking_note: true,
                }];
                release.changelog = Some(convoy_schema::plan::ChangelogEdit {
                    file: hostile(),
                    section: hostile(),
                });
            }
            if package.name == "core" {
                package.artifact = Some(Artifact {
                    file: hostile(),
                    size: 1,
                    sha256: hostile(),
                    lockfile: None,
                    packaged_against: Default::default(),
                    files: vec![hostile()],
                });
            }
            if package.name == "xtask" {
                package.name = hostile();
            }
        }
        for d in &mut plan.diagnostics {
            d.code = hostile();
            d.message = hostile();
            d.help = hostile();
        }
        plan
    }

    /// Byte ranges of `markdown` that are code (spans and blocks), where nothing is markup.
    fn code_ranges(markdown: &str) -> Vec<std::ops::Range<usize>> {
        use pulldown_cmark::{Event, Parser, Tag};
        Parser::new_ext(markdown, markdown_options())
            .into_offset_iter()
            .filter(|(event, _)| matches!(event, Event::Code(_) | Event::Start(Tag::CodeBlock(_))))
            .map(|(_, range)| range)
            .collect()
    }

    fn markdown_options() -> pulldown_cmark::Options {
        use pulldown_cmark::Options;
        Options::ENABLE_TABLES
            | Options::ENABLE_STRIKETHROUGH
            | Options::ENABLE_TASKLISTS
            | Options::ENABLE_MATH
            | Options::ENABLE_GFM
    }

    #[test]
    fn workspace_text_cannot_inject_markdown() {
        let out = markdown(&hostile());
        let ours = [
            "## Convoy release plan",
            "### Versions",
            "### Wave 0",
            "### Wave 1",
            "### Not published",
            "### Diagnostics",
        ];
        let code = code_ranges(&out);
        let in_code = |at: usize| code.iter().any(|r| r.contains(&at));

        // The source, line by line: outside code, the only lines that start a heading are the
        // renderer's own, and no `![` or `<img` is left unescaped.
        let mut at = 0;
        for line in out.split_inclusive('\n') {
            let start = at;
            at += line.len();
            if in_code(start) {
                continue;
            }
            let trimmed = line.trim_start_matches(' ').trim_end();
            assert!(
                !trimmed.starts_with('#') || ours.contains(&trimmed),
                "a heading of the workspace's: {line:?}\n{out}"
            );
        }
        for needle in ["![", "<img"] {
            for (index, _) in out.match_indices(needle) {
                assert!(
                    in_code(index) || out[..index].ends_with('\\'),
                    "unescaped {needle} at {index}: {:?}\n{out}",
                    &out[index.saturating_sub(40)..(index + 40).min(out.len())]
                );
            }
        }

        // The parsed document: the same headings, and no image, link or HTML of the workspace's.
        let mut html = String::new();
        pulldown_cmark::html::push_html(
            &mut html,
            pulldown_cmark::Parser::new_ext(&out, markdown_options()),
        );
        let headings: Vec<&str> = html.lines().filter(|l| l.starts_with("<h")).collect();
        assert_eq!(
            headings,
            [
                "<h2>Convoy release plan</h2>",
                "<h3>Versions</h3>",
                "<h3>Wave 0</h3>",
                "<h3>Wave 1</h3>",
                "<h3>Not published</h3>",
                "<h3>Diagnostics</h3>",
            ],
            "{html}"
        );
        assert!(!html.contains("<img"), "{html}");
        assert!(!html.contains("<a "), "{html}");
        assert!(!html.contains("<input"), "a task list: {html}");
        // Commits and one per released package, source edits, packaged files and one for
        // `core`, published manifests and one per package: the renderer's own.
        assert_eq!(html.matches("<details").count(), 9, "{html}");
        // Table cells keep the pipes as text: each row still has its header's cells.
        for table in html.split("<table>").skip(1) {
            let table = &table[..table.find("</table>").expect("closed table")];
            let columns = table[..table.find("</tr>").unwrap()]
                .matches("</th>")
                .count();
            for row in table.split("<tr>").skip(2) {
                assert_eq!(row.matches("</td>").count(), columns, "{row}");
            }
        }
        assert!(
            html.contains("| a | b |"),
            "the text is still shown: {html}"
        );
    }
}
