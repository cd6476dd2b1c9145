//! The verify report: what `convoy-verify` found when it compared a registry with a plan.
//!
//! A mismatch is a finding, not an error: the report lists findings with stable codes
//! ([`FindingCode`]), and the exit code summarizes them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::Severity;
use crate::snapshot::RegistryTarget;
use crate::version::{read_document, FormatVersion, ReadError};

/// Format version of verify reports this build writes and reads.
///
/// History: 1.0 — first format. 1.1 — Python packages (named by key, `python:NAME`; the
/// expected and observed checksums are their sdist's) and the codes `missing-file` and
/// `unplanned-file`. 1.2 — `packages[].ecosystem_version`.
pub const REPORT_FORMAT_VERSION: FormatVersion = FormatVersion::new(1, 2);

/// The result of verifying a registry against a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyReport {
    /// Format version of this document, "MAJOR.MINOR".
    pub format_version: FormatVersion,
    /// Digest of the plan verified against.
    pub plan_digest: String,
    /// The registry read.
    pub registry: RegistryTarget,
    /// One entry per package checked, sorted by name.
    pub packages: Vec<CheckedPackage>,
    /// Findings, errors first, then by package and code.
    pub findings: Vec<Finding>,
}

impl VerifyReport {
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// Reads a report, refusing unknown format versions.
    pub fn from_json(text: &str) -> Result<Self, ReadError> {
        read_document(text, "verify report", REPORT_FORMAT_VERSION)
    }

    /// The JSON Schema of the report, as checked in at `schemas/verify-report.v1.schema.json`.
    pub fn json_schema() -> String {
        let mut text =
            serde_json::to_string_pretty(&schemars::schema_for!(VerifyReport)).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// One package version checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckedPackage {
    /// Package name.
    pub name: String,
    /// Version checked (canonical).
    pub version: semver::Version,
    /// The version as its ecosystem writes it (PEP 440 for a Python package, `2.0.0a5`);
    /// omitted when that is `version`. (Since 1.2.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_version: Option<String>,
    /// The cksum the plan expects (its artifact's sha256, or the cksum observed for a skip).
    pub expected_cksum: Option<String>,
    /// The cksum the index shows, if the version is there.
    pub observed_cksum: Option<String>,
    /// Whether every check passed for this package.
    pub ok: bool,
}

/// One thing that does not match.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    /// Stable kebab-case code.
    pub code: FindingCode,
    /// Errors fail verification; warnings do not.
    pub severity: Severity,
    /// The package concerned.
    pub package: String,
    /// What does not match, in words.
    pub message: String,
}

/// What a finding is about: a stable kebab-case code, written as such in the report (`"code":
/// "missing-version"`).
///
/// Codes are public API (CI matches on them); never rename one. A new code is a new minor format
/// version ([`REPORT_FORMAT_VERSION`]): readers refuse codes they do not know. The README's
/// `convoy-verify` section has a table of [`FindingCode::ALL`] with each code's
/// [`severity`](FindingCode::severity) and [`description`](FindingCode::description), and a test
/// keeps the two in step.
///
/// ```
/// use convoy_schema::plan::Severity;
/// use convoy_schema::report::FindingCode;
///
/// let table: Vec<(&str, Severity)> = FindingCode::ALL
///     .iter()
///     .map(|code| (code.as_str(), code.severity()))
///     .collect();
/// assert_eq!(
///     table,
///     [
///         ("missing-version", Severity::Error),
///         ("checksum-mismatch", Severity::Error),
///         ("dependencies-differ", Severity::Error),
///         ("features-differ", Severity::Error),
///         // A warning instead with --allow-yanked.
///         ("yanked", Severity::Error),
///         ("unknown-state", Severity::Warning),
///         ("download-failed", Severity::Error),
///         ("download-checksum-mismatch", Severity::Error),
///         ("download-differs", Severity::Error),
///         ("not-reproduced", Severity::Error),
///         ("rebuild-failed", Severity::Error),
///     ]
/// );
/// assert_eq!(
///     serde_json::to_string(&FindingCode::DownloadDiffers).unwrap(),
///     "\"download-differs\""
/// );
/// assert!(FindingCode::Yanked.description().contains("--allow-yanked"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
#[schemars(
    description = "What a finding is about: a stable kebab-case code. A new code comes with a new minor format version."
)]
pub enum FindingCode {
    /// The registry's index does not have the planned version.
    MissingVersion,
    /// The index's `cksum` is not the one the plan expects.
    ChecksumMismatch,
    /// The index's dependency list is not the plan's publish metadata's.
    DependenciesDiffer,
    /// The index's features are not the plan's publish metadata's.
    FeaturesDiffer,
    /// The version is yanked.
    Yanked,
    /// The index entry has fields the verifier does not know.
    UnknownState,
    /// `--download`: the `.crate` could not be downloaded.
    DownloadFailed,
    /// `--download`: the served `.crate` hashes to another value.
    DownloadChecksumMismatch,
    /// `--download --bundle`: the served `.crate` is not the bundle's.
    DownloadDiffers,
    /// `--rebuild`: packaging the plan's commit gives other bytes.
    NotReproduced,
    /// `--rebuild`: packaging the plan's commit failed.
    RebuildFailed,
    /// A planned file of a Python version is not on the index.
    MissingFile,
    /// The index has a file under a Python version that the plan did not build.
    UnplannedFile,
}

