//! The publish operation, from a parsed command line to an exit code: read and refuse
//! ([`crate::validate`]), read the registry's state, then either show the dry run or run the
//! schedule ([`crate::driver`]) with the credentials ([`crate::credentials`]), journaling every
//! event ([`crate::sink`]). Each step is a short function; every decision is in a pure module.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use convoy_registry::auth::{token_from_env, token_variable, Token};
use convoy_registry::clock::{Clock, SystemClock};
use convoy_registry::python::{Login, PythonIndex, TOKEN_USER};
use convoy_registry::rate::RateLimit;
use convoy_registry::resolve::{python_index, resolve_target, RegistryChoice};
use convoy_registry::trusted::{self, IdTokenSource};
use convoy_registry::{ClientOptions, Freshness, RegistryClient, CRATES_IO};
use convoy_schema::exit;
use convoy_schema::plan::Plan;
use convoy_schema::snapshot::RegistryTarget;

use crate::credentials::{Credentials, Lanes, Lifetime};
use crate::driver::PythonTarget;
use crate::driver::{self, Event, Outcome, Release, RunOptions};
use crate::error::PublishError;
use crate::journal::{self, Journal};
use crate::output::{self, words_duration};
use crate::schedule::pace::Pacing;
use crate::schedule::Settings;
use crate::sink::{EventSink, Format};
use crate::validate::{self, validate, Payload, Refusal, RegistryState, Upload};

/// What the command line asks for.
#[derive(Debug, Clone)]
pub struct Request {
    /// The plan file.
    pub plan: PathBuf,
    /// The bundle directory (default: the plan's).
    pub bundle: Option<PathBuf>,
    /// The target registry.
    pub registry: RegistryChoice,
    /// Plain HTTP to another machine is allowed.
    pub allow_http: bool,
    /// The token variable, if named.
    pub token_env: Option<String>,
    /// Where Python packages go.
    pub python: PythonRequest,
    /// Trusted publishing, if asked for.
    pub trusted: Option<TrustedRequest>,
    /// The digest the plan must have.
    pub expect_digest: Option<String>,
    /// Show the schedule; upload nothing.
    pub dry_run: bool,
    /// Concurrency, poll timeout and start order (the rate limits come from `rate_limits`).
    pub settings: Settings,
    /// Declared new-crate and new-version limits.
    pub rate_limits: (Option<RateLimit>, Option<RateLimit>),
    /// `--max-wait`.
    pub max_wait: Option<Duration>,
    /// The journal (default: the plan's path with `.journal`).
    pub journal: Option<PathBuf>,
    /// How events are shown.
    pub format: Format,
}

/// `--python-index`, `--python-upload`, `--python-username`, `--python-token-env`.
#[derive(Debug, Clone)]
pub struct PythonRequest {
    /// The simple API base.
    pub index: String,
    /// The upload URL.
    pub upload: String,
    /// The user name (default `__token__`: the password is an API token).
    pub username: Option<String>,
    /// The token variable, if named.
    pub token_env: Option<String>,
}

impl Default for PythonRequest {
    fn default() -> Self {
        Self {
            index: convoy_schema::python::PYPI_INDEX.to_owned(),
            upload: convoy_schema::python::PYPI_UPLOAD.to_owned(),
            username: None,
            token_env: None,
        }
    }
}

/// The variables a Python index token (or, with a user name, password) is read from, in order:
/// the named one, else uv's then twine's.
fn python_token_variables(named: Option<&str>, username: Option<&str>) -> Vec<String> {
    match (named, username) {
        (Some(variable), _) => vec![variable.to_owned()],
        (None, Some(user)) if user != TOKEN_USER => {
            vec![
                "UV_PUBLISH_PASSWORD".to_owned(),
                "TWINE_PASSWORD".to_owned(),
            ]
        }
        (None, _) => vec!["UV_PUBLISH_TOKEN".to_owned(), "TWINE_PASSWORD".to_owned()],
    }
}

