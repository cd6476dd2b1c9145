//! The HTTP side of the test registry, on hyper: routes, auth, faults and the request log.
//!
//! Routes (`{base}` is `http://127.0.0.1:<port>`):
//! - `GET {base}/index/config.json`, `GET {base}/index/<index path>`: the sparse index
//! - `PUT {base}/api/v1/crates/new`: publish
//! - `GET {base}/api/v1/crates/{name}/{version}/download`
//! - `DELETE {base}/api/v1/crates/{name}/{version}/yank`, `PUT …/unyank`
//! - with [`TrustedPublishing`]: `GET {base}/oidc/token?audience=…` (a CI's identity-token
//!   service, GitHub's shape), `POST {base}/api/v1/trusted_publishing/tokens` (exchange) and
//!   `DELETE` on the same path (revoke)
//! - the Python index under `{base}/pypi/` (see [`crate::python`])

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use convoy_registry::body::decode_body;
use convoy_registry::clock::{Clock, SystemClock};
use convoy_registry::error::format_date;
use convoy_registry::index::index_path;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use crate::faults::{Bucket, Faults};
use crate::store::{PublishRefusal, Store};

/// How to run a test registry.
#[derive(Clone)]
pub struct Options {
    /// Storage directory.
    pub dir: PathBuf,
    /// Port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
    /// The token publishes (and, with `auth_required`, reads) must carry.
    pub token: String,
    /// The token Python uploads must carry (as `__token__`'s password); `None`: `token`.
    pub python_token: Option<String>,
    /// Whether index reads and downloads need the token too.
    pub auth_required: bool,
    /// Misbehaviour to inject.
    pub faults: Faults,
    /// The server's clock.
    pub clock: Arc<dyn Clock>,
    /// Also append every request to this file, one JSON line each, the token redacted.
    pub request_log: Option<PathBuf>,
    /// Serve trusted publishing (OIDC exchange) as crates.io does.
    pub trusted: Option<TrustedPublishing>,
}

/// Trusted publishing as crates.io serves it: identity tokens from a CI service (here the
/// server itself), exchanged once each for a publish token that expires, can be revoked, and
/// cannot create new crates.
#[derive(Debug, Clone)]
pub struct TrustedPublishing {
    /// The bearer token the identity-token service requires (GitHub's
    /// `ACTIONS_ID_TOKEN_REQUEST_TOKEN`).
    pub request_token: String,
    /// The audience identity tokens must name to be exchanged.
    pub audience: String,
    /// How long an exchanged publish token is valid (crates.io: 30 minutes).
    pub token_lifetime: Duration,
    /// How long a token the Python index mints is valid (PyPI: 15 minutes); its identity
    /// tokens must name the audience `pypi`.
    pub python_token_lifetime: Duration,
}

impl TrustedPublishing {
    /// crates.io's rules, for an API at 127.0.0.1.
    pub fn new(request_token: &str) -> Self {
        Self {
            request_token: request_token.to_owned(),
            audience: "127.0.0.1".to_owned(),
            token_lifetime: Duration::from_secs(30 * 60),
            python_token_lifetime: Duration::from_secs(15 * 60),
        }
    }
}

/// A publish token the exchange issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token.
    pub token: String,
    /// When it was issued, by the server's clock.
    pub issued: SystemTime,
    /// When it was revoked.
    pub revoked: Option<SystemTime>,
}

/// Trusted-publishing state: identity tokens handed out (→ already exchanged?) and publish
/// tokens issued.
#[derive(Debug, Default)]
pub(crate) struct Trust {
    id_tokens: BTreeMap<String, bool>,
    pub(crate) issued: Vec<IssuedToken>,
    /// Upload tokens the Python index minted (PyPI's `mint-token`).
    pub(crate) minted: Vec<IssuedToken>,
}

impl Options {
    /// A well-behaved registry in `dir` on a free port, with the real clock.
    pub fn new(dir: PathBuf, token: &str) -> Self {
        Self {
            dir,
            port: 0,
            token: token.to_owned(),
            python_token: None,
            auth_required: false,
            faults: Faults::default(),
            clock: Arc::new(SystemClock),
            request_log: None,
            trusted: None,
        }
    }
}

