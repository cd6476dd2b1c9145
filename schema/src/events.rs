//! The publish event stream: what `convoy-publish --format json` prints, one JSON object per
//! line, and what its journal keeps beside the plan (the same lines, every run appended).
//!
//! Every line is a [`PublishEvent`]: the envelope (format version, plan digest, time) with the
//! event's own fields flattened in, tagged by `event`. CI steps parse the stream; a rerun of the
//! plan reads the journal to learn what an interrupted run sent.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::plan::Ecosystem;
use crate::version::{read_document, FormatVersion, ReadError};

/// Format version of event lines this build writes and reads.
///
/// History: 1.0 — first declared format (the event names and fields of earlier builds, plus
/// `format_version`, the `credential` of an upload, `needs-api-token` and the token events).
/// 1.1 — the rate-limit bucket `python` (uploads of Python files); names are package keys
/// (`python:NAME` for a Python project). 1.2 — `token-issued` says `ecosystem: "python"` for a
/// token the Python index minted (trusted publishing to PyPI).
pub const EVENTS_FORMAT_VERSION: FormatVersion = FormatVersion::new(1, 2);

/// One line of the event stream or journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct PublishEvent {
    /// Format version of this line, "MAJOR.MINOR".
    pub format_version: FormatVersion,
    /// Digest of the plan being published.
    pub plan: String,
    /// When it happened, in whole seconds since the Unix epoch (UTC).
    pub time: u64,
    /// The same instant in milliseconds: a release's timeline is read at that resolution.
    pub time_ms: u64,
    /// What happened.
    #[serde(flatten)]
    pub event: EventKind,
}

impl PublishEvent {
    /// Reads one line, refusing other format versions (a journal's reader skips such lines).
    pub fn from_line(line: &str) -> Result<Self, ReadError> {
        read_document(line, "publish event", EVENTS_FORMAT_VERSION)
    }

    /// The line: compact JSON, no newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// The crate the event is about, if it is about one.
    pub fn crate_name(&self) -> Option<&str> {
        self.event.crate_name()
    }

    /// The JSON Schema of one line, as checked in at `schemas/publish-event.v1.schema.json`.
    pub fn json_schema() -> String {
        let mut text =
            serde_json::to_string_pretty(&schemars::schema_for!(PublishEvent)).unwrap_or_default();
        text.push('\n');
        text
    }
}

/// Which of the registry's rate-limit buckets an upload takes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum UploadKind {
    /// The first version of a crate.
    NewCrate,
    /// A further version of an existing crate.
    NewVersion,
    /// A Python project's files. (Since 1.1.)
    Python,
}

/// Which credential an upload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum CredentialLane {
    /// The long-lived API token from the environment.
    ApiToken,
    /// A short-lived token from trusted publishing (OIDC).
    TrustedPublishing,
}

