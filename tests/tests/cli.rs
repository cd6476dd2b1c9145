//! `convoy-plan` (and the placeholder binaries) run as processes: determinism across paths and
//! environments, exit codes, side-effect freedom, `show`, and the documented digest rule.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use convoy_schema::plan::{Plan, PLAN_FORMAT_VERSION};
use convoy_tests::{binary, git, manifest, run, tree_listing, Fixture};

fn example_workspace() -> Fixture {
    let fixture = Fixture::new(
        &[
            ("core", manifest("demo-core", "0.3.0", "")),
            (
                "macros",
                manifest("demo-macros", "0.3.0", "[dev-dependencies]\ndemo-core = { path = \"../core\", version = \"0.3\" }\n"),
            ),
            (
                "app",
                manifest(
                    "demo-app",
                    "0.3.0",
                    "[dependencies]\ndemo-core = { path = \"../core\" }\ndemo-macros = { path = \"../macros\", version = \"0.3\" }\n",
                ),
            ),
            ("xtask", manifest("xtask", "0.1.0", "publish = false\n")),
        ],
        "",
    );
    fixture.write(".gitignore", "/target\n");
    fixture
}

/// The real toolchain locations, so a test can change HOME without losing cargo (a rustup proxy).
fn toolchain_env() -> Vec<(String, PathBuf)> {
    let home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let pick = |var: &str, default: &str| {
        std::env::var_os(var).map_or_else(|| home.join(default), PathBuf::from)
    };
    vec![
        ("CARGO_HOME".to_owned(), pick("CARGO_HOME", ".cargo")),
        ("RUSTUP_HOME".to_owned(), pick("RUSTUP_HOME", ".rustup")),
    ]
}

fn plan_command(cwd: &Path) -> Command {
    let mut command = Command::new(binary("convoy-plan"));
    command.current_dir(cwd);
    command
}

#[test]
fn same_commit_in_other_paths_and_environments_gives_identical_bytes() {
    let original = example_workspace();
    original.commit();
    let elsewhere = Fixture::empty();
    let clone = elsewhere.root().join("some/deeper/clone path");
    std::fs::create_dir_all(clone.parent().unwrap()).unwrap();
    git(
        elsewhere.root(),
        &[
            "clone",
            "--quiet",
            original.root().to_str().unwrap(),
            clone.to_str().unwrap(),
        ],
    );
    let scratch = Fixture::empty();

    let first = run(plan_command(original.root()).args(["--out", "plan.json"]));
    assert_eq!(first.code(), 0, "{}", first.stderr());

    let mut second = plan_command(scratch.root());
    second
        .arg("--manifest-path")
        .arg(clone.join("Cargo.toml"))
        .arg("--out")
        .arg(scratch.root().join("plan.json"))
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", scratch.root())
        .env("TZ", "Pacific/Kiritimati")
        .env("LANG", "de_DE.UTF-8")
        .env("LC_ALL", "de_DE.UTF-8")
        .env("USER", "someone-else")
        .env("CONVOY_UNRELATED", "1");
    for (var, value) in toolchain_env() {
        second.env(var, value);
    }
    let second = run(&mut second);
    assert_eq!(second.code(), 0, "{}", second.stderr());

    let a = std::fs::read(original.root().join("plan.json")).unwrap();
    let b = std::fs::read(scratch.root().join("plan.json")).unwrap();
    assert!(
        a == b,
        "plans differ:\n{}\n---\n{}",
        String::from_utf8_lossy(&a),
        String::from_utf8_lossy(&b)
    );
    let text = String::from_utf8(a).unwrap();
    for leak in [
        original.root().to_str().unwrap(),
        clone.to_str().unwrap(),
        "someone-else",
        "convoy-fixture",
    ] {
        assert!(!text.contains(leak), "plan contains {leak}");
    }
    let plan = Plan::from_json(&text).unwrap();
    assert!(
        plan.inputs.git.as_ref().is_some_and(|g| !g.dirty),
        "the plan's own output is not a change"
    );
}

#[test]
fn planning_writes_nothing_inside_the_workspace() {
    let fixture = example_workspace();
    fixture.commit();
    let status_before = git(fixture.root(), &["status", "--porcelain", "--ignored"]);
    let before = tree_listing(fixture.root());
    let plan = run(plan_command(fixture.root()).args(["--format", "markdown"]));
    assert_eq!(plan.code(), 0, "{}", plan.stderr());
    let show_out = Fixture::empty();
    let to_file = run(plan_command(fixture.root())
        .arg("--out")
        .arg(show_out.root().join("plan.json")));
    assert_eq!(to_file.code(), 0);
    assert_eq!(
        tree_listing(fixture.root()),
        before,
        "files changed inside the workspace"
    );
    assert_eq!(
        git(fixture.root(), &["status", "--porcelain", "--ignored"]),
        status_before
    );
    assert!(!fixture.root().join("Cargo.lock").exists());
    assert!(!fixture.root().join("target").exists());
}

