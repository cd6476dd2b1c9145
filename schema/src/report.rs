//! The verify report: what `convoy-verify` found when it compared a registry with a plan.
//!
//! A mismatch is a finding, not an error: the report lists findings with stable codes, and the
//! exit code summarizes them.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::Severity;
use crate::snapshot::RegistryTarget;
use crate::version::{read_document, FormatVersion, ReadError};

/// Format version of verify reports this build writes and reads.
///
/// History: 1.0 — first format.
pub const REPORT_FORMAT_VERSION: FormatVersion = FormatVersion::new(1, 0);

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
    /// Version checked.
    pub version: semver::Version,
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
    pub code: String,
    /// Errors fail verification; warnings do not.
    pub severity: Severity,
    /// The package concerned.
    pub package: String,
    /// What does not match, in words.
    pub message: String,
}
