//! The CI workflows Convoy ships (`docs/ci/`) keep the one rule the design rests on: only the
//! publish job can see a credential. Parsed as YAML, every job but publish must have no secret,
//! no `id-token: write` and no environment (whose secrets it would see); the workflow grants
//! nothing by default; the publish job pins the reviewed digest. Known-bad workflows under
//! `tests/fixtures/workflows/` prove the check fails when it should. (actionlint lints the same
//! files in `.ci/run`.)

use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut documents =
        YamlLoader::load_from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(documents.len(), 1, "{}", path.display());
    documents.remove(0)
}

/// Every string in a YAML tree (keys and values).
fn strings(node: &Yaml, out: &mut Vec<String>) {
    match node {
        Yaml::String(text) => out.push(text.clone()),
        Yaml::Array(items) => items.iter().for_each(|item| strings(item, out)),
        Yaml::Hash(map) => {
            for (key, value) in map {
                strings(key, out);
                strings(value, out);
            }
        }
        _ => {}
    }
}

fn all_strings(node: &Yaml) -> Vec<String> {
    let mut out = Vec::new();
    strings(node, &mut out);
    out
}

/// A secret reference other than the workflow's own `GITHUB_TOKEN`.
fn names_a_secret(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower
        .match_indices("secrets.")
        .any(|(at, _)| !lower[at..].starts_with("secrets.github_token"))
        || lower.contains("secrets[")
}

fn uses_github_token(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    lower.contains("github.token") || lower.contains("secrets.github_token")
}