/// One request as the server saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedRequest {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// The `Authorization` header, verbatim.
    pub authorization: Option<String>,
    /// Status sent; `None` when the connection was closed without a response.
    pub status: Option<u16>,
    /// For uploads: the metadata JSON sent.
    pub metadata_json: Option<String>,
    /// For uploads that were stored: (name, version, cksum).
    pub stored: Option<(String, String, String)>,
    /// When the server received it, by its clock.
    pub received: SystemTime,
}

pub(crate) struct State {
    pub(crate) store: Store,
    options: Options,
    pub(crate) base_url: String,
    pub(crate) log: Mutex<Vec<LoggedRequest>>,
    log_file: Mutex<Option<std::fs::File>>,
    uploads: AtomicU64,
    new_crates: Mutex<Option<Bucket>>,
    new_versions: Mutex<Option<Bucket>>,
    index_reads: Mutex<Option<Bucket>>,
    /// An upload has been stored (for `index_fails_after_upload`).
    stored_any: std::sync::atomic::AtomicBool,
    /// (lower-cased name, version) → when it becomes visible.
    pending: Mutex<BTreeMap<(String, String), SystemTime>>,
    /// index path → (file before the publish, served until).
    stale: Mutex<BTreeMap<String, (Option<String>, SystemTime)>>,
    pub(crate) trust: Mutex<Trust>,
    pub(crate) python: crate::python::PythonStore,
    /// Python files stored but not yet visible (`index_delay`).
    python_pending: Mutex<crate::python::Pending>,
}

impl State {
    pub(crate) fn new(options: Options, addr: SocketAddr) -> std::io::Result<Self> {
        let now = options.clock.now();
        let log_file = match &options.request_log {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => None,
        };
        Ok(Self {
            log_file: Mutex::new(log_file),
            store: Store::open(&options.dir)?,
            base_url: format!("http://{addr}"),
            log: Mutex::new(Vec::new()),
            uploads: AtomicU64::new(0),
            new_crates: Mutex::new(options.faults.new_crate_limit.map(|l| Bucket::new(l, now))),
            new_versions: Mutex::new(
                options
                    .faults
                    .new_version_limit
                    .map(|l| Bucket::new(l, now)),
            ),
            index_reads: Mutex::new(options.faults.index_limit.map(|l| Bucket::new(l, now))),
            stored_any: std::sync::atomic::AtomicBool::new(false),
            pending: Mutex::new(BTreeMap::new()),
            stale: Mutex::new(BTreeMap::new()),
            trust: Mutex::new(Trust::default()),
            python: crate::python::PythonStore::open(&options.dir)?,
            python_pending: Mutex::new(BTreeMap::new()),
            options,
        })
    }
}

/// The server dropped the connection on purpose (a fault).
#[derive(Debug, thiserror::Error)]
#[error("connection dropped by fault injection")]
pub(crate) struct Dropped;

type Reply = Result<Response<Full<Bytes>>, Dropped>;

fn respond(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

fn error(status: StatusCode, detail: &str) -> Response<Full<Bytes>> {
    respond(status, json!({ "errors": [ { "detail": detail } ] }))
}

/// A 429 with `Retry-After` in whole seconds (at least 1) and crates.io's message.
fn too_many(what: &str, now: SystemTime, retry_at: SystemTime) -> Response<Full<Bytes>> {
    // Whole seconds, rounded up: a client that waits exactly this long finds a token.
    let wait = retry_at
        .duration_since(now)
        .unwrap_or_default()
        .as_secs_f64()
        .ceil()
        .max(1.0) as u64;
    let mut response = error(
        StatusCode::TOO_MANY_REQUESTS,
        &format!(
            "You have published too many {what} in a short period of time. Please try again after {} or email help@crates.io to have your limit increased.",
            format_date(retry_at)
        ),
    );
    if let Ok(value) = hyper::header::HeaderValue::from_str(&wait.to_string()) {
        response.headers_mut().insert("retry-after", value);
    }
    response
}

/// Takes one request from `bucket` (when limited): `Err` with the time to retry when empty.
fn take(bucket: &Mutex<Option<Bucket>>, now: SystemTime) -> Result<(), SystemTime> {
    match bucket.lock() {
        Ok(mut bucket) => bucket.as_mut().map_or(Ok(()), |b| b.take(now)),
        Err(_) => Ok(()),
    }
}

/// The whole request body; a connection that breaks while sending it is a dropped request.
async fn body(request: Request<Incoming>) -> Result<Bytes, Dropped> {
    Ok(request
        .into_body()
        .collect()
        .await
        .map_err(|_| Dropped)?
        .to_bytes())
}

fn header(request: &Request<Incoming>, name: &str) -> Option<String> {
    request
        .headers()
        .get(name)?
        .to_str()
        .ok()
        .map(str::to_owned)
}

pub(crate) async fn handle(state: Arc<State>, request: Request<Incoming>) -> Reply {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let query = request.uri().query().map(str::to_owned);
    let mut entry = LoggedRequest {
        method: method.to_string(),
        path: match &query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        },
        authorization: header(&request, "authorization"),
        status: None,
        metadata_json: None,
        stored: None,
        received: state.options.clock.now(),
    };
    if !state.options.faults.slow.is_zero() {
        state.options.clock.sleep(state.options.faults.slow).await;
    }
    let reply = route(&state, request, &method, &path, query.is_some(), &mut entry).await;
    entry.status = reply.as_ref().ok().map(|r| r.status().as_u16());
    if let Ok(mut file) = state.log_file.lock() {
        if let Some(file) = file.as_mut() {
            use std::io::Write;
            let _ = writeln!(file, "{}", entry.to_json_line());
        }
    }
    if let Ok(mut log) = state.log.lock() {
        log.push(entry);
    }
    reply
}

