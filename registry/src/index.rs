//! The sparse index format: where a crate's file lives and what its lines say.
//!
//! One JSON object per line per version. Unknown fields are ignored (registries add fields, such
//! as a proposed `withheld`, and readers must not break), but kept in `unknown` so a verifier can
//! report states it does not understand.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Path of a crate's index file relative to the index root, as cargo computes it: lower-cased;
/// `1/{name}`, `2/{name}`, `3/{c}/{name}`, else `{c0c1}/{c2c3}/{name}`.
pub fn index_path(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "" => String::new(),
        _ => format!("{}/{name}", prefix(&name)),
    }
}

/// The directory part of a crate's index path, keeping the name's case: `1`, `2`, `3/a`, `ab/cd`.
/// By characters, so a name that is not a crate name cannot split a character in two.
pub fn prefix(name: &str) -> String {
    let part =
        |skip: usize, take: usize| -> String { name.chars().skip(skip).take(take).collect() };
    match name.chars().count() {
        0 => String::new(),
        1 => "1".to_owned(),
        2 => "2".to_owned(),
        3 => format!("3/{}", part(0, 1)),
        _ => format!("{}/{}", part(0, 2), part(2, 2)),
    }
}

/// Whether `name` can be a crate name at all: 1 to 64 ASCII letters, digits, `-` and `_`. Names
/// from plans and registries are checked before they become URL paths.
pub fn is_crate_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One version of a crate as the index describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IndexEntry {
    /// Crate name.
    pub name: String,
    /// Version.
    pub vers: semver::Version,
    /// Dependencies.
    #[serde(default)]
    pub deps: Vec<IndexDependency>,
    /// Lowercase hex SHA-256 of the `.crate` file.
    pub cksum: String,
    /// Features (the part cargo versions before 1.60 understand).
    #[serde(default)]
    pub features: BTreeMap<String, Vec<String>>,
    /// Features using `dep:` or `?` syntax, present with `v: 2`.
    #[serde(default)]
    pub features2: Option<BTreeMap<String, Vec<String>>>,
    /// Whether the version is yanked.
    #[serde(default)]
    pub yanked: bool,
    /// `links` value.
    #[serde(default)]
    pub links: Option<String>,
    /// Entry format version (1 when absent).
    #[serde(default)]
    pub v: Option<u32>,
    /// Minimum Rust version.
    #[serde(default)]
    pub rust_version: Option<String>,
    /// Fields this reader does not know, by name.
    #[serde(flatten)]
    pub unknown: BTreeMap<String, serde_json::Value>,
}

impl IndexEntry {
    /// `features` and `features2` merged, as cargo reads them.
    pub fn all_features(&self) -> BTreeMap<String, Vec<String>> {
        let mut all = self.features.clone();
        if let Some(more) = &self.features2 {
            for (name, values) in more {
                all.entry(name.clone())
                    .or_default()
                    .extend(values.iter().cloned());
            }
        }
        all
    }
}

/// A dependency in an index line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IndexDependency {
    /// The name used in the manifest (the rename, if renamed).
    pub name: String,
    /// Version requirement.
    pub req: String,
    /// Features enabled.
    #[serde(default)]
    pub features: Vec<String>,
    /// Whether it is optional.
    #[serde(default)]
    pub optional: bool,
    /// Whether default features are enabled.
    #[serde(default = "default_true")]
    pub default_features: bool,
    /// Platform restriction.
    #[serde(default)]
    pub target: Option<String>,
    /// `normal`, `build` or `dev` (absent means normal).
    #[serde(default)]
    pub kind: Option<String>,
    /// Index URL of another registry; absent for the same registry.
    #[serde(default)]
    pub registry: Option<String>,
    /// The real crate name when `name` is a rename.
    #[serde(default)]
    pub package: Option<String>,
}

fn default_true() -> bool {
    true
}

/// A line that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("index line {line}: {message}")]
pub struct IndexParseError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Parses an index file: one entry per non-empty line.
pub fn parse_index_file(text: &str) -> Result<Vec<IndexEntry>, IndexParseError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(number, line)| {
            serde_json::from_str(line).map_err(|e| IndexParseError {
                line: number + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_paths_follow_cargo() {
        assert_eq!(index_path("a"), "1/a");
        assert_eq!(index_path("ab"), "2/ab");
        assert_eq!(index_path("abc"), "3/a/abc");
        assert_eq!(index_path("Serde"), "se/rd/serde");
        assert_eq!(index_path("cargo-x"), "ca/rg/cargo-x");
    }

    #[test]
    fn lines_keep_unknown_fields_and_merge_features2() {
        let text = concat!(
            r#"{"name":"foo","vers":"1.0.0","deps":[{"name":"bar2","req":"^1","features":[],"optional":true,"default_features":false,"target":"cfg(unix)","kind":"dev","registry":null,"package":"bar"}],"cksum":"aa","features":{"std":[]},"features2":{"x":["dep:bar2"]},"yanked":false,"links":null,"v":2,"withheld":true}"#,
            "\n\n",
            r#"{"name":"foo","vers":"1.1.0","deps":[],"cksum":"bb","features":{},"yanked":true}"#,
            "\n"
        );
        let entries = parse_index_file(text).unwrap();
        assert_eq!(entries.len(), 2);
        let first = &entries[0];
        assert_eq!(first.v, Some(2));
        assert_eq!(
            first.unknown.get("withheld"),
            Some(&serde_json::json!(true))
        );
        assert_eq!(first.all_features()["x"], ["dep:bar2"]);
        assert_eq!(first.deps[0].package.as_deref(), Some("bar"));
        assert!(!first.deps[0].default_features);
        assert!(entries[1].yanked);
        assert!(entries[1].deps.is_empty());
    }

    #[test]
    fn bad_lines_are_named() {
        let error = parse_index_file("{\"name\":\"x\"}\n").unwrap_err();
        assert_eq!(error.line, 1);
    }
}
