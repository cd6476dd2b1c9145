//! Registry-state snapshots: what a registry was observed to hold, as data.
//!
//! `convoy-plan --registry-state FILE` reads one to decide what is already published.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::version::{read_document, FormatVersion, ReadError};

/// Format version of registry snapshots this build writes and reads.
///
/// History: 1.0 — first format.
pub const SNAPSHOT_FORMAT_VERSION: FormatVersion = FormatVersion::new(1, 0);

/// Versions present per crate name.
pub type CrateObservations = BTreeMap<String, Vec<ObservedVersion>>;

/// A registry as Convoy addresses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistryTarget {
    /// Cargo's name for the registry (`crates-io`, or a `[registries]` name); null when given
    /// only by index URL.
    pub name: Option<String>,
    /// Index URL, e.g. `sparse+https://index.crates.io/`.
    pub index: String,
}

/// One version of a crate as the registry's index shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ObservedVersion {
    /// The version.
    pub version: semver::Version,
    /// Lowercase hex SHA-256 of the `.crate` file, as in the index's `cksum`.
    pub cksum: String,
    /// Whether the version is yanked.
    pub yanked: bool,
}

/// What a registry held for some crates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RegistrySnapshot {
    /// Format version of this document, "MAJOR.MINOR".
    pub format_version: FormatVersion,
    /// The registry observed, when known.
    pub registry: Option<RegistryTarget>,
    /// Versions present per crate name; a crate absent from the map was not observed, a crate
    /// with an empty list was observed to have no versions.
    pub crates: CrateObservations,
}

impl RegistrySnapshot {
    /// Reads a snapshot, refusing unknown format versions.
    pub fn from_json(text: &str) -> Result<Self, ReadError> {
        read_document(text, "registry snapshot", SNAPSHOT_FORMAT_VERSION)
    }

    /// The JSON Schema of the snapshot format, as checked in at
    /// `schemas/registry-snapshot.v1.schema.json`.
    pub fn json_schema() -> String {
        let mut text = serde_json::to_string_pretty(&schemars::schema_for!(RegistrySnapshot))
            .unwrap_or_default();
        text.push('\n');
        text
    }
}