/// What happened, tagged by `event`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum EventKind {
    /// Visible with the planned checksum before this run uploaded anything.
    AlreadyPresent {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
    },
    /// Visible, uploaded by an earlier run of this plan (its journal says so).
    PublishedEarlier {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
    },
    /// An upload starts.
    Uploading {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
        /// 1-based attempt (429 answers are not attempts).
        attempt: u32,
        /// The credential it carries.
        credential: CredentialLane,
    },
    /// The registry accepted the upload; the index is read until it shows it.
    Accepted {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
    },
    /// The registry accepted the upload with warnings (crates.io: categories or badges it
    /// ignored); shown, never fatal.
    RegistryWarning {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
        /// What the registry said, one line each, the token redacted.
        warnings: Vec<String>,
    },
    /// The upload will be sent again (the registry answered that nothing was stored).
    Retrying {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
        /// Why, as the registry said it (tokens redacted).
        reason: String,
        /// Not before (seconds since the epoch).
        at: u64,
    },
    /// Whether the upload happened is being settled by reading the index.
    Resolving {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
        /// Why.
        reason: String,
    },
    /// Visible in the index with the planned checksum.
    Visible {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
    },
    /// Will not be published by this run.
    Failed {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
        /// Why.
        reason: String,
    },
    /// A new crate that this run cannot create: it holds only a trusted-publishing token, and
    /// the registry creates crates only for API tokens. Its dependents wait with it.
    NeedsApiToken {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
    },
    /// The next upload of a kind waits for the registry's rate limits.
    Paced {
        /// The crate that starts next.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
        /// When (seconds since the epoch).
        at: u64,
    },
    /// The registry answered 429: uploads of this kind wait (not a failed attempt).
    RateLimited {
        /// Crate.
        #[serde(rename = "crate")]
        name: String,
        /// Planned version.
        version: String,
        /// Which bucket.
        kind: UploadKind,
        /// Uploads of this kind resume then (seconds since the epoch).
        until: u64,
        /// The refill interval learned so far, in milliseconds.
        refill_ms: Option<u64>,
    },
    /// A trusted-publishing token was obtained (exchanged for the CI's identity token).
    TokenIssued {
        /// Whose token: the Cargo registry's (omitted) or the Python index's.
        #[serde(default, skip_serializing_if = "Ecosystem::is_cargo")]
        ecosystem: Ecosystem,
        /// Whether it replaces an earlier one that was about to expire.
        refreshed: bool,
        /// When it will be replaced if the run is still going (seconds since the epoch).
        refresh_at: u64,
    },
    /// A trusted-publishing token was revoked, or revoking it failed.
    TokenRevoked {
        /// Whether the registry confirmed it.
        ok: bool,
        /// What the registry said when it did not (tokens redacted).
        detail: Option<String>,
    },
    /// The run stops before it is done; rerunning the same plan continues.
    Stopping {
        /// Why.
        reason: String,
        /// Rerun after this (seconds since the epoch).
        until: u64,
    },
    /// The run ended: what it cost in waiting and reading.
    Finished {
        /// How long ready crates waited for nothing but the registry's rate limits.
        paced_ms: u64,
        /// 429 answers to uploads.
        rate_limited: u32,
        /// Index reads made while confirming.
        index_reads: u64,
    },
}

impl EventKind {
    /// The crate the event is about, if it is about one.
    pub fn crate_name(&self) -> Option<&str> {
        match self {
            Self::AlreadyPresent { name, .. }
            | Self::PublishedEarlier { name, .. }
            | Self::Uploading { name, .. }
            | Self::Accepted { name, .. }
            | Self::RegistryWarning { name, .. }
            | Self::Retrying { name, .. }
            | Self::Resolving { name, .. }
            | Self::Visible { name, .. }
            | Self::Failed { name, .. }
            | Self::NeedsApiToken { name, .. }
            | Self::Paced { name, .. }
            | Self::RateLimited { name, .. } => Some(name),
            Self::TokenIssued { .. }
            | Self::TokenRevoked { .. }
            | Self::Stopping { .. }
            | Self::Finished { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_flat_and_round_trips() {
        let event = PublishEvent {
            format_version: EVENTS_FORMAT_VERSION,
            plan: "sha256:ab".into(),
            time: 1,
            time_ms: 1500,
            event: EventKind::Uploading {
                name: "a".into(),
                version: "1.0.0".into(),
                attempt: 2,
                credential: CredentialLane::TrustedPublishing,
            },
        };
        let line = event.to_line();
        assert_eq!(
            line,
            r#"{"format_version":"1.2","plan":"sha256:ab","time":1,"time_ms":1500,"event":"uploading","crate":"a","version":"1.0.0","attempt":2,"credential":"trusted-publishing"}"#
        );
        assert_eq!(PublishEvent::from_line(&line).unwrap(), event);
        assert_eq!(event.crate_name(), Some("a"));
    }

    #[test]
    fn other_majors_and_unknown_events_are_refused() {
        let other = r#"{"format_version":"2.0","plan":"p","time":1,"time_ms":1,"event":"visible","crate":"a","version":"1"}"#;
        assert_eq!(
            PublishEvent::from_line(other).unwrap_err().code(),
            "format-version-unsupported"
        );
        let unknown = r#"{"format_version":"1.0","plan":"p","time":1,"time_ms":1,"event":"teleported","crate":"a"}"#;
        assert!(PublishEvent::from_line(unknown).is_err());
    }
}
