//! The HTTP client for one registry: `config.json`, sparse index files, publish, download.
//!
//! Index reads revalidate with `ETag`/`Last-Modified`. [`Freshness::Fresh`] defeats caches for
//! polling after a publish (crates.io's CDN serves index files with `max-age=600`): it sends
//! `Cache-Control: no-cache` and a query string no cache has seen. Publishing never follows a
//! redirect, so the token goes to the API origin from the registry's own `config.json` and
//! nowhere else; index reads follow redirects with reqwest's policy, which drops the
//! `Authorization` header when the host changes.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use convoy_schema::plan::PublishMetadata;
use futures_util::stream::{self, StreamExt};
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CACHE_CONTROL, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, RETRY_AFTER,
};
use reqwest::{StatusCode, Url};
use tokio::sync::Mutex;

use crate::auth::{check_transport, checked_url, Token};
use crate::body::publish_body;
use crate::clock::{Clock, SystemClock};
use crate::config::RegistryConfig;
use crate::error::{classify_response, error_detail, retry_time, RegistryError};

/// The most a `config.json` may be: real ones are a few hundred bytes.
pub const CONFIG_LIMIT: u64 = 1 << 20;
/// The most one index file may be: crates.io's largest are a few MiB.
pub const INDEX_FILE_LIMIT: u64 = 64 << 20;
/// The most of an error or publish response that is read; the rest is not needed to classify it.
pub const RESPONSE_LIMIT: u64 = 64 << 10;
/// How long one index read waits out the registry's 429s before giving the error to the caller.
pub const INDEX_RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(120);
use crate::index::{index_path, is_crate_name, parse_index_file, IndexEntry};

/// How to connect.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Allow plain HTTP to hosts other than this machine.
    pub allow_http: bool,
    /// Token for reading an index whose `config.json` says `auth-required`.
    pub read_token: Option<Token>,
}

/// Whether an index read may be answered from a cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// Revalidate what this client has seen (`If-None-Match`); intermediaries may answer.
    Revalidate,
    /// Defeat every cache on the way: for polling until a publish is visible.
    Fresh,
}

/// Warnings a successful publish returned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishWarnings {
    /// Categories the registry ignored.
    pub invalid_categories: Vec<String>,
    /// Badges the registry ignored.
    pub invalid_badges: Vec<String>,
    /// Anything else it said.
    pub other: Vec<String>,
}

impl PublishWarnings {
    /// At most this many warnings are kept, each at most this many characters: a registry's
    /// answer is not trusted to be small.
    const LIMIT: (usize, usize) = (32, 500);

    /// Every warning as one line, e.g. "category `x` is not one the registry knows; ignored".
    pub fn messages(&self) -> Vec<String> {
        let (count, chars) = Self::LIMIT;
        let quoted = |what: &str, items: &[String]| -> Vec<String> {
            items
                .iter()
                .map(|item| format!("{what} `{item}` is not one the registry knows; ignored"))
                .collect()
        };
        quoted("category", &self.invalid_categories)
            .into_iter()
            .chain(quoted("badge", &self.invalid_badges))
            .chain(self.other.iter().cloned())
            .take(count)
            .map(|line| {
                let line = line.replace(['\n', '\r'], " ");
                match line.char_indices().nth(chars) {
                    Some((cut, _)) => format!("{}…", &line[..cut]),
                    None => line,
                }
            })
            .collect()
    }

    fn redacted(self, secrets: &[&Token]) -> Self {
        let scrub = |items: Vec<String>| -> Vec<String> {
            items
                .iter()
                .map(|i| crate::auth::redact(i, secrets))
                .collect()
        };
        Self {
            invalid_categories: scrub(self.invalid_categories),
            invalid_badges: scrub(self.invalid_badges),
            other: scrub(self.other),
        }
    }
}

/// A crate's index entries; `None` when the registry has no such crate.
pub type IndexFile = Option<Vec<IndexEntry>>;

#[derive(Debug, Clone)]
struct CachedFile {
    etag: Option<String>,
    last_modified: Option<String>,
    entries: Option<Vec<IndexEntry>>,
}