impl LoggedRequest {
    /// The request as one JSON line for `--request-log`: the `Authorization` header only as
    /// whether one was sent, never its value.
    pub fn to_json_line(&self) -> String {
        json!({
            "method": self.method,
            "path": self.path,
            "authorization": self.authorization.is_some(),
            "status": self.status,
            "upload": self.metadata_json.is_some(),
            "stored": self.stored.as_ref().map(|(name, vers, cksum)| json!({"name": name, "vers": vers, "cksum": cksum})),
            "received_ms": self.received.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64),
        })
        .to_string()
    }
}

async fn route(
    state: &State,
    request: Request<Incoming>,
    method: &Method,
    path: &str,
    has_query: bool,
    entry: &mut LoggedRequest,
) -> Reply {
    let now = state.options.clock.now();
    let credential = credential(state, entry.authorization.as_deref(), now);
    let authorized = credential == Credential::Api;
    let read_allowed = !state.options.auth_required || authorized;
    if let Some(index_file) = path.strip_prefix("/index/") {
        if method != Method::GET {
            return Ok(error(
                StatusCode::METHOD_NOT_ALLOWED,
                "the index is read-only",
            ));
        }
        if index_file == "config.json" {
            return Ok(config(state, read_allowed));
        }
        if !read_allowed {
            return Ok(error(
                StatusCode::UNAUTHORIZED,
                "this registry requires a token to read",
            ));
        }
        let faults = &state.options.faults;
        if let Some(status) = faults.index_fails_after_upload {
            if state.stored_any.load(Ordering::SeqCst) {
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
                return Ok(error(status, "injected failure: the index is down"));
            }
        }
        let now = state.options.clock.now();
        if let Err(retry_at) = take(&state.index_reads, now) {
            return Ok(too_many("index requests", now, retry_at));
        }
        let fresh =
            has_query || header(&request, "cache-control").is_some_and(|v| v.contains("no-cache"));
        return Ok(index(
            state,
            index_file,
            fresh,
            header(&request, "if-none-match"),
        ));
    }
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segments.first() == Some(&"pypi") {
        return python_route(state, request, method, &segments[1..], entry).await;
    }
    match (method, segments.as_slice()) {
        (&Method::PUT, ["api", "v1", "crates", "new"]) => {
            publish(state, request, credential, entry).await
        }
        (&Method::GET, ["oidc", "token"]) if state.options.trusted.is_some() => Ok(id_token(
            state,
            entry.authorization.as_deref(),
            query_audience(&request),
        )),
        (&Method::POST, ["api", "v1", "trusted_publishing", "tokens"])
            if state.options.trusted.is_some() =>
        {
            let body = body(request).await?;
            Ok(exchange(state, &body, now))
        }
        (&Method::DELETE, ["api", "v1", "trusted_publishing", "tokens"])
            if state.options.trusted.is_some() =>
        {
            Ok(revoke(state, entry.authorization.as_deref(), now))
        }
        (&Method::GET, ["api", "v1", "crates", name, version, "download"]) => {
            Ok(if !read_allowed {
                error(
                    StatusCode::UNAUTHORIZED,
                    "this registry requires a token to download",
                )
            } else {
                match state.store.crate_bytes(name, version) {
                    Some(bytes) => Response::new(Full::new(Bytes::from(bytes))),
                    None => error(StatusCode::NOT_FOUND, "no such crate version"),
                }
            })
        }
        (&Method::DELETE, ["api", "v1", "crates", name, version, "yank"]) => {
            Ok(yank(state, authorized, name, version, true))
        }
        (&Method::PUT, ["api", "v1", "crates", name, version, "unyank"]) => {
            Ok(yank(state, authorized, name, version, false))
        }
        _ => Ok(error(StatusCode::NOT_FOUND, "not found")),
    }
}

