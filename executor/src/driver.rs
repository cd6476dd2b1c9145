//! The one IO loop that executes the [`Schedule`]: it starts the uploads and index reads the
//! schedule asks for, side by side, reports how each ended, and sleeps until the schedule's next
//! wake-up. Every decision (order, pacing, when to read, when to give up) is the schedule's;
//! everything is timed by a [`Clock`] so tests run it on a manual clock without sleeping.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, SystemTime};

use std::sync::Arc;

use convoy_registry::auth::Token;
use convoy_registry::clock::Clock;
use convoy_registry::python::{Link, Login, PythonIndex};
use convoy_registry::{Freshness, IndexFile, RegistryClient, RegistryError};
use convoy_schema::events::CredentialLane;
use futures_util::stream::{FuturesUnordered, StreamExt};

use crate::credentials::{Credentials, TokenEvent};

pub use crate::release::Release;
use crate::schedule::pace::Estimate;
use crate::schedule::{Kind, ReadOutcome, Schedule, Seen, Settings, State, UploadResult};
use crate::validate::{Payload, PythonUpload, Upload};

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The schedule's settings: concurrency, attempts, poll timeout and budget, starting rate
    /// limits, start order.
    pub schedule: Settings,
    /// End the run (cleanly, resumable) this long after the start: no upload starts and no
    /// confirmation is waited for after it.
    pub max_wait: Option<Duration>,
    /// Without `max_wait`: a registry that asks to wait longer than this before one retry stops
    /// the run (resumable) instead of sleeping unseen.
    pub longest_retry_wait: Duration,
    /// Becomes `true` when the process is asked to stop (a CI cancelling the job): no upload
    /// starts after it, uploads in flight are answered, and the run ends resumably.
    pub interrupt: Option<tokio::sync::watch::Receiver<bool>>,
    /// The Python index and its token, for a release with Python packages.
    pub python: Option<PythonTarget>,
}

/// Where a release's Python packages go (who uploads them is in the run's [`Credentials`]).
#[derive(Clone)]
pub struct PythonTarget {
    /// The index (simple API and upload URL).
    pub index: Arc<PythonIndex>,
}

impl std::fmt::Debug for PythonTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonTarget")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl Default for RunOptions {
    fn default() -> Self {
        Self {
            schedule: Settings::default(),
            max_wait: None,
            longest_retry_wait: Duration::from_secs(3600),
            interrupt: None,
            python: None,
        }
    }
}