impl FindingCode {
    /// Every code, in the order the README's table lists them.
    pub const ALL: [FindingCode; 13] = [
        FindingCode::MissingVersion,
        FindingCode::ChecksumMismatch,
        FindingCode::DependenciesDiffer,
        FindingCode::FeaturesDiffer,
        FindingCode::Yanked,
        FindingCode::UnknownState,
        FindingCode::DownloadFailed,
        FindingCode::DownloadChecksumMismatch,
        FindingCode::DownloadDiffers,
        FindingCode::NotReproduced,
        FindingCode::RebuildFailed,
        FindingCode::MissingFile,
        FindingCode::UnplannedFile,
    ];

    /// The kebab-case code, as written in the report.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingCode::MissingVersion => "missing-version",
            FindingCode::ChecksumMismatch => "checksum-mismatch",
            FindingCode::DependenciesDiffer => "dependencies-differ",
            FindingCode::FeaturesDiffer => "features-differ",
            FindingCode::Yanked => "yanked",
            FindingCode::UnknownState => "unknown-state",
            FindingCode::DownloadFailed => "download-failed",
            FindingCode::DownloadChecksumMismatch => "download-checksum-mismatch",
            FindingCode::DownloadDiffers => "download-differs",
            FindingCode::NotReproduced => "not-reproduced",
            FindingCode::RebuildFailed => "rebuild-failed",
            FindingCode::MissingFile => "missing-file",
            FindingCode::UnplannedFile => "unplanned-file",
        }
    }

    /// What the code means, in one line (no `|`: it is a table cell in the README).
    pub fn description(self) -> &'static str {
        match self {
            FindingCode::MissingVersion => "the registry's index does not have the planned version",
            FindingCode::ChecksumMismatch => "the index's `cksum` is not the plan's artifact sha256 (for a skipped package, the cksum the plan observed)",
            FindingCode::DependenciesDiffer => "the index's dependency list differs from the plan's publish metadata (renames and requirements normalized)",
            FindingCode::FeaturesDiffer => "the index's features (`features` and `features2` merged) differ from the plan's publish metadata",
            FindingCode::Yanked => "the version is yanked; an error unless `--allow-yanked` makes it a warning",
            FindingCode::UnknownState => "the index entry has fields this verifier does not know (a future `withheld`, say); they are listed",
            FindingCode::DownloadFailed => "`--download`: the `.crate` could not be downloaded",
            FindingCode::DownloadChecksumMismatch => "`--download`: the served `.crate` does not hash to the index's cksum or to the plan's",
            FindingCode::DownloadDiffers => "`--download --bundle`: the served `.crate` is not byte for byte the bundle's (the differing files are named)",
            FindingCode::NotReproduced => "`--rebuild`: packaging the plan's commit again gives other bytes than the plan's artifact",
            FindingCode::RebuildFailed => "`--rebuild`: packaging the plan's commit failed, or made no `.crate` for the package",
            FindingCode::MissingFile => "a file the plan built for a Python version (sdist or wheel) is not on the index",
            FindingCode::UnplannedFile => "the index has a file under a Python version that the plan did not build (a warning for native projects, whose other platforms' wheels are built elsewhere)",
        }
    }

    /// The severity a finding with this code has: an error fails verification. `yanked` is an
    /// error by default, a warning with `--allow-yanked`.
    pub fn severity(self) -> Severity {
        match self {
            FindingCode::UnknownState => Severity::Warning,
            FindingCode::MissingFile | FindingCode::UnplannedFile => Severity::Error,
            FindingCode::MissingVersion
            | FindingCode::ChecksumMismatch
            | FindingCode::DependenciesDiffer
            | FindingCode::FeaturesDiffer
            | FindingCode::Yanked
            | FindingCode::DownloadFailed
            | FindingCode::DownloadChecksumMismatch
            | FindingCode::DownloadDiffers
            | FindingCode::NotReproduced
            | FindingCode::RebuildFailed => Severity::Error,
        }
    }
}

impl std::fmt::Display for FindingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_listed_once_and_written_as_its_name() {
        let mut seen = std::collections::BTreeSet::new();
        for code in FindingCode::ALL {
            assert!(seen.insert(code.as_str()), "{code} listed twice");
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::Value::from(code.as_str())
            );
            assert_eq!(
                serde_json::from_value::<FindingCode>(code.as_str().into()).unwrap(),
                code
            );
            assert!(!code.description().contains(['|', '\n']), "{code}");
        }
        // Adding a variant breaks this match until the variant is also in `ALL`.
        let position = |code: FindingCode| match code {
            FindingCode::MissingVersion => 0,
            FindingCode::ChecksumMismatch => 1,
            FindingCode::DependenciesDiffer => 2,
            FindingCode::FeaturesDiffer => 3,
            FindingCode::Yanked => 4,
            FindingCode::UnknownState => 5,
            FindingCode::DownloadFailed => 6,
            FindingCode::DownloadChecksumMismatch => 7,
            FindingCode::DownloadDiffers => 8,
            FindingCode::NotReproduced => 9,
            FindingCode::RebuildFailed => 10,
            FindingCode::MissingFile => 11,
            FindingCode::UnplannedFile => 12,
        };
        for (index, code) in FindingCode::ALL.into_iter().enumerate() {
            assert_eq!(position(code), index);
        }
    }
}