/// The Python index's routes.
async fn python_route(
    state: &State,
    request: Request<Incoming>,
    method: &Method,
    segments: &[&str],
    entry: &mut LoggedRequest,
) -> Reply {
    let now = state.options.clock.now();
    let not_found = || Ok(crate::python::download(&state.python, "", ""));
    match (method, segments) {
        (&Method::POST, ["legacy"]) => python_upload(state, request, entry).await,
        (&Method::GET, ["_", "oidc", "audience"]) if state.options.trusted.is_some() => Ok(
            respond(StatusCode::OK, json!({ "audience": PYPI_AUDIENCE })),
        ),
        (&Method::POST, ["_", "oidc", "mint-token"]) if state.options.trusted.is_some() => {
            let body = body(request).await?;
            Ok(mint_token(state, &body, now))
        }
        (&Method::GET, ["simple", name]) => {
            let json_wanted = !state.options.faults.python_html_only
                && header(&request, "accept")
                    .is_some_and(|a| a.contains(convoy_registry::python::SIMPLE_JSON));
            let pending = state
                .python_pending
                .lock()
                .map(|p| p.clone())
                .unwrap_or_default();
            let normalized = convoy_registry::python::normalize(name);
            let visible = |filename: &str| {
                pending
                    .get(&(normalized.clone(), filename.to_owned()))
                    .is_none_or(|at| *at <= now)
            };
            Ok(crate::python::page(
                &state.python,
                &state.base_url,
                name,
                json_wanted,
                &visible,
            ))
        }
        (&Method::GET, ["files", name, filename]) => {
            Ok(crate::python::download(&state.python, name, filename))
        }
        _ => not_found(),
    }
}

/// The token an HTTP basic `Authorization` header carries as the password of `__token__`.
/// The audience PyPI's identity tokens must name.
const PYPI_AUDIENCE: &str = "pypi";

