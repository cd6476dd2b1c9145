//! A plan's source edits applied to file texts, pure: manifest edits (format-preserving),
//! `Cargo.lock` version changes and changelog sections. Packaging applies them in its staging
//! copy and `convoy-plan apply` in the user's tree, through this one function, so the bytes a
//! plan predicts are the bytes `apply` leaves.

use std::collections::BTreeMap;

use convoy_schema::plan::{Action, LockfileEdit, ManifestEdit, Plan};
use toml_edit::{DocumentMut, Item, Value};

use crate::{changelog, manifest};

/// The lockfile, relative to the workspace root.
pub const LOCKFILE: &str = "Cargo.lock";

/// Why an edit could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct EditFailure {
    /// The file, relative to the workspace root.
    pub file: String,
    /// What went wrong.
    pub message: String,
}

/// Every distinct manifest edit of the plan, in package order.
pub fn manifest_edits(plan: &Plan) -> Vec<&ManifestEdit> {
    let mut edits: Vec<&ManifestEdit> = Vec::new();
    for edit in plan.packages.iter().flat_map(|p| &p.manifest.edits) {
        if !edits.contains(&edit) {
            edits.push(edit);
        }
    }
    edits
}

/// The files the plan's edits change, with their new texts, sorted by path. `read` gives a
/// file's current text by its workspace-relative path.
pub fn edited_files<E: std::fmt::Display>(
    plan: &Plan,
    read: impl Fn(&str) -> Result<String, E>,
) -> Result<BTreeMap<String, String>, EditFailure> {
    let failed = |file: &str, message: String| EditFailure {
        file: file.to_owned(),
        message,
    };
    let mut texts: BTreeMap<String, String> = BTreeMap::new();
    let current =
        |file: &str, texts: &mut BTreeMap<String, String>| -> Result<String, EditFailure> {
            match texts.get(file) {
                Some(text) => Ok(text.clone()),
                None => read(file).map_err(|e| failed(file, e.to_string())),
            }
        };
    for edit in manifest_edits(plan) {
        let text = current(&edit.file, &mut texts)?;
        if is_python_source(&edit.file) {
            let edited = set_version_assignment(&text, edit).map_err(|m| failed(&edit.file, m))?;
            texts.insert(edit.file.clone(), edited);
            continue;
        }
        let mut doc: DocumentMut = text
            .parse()
            .map_err(|e: toml_edit::TomlError| failed(&edit.file, e.to_string()))?;
        manifest::set_string(&mut doc, &edit.table, &edit.key, &edit.value)
            .map_err(|e| failed(&edit.file, e.to_string()))?;
        texts.insert(edit.file.clone(), doc.to_string());
    }
    if !plan.lockfile_edits.is_empty() {
        let text = current(LOCKFILE, &mut texts)?;
        texts.insert(
            LOCKFILE.to_owned(),
            lockfile(&text, &plan.lockfile_edits).map_err(|m| failed(LOCKFILE, m))?,
        );
    }
    for package in plan
        .packages
        .iter()
        .filter(|p| p.action != Action::Excluded)
    {
        let Some(edit) = package.release.as_ref().and_then(|r| r.changelog.as_ref()) else {
            continue;
        };
        let text = current(&edit.file, &mut texts)?;
        texts.insert(edit.file.clone(), changelog::insert(&text, &edit.section));
    }
    Ok(texts)
}

/// Whether an edit's file is Python source (a `__version__` assignment) rather than TOML.
pub fn is_python_source(file: &str) -> bool {
    file.ends_with(".py")
}

/// The name and string of a version assignment (`__version__`, `VERSION` or `version` at the
/// start of `line`, with a quoted string), as hatchling's default version source and
/// setuptools' `attr:` read it.
pub fn version_assignment(line: &str) -> Option<(String, String)> {
    if line.starts_with([' ', '\t']) {
        return None;
    }
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    if !matches!(name, "__version__" | "VERSION" | "version") {
        return None;
    }
    let value = value.trim();
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let inner = &value[1..];
    let end = inner.find(quote)?;
    Some((name.to_owned(), inner[..end].to_owned()))
}

