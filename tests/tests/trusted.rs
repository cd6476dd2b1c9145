//! Releasing from CI with trusted publishing, end to end on the testkit: a plan made with no
//! token in its environment, `convoy-publish --trusted-publishing` exchanging the CI's identity
//! token (the testkit's OIDC service) once and revoking it once however the run ends, new crates
//! left for an API token, then `convoy-verify` and `convoy-plan tag`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use convoy_schema::events::{CredentialLane, EventKind, PublishEvent};
use convoy_schema::plan::Plan;
use convoy_testkit::{Faults, LoggedRequest, Options, RateLimit, TestRegistry, TrustedPublishing};
use convoy_tests::{binary, git, manifest, run, Fixture, Run};

const API_TOKEN: &str = "api-secret-5d1e0c93";
const REQUEST_TOKEN: &str = "oidc-request-secret-77ab41";
const EXCHANGE: &str = "/api/v1/trusted_publishing/tokens";
const UPLOAD: &str = "/api/v1/crates/new";

/// A repository released to the registry `testkit`, which serves trusted publishing.
struct Repo {
    _storage: Fixture,
    registry: TestRegistry,
    home: Fixture,
    repo: Fixture,
    out: Fixture,
}

fn member(name: &str, version: &str, deps: &[&str]) -> (String, String) {
    let mut extra = "publish = [\"testkit\"]\n[dependencies]\n".to_owned();
    for dep in deps {
        extra.push_str(&format!(
            "{dep} = {{ path = \"../{dep}\", version = \"{version}\", registry = \"testkit\" }}\n"
        ));
    }
    (name.to_owned(), manifest(name, version, &extra))
}

impl Repo {
    /// `tp-a`, and `tp-b` and `tp-app` depending on it, released at 0.1.0 with the API token:
    /// the crates exist before trusted publishing is used.
    fn released(faults: Faults) -> Self {
        let storage = Fixture::empty();
        let mut options = Options::new(storage.root().join("registry"), API_TOKEN);
        options.faults = faults;
        options.trusted = Some(TrustedPublishing::new(REQUEST_TOKEN));
        let registry = TestRegistry::start(options).expect("registry");
        let members = [
            member("tp-a", "0.1.0", &[]),
            member("tp-b", "0.1.0", &["tp-a"]),
            member("tp-app", "0.1.0", &["tp-a"]),
        ];
        let members: Vec<(&str, String)> = members
            .iter()
            .map(|(n, m)| (n.as_str(), m.clone()))
            .collect();
        let repo = Fixture::new(&members, "");
        repo.write(".gitignore", "/target\n");
        repo.commit();
        let this = Self {
            _storage: storage,
            registry,
            home: Fixture::empty(),
            repo,
            out: Fixture::empty(),
        };
        let first = this.plan("first");
        let published = this.publish(&first, &[], Some(API_TOKEN), false);
        assert_eq!(published.code(), 0, "{}", published.stderr());
        this
    }

    /// A registry that paces new versions one per 10 minutes (`--rate-limit-new-versions 1/600`
    /// tells the publisher), and the plan of the next release to it: after its first upload a
    /// run waits.
    fn paced_release() -> (Self, PathBuf) {
        let repo = Self::released(Faults {
            new_version_limit: Some(RateLimit {
                burst: 1,
                refill: Duration::from_secs(600),
            }),
            ..Faults::default()
        });
        repo.next_release(false);
        let plan = repo.plan("release");
        (repo, plan)
    }

    /// The next release, 0.2.0 of every crate; with `new_crate`, also a first release of
    /// `tp-new`, which `tp-app` starts to depend on.
    fn next_release(&self, new_crate: bool) {
        let mut members = vec![
            member("tp-a", "0.2.0", &[]),
            member("tp-b", "0.2.0", &["tp-a"]),
        ];
        if new_crate {
            members.push(member("tp-new", "0.2.0", &[]));
            members.push(member("tp-app", "0.2.0", &["tp-a", "tp-new"]));
        } else {
            members.push(member("tp-app", "0.2.0", &["tp-a"]));
        }
        let list: Vec<String> = members.iter().map(|(n, _)| format!("\"{n}\"")).collect();
        self.repo.write(
            "Cargo.toml",
            &format!(
                "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
                list.join(", ")
            ),
        );
        for (name, text) in &members {
            self.repo.write(&format!("{name}/Cargo.toml"), text);
            self.repo.write(&format!("{name}/src/lib.rs"), "");
        }
        self.repo.commit();
    }

