//! IO: the repository's Python projects. The directories come from `convoy.toml`'s
//! `[python] members` globs when it has them, else from the uv workspace of the root
//! `pyproject.toml` (`[tool.uv.workspace] members`, less `exclude`, and the root itself when it
//! is a project); `[python] exclude` leaves directories out either way. For each, its
//! `pyproject.toml` is read, and the file a dynamic version is set in when it names one.

// An IO edge: planner/clippy.toml forbids these calls in the pure core.
#![allow(clippy::disallowed_methods)]

use std::path::Path;

use convoy_package::PackageError;
use toml_edit::{DocumentMut, Item};

use crate::config::PythonSettings;
use crate::python::project::{in_dir, version_sources, PythonProject};

/// Finds and reads the Python projects of the repository at `root`, sorted by directory.
pub fn discover(
    root: &Path,
    settings: &PythonSettings,
) -> Result<Vec<PythonProject>, PackageError> {
    let root_pyproject = root.join("pyproject.toml");
    let root_text = if root_pyproject.is_file() {
        Some(read_text(&root_pyproject)?)
    } else {
        None
    };
    let (members, mut exclude, root_is_member) = match &settings.members {
        Some(globs) => (globs.clone(), Vec::new(), false),
        None => match root_text.as_deref().and_then(uv_workspace) {
            Some((members, exclude, root_project)) => (members, exclude, root_project),
            None => return Ok(Vec::new()),
        },
    };
    exclude.extend(settings.exclude.iter().cloned());
    let excluded: Vec<glob::Pattern> = exclude
        .iter()
        .filter_map(|g| glob::Pattern::new(g.trim_end_matches('/')).ok())
        .collect();
    let mut dirs = Vec::new();
    if root_is_member {
        dirs.push(String::new());
    }
    for pattern in &members {
        let full = root.join(pattern.trim_end_matches('/'));
        let Ok(paths) = glob::glob(&full.to_string_lossy()) else {
            continue;
        };
        for path in paths.flatten() {
            if !path.join("pyproject.toml").is_file() {
                continue;
            }
            let Ok(relative) = path.strip_prefix(root) else {
                continue;
            };
            let relative = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            if !excluded.iter().any(|p| p.matches(&relative)) {
                dirs.push(relative);
            }
        }
    }
    dirs.sort();
    dirs.dedup();
    let mut projects = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let pyproject = read_text(&root.join(in_dir(&dir, "pyproject.toml")))?;
        let mut version_file = None;
        for source in version_sources(&pyproject) {
            let path = in_dir(&dir, &source);
            let full = root.join(&path);
            if full.is_file() {
                version_file = Some((path, read_text(&full)?));
                break;
            }
        }
        tracing::debug!(%dir, "Python project found");
        projects.push(PythonProject {
            dir,
            pyproject,
            version_file,
        });
    }
    Ok(projects)
}

/// `[tool.uv.workspace]` of a root `pyproject.toml`: its member and exclude globs, and whether
/// the root is a project itself.
fn uv_workspace(text: &str) -> Option<(Vec<String>, Vec<String>, bool)> {
    let document = text.parse::<DocumentMut>().ok()?;
    let workspace = document.get("tool")?.get("uv")?.get("workspace")?;
    let list = |key: &str| -> Vec<String> {
        workspace
            .get(key)
            .and_then(Item::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    Some((
        list("members"),
        list("exclude"),
        document.contains_key("project"),
    ))
}

fn read_text(path: &Path) -> Result<String, PackageError> {
    std::fs::read_to_string(path).map_err(|source| PackageError::Read {
        path: path.display().to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, path: &str, text: &str) {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn members_come_from_the_config_else_the_uv_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(
            root,
            "pyproject.toml",
            "[project]\nname = \"top\"\n[tool.uv.workspace]\nmembers = [\"packages/*\"]\nexclude = [\"packages/old\"]\n",
        );
        for member in [
            "packages/a",
            "packages/b",
            "packages/old",
            "plugins/x/python",
        ] {
            write(root, &format!("{member}/pyproject.toml"), "[project]\n");
        }
        write(root, "packages/not-a-project/README.md", "");
        write(
            root,
            "packages/b/pyproject.toml",
            "[tool.hatch.version]\npath = \"src/b/__about__.py\"\n",
        );
        write(
            root,
            "packages/b/src/b/__about__.py",
            "__version__ = \"1.0\"\n",
        );
        let found = discover(root, &PythonSettings::default()).unwrap();
        let dirs: Vec<&str> = found.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["", "packages/a", "packages/b"]);
        assert_eq!(
            found[2].version_file,
            Some((
                "packages/b/src/b/__about__.py".into(),
                "__version__ = \"1.0\"\n".into()
            ))
        );
        let configured = PythonSettings {
            members: Some(vec!["plugins/*/python".into(), "packages/*".into()]),
            exclude: vec!["packages/a".into()],
            ..PythonSettings::default()
        };
        let found = discover(root, &configured).unwrap();
        let dirs: Vec<&str> = found.iter().map(|p| p.dir.as_str()).collect();
        assert_eq!(dirs, ["packages/b", "packages/old", "plugins/x/python"]);
        assert!(discover(&root.join("packages"), &PythonSettings::default())
            .unwrap()
            .is_empty());
    }
}