/// Something that happened, for progress output and the journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Already visible with the planned cksum before this run uploaded anything.
    AlreadyPresent(String),
    /// Visible with the planned cksum, uploaded by an earlier run of this plan (its journal
    /// says so).
    PublishedEarlier(String),
    /// An upload starts.
    Uploading {
        /// Crate.
        name: String,
        /// 1-based attempt (429s are not attempts).
        attempt: u32,
        /// The credential it carries.
        credential: CredentialLane,
    },
    /// A new crate this run cannot create: it holds only a trusted-publishing token.
    NeedsApiToken(String),
    /// The run's trusted-publishing token changed.
    Token(TokenEvent),
    /// The registry accepted an upload.
    Accepted(String),
    /// The registry accepted an upload with warnings.
    Warnings {
        /// Crate.
        name: String,
        /// One line each.
        warnings: Vec<String>,
    },
    /// An upload will be retried.
    Retrying {
        /// Crate.
        name: String,
        /// Why.
        reason: String,
        /// Not before.
        at: SystemTime,
    },
    /// The registry answered 429: uploads of this kind wait until `until`.
    RateLimited {
        /// Crate.
        name: String,
        /// Which bucket.
        kind: Kind,
        /// Uploads of this kind resume then.
        until: SystemTime,
        /// The refill interval learned so far.
        refill: Option<Duration>,
    },
    /// Whether an upload happened is being settled by reading the index.
    Resolving {
        /// Crate.
        name: String,
        /// Why.
        reason: String,
    },
    /// Visible in the index with the planned cksum.
    Visible(String),
    /// Will not be published by this run.
    Failed {
        /// Crate.
        name: String,
        /// Why.
        reason: String,
    },
    /// The next upload of a kind waits for the registry's limits until `at`.
    Pacing {
        /// The crate that starts next.
        name: String,
        /// When.
        at: SystemTime,
    },
    /// The run stops before it is done; a rerun of the same plan continues after `until`.
    Stopping {
        /// Why.
        reason: String,
        /// Rerun after this.
        until: SystemTime,
    },
    /// The run ended: what it cost in waiting and reading.
    Finished {
        /// How long ready crates waited for nothing but the registry's rate limits.
        paced_for: Duration,
        /// 429 answers to uploads.
        rate_limited: u32,
        /// Index reads made while confirming.
        index_reads: u64,
    },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Uploaded by this run and visible.
    pub published: Vec<String>,
    /// Uploaded by an earlier run of the plan (its journal says so) and visible.
    pub published_earlier: Vec<String>,
    /// Visible before this run, not uploaded by an earlier run of this plan.
    pub already_present: Vec<String>,
    /// Not published, with why.
    pub failed: Vec<(String, String)>,
    /// Stopped before the end (`--max-wait`, or a registry asking for a very long wait): the
    /// time to rerun from.
    pub stopped_until: Option<SystemTime>,
    /// The registry refused the credentials.
    pub auth_failure: Option<String>,
    /// New crates not published because the run holds no API token (their dependents are in
    /// `failed`).
    pub needs_api_token: Vec<String>,
    /// The registry's index could not be read for the whole poll timeout.
    pub registry_failure: Option<String>,
    /// The run was interrupted (a signal) and stopped after the uploads in flight.
    pub interrupted: bool,
    /// How long ready crates waited for nothing but the registry's rate limits.
    pub paced_for: Duration,
    /// 429 answers to uploads.
    pub rate_limited: u32,
    /// Index reads made while confirming.
    pub index_reads: u64,
}

/// A deterministic jitter in [0.5, 1.5) of `base`, from the crate name and attempt.
fn jittered(base: Duration, name: &str, attempt: u32) -> Duration {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in name.bytes().chain(attempt.to_le_bytes()) {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    let factor = 0.5 + (hash % 1000) as f64 / 1000.0;
    base.mul_f64(factor)
}

fn retry_delay(attempt: u32, name: &str) -> Duration {
    let base = Duration::from_secs(1) * 2u32.saturating_pow(attempt.saturating_sub(1)).min(64);
    jittered(base, name, attempt)
}

/// A request that ended.
enum Finished {
    Upload(String, Result<Vec<String>, RegistryError>),
    Read(String, Result<IndexFile, RegistryError>),
    PythonRead(String, Result<Option<Vec<Link>>, RegistryError>),
}

/// Uploads a Python project's files, the sdist first. What the index already serves with the
/// planned bytes is not sent again (an index that is not idempotent refuses a second identical
/// file), and a file under a planned name with other bytes stops the package. An answer lost
/// for one file does not keep the others from being sent; it is settled by reading the index.
async fn upload_python(
    index: &PythonIndex,
    login: &Login,
    python: &PythonUpload,
) -> Result<Vec<String>, RegistryError> {
    let served = index
        .project(&python.project, Freshness::Fresh)
        .await?
        .unwrap_or_default();
    // A conflict anywhere stops the package before any of its files is sent.
    let mut missing = Vec::new();
    for (file, bytes) in &python.files {
        match served.iter().find(|l| l.file.filename == file.filename) {
            Some(link) if link.file.sha256.as_deref() == Some(file.sha256.as_str()) => {}
            Some(link) => {
                return Err(RegistryError::AlreadyExists {
                    detail: format!(
                        "the index serves {} with sha256 {}, not the planned {}",
                        file.filename,
                        link.file.sha256.as_deref().unwrap_or("(not stated)"),
                        file.sha256
                    ),
                })
            }
            None => missing.push((file, bytes)),
        }
    }
    let mut unknown = None;
    for (file, bytes) in missing {
        match index.upload(login, file, bytes, &python.metadata).await {
            Ok(()) => {}
            Err(error @ RegistryError::OutcomeUnknown { .. }) => {
                unknown.get_or_insert(error);
            }
            Err(error) => return Err(unknown.unwrap_or(error)),
        }
    }
    unknown.map_or(Ok(Vec::new()), Err)
}

type Request<'a> = Pin<Box<dyn Future<Output = Finished> + 'a>>;

/// One run's state: the schedule plus what the IO loop keeps around it.
struct Run<'a> {
    client: &'a RegistryClient,
    credentials: &'a mut Credentials,
    clock: &'a dyn Clock,
    options: &'a RunOptions,
    events: &'a mut dyn FnMut(Event),
    by_name: BTreeMap<&'a str, &'a Upload>,
    schedule: Schedule,
    deadline: Option<SystemTime>,
    in_flight: FuturesUnordered<Request<'a>>,
    uploads_in_flight: usize,
    announced: BTreeMap<Kind, (String, SystemTime)>,
    last_read_error: Option<String>,
    stopped_until: Option<SystemTime>,
    auth_failure: Option<String>,
    registry_failure: Option<String>,
    needs_api_token: Vec<String>,
}

