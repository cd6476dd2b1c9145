//! What a packaged `.crate` says, read from its bytes in memory: its files, the normalized
//! manifest, the publish metadata cargo would send for it, and the sibling checksums its
//! `Cargo.lock` pins, and how two archives differ. Pure: bytes in, data out. The planner attaches
//! what it finds to a plan; the verifier compares served, bundled and rebuilt archives with it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use convoy_schema::plan::{DependencyKind, LockedCrate, PublishDependency, PublishMetadata};
use convoy_schema::snapshot::RegistryTarget;
use toml_edit::{DocumentMut, Item, TableLike};

/// Index URL cargo records for crates.io dependencies in publish metadata.
pub const CRATES_IO_GIT_INDEX: &str = "https://github.com/rust-lang/crates.io-index";

/// The largest `.crate` crates.io accepts.
pub const MAX_CRATE_SIZE: u64 = 10 * 1024 * 1024;

/// A file larger than this that looks binary is worth a reviewer's look.
pub const LARGE_BINARY_FILE: usize = 1024 * 1024;

/// The files of a `.crate`, paths relative to its `<name>-<version>/` directory.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CrateArchive {
    /// File contents by path, sorted by path.
    pub files: BTreeMap<String, Vec<u8>>,
}

/// Why a `.crate` could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ArchiveError(pub String);

impl CrateArchive {
    /// Reads a gzip-compressed tar whose entries all lie under `<prefix>/`.
    pub fn read(bytes: &[u8], prefix: &str) -> Result<Self, ArchiveError> {
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bytes));
        let mut files = BTreeMap::new();
        let entries = archive
            .entries()
            .map_err(|e| ArchiveError(format!("not a gzip-compressed tar archive: {e}")))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| ArchiveError(format!("unreadable entry: {e}")))?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let path = entry
                .path()
                .map_err(|e| ArchiveError(format!("unreadable path: {e}")))?
                .to_string_lossy()
                .replace('\\', "/");
            let relative = path
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('/'))
                .ok_or_else(|| ArchiveError(format!("entry `{path}` is outside `{prefix}/`")))?
                .to_owned();
            let mut contents = Vec::new();
            entry
                .read_to_end(&mut contents)
                .map_err(|e| ArchiveError(format!("unreadable entry `{path}`: {e}")))?;
            files.insert(relative, contents);
        }
        Ok(Self { files })
    }

    /// A file's text, if present and UTF-8.
    pub fn text(&self, path: &str) -> Option<&str> {
        self.files
            .get(path)
            .and_then(|bytes| std::str::from_utf8(bytes).ok())
    }

    /// Paths whose contents differ between two archives, or that only one has.
    pub fn differing_files(&self, other: &Self) -> Vec<String> {
        let paths: BTreeSet<&String> = self.files.keys().chain(other.files.keys()).collect();
        paths
            .into_iter()
            .filter(|path| self.files.get(*path) != other.files.get(*path))
            .cloned()
            .collect()
    }

    /// How two `.crate` files whose bytes differ differ, as words for a message: the files whose
    /// contents differ (`differing files: a, b`), else that the files are equal and the archives
    /// differ in headers or compression, or that one of them cannot be read. Both archives are
    /// read with their entries under `<prefix>/` (`<name>-<version>`).
    pub fn describe_difference(first: &[u8], second: &[u8], prefix: &str) -> String {
        match (Self::read(first, prefix), Self::read(second, prefix)) {
            (Ok(first), Ok(second)) => {
                let files = first.differing_files(&second);
                if files.is_empty() {
                    "the files are equal; the archives differ in headers or compression".to_owned()
                } else {
                    format!("differing files: {}", files.join(", "))
                }
            }
            _ => "one of the archives cannot be read".to_owned(),
        }
    }

    /// Files a reviewer should look at: anything under a `target/` directory, and large files
    /// that look binary. Each with the reason.
    pub fn suspicious_files(&self) -> Vec<(String, String)> {
        self.files
            .iter()
            .filter_map(|(path, bytes)| {
                if path.split('/').any(|part| part == "target") {
                    Some((path.clone(), "lies under a `target/` directory".to_owned()))
                } else if bytes.len() > LARGE_BINARY_FILE
                    && bytes.iter().take(8192).any(|b| *b == 0)
                {
                    Some((
                        path.clone(),
                        format!("is a {} KiB binary file", bytes.len() / 1024),
                    ))
                } else {
                    None
                }
            })
            .collect()
    }
}

