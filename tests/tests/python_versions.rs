//! Version planning for Python projects end to end, with the real binaries and git: tagged
//! projects (a static `project.version`, and a `dynamic` one read from `__version__`), changes
//! since the tags, `convoy-plan --bump auto` choosing each project's level from its
//! Conventional Commits, the bundle built at the new versions, `convoy-plan apply` writing the
//! edits (a `pyproject.toml` and a `__init__.py`), the release planned from the edited commit,
//! published to the testkit's index, verified, tagged with `convoy-plan tag`, and a replan that
//! releases nothing. Needs PyPA `build` (`scripts/python-tools install`, run here if needed) and
//! hatchling from PyPI (or `$PIP_INDEX_URL`).

use std::path::Path;
use std::process::Command;

use convoy_schema::plan::{Action, Plan};
use convoy_testkit::{Options, TestRegistry};
use convoy_tests::python::{ensure_build_tool, module, publish_to_index};
use convoy_tests::{binary, git, run, Fixture};

const TOKEN: &str = "python-versions-cargo-token";
const PYPI_TOKEN: &str = "pypi-python-versions-token";

fn project(fixture: &Fixture, name: &str, version: &str, requirements: &[&str], dynamic: bool) {
    let dir = format!("packages/{name}");
    let module = module(name);
    let requirements: Vec<String> = requirements.iter().map(|r| format!("{r:?}")).collect();
    let (version_line, version_source) = if dynamic {
        (
            "dynamic = [\"version\"]".to_owned(),
            format!("[tool.hatch.version]\npath = \"src/{module}/__init__.py\"\n"),
        )
    } else {
        (format!("version = \"{version}\""), String::new())
    };
    fixture.write(
        &format!("{dir}/pyproject.toml"),
        &format!(
            "[build-system]\nrequires = [\"hatchling==1.27.0\"]\nbuild-backend = \"hatchling.build\"\n\n\
             [project]\nname = \"{name}\"\n{version_line}\ndescription = \"The {name} test project.\"\n\
             readme = \"README.md\"\nlicense = {{ text = \"MIT\" }}\nrequires-python = \">=3.8\"\n\
             dependencies = [{}]\n\n[tool.hatch.build.targets.wheel]\npackages = [\"src/{module}\"]\n\
             {version_source}",
            requirements.join(", ")
        ),
    );
    fixture.write(&format!("{dir}/README.md"), &format!("# {name}\n"));
    let init = if dynamic {
        format!("\"\"\"{name}.\"\"\"\n__version__ = \"{version}\"\n")
    } else {
        format!("NAME = {name:?}\n")
    };
    fixture.write(&format!("{dir}/src/{module}/__init__.py"), &init);
}

fn commit(fixture: &Fixture, subject: &str) {
    git(fixture.root(), &["add", "--all"]);
    git(fixture.root(), &["commit", "--quiet", "--message", subject]);
}

fn plan(root: &Path, registry: &TestRegistry, bundle: &Path, extra: &[&str]) -> Plan {
    let planned = run(Command::new(binary("convoy-plan"))
        .arg("--root")
        .arg(root)
        .arg("--python-index")
        .arg(registry.python_index_url())
        .args(extra)
        .arg("--bundle")
        .arg(bundle));
    assert_eq!(planned.code(), 0, "{}", planned.stderr());
    Plan::from_json(&std::fs::read_to_string(bundle.join("plan.json")).unwrap()).expect("a plan")
}

/// (action, PEP 440 version, level, tag) of each package.
fn versions(plan: &Plan) -> Vec<(String, Action, String, String, String)> {
    plan.packages
        .iter()
        .map(|p| {
            let release = p.release.as_ref();
            (
                p.key(),
                p.action,
                p.python.as_ref().unwrap().version.clone(),
                release.map(|r| r.level.clone()).unwrap_or_default(),
                release.map(|r| r.tag.clone()).unwrap_or_default(),
            )
        })
        .collect()
}

fn row(
    key: &str,
    action: Action,
    version: &str,
    level: &str,
    tag: &str,
) -> (String, Action, String, String, String) {
    (
        key.to_owned(),
        action,
        version.to_owned(),
        level.to_owned(),
        tag.to_owned(),
    )
}

