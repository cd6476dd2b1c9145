//! Manifest analysis and rewriting with `toml_edit`, as pure text-to-text functions.
//!
//! Two questions are answered here: where a dependency's version requirement is written (the
//! member's own entry, or `[workspace.dependencies]` in the root), and what the manifest that
//! cargo will publish looks like (workspace inheritance resolved, `path` removed, version-less
//! dev-dependencies dropped, plan edits applied). Formatting and comments are kept, so a reviewer
//! can diff the prediction against the source.

use std::collections::BTreeMap;

use convoy_schema::plan::DependencyKind;
use toml_edit::{DocumentMut, InlineTable, Item, TableLike, Value};

use crate::model::DeclaredDependency;

/// Plan edits are made with `convoy-package`'s format-preserving setter, which staging uses too.
pub use convoy_package::manifest::{set_string, EditError};

/// Identifies one dependency entry: kind, platform and manifest key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DependencyKey {
    /// Dependency kind.
    pub kind: DependencyKind,
    /// Platform restriction, if any.
    pub target: Option<String>,
    /// Key in the dependency table (the rename, if any).
    pub key: String,
}

impl DependencyKey {
    /// The key of a declared dependency.
    pub fn of(dep: &DeclaredDependency) -> Self {
        Self {
            kind: dep.kind,
            target: dep.target.clone(),
            key: dep.manifest_key().to_owned(),
        }
    }

    /// Keys from the document root to this dependency's entry, in the primary spelling.
    pub fn table_path(&self) -> Vec<String> {
        let mut path = Vec::with_capacity(4);
        if let Some(target) = &self.target {
            path.push("target".to_owned());
            path.push(target.clone());
        }
        path.push(self.kind.table().to_owned());
        path.push(self.key.clone());
        path
    }
}

/// Where a dependency's version requirement is, or would have to be, written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionSite {
    /// In the member's own dependency entry.
    Member,
    /// In the root's `[workspace.dependencies]` entry the member inherits with `workspace = true`.
    WorkspaceRoot,
}

/// Whether a dependency entry carries a version, and where it is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VersionDeclaration {
    /// A `version` is written (possibly `*`).
    pub declared: bool,
    /// Where it is or would be written.
    pub site: VersionSite,
}

/// A manifest that failed to parse as TOML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ManifestSyntaxError {
    /// The parser's message, with line and column.
    pub message: String,
}

/// Parses manifest text.
pub fn parse(text: &str) -> Result<DocumentMut, ManifestSyntaxError> {
    text.parse::<DocumentMut>()
        .map_err(|error| ManifestSyntaxError {
            message: error.to_string().trim_end().to_owned(),
        })
}

/// Table names cargo accepts for a kind, primary spelling first.
fn table_names(kind: DependencyKind) -> &'static [&'static str] {
    match kind {
        DependencyKind::Normal => &["dependencies"],
        DependencyKind::Build => &["build-dependencies", "build_dependencies"],
        DependencyKind::Dev => &["dev-dependencies", "dev_dependencies"],
    }
}

fn dependency_entry<'a>(member: &'a DocumentMut, key: &DependencyKey) -> Option<&'a Item> {
    let mut scope: &dyn TableLike = member.as_table();
    if let Some(target) = &key.target {
        scope = scope
            .get("target")?
            .as_table_like()?
            .get(target)?
            .as_table_like()?;
    }
    table_names(key.kind)
        .iter()
        .filter_map(|name| scope.get(name)?.as_table_like()?.get(&key.key))
        .next()
}

fn workspace_dependency<'a>(root: &'a DocumentMut, key: &str) -> Option<&'a Item> {
    root.get("workspace")?
        .get("dependencies")?
        .as_table_like()?
        .get(key)
}

fn inherits_from_workspace(entry: &dyn TableLike) -> bool {
    entry
        .get("workspace")
        .and_then(Item::as_bool)
        .unwrap_or(false)
}