/// The publish metadata cargo sends for the package whose normalized manifest is `manifest`
/// (as in the `.crate`), publishing to `target`. `readme` is the text of the readme file the
/// manifest names, read from the archive.
pub fn publish_metadata(
    manifest: &str,
    readme: Option<&str>,
    target: &RegistryTarget,
) -> Result<PublishMetadata, String> {
    let doc: DocumentMut = manifest.parse().map_err(|e: toml_edit::TomlError| {
        format!("normalized Cargo.toml is not valid TOML: {e}")
    })?;
    let package = doc
        .get("package")
        .and_then(Item::as_table_like)
        .ok_or("normalized Cargo.toml has no [package]")?;
    let string = |key: &str| package.get(key).and_then(Item::as_str).map(str::to_owned);
    let strings = |key: &str| string_list(package.get(key));
    let readme_file = string("readme");
    let mut deps = Vec::new();
    collect_dependencies(doc.as_table(), None, target, &mut deps)?;
    if let Some(targets) = doc.get("target").and_then(Item::as_table_like) {
        for (platform, scope) in targets.iter() {
            if let Some(scope) = scope.as_table_like() {
                collect_dependencies(scope, Some(platform), target, &mut deps)?;
            }
        }
    }
    deps.sort_by(|a, b| {
        (a.kind, &a.target, &a.name, &a.explicit_name_in_toml).cmp(&(
            b.kind,
            &b.target,
            &b.name,
            &b.explicit_name_in_toml,
        ))
    });
    let features = doc
        .get("features")
        .and_then(Item::as_table_like)
        .map(|table| {
            table
                .iter()
                .map(|(name, values)| (name.to_owned(), string_list(Some(values))))
                .collect()
        })
        .unwrap_or_default();
    let badges = doc
        .get("badges")
        .and_then(Item::as_table_like)
        .map(|table| {
            table
                .iter()
                .map(|(badge, fields)| {
                    let fields = fields
                        .as_table_like()
                        .map(|f| {
                            f.iter()
                                .filter_map(|(k, v)| Some((k.to_owned(), v.as_str()?.to_owned())))
                                .collect()
                        })
                        .unwrap_or_default();
                    (badge.to_owned(), fields)
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(PublishMetadata {
        name: string("name").ok_or("normalized Cargo.toml has no package.name")?,
        vers: string("version").ok_or("normalized Cargo.toml has no package.version")?,
        deps,
        features,
        authors: strings("authors"),
        description: string("description"),
        documentation: string("documentation"),
        homepage: string("homepage"),
        readme: readme_file.as_ref().and(readme.map(str::to_owned)),
        readme_file,
        keywords: strings("keywords"),
        categories: strings("categories"),
        license: string("license"),
        license_file: string("license-file"),
        repository: string("repository"),
        badges,
        links: string("links"),
        rust_version: string("rust-version"),
    })
}

fn string_list(item: Option<&Item>) -> Vec<String> {
    item.and_then(Item::as_array)
        .map(|array| {
            array
                .iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn collect_dependencies(
    scope: &dyn TableLike,
    platform: Option<&str>,
    target: &RegistryTarget,
    out: &mut Vec<PublishDependency>,
) -> Result<(), String> {
    let kinds = [
        ("dependencies", DependencyKind::Normal),
        ("build-dependencies", DependencyKind::Build),
        ("dev-dependencies", DependencyKind::Dev),
    ];
    for (table_name, kind) in kinds {
        let Some(table) = scope.get(table_name).and_then(Item::as_table_like) else {
            continue;
        };
        for (key, entry) in table.iter() {
            out.push(publish_dependency(key, entry, kind, platform, target)?);
        }
    }
    Ok(())
}

fn publish_dependency(
    key: &str,
    entry: &Item,
    kind: DependencyKind,
    platform: Option<&str>,
    target: &RegistryTarget,
) -> Result<PublishDependency, String> {
    let (fields, written_req) = match entry.as_str() {
        Some(req) => (None, Some(req.to_owned())),
        None => {
            let fields = entry
                .as_table_like()
                .ok_or_else(|| format!("dependency `{key}` is neither a string nor a table"))?;
            (
                Some(fields),
                fields
                    .get("version")
                    .and_then(Item::as_str)
                    .map(str::to_owned),
            )
        }
    };
    let get_bool = |name: &str, default: bool| {
        fields
            .and_then(|f| f.get(name))
            .and_then(Item::as_bool)
            .unwrap_or(default)
    };
    let written_req = written_req.unwrap_or_else(|| "*".to_owned());
    let version_req = semver::VersionReq::parse(&written_req)
        .map_err(|e| format!("dependency `{key}` has an invalid requirement `{written_req}`: {e}"))?
        .to_string();
    let package = fields.and_then(|f| f.get("package")).and_then(Item::as_str);
    let registry_index = fields
        .and_then(|f| f.get("registry-index"))
        .and_then(Item::as_str)
        .unwrap_or(CRATES_IO_GIT_INDEX);
    let same_registry = registry_index == target.index
        || (registry_index == CRATES_IO_GIT_INDEX
            && target.name.as_deref() == Some(convoy_registry::CRATES_IO));
    Ok(PublishDependency {
        optional: get_bool("optional", false),
        default_features: get_bool("default-features", true),
        name: package.unwrap_or(key).to_owned(),
        features: string_list(fields.and_then(|f| f.get("features"))),
        version_req,
        target: platform.map(str::to_owned),
        kind,
        registry: (!same_registry).then(|| registry_index.to_owned()),
        explicit_name_in_toml: package.map(|_| key.to_owned()),
    })
}

/// Crates among `names` that `lockfile` pins with a checksum: name → (version, cksum).
pub fn locked_crates(lockfile: &str, names: &BTreeSet<String>) -> BTreeMap<String, LockedCrate> {
    let Ok(doc) = lockfile.parse::<DocumentMut>() else {
        return BTreeMap::new();
    };
    let Some(packages) = doc.get("package").and_then(Item::as_array_of_tables) else {
        return BTreeMap::new();
    };
    packages
        .iter()
        .filter_map(|package| {
            let name = package.get("name")?.as_str()?;
            if !names.contains(name) {
                return None;
            }
            let version = package.get("version")?.as_str()?.parse().ok()?;
            let cksum = package.get("checksum")?.as_str()?.to_owned();
            Some((name.to_owned(), LockedCrate { version, cksum }))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::testing::archive;
    use super::*;

    fn crates_io() -> RegistryTarget {
        RegistryTarget {
            name: Some("crates-io".into()),
            index: convoy_registry::CRATES_IO_INDEX.into(),
        }
    }

    const NORMALIZED: &str = r#"
[package]
edition = "2021"
name = "pk-b"
version = "0.1.0"
authors = ["X <x@y>"]
build = false
description = "b"
readme = "README.md"
license = "MIT"
rust-version = "1.70"

[features]
fancy = ["dep:core-a"]
default = []

[dependencies.core-a]
version = "0.1"
features = ["std"]
optional = true
default-features = false
package = "pk-a"

[dependencies.other]
version = "2"
registry-index = "sparse+https://other.invalid/"

[dev-dependencies.pk-a]
version = "=0.1.0"

[build-dependencies.pk-a]
version = "0.1.0"

[target."cfg(unix)".dependencies.pk-a]
version = "0.1"

[badges]
maintenance = { status = "actively-developed" }
"#;

    #[test]
    fn metadata_follows_cargo_field_by_field() {
        let metadata = publish_metadata(NORMALIZED, Some("# B\n"), &crates_io()).unwrap();
        assert_eq!(metadata.name, "pk-b");
        assert_eq!(metadata.vers, "0.1.0");
        assert_eq!(metadata.readme.as_deref(), Some("# B\n"));
        assert_eq!(metadata.readme_file.as_deref(), Some("README.md"));
        assert_eq!(metadata.rust_version.as_deref(), Some("1.70"));
        assert_eq!(metadata.features["fancy"], ["dep:core-a"]);
        assert_eq!(
            metadata.badges["maintenance"]["status"],
            "actively-developed"
        );
        let summary: Vec<String> = metadata
            .deps
            .iter()
            .map(|d| {
                format!(
                    "{:?} {} {} {:?} {:?} opt={} def={} {:?} {:?}",
                    d.kind,
                    d.name,
                    d.version_req,
                    d.target,
                    d.explicit_name_in_toml,
                    d.optional,
                    d.default_features,
                    d.features,
                    d.registry
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                "Normal other ^2 None None opt=false def=true [] Some(\"sparse+https://other.invalid/\")",
                "Normal pk-a ^0.1 None Some(\"core-a\") opt=true def=false [\"std\"] None",
                "Normal pk-a ^0.1 Some(\"cfg(unix)\") None opt=false def=true [] None",
                "Build pk-a ^0.1.0 None None opt=false def=true [] None",
                "Dev pk-a =0.1.0 None None opt=false def=true [] None",
            ]
        );
    }

    #[test]
    fn readme_false_sends_no_readme_and_other_registries_name_crates_io() {
        let manifest = "[package]\nname = \"x\"\nversion = \"1.0.0\"\nreadme = false\n[dependencies]\nserde = \"1\"\n";
        let other = RegistryTarget {
            name: Some("mine".into()),
            index: "sparse+http://127.0.0.1:1/".into(),
        };
        let metadata = publish_metadata(manifest, Some("ignored"), &other).unwrap();
        assert_eq!(metadata.readme, None);
        assert_eq!(metadata.readme_file, None);
        assert_eq!(
            metadata.deps[0].registry.as_deref(),
            Some(CRATES_IO_GIT_INDEX)
        );
        assert_eq!(metadata.deps[0].version_req, "^1");
    }

    #[test]
    fn differences_name_the_files_or_say_where_else_archives_differ() {
        let one = archive("a-0.1.0", &[("Cargo.toml", "x"), ("src/lib.rs", "1")], 6);
        let two = archive("a-0.1.0", &[("Cargo.toml", "x"), ("src/lib.rs", "2")], 6);
        let three = archive("a-0.1.0", &[("Cargo.toml", "x"), ("README.md", "r")], 6);
        assert_eq!(
            CrateArchive::describe_difference(&one, &two, "a-0.1.0"),
            "differing files: src/lib.rs"
        );
        assert_eq!(
            CrateArchive::describe_difference(&one, &three, "a-0.1.0"),
            "differing files: README.md, src/lib.rs"
        );
        let recompressed = archive("a-0.1.0", &[("Cargo.toml", "x"), ("src/lib.rs", "1")], 0);
        assert_ne!(one, recompressed);
        assert_eq!(
            CrateArchive::describe_difference(&one, &recompressed, "a-0.1.0"),
            "the files are equal; the archives differ in headers or compression"
        );
        assert_eq!(
            CrateArchive::describe_difference(&one, b"not an archive", "a-0.1.0"),
            "one of the archives cannot be read"
        );
        assert_eq!(
            CrateArchive::describe_difference(&one, &two, "b-0.1.0"),
            "one of the archives cannot be read"
        );
    }

    #[test]
    fn locked_crates_pick_named_entries_with_checksums() {
        let lock = "version = 4\n\n[[package]]\nname = \"pk-a\"\nversion = \"0.1.0\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"40af\"\n\n[[package]]\nname = \"pk-b\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"serde\"\nversion = \"1.0.0\"\nchecksum = \"ffff\"\n";
        let names: BTreeSet<String> = ["pk-a".to_owned(), "pk-b".to_owned()].into();
        let locked = locked_crates(lock, &names);
        assert_eq!(locked.keys().collect::<Vec<_>>(), ["pk-a"]);
        assert_eq!(locked["pk-a"].cksum, "40af");
    }
}

/// Building `.crate` files in memory, for tests of code that reads them.
#[cfg(any(test, feature = "testing"))]
pub mod testing {
    /// A gzipped tar of `(path, contents)` pairs under `<prefix>/`, compressed at `level`
    /// (0–9): a `.crate` as far as [`CrateArchive`](super::CrateArchive) is concerned.
    pub fn archive(prefix: &str, files: &[(&str, &str)], level: u32) -> Vec<u8> {
        let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::new(level),
        ));
        for (path, contents) in files {
            let mut header = tar::Header::new_gnu();
            header.set_size(contents.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, format!("{prefix}/{path}"), contents.as_bytes())
                .expect("writing to memory");
        }
        builder
            .into_inner()
            .and_then(|gz| gz.finish())
            .expect("writing to memory")
    }
}