#[test]
fn python_versions_are_bumped_applied_built_published_and_tagged() {
    ensure_build_tool();
    let fixture = Fixture::empty();
    project(&fixture, "ver-core", "1.2.0", &[], false);
    project(&fixture, "ver-app", "1.2.0", &["ver-core"], false);
    project(&fixture, "ver-dyn", "0.3.0", &["ver-core"], true);
    fixture.write(
        "pyproject.toml",
        "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
    );
    fixture.commit();
    for tag in ["ver-core-v1.2.0", "ver-app-v1.2.0", "ver-dyn-v0.3.0"] {
        git(fixture.root(), &["tag", tag]);
    }
    fixture.write(
        "packages/ver-core/src/ver_core/more.py",
        "def more():\n    return 1\n",
    );
    commit(&fixture, "feat(core): more");
    fixture.write("packages/ver-dyn/src/ver_dyn/fix.py", "FIXED = True\n");
    commit(&fixture, "fix: dyn");

    let storage = Fixture::empty();
    let mut options = Options::new(storage.root().join("registry"), TOKEN);
    options.python_token = Some(PYPI_TOKEN.to_owned());
    let registry = TestRegistry::start(options).expect("registry");

    // The release pull request: levels from the commits, edits to write.
    let proposal = storage.root().join("proposal");
    let proposed = plan(fixture.root(), &registry, &proposal, &["--bump", "auto"]);
    assert_eq!(
        versions(&proposed),
        [
            row("python:ver-app", Action::Excluded, "1.2.0", "", ""),
            row(
                "python:ver-core",
                Action::Publish,
                "1.3.0",
                "minor",
                "ver-core-v1.3.0"
            ),
            row(
                "python:ver-dyn",
                Action::Publish,
                "0.3.1",
                "patch",
                "ver-dyn-v0.3.1"
            ),
        ]
    );
    let app = proposed.package("python:ver-app").unwrap();
    assert_eq!(app.reason, "unchanged since ver-app-v1.2.0");
    // The bundle is built at the new versions, with the pin on the new `ver-core`.
    let dyn_files: Vec<&str> = proposed
        .package("python:ver-dyn")
        .unwrap()
        .python
        .as_ref()
        .unwrap()
        .files
        .iter()
        .map(|f| f.filename.as_str())
        .collect();
    assert_eq!(
        dyn_files,
        ["ver_dyn-0.3.1.tar.gz", "ver_dyn-0.3.1-py3-none-any.whl"]
    );
    let metadata = proposed
        .package("python:ver-dyn")
        .unwrap()
        .python
        .as_ref()
        .unwrap()
        .metadata
        .clone()
        .unwrap();
    assert_eq!(metadata.all("Version").collect::<Vec<_>>(), ["0.3.1"]);
    assert_eq!(
        metadata.all("Requires-Dist").collect::<Vec<_>>(),
        ["ver-core==1.3.0"]
    );
    let markdown = run(Command::new(binary("convoy-plan"))
        .args(["show", "--format", "markdown"])
        .arg(proposal.join("plan.json")));
    assert!(
        markdown
            .stdout()
            .contains("| `python:ver-dyn` | 0.3.0 → 0.3.1 | patch |"),
        "{}",
        markdown.stdout()
    );

    let applied = run(Command::new(binary("convoy-plan"))
        .arg("apply")
        .arg(proposal.join("plan.json"))
        .arg("--root")
        .arg(fixture.root()));
    assert_eq!(applied.code(), 0, "{}", applied.stderr());
    let read = |path: &str| std::fs::read_to_string(fixture.root().join(path)).unwrap();
    assert!(read("packages/ver-core/pyproject.toml").contains("version = \"1.3.0\"\n"));
    assert_eq!(
        read("packages/ver-dyn/src/ver_dyn/__init__.py"),
        "\"\"\"ver-dyn.\"\"\"\n__version__ = \"0.3.1\"\n"
    );
    assert!(read("packages/ver-app/pyproject.toml").contains("version = \"1.2.0\"\n"));
    commit(&fixture, "chore: release");

    // The release, planned from the edited commit: the versions are as written now.
    let bundle = storage.root().join("bundle");
    let release = plan(fixture.root(), &registry, &bundle, &[]);
    let released: Vec<(String, Action, String, String, String)> = versions(&release);
    assert_eq!(
        released
            .iter()
            .map(|(k, a, v, l, _)| (k.as_str(), *a, v.as_str(), l.as_str()))
            .collect::<Vec<_>>(),
        [
            ("python:ver-app", Action::Excluded, "1.2.0", ""),
            ("python:ver-core", Action::Publish, "1.3.0", "manifest"),
            ("python:ver-dyn", Action::Publish, "0.3.1", "manifest"),
        ]
    );
    assert!(release.packages.iter().all(|p| p.manifest.edits.is_empty()));

    publish_to_index(&registry, &bundle.join("plan.json"), PYPI_TOKEN, |_| {});
    assert_eq!(registry.python_store().files("ver-core").len(), 2);
    assert_eq!(registry.python_store().files("ver-dyn").len(), 2);
    assert!(registry.python_store().files("ver-app").is_empty());
    let verified = run(Command::new(binary("convoy-verify"))
        .arg(bundle.join("plan.json"))
        .arg("--download"));
    assert_eq!(verified.code(), 0, "{}", verified.stdout());

    let tagged = run(Command::new(binary("convoy-plan"))
        .arg("tag")
        .arg(bundle.join("plan.json"))
        .arg("--root")
        .arg(fixture.root()));
    assert_eq!(tagged.code(), 0, "{}", tagged.stderr());
    assert_eq!(
        tagged.stdout(),
        "created tag ver-core-v1.3.0\ncreated tag ver-dyn-v0.3.1\n"
    );

    // After the release nothing has changed since its tags: nothing to release.
    let after = plan(
        fixture.root(),
        &registry,
        &storage.root().join("after"),
        &[],
    );
    let reasons: Vec<(String, Action, &str)> = after
        .packages
        .iter()
        .map(|p| (p.key(), p.action, p.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "python:ver-app".to_owned(),
                Action::Excluded,
                "unchanged since ver-app-v1.2.0"
            ),
            (
                "python:ver-core".to_owned(),
                Action::Excluded,
                "unchanged since ver-core-v1.3.0"
            ),
            (
                "python:ver-dyn".to_owned(),
                Action::Excluded,
                "unchanged since ver-dyn-v0.3.1"
            ),
        ]
    );
}