/// The scopes a `permissions:` value grants write access to (`write-all` → everything).
fn writes(permissions: &Yaml) -> Vec<String> {
    match permissions {
        Yaml::String(all) if all == "write-all" => vec!["*".to_owned()],
        Yaml::Hash(map) => map
            .iter()
            .filter(|(_, level)| level.as_str() == Some("write"))
            .filter_map(|(scope, _)| scope.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn is_publish_job(job: &Yaml) -> bool {
    job["steps"].as_vec().is_some_and(|steps| {
        steps.iter().any(|step| {
            step["run"]
                .as_str()
                .is_some_and(|run| run.contains("convoy-publish"))
                || step["with"]["command"].as_str() == Some("publish")
        })
    })
}

/// What a GitHub workflow does wrong, as `job: rule` lines (empty: nothing).
fn check_github(workflow: &Yaml) -> Vec<String> {
    let mut violations = Vec::new();
    match &workflow["permissions"] {
        Yaml::BadValue => violations.push(
            "workflow: no top-level `permissions` (jobs would get the repository's default token rights)".to_owned(),
        ),
        granted if !writes(granted).is_empty() => violations.push(format!(
            "workflow: top-level `permissions` grant write access ({}) to every job",
            writes(granted).join(", ")
        )),
        _ => {}
    }
    if all_strings(&workflow["env"])
        .iter()
        .any(|s| names_a_secret(s))
    {
        violations.push("workflow: top-level `env` passes a secret to every job".to_owned());
    }
    let Some(jobs) = workflow["jobs"].as_hash() else {
        violations.push("workflow: no jobs".to_owned());
        return violations;
    };
    let mut publish_jobs = 0;
    for (name, job) in jobs {
        let name = name.as_str().unwrap_or("?");
        let texts = all_strings(job);
        if job["secrets"].as_str() == Some("inherit") {
            violations.push(format!("{name}: `secrets: inherit` hands it every secret"));
        }
        let granted = writes(&job["permissions"]);
        if is_publish_job(job) {
            publish_jobs += 1;
            if job["environment"].is_badvalue() {
                violations.push(format!(
                    "{name}: the publish job runs in no protected environment"
                ));
            }
            if !texts.iter().any(|t| t.contains("--expect-digest")) {
                violations.push(format!(
                    "{name}: the publish job does not pin the reviewed digest (--expect-digest)"
                ));
            }
            continue;
        }
        if granted.iter().any(|g| g == "id-token" || g == "*") {
            violations.push(format!(
                "{name}: only the publish job may have `id-token: write`"
            ));
        }
        if !job["environment"].is_badvalue() {
            violations.push(format!(
                "{name}: only the publish job may run in an environment (it would see its secrets)"
            ));
        }
        if texts.iter().any(|t| names_a_secret(t)) {
            violations.push(format!("{name}: only the publish job may see a secret"));
        }
        if texts.iter().any(|t| uses_github_token(t))
            && !granted
                .iter()
                .any(|g| g == "pull-requests" || g == "contents")
        {
            violations.push(format!(
                "{name}: uses the workflow token without a write permission that needs it"
            ));
        }
    }
    if publish_jobs > 1 {
        violations.push(format!(
            "workflow: {publish_jobs} publish jobs; one at most"
        ));
    }
    violations
}

/// GitLab: only the publish job has `id_tokens` or names the registry token; it runs in an
/// environment (where the token variable is scoped) and pins the digest.
fn check_gitlab(pipeline: &Yaml) -> Vec<String> {
    const KEYWORDS: [&str; 10] = [
        "stages",
        "variables",
        "default",
        "include",
        "workflow",
        "image",
        "services",
        "cache",
        "before_script",
        "after_script",
    ];
    let mut violations = Vec::new();
    let Some(jobs) = pipeline.as_hash() else {
        return vec!["pipeline: not a mapping".to_owned()];
    };
    for (name, job) in jobs {
        let Some(name) = name.as_str() else { continue };
        if name.starts_with('.') || KEYWORDS.contains(&name) {
            if all_strings(job)
                .iter()
                .any(|t| t.contains("CARGO_REGISTRY_TOKEN"))
            {
                violations.push(format!(
                    "{name}: shared configuration names the registry token"
                ));
            }
            continue;
        }
        let texts = all_strings(job);
        let publishes = texts.iter().any(|t| t.contains("convoy-publish"));
        if publishes {
            if job["environment"].is_badvalue() {
                violations.push(format!("{name}: the publish job runs in no environment"));
            }
            if !texts.iter().any(|t| t.contains("--expect-digest")) {
                violations.push(format!("{name}: the publish job does not pin the digest"));
            }
            continue;
        }
        if !job["id_tokens"].is_badvalue() {
            violations.push(format!("{name}: only the publish job may have `id_tokens`"));
        }
        if texts.iter().any(|t| t.contains("CARGO_REGISTRY_TOKEN")) {
            violations.push(format!(
                "{name}: only the publish job may see the registry token"
            ));
        }
    }
    violations
}

fn github_workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("docs/ci/github"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

#[test]
fn the_shipped_workflows_give_credentials_to_the_publish_job_only() {
    let files = github_workflows();
    assert!(files.len() >= 2, "{files:?}");
    let mut publish_jobs = 0;
    for file in &files {
        let workflow = load(file);
        let violations = check_github(&workflow);
        assert!(violations.is_empty(), "{}: {violations:#?}", file.display());
        publish_jobs += workflow["jobs"]
            .as_hash()
            .unwrap()
            .values()
            .filter(|job| is_publish_job(job))
            .count();
    }
    assert_eq!(publish_jobs, 1, "the release workflow publishes");
    let gitlab = load(&root().join("docs/ci/gitlab/.gitlab-ci.yml"));
    let violations = check_gitlab(&gitlab);
    assert!(violations.is_empty(), "{violations:#?}");
    // The composite action asks for no secret itself.
    let action = load(&root().join("action.yml"));
    assert!(!all_strings(&action).iter().any(|t| names_a_secret(t)));
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
}

#[test]
fn the_check_fails_on_workflows_that_leak_a_credential() {
    let fixtures = root().join("tests/fixtures/workflows");
    let check = |file: &str| check_github(&load(&fixtures.join(file)));
    assert_eq!(
        check("id-token-in-plan.yml"),
        ["plan: only the publish job may have `id-token: write`"]
    );
    assert_eq!(
        check("secret-in-verify.yml"),
        [
            "publish: the publish job does not pin the reviewed digest (--expect-digest)",
            "verify: only the publish job may see a secret",
        ]
    );
    assert_eq!(
        check("write-all.yml"),
        [
            "workflow: top-level `permissions` grant write access (*) to every job",
            "workflow: top-level `env` passes a secret to every job",
            "comment: `secrets: inherit` hands it every secret",
            "tag: only the publish job may run in an environment (it would see its secrets)",
            "tag: uses the workflow token without a write permission that needs it",
        ]
    );
}

#[test]
fn the_gitlab_check_fails_when_another_job_gets_the_identity_token() {
    let bad = YamlLoader::load_from_str(
        "plan:\n  script: [convoy-plan --bundle bundle]\n  id_tokens:\n    T:\n      aud: crates.io\n\
         publish:\n  script: [convoy-publish bundle/plan.json --trusted-publishing]\n\
         verify:\n  script: [convoy-verify bundle/plan.json]\n  variables:\n    X: $CARGO_REGISTRY_TOKEN\n",
    )
    .unwrap()
    .remove(0);
    assert_eq!(
        check_gitlab(&bad),
        [
            "plan: only the publish job may have `id_tokens`",
            "publish: the publish job runs in no environment",
            "publish: the publish job does not pin the digest",
            "verify: only the publish job may see the registry token",
        ]
    );
}