fn item_has_version(item: &Item) -> bool {
    item.is_str()
        || item
            .as_table_like()
            .is_some_and(|table| table.contains_key("version"))
}

/// Where `key`'s version is written in `member` (inheriting from `root` when it says
/// `workspace = true`); `None` when the entry cannot be found in the text.
pub fn version_declaration(
    member: &DocumentMut,
    root: &DocumentMut,
    key: &DependencyKey,
) -> Option<VersionDeclaration> {
    let entry = dependency_entry(member, key)?;
    Some(match entry.as_table_like() {
        Some(table) if inherits_from_workspace(table) => VersionDeclaration {
            declared: workspace_dependency(root, &key.key).is_some_and(item_has_version),
            site: VersionSite::WorkspaceRoot,
        },
        _ => VersionDeclaration {
            declared: item_has_version(entry),
            site: VersionSite::Member,
        },
    })
}

/// Keys from the document root to `key`'s entry as spelled in `member` (`dev_dependencies` or
/// `dev-dependencies`); the primary spelling when it is not found.
pub fn entry_table_path(member: &DocumentMut, key: &DependencyKey) -> Vec<String> {
    let mut path = key.table_path();
    let spelled = table_names(key.kind).iter().find(|name| {
        let mut scope: Option<&dyn TableLike> = Some(member.as_table());
        if let Some(target) = &key.target {
            scope = scope
                .and_then(|s| s.get("target"))
                .and_then(Item::as_table_like)
                .and_then(|t| t.get(target))
                .and_then(Item::as_table_like);
        }
        scope
            .and_then(|s| s.get(name))
            .and_then(Item::as_table_like)
            .is_some_and(|table| table.contains_key(&key.key))
    });
    if let Some(name) = spelled {
        let at = path.len() - 2;
        path[at] = (*name).to_owned();
    }
    path
}

/// Where a version requirement is written: the table holding the key, and the key. For
/// `b = "0.2"` that is the dependency table and `b`; for `b = { version = "0.2" }` it is the
/// entry and `version`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementSite {
    /// Keys from the document root to the table.
    pub table: Vec<String>,
    /// The key set.
    pub key: String,
    /// The requirement as written.
    pub text: String,
}

/// The written requirement of the entry at `entry_path` (keys from the root, the entry's key
/// last), if it has one.
pub fn requirement_site(doc: &DocumentMut, entry_path: &[String]) -> Option<RequirementSite> {
    let (key, table) = entry_path.split_last()?;
    let mut scope: &dyn TableLike = doc.as_table();
    for part in table {
        scope = scope.get(part)?.as_table_like()?;
    }
    let entry = scope.get(key)?;
    if let Some(text) = entry.as_str() {
        return Some(RequirementSite {
            table: table.to_vec(),
            key: key.clone(),
            text: text.to_owned(),
        });
    }
    let text = entry.as_table_like()?.get("version")?.as_str()?;
    Some(RequirementSite {
        table: entry_path.to_vec(),
        key: "version".to_owned(),
        text: text.to_owned(),
    })
}

/// Whether the member's `package.version` is inherited (`version.workspace = true`).
pub fn inherits_version(member: &DocumentMut) -> bool {
    member
        .get("package")
        .and_then(|p| p.get("version"))
        .and_then(Item::as_table_like)
        .is_some_and(inherits_from_workspace)
}

/// `dir` and `path` are `/`-separated and relative to one root; returns `path` relative to `dir`.
pub fn relative_path(dir: &str, path: &str) -> String {
    let from = normalize_components(dir);
    let to = normalize_components(path);
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = vec![".."; from.len() - common];
    parts.extend(to[common..].iter().copied());
    parts.join("/")
}

/// Joins `path` onto `dir` and normalizes `.`/`..` (both `/`-separated, relative to one root).
pub fn join_path(dir: &str, path: &str) -> String {
    let joined = if dir.is_empty() {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    };
    normalize_components(&joined).join("/")
}