/// `--trusted-publishing` and its options.
#[derive(Debug, Clone, Default)]
pub struct TrustedRequest {
    /// The variable holding the identity token (instead of GitHub's service).
    pub oidc_token_env: Option<String>,
    /// The variable holding the Python index's identity token (audience `pypi`).
    pub python_oidc_token_env: Option<String>,
    /// The identity token's audience (default: the API's host).
    pub audience: Option<String>,
}

/// Everything checked before the registry is contacted.
struct Checked {
    plan: Plan,
    registry: RegistryTarget,
    uploads: Vec<Upload>,
    variable: Option<String>,
    api_token: Option<Token>,
    id_source: Option<IdTokenSource>,
    python: Option<(PythonTarget, PythonAuth)>,
}

/// How the Python index's uploads are authorized.
enum PythonAuth {
    /// A token (or user and password) from the environment.
    Login(Login),
    /// A token the index mints for an identity token (trusted publishing).
    Trusted(IdTokenSource),
    /// A dry run: nothing is uploaded.
    DryRun,
}

/// Runs the request; the exit code of a run that happened, or why none did.
pub fn publish(request: &Request) -> Result<i32, PublishError> {
    let checked = check(request)?;
    convoy_cli::runtime()?.block_on(run(request, checked))
}

fn check(request: &Request) -> Result<Checked, PublishError> {
    let plan = convoy_cli::read_plan(&request.plan)?;
    let cwd = std::env::current_dir().unwrap_or_default();
    let registry = resolve_target(&request.registry, &cwd)?;
    let bundle_dir = request.bundle.clone().unwrap_or_else(|| {
        request
            .plan
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default()
    });
    let bundle = convoy_cli::read_bundle(&plan, &bundle_dir);
    let uploads = validate(&plan, request.expect_digest.as_deref(), &registry, &bundle)?;
    let env = |name: &str| std::env::var(name).ok();
    let python = python_target(&plan, &uploads, request, &env)?;
    let crates = uploads
        .iter()
        .any(|u| matches!(u.payload, Payload::Crate { .. }));
    let trusted = request.trusted.is_some();
    let variable = token_variable(registry.name.as_deref(), request.token_env.as_deref());
    if variable.is_none() && !trusted && crates {
        return Err(PublishError::TokenVariableUnknown);
    }
    let api_token = variable.as_deref().and_then(|v| token_from_env(v, &env));
    if api_token.is_none() && !trusted && !request.dry_run && crates {
        return Err(PublishError::NoToken {
            variable: variable.unwrap_or_default(),
        });
    }
    // The identity token's source is checked before anything is read or uploaded; the dry run
    // does not need one (it runs where no identity token is offered), nor a release with no
    // crates.
    let id_source = match (&request.trusted, request.dry_run) {
        (Some(trusted), false) if crates => Some(IdTokenSource::from_env(
            trusted.oidc_token_env.as_deref(),
            &env,
            request.allow_http,
        )?),
        _ => None,
    };
    Ok(Checked {
        plan,
        registry,
        uploads,
        variable,
        api_token,
        id_source,
        python,
    })
}