impl Outcome {
    /// The exit code of the run: 3 when the registry refused the credentials or could not be
    /// read, else 1 when a crate failed, 130 when interrupted, 4 when stopped resumably, 0.
    pub fn exit_code(&self) -> i32 {
        use convoy_schema::exit;
        if self.auth_failure.is_some() || self.registry_failure.is_some() {
            exit::REGISTRY
        } else if !self.failed.is_empty() {
            exit::FAILED
        } else if self.interrupted {
            exit::INTERRUPTED
        } else if self.stopped_until.is_some() {
            exit::RESUMABLE
        } else {
            exit::OK
        }
    }
}

/// Publishes a release through `client` with `credentials` (which the caller closes, revoking
/// any trusted-publishing token, however the run ends).
pub async fn run(
    client: &RegistryClient,
    credentials: &mut Credentials,
    release: Release<'_>,
    clock: &dyn Clock,
    options: &RunOptions,
    events: &mut dyn FnMut(Event),
) -> Outcome {
    let start = clock.now();
    let schedule = release.schedule(
        options.schedule.clone(),
        &|kind| credentials.lane(kind),
        start,
    );
    let mut run = Run {
        client,
        credentials,
        clock,
        options,
        events,
        by_name: release
            .uploads
            .iter()
            .map(|u| (u.name.as_str(), u))
            .collect(),
        schedule,
        deadline: options.max_wait.and_then(|wait| start.checked_add(wait)),
        in_flight: FuturesUnordered::new(),
        uploads_in_flight: 0,
        announced: BTreeMap::new(),
        last_read_error: None,
        stopped_until: None,
        auth_failure: None,
        registry_failure: None,
        needs_api_token: Vec::new(),
    };
    run.begin(release, start);
    loop {
        let now = clock.now();
        if run.interrupted() {
            run.stop(now, "interrupted".to_owned());
        }
        run.check_deadline(now);
        if !run.stopping() {
            run.start_requests(now).await;
        }
        if run.is_done() {
            break;
        }
        match run.wait().await {
            Some(Finished::Upload(name, result)) => {
                run.upload_finished(name, result);
                run.revoke_retired().await;
            }
            Some(Finished::Read(name, result)) => run.read_finished(name, result),
            Some(Finished::PythonRead(name, result)) => run.python_read_finished(name, result),
            None => {}
        }
    }
    run.outcome(release)
}

