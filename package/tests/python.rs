//! Building real Python projects from a commit with `python -m build`: a hatchling project and a
//! setuptools project, generated in a temporary git repository. The builds fetch their backends
//! from PyPI (or `$PIP_INDEX_URL`), and need PyPA `build` (`scripts/python-tools install`, or
//! `$CONVOY_PYTHON`).

#![allow(clippy::disallowed_methods)]

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use convoy_package::python::{self, BuildRequest, BuiltProject};
use convoy_schema::python::DistKind;

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
        .env("GIT_COMMITTER_DATE", "2024-01-02T03:04:05Z")
        .env("GIT_AUTHOR_DATE", "2024-01-02T03:04:05Z")
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// Makes `python -m build` findable: `scripts/python-tools install` unless `$CONVOY_PYTHON` is
/// set.
fn ensure_build_tool() {
    if std::env::var_os("CONVOY_PYTHON").is_some() {
        return;
    }
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/python-tools");
    let output = Command::new(&script).arg("install").output().unwrap();
    assert!(
        output.status.success(),
        "{} install: {}",
        script.display(),
        String::from_utf8_lossy(&output.stderr)
    );
}

const HATCHLING: &str = r#"[build-system]
requires = ["hatchling==1.27.0"]
build-backend = "hatchling.build"

[project]
name = "demo-hatch"
version = "1.2.0"
description = "A hatchling demo"
readme = "README.md"
license = { text = "MIT" }
requires-python = ">=3.8"
dependencies = ["attrs>=23", "packaging; python_version >= \"3.9\""]

[tool.hatch.build.targets.wheel]
packages = ["src/demo_hatch"]
"#;

const SETUPTOOLS: &str = r#"[build-system]
requires = ["setuptools==75.3.0"]
build-backend = "setuptools.build_meta"

[project]
name = "demo_setup"
version = "0.3.1"
description = "A setuptools demo"
readme = "README.md"
license = { text = "MIT" }
requires-python = ">=3.8"
dependencies = ["attrs>=23"]

[tool.setuptools.packages.find]
where = ["src"]
"#;

/// A repository with both projects, committed; returns the commit.
fn repository(dir: &Path) -> String {
    for (project, module, pyproject) in [
        ("hatch", "demo_hatch", HATCHLING),
        ("setup", "demo_setup", SETUPTOOLS),
    ] {
        let root = dir.join("py").join(project);
        std::fs::create_dir_all(root.join("src").join(module)).unwrap();
        std::fs::write(root.join("pyproject.toml"), pyproject).unwrap();
        std::fs::write(root.join("README.md"), format!("# {module}\n\nA demo.\n")).unwrap();
        std::fs::write(root.join("LICENSE"), "MIT License\n").unwrap();
        std::fs::write(
            root.join("src").join(module).join("__init__.py"),
            "VALUE = 1\n",
        )
        .unwrap();
    }
    git(dir, &["init", "--quiet", "-b", "main"]);
    git(dir, &["add", "."]);
    git(dir, &["commit", "--quiet", "-m", "projects"]);
    git(dir, &["rev-parse", "HEAD"])
}

fn build(dir: &Path, commit: &str, project: &str, twice: bool) -> BuiltProject {
    let mut request = BuildRequest::new(dir, commit, project);
    request.check_reproducible = twice;
    let started = Instant::now();
    let built = python::build(&request).unwrap_or_else(|e| panic!("{project}: {e}"));
    eprintln!(
        "{project}: built with {} in {:.1} s{}",
        built.tool,
        started.elapsed().as_secs_f64(),
        if twice { " (twice)" } else { "" }
    );
    built
}

fn names(built: &BuiltProject) -> Vec<(&str, DistKind, &str)> {
    built
        .files
        .iter()
        .map(|f| {
            (
                f.file.filename.as_str(),
                f.file.kind,
                f.file.pyversion.as_str(),
            )
        })
        .collect()
}

fn member(built: &BuiltProject, kind: DistKind, suffix: &str) -> String {
    let file = built.files.iter().find(|f| f.file.kind == kind).unwrap();
    let text = match kind {
        DistKind::BdistWheel => {
            let mut archive =
                zip::ZipArchive::new(std::io::Cursor::new(file.bytes.as_slice())).unwrap();
            let name = archive
                .file_names()
                .find(|n| n.ends_with(suffix))
                .unwrap()
                .to_owned();
            let mut text = String::new();
            std::io::Read::read_to_string(&mut archive.by_name(&name).unwrap(), &mut text).unwrap();
            text
        }
        DistKind::Sdist => {
            let mut archive =
                tar::Archive::new(flate2::read::GzDecoder::new(file.bytes.as_slice()));
            let mut found = None;
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                if entry.path().unwrap().to_string_lossy().ends_with(suffix) {
                    let mut text = String::new();
                    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
                    found = Some(text);
                    break;
                }
            }
            found.unwrap()
        }
    };
    text
}

