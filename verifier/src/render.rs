//! The three forms of a [`VerifyReport`] on standard output (`--format`): [`human`] (a table,
//! problems first), [`json`] (the report itself, the format of
//! `schemas/verify-report.v1.schema.json`) and [`markdown`] (for pull requests and
//! `$GITHUB_STEP_SUMMARY`). Pure: a report in, text out.

use convoy_schema::plan::Severity;
use convoy_schema::report::{CheckedPackage, VerifyReport};

fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
    }
}

/// Packages with problems first, then by name.
fn problems_first(report: &VerifyReport) -> Vec<&CheckedPackage> {
    let mut rows: Vec<_> = report.packages.iter().collect();
    rows.sort_by_key(|p| (p.ok, p.name.clone()));
    rows
}

/// The JSON report, pretty-printed, with a trailing newline.
pub fn json(report: &VerifyReport) -> String {
    serde_json::to_string_pretty(report).unwrap_or_default() + "\n"
}

/// A table, problems first.
pub fn human(report: &VerifyReport) -> String {
    let mut out = String::new();
    let problems = report.packages.iter().filter(|p| !p.ok).count();
    out.push_str(&format!(
        "verified {} packages against {} for plan {}: {} with problems\n",
        report.packages.len(),
        report.registry.index,
        report.plan_digest,
        problems
    ));
    for finding in &report.findings {
        out.push_str(&format!(
            "{}[{}] {}: {}\n",
            severity(finding.severity),
            finding.code,
            finding.package,
            finding.message
        ));
    }
    let width = report
        .packages
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(0);
    let version_width = report
        .packages
        .iter()
        .map(|p| shown_version(p).len())
        .max()
        .unwrap_or(0);
    for package in problems_first(report) {
        out.push_str(&format!(
            "  {}  {:width$}  {:version_width$}  {}\n",
            if package.ok { "ok  " } else { "FAIL" },
            package.name,
            shown_version(package),
            package
                .observed_cksum
                .as_deref()
                .unwrap_or("(not in the index)")
        ));
    }
    out
}

/// The version as the package's ecosystem writes it.
fn shown_version(package: &convoy_schema::report::CheckedPackage) -> String {
    package
        .ecosystem_version
        .clone()
        .unwrap_or_else(|| package.version.to_string())
}