    /// The plan job: `convoy-plan --bundle` with no token of any kind in its environment.
    fn plan(&self, bundle: &str) -> PathBuf {
        let dir = self.out.root().join(bundle);
        let mut command = Command::new(binary("convoy-plan"));
        command
            .current_dir(self.repo.root())
            .env("CARGO_REGISTRIES_TESTKIT_INDEX", self.registry.index_url())
            .args(["--registry", "testkit", "--bundle"])
            .arg(&dir);
        without_secrets(&mut command);
        convoy_tests::isolated_cargo(&mut command, self.home.root());
        let planned = run(&mut command);
        assert_eq!(planned.code(), 0, "{}", planned.stderr());
        dir.join("plan.json")
    }

    /// The publish job, with the API token (`api`) and/or the CI's identity-token service
    /// (`trusted`) in its environment.
    fn publish(&self, plan: &Path, args: &[&str], api: Option<&str>, trusted: bool) -> Run {
        run(&mut self.publish_command(plan, args, api, trusted.then_some(REQUEST_TOKEN)))
    }

    /// The publish job's command, with the identity-token service's URL and `request_token`
    /// in its environment when given.
    fn publish_command(
        &self,
        plan: &Path,
        args: &[&str],
        api: Option<&str>,
        request_token: Option<&str>,
    ) -> Command {
        let mut command = Command::new(binary("convoy-publish"));
        command
            .current_dir(self.out.root())
            .env("CARGO_REGISTRIES_TESTKIT_INDEX", self.registry.index_url())
            .arg(plan)
            .args(["--registry", "testkit"])
            .args(args);
        without_secrets(&mut command);
        if let Some(token) = api {
            command.env("CARGO_REGISTRIES_TESTKIT_TOKEN", token);
        }
        if let Some(request_token) = request_token {
            command
                .arg("--trusted-publishing")
                .env("ACTIONS_ID_TOKEN_REQUEST_URL", self.registry.oidc_url())
                .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", request_token);
        }
        command
    }

    fn requests_since(&self, skip: usize) -> Vec<LoggedRequest> {
        self.registry.requests().into_iter().skip(skip).collect()
    }
}

fn without_secrets(command: &mut Command) {
    for variable in [
        "CARGO_REGISTRY_TOKEN",
        "CARGO_REGISTRIES_TESTKIT_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_URL",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "GITHUB_STEP_SUMMARY",
    ] {
        command.env_remove(variable);
    }
}

fn count(requests: &[LoggedRequest], method: &str, path: &str) -> usize {
    requests
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .count()
}