#[test]
fn stdout_carries_the_plan_unless_a_format_is_asked_for() {
    let fixture = example_workspace();
    let json = run(&mut plan_command(fixture.root()));
    assert_eq!(json.code(), 0, "{}", json.stderr());
    let plan = Plan::from_json(&json.stdout()).expect("stdout is the plan");
    assert!(
        json.stderr().contains(&plan.digest),
        "stderr summarizes: {}",
        json.stderr()
    );
    assert!(json.stderr().contains("warning[not-a-git-checkout]"));

    let explicit = run(plan_command(fixture.root()).args(["--format", "json"]));
    assert_eq!(explicit.stdout(), json.stdout());

    let out = Fixture::empty();
    let path = out.root().join("plan.json");
    let written = run(plan_command(fixture.root()).arg("--out").arg(&path));
    assert_eq!(written.stdout(), "");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), json.stdout());

    let human = run(plan_command(fixture.root()).args(["--format", "human"]));
    assert!(human
        .stdout()
        .starts_with(&format!("plan      {}", plan.digest)));
    assert!(
        !human.stderr().contains("warning["),
        "human output already lists diagnostics"
    );
}

#[test]
fn error_diagnostics_exit_1_and_still_write_the_plan() {
    let fixture = Fixture::new(
        &[(
            "bare",
            "[package]\nname = \"bare\"\nversion = \"0.1.0\"\nedition = \"2021\"\n".to_owned(),
        )],
        "",
    );
    let out = Fixture::empty();
    let path = out.root().join("plan.json");
    let result = run(plan_command(fixture.root()).arg("--out").arg(&path));
    assert_eq!(result.code(), 1, "{}", result.stderr());
    assert!(
        result.stderr().contains("error[missing-description] bare:"),
        "{}",
        result.stderr()
    );
    let plan = Plan::from_json(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert!(plan.has_errors());
}

#[test]
fn refusals_exit_2_with_a_code_and_help() {
    let fixture = example_workspace();
    let cases: [(&[&str], &str); 5] = [
        (&["--package", "nope"], "error[unknown-package]"),
        (&["--registry", "nowhere"], "error[unknown-registry]"),
        (&["--index", "index.crates.io"], "error[invalid-index-url]"),
        (
            &["--registry-state", "missing.json"],
            "error[file-unreadable]",
        ),
        (
            &["--manifest-path", "nowhere/Cargo.toml"],
            "error[manifest-not-found]",
        ),
    ];
    for (args, expected) in cases {
        let result = run(plan_command(fixture.root()).args(args));
        assert_eq!(result.code(), 2, "{args:?}: {}", result.stderr());
        assert!(
            result.stderr().contains(expected),
            "{args:?}: {}",
            result.stderr()
        );
        assert!(
            result.stderr().contains("help: "),
            "{args:?}: {}",
            result.stderr()
        );
        assert_eq!(result.stdout(), "", "{args:?}");
    }
    let usage =
        run(plan_command(fixture.root()).args(["--registry", "a", "--index", "sparse+https://x/"]));
    assert_eq!(usage.code(), 2);
    let unknown_flag = run(plan_command(fixture.root()).arg("--frobnicate"));
    assert_eq!(unknown_flag.code(), 2);
    let help = run(plan_command(fixture.root()).arg("--help"));
    assert_eq!(help.code(), 0);
    assert!(help.stdout().contains("--registry-state"));
}

fn write_plan(fixture: &Fixture) -> (PathBuf, Fixture) {
    let out = Fixture::empty();
    let path = out.root().join("plan.json");
    let result = run(plan_command(fixture.root()).arg("--out").arg(&path));
    assert_eq!(result.code(), 0, "{}", result.stderr());
    (path, out)
}

#[test]
fn show_renders_the_reviewed_plan_and_refuses_edited_ones() {
    let fixture = example_workspace();
    let (path, _out) = write_plan(&fixture);
    let direct = run(plan_command(fixture.root()).args(["--format", "markdown"]));
    let shown = run(plan_command(fixture.root())
        .arg("show")
        .arg(&path)
        .args(["--format", "markdown"]));
    assert_eq!(shown.code(), 0, "{}", shown.stderr());
    assert_eq!(shown.stdout(), direct.stdout());
    assert!(shown.stdout().contains("## Convoy release plan"));
    let human = run(plan_command(fixture.root()).arg("show").arg(&path));
    assert!(human.stdout().starts_with("plan      sha256:"));

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"0.3.0\"", "\"0.3.1\"")).unwrap();
    let tampered = run(plan_command(fixture.root()).arg("show").arg(&path));
    assert_eq!(tampered.code(), 2);
    assert!(
        tampered.stderr().contains("error[plan-digest-mismatch]"),
        "{}",
        tampered.stderr()
    );

    std::fs::write(
        &path,
        text.replacen(
            &format!("\"format_version\": \"{PLAN_FORMAT_VERSION}\""),
            "\"format_version\": \"2.99\"",
            1,
        ),
    )
    .unwrap();
    let newer = run(plan_command(fixture.root()).arg("show").arg(&path));
    assert_eq!(newer.code(), 2);
    assert!(
        newer.stderr().contains("error[format-version-unsupported]"),
        "{}",
        newer.stderr()
    );
    assert!(
        newer.stderr().contains("upgrade Convoy"),
        "{}",
        newer.stderr()
    );
}