/// For pull requests and `$GITHUB_STEP_SUMMARY`. Everything in it comes from the plan or from
/// what the registry served, so all of it is escaped ([`convoy_cli::markdown`]).
pub fn markdown(report: &VerifyReport) -> String {
    use convoy_cli::markdown::{cell_code, code, text};
    let mut out = format!(
        "## Convoy verification\n\nPlan {} against {}: **{}**\n\n| Package | Version | Result | cksum in the index |\n|---|---|---|---|\n",
        code(&report.plan_digest),
        code(&report.registry.index),
        if report.has_errors() { "problems found" } else { "everything matches" }
    );
    for package in problems_first(report) {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            cell_code(&package.name),
            text(&shown_version(package)),
            if package.ok { "ok" } else { "problem" },
            cell_code(package.observed_cksum.as_deref().unwrap_or("—"))
        ));
    }
    if !report.findings.is_empty() {
        out.push_str("\n### Findings\n\n");
        for finding in &report.findings {
            out.push_str(&format!(
                "- **{}** {} {}: {}\n",
                severity(finding.severity),
                code(finding.code.as_str()),
                code(&finding.package),
                text(&finding.message)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_schema::report::{Finding, FindingCode, REPORT_FORMAT_VERSION};
    use convoy_schema::snapshot::RegistryTarget;

    fn checked(name: &str, version: &str, cksum: Option<&str>, ok: bool) -> CheckedPackage {
        CheckedPackage {
            name: name.into(),
            version: version.parse().unwrap(),
            ecosystem_version: None,
            expected_cksum: Some("aa".repeat(32)),
            observed_cksum: cksum.map(str::to_owned),
            ok,
        }
    }

    fn finding(code: FindingCode, severity: Severity, package: &str, message: &str) -> Finding {
        Finding {
            code,
            severity,
            package: package.into(),
            message: message.into(),
        }
    }

    fn report(packages: Vec<CheckedPackage>, findings: Vec<Finding>) -> VerifyReport {
        VerifyReport {
            format_version: REPORT_FORMAT_VERSION,
            plan_digest: "sha256:0123456789abcdef".into(),
            registry: RegistryTarget {
                name: Some("testkit".into()),
                index: "sparse+http://127.0.0.1:8080/index/".into(),
            },
            packages,
            findings,
        }
    }

    fn clean() -> VerifyReport {
        let cksum = "aa".repeat(32);
        report(
            vec![
                checked("app", "0.3.1", Some(&cksum), true),
                checked("core", "1.2.0", Some(&cksum), true),
                CheckedPackage {
                    ecosystem_version: Some("2.0.0a5".into()),
                    ..checked("python:core-py", "2.0.0-alpha.5", Some(&cksum), true)
                },
            ],
            vec![],
        )
    }

    /// Errors and warnings over several packages, as `compare` sorts them.
    fn problems() -> VerifyReport {
        let cksum = "aa".repeat(32);
        let other = "00".repeat(32);
        report(
            vec![
                checked("app", "0.3.1", Some(&cksum), true),
                checked("core", "1.2.0", Some(&other), false),
                checked("macros", "1.2.0", None, false),
                checked("util", "0.9.0", Some(&cksum), true),
            ],
            vec![
                finding(
                    FindingCode::ChecksumMismatch,
                    Severity::Error,
                    "core",
                    &format!("`core` 1.2.0 has cksum {other} in the index; the plan expects {cksum}"),
                ),
                finding(
                    FindingCode::Yanked,
                    Severity::Error,
                    "core",
                    "`core` 1.2.0 is yanked",
                ),
                finding(
                    FindingCode::MissingVersion,
                    Severity::Error,
                    "macros",
                    "the registry's index has no `macros` 1.2.0",
                ),
                finding(
                    FindingCode::UnknownState,
                    Severity::Warning,
                    "app",
                    "`app` 0.3.1's index entry has fields this verifier does not know: withheld = true",
                ),
                finding(
                    FindingCode::Yanked,
                    Severity::Warning,
                    "util",
                    "`util` 0.9.0 is yanked",
                ),
            ],
        )
    }

    /// Names, messages and a registry that try to be Markdown and HTML.
    fn hostile() -> VerifyReport {
        let mut hostile = report(
            vec![
                checked("pipe|name", "1.0.0", Some("x|y"), false),
                checked("**bold**", "1.0.0", Some("`tick`"), true),
                checked("<script>alert(1)</script>", "1.0.0-rc.1", None, false),
                checked("back`tick``s", "1.0.0", Some("a\nb"), true),
            ],
            vec![
                finding(
                    FindingCode::DownloadFailed,
                    Severity::Error,
                    "pipe|name",
                    "HTTP 500: | a | fake | row |\n| --- |\n# heading",
                ),
                finding(
                    FindingCode::MissingVersion,
                    Severity::Error,
                    "<script>alert(1)</script>",
                    "<img src=x onerror=alert(1)> [link](https://evil.example) **bold** `code`",
                ),
                finding(
                    FindingCode::UnknownState,
                    Severity::Warning,
                    "back`tick``s",
                    "line one\n\n- a list\n> a quote\r\n```\nfence",
                ),
            ],
        );
        hostile.plan_digest = "sha256:`evil`|*x*".into();
        hostile.registry.index = "sparse+https://example.invalid/<b>|".into();
        hostile
    }

    #[test]
    fn a_clean_report() {
        let report = clean();
        insta::assert_snapshot!("clean_human", human(&report));
        insta::assert_snapshot!("clean_markdown", markdown(&report));
        insta::assert_snapshot!("clean_json", json(&report));
    }

    #[test]
    fn a_report_with_problems() {
        let report = problems();
        insta::assert_snapshot!("problems_human", human(&report));
        insta::assert_snapshot!("problems_markdown", markdown(&report));
        insta::assert_snapshot!("problems_json", json(&report));
    }

    #[test]
    fn hostile_names_and_messages_stay_text_in_markdown() {
        let shown = markdown(&hostile());
        // One source line per package row and per finding: nothing starts a block of its own.
        assert_eq!(shown.lines().filter(|l| l.starts_with("| ")).count(), 5);
        assert_eq!(shown.lines().filter(|l| l.starts_with("- ")).count(), 3);
        assert!(
            shown.contains(r"\<img src=x onerror=alert(1)\>"),
            "HTML outside a code span is escaped"
        );
        insta::assert_snapshot!("hostile_markdown", shown);
    }

    #[test]
    fn json_reads_back_as_the_same_report() {
        for report in [clean(), problems(), hostile()] {
            assert_eq!(VerifyReport::from_json(&json(&report)).unwrap(), report);
        }
    }
}
