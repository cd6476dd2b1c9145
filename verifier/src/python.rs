//! Verifying a plan's Python packages against a Python index: [`observe`] (IO) reads each
//! project's page, the core metadata the index serves for the planned wheels (PEP 658) and, with
//! `--download`, the files themselves; [`check`] (pure) compares them with the plan — every
//! planned file served with its sha256, nothing else under the version, nothing yanked, the
//! served `Requires-Dist` equal to the plan's, and downloads hashing to the plan's sha256.

use std::collections::BTreeMap;

use convoy_package::python::{canonical_requirement, parse_core_metadata};
use convoy_registry::python::{file_version, Link, PythonIndex};
use convoy_registry::{Freshness, RegistryError};
use convoy_schema::digest::sha256_hex;
use convoy_schema::plan::Severity;
use convoy_schema::plan::{Ecosystem, Package};
use convoy_schema::python::CoreMetadata;
use convoy_schema::python::DistKind;
use convoy_schema::report::{Finding, FindingCode};

/// What was read of a Python index, by package key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PythonObserved {
    /// Each project's page; `None` when the index has no such project.
    pub pages: BTreeMap<String, Option<Vec<Link>>>,
    /// The core metadata served for planned wheels, by (key, file name), or why it could not be
    /// read.
    pub metadata: BTreeMap<(String, String), Result<String, String>>,
    /// With `--download`: each planned file's bytes, by (key, file name), or why not.
    pub downloads: BTreeMap<(String, String), Result<Vec<u8>, String>>,
}

/// Reads what `index` serves for `packages` (the Python ones among them).
pub async fn observe(
    index: &PythonIndex,
    packages: &[&Package],
    download: bool,
) -> Result<PythonObserved, RegistryError> {
    let mut observed = PythonObserved::default();
    for package in packages.iter().filter(|p| p.ecosystem == Ecosystem::Python) {
        let key = package.key();
        let page = index.project(&package.name, Freshness::Fresh).await?;
        if let (Some(links), Some(python)) = (&page, &package.python) {
            for file in &python.files {
                let Some(link) = links.iter().find(|l| l.file.filename == file.filename) else {
                    continue;
                };
                let at = (key.clone(), file.filename.clone());
                if file.kind == DistKind::BdistWheel && link.core_metadata {
                    let metadata = index
                        .core_metadata(&link.url)
                        .await
                        .map_err(|e| e.to_string());
                    observed.metadata.insert(at.clone(), metadata);
                }
                if download {
                    // Anything larger than the planned file is not the planned file.
                    let bytes = index
                        .download_limited(&link.url, file.size)
                        .await
                        .map_err(|e| e.to_string());
                    observed.downloads.insert(at, bytes);
                }
            }
        }
        observed.pages.insert(key, page);
    }
    Ok(observed)
}

/// `Requires-Dist` values of core metadata, as PEP 508 reads them, sorted.
fn requires_dist(metadata: &CoreMetadata) -> Vec<String> {
    let mut values: Vec<String> = metadata
        .all("Requires-Dist")
        .map(canonical_requirement)
        .collect();
    values.sort();
    values
}

