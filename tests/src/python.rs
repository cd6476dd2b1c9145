//! The mixed Rust + Python repository the end-to-end tests release (to the testkit's index and
//! to devpi), and the PyPA `build` they need.

use std::path::Path;
use std::process::Command;

use convoy_testkit::TestRegistry;

use crate::{binary, manifest, run, Fixture, Run};

/// Installs PyPA `build` (`scripts/python-tools install`) unless `CONVOY_PYTHON` names a Python
/// that has it.
pub fn ensure_build_tool() {
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

/// `convoy-publish PLAN` of a plan's Python packages to `registry`'s index, with `token` in
/// `UV_PUBLISH_TOKEN` and whatever `adjust` adds to the command; asserts it succeeds.
pub fn publish_to_index(
    registry: &TestRegistry,
    plan: &Path,
    token: &str,
    adjust: impl FnOnce(&mut Command),
) -> Run {
    let mut command = Command::new(binary("convoy-publish"));
    adjust(&mut command);
    let published = run(command
        .env("UV_PUBLISH_TOKEN", token)
        .arg(plan)
        .arg("--python-index")
        .arg(registry.python_index_url())
        .arg("--python-upload")
        .arg(registry.python_upload_url()));
    assert_eq!(
        published.code(),
        0,
        "{}\n{}",
        published.stdout(),
        published.stderr()
    );
    published
}

/// (directory, name, backend, requirements): four hatchling and four setuptools projects, in
/// three layers.
pub const PROJECTS: [(&str, &str, &str, &[&str]); 8] = [
    ("py/base", "mix-base", "hatchling", &[]),
    ("py/util", "Mix_Util", "setuptools", &[]),
    (
        "py/model",
        "mix-model",
        "hatchling",
        &["mix-base", "mix-util>=0.1.0a1"],
    ),
    ("py/store", "mix.store", "setuptools", &["mix-base"]),
    (
        "py/api",
        "mix-api",
        "hatchling",
        &["mix-model", "mix_store; python_version >= \"3.8\""],
    ),
    ("py/cli", "mix-cli", "setuptools", &["mix-api"]),
    (
        "plugins/a/python",
        "mix-plugin-a",
        "hatchling",
        &["mix-api"],
    ),
    (
        "plugins/b/python",
        "mix-plugin-b",
        "setuptools",
        &["mix-util"],
    ),
];

fn pyproject(name: &str, backend: &str, requirements: &[&str]) -> String {
    let (requires, build_backend, packaging) = match backend {
        "hatchling" => (
            "hatchling==1.27.0",
            "hatchling.build",
            format!(
                "[tool.hatch.build.targets.wheel]\npackages = [\"src/{}\"]\n",
                module(name)
            ),
        ),
        _ => (
            "setuptools==75.3.0",
            "setuptools.build_meta",
            "[tool.setuptools.packages.find]\nwhere = [\"src\"]\n".to_owned(),
        ),
    };
    let requirements: Vec<String> = requirements.iter().map(|r| format!("{r:?}")).collect();
    format!(
        "[build-system]\nrequires = [\"{requires}\"]\nbuild-backend = \"{build_backend}\"\n\n\
         [project]\nname = \"{name}\"\nversion = \"0.1.0a1\"\ndescription = \"The {name} test project.\"\n\
         readme = \"README.md\"\nlicense = {{ text = \"MIT\" }}\nrequires-python = \">=3.8\"\n\
         dependencies = [{}]\n\n{packaging}",
        requirements.join(", ")
    )
}

/// The import name a test project's package has.
pub fn module(name: &str) -> String {
    name.to_ascii_lowercase().replace(['-', '.'], "_")
}

/// The repository: two crates (`mix-core`, `mix-app` depending on it) and the eight projects,
/// named by `convoy.toml`'s `[python] members`.
pub fn repository() -> Fixture {
    let to = "publish = [\"testkit\"]\n";
    let fixture = Fixture::new(
        &[
            ("core", manifest("mix-core", "0.1.0", to)),
            (
                "app",
                manifest(
                    "mix-app",
                    "0.1.0",
                    &format!("{to}[dependencies]\nmix-core = {{ path = \"../core\", version = \"0.1.0\", registry = \"testkit\" }}\n"),
                ),
            ),
        ],
        "",
    );
    for (dir, name, backend, requirements) in PROJECTS {
        fixture.write(
            &format!("{dir}/pyproject.toml"),
            &pyproject(name, backend, requirements),
        );
        fixture.write(&format!("{dir}/README.md"), &format!("# {name}\n"));
        fixture.write(
            &format!("{dir}/src/{}/__init__.py", module(name)),
            &format!("NAME = {name:?}\n"),
        );
    }
    fixture.write(
        "convoy.toml",
        "[python]\nmembers = [\"py/*\", \"plugins/*/python\"]\n",
    );
    fixture.write(".gitignore", "target/\n");
    fixture.commit();
    fixture
}

/// A repository with no Cargo workspace: `projects` (name, backend, requirements) under
/// `packages/<name>`, found as a uv workspace's members (no `convoy.toml`).
pub fn python_only(projects: &[(&str, &str, &[&str])]) -> Fixture {
    let fixture = Fixture::empty();
    for (name, backend, requirements) in projects {
        let dir = format!("packages/{name}");
        fixture.write(
            &format!("{dir}/pyproject.toml"),
            &pyproject(name, backend, requirements),
        );
        fixture.write(&format!("{dir}/README.md"), &format!("# {name}\n"));
        fixture.write(
            &format!("{dir}/src/{}/__init__.py", module(name)),
            &format!("NAME = {name:?}\n"),
        );
    }
    fixture.write(
        "pyproject.toml",
        "[tool.uv.workspace]\nmembers = [\"packages/*\"]\n",
    );
    fixture.commit();
    fixture
}