impl<'a> Run<'a> {
    /// Records what the index showed before the run and what an earlier run sent.
    fn begin(&mut self, release: Release<'_>, now: SystemTime) {
        let held = release.needs_api_token(&|kind| self.credentials.lane(kind));
        for (name, seen) in release.initial {
            if *seen == Seen::Present {
                (self.events)(
                    if release.earlier.published.contains(name)
                        || release.earlier.in_doubt.contains_key(name)
                    {
                        Event::PublishedEarlier(name.clone())
                    } else {
                        Event::AlreadyPresent(name.clone())
                    },
                );
            }
            if held.contains(name) {
                self.needs_api_token.push(name.clone());
                (self.events)(Event::NeedsApiToken(name.clone()));
                continue;
            }
            if let Some(sent) = release
                .earlier
                .in_doubt
                .get(name)
                .filter(|_| *seen == Seen::Absent)
            {
                // The wait for it to show runs from when it was sent, not from this start.
                self.schedule.sent_by_earlier_run(name, (*sent).min(now));
                (self.events)(Event::Resolving {
                    name: name.clone(),
                    reason: "an earlier run of this plan sent it (journal); the index decides before anything is sent again".to_owned(),
                });
            }
        }
    }

    fn interrupted(&self) -> bool {
        self.options
            .interrupt
            .as_ref()
            .is_some_and(|signal| *signal.borrow())
    }

    fn stopping(&self) -> bool {
        self.stopped_until.is_some()
            || self.auth_failure.is_some()
            || self.registry_failure.is_some()
    }

    fn stop(&mut self, until: SystemTime, reason: String) {
        if self.stopped_until.is_none() {
            self.stopped_until = Some(until);
            (self.events)(Event::Stopping { reason, until });
        }
    }

    /// `--max-wait` ends the run at its deadline, or as soon as nothing can happen before it
    /// (the next upload the registry allows comes later, and nothing is in flight or being
    /// confirmed that could make another crate ready).
    fn check_deadline(&mut self, now: SystemTime) {
        let Some(deadline) = self.deadline else {
            return;
        };
        let next_start = self.schedule.next_start(now);
        if now >= deadline {
            let until = next_start.unwrap_or(now).max(deadline);
            self.stop(until, "--max-wait reached".to_owned());
        } else if let Some(at) = next_start.filter(|at| *at > deadline) {
            let idle = self.in_flight.is_empty()
                && self
                    .schedule
                    .names(|s| matches!(s, State::Confirming { .. } | State::Resolving { .. }))
                    .is_empty();
            if idle {
                self.stop(
                    at,
                    "the registry's rate limits allow the next upload only after --max-wait"
                        .to_owned(),
                );
            }
        }
    }

    /// Starts what the schedule asks for now: uploads and index reads, side by side.
    async fn start_requests(&mut self, now: SystemTime) {
        let actions = self.schedule.actions(now);
        for name in actions.uploads {
            let Some(upload) = self.by_name.get(name.as_str()).copied() else {
                continue;
            };
            if let Payload::Python(python) = &upload.payload {
                let Some(target) = self.options.python.clone() else {
                    self.uploads_in_flight += 1;
                    self.upload_finished(
                        name,
                        Err(RegistryError::Protocol {
                            detail: "no Python index was given for this run".to_owned(),
                        }),
                    );
                    continue;
                };
                (self.events)(Event::Uploading {
                    name: name.clone(),
                    attempt: self.schedule.attempts(&name),
                    credential: self.credentials.python_lane(),
                });
                self.uploads_in_flight += 1;
                // A minted token due for replacement is replaced here, before the upload leaves.
                let login = match self.credentials.python_login(now).await {
                    Ok((login, event)) => {
                        if let Some(event) = event {
                            (self.events)(Event::Token(event));
                        }
                        login
                    }
                    Err(error) => {
                        self.upload_finished(name, Err(error));
                        continue;
                    }
                };
                self.in_flight.push(Box::pin(async move {
                    let result = upload_python(&target.index, &login, python).await;
                    Finished::Upload(name, result)
                }));
                continue;
            }
            let Payload::Crate {
                bytes, metadata, ..
            } = &upload.payload
            else {
                continue;
            };
            let Some(credential) = self.credentials.lane(self.kind(&name)) else {
                continue;
            };
            (self.events)(Event::Uploading {
                name: name.clone(),
                attempt: self.schedule.attempts(&name),
                credential,
            });
            self.uploads_in_flight += 1;
            // A trusted token due for replacement is replaced here, before the upload leaves.
            let token: Arc<Token> = match self.credentials.token(credential, self.client, now).await
            {
                Ok((token, event)) => {
                    if let Some(event) = event {
                        (self.events)(Event::Token(event));
                    }
                    token
                }
                Err(error) => {
                    self.upload_finished(name, Err(error));
                    continue;
                }
            };
            let client = self.client;
            self.in_flight.push(Box::pin(async move {
                let result = client
                    .publish(&token, metadata, bytes, now)
                    .await
                    .map(|warnings| warnings.messages());
                Finished::Upload(name, result)
            }));
        }
        for name in actions.reads {
            if let (Some(Payload::Python(python)), Some(target)) = (
                self.by_name.get(name.as_str()).map(|u| &u.payload),
                self.options.python.clone(),
            ) {
                let project = python.project.clone();
                self.in_flight.push(Box::pin(async move {
                    let result = target.index.project(&project, Freshness::Fresh).await;
                    Finished::PythonRead(name, result)
                }));
                continue;
            }
            let client = self.client;
            self.in_flight.push(Box::pin(async move {
                let result = client.index_file(&name, Freshness::Fresh).await;
                Finished::Read(name, result)
            }));
        }
        self.announce_pacing(&actions.held);
    }

