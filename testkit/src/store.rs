//! The registry's storage: index files and `.crate` files in a directory, so state survives a
//! restart. Index lines are built from publish metadata the way crates.io builds them: the
//! manifest key as `name` with the real name in `package`, `cksum` computed here, features that
//! use `dep:`/`?` syntax moved to `features2` with `v: 2`.

use std::path::{Path, PathBuf};

use convoy_registry::index::{index_path, parse_index_file, IndexEntry};
use serde_json::{json, Map, Value};

/// Why a publish was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PublishRefusal {
    /// The metadata is not what the publish API takes.
    #[error("invalid metadata: {0}")]
    Invalid(String),
    /// The version exists.
    #[error("crate version `{0}` is already uploaded")]
    Duplicate(String),
}

/// A crate stored by a publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Crate name as published.
    pub name: String,
    /// Version.
    pub vers: String,
    /// SHA-256 of the `.crate`.
    pub cksum: String,
    /// Whether this is the first version of the crate.
    pub new_crate: bool,
}

/// Index and crate files under one directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// Storage in `dir` (created if missing).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir.join("index"))?;
        std::fs::create_dir_all(dir.join("crates"))?;
        Ok(Self {
            dir: dir.to_path_buf(),
        })
    }

    fn index_file(&self, name: &str) -> PathBuf {
        self.dir.join("index").join(index_path(name))
    }

    fn crate_file(&self, name: &str, vers: &str) -> PathBuf {
        let name = name.to_ascii_lowercase();
        self.dir
            .join("crates")
            .join(&name)
            .join(format!("{name}-{vers}.crate"))
    }

    /// The raw index file of `name` (by its index path), if any.
    pub fn index_text(&self, path: &str) -> Option<String> {
        if path.split('/').any(|part| part == ".." || part.is_empty()) {
            return None;
        }
        std::fs::read_to_string(self.dir.join("index").join(path)).ok()
    }

    /// The entries of a crate.
    pub fn entries(&self, name: &str) -> Vec<IndexEntry> {
        std::fs::read_to_string(self.index_file(name))
            .ok()
            .and_then(|text| parse_index_file(&text).ok())
            .unwrap_or_default()
    }

    /// The `.crate` bytes of a version.
    pub fn crate_bytes(&self, name: &str, vers: &str) -> Option<Vec<u8>> {
        if name.contains(['/', '\\']) || vers.contains(['/', '\\']) || name.contains("..") {
            return None;
        }
        std::fs::read(self.crate_file(name, vers)).ok()
    }

    /// Stores a publish: validates, writes the `.crate`, appends the index line.
    pub fn publish(
        &self,
        metadata_json: &str,
        crate_bytes: &[u8],
    ) -> Result<Stored, PublishRefusal> {
        let metadata: Value = serde_json::from_str(metadata_json)
            .map_err(|e| PublishRefusal::Invalid(e.to_string()))?;
        let text = |key: &str| metadata.get(key).and_then(Value::as_str).map(str::to_owned);
        let name = text("name").ok_or_else(|| PublishRefusal::Invalid("missing `name`".into()))?;
        let vers = text("vers").ok_or_else(|| PublishRefusal::Invalid("missing `vers`".into()))?;
        let valid_name = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(PublishRefusal::Invalid(format!(
                "invalid crate name `{name}`"
            )));
        }
        let version = semver_version(&vers)
            .ok_or_else(|| PublishRefusal::Invalid(format!("invalid version `{vers}`")))?;
        let existing = self.entries(&name);
        if existing.iter().any(|e| e.vers.to_string() == version) {
            return Err(PublishRefusal::Duplicate(vers));
        }
        let cksum = convoy_schema::digest::sha256_hex(crate_bytes);
        let line = index_line(&metadata, &name, &vers, &cksum);
        let crate_path = self.crate_file(&name, &vers);
        let io = |e: std::io::Error| PublishRefusal::Invalid(format!("storage failed: {e}"));
        if let Some(parent) = crate_path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        std::fs::write(&crate_path, crate_bytes).map_err(io)?;
        let index_path = self.index_file(&name);
        if let Some(parent) = index_path.parent() {
            std::fs::create_dir_all(parent).map_err(io)?;
        }
        let mut text = std::fs::read_to_string(&index_path).unwrap_or_default();
        text.push_str(&line);
        text.push('\n');
        std::fs::write(&index_path, text).map_err(io)?;
        Ok(Stored {
            name,
            vers,
            cksum,
            new_crate: existing.is_empty(),
        })
    }

    /// Sets a version's `yanked` flag; false when there is no such version.
    pub fn set_yanked(&self, name: &str, vers: &str, yanked: bool) -> bool {
        self.rewrite_entry(name, vers, |line| line["yanked"] = Value::Bool(yanked))
    }

    /// Changes a version's index line in place (tests tamper with the registry's state this
    /// way); false when there is no such version.
    pub fn rewrite_entry(&self, name: &str, vers: &str, change: impl FnOnce(&mut Value)) -> bool {
        self.edit_lines(name, |lines| {
            let target = lines
                .iter_mut()
                .find(|line| line.get("vers").and_then(Value::as_str) == Some(vers));
            target.map(change).is_some()
        })
    }

    /// Removes a version's index line, as a registry that deletes a version does.
    pub fn remove_entry(&self, name: &str, vers: &str) -> bool {
        self.edit_lines(name, |lines| {
            let before = lines.len();
            lines.retain(|line| line.get("vers").and_then(Value::as_str) != Some(vers));
            lines.len() != before
        })
    }

    /// Replaces the stored `.crate` bytes of a version (the index line is left alone).
    pub fn replace_crate(&self, name: &str, vers: &str, bytes: &[u8]) -> bool {
        let path = self.crate_file(name, vers);
        path.is_file() && std::fs::write(path, bytes).is_ok()
    }

    fn edit_lines(&self, name: &str, edit: impl FnOnce(&mut Vec<Value>) -> bool) -> bool {
        let path = self.index_file(name);
        let Ok(text) = std::fs::read_to_string(&path) else {
            return false;
        };
        let mut lines: Vec<Value> = text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect();
        if !edit(&mut lines) {
            return false;
        }
        let text: String = lines.iter().map(|line| format!("{line}\n")).collect();
        std::fs::write(&path, text).is_ok()
    }
}

