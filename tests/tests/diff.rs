//! `convoy-plan diff OLD NEW` run as a process on plans the real `convoy-plan` wrote for a small
//! workspace before and after a version change: what it says, its exit codes, and that it reads
//! plans as `show` does (refusing edited plans and unknown formats).

use std::path::{Path, PathBuf};
use std::process::Command;

use convoy_schema::plan::PLAN_FORMAT_VERSION;
use convoy_tests::{binary, manifest, run, Fixture, Run};

fn workspace(core_version: &str) -> Fixture {
    Fixture::new(
        &[
            ("core", manifest("demo-core", core_version, "")),
            (
                "app",
                manifest(
                    "demo-app",
                    "0.3.0",
                    "[dependencies]\ndemo-core = { path = \"../core\" }\n",
                ),
            ),
        ],
        "",
    )
}

/// Plans `fixture` with the real binary into `dir/name`.
fn plan_into(fixture: &Fixture, dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let result = run(Command::new(binary("convoy-plan"))
        .current_dir(fixture.root())
        .arg("--out")
        .arg(&path));
    assert_eq!(result.code(), 0, "{}", result.stderr());
    path
}

fn diff(args: &[&Path]) -> Run {
    run(Command::new(binary("convoy-plan")).arg("diff").args(args))
}

/// The base branch's plan (`demo-core` 0.3.0) and the pull request's (0.4.0), in `out`.
fn base_and_head(out: &Fixture) -> (PathBuf, PathBuf) {
    let base = plan_into(&workspace("0.3.0"), out.root(), "base.json");
    let head = plan_into(&workspace("0.4.0"), out.root(), "head.json");
    (base, head)
}

#[test]
fn diff_names_the_version_change_in_markdown_and_json() {
    let out = Fixture::empty();
    let (base, head) = base_and_head(&out);

    let shown = diff(&[&base, &head]);
    assert_eq!(shown.code(), 0, "{}", shown.stderr());
    let text = shown.stdout();
    assert!(text.starts_with("### Changes to the release\n"), "{text}");
    assert!(
        text.contains("| `demo-core` | version `0.3.0` → `0.4.0` |"),
        "{text}"
    );
    assert!(
        !text.contains("demo-app"),
        "demo-app's release is the same: {text}"
    );

    let json = diff(&[Path::new("--format"), Path::new("json"), &base, &head]);
    assert_eq!(json.code(), 0, "{}", json.stderr());
    let value: serde_json::Value = serde_json::from_str(&json.stdout()).expect("JSON");
    assert_eq!(
        value["packages"],
        serde_json::json!([
            {"change": "version", "name": "demo-core", "from": "0.3.0", "to": "0.4.0"}
        ])
    );
    assert_eq!(value["digests_equal"], false);
    assert_eq!(value["diagnostics_added"], serde_json::json!([]));
}

#[test]
fn diff_of_the_same_release_says_so_and_exits_0() {
    let out = Fixture::empty();
    let (_, head) = base_and_head(&out);
    // The same workspace planned again: the same release.
    let again = plan_into(&workspace("0.4.0"), out.root(), "again.json");

    let same = diff(&[&head, &again]);
    assert_eq!(same.code(), 0, "{}", same.stderr());
    let text = same.stdout();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(
        text.contains("No change to the release (plans `sha256:"),
        "{text}"
    );

    let json = diff(&[Path::new("--format"), Path::new("json"), &head, &head]);
    assert_eq!(json.code(), 0, "{}", json.stderr());
    let value: serde_json::Value = serde_json::from_str(&json.stdout()).expect("JSON");
    assert_eq!(value["packages"], serde_json::json!([]));
    assert_eq!(value["digests_equal"], true);
}

#[test]
fn diff_refuses_plans_show_refuses_with_their_codes() {
    let out = Fixture::empty();
    let (base, head) = base_and_head(&out);
    let text = std::fs::read_to_string(&head).unwrap();

    let edited = out.root().join("edited.json");
    std::fs::write(&edited, text.replace("\"0.4.0\"", "\"0.4.1\"")).unwrap();
    let newer = out.root().join("newer.json");
    std::fs::write(
        &newer,
        text.replacen(
            &format!("\"format_version\": \"{PLAN_FORMAT_VERSION}\""),
            "\"format_version\": \"1.99\"",
            1,
        ),
    )
    .unwrap();
    let missing = out.root().join("missing.json");

    for (old, new, code) in [
        (&base, &edited, "plan-digest-mismatch"),
        (&newer, &head, "format-version-unsupported"),
        (&base, &missing, "file-unreadable"),
    ] {
        let refused = diff(&[old, new]);
        assert_eq!(refused.code(), 2, "{code}: {}", refused.stderr());
        assert!(
            refused.stderr().contains(&format!("error[{code}]")),
            "{code}: {}",
            refused.stderr()
        );
        assert!(refused.stderr().contains("help: "), "{}", refused.stderr());
        assert_eq!(refused.stdout(), "", "{code}: nothing printed on stdout");
    }
}