/// A connection to one sparse registry. Every URL it requests was parsed once with the HTTP
/// client's own parser and passed the transport check; every answer body is read up to a limit
/// for its kind; every error it returns has the tokens it holds redacted.
pub struct RegistryClient {
    http: reqwest::Client,
    publisher: reqwest::Client,
    index_url: Url,
    api: Option<Url>,
    config: RegistryConfig,
    options: ClientOptions,
    cache: Mutex<HashMap<String, CachedFile>>,
    fresh_counter: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryClient")
            .field("index_url", &self.index_url.as_str())
            .field("api", &self.api.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

/// What to do with a body longer than its limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Overflow {
    /// The answer is useless when cut: refuse it.
    Refuse,
    /// Only its start is quoted or classified: keep the first `limit` bytes.
    Truncate,
}

/// Reads at most `limit` bytes of `response`'s body, never allocating more than that (a
/// `Content-Length` over the limit is refused before anything is read).
pub(crate) async fn read_body(
    mut response: reqwest::Response,
    limit: u64,
    overflow: Overflow,
    url: &Url,
) -> Result<Vec<u8>, RegistryError> {
    let too_large = || RegistryError::Protocol {
        detail: format!(
            "{url}: the answer is larger than {limit} bytes, more than such an answer can be"
        ),
    };
    if overflow == Overflow::Refuse && response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| network(&e))? {
        let room = usize::try_from(limit).unwrap_or(usize::MAX) - body.len();
        if chunk.len() > room {
            if overflow == Overflow::Refuse {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of a failed answer, for quoting: its first [`RESPONSE_LIMIT`] bytes as text.
async fn error_text(response: reqwest::Response, url: &Url) -> String {
    match read_body(response, RESPONSE_LIMIT, Overflow::Truncate, url).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => error.to_string(),
    }
}

/// What an upload's answer said: its status, `Retry-After` and the start of its body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<String>,
    pub(crate) body: String,
}

/// Sends an upload that carries a token (`what` names its endpoint in messages): a failure to
/// connect is a network error (nothing was sent), any later failure leaves the outcome unknown
/// (to be settled by reading, never by sending again), and a redirect is refused, not followed
/// with the token.
pub(crate) async fn send_upload(
    request: reqwest::RequestBuilder,
    url: &Url,
    what: &str,
) -> Result<Answer, RegistryError> {
    let response = request.send().await.map_err(|e| {
        if e.is_connect() {
            network(&e)
        } else {
            RegistryError::OutcomeUnknown {
                detail: describe(&e),
            }
        }
    })?;
    let status = response.status().as_u16();
    let retry_after = header(response.headers(), RETRY_AFTER);
    let body = read_body(response, RESPONSE_LIMIT, Overflow::Truncate, url)
        .await
        .map_err(|e| RegistryError::OutcomeUnknown {
            detail: e.to_string(),
        })?;
    if (300..400).contains(&status) {
        return Err(RegistryError::Client {
            status,
            detail: format!("{what} answered with a redirect, which is not followed with a token"),
        });
    }
    Ok(Answer {
        status,
        retry_after,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// The first `limit` bytes of a response's body as text (for small JSON answers and errors).
pub(crate) async fn bounded_text(
    response: reqwest::Response,
    limit: u64,
) -> Result<String, RegistryError> {
    let url = response.url().clone();
    let body = read_body(response, limit, Overflow::Truncate, &url).await?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// An HTTP client as Convoy makes them: its user agent, a 10 s connect timeout, `timeout` for
/// the whole request, and `policy` for redirects.
pub(crate) fn http_client(
    policy: reqwest::redirect::Policy,
    timeout: Duration,
) -> Result<reqwest::Client, RegistryError> {
    reqwest::Client::builder()
        .user_agent(concat!("convoy/", env!("CARGO_PKG_VERSION")))
        .redirect(policy)
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| RegistryError::Protocol {
            detail: describe(&e),
        })
}

/// Reads follow at most 4 redirects, each judged by the same transport rule as the URLs Convoy
/// starts from.
pub(crate) fn read_redirects(allow_http: bool) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > 4 {
            attempt.error("more than 4 redirects")
        } else if check_transport(attempt.url(), allow_http).is_err() {
            attempt.error("redirect to plain HTTP on another machine refused")
        } else {
            attempt.follow()
        }
    })
}

pub(crate) fn network(error: &reqwest::Error) -> RegistryError {
    RegistryError::Network {
        detail: describe(error),
    }
}

/// reqwest's message with its causes, which say what actually failed.
pub(crate) fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(crate) fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

impl RegistryClient {
    /// Connects to the sparse index at `index` (`sparse+http(s)://…/`) and reads its
    /// `config.json`.
    pub async fn connect(index: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        let mut client = Self::unread(index, options)?;
        client.config = client
            .read_config()
            .await
            .map_err(|e| client.scrub(e, None))?;
        if let Some(api) = &client.config.api {
            client.api = Some(checked_url(api, client.options.allow_http)?);
        }
        Ok(client)
    }

    /// A client for the sparse index at `index` that has not read its `config.json`, for a
    /// run that sends nothing to this registry (a release of Python packages only): nothing
    /// is asked of the registry, and it has no publish API.
    pub fn unread(index: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        if !index.starts_with("sparse+") {
            return Err(RegistryError::Protocol {
                detail: format!("`{index}` is not a sparse index (sparse+https://…/); git indexes are not supported"),
            });
        }
        let mut index_url = checked_url(index, options.allow_http)?;
        if !index_url.path().ends_with('/') {
            index_url.set_path(&format!("{}/", index_url.path()));
        }
        let timeout = Duration::from_secs(60);
        let http = http_client(read_redirects(options.allow_http), timeout)?;
        // Publishing never follows a redirect: the token goes to config.json's API and nowhere
        // else; a 3xx answer is classified below.
        let publisher = http_client(reqwest::redirect::Policy::none(), timeout)?;
        Ok(Self {
            http,
            publisher,
            index_url,
            api: None,
            config: RegistryConfig {
                dl: String::new(),
                api: None,
                auth_required: false,
            },
            options,
            cache: Mutex::new(HashMap::new()),
            fresh_counter: AtomicU64::new(0),
            clock: Arc::new(SystemClock),
        })
    }

    /// The same client timing its waits (429s on index reads) by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// `error` with every token this client holds (and `extra`) redacted.
    fn scrub(&self, error: RegistryError, extra: Option<&Token>) -> RegistryError {
        let secrets: Vec<&Token> = self.options.read_token.iter().chain(extra).collect();
        error.redacted(&secrets)
    }

    async fn read_config(&self) -> Result<RegistryConfig, RegistryError> {
        let url = self.join(&self.index_url, "config.json")?;
        let mut response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| network(&e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            if let Some(token) = &self.options.read_token {
                response = self
                    .http
                    .get(url.clone())
                    .header(AUTHORIZATION, token.expose())
                    .send()
                    .await
                    .map_err(|e| network(&e))?;
            }
        }
        let body = self.success_body(response, &url, CONFIG_LIMIT).await?;
        serde_json::from_slice(&body).map_err(|e| RegistryError::Protocol {
            detail: format!("{url} is not a registry config.json: {e}"),
        })
    }

    /// `base` with `/`-separated `path` appended segment by segment (each percent-encoded), so
    /// nothing in `path` can leave `base`.
    fn join(&self, base: &Url, path: &str) -> Result<Url, RegistryError> {
        let mut url = base.clone();
        url.path_segments_mut()
            .map_err(|()| RegistryError::Protocol {
                detail: format!("{base} cannot be a base URL"),
            })?
            .pop_if_empty()
            .extend(path.split('/'));
        Ok(url)
    }

    /// The publish API's base URL, when `config.json` names one; without it the registry accepts
    /// no publishes.
    pub fn api(&self) -> Option<&Url> {
        self.api.as_ref()
    }

    /// The registry's `config.json`.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The index root URL (without `sparse+`, with a trailing slash).
    pub fn index_url(&self) -> &str {
        self.index_url.as_str()
    }

    /// The entries of `name`'s index file; `None` when the registry has no such crate. A 429 is
    /// waited out (by its `Retry-After`, on this client's clock) for up to
    /// [`INDEX_RATE_LIMIT_PATIENCE`]; after that the caller gets [`RegistryError::RateLimited`].
    pub async fn index_file(
        &self,
        name: &str,
        freshness: Freshness,
    ) -> Result<IndexFile, RegistryError> {
        let give_up = self.clock.now() + INDEX_RATE_LIMIT_PATIENCE;
        loop {
            match self.index_file_once(name, freshness).await {
                Err(RegistryError::RateLimited { retry_at, detail }) => {
                    let now = self.clock.now();
                    let at = retry_at.unwrap_or(now + Duration::from_secs(5));
                    if at > give_up {
                        return Err(
                            self.scrub(RegistryError::RateLimited { retry_at, detail }, None)
                        );
                    }
                    self.clock
                        .sleep(at.duration_since(now).unwrap_or_default())
                        .await;
                }
                other => return other.map_err(|e| self.scrub(e, None)),
            }
        }
    }

    async fn index_file_once(
        &self,
        name: &str,
        freshness: Freshness,
    ) -> Result<IndexFile, RegistryError> {
        if !is_crate_name(name) {
            return Err(RegistryError::Protocol {
                detail: format!("`{name}` is not a crate name (ASCII letters, digits, `-`, `_`)"),
            });
        }
        let path = index_path(name);
        let mut url = self.join(&self.index_url, &path)?;
        let mut request_headers = HeaderMap::new();
        let cached = self.cache.lock().await.get(&path).cloned();
        match freshness {
            Freshness::Fresh => {
                let n = self.fresh_counter.fetch_add(1, Ordering::Relaxed);
                url.set_query(Some(&format!("convoy-fresh={n}")));
                request_headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            }
            Freshness::Revalidate => {
                if let Some(cached) = &cached {
                    if let Some(etag) = cached
                        .etag
                        .as_deref()
                        .and_then(|v| HeaderValue::from_str(v).ok())
                    {
                        request_headers.insert(IF_NONE_MATCH, etag);
                    } else if let Some(date) = cached
                        .last_modified
                        .as_deref()
                        .and_then(|v| HeaderValue::from_str(v).ok())
                    {
                        request_headers.insert(IF_MODIFIED_SINCE, date);
                    }
                }
            }
        }
        if self.config.auth_required {
            let token = self
                .options
                .read_token
                .as_ref()
                .ok_or_else(|| RegistryError::Auth {
                    status: 401,
                    detail: "the registry requires a token to read its index, and none is set"
                        .to_owned(),
                    trusted_publishing_only: false,
                })?;
            let value = HeaderValue::from_str(token.expose()).map_err(|_| RegistryError::Auth {
                status: 401,
                detail: "the read token contains characters a header cannot carry".to_owned(),
                trusted_publishing_only: false,
            })?;
            request_headers.insert(AUTHORIZATION, value);
        }
        let response = self
            .http
            .get(url.clone())
            .headers(request_headers)
            .send()
            .await
            .map_err(|e| network(&e))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED {
            if let Some(cached) = cached {
                return Ok(cached.entries);
            }
        }
        let etag = header(response.headers(), ETAG);
        let last_modified = header(response.headers(), LAST_MODIFIED);
        let entries = match status.as_u16() {
            200 => {
                let body = read_body(response, INDEX_FILE_LIMIT, Overflow::Refuse, &url).await?;
                let text = String::from_utf8(body).map_err(|_| RegistryError::Protocol {
                    detail: format!("{url}: the index file is not UTF-8"),
                })?;
                Some(
                    parse_index_file(&text).map_err(|e| RegistryError::Protocol {
                        detail: format!("{url}: {e}"),
                    })?,
                )
            }
            404 | 410 | 451 => None,
            _ => {
                let retry_after = header(response.headers(), RETRY_AFTER);
                let text = error_text(response, &url).await;
                return Err(read_failure(
                    status,
                    &text,
                    &url,
                    retry_after.as_deref(),
                    self.clock.now(),
                ));
            }
        };
        self.cache.lock().await.insert(
            path,
            CachedFile {
                etag,
                last_modified,
                entries: entries.clone(),
            },
        );
        Ok(entries)
    }

    /// Index files of many crates, at most `concurrency` requests at a time.
    pub async fn index_files(
        &self,
        names: &[String],
        concurrency: usize,
        freshness: Freshness,
    ) -> Result<BTreeMap<String, IndexFile>, RegistryError> {
        let results: Vec<(String, Result<IndexFile, RegistryError>)> =
            stream::iter(names.iter().cloned())
                .map(|name| async move {
                    let result = self.index_file(&name, freshness).await;
                    (name, result)
                })
                .buffer_unordered(concurrency.max(1))
                .collect()
                .await;
        let mut files = BTreeMap::new();
        for (name, result) in results {
            files.insert(name, result?);
        }
        Ok(files)
    }

    /// Uploads a crate with `PUT {api}/api/v1/crates/new`.
    pub async fn publish(
        &self,
        token: &Token,
        metadata: &PublishMetadata,
        crate_bytes: &[u8],
        now: SystemTime,
    ) -> Result<PublishWarnings, RegistryError> {
        match self.publish_once(token, metadata, crate_bytes, now).await {
            // What the registry says goes to the terminal and the journal: without the token.
            Ok(warnings) => Ok(warnings.redacted(&[token])),
            Err(e) => Err(self.scrub(e, Some(token))),
        }
    }

    async fn publish_once(
        &self,
        token: &Token,
        metadata: &PublishMetadata,
        crate_bytes: &[u8],
        now: SystemTime,
    ) -> Result<PublishWarnings, RegistryError> {
        let api = self.api.as_ref().ok_or_else(|| RegistryError::Protocol {
            detail: "the registry's config.json names no `api`: it does not accept publishes"
                .to_owned(),
        })?;
        let url = self.join(api, "api/v1/crates/new")?;
        let body = publish_body(metadata, crate_bytes).map_err(|e| RegistryError::Client {
            status: 0,
            detail: e.to_string(),
        })?;
        let authorization =
            HeaderValue::from_str(token.expose()).map_err(|_| RegistryError::Auth {
                status: 0,
                detail: "the token contains characters a header cannot carry".to_owned(),
                trusted_publishing_only: false,
            })?;
        let sent = self.clock.now();
        let answer = send_upload(
            self.publisher
                .put(url.clone())
                .header(AUTHORIZATION, authorization)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .header(reqwest::header::ACCEPT, "application/json")
                .body(body),
            &url,
            "the publish API",
        )
        .await?;
        // A relative Retry-After counts from the answer, not from when the request was sent.
        let answered = now + self.clock.now().duration_since(sent).unwrap_or_default();
        classify_response(
            answer.status,
            answer.retry_after.as_deref(),
            &answer.body,
            answered,
        )?;
        Ok(parse_warnings(&answer.body))
    }

    /// The trusted-publishing endpoint, `{api}/api/v1/trusted_publishing/tokens`.
    fn trusted_endpoint(&self) -> Result<Url, RegistryError> {
        let api = self.api.as_ref().ok_or_else(|| RegistryError::Protocol {
            detail: "the registry's config.json names no `api`: it has no trusted publishing"
                .to_owned(),
        })?;
        self.join(api, "api/v1/trusted_publishing/tokens")
    }

    /// Trades a CI identity token (`jwt`) for a short-lived publish token:
    /// `POST {api}/api/v1/trusted_publishing/tokens` with `{"jwt": …}`, answered `{"token": …}`.
    /// Sent to the registry's API origin only, never following a redirect; both tokens are
    /// redacted from any error.
    pub async fn exchange_trusted_token(&self, jwt: &Token) -> Result<Token, RegistryError> {
        let result = async {
            let url = self.trusted_endpoint()?;
            let response = self
                .publisher
                .post(url.clone())
                .header(reqwest::header::ACCEPT, "application/json")
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::json!({ "jwt": jwt.expose() }).to_string())
                .send()
                .await
                .map_err(|e| network(&e))?;
            let status = response.status().as_u16();
            let retry_after = header(response.headers(), RETRY_AFTER);
            let body = bounded_text(response, RESPONSE_LIMIT).await?;
            classify_response(status, retry_after.as_deref(), &body, self.clock.now())?;
            serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("token")?.as_str().map(str::to_owned))
                .filter(|t| !t.is_empty())
                .map(Token::new)
                .ok_or_else(|| RegistryError::Protocol {
                    detail: format!("{url}: the answer has no `token`"),
                })
        }
        .await;
        match result {
            Ok(token) => Ok(token),
            Err(error) => Err(self.scrub(error, Some(jwt))),
        }
    }

