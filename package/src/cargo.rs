//! Which cargo packaging runs and what it says about itself: the program (`$CARGO` first, as
//! `cargo metadata` finds it), its `cargo --version` (recorded in a plan's `packaging`; `.crate`
//! bytes change across cargo versions), and the root of the workspace a manifest belongs to.

// An IO edge: package/clippy.toml forbids these calls everywhere else in the crate.
#![allow(clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::PackageError;

/// The cargo to run: `$CARGO`, else `cargo` on PATH.
pub fn cargo_program() -> PathBuf {
    std::env::var_os("CARGO").map_or_else(|| PathBuf::from("cargo"), PathBuf::from)
}

/// What `cargo --version` prints, trimmed (`cargo 1.95.0 (…)`).
pub fn cargo_version() -> Result<String, PackageError> {
    let program = cargo_program();
    let failed = |message: String| PackageError::Tool {
        program: program.display().to_string(),
        args: "--version".to_owned(),
        message,
    };
    let output = Command::new(&program)
        .arg("--version")
        .output()
        .map_err(|e| failed(e.to_string()))?;
    if !output.status.success() {
        return Err(failed(
            String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// The absolute root directory of the workspace `manifest_path` (a `Cargo.toml`, relative to
/// the current directory or absolute) belongs to, as cargo finds it:
/// `cargo locate-project --workspace --message-format plain`.
pub fn workspace_root(manifest_path: &Path) -> Result<PathBuf, PackageError> {
    let absolute = if manifest_path.is_absolute() {
        manifest_path.to_path_buf()
    } else {
        std::env::current_dir()
            .map(|cwd| cwd.join(manifest_path))
            .unwrap_or_else(|_| manifest_path.to_path_buf())
    };
    if !absolute.is_file() {
        return Err(PackageError::NoManifest {
            path: manifest_path.display().to_string(),
        });
    }
    let program = cargo_program();
    let args = ["locate-project", "--workspace", "--message-format", "plain"];
    let output = Command::new(&program)
        .args(args)
        .arg("--manifest-path")
        .arg(&absolute)
        .output()
        .map_err(|e| PackageError::Tool {
            program: program.display().to_string(),
            args: args.join(" "),
            message: e.to_string(),
        })?;
    let workspace_failed = |message: String| PackageError::Workspace {
        manifest: manifest_path.display().to_string(),
        message,
    };
    if !output.status.success() {
        return Err(workspace_failed(
            String::from_utf8_lossy(&output.stderr)
                .trim_end()
                .to_owned(),
        ));
    }
    let root_manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim_end());
    root_manifest
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| {
            workspace_failed(format!(
                "cargo names `{}` as the workspace manifest",
                root_manifest.display()
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_workspace_has_a_root_and_cargo_a_version() {
        let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let root = workspace_root(&manifest).unwrap();
        assert_eq!(
            Some(root.as_path()),
            Path::new(env!("CARGO_MANIFEST_DIR")).parent()
        );
        assert!(cargo_version().unwrap().starts_with("cargo "));
    }

    #[test]
    fn a_missing_manifest_is_named() {
        let error = workspace_root(Path::new("/nonexistent/Cargo.toml")).unwrap_err();
        assert_eq!(error.error_code().name, "manifest-not-found");
        assert_eq!(
            error.to_string(),
            "no Cargo.toml at /nonexistent/Cargo.toml"
        );
    }
}
