//! The CI workflows Convoy ships (`docs/ci/`, and the composite action `action.yml`) keep the one
//! rule the design rests on: only the publish job can see a credential. Parsed as YAML, every job
//! but publish must have no secret, no `id-token: write` and no environment (whose secrets it
//! would see); the workflow grants nothing by default; the publish job runs in a protected
//! environment, checks nothing out and pins the reviewed digest; no `run:` script has a `${{ }}`
//! expression pasted into it. Known-bad workflows under `tests/fixtures/workflows/` prove that
//! the check fails when it should. (actionlint lints the same files in `.ci/run`.)

use std::fmt;
use std::path::{Path, PathBuf};

use yaml_rust2::{Yaml, YamlLoader};

/// One broken rule: which job (or `workflow`, `pipeline`) and the rule's stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Violation {
    job: String,
    rule: &'static str,
}

impl Violation {
    fn new(job: &str, rule: &'static str) -> Self {
        Self {
            job: job.to_owned(),
            rule,
        }
    }

    /// What the rule is for, in one line.
    fn description(&self) -> &'static str {
        match self.rule {
            "workflow-permissions-missing" => {
                "no top-level `permissions`: every job gets the repository's default token rights"
            }
            "workflow-grants-write" => "top-level `permissions` grant write access to every job",
            "workflow-env-secret" => "top-level `env` passes a secret to every job",
            "no-jobs" => "the workflow has no jobs",
            "several-publish-jobs" => "more than one job publishes",
            "secrets-inherit" => "`secrets: inherit` hands the job every secret",
            "publish-without-environment" => "the publish job runs in no protected environment",
            "publish-without-expect-digest" => {
                "the publish job does not pin the reviewed digest (--expect-digest)"
            }
            "publish-checks-out" => {
                "the publish job checks out the repository; it needs only the bundle"
            }
            "publish-off-default-branch" => "the publish job may run on other branches",
            "id-token-outside-publish" => "only the publish job may have `id-token: write`",
            "id-tokens-outside-publish" => "only the publish job may have `id_tokens`",
            "environment-outside-publish" => {
                "only the publish job may run in an environment (it would see its secrets)"
            }
            "secret-outside-publish" => "only the publish job may see a secret",
            "registry-token-outside-publish" => "only the publish job may see the registry token",
            "tag-token-outside-tag" => "only the tag job may see the tag-pushing token",
            "token-without-write-permission" => {
                "uses the workflow's token without a write permission that needs it"
            }
            "expression-in-run" => {
                "a `${{ }}` expression inside `run:` is pasted into the script (pass it via `env:`)"
            }
            "shared-config-names-token" => "shared configuration names a token variable",
            _ => "?",
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} ({})", self.job, self.rule, self.description())
    }
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn parse(text: &str) -> Yaml {
    let mut documents = YamlLoader::load_from_str(text).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(documents.len(), 1, "one YAML document");
    documents.remove(0)
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

/// The `${{ … }}` expressions in a string, lower-cased (GitHub's contexts are case-insensitive).
fn expressions(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${{") {
        let after = &rest[start + 3..];
        let end = after.find("}}").unwrap_or(after.len());
        found.push(after[..end].to_ascii_lowercase());
        rest = &after[end..];
    }
    found
}

/// An expression that reads the `secrets` context other than the workflow's own `GITHUB_TOKEN`:
/// `secrets.X`, `secrets['X']`, `toJSON(secrets)`.
fn names_a_secret(text: &str) -> bool {
    expressions(text).iter().any(|expression| {
        expression.match_indices("secrets").any(|(at, word)| {
            let before = expression[..at].chars().next_back();
            let after = &expression[at + word.len()..];
            let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.';
            !before.is_some_and(is_word)
                && !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && !after.starts_with(".github_token")
        })
    })
}

/// `github.token`, or the same token as `secrets.GITHUB_TOKEN`.
fn uses_github_token(text: &str) -> bool {
    expressions(text)
        .iter()
        .any(|e| e.contains("github.token") || e.contains("secrets.github_token"))
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

fn steps(job: &Yaml) -> &[Yaml] {
    job["steps"].as_vec().map_or(&[], Vec::as_slice)
}

/// The job whose steps run the publish command, directly or through the action.
fn is_publish_job(job: &Yaml) -> bool {
    steps(job).iter().any(|step| {
        step["run"]
            .as_str()
            .is_some_and(|run| run.contains("convoy-publish"))
            || step["with"]["command"].as_str() == Some("publish")
    })
}

/// Steps whose `run:` script has an expression pasted into it.
fn has_expression_in_run(steps: &[Yaml]) -> bool {
    steps
        .iter()
        .any(|step| step["run"].as_str().is_some_and(|run| run.contains("${{")))
}

/// What a GitHub workflow does wrong (empty: nothing).
fn check_github(workflow: &Yaml) -> Vec<Violation> {
    let mut violations = Vec::new();
    match &workflow["permissions"] {
        Yaml::BadValue => {
            violations.push(Violation::new("workflow", "workflow-permissions-missing"))
        }
        granted if !writes(granted).is_empty() => {
            violations.push(Violation::new("workflow", "workflow-grants-write"));
        }
        _ => {}
    }
    if all_strings(&workflow["env"])
        .iter()
        .any(|s| names_a_secret(s))
    {
        violations.push(Violation::new("workflow", "workflow-env-secret"));
    }
    let Some(jobs) = workflow["jobs"].as_hash() else {
        violations.push(Violation::new("workflow", "no-jobs"));
        return violations;
    };
    let mut publish_jobs = 0;
    for (name, job) in jobs {
        let name = name.as_str().unwrap_or("?");
        let texts = all_strings(job);
        let mut broke = |rule| violations.push(Violation::new(name, rule));
        if job["secrets"].as_str() == Some("inherit") {
            broke("secrets-inherit");
        }
        if has_expression_in_run(steps(job)) {
            broke("expression-in-run");
        }
        let granted = writes(&job["permissions"]);
        if is_publish_job(job) {
            publish_jobs += 1;
            if job["environment"].is_badvalue() {
                broke("publish-without-environment");
            }
            if !texts.iter().any(|t| t.contains("--expect-digest")) {
                broke("publish-without-expect-digest");
            }
            if steps(job).iter().any(|step| {
                step["uses"]
                    .as_str()
                    .is_some_and(|uses| uses.starts_with("actions/checkout"))
            }) {
                broke("publish-checks-out");
            }
            continue;
        }
        if granted.iter().any(|g| g == "id-token" || g == "*") {
            broke("id-token-outside-publish");
        }
        if !job["environment"].is_badvalue() {
            broke("environment-outside-publish");
        }
        if texts.iter().any(|t| names_a_secret(t)) {
            broke("secret-outside-publish");
        }
        // The token is for writing what the job is for: the comment, or the tags.
        if texts.iter().any(|t| uses_github_token(t))
            && !granted
                .iter()
                .any(|g| g == "pull-requests" || g == "contents")
        {
            broke("token-without-write-permission");
        }
    }
    if publish_jobs > 1 {
        violations.push(Violation::new("workflow", "several-publish-jobs"));
    }
    violations
}

/// GitLab: only the publish job has `id_tokens` or names the registry token, and it runs in an
/// environment (where the token variable is scoped), on the default branch only, pinning the
/// digest; only the tag job names the tag-pushing token.
fn check_gitlab(pipeline: &Yaml) -> Vec<Violation> {
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
    const PUBLISH_TOKENS: [&str; 2] = ["CARGO_REGISTRY_TOKEN", "ID_TOKEN"];
    const TAG_TOKEN: &str = "CONVOY_TAG_TOKEN";
    let Some(jobs) = pipeline.as_hash() else {
        return vec![Violation::new("pipeline", "no-jobs")];
    };
    let mut violations = Vec::new();
    for (name, job) in jobs {
        let Some(name) = name.as_str() else { continue };
        let texts = all_strings(job);
        let names = |token: &str| texts.iter().any(|t| t.contains(token));
        let mut broke = |rule| violations.push(Violation::new(name, rule));
        // Hidden jobs (`.convoy`) and global keywords reach every job that extends or inherits them.
        if name.starts_with('.') || KEYWORDS.contains(&name) {
            if PUBLISH_TOKENS.iter().any(|t| names(t)) || names(TAG_TOKEN) {
                broke("shared-config-names-token");
            }
            if !job["id_tokens"].is_badvalue() {
                broke("id-tokens-outside-publish");
            }
            continue;
        }
        if names("convoy-publish") {
            if job["environment"].is_badvalue() {
                broke("publish-without-environment");
            }
            if !names("--expect-digest") {
                broke("publish-without-expect-digest");
            }
            if !all_strings(&job["rules"])
                .iter()
                .any(|t| t.contains("$CI_DEFAULT_BRANCH"))
            {
                broke("publish-off-default-branch");
            }
            if names(TAG_TOKEN) {
                broke("tag-token-outside-tag");
            }
            continue;
        }
        if !job["id_tokens"].is_badvalue() {
            broke("id-tokens-outside-publish");
        }
        if PUBLISH_TOKENS.iter().any(|t| names(t)) {
            broke("registry-token-outside-publish");
        }
        if names(TAG_TOKEN) && !names("convoy-plan tag") {
            broke("tag-token-outside-tag");
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

fn rules(violations: &[Violation]) -> Vec<(&str, &str)> {
    violations
        .iter()
        .map(|v| (v.job.as_str(), v.rule))
        .collect()
}

#[test]
fn the_shipped_workflows_give_credentials_to_the_publish_job_only() {
    let files = github_workflows();
    assert!(files.len() >= 2, "{files:?}");
    let mut publish_jobs = 0;
    for file in &files {
        let workflow = load(file);
        let violations = check_github(&workflow);
        assert!(
            violations.is_empty(),
            "{}:\n{}",
            file.display(),
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
        publish_jobs += workflow["jobs"]
            .as_hash()
            .unwrap()
            .values()
            .filter(|job| is_publish_job(job))
            .count();
    }
    assert_eq!(publish_jobs, 1, "the release workflow publishes, once");
}

#[test]
fn the_shipped_gitlab_pipeline_gives_credentials_to_the_publish_job_only() {
    let pipeline = load(&root().join("docs/ci/gitlab/.gitlab-ci.yml"));
    assert_eq!(check_gitlab(&pipeline), []);
    let publish = &pipeline["publish"];
    assert_eq!(
        publish["id_tokens"]["CRATES_IO_ID_TOKEN"]["aud"].as_str(),
        Some("crates.io")
    );
    assert!(all_strings(publish)
        .iter()
        .any(|t| t.contains("--oidc-token-env CRATES_IO_ID_TOKEN")));
}

#[test]
fn the_action_reads_no_secret_and_pastes_no_input_into_a_script() {
    let action = load(&root().join("action.yml"));
    assert_eq!(action["runs"]["using"].as_str(), Some("composite"));
    assert!(!all_strings(&action).iter().any(|t| names_a_secret(t)));
    let steps = action["runs"]["steps"].as_vec().unwrap();
    assert!(
        !has_expression_in_run(steps),
        "inputs reach scripts via env"
    );
    let commands = action["inputs"]["command"]["description"].as_str().unwrap();
    for command in ["install", "plan", "diff", "tag", "publish", "verify"] {
        assert!(commands.contains(&format!("`{command}`")), "{command}");
    }
}

#[test]
fn the_check_fails_on_workflows_that_leak_a_credential() {
    let fixtures = root().join("tests/fixtures/workflows");
    let check = |file: &str| check_github(&load(&fixtures.join(file)));
    assert_eq!(
        rules(&check("id-token-in-plan.yml")),
        [("plan", "id-token-outside-publish")]
    );
    assert_eq!(
        rules(&check("secret-in-verify.yml")),
        [
            ("publish", "publish-without-expect-digest"),
            ("verify", "secret-outside-publish"),
        ]
    );
    assert_eq!(
        rules(&check("write-all.yml")),
        [
            ("workflow", "workflow-grants-write"),
            ("workflow", "workflow-env-secret"),
            ("comment", "secrets-inherit"),
            ("tag", "environment-outside-publish"),
            ("tag", "token-without-write-permission"),
        ]
    );
    assert_eq!(
        rules(&check("secrets-dumped.yml")),
        [
            ("workflow", "workflow-permissions-missing"),
            ("plan", "expression-in-run"),
            ("plan", "secret-outside-publish"),
            ("publish", "publish-checks-out"),
        ]
    );
}

#[test]
fn secret_references_are_found_in_every_form() {
    for text in [
        "${{ secrets.CARGO_REGISTRY_TOKEN }}",
        "${{ secrets['CARGO_REGISTRY_TOKEN'] }}",
        "${{ toJSON(secrets) }}",
        "${{ SECRETS.X }}",
        "a ${{ github.token }} b ${{ secrets.X }}",
    ] {
        assert!(names_a_secret(text), "{text}");
    }
    for text in [
        "${{ secrets.GITHUB_TOKEN }}",
        "${{ github.token }}",
        "no secrets here",
        "${{ vars.secrets_note }}",
        "${{ inputs.no_secrets }}",
    ] {
        assert!(!names_a_secret(text), "{text}");
    }
    assert!(uses_github_token("${{ secrets.GITHUB_TOKEN }}"));
}

#[test]
fn the_gitlab_check_fails_when_another_job_gets_a_token() {
    let bad = parse(
        "plan:\n  script: [convoy-plan --bundle bundle]\n  id_tokens:\n    T:\n      aud: crates.io\n\
         publish:\n  script: [convoy-publish bundle/plan.json --trusted-publishing]\n\
         verify:\n  script: [convoy-verify bundle/plan.json]\n  variables:\n    X: $CARGO_REGISTRY_TOKEN\n\
         .convoy:\n  variables:\n    T: $CONVOY_TAG_TOKEN\n\
         notes:\n  script: [echo $CONVOY_TAG_TOKEN]\n",
    );
    let violations = check_gitlab(&bad);
    assert_eq!(
        rules(&violations),
        [
            ("plan", "id-tokens-outside-publish"),
            ("publish", "publish-without-environment"),
            ("publish", "publish-without-expect-digest"),
            ("publish", "publish-off-default-branch"),
            ("verify", "registry-token-outside-publish"),
            (".convoy", "shared-config-names-token"),
            ("notes", "tag-token-outside-tag"),
        ]
    );
    assert_eq!(
        violations[0].to_string(),
        "plan: id-tokens-outside-publish (only the publish job may have `id_tokens`)"
    );
}

#[test]
fn the_ci_guide_documents_every_exit_code_by_its_name() {
    use convoy_schema::exit;
    let guide = std::fs::read_to_string(root().join("docs/ci/README.md")).unwrap();
    let named = [
        (exit::OK, "OK"),
        (exit::FAILED, "FAILED"),
        (exit::REFUSED, "REFUSED"),
        (exit::REGISTRY, "REGISTRY"),
        (exit::RESUMABLE, "RESUMABLE"),
        (exit::INTERRUPTED, "INTERRUPTED"),
    ];
    // A new exit code must be named here, and so in the guide's table.
    assert_eq!(named.len(), exit::ALL.len());
    for (code, name) in named {
        let row = format!("| {code} | `{name}` |");
        assert!(guide.contains(&row), "docs/ci/README.md lacks `{row}`");
    }
}