    /// Ends a trusted-publishing token early: `DELETE {api}/api/v1/trusted_publishing/tokens`
    /// carrying it as a bearer token.
    pub async fn revoke_trusted_token(&self, token: &Token) -> Result<(), RegistryError> {
        let result = async {
            let url = self.trusted_endpoint()?;
            let response = self
                .publisher
                .delete(url.clone())
                .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
                .send()
                .await
                .map_err(|e| network(&e))?;
            let status = response.status().as_u16();
            let body = bounded_text(response, RESPONSE_LIMIT).await?;
            classify_response(status, None, &body, self.clock.now())
        }
        .await;
        result.map_err(|e| self.scrub(e, Some(token)))
    }

    /// Downloads a `.crate` through the `dl` template, reading at most `max_bytes` (the planned
    /// size: a larger file is not the planned one).
    pub async fn download(
        &self,
        name: &str,
        version: &str,
        cksum: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        self.download_once(name, version, cksum, max_bytes)
            .await
            .map_err(|e| self.scrub(e, None))
    }

    async fn download_once(
        &self,
        name: &str,
        version: &str,
        cksum: &str,
        max_bytes: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = checked_url(
            &self.config.download_url(name, version, cksum),
            self.options.allow_http,
        )?;
        let mut request = self.http.get(url.clone());
        if self.config.auth_required {
            if let Some(token) = &self.options.read_token {
                request = request.header(AUTHORIZATION, token.expose());
            }
        }
        let response = request.send().await.map_err(|e| network(&e))?;
        self.success_body(response, &url, max_bytes).await
    }

