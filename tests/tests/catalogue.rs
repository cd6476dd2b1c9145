//! The catalogue of bad inputs: each malformed plan, workspace and registry answer, run through
//! the binary a user would run, with the exit code and error code it must give. No case may
//! panic (exit 101), hang, or print a token. RELIABILITY.md counts the cases.

use std::path::Path;
use std::process::Command;

use convoy_schema::plan::Plan;
use convoy_tests::hostile::{endless_chunks, http, raw_server};
use convoy_tests::{binary, manifest, run, Fixture, Run};

/// One bad input and what must come of it.
struct Case {
    name: &'static str,
    exit: i32,
    code: &'static str,
}

fn check(case: &Case, result: &Run) {
    assert_eq!(
        result.code(),
        case.exit,
        "{}: exit {} — {}",
        case.name,
        result.code(),
        result.stderr()
    );
    assert!(
        result.stderr().contains(&format!("error[{}]", case.code)),
        "{}: expected error[{}] — {}",
        case.name,
        case.code,
        result.stderr()
    );
}

fn workspace() -> Fixture {
    let fixture = Fixture::new(
        &[
            ("a", manifest("cat-a", "0.1.0", "")),
            (
                "b",
                manifest(
                    "cat-b",
                    "0.1.0",
                    "[dependencies]\ncat-a = { path = \"../a\", version = \"0.1\" }\n",
                ),
            ),
        ],
        "",
    );
    fixture.write(".gitignore", "/target\n");
    fixture.commit();
    fixture
}

#[test]
fn malformed_plans_are_refused_with_their_codes() {
    let fixture = workspace();
    let valid = fixture.plan();
    let dir = Fixture::empty();
    let resealed = |edit: &dyn Fn(&mut Plan)| {
        let mut plan = valid.clone();
        edit(&mut plan);
        plan.seal();
        plan.to_pretty_json()
    };
    let nested = "[".repeat(100_000);
    let text = valid.to_pretty_json();
    let cases: Vec<(Case, String)> = vec![
        (
            Case {
                name: "empty file",
                exit: 2,
                code: "document-not-json",
            },
            String::new(),
        ),
        (
            Case {
                name: "not JSON",
                exit: 2,
                code: "document-not-json",
            },
            "plan: yes".into(),
        ),
        (
            Case {
                name: "100 000 nested arrays",
                exit: 2,
                code: "document-not-json",
            },
            nested,
        ),
        (
            Case {
                name: "no format version",
                exit: 2,
                code: "format-version-missing",
            },
            "{}".into(),
        ),
        (
            Case {
                name: "other major format",
                exit: 2,
                code: "format-version-unsupported",
            },
            text.replacen("\"format_version\": \"2.", "\"format_version\": \"9.", 1),
        ),
        (
            Case {
                name: "newer minor format",
                exit: 2,
                code: "format-version-unsupported",
            },
            r#"{"format_version":"1.999"}"#.into(),
        ),
        (
            Case {
                name: "a field of the wrong type",
                exit: 2,
                code: "document-invalid",
            },
            text.replacen("\"wave\": 0", "\"wave\": \"first\"", 1),
        ),
        (
            Case {
                name: "an unknown field",
                exit: 2,
                code: "document-invalid",
            },
            text.replacen("{", "{\n  \"approved\": true,", 1),
        ),
        (
            Case {
                name: "edited after it was made",
                exit: 2,
                code: "plan-digest-mismatch",
            },
            text.replacen("\"reason\": \"", "\"reason\": \"approved: ", 1),
        ),
    ];
    for (case, content) in &cases {
        let path = dir.root().join("plan.json");
        std::fs::write(&path, content).unwrap();
        check(
            case,
            &run(Command::new(binary("convoy-plan")).arg("show").arg(&path)),
        );
        if case.code != "plan-digest-mismatch" {
            check(case, &run(Command::new(binary("convoy-verify")).arg(&path)));
        }
    }

    // Sealed, so only a consistency check catches them.
    let inconsistent: Vec<(Case, String)> = vec![
        (
            Case {
                name: "a package listed twice",
                exit: 2,
                code: "plan-inconsistent",
            },
            resealed(&|p| p.packages.push(p.packages[0].clone())),
        ),
        (
            Case {
                name: "no waves",
                exit: 2,
                code: "plan-inconsistent",
            },
            resealed(&|p| p.waves.clear()),
        ),
        (
            Case {
                name: "a wave naming a stranger",
                exit: 2,
                code: "plan-inconsistent",
            },
            resealed(&|p| p.waves.push(vec!["stranger".into()])),
        ),
    ];
    for (case, content) in &inconsistent {
        let path = dir.root().join("plan.json");
        std::fs::write(&path, content).unwrap();
        check(case, &run(Command::new(binary("convoy-verify")).arg(&path)));
        check(
            case,
            &run(Command::new(binary("convoy-publish")).arg(&path).args([
                "--index",
                "sparse+https://index.crates.io/",
                "--dry-run",
            ])),
        );
    }

    // Not a file: a directory, and a FIFO (which a plain read would wait on forever).
    let fifo = dir.root().join("fifo.json");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    for path in [dir.root().to_path_buf(), fifo] {
        let case = Case {
            name: "not a regular file",
            exit: 2,
            code: "file-unreadable",
        };
        check(
            &case,
            &run(Command::new(binary("convoy-plan")).arg("show").arg(&path)),
        );
        check(
            &case,
            &run(Command::new(binary("convoy-verify")).arg(&path)),
        );
        check(
            &case,
            &run(Command::new(binary("convoy-publish"))
                .arg(&path)
                .arg("--dry-run")),
        );
    }
}