/// `text` with the first assignment of `edit.key` to `edit.previous` set to `edit.value`,
/// the rest of the file untouched.
pub fn set_version_assignment(text: &str, edit: &ManifestEdit) -> Result<String, String> {
    let mut out = String::with_capacity(text.len() + 8);
    let mut done = false;
    for line in text.split_inclusive('\n') {
        let matches = !done
            && version_assignment(line).is_some_and(|(name, value)| {
                name == edit.key && edit.previous.as_deref().is_none_or(|p| p == value)
            });
        if matches {
            if let Some(previous) = &edit.previous {
                if let Some(at) = line.find(previous.as_str()) {
                    out.push_str(&line[..at]);
                    out.push_str(&edit.value);
                    out.push_str(&line[at + previous.len()..]);
                    done = true;
                    continue;
                }
            }
        }
        out.push_str(line);
    }
    if !done {
        return Err(format!(
            "no `{} = \"{}\"` line to set to {}",
            edit.key,
            edit.previous.as_deref().unwrap_or(""),
            edit.value
        ));
    }
    Ok(out)
}

/// `Cargo.lock` with members' versions changed: their `[[package]]` entries, and the
/// `"name version"` references other entries make when a name is ambiguous.
pub fn lockfile(text: &str, edits: &[LockfileEdit]) -> Result<String, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| e.to_string())?;
    let Some(packages) = doc
        .get_mut("package")
        .and_then(Item::as_array_of_tables_mut)
    else {
        return Err("no [[package]] entries".to_owned());
    };
    for edit in edits {
        let from = edit.from.to_string();
        let to = edit.to.to_string();
        let mut found = false;
        for package in packages.iter_mut() {
            let is_member = package.get("name").and_then(Item::as_str) == Some(edit.name.as_str())
                && package.get("version").and_then(Item::as_str) == Some(from.as_str())
                && !package.contains_key("source");
            if is_member {
                if let Some(Item::Value(value)) = package.get_mut("version") {
                    let mut new = Value::from(to.as_str());
                    *new.decor_mut() = value.decor().clone();
                    *value = new;
                    found = true;
                }
            }
            let old_reference = format!("{} {from}", edit.name);
            if let Some(dependencies) = package.get_mut("dependencies").and_then(Item::as_array_mut)
            {
                for dependency in dependencies.iter_mut() {
                    if dependency.as_str() == Some(old_reference.as_str()) {
                        let mut new = Value::from(format!("{} {to}", edit.name));
                        *new.decor_mut() = dependency.decor().clone();
                        *dependency = new;
                    }
                }
            }
        }
        if !found {
            return Err(format!(
                "no entry for `{}` {from} to change to {to}",
                edit.name
            ));
        }
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_assignment_changes_and_nothing_else() {
        let text = "\"\"\"Doc.\"\"\"\n# __version__ = \"0.0.0\"\n__version__ = '1.0.0'  # keep\nVERSION = \"1.0.0\"\n";
        assert_eq!(
            version_assignment("__version__ = '1.0.0'  # keep"),
            Some(("__version__".into(), "1.0.0".into()))
        );
        assert_eq!(version_assignment("    __version__ = '1.0.0'"), None);
        let edit = ManifestEdit {
            file: "pkg/_version.py".into(),
            table: Vec::new(),
            key: "__version__".into(),
            value: "1.1.0a1".into(),
            summary: String::new(),
            previous: Some("1.0.0".into()),
        };
        assert_eq!(
            set_version_assignment(text, &edit).unwrap(),
            "\"\"\"Doc.\"\"\"\n# __version__ = \"0.0.0\"\n__version__ = '1.1.0a1'  # keep\nVERSION = \"1.0.0\"\n"
        );
        let stale = ManifestEdit {
            previous: Some("0.9".into()),
            ..edit
        };
        assert!(set_version_assignment(text, &stale)
            .unwrap_err()
            .contains("no `__version__ = \"0.9\"` line"));
    }

    #[test]
    fn lockfile_versions_change_and_nothing_else() {
        let text = r#"# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 4

[[package]]
name = "a"
version = "0.2.0"
dependencies = [
 "b 0.2.0",
 "serde",
]

[[package]]
name = "b"
version = "0.2.0"

[[package]]
name = "b"
version = "0.1.0"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "00"
"#;
        let edits = [LockfileEdit {
            name: "b".into(),
            from: "0.2.0".parse().unwrap(),
            to: "0.3.0".parse().unwrap(),
        }];
        let edited = lockfile(text, &edits).unwrap();
        assert_eq!(
            edited,
            text.replacen(" \"b 0.2.0\",", " \"b 0.3.0\",", 1).replacen(
                "name = \"b\"\nversion = \"0.2.0\"",
                "name = \"b\"\nversion = \"0.3.0\"",
                1
            )
        );
        let missing = [LockfileEdit {
            name: "c".into(),
            ..edits[0].clone()
        }];
        assert!(lockfile(text, &missing).unwrap_err().contains("`c`"));
    }
}