    /// The body of a 2xx answer, at most `limit` bytes; any other status as its error class.
    async fn success_body(
        &self,
        response: reqwest::Response,
        url: &Url,
        limit: u64,
    ) -> Result<Vec<u8>, RegistryError> {
        let status = response.status();
        if !status.is_success() {
            let retry_after = header(response.headers(), RETRY_AFTER);
            return Err(read_failure(
                status,
                &error_text(response, url).await,
                url,
                retry_after.as_deref(),
                self.clock.now(),
            ));
        }
        read_body(response, limit, Overflow::Refuse, url).await
    }
}

/// A failed read as an error class; `retry_after` (the header) and `now` time a 429.
fn read_failure(
    status: StatusCode,
    body: &str,
    url: &Url,
    retry_after: Option<&str>,
    now: SystemTime,
) -> RegistryError {
    let detail = format!("{url}: {}", error_detail(body));
    match status.as_u16() {
        401 | 403 => RegistryError::Auth {
            status: status.as_u16(),
            detail,
            trusted_publishing_only: false,
        },
        429 => RegistryError::RateLimited {
            retry_at: retry_time(retry_after, &detail, now),
            detail,
        },
        code @ 500..=599 => RegistryError::Server {
            status: code,
            detail,
        },
        code => RegistryError::Client {
            status: code,
            detail,
        },
    }
}

fn parse_warnings(body: &str) -> PublishWarnings {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let list = |key: &str| -> Vec<String> {
        value
            .get("warnings")
            .and_then(|w| w.get(key))
            .and_then(serde_json::Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    PublishWarnings {
        invalid_categories: list("invalid_categories"),
        invalid_badges: list("invalid_badges"),
        other: list("other"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_warnings_become_bounded_lines_without_the_token() {
        let token = Token::new("cio-secret-token".to_owned());
        let warnings = parse_warnings(
            r#"{"warnings":{"invalid_categories":["gamez"],"invalid_badges":["travis"],"other":["your token cio-secret-token\nis old"]}}"#,
        )
        .redacted(&[&token]);
        let lines = warnings.messages();
        assert_eq!(
            lines,
            [
                "category `gamez` is not one the registry knows; ignored",
                "badge `travis` is not one the registry knows; ignored",
                "your token <redacted> is old",
            ]
        );
        let flood = PublishWarnings {
            other: vec!["x".repeat(10_000); 1000],
            ..PublishWarnings::default()
        };
        let lines = flood.messages();
        assert_eq!(lines.len(), 32);
        assert!(lines.iter().all(|l| l.chars().count() == 501));
    }
}