fn read_plan(path: &Path) -> Plan {
    Plan::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn events(stdout: &str) -> Vec<PublishEvent> {
    stdout
        .lines()
        .map(|line| PublishEvent::from_line(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}

#[test]
fn plan_without_a_token_publish_by_trusted_publishing_verify_and_tag() {
    let repo = Repo::released(Faults::default());
    repo.next_release(false);
    let plan_path = repo.plan("release");
    let plan = read_plan(&plan_path);
    let before = repo.registry.requests().len();

    let summary = repo.out.root().join("step-summary.md");
    let mut command = repo.publish_command(
        &plan_path,
        &["--format", "json", "--expect-digest", &plan.digest],
        None,
        Some(REQUEST_TOKEN),
    );
    let published = run(command.env("GITHUB_STEP_SUMMARY", &summary));
    assert_eq!(published.code(), 0, "{}", published.stderr());

    // Exactly one exchange and one revoke; every upload carried the exchanged token.
    let requests = repo.requests_since(before);
    assert_eq!(count(&requests, "POST", EXCHANGE), 1, "{requests:#?}");
    assert_eq!(count(&requests, "DELETE", EXCHANGE), 1, "{requests:#?}");
    let tokens = repo.registry.trusted_tokens();
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].revoked.is_some());
    let uploads: Vec<&LoggedRequest> = requests.iter().filter(|r| r.path == UPLOAD).collect();
    assert_eq!(uploads.len(), 3);
    for upload in &uploads {
        assert_eq!(
            upload.authorization.as_deref(),
            Some(tokens[0].token.as_str())
        );
        assert_eq!(upload.status, Some(200));
    }
    // The identity-token service saw its request token, and nothing else did.
    for request in &requests {
        let sent = request.authorization.as_deref().unwrap_or_default();
        if request.path.starts_with("/oidc/token") {
            assert_eq!(sent, format!("bearer {REQUEST_TOKEN}"));
        } else {
            assert!(!sent.contains(REQUEST_TOKEN), "{request:?}");
            assert!(!sent.contains(API_TOKEN), "{request:?}");
        }
    }

    // The event stream is typed: the token's life, then every crate visible.
    let events = events(&published.stdout());
    let kinds: Vec<&EventKind> = events.iter().map(|e| &e.event).collect();
    assert!(matches!(
        kinds.first(),
        Some(EventKind::TokenIssued {
            refreshed: false,
            ..
        })
    ));
    assert!(kinds
        .iter()
        .any(|k| matches!(k, EventKind::TokenRevoked { ok: true, .. })));
    assert_eq!(
        kinds
            .iter()
            .filter(|k| matches!(
                k,
                EventKind::Uploading {
                    credential: CredentialLane::TrustedPublishing,
                    ..
                }
            ))
            .count(),
        3
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| matches!(k, EventKind::Visible { .. }))
            .count(),
        3
    );
    assert!(events.iter().all(|e| e.plan == plan.digest));

    // No secret in anything the run wrote: output, journal, step summary.
    let journal = std::fs::read_to_string(plan_path.with_extension("json.journal")).unwrap();
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(summary.contains("| `tp-app` | published |"), "{summary}");
    for text in [published.stdout(), published.stderr(), journal, summary] {
        for secret in [
            REQUEST_TOKEN,
            tokens[0].token.as_str(),
            "eyJhbGciOiJSUzI1NiJ9",
        ] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    // Verify needs no token; tag needs none either.
    let mut verify = Command::new(binary("convoy-verify"));
    verify
        .current_dir(repo.out.root())
        .env("CARGO_REGISTRIES_TESTKIT_INDEX", repo.registry.index_url())
        .arg(&plan_path)
        .args(["--registry", "testkit"]);
    without_secrets(&mut verify);
    let verified = run(&mut verify);
    assert_eq!(
        verified.code(),
        0,
        "{}{}",
        verified.stdout(),
        verified.stderr()
    );

    let mut tag = Command::new(binary("convoy-plan"));
    tag.current_dir(repo.repo.root()).arg("tag").arg(&plan_path);
    without_secrets(&mut tag);
    let tagged = run(&mut tag);
    assert_eq!(tagged.code(), 0, "{}", tagged.stderr());
    let tags = git(repo.repo.root(), &["tag", "--list"]);
    for name in ["tp-a", "tp-b", "tp-app"] {
        assert!(tags.contains(&format!("{name}-v0.2.0")), "{tags}");
    }
}

#[test]
fn a_mixed_release_with_only_trusted_publishing_leaves_new_crates_for_an_api_token() {
    let repo = Repo::released(Faults::default());
    repo.next_release(true);
    let plan_path = repo.plan("release");

    // The dry run says which credential each crate needs.
    let dry = repo.publish(
        &plan_path,
        &["--dry-run", "--trusted-publishing"],
        None,
        false,
    );
    assert_eq!(dry.code(), 0, "{}", dry.stderr());
    assert!(
        dry.stdout()
            .contains("tp-new 0.2.0  new crate: needs an API token, left for a rerun with one"),
        "{}",
        dry.stdout()
    );
    assert!(
        dry.stdout()
            .contains("tp-a 0.2.0  new version, trusted publishing"),
        "{}",
        dry.stdout()
    );

    let before = repo.registry.requests().len();
    let first = repo.publish(&plan_path, &[], None, true);
    assert_eq!(first.code(), 1, "{}", first.stderr());
    assert!(
        first.stderr().contains(
            "1 new crate(s) need an API token (the registry creates crates only with one): tp-new; waiting on them: tp-app."
        ),
        "{}",
        first.stderr()
    );
    let requests = repo.requests_since(before);
    let stored: Vec<String> = requests
        .iter()
        .filter_map(|r| r.stored.as_ref().map(|(name, _, _)| name.clone()))
        .collect();
    assert_eq!(stored, ["tp-a", "tp-b"], "existing crates published");
    assert_eq!(count(&requests, "POST", EXCHANGE), 1);
    assert_eq!(count(&requests, "DELETE", EXCHANGE), 1);
    assert!(
        requests.iter().filter(|r| r.path == UPLOAD).all(|r| r
            .metadata_json
            .as_deref()
            .is_some_and(|m| !m.contains("tp-new"))),
        "nothing was sent for the new crate"
    );

    // The rerun with the API token too finishes it: the new crate by the API token, the rest
    // by trusted publishing.
    let before = repo.registry.requests().len();
    let second = repo.publish(&plan_path, &[], Some(API_TOKEN), true);
    assert_eq!(second.code(), 0, "{}", second.stderr());
    let requests = repo.requests_since(before);
    let tokens = repo.registry.trusted_tokens();
    let by_crate: Vec<(String, String)> = requests
        .iter()
        .filter_map(|r| {
            let (name, _, _) = r.stored.clone()?;
            Some((name, r.authorization.clone().unwrap_or_default()))
        })
        .collect();
    assert_eq!(
        by_crate,
        [
            ("tp-new".to_owned(), API_TOKEN.to_owned()),
            ("tp-app".to_owned(), tokens[1].token.clone()),
        ]
    );
    assert!(tokens.iter().all(|t| t.revoked.is_some()));
    assert!(
        second
            .stderr()
            .contains("2 published (+2 by an earlier run)"),
        "{}",
        second.stderr()
    );
}

#[test]
fn the_token_is_revoked_when_the_run_fails_and_when_it_stops_at_max_wait() {
    // The first upload after the setup is rejected: tp-a fails, and its dependents with it.
    let repo = Repo::released(Faults {
        fail_upload: [(4, 400)].into(),
        ..Faults::default()
    });
    repo.next_release(false);
    let plan_path = repo.plan("release");
    let before = repo.registry.requests().len();
    let failed = repo.publish(&plan_path, &[], None, true);
    assert_eq!(failed.code(), 1, "{}", failed.stderr());
    let requests = repo.requests_since(before);
    assert_eq!(count(&requests, "POST", EXCHANGE), 1);
    assert_eq!(
        count(&requests, "DELETE", EXCHANGE),
        1,
        "revoked after a failure"
    );
    assert!(repo.registry.trusted_tokens()[0].revoked.is_some());

    // New versions paced one per 10 minutes: --max-wait 1s stops after the first upload.
    let (repo, plan_path) = Repo::paced_release();
    let before = repo.registry.requests().len();
    let stopped = repo.publish(
        &plan_path,
        &["--max-wait", "1s", "--rate-limit-new-versions", "1/600"],
        None,
        true,
    );
    assert_eq!(stopped.code(), 4, "{}", stopped.stderr());
    assert!(
        stopped.stderr().contains("rerun the same plan"),
        "{}",
        stopped.stderr()
    );
    let requests = repo.requests_since(before);
    assert_eq!(count(&requests, "POST", EXCHANGE), 1);
    assert_eq!(
        count(&requests, "DELETE", EXCHANGE),
        1,
        "revoked at --max-wait"
    );
    assert!(repo.registry.trusted_tokens()[0].revoked.is_some());
}

#[test]
fn trusted_publishing_without_an_identity_token_is_refused_before_anything_is_sent() {
    let repo = Repo::released(Faults::default());
    repo.next_release(false);
    let plan_path = repo.plan("release");
    let before = repo.registry.requests().len();
    let refused = repo.publish(&plan_path, &["--trusted-publishing"], None, false);
    assert_eq!(refused.code(), 3, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("error[oidc-token-unavailable]")
            && refused.stderr().contains("id-token: write"),
        "{}",
        refused.stderr()
    );
    assert_eq!(repo.requests_since(before).len(), 0);

    // A request token the service refuses: the exchange never happens, nothing is uploaded.
    let wrong =
        run(&mut repo.publish_command(&plan_path, &[], None, Some("wrong-request-token-0c1d")));
    assert_eq!(wrong.code(), 3, "{}", wrong.stderr());
    assert!(
        wrong.stderr().contains("error[trusted-publishing-failed]"),
        "{}",
        wrong.stderr()
    );
    assert!(!wrong.stderr().contains("wrong-request-token-0c1d"));
    let requests = repo.requests_since(before);
    assert_eq!(count(&requests, "POST", EXCHANGE), 0);
    assert!(requests.iter().all(|r| r.path != UPLOAD));
}

#[test]
fn a_cancelled_job_stops_after_the_uploads_in_flight_and_revokes_the_token() {
    // New versions paced one per 10 minutes: after the first upload the run would wait.
    let (repo, plan_path) = Repo::paced_release();
    let before = repo.registry.requests().len();
    let mut command = repo.publish_command(
        &plan_path,
        &["--rate-limit-new-versions", "1/600"],
        None,
        Some(REQUEST_TOKEN),
    );
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = command.spawn().unwrap();
    // Wait (bounded) until the first crate is visible and the run is pacing the next.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while repo
        .requests_since(before)
        .iter()
        .all(|r| r.stored.is_none())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no upload within 60 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted: rerun the same plan"),
        "{stderr}"
    );
    let requests = repo.requests_since(before);
    assert_eq!(count(&requests, "POST", EXCHANGE), 1);
    assert_eq!(
        count(&requests, "DELETE", EXCHANGE),
        1,
        "revoked when cancelled"
    );
    assert_eq!(requests.iter().filter(|r| r.stored.is_some()).count(), 1);
}