#[test]
fn hatchling_builds_reproducibly_and_setuptools_sdists_do_not() {
    ensure_build_tool();
    let dir = tempfile::tempdir().unwrap();
    let commit = repository(dir.path());
    // Uncommitted changes, tracked and not, must not reach the built files.
    std::fs::write(
        dir.path().join("py/hatch/src/demo_hatch/__init__.py"),
        "VALUE = 2  # uncommitted\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("py/setup/src/demo_setup/extra.py"),
        "UNTRACKED = 1\n",
    )
    .unwrap();

    let hatch = build(dir.path(), &commit, "py/hatch", true);
    assert_eq!(
        names(&hatch),
        [
            ("demo_hatch-1.2.0.tar.gz", DistKind::Sdist, "source"),
            (
                "demo_hatch-1.2.0-py3-none-any.whl",
                DistKind::BdistWheel,
                "py3"
            ),
        ]
    );
    assert_eq!(hatch.metadata.get("Name"), Some("demo-hatch"));
    assert_eq!(hatch.metadata.get("Version"), Some("1.2.0"));
    assert_eq!(
        hatch.metadata.all("Requires-Dist").collect::<Vec<_>>(),
        // hatchling writes markers in their normalized form, with single quotes.
        ["attrs>=23", "packaging; python_version >= '3.9'"]
    );
    assert_eq!(
        hatch.metadata.description.as_deref(),
        Some("# demo_hatch\n\nA demo.\n")
    );
    assert!(!hatch.native);
    assert_eq!(hatch.build_backend.as_deref(), Some("hatchling.build"));
    assert_eq!(hatch.source_date_epoch, 1_704_164_645);
    for kind in [DistKind::Sdist, DistKind::BdistWheel] {
        assert_eq!(
            member(&hatch, kind, "demo_hatch/__init__.py"),
            "VALUE = 1\n"
        );
    }
    for file in &hatch.files {
        assert_eq!(file.file.size, file.bytes.len() as u64);
        assert_eq!(file.file.sha256.len(), 64);
    }
    let hatch_repro = hatch.reproducibility.as_ref().unwrap();
    assert!(
        hatch_repro.is_reproducible(),
        "hatchling is not reproducible: {:?}",
        hatch_repro.differences
    );

    let setup = build(dir.path(), &commit, "py/setup", true);
    assert_eq!(
        names(&setup),
        [
            ("demo_setup-0.3.1.tar.gz", DistKind::Sdist, "source"),
            (
                "demo_setup-0.3.1-py3-none-any.whl",
                DistKind::BdistWheel,
                "py3"
            ),
        ]
    );
    assert_eq!(setup.metadata.get("Name"), Some("demo_setup"));
    assert_eq!(setup.metadata.get("Version"), Some("0.3.1"));
    assert_eq!(
        setup.metadata.all("Requires-Dist").collect::<Vec<_>>(),
        // setuptools' wheel spells it so; its sdist's PKG-INFO says `attrs>=23`.
        ["attrs >=23"]
    );
    assert!(!setup.native);
    for file in &setup.files {
        let listed = python::describe_file(&file.file.filename, &file.bytes).unwrap();
        assert_eq!(listed, file.file);
    }
    assert!(setup
        .files
        .iter()
        .all(|f| !String::from_utf8_lossy(&f.bytes).contains("UNTRACKED")));
    // setuptools is NOT reproducible here: its wheel is (it honours SOURCE_DATE_EPOCH), but
    // its sdist keeps each member's file time — the clone's checkout time, and the build time
    // for the egg-info it generates — so two builds of one commit differ in every member's
    // header. The check has to say so, naming the file and why.
    let setup_repro = setup.reproducibility.as_ref().unwrap();
    assert!(!setup_repro.is_reproducible());
    assert_eq!(setup_repro.differences.len(), 1, "{setup_repro:?}");
    let difference = &setup_repro.differences[0];
    assert_eq!(difference.filename, "demo_setup-0.3.1.tar.gz");
    assert!(
        difference.description.starts_with(
            "the files are equal; their timestamps or modes differ: demo_setup-0.3.1/"
        ),
        "{difference:?}"
    );
    eprintln!(
        "setuptools: {}: {}",
        difference.filename, difference.description
    );
    // Once more, without the second build: the same bytes as before.
    let again = build(dir.path(), &commit, "py/hatch", false);
    assert_eq!(again.files, hatch.files);
    assert!(again.reproducibility.is_none());
}

#[test]
fn a_failing_build_reports_the_tools_output() {
    ensure_build_tool();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pyproject.toml"),
        "[build-system]\nrequires = [\"hatchling==1.27.0\"]\nbuild-backend = \"hatchling.build\"\n\n[project]\nname = \"broken\"\nversion = \"not a version\"\n",
    )
    .unwrap();
    git(dir.path(), &["init", "--quiet", "-b", "main"]);
    git(dir.path(), &["add", "."]);
    git(dir.path(), &["commit", "--quiet", "-m", "broken"]);
    let commit = git(dir.path(), &["rev-parse", "HEAD"]);
    let error = python::build(&BuildRequest::new(dir.path(), commit, "")).unwrap_err();
    assert_eq!(error.error_code().name, "python-build-failed");
    let message = error.to_string();
    assert!(message.contains("not a version"), "{message}");

    let missing = python::build(&BuildRequest::new(
        dir.path(),
        git(dir.path(), &["rev-parse", "HEAD"]),
        "nowhere",
    ))
    .unwrap_err();
    assert_eq!(missing.error_code().name, "python-build-failed");
    assert!(
        missing.to_string().contains("no pyproject.toml"),
        "{missing}"
    );
}