fn plan_in(dir: &Path, args: &[&str]) -> Run {
    let home = Fixture::empty();
    let mut command = Command::new(binary("convoy-plan"));
    command.current_dir(dir).args(args);
    convoy_tests::isolated_cargo(&mut command, home.root());
    run(&mut command)
}

#[test]
fn malformed_workspaces_are_refused_with_their_codes() {
    let empty = Fixture::empty();
    check(
        &Case {
            name: "no Cargo.toml",
            exit: 2,
            code: "manifest-not-found",
        },
        &plan_in(empty.root(), &[]),
    );
    let broken = Fixture::new(&[("a", "[package\nname = ".to_owned())], "");
    check(
        &Case {
            name: "a manifest that is not TOML",
            exit: 2,
            code: "workspace-unreadable",
        },
        &plan_in(broken.root(), &[]),
    );
    let fixture = workspace();
    for (case, args) in [
        (
            Case {
                name: "-p names a stranger",
                exit: 2,
                code: "unknown-package",
            },
            vec!["-p", "stranger"],
        ),
        (
            Case {
                name: "an unconfigured registry",
                exit: 2,
                code: "unknown-registry",
            },
            vec!["--registry", "nowhere"],
        ),
        (
            Case {
                name: "an index that is no URL",
                exit: 2,
                code: "invalid-index-url",
            },
            vec!["--index", "not a url"],
        ),
    ] {
        check(&case, &plan_in(fixture.root(), &args));
    }
}

#[test]
fn hostile_registry_answers_are_refused_with_their_codes() {
    let fixture = workspace();
    // One server, many faces: the path's first segment says how to misbehave.
    let (port, _seen) = raw_server(64, |_, path, out| {
        use std::io::Write;
        let face = path.trim_start_matches('/').split('/').next().unwrap_or("");
        let config = r#"{"dl":"http://127.0.0.1:1/dl","api":"http://127.0.0.1:1"}"#;
        let answer = match (face, path.ends_with("config.json")) {
            ("config-not-json", true) => http("200 OK", "", "<html>"),
            ("config-3gb", true) => {
                "HTTP/1.1 200 OK\r\nContent-Length: 3000000000\r\nConnection: close\r\n\r\n{"
                    .to_owned()
            }
            ("config-endless", true) => return endless_chunks(out, "200 OK", 3 << 30),
            ("config-500", true) => http("500 Internal Server Error", "", "down"),
            ("config-api-elsewhere", true) => http(
                "200 OK",
                "",
                r#"{"dl":"http://127.0.0.1:1/dl","api":"http://0.0.0.0:1\\@127.0.0.1"}"#,
            ),
            (_, true) => http("200 OK", "", config),
            ("index-garbage", false) => http("200 OK", "", "{\"name\": 7}\n"),
            ("index-401", false) => http("401 Unauthorized", "", r#"{"errors":[{"detail":"no"}]}"#),
            ("index-418", false) => http("418 I'm a teapot", "", "short and stout"),
            ("index-429-a-day", false) => {
                http("429 Too Many Requests", "Retry-After: 86400\r\n", "")
            }
            ("index-endless", false) => return endless_chunks(out, "200 OK", 3 << 30),
            _ => http("404 Not Found", "", ""),
        };
        let _ = out.write_all(answer.as_bytes());
    });
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_port = closed.local_addr().unwrap().port();
    drop(closed);
    let cases = [
        (
            Case {
                name: "config.json not JSON",
                exit: 2,
                code: "registry-protocol-error",
            },
            "config-not-json",
        ),
        (
            Case {
                name: "config.json claims 3 GB",
                exit: 2,
                code: "registry-protocol-error",
            },
            "config-3gb",
        ),
        (
            Case {
                name: "config.json never ends",
                exit: 2,
                code: "registry-protocol-error",
            },
            "config-endless",
        ),
        (
            Case {
                name: "config.json 500",
                exit: 3,
                code: "registry-server-error",
            },
            "config-500",
        ),
        (
            Case {
                name: "api behind a backslash",
                exit: 2,
                code: "insecure-registry-url",
            },
            "config-api-elsewhere",
        ),
        (
            Case {
                name: "index file garbage",
                exit: 2,
                code: "registry-protocol-error",
            },
            "index-garbage",
        ),
        (
            Case {
                name: "index 401",
                exit: 3,
                code: "registry-auth-failed",
            },
            "index-401",
        ),
        (
            Case {
                name: "index 418",
                exit: 3,
                code: "registry-rejected",
            },
            "index-418",
        ),
        (
            Case {
                name: "index 429 for a day",
                exit: 3,
                code: "rate-limited",
            },
            "index-429-a-day",
        ),
        (
            Case {
                name: "index file never ends",
                exit: 2,
                code: "registry-protocol-error",
            },
            "index-endless",
        ),
    ];
    for (case, face) in &cases {
        let index = format!("sparse+http://127.0.0.1:{port}/{face}/");
        let started = std::time::Instant::now();
        check(case, &plan_in(fixture.root(), &["--index", &index]));
        assert!(
            started.elapsed().as_secs() < 60,
            "{}: took {:?}",
            case.name,
            started.elapsed()
        );
    }
    for (case, index) in [
        (
            Case {
                name: "nothing listening",
                exit: 3,
                code: "registry-unreachable",
            },
            format!("sparse+http://127.0.0.1:{closed_port}/index/"),
        ),
        (
            Case {
                name: "host behind a backslash",
                exit: 2,
                code: "insecure-registry-url",
            },
            format!("sparse+http://0.0.0.0:{port}\\@127.0.0.1/index/"),
        ),
    ] {
        check(&case, &plan_in(fixture.root(), &["--index", &index]));
    }
}