    /// Revokes replaced trusted tokens that no upload carries any more.
    async fn revoke_retired(&mut self) {
        for event in self.credentials.revoke_retired(self.client).await {
            (self.events)(Event::Token(event));
        }
    }

    /// Says when the next upload of each kind may start, once per change.
    fn announce_pacing(&mut self, held: &[(String, Option<SystemTime>)]) {
        let mut heads: BTreeMap<Kind, (String, SystemTime)> = BTreeMap::new();
        for (name, at) in held {
            let (Some(at), Some(upload)) = (at, self.by_name.get(name.as_str())) else {
                continue;
            };
            let kind = self.kind(&upload.name);
            heads.entry(kind).or_insert_with(|| (name.clone(), *at));
        }
        for (kind, head) in heads {
            if self.announced.get(&kind) != Some(&head) {
                (self.events)(Event::Pacing {
                    name: head.0.clone(),
                    at: head.1,
                });
                self.announced.insert(kind, head);
            }
        }
    }

    fn kind(&self, name: &str) -> Kind {
        self.schedule.kind(name).unwrap_or(Kind::NewVersion)
    }

    fn is_done(&self) -> bool {
        if self.uploads_in_flight > 0 {
            return false;
        }
        // Reads in flight change nothing once the run stops; they are dropped.
        self.stopping()
            || (self.in_flight.is_empty()
                && (self.schedule.is_finished() || self.schedule.is_still()))
    }