/// The findings of one Python package, and the (planned, served) sha256 of its first file.
pub fn check(
    package: &Package,
    observed: &PythonObserved,
    allow_yanked: bool,
) -> (Vec<Finding>, Option<String>, Option<String>) {
    let key = package.key();
    let mut findings = Vec::new();
    let mut found = |code: FindingCode, message: String| {
        let mut severity = code.severity();
        let native = package
            .python
            .as_ref()
            .and_then(|p| p.build.as_ref())
            .is_some_and(|b| b.native);
        if (code == FindingCode::Yanked && allow_yanked)
            || (code == FindingCode::UnplannedFile && native)
        {
            severity = Severity::Warning;
        }
        findings.push(Finding {
            code,
            severity,
            package: key.clone(),
            message,
        });
    };
    let Some(python) = &package.python else {
        return (findings, None, None);
    };
    let version = &python.version;
    let links: &[Link] = observed
        .pages
        .get(&key)
        .and_then(Option::as_deref)
        .unwrap_or_default();
    let under_version: Vec<&Link> = links
        .iter()
        .filter(|l| {
            file_version(&package.name, &l.file.filename).as_deref() == Some(version.as_str())
        })
        .collect();
    if under_version.is_empty() {
        found(
            FindingCode::MissingVersion,
            format!("the index has no file of `{}` {version}", package.name),
        );
        let planned = python.files.first().map(|f| f.sha256.clone());
        return (findings, planned, None);
    }
    for file in &python.files {
        let Some(link) = under_version
            .iter()
            .find(|l| l.file.filename == file.filename)
        else {
            found(
                FindingCode::MissingFile,
                format!("the index does not serve {}", file.filename),
            );
            continue;
        };
        match link.file.sha256.as_deref() {
            Some(served) if served == file.sha256 => {}
            served => found(
                FindingCode::ChecksumMismatch,
                format!(
                    "the index serves {} with sha256 {}; the plan built {}",
                    file.filename,
                    served.unwrap_or("(not stated)"),
                    file.sha256
                ),
            ),
        }
        if link.file.yanked {
            found(FindingCode::Yanked, format!("{} is yanked", file.filename));
        }
        let at = (key.clone(), file.filename.clone());
        if let (Some(Ok(served)), Some(planned)) = (observed.metadata.get(&at), &python.metadata) {
            let served = parse_core_metadata(served);
            let (planned, served) = (requires_dist(planned), requires_dist(&served));
            if planned != served {
                found(
                    FindingCode::DependenciesDiffer,
                    format!(
                        "{}'s Requires-Dist on the index is [{}]; the plan's is [{}]",
                        file.filename,
                        served.join(", "),
                        planned.join(", ")
                    ),
                );
            }
        }
        match observed.downloads.get(&at) {
            None => {}
            Some(Err(why)) => found(
                FindingCode::DownloadFailed,
                format!("{} could not be downloaded: {why}", file.filename),
            ),
            Some(Ok(bytes)) => {
                let actual = sha256_hex(bytes);
                if actual != file.sha256 {
                    found(
                        FindingCode::DownloadChecksumMismatch,
                        format!(
                            "{} as served hashes to {actual}; the plan built {}",
                            file.filename, file.sha256
                        ),
                    );
                }
            }
        }
    }
    for link in &under_version {
        if !python
            .files
            .iter()
            .any(|f| f.filename == link.file.filename)
        {
            found(
                FindingCode::UnplannedFile,
                format!(
                    "the index serves {} under {version}, which the plan did not build",
                    link.file.filename
                ),
            );
        }
    }
    let first = python.files.first();
    let served = first.and_then(|f| {
        under_version
            .iter()
            .find(|l| l.file.filename == f.filename)
            .and_then(|l| l.file.sha256.clone())
    });
    (findings, first.map(|f| f.sha256.clone()), served)
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_schema::plan::{Action, ManifestPlan};
    use convoy_schema::python::{CoreMetadata, DistFile, PythonBuild, PythonRelease, ServedFile};

    fn package(native: bool) -> Package {
        let file = |filename: &str, kind, sha: &str| DistFile {
            filename: filename.into(),
            kind,
            pyversion: "py3".into(),
            size: 3,
            sha256: sha.into(),
        };
        Package {
            name: "demo-core".into(),
            ecosystem: Ecosystem::Python,
            version: "1.0.0-alpha.1".parse().unwrap(),
            manifest_path: "py/core/pyproject.toml".into(),
            action: Action::Publish,
            reason: "new".into(),
            wave: Some(0),
            dependencies: Vec::new(),
            manifest: ManifestPlan {
                edits: Vec::new(),
                published: String::new(),
            },
            artifact: None,
            publish_metadata: None,
            release: None,
            python: Some(PythonRelease {
                project_name: "demo-core".into(),
                version: "1.0a1".into(),
                project_path: "py/core".into(),
                requirement_edits: Vec::new(),
                files: vec![
                    file("demo_core-1.0a1.tar.gz", DistKind::Sdist, "aa"),
                    file(
                        "demo_core-1.0a1-py3-none-any.whl",
                        DistKind::BdistWheel,
                        "bb",
                    ),
                ],
                metadata: Some(CoreMetadata {
                    fields: vec![("Requires-Dist".into(), "attrs >=23".into())],
                    description: None,
                }),
                build: Some(PythonBuild {
                    tool: "build".into(),
                    backend: None,
                    source_date_epoch: 0,
                    native,
                    reproducible: None,
                }),
            }),
        }
    }

    fn link(filename: &str, sha: Option<&str>, yanked: bool) -> Link {
        Link {
            file: ServedFile {
                filename: filename.into(),
                sha256: sha.map(str::to_owned),
                yanked,
            },
            url: format!("http://127.0.0.1:1/f/{filename}"),
            core_metadata: filename.ends_with(".whl"),
        }
    }

    fn codes(findings: &[Finding]) -> Vec<(&str, Severity)> {
        findings
            .iter()
            .map(|f| (f.code.as_str(), f.severity))
            .collect()
    }

    fn observed(links: Vec<Link>) -> PythonObserved {
        let mut observed = PythonObserved::default();
        observed
            .pages
            .insert("python:demo-core".into(), Some(links));
        observed
    }

    #[test]
    fn a_served_release_as_planned_has_no_findings() {
        let mut seen = observed(vec![
            link("demo_core-1.0a1.tar.gz", Some("aa"), false),
            link("demo_core-1.0a1-py3-none-any.whl", Some("bb"), false),
            link("demo_core-0.9.tar.gz", Some("zz"), false),
        ]);
        seen.metadata.insert(
            (
                "python:demo-core".into(),
                "demo_core-1.0a1-py3-none-any.whl".into(),
            ),
            Ok(
                "Metadata-Version: 2.4\nRequires-Dist: attrs>=23\n\nbody\nRequires-Dist: x\n"
                    .into(),
            ),
        );
        seen.downloads.insert(
            ("python:demo-core".into(), "demo_core-1.0a1.tar.gz".into()),
            Ok(b"abc".to_vec()),
        );
        let (findings, planned, served) = check(&package(false), &seen, false);
        // The download of the sdist hashes to sha256("abc"), not "aa".
        assert_eq!(
            codes(&findings),
            [("download-checksum-mismatch", Severity::Error)]
        );
        assert_eq!(
            (planned.as_deref(), served.as_deref()),
            (Some("aa"), Some("aa"))
        );
    }

    #[test]
    fn every_difference_is_a_finding() {
        type Row = (Vec<Link>, Vec<(&'static str, Severity)>);
        let table: Vec<Row> = vec![
            (vec![], vec![("missing-version", Severity::Error)]),
            (
                vec![link("demo_core-1.0a1.tar.gz", Some("aa"), false)],
                vec![("missing-file", Severity::Error)],
            ),
            (
                vec![
                    link("demo_core-1.0a1.tar.gz", Some("xx"), false),
                    link("demo_core-1.0a1-py3-none-any.whl", None, true),
                    link(
                        "demo_core-1.0a1-cp312-cp312-win_amd64.whl",
                        Some("cc"),
                        false,
                    ),
                ],
                vec![
                    ("checksum-mismatch", Severity::Error),
                    ("checksum-mismatch", Severity::Error),
                    ("yanked", Severity::Error),
                    ("unplanned-file", Severity::Error),
                ],
            ),
        ];
        for (links, expected) in table {
            let (findings, _, _) = check(&package(false), &observed(links.clone()), false);
            assert_eq!(codes(&findings), expected, "{links:?}");
        }
        let extra = observed(vec![
            link("demo_core-1.0a1.tar.gz", Some("aa"), true),
            link("demo_core-1.0a1-py3-none-any.whl", Some("bb"), false),
            link(
                "demo_core-1.0a1-cp312-cp312-win_amd64.whl",
                Some("cc"),
                false,
            ),
        ]);
        let (findings, _, _) = check(&package(true), &extra, true);
        assert_eq!(
            codes(&findings),
            [
                ("yanked", Severity::Warning),
                ("unplanned-file", Severity::Warning)
            ]
        );
        let mut differing = observed(vec![
            link("demo_core-1.0a1.tar.gz", Some("aa"), false),
            link("demo_core-1.0a1-py3-none-any.whl", Some("bb"), false),
        ]);
        differing.metadata.insert(
            (
                "python:demo-core".into(),
                "demo_core-1.0a1-py3-none-any.whl".into(),
            ),
            Ok("Requires-Dist: attrs>=22\n".into()),
        );
        let (findings, _, _) = check(&package(false), &differing, false);
        assert_eq!(codes(&findings), [("dependencies-differ", Severity::Error)]);
        assert!(
            findings[0].message.contains("attrs>=22"),
            "{}",
            findings[0].message
        );
    }
}