fn semver_version(text: &str) -> Option<String> {
    // Validate the version without depending on semver here: MAJOR.MINOR.PATCH[-pre][+build].
    let core = text.split(['-', '+']).next()?;
    let parts: Vec<&str> = core.split('.').collect();
    (parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
    .then(|| text.to_owned())
}

/// The index line for publish `metadata`, as crates.io writes it.
pub fn index_line(metadata: &Value, name: &str, vers: &str, cksum: &str) -> String {
    let deps: Vec<Value> = metadata
        .get("deps")
        .and_then(Value::as_array)
        .map(|deps| {
            deps.iter()
                .map(|dep| {
                    let real = dep.get("name").cloned().unwrap_or(Value::Null);
                    let rename = dep.get("explicit_name_in_toml").filter(|v| !v.is_null()).cloned();
                    json!({
                        "name": rename.clone().unwrap_or_else(|| real.clone()),
                        "req": dep.get("version_req").cloned().unwrap_or(Value::Null),
                        "features": dep.get("features").cloned().unwrap_or_else(|| json!([])),
                        "optional": dep.get("optional").cloned().unwrap_or(Value::Bool(false)),
                        "default_features": dep.get("default_features").cloned().unwrap_or(Value::Bool(true)),
                        "target": dep.get("target").cloned().unwrap_or(Value::Null),
                        "kind": dep.get("kind").cloned().unwrap_or_else(|| json!("normal")),
                        "registry": dep.get("registry").cloned().unwrap_or(Value::Null),
                        "package": if rename.is_some() { real } else { Value::Null },
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let mut features = Map::new();
    let mut features2 = Map::new();
    if let Some(all) = metadata.get("features").and_then(Value::as_object) {
        for (feature, values) in all {
            let new_syntax = values.as_array().is_some_and(|vs| {
                vs.iter()
                    .filter_map(Value::as_str)
                    .any(|v| v.starts_with("dep:") || v.contains("?/"))
            });
            if new_syntax {
                features2.insert(feature.clone(), values.clone());
            } else {
                features.insert(feature.clone(), values.clone());
            }
        }
    }
    let mut line = json!({
        "name": name,
        "vers": vers,
        "deps": deps,
        "cksum": cksum,
        "features": features,
        "yanked": false,
        "links": metadata.get("links").cloned().unwrap_or(Value::Null),
    });
    if !features2.is_empty() {
        line["features2"] = Value::Object(features2);
        line["v"] = json!(2);
    }
    if let Some(rust_version) = metadata.get("rust_version").filter(|v| !v.is_null()) {
        line["rust_version"] = rust_version.clone();
    }
    line.to_string()
}