    /// Waits for a request to end or for the schedule's next wake-up (or the deadline),
    /// whichever comes first.
    async fn wait(&mut self) -> Option<Finished> {
        let now = self.clock.now();
        let wake = if self.stopping() {
            None
        } else {
            // With a request in flight, the deadline is acted on when it answers.
            let deadline = self.deadline.filter(|_| self.in_flight.is_empty());
            [self.schedule.next_wake(now), deadline]
                .into_iter()
                .flatten()
                .min()
        };
        let pause = wake
            .and_then(|at| at.duration_since(now).ok())
            .unwrap_or(Duration::ZERO);
        // An interrupt ends a wait at once (once stopping, only answers are waited for).
        let mut signal = self.options.interrupt.clone().filter(|_| !self.stopping());
        let interrupted = async move {
            match signal.as_mut() {
                Some(signal) => {
                    if signal.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        };
        match (self.in_flight.is_empty(), wake) {
            (true, _) => tokio::select! {
                () = self.clock.sleep(pause.max(Duration::from_millis(1))) => None,
                () = interrupted => None,
            },
            (false, None) => tokio::select! {
                finished = self.in_flight.next() => finished,
                () = interrupted => None,
            },
            (false, Some(_)) => tokio::select! {
                // Answers first: on a manual clock, sleeping is immediate.
                biased;
                finished = self.in_flight.next() => finished,
                () = self.clock.sleep(pause) => None,
                () = interrupted => None,
            },
        }
    }

    /// Records how an upload ended.
    fn upload_finished(&mut self, name: String, result: Result<Vec<String>, RegistryError>) {
        self.uploads_in_flight = self.uploads_in_flight.saturating_sub(1);
        let now = self.clock.now();
        let attempts = self.schedule.attempts(&name);
        let max_attempts = self.options.schedule.max_attempts;
        let outcome = match result {
            Ok(warnings) => {
                (self.events)(Event::Accepted(name.clone()));
                if !warnings.is_empty() {
                    (self.events)(Event::Warnings {
                        name: name.clone(),
                        warnings,
                    });
                }
                UploadResult::Accepted
            }
            Err(RegistryError::AlreadyExists { detail }) => {
                (self.events)(Event::Resolving {
                    name: name.clone(),
                    reason: detail,
                });
                UploadResult::AlreadyExists
            }
            Err(RegistryError::OutcomeUnknown { detail }) => {
                (self.events)(Event::Resolving {
                    name: name.clone(),
                    reason: detail,
                });
                UploadResult::OutcomeUnknown
            }
            Err(RegistryError::NeedsApiToken { detail, .. }) => {
                // The index said the crate existed, the registry says it is new: the same lane
                // as a new crate, for this crate alone.
                self.needs_api_token.push(name.clone());
                UploadResult::Fatal(format!(
                    "the registry creates this crate only with an API token: {detail}"
                ))
            }
            Err(RegistryError::Auth { detail, .. }) => {
                self.auth_failure = Some(detail.clone());
                UploadResult::Fatal(format!("the registry refused the token: {detail}"))
            }
            Err(RegistryError::RateLimited { retry_at, .. }) => {
                UploadResult::RateLimited { retry_at }
            }
            Err(error) if error.is_retryable() && attempts < max_attempts => {
                let at = now + retry_delay(attempts, &name);
                (self.events)(Event::Retrying {
                    name: name.clone(),
                    reason: error.to_string(),
                    at,
                });
                self.check_wait(&name, at, now);
                UploadResult::Retry { not_before: at }
            }
            Err(error) => UploadResult::Fatal(error.to_string()),
        };
        let kind = self.kind(&name);
        if let Some(until) = self.schedule.upload_finished(&name, outcome, now) {
            let refill = match self.schedule.estimate(kind) {
                Estimate::Learned(refill) => Some(refill),
                _ => None,
            };
            (self.events)(Event::RateLimited {
                name: name.clone(),
                kind,
                until,
                refill,
            });
            self.check_wait(&name, until, now);
        }
        if let Some(State::Failed(reason)) = self.schedule.state(&name) {
            (self.events)(Event::Failed {
                name: name.clone(),
                reason: reason.clone(),
            });
        }
    }

    /// A registry asking for a very long wait stops the run (resumable) rather than sleeping
    /// unseen, unless `--max-wait` bounds the run anyway.
    fn check_wait(&mut self, name: &str, at: SystemTime, now: SystemTime) {
        if self.deadline.is_none()
            && at.duration_since(now).unwrap_or_default() > self.options.longest_retry_wait
        {
            self.stop(
                at,
                format!(
                    "the registry asked to wait more than {} s before retrying `{name}`; pass --max-wait to bound waits explicitly",
                    self.options.longest_retry_wait.as_secs()
                ),
            );
        }
    }

    /// Records what an index read showed.
    fn read_finished(&mut self, name: String, result: Result<IndexFile, RegistryError>) {
        let seen = self.seen_after(
            result,
            |upload, file| match &upload.payload {
                Payload::Crate { sha256, .. } => {
                    crate::validate::seen_in(file.as_deref(), &upload.version, sha256)
                }
                Payload::Python(_) => Seen::Absent,
            },
            &name,
        );
        self.settle_read(name, seen);
    }

    /// Records what a Python project page showed.
    fn python_read_finished(
        &mut self,
        name: String,
        result: Result<Option<Vec<Link>>, RegistryError>,
    ) {
        let seen = self.seen_after(
            result,
            |upload, links| match &upload.payload {
                Payload::Python(python) => crate::validate::python_seen(links.as_deref(), python).0,
                Payload::Crate { .. } => Seen::Absent,
            },
            &name,
        );
        self.settle_read(name, seen);
    }

    /// What a read of `name` showed, by `judge`; `None` when the read failed (remembered for
    /// the report if it never succeeds).
    fn seen_after<T>(
        &mut self,
        result: Result<T, RegistryError>,
        judge: impl Fn(&Upload, &T) -> Seen,
        name: &str,
    ) -> Option<Seen> {
        match result {
            Ok(answer) => {
                self.last_read_error = None;
                self.by_name.get(name).map(|u| judge(u, &answer))
            }
            Err(error) => {
                tracing::warn!(%error, "index read failed; will read again until --poll-timeout");
                self.last_read_error = Some(error.to_string());
                None
            }
        }
    }

    fn settle_read(&mut self, name: String, seen: Option<Seen>) {
        let now = self.clock.now();
        match self.schedule.read_finished(&name, seen, now) {
            ReadOutcome::Waiting => {}
            ReadOutcome::Visible => (self.events)(Event::Visible(name)),
            ReadOutcome::Resend => (self.events)(Event::Retrying {
                name,
                reason: "the index has not shown it for the whole --poll-timeout after an unknown outcome: the upload did not reach the registry, so it is sent again".to_owned(),
                at: now,
            }),
            ReadOutcome::Failed(reason) => {
                (self.events)(Event::Failed { name, reason });
                if let Some(error) = &self.last_read_error {
                    self.registry_failure.get_or_insert_with(|| {
                        format!("the index could not be read for --poll-timeout: {error}")
                    });
                }
            }
        }
    }

    fn outcome(self, release: Release<'_>) -> Outcome {
        let now = self.clock.now();
        let interrupted = self.interrupted();
        let mut outcome = Outcome {
            interrupted,
            stopped_until: self.stopped_until,
            auth_failure: self.auth_failure,
            registry_failure: self.registry_failure,
            needs_api_token: self.needs_api_token,
            paced_for: self.schedule.paced_for(now),
            rate_limited: self.schedule.rate_limited(),
            index_reads: self.schedule.reads(),
            ..Outcome::default()
        };
        let stopped = outcome.stopped_until.is_some()
            || outcome.auth_failure.is_some()
            || outcome.registry_failure.is_some();
        for upload in release.uploads {
            let name = upload.name.clone();
            match self.schedule.state(&upload.name) {
                Some(State::Visible { .. }) if self.schedule.sends(&name) > 0 => {
                    outcome.published.push(name)
                }
                Some(State::Visible { .. })
                    if release.earlier.published.contains(&name)
                        || release.earlier.in_doubt.contains_key(&name) =>
                {
                    outcome.published_earlier.push(name)
                }
                Some(State::Visible { .. }) => outcome.already_present.push(name),
                Some(State::Failed(reason)) => outcome.failed.push((name, reason.clone())),
                _ if stopped => {}
                _ => outcome.failed.push((name, "not published".to_owned())),
            }
        }
        (self.events)(Event::Finished {
            paced_for: outcome.paced_for,
            rate_limited: outcome.rate_limited,
            index_reads: outcome.index_reads,
        });
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_half_to_one_and_a_half() {
        for attempt in 1..20 {
            let d = jittered(Duration::from_secs(10), "crate", attempt);
            assert!(
                d >= Duration::from_secs(5) && d < Duration::from_secs(15),
                "{d:?}"
            );
        }
        assert_ne!(
            jittered(Duration::from_secs(10), "a", 1),
            jittered(Duration::from_secs(10), "b", 1)
        );
        assert!(retry_delay(30, "x") <= Duration::from_secs(96));
    }
}