fn normalize_components(path: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if out.last().is_some_and(|last| *last != "..") => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// Package fields whose inherited value is a path relative to the workspace root.
const PATH_FIELDS: [&str; 2] = ["readme", "license-file"];

/// The manifest cargo would publish for `member_text`, predicted.
///
/// `member_dir` is the member's directory relative to the root; `added_versions` holds the
/// version requirement the plan adds to dependencies that have none.
pub fn published_manifest(
    member_text: &str,
    member_dir: &str,
    root: &DocumentMut,
    added_versions: &BTreeMap<DependencyKey, String>,
) -> Result<String, ManifestSyntaxError> {
    let mut doc = parse(member_text)?;
    resolve_package_inheritance(&mut doc, member_dir, root);
    resolve_lints_inheritance(&mut doc, root);
    for (target, table_name, kind) in dependency_tables(&doc) {
        let Some(table) = dependency_table_mut(&mut doc, target.as_deref(), &table_name) else {
            continue;
        };
        let keys: Vec<String> = table.iter().map(|(key, _)| key.to_owned()).collect();
        for key in keys {
            let dep_key = DependencyKey {
                kind,
                target: target.clone(),
                key,
            };
            let keep = normalize_dependency(table, &dep_key, root, added_versions.get(&dep_key));
            if !keep {
                table.remove(&dep_key.key);
            }
        }
    }
    remove_empty_dependency_tables(&mut doc);
    for section in ["workspace", "patch", "replace"] {
        doc.remove(section);
    }
    Ok(doc.to_string())
}

fn resolve_package_inheritance(doc: &mut DocumentMut, member_dir: &str, root: &DocumentMut) {
    let inherited_source = root
        .get("workspace")
        .and_then(|w| w.get("package"))
        .and_then(Item::as_table_like);
    let Some(package) = doc.get_mut("package").and_then(Item::as_table_like_mut) else {
        return;
    };
    package.remove("workspace");
    let inherited: Vec<String> = package
        .iter()
        .filter(|(_, item)| item.as_table_like().is_some_and(inherits_from_workspace))
        .map(|(key, _)| key.to_owned())
        .collect();
    for key in inherited {
        let Some(value) = inherited_source.and_then(|source| source.get(&key)) else {
            continue;
        };
        let mut value = value.clone();
        if PATH_FIELDS.contains(&key.as_str()) {
            if let Some(path) = value.as_str() {
                value = toml_edit::value(relative_path(member_dir, path));
            }
        }
        if let Some(table) = value.as_table() {
            value = Item::Value(Value::InlineTable(table.clone().into_inline_table()));
        }
        package.insert(&key, value);
    }
}

fn resolve_lints_inheritance(doc: &mut DocumentMut, root: &DocumentMut) {
    let inherits = doc
        .get("lints")
        .and_then(Item::as_table_like)
        .is_some_and(inherits_from_workspace);
    if !inherits {
        return;
    }
    match root.get("workspace").and_then(|w| w.get("lints")) {
        Some(lints) => {
            doc.insert("lints", lints.clone());
        }
        None => {
            doc.remove("lints");
        }
    }
}

/// Every dependency table in `doc`: (platform, table name, kind), in document order.
fn dependency_tables(doc: &DocumentMut) -> Vec<(Option<String>, String, DependencyKind)> {
    let kinds = [
        DependencyKind::Normal,
        DependencyKind::Build,
        DependencyKind::Dev,
    ];
    let mut tables = Vec::new();
    let mut scan = |scope: &dyn TableLike, target: Option<String>| {
        for kind in kinds {
            for name in table_names(kind) {
                if scope.get(name).and_then(Item::as_table_like).is_some() {
                    tables.push((target.clone(), (*name).to_owned(), kind));
                }
            }
        }
    };
    scan(doc.as_table(), None);
    if let Some(targets) = doc.get("target").and_then(Item::as_table_like) {
        for (target, scope) in targets.iter() {
            if let Some(scope) = scope.as_table_like() {
                scan(scope, Some(target.to_owned()));
            }
        }
    }
    tables
}

fn dependency_table_mut<'a>(
    doc: &'a mut DocumentMut,
    target: Option<&str>,
    table_name: &str,
) -> Option<&'a mut dyn TableLike> {
    let mut scope: &mut dyn TableLike = doc.as_table_mut();
    if let Some(target) = target {
        scope = scope
            .get_mut("target")?
            .as_table_like_mut()?
            .get_mut(target)?
            .as_table_like_mut()?;
    }
    scope.get_mut(table_name)?.as_table_like_mut()
}