/// The Python index and login of a release with Python packages: the index the command line
/// names must be the plan's; the login is trusted publishing (with `--trusted-publishing`,
/// unless `--python-token-env` names a token), else the token in the environment (a dry run
/// needs neither).
fn python_target(
    plan: &Plan,
    uploads: &[Upload],
    request: &Request,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<(PythonTarget, PythonAuth)>, PublishError> {
    if !uploads
        .iter()
        .any(|u| matches!(u.payload, Payload::Python(_)))
    {
        return Ok(None);
    }
    let python = &request.python;
    let given = python_index(&python.index, request.allow_http)?;
    let planned = plan
        .python
        .as_ref()
        .map(|p| p.index.clone())
        .unwrap_or_default();
    if given != planned {
        return Err(Refusal::OtherRegistry {
            planned: format!("Python index {planned}"),
            given: format!("Python index {given}"),
        }
        .into());
    }
    let trusted = request
        .trusted
        .as_ref()
        .filter(|_| python.token_env.is_none());
    let auth = match (trusted, request.dry_run) {
        (_, true) => PythonAuth::DryRun,
        (Some(trusted), false) => PythonAuth::Trusted(
            IdTokenSource::from_env(
                trusted.python_oidc_token_env.as_deref(),
                env,
                request.allow_http,
            )
            .map_err(PublishError::PythonOidc)?,
        ),
        (None, false) => {
            let variables =
                python_token_variables(python.token_env.as_deref(), python.username.as_deref());
            let token = variables
                .iter()
                .find_map(|v| token_from_env(v, env))
                .ok_or(PublishError::NoPythonToken { variables })?;
            PythonAuth::Login(Login {
                user: python
                    .username
                    .clone()
                    .unwrap_or_else(|| TOKEN_USER.to_owned()),
                password: token,
            })
        }
    };
    let index =
        PythonIndex::new(&given, Some(&python.upload), request.allow_http).map_err(|source| {
            PublishError::Registry {
                index: given.clone(),
                source,
            }
        })?;
    let target = PythonTarget {
        index: Arc::new(index),
    };
    Ok(Some((target, auth)))
}

async fn run(request: &Request, checked: Checked) -> Result<i32, PublishError> {
    let registry_error = |source| PublishError::Registry {
        index: checked.registry.index.clone(),
        source,
    };
    let crates = checked
        .uploads
        .iter()
        .any(|u| matches!(u.payload, Payload::Crate { .. }));
    let client_options = ClientOptions {
        allow_http: request.allow_http,
        read_token: checked.api_token.clone(),
    };
    // A release of Python packages only asks nothing of the Cargo registry.
    let client = if crates {
        RegistryClient::connect(&checked.registry.index, client_options).await
    } else {
        RegistryClient::unread(&checked.registry.index, client_options)
    }
    .map_err(registry_error)?;
    if crates && client.api().is_none() {
        return Err(Refusal::ReadOnlyRegistry {
            index: checked.registry.index.clone(),
        }
        .into());
    }
    let names: Vec<String> = checked
        .uploads
        .iter()
        .filter(|u| matches!(u.payload, Payload::Crate { .. }))
        .map(|u| u.name.clone())
        .collect();
    let files = client
        .index_files(&names, 16, Freshness::Fresh)
        .await
        .map_err(registry_error)?;
    let mut pages = BTreeMap::new();
    if let Some((python, _)) = &checked.python {
        for upload in &checked.uploads {
            if let Payload::Python(project) = &upload.payload {
                let page = python
                    .index
                    .project(&project.project, Freshness::Fresh)
                    .await
                    .map_err(|source| PublishError::Registry {
                        index: python.index.index_url().to_owned(),
                        source,
                    })?;
                pages.insert(upload.name.clone(), page);
            }
        }
    }
    let state = validate::registry_state(&checked.uploads, &files, &pages)?;
    let (new_crates, new_versions) = request.rate_limits;
    let pacing = Pacing::choose(
        checked.registry.name.as_deref() == Some(CRATES_IO),
        new_crates,
        new_versions,
    );
    let options = RunOptions {
        schedule: Settings {
            new_crates: pacing.new_crates.0,
            new_versions: pacing.new_versions.0,
            ..request.settings.clone()
        },
        max_wait: request.max_wait,
        python: checked.python.as_ref().map(|(target, _)| target.clone()),
        ..RunOptions::default()
    };
    let earlier = journal::EarlierRuns::default();
    let release = Release {
        uploads: &checked.uploads,
        initial: &state.initial,
        new_crates: &state.new_crates,
        earlier: &earlier,
    };
    // A dry run without --trusted-publishing plans as if the API token were set.
    let lanes = Lanes {
        api: checked.api_token.is_some() || request.trusted.is_none(),
        trusted: request.trusted.is_some(),
    };
    let expected = release.expected(options.schedule.clone(), &|kind| lanes.of(kind));
    if request.dry_run {
        print!(
            "{}",
            output::dry_run(
                &checked.plan.digest,
                &checked.plan.waves,
                release,
                &expected,
                &pacing,
                lanes
            )
        );
        return Ok(exit::OK);
    }
    if expected.paced_for > Duration::from_secs(60) {
        eprintln!(
            "convoy-publish: paced by the registry's rate limits ({}): expected to take at least {}",
            pacing.source(),
            words_duration(expected.duration)
        );
    }
    execute(request, checked, &client, &state, options).await
}

/// The real run: journal, credentials, the driver, and the token closed however it ends.
async fn execute(
    request: &Request,
    checked: Checked,
    client: &RegistryClient,
    state: &RegistryState,
    mut options: RunOptions,
) -> Result<i32, PublishError> {
    let journal_path = request.journal.clone().unwrap_or_else(|| {
        let mut path = request.plan.clone().into_os_string();
        path.push(".journal");
        PathBuf::from(path)
    });
    let (journal, earlier) = Journal::open(&journal_path)?;
    let earlier = journal::earlier_runs(&earlier, &checked.plan.digest);
    let clock = SystemClock;
    let mut sink = EventSink::new(
        journal,
        &checked.uploads,
        &checked.plan.digest,
        request.format,
        &clock,
    );
    let crates = checked
        .uploads
        .iter()
        .any(|u| matches!(u.payload, Payload::Crate { .. }));
    let credentials = match (crates, checked.id_source, checked.api_token) {
        // A release of Python packages only: no Cargo credential is ever carried.
        (false, _, _) => Credentials::none(),
        (true, Some(source), api_token) => {
            let audience = request
                .trusted
                .as_ref()
                .and_then(|t| t.audience.clone())
                .unwrap_or_else(|| client.api().map(trusted::audience).unwrap_or_default());
            let (credentials, issued) = Credentials::trusted(
                api_token,
                client,
                source,
                audience,
                Lifetime::CRATES_IO,
                clock.now(),
            )
            .await
            .map_err(|source| PublishError::TrustedPublishing { source })?;
            sink.emit(Event::Token(issued));
            credentials
        }
        (true, None, Some(token)) => Credentials::api(token),
        (true, None, None) => {
            return Err(PublishError::NoToken {
                variable: checked.variable.unwrap_or_default(),
            })
        }
    };
    let mut credentials = match checked.python {
        Some((target, PythonAuth::Trusted(source))) => {
            let (credentials, issued) = credentials
                .with_python_trusted(target.index, source, clock.now())
                .await
                .map_err(|source| PublishError::PythonTrustedPublishing { source })?;
            sink.emit(Event::Token(issued));
            credentials
        }
        Some((_, PythonAuth::Login(login))) => credentials.with_python(login),
        Some((_, PythonAuth::DryRun)) | None => credentials,
    };
    // An identity token is exchanged once: end (resumably) before its token expires.
    options.max_wait = credentials.bound_wait(options.max_wait);
    options.interrupt = Some(crate::signals::interrupt_on_signals());
    let release = Release {
        uploads: &checked.uploads,
        initial: &state.initial,
        new_crates: &state.new_crates,
        earlier: &earlier,
    };
    let mut on_event = |event| sink.emit(event);
    let outcome = driver::run(
        client,
        &mut credentials,
        release,
        &clock,
        &options,
        &mut on_event,
    )
    .await;
    // However the run ended: no trusted-publishing token outlives it.
    for event in credentials.close(client).await {
        sink.emit(Event::Token(event));
    }
    sink.finish();
    report(&outcome, &checked.plan, request.format);
    Ok(outcome.exit_code())
}

fn report(outcome: &Outcome, plan: &Plan, format: Format) {
    if format == Format::Human {
        eprintln!("{}", output::summary(outcome, &plan.digest));
    }
    if let Some(path) = std::env::var_os("GITHUB_STEP_SUMMARY") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(file, "{}", output::step_summary(outcome, &plan.digest));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_python_token_is_read_from_uv_then_twine_and_a_password_likewise() {
        let names = |named, user| python_token_variables(named, user);
        assert_eq!(names(None, None), ["UV_PUBLISH_TOKEN", "TWINE_PASSWORD"]);
        assert_eq!(
            names(None, Some("__token__")),
            ["UV_PUBLISH_TOKEN", "TWINE_PASSWORD"]
        );
        assert_eq!(
            names(None, Some("root")),
            ["UV_PUBLISH_PASSWORD", "TWINE_PASSWORD"]
        );
        assert_eq!(names(Some("PYPI_TOKEN"), Some("root")), ["PYPI_TOKEN"]);
    }
}