#[test]
fn digest_recomputes_with_an_independent_json_library() {
    let fixture = example_workspace();
    let (path, _out) = write_plan(&fixture);
    // The snippet from docs/plan-format.md, run verbatim by Python's json and hashlib.
    let docs = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/plan-format.md"),
    )
    .unwrap();
    let snippet = docs
        .split("```sh\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .expect("shell snippet in docs/plan-format.md");
    let result = run(Command::new("bash")
        .arg("-c")
        .arg(snippet)
        .current_dir(path.parent().unwrap()));
    assert_eq!(result.code(), 0, "{}", result.stderr());
    assert_eq!(result.stdout().trim(), "True");
}

fn read_doc(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path))
        .expect(path)
}

#[test]
fn readme_documents_every_exit_code() {
    let readme = read_doc("README.md");
    for (code, meaning) in convoy_schema::exit::ALL {
        let row = format!("| {code} | {meaning} |");
        assert!(readme.contains(&row), "README.md lacks the row `{row}`");
    }
}

/// `docs/errors.md`'s rows, by section (`## convoy-plan`, …, `## Every binary`): code → exit.
fn documented_codes() -> BTreeMap<String, BTreeMap<String, i32>> {
    let docs = read_doc("docs/errors.md");
    let mut sections: BTreeMap<String, BTreeMap<String, i32>> = BTreeMap::new();
    let mut section = String::new();
    for line in docs.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title.trim().to_owned();
        } else if let Some(row) = line.strip_prefix("| `") {
            let mut cells = row.split(" | ");
            let code = cells.next().unwrap().trim_end_matches('`').to_owned();
            let exit: i32 = cells.next().unwrap().trim().parse().expect(line);
            let previous = sections
                .entry(section.clone())
                .or_default()
                .insert(code, exit);
            assert!(previous.is_none(), "docs/errors.md lists twice: {line}");
        }
    }
    sections
}

#[test]
fn docs_list_exactly_the_codes_each_binary_can_print() {
    let docs = documented_codes();
    let shared = &docs["Every binary"];
    let binaries = [
        ("convoy-plan", convoy_planner::error::codes()),
        ("convoy-publish", convoy_executor::error::codes()),
        ("convoy-verify", convoy_verifier::error::codes()),
    ];
    let mut printed = std::collections::BTreeSet::new();
    for (binary, codes) in &binaries {
        let own = &docs[*binary];
        for code in codes {
            printed.insert(code.name);
            let exit = own.get(code.name).or_else(|| shared.get(code.name));
            assert_eq!(
                exit,
                Some(&code.exit),
                "{binary} prints `{}` (exit {}), which docs/errors.md does not list with that exit code under `## {binary}` or `## Every binary`",
                code.name,
                code.exit
            );
        }
        for code in own.keys() {
            assert!(
                codes.iter().any(|c| c.name == code),
                "docs/errors.md lists `{code}` under {binary}, which cannot print it"
            );
        }
    }
    for code in shared.keys() {
        assert!(
            printed.contains(code.as_str()),
            "docs/errors.md lists `{code}`, which no binary prints"
        );
    }
}

#[test]
fn plan_format_documents_every_diagnostic_code() {
    let docs = read_doc("docs/plan-format.md");
    for code in convoy_planner::diagnostics::Code::ALL {
        let row = format!("| `{}` |", code.as_str());
        assert!(
            docs.contains(&row),
            "docs/plan-format.md lacks `{}`",
            code.as_str()
        );
    }
    let documented = docs
        .lines()
        .filter(|l| l.starts_with("| `") && (l.contains("` | error") || l.contains("` | warning")))
        .count();
    assert_eq!(
        documented,
        convoy_planner::diagnostics::Code::ALL.len(),
        "stale codes in docs/plan-format.md"
    );
}

#[test]
fn readme_documents_every_verify_finding_code() {
    let readme = read_doc("README.md");
    let section = readme
        .split("## `convoy-verify`")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("README.md has a `convoy-verify` section");
    for code in convoy_schema::report::FindingCode::ALL {
        let severity = match code.severity() {
            convoy_schema::plan::Severity::Error => "error",
            convoy_schema::plan::Severity::Warning => "warning",
        };
        let row = format!(
            "| `{}` | {severity} | {} |",
            code.as_str(),
            code.description()
        );
        assert!(
            section.lines().any(|line| line == row),
            "README.md's `convoy-verify` section lacks the row `{row}`"
        );
    }
    let documented = section
        .lines()
        .filter(|l| {
            l.starts_with("| `") && (l.contains("` | error |") || l.contains("` | warning |"))
        })
        .count();
    assert_eq!(
        documented,
        convoy_schema::report::FindingCode::ALL.len(),
        "stale finding codes in README.md's `convoy-verify` section"
    );
}