/// PyPI's `mint-token`: a known, unused identity token for the audience `pypi` gives an upload
/// token; anything else is 422 with PyPI's error shape.
fn mint_token(state: &State, body: &[u8], now: SystemTime) -> Response<Full<Bytes>> {
    let refuse = |code: &str, description: &str| {
        respond(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({ "message": "Token request failed",
                    "errors": [{ "code": code, "description": description }] }),
        )
    };
    let jwt = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["token"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let Ok(mut trust) = state.trust.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    match trust.id_tokens.get_mut(&format!("{PYPI_AUDIENCE}\n{jwt}")) {
        Some(used) if !*used => *used = true,
        Some(_) => return refuse("invalid-reuse-token", "this token has already been used"),
        None => {
            return refuse(
                "invalid-token",
                "valid token, but no corresponding publisher",
            )
        }
    }
    let n = trust.minted.len() + 1;
    let token = format!(
        "pypi-tp{n}-{}",
        &convoy_schema::digest::sha256_hex(jwt.as_bytes())[..24]
    );
    trust.minted.push(IssuedToken {
        token: token.clone(),
        issued: now,
        revoked: None,
    });
    respond(StatusCode::OK, json!({ "success": true, "token": token }))
}

/// Whether `token` is one the Python index minted and is still valid at `now`.
fn minted_valid(state: &State, token: &str, now: SystemTime) -> bool {
    let (Some(trusted), Ok(trust)) = (&state.options.trusted, state.trust.lock()) else {
        return false;
    };
    trust
        .minted
        .iter()
        .any(|t| t.token == token && now < t.issued + trusted.python_token_lifetime)
}

fn basic_token(authorization: Option<&str>) -> Option<String> {
    use base64::Engine;
    let encoded = authorization?.strip_prefix("Basic ")?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    text.strip_prefix("__token__:").map(str::to_owned)
}

async fn python_upload(
    state: &State,
    request: Request<Incoming>,
    entry: &mut LoggedRequest,
) -> Reply {
    let number = state.uploads.fetch_add(1, Ordering::SeqCst) + 1;
    let faults = &state.options.faults;
    if faults.reset_upload.contains(&number) {
        return Err(Dropped);
    }
    // The whole form is read before anything is answered, as a real index does: a client
    // still sending gets the answer, not a broken pipe.
    let content_type = header(&request, "content-type").unwrap_or_default();
    let body = body(request).await?;
    let forbidden = |body: &str| {
        let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
        *response.status_mut() = StatusCode::FORBIDDEN;
        Ok(response)
    };
    let now = state.options.clock.now();
    match basic_token(entry.authorization.as_deref()) {
        Some(token)
            if token
                == state
                    .options
                    .python_token
                    .as_deref()
                    .unwrap_or(&state.options.token)
                || minted_valid(state, &token, now) => {}
        Some(token) if faults.echo_token => {
            return forbidden(&format!("403 Invalid API Token: `{token}` is not valid"))
        }
        _ => return forbidden("403 Invalid or non-existent authentication information."),
    }
    let form = match crate::python::read_form(&content_type, body).await {
        Ok(form) => form,
        Err(why) => {
            let mut response = Response::new(Full::new(Bytes::from(format!("400 {why}"))));
            *response.status_mut() = StatusCode::BAD_REQUEST;
            return Ok(response);
        }
    };
    entry.metadata_json = Some(serde_json::to_string(&form.fields).unwrap_or_default());
    if let Some(status) = faults.fail_upload.get(&number) {
        let mut response = Response::new(Full::new(Bytes::from("injected failure")));
        *response.status_mut() =
            StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(response);
    }
    let uploaded = crate::python::upload(&state.python, &form, faults.python_not_idempotent);
    if let Some((name, filename, sha256)) = uploaded.stored {
        let now = state.options.clock.now();
        if !faults.index_delay.is_zero() {
            if let Ok(mut pending) = state.python_pending.lock() {
                pending.insert((name.clone(), filename.clone()), now + faults.index_delay);
            }
        }
        entry.stored = Some((name, filename, sha256));
        state.stored_any.store(true, Ordering::SeqCst);
        if faults.drop_upload_response.contains(&number) {
            return Err(Dropped);
        }
    }
    Ok(uploaded.response)
}

/// What an `Authorization` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Credential {
    /// Nothing.
    None,
    /// The registry's API token.
    Api,
    /// A trusted-publishing token, usable.
    Trusted,
    /// A trusted-publishing token, revoked or expired.
    Stale(&'static str),
    /// Anything else.
    Invalid,
}

fn credential(state: &State, authorization: Option<&str>, now: SystemTime) -> Credential {
    let Some(value) = authorization else {
        return Credential::None;
    };
    if value == state.options.token {
        return Credential::Api;
    }
    let (Some(trusted), Ok(trust)) = (&state.options.trusted, state.trust.lock()) else {
        return Credential::Invalid;
    };
    let bare = value.strip_prefix("Bearer ").unwrap_or(value);
    match trust.issued.iter().find(|t| t.token == bare) {
        Some(t) if t.revoked.is_some() => Credential::Stale("revoked"),
        Some(t) if now >= t.issued + trusted.token_lifetime => Credential::Stale("expired"),
        Some(_) => Credential::Trusted,
        None => Credential::Invalid,
    }
}

fn query_audience(request: &Request<Incoming>) -> Option<String> {
    url::form_urlencoded::parse(request.uri().query().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "audience")
        .map(|(_, v)| v.into_owned())
}

/// The CI's identity-token service: a JWT-shaped token for the audience asked for.
fn id_token(
    state: &State,
    authorization: Option<&str>,
    audience: Option<String>,
) -> Response<Full<Bytes>> {
    let Some(trusted) = &state.options.trusted else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    let expected = format!("bearer {}", trusted.request_token);
    if !authorization.is_some_and(|a| a.eq_ignore_ascii_case(&expected)) {
        return error(StatusCode::UNAUTHORIZED, "bad request token");
    }
    let audience = audience.unwrap_or_default();
    let Ok(mut trust) = state.trust.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    let n = trust.id_tokens.len() + 1;
    let jwt = format!(
        "eyJhbGciOiJSUzI1NiJ9.{}.sig{n}",
        convoy_schema::digest::sha256_hex(format!("{audience}/{n}").as_bytes())
    );
    trust.id_tokens.insert(format!("{audience}\n{jwt}"), false);
    respond(StatusCode::OK, json!({ "value": jwt, "count": n }))
}

/// Exchange: a known identity token for the configured audience, once, for a publish token.
fn exchange(state: &State, body: &[u8], now: SystemTime) -> Response<Full<Bytes>> {
    let Some(trusted) = &state.options.trusted else {
        return error(StatusCode::NOT_FOUND, "not found");
    };
    let jwt = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["jwt"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let Ok(mut trust) = state.trust.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    match trust
        .id_tokens
        .get_mut(&format!("{}\n{jwt}", trusted.audience))
    {
        Some(used) if !*used => *used = true,
        Some(_) => return error(StatusCode::UNAUTHORIZED, "this JWT has already been used"),
        None => {
            return error(
                StatusCode::UNAUTHORIZED,
                "invalid JWT (unknown, or for another audience)",
            )
        }
    }
    let n = trust.issued.len() + 1;
    let token = format!(
        "cio_tp_{n}_{}",
        &convoy_schema::digest::sha256_hex(jwt.as_bytes())[..24]
    );
    trust.issued.push(IssuedToken {
        token: token.clone(),
        issued: now,
        revoked: None,
    });
    respond(StatusCode::OK, json!({ "token": token }))
}

fn revoke(state: &State, authorization: Option<&str>, now: SystemTime) -> Response<Full<Bytes>> {
    let bare = authorization
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap_or_default();
    let Ok(mut trust) = state.trust.lock() else {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "poisoned");
    };
    match trust
        .issued
        .iter_mut()
        .find(|t| t.token == bare && t.revoked.is_none())
    {
        Some(token) => {
            token.revoked = Some(now);
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::NO_CONTENT;
            response
        }
        None => error(StatusCode::UNAUTHORIZED, "invalid or revoked token"),
    }
}

fn config(state: &State, read_allowed: bool) -> Response<Full<Bytes>> {
    if !read_allowed {
        return error(
            StatusCode::UNAUTHORIZED,
            "this registry requires a token to read",
        );
    }
    let faults = &state.options.faults;
    let mut body = json!({
        "dl": format!("{}/api/v1/crates", state.base_url),
        "api": faults.api_url.clone().unwrap_or_else(|| state.base_url.clone()),
    });
    if faults.omit_api {
        body.as_object_mut().map(|o| o.remove("api"));
    }
    if state.options.auth_required {
        body["auth-required"] = json!(true);
    }
    respond(StatusCode::OK, body)
}

/// The index file as a reader may see it now: versions still in their visibility delay left
/// out, and during a stale window the file from before the publish unless the read defeats
/// caches.
fn index(
    state: &State,
    index_file: &str,
    fresh: bool,
    if_none_match: Option<String>,
) -> Response<Full<Bytes>> {
    let now = state.options.clock.now();
    let stale = state
        .stale
        .lock()
        .ok()
        .and_then(|s| s.get(index_file).cloned())
        .filter(|(_, until)| now < *until && !fresh);
    let text = match stale {
        Some((before, _)) => before,
        None => state.store.index_text(index_file),
    };
    let pending = state.pending.lock().map(|p| p.clone()).unwrap_or_default();
    let visible: Vec<&str> = text
        .as_deref()
        .unwrap_or("")
        .lines()
        .filter(|line| {
            let Ok(value) = serde_json::from_str::<Value>(line) else {
                return false;
            };
            let key = (
                value["name"].as_str().unwrap_or("").to_ascii_lowercase(),
                value["vers"].as_str().unwrap_or("").to_owned(),
            );
            pending
                .get(&key)
                .is_none_or(|visible_at| *visible_at <= now)
        })
        .collect();
    if visible.is_empty() {
        return error(StatusCode::NOT_FOUND, "no such crate");
    }
    let body = visible.join("\n") + "\n";
    let etag = format!("\"{}\"", convoy_schema::digest::sha256_hex(body.as_bytes()));
    if if_none_match.as_deref() == Some(etag.as_str()) {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        return response;
    }
    let mut response = Response::new(Full::new(Bytes::from(body)));
    if let Ok(value) = hyper::header::HeaderValue::from_str(&etag) {
        response.headers_mut().insert("etag", value);
    }
    response
}

async fn publish(
    state: &State,
    request: Request<Incoming>,
    credential: Credential,
    entry: &mut LoggedRequest,
) -> Reply {
    let number = state.uploads.fetch_add(1, Ordering::SeqCst) + 1;
    let faults = &state.options.faults;
    if faults.reset_upload.contains(&number) {
        return Err(Dropped);
    }
    if entry.authorization.is_none() {
        return Ok(error(
            StatusCode::UNAUTHORIZED,
            "this action requires authentication",
        ));
    }
    if let Credential::Stale(why) = credential {
        return Ok(error(
            StatusCode::FORBIDDEN,
            &format!("authentication failed: the trusted publishing token is {why}"),
        ));
    }
    if !matches!(credential, Credential::Api | Credential::Trusted) {
        let detail = match (&entry.authorization, faults.echo_token) {
            (Some(sent), true) => format!("authentication failed: invalid token `{sent}`"),
            _ => "authentication failed: invalid token".to_owned(),
        };
        return Ok(error(StatusCode::FORBIDDEN, &detail));
    }
    let body = body(request).await?;
    let Some(decoded) = decode_body(&body) else {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            "invalid upload request: the body lengths do not add up",
        ));
    };
    entry.metadata_json = Some(decoded.metadata_json.clone());
    if let Some(status) = faults.fail_upload.get(&number) {
        let status = StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        return Ok(error(status, "injected failure"));
    }
    let name = serde_json::from_str::<Value>(&decoded.metadata_json)
        .ok()
        .and_then(|v| v["name"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let now = state.options.clock.now();
    let new_crate = state.store.entries(&name).is_empty();
    if new_crate && credential == Credential::Trusted {
        return Ok(error(
            StatusCode::FORBIDDEN,
            "Trusted Publishing tokens do not support creating new crates. Publish the crate manually, first",
        ));
    }
    let bucket = if new_crate {
        &state.new_crates
    } else {
        &state.new_versions
    };
    if let Err(retry_at) = take(bucket, now) {
        let what = if new_crate {
            "new crates"
        } else {
            "new versions"
        };
        return Ok(too_many(what, now, retry_at));
    }
    if faults.always_already_exists {
        return Ok(error(
            StatusCode::BAD_REQUEST,
            &format!("crate version `{name}` is already uploaded"),
        ));
    }
    let path = index_path(&name);
    let before = state.store.index_text(&path);
    match state
        .store
        .publish(&decoded.metadata_json, &decoded.crate_bytes)
    {
        Err(refusal @ PublishRefusal::Duplicate(_)) | Err(refusal @ PublishRefusal::Invalid(_)) => {
            Ok(error(StatusCode::BAD_REQUEST, &refusal.to_string()))
        }
        Ok(stored) => {
            if !faults.index_delay.is_zero() {
                if let Ok(mut pending) = state.pending.lock() {
                    pending.insert(
                        (stored.name.to_ascii_lowercase(), stored.vers.clone()),
                        now + faults.index_delay,
                    );
                }
            }
            if !faults.stale_for.is_zero() {
                if let Ok(mut stale) = state.stale.lock() {
                    stale.insert(path, (before, now + faults.stale_for));
                }
            }
            entry.stored = Some((stored.name, stored.vers, stored.cksum));
            state.stored_any.store(true, Ordering::SeqCst);
            if faults.drop_upload_response.contains(&number) {
                return Err(Dropped);
            }
            Ok(respond(
                StatusCode::OK,
                json!({ "warnings": { "invalid_categories": [], "invalid_badges": [], "other": [] } }),
            ))
        }
    }
}

fn yank(
    state: &State,
    authorized: bool,
    name: &str,
    version: &str,
    yanked: bool,
) -> Response<Full<Bytes>> {
    if !authorized {
        return error(
            StatusCode::FORBIDDEN,
            "authentication failed: invalid token",
        );
    }
    if state.store.set_yanked(name, version, yanked) {
        respond(StatusCode::OK, json!({ "ok": true }))
    } else {
        error(StatusCode::NOT_FOUND, "no such crate version")
    }
}

/// Serves `state` on `listener` until `shutdown` fires.
pub(crate) async fn serve(
    state: Arc<State>,
    listener: tokio::net::TcpListener,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut shutdown => return,
        };
        let Ok((stream, _)) = accepted else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(state.clone(), request));
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, service)
                .await;
        });
    }
}