#[test]
fn the_pull_request_comment_shows_what_the_change_does_to_the_release() {
    let repo = Repo::released(Faults::default());
    repo.next_release(true);
    let base = repo.out.root().join("first/plan.json");
    let head = repo.plan("release");
    let mut diff = Command::new(binary("convoy-plan"));
    diff.arg("diff").arg(&base).arg(&head);
    let shown = run(&mut diff);
    assert_eq!(shown.code(), 0, "{}", shown.stderr());
    let text = shown.stdout();
    assert!(
        text.contains("| `tp-a` | version `0.1.0` → `0.2.0` |"),
        "{text}"
    );
    assert!(
        text.contains("| `tp-new` | now published: `0.2.0` |"),
        "{text}"
    );
    let mut json = Command::new(binary("convoy-plan"));
    json.args(["diff", "--format", "json"])
        .arg(&head)
        .arg(&head);
    let same = run(&mut json);
    let value: serde_json::Value = serde_json::from_str(&same.stdout()).unwrap();
    assert_eq!(value["packages"], serde_json::json!([]));
    // A plan that is not one is an error naming it, not an empty diff.
    let bogus = repo.out.root().join("bogus.json");
    std::fs::write(&bogus, "{}").unwrap();
    let mut bad = Command::new(binary("convoy-plan"));
    bad.arg("diff").arg(&bogus).arg(&head);
    let refused = run(&mut bad);
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(
        refused.stderr().contains("bogus.json"),
        "{}",
        refused.stderr()
    );
}