/// Rewrites one dependency entry in place as cargo publishes it; false when it is dropped.
fn normalize_dependency(
    table: &mut dyn TableLike,
    key: &DependencyKey,
    root: &DocumentMut,
    added_version: Option<&String>,
) -> bool {
    let Some(entry) = table.get_mut(&key.key) else {
        return false;
    };
    if entry.as_table_like().is_some_and(inherits_from_workspace) {
        *entry = merged_with_workspace(entry, workspace_dependency(root, &key.key));
    }
    if entry.is_str() {
        return true;
    }
    let Some(fields) = entry.as_table_like_mut() else {
        return true;
    };
    if !fields.contains_key("version") {
        if let Some(version) = added_version {
            fields.insert("version", toml_edit::value(version.as_str()));
        }
    }
    let has_version = fields.contains_key("version");
    if !has_version && key.kind == DependencyKind::Dev {
        return false;
    }
    fields.remove("path");
    if has_version {
        for git_field in ["git", "branch", "tag", "rev"] {
            fields.remove(git_field);
        }
    }
    true
}

/// A member entry `{ workspace = true, ... }` merged with the root's entry of the same key.
fn merged_with_workspace(member_entry: &Item, root_entry: Option<&Item>) -> Item {
    let mut merged = InlineTable::new();
    match root_entry {
        Some(item) if item.is_str() => {
            merged.insert(
                "version",
                item.as_value().cloned().unwrap_or_else(|| "".into()),
            );
        }
        Some(item) => {
            if let Some(fields) = item.as_table_like() {
                for (key, value) in fields.iter() {
                    if let Some(value) = value.as_value() {
                        merged.insert(key, value.clone().decorated("", ""));
                    }
                }
            }
        }
        None => {}
    }
    let member_fields = member_entry.as_table_like();
    let member_features: Vec<String> = member_fields
        .and_then(|fields| fields.get("features"))
        .and_then(Item::as_array)
        .map(|features| {
            features
                .iter()
                .filter_map(|f| f.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if !member_features.is_empty() {
        let mut features: Vec<String> = merged
            .get("features")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        for feature in member_features {
            if !features.contains(&feature) {
                features.push(feature);
            }
        }
        merged.insert("features", Value::Array(features.into_iter().collect()));
    }
    if let Some(optional) = member_fields.and_then(|fields| fields.get("optional")) {
        if let Some(value) = optional.as_value() {
            merged.insert("optional", value.clone().decorated(" ", ""));
        }
    }
    merged.fmt();
    Item::Value(Value::InlineTable(merged))
}

fn remove_empty_dependency_tables(doc: &mut DocumentMut) {
    for (target, table_name, _) in dependency_tables(doc) {
        let empty = dependency_table_mut(doc, target.as_deref(), &table_name)
            .is_some_and(|table| table.is_empty());
        if !empty {
            continue;
        }
        match &target {
            None => {
                doc.remove(&table_name);
            }
            Some(target) => {
                if let Some(scope) = doc
                    .get_mut("target")
                    .and_then(Item::as_table_like_mut)
                    .and_then(|targets| targets.get_mut(target))
                    .and_then(Item::as_table_like_mut)
                {
                    scope.remove(&table_name);
                }
            }
        }
    }
    let empty_targets: Vec<String> = doc
        .get("target")
        .and_then(Item::as_table_like)
        .map(|targets| {
            targets
                .iter()
                .filter(|(_, scope)| scope.as_table_like().is_some_and(|s| s.is_empty()))
                .map(|(name, _)| name.to_owned())
                .collect()
        })
        .unwrap_or_default();
    if let Some(targets) = doc.get_mut("target").and_then(Item::as_table_like_mut) {
        for name in &empty_targets {
            targets.remove(name);
        }
        if targets.is_empty() {
            doc.remove("target");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: DependencyKind, target: Option<&str>, name: &str) -> DependencyKey {
        DependencyKey {
            kind,
            target: target.map(str::to_owned),
            key: name.to_owned(),
        }
    }

    const ROOT: &str = r#"
[workspace]
members = ["a", "b"]

[workspace.package]
version = "0.3.0"
license = "MIT"
readme = "README.md"

[workspace.dependencies]
b = { path = "b", features = ["x"] }
serde = "1"

[workspace.lints.rust]
unsafe_code = "forbid"
"#;

    #[test]
    fn finds_where_versions_are_declared() {
        let root = parse(ROOT).unwrap();
        let member = parse(
            r#"
[dependencies]
b = { workspace = true }
serde = { workspace = true }
c = { path = "../c", version = "0.1" }
d = "1"
[target.'cfg(unix)'.dev_dependencies]
e = { path = "../e" }
"#,
        )
        .unwrap();
        let decl = |k: DependencyKey| version_declaration(&member, &root, &k).unwrap();
        let normal = DependencyKind::Normal;
        assert_eq!(
            decl(key(normal, None, "b")),
            VersionDeclaration {
                declared: false,
                site: VersionSite::WorkspaceRoot
            }
        );
        assert!(decl(key(normal, None, "serde")).declared);
        assert_eq!(
            decl(key(normal, None, "c")),
            VersionDeclaration {
                declared: true,
                site: VersionSite::Member
            }
        );
        assert!(decl(key(normal, None, "d")).declared);
        let dev = key(DependencyKind::Dev, Some("cfg(unix)"), "e");
        assert_eq!(
            decl(dev.clone()),
            VersionDeclaration {
                declared: false,
                site: VersionSite::Member
            }
        );
        assert_eq!(
            entry_table_path(&member, &dev),
            ["target", "cfg(unix)", "dev_dependencies", "e"]
        );
        assert_eq!(
            version_declaration(&member, &root, &key(normal, None, "zz")),
            None
        );
    }

    #[test]
    fn relative_paths() {
        assert_eq!(relative_path("a/b", "README.md"), "../../README.md");
        assert_eq!(relative_path("", "docs/README.md"), "docs/README.md");
        assert_eq!(relative_path("crates/a", "crates/b"), "../b");
        assert_eq!(join_path("crates/a", "../b"), "crates/b");
        assert_eq!(join_path("", "./x/"), "x");
        assert_eq!(join_path("a", "../../outside"), "../outside");
    }

    #[test]
    fn published_manifest_resolves_inheritance_and_strips_paths() {
        let root = parse(ROOT).unwrap();
        let member = r#"[package]
name = "a"
version.workspace = true
license.workspace = true
readme.workspace = true
edition = "2021"

[dependencies]
b = { workspace = true, features = ["y"], optional = true }
serde.workspace = true
c = { path = "../c", version = "0.1" }
g = { git = "https://example.invalid/g", version = "2" }

[dev-dependencies]
d = { path = "../d" }

[target.'cfg(unix)'.dev-dependencies]
e = { path = "../e" }

[lints]
workspace = true
"#;
        let mut added = BTreeMap::new();
        added.insert(key(DependencyKind::Normal, None, "b"), "^0.3.0".to_owned());
        let published = published_manifest(member, "crates/a", &root, &added).unwrap();
        assert_eq!(
            published,
            r#"[package]
name = "a"
version = "0.3.0"
license = "MIT"
readme = "../../README.md"
edition = "2021"

[dependencies]
b = { features = ["x", "y"], optional = true, version = "^0.3.0" }
serde = { version = "1" }
c = { version = "0.1" }
g = { version = "2" }

[lints.rust]
unsafe_code = "forbid"
"#
        );
    }
}
