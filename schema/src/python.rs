//! Wire types of Python releases: the files a Python project's version is made of and the core
//! metadata an index is sent with them. The planner records them, the publisher uploads exactly
//! them, the verifier compares an index against them; the packaging and the index protocol that
//! produce and consume them live in `convoy-package` and `convoy-registry`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// PyPI's simple API base, which the planner and verifier read and the publisher polls.
pub const PYPI_INDEX: &str = "https://pypi.org/simple/";

/// PyPI's legacy upload API.
pub const PYPI_UPLOAD: &str = "https://upload.pypi.org/legacy/";

/// The Python index a plan targets: where it was read and where its files are polled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PythonTarget {
    /// The simple API base (`https://pypi.org/simple/`): `{index}{name}/` is a project's page.
    pub index: String,
}

/// What a Python index was observed to hold for the repository's projects: per normalized
/// project name, per version (PEP 440, normalized), the files it serves. A project absent from
/// the map was not observed; one with an empty map was observed to have no versions.
pub type PythonObservations = BTreeMap<String, BTreeMap<String, Vec<ServedFile>>>;

/// One file an index serves for a project.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServedFile {
    /// The file name.
    pub filename: String,
    /// Lowercase hex SHA-256, as the index states it; null when it states none.
    pub sha256: Option<String>,
    /// Whether the file is yanked (PEP 592).
    pub yanked: bool,
}

/// What a plan does with one Python project beside the fields every package has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PythonRelease {
    /// The project's name as `pyproject.toml` spells it (the package `name` is the PEP 503
    /// normalized form).
    pub project_name: String,
    /// The version as PEP 440 normalizes it: what the file names and the index say
    /// (`2.0.0a5` for the canonical `2.0.0-alpha.5`).
    pub version: String,
    /// The project's directory relative to the repository root, `/`-separated; `""` at the top.
    pub project_path: String,
    /// How the project's internal requirements are pinned in what is published, in
    /// `pyproject.toml` order.
    pub requirement_edits: Vec<RequirementEdit>,
    /// The files to upload, the sdist first; empty in a review-only plan.
    pub files: Vec<DistFile>,
    /// The core metadata the upload is sent with (the wheel's `METADATA`); null in a review-only
    /// plan.
    pub metadata: Option<CoreMetadata>,
    /// How the files were built; null in a review-only plan.
    pub build: Option<PythonBuild>,
}

/// A requirement on another project of the repository, rewritten to pin the planned version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequirementEdit {
    /// `pyproject.toml`, relative to the repository root.
    pub file: String,
    /// Where the requirement is: `dependencies` or `optional-dependencies.<extra>`.
    pub field: String,
    /// The requirement as written (`elizaos`).
    pub from: String,
    /// The requirement as published (`elizaos==2.0.0a5`).
    pub to: String,
}

/// How a Python project's files were built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PythonBuild {
    /// What built them, e.g. `build 1.2.2.post1`.
    pub tool: String,
    /// `[build-system] build-backend`, e.g. `hatchling.build`; null when none is named.
    pub backend: Option<String>,
    /// `SOURCE_DATE_EPOCH` the build ran with: the commit's committer time.
    pub source_date_epoch: i64,
    /// The project builds native code (maturin, or a wheel that is not `py*-none-any`): its
    /// wheel is for the platform the planner ran on only.
    pub native: bool,
    /// With `--check-reproducible`: whether a second build gave the same bytes; null when
    /// not checked.
    pub reproducible: Option<bool>,
}

/// What kind of distribution a file is: the upload API's `filetype`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum DistKind {
    /// A source distribution, `{name}-{version}.tar.gz` (`filetype=sdist`).
    Sdist,
    /// A wheel, `{name}-{version}-{python}-{abi}-{platform}.whl` (`filetype=bdist_wheel`).
    BdistWheel,
}

impl DistKind {
    /// The upload API's `filetype` field.
    pub fn filetype(self) -> &'static str {
        match self {
            Self::Sdist => "sdist",
            Self::BdistWheel => "bdist_wheel",
        }
    }
}

/// One file of a Python project's version, as built by the planner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DistFile {
    /// The file name, which is also its name in the bundle and on the index.
    pub filename: String,
    /// Sdist or wheel.
    pub kind: DistKind,
    /// The upload API's `pyversion`: `source` for an sdist, the wheel's python tag (`py3`) for a
    /// wheel.
    pub pyversion: String,
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256 of the file: what the index serves as `hashes.sha256`.
    pub sha256: String,
}

/// Core metadata (the wheel's `METADATA`, the sdist's `PKG-INFO`) as the upload API is sent it:
/// the fields in file order, each with its value; repeated fields (`Requires-Dist`,
/// `Classifier`, …) appear once per value. The long description (the body) is a field of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CoreMetadata {
    /// `(field, value)` pairs with the field names as the metadata file spells them
    /// (`Metadata-Version`, `Name`, `Requires-Dist`, …).
    pub fields: Vec<(String, String)>,
    /// The message body (the long description), if any.
    pub description: Option<String>,
}

impl CoreMetadata {
    /// Every value of `field` (compared without regard to case), in order.
    pub fn all<'a>(&'a self, field: &str) -> impl Iterator<Item = &'a str> + 'a {
        let field = field.to_ascii_lowercase();
        self.fields
            .iter()
            .filter(move |(name, _)| name.eq_ignore_ascii_case(&field))
            .map(|(_, value)| value.as_str())
    }

    /// The first value of `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.all(field).next()
    }

    /// The fields as the upload API names them: lower case, `-` as `_`
    /// (`Requires-Dist` → `requires_dist`), in order, the description last.
    pub fn upload_fields(&self) -> Vec<(String, String)> {
        let mut fields: Vec<(String, String)> = self
            .fields
            .iter()
            .map(|(name, value)| (name.to_ascii_lowercase().replace('-', "_"), value.clone()))
            .collect();
        if let Some(body) = &self.description {
            fields.push(("description".to_owned(), body.clone()));
        }
        fields
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_fields_are_lower_case_with_underscores_and_keep_repeats() {
        let metadata = CoreMetadata {
            fields: vec![
                ("Metadata-Version".into(), "2.3".into()),
                ("Name".into(), "demo-core".into()),
                ("Requires-Dist".into(), "a==1".into()),
                ("Requires-Dist".into(), "b; extra == \"x\"".into()),
            ],
            description: Some("# Demo".into()),
        };
        assert_eq!(metadata.get("name"), Some("demo-core"));
        assert_eq!(
            metadata.all("requires-dist").collect::<Vec<_>>(),
            ["a==1", "b; extra == \"x\""]
        );
        let fields = metadata.upload_fields();
        assert_eq!(fields[0], ("metadata_version".into(), "2.3".into()));
        assert_eq!(fields[2].0, "requires_dist");
        assert_eq!(fields[3].0, "requires_dist");
        assert_eq!(fields[4], ("description".into(), "# Demo".into()));
        assert_eq!(DistKind::BdistWheel.filetype(), "bdist_wheel");
    }
}
