//! The HTTP client for one registry: `config.json`, sparse index files, publish, download.
//!
//! Index reads revalidate with `ETag`/`Last-Modified`. [`Freshness::Fresh`] defeats caches for
//! polling after a publish (crates.io's CDN serves index files with `max-age=600`): it sends
//! `Cache-Control: no-cache` and a query string no cache has seen. Publishing never follows a
//! redirect, so the token goes to the API origin from the registry's own `config.json` and
//! nowhere else; index reads follow redirects with reqwest's policy, which drops the
//! `Authorization` header when the host changes.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use convoy_schema::plan::PublishMetadata;
use futures_util::stream::{self, StreamExt};
use reqwest::header::{
    HeaderMap, HeaderValue, AUTHORIZATION, CACHE_CONTROL, ETAG, IF_MODIFIED_SINCE, IF_NONE_MATCH,
    LAST_MODIFIED, RETRY_AFTER,
};
use reqwest::StatusCode;
use tokio::sync::Mutex;

use crate::auth::{check_transport, Token};
use crate::body::publish_body;
use crate::config::RegistryConfig;
use crate::error::{classify_response, error_detail, RegistryError};
use crate::index::{index_path, parse_index_file, IndexEntry};

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

/// A crate's index entries; `None` when the registry has no such crate.
pub type IndexFile = Option<Vec<IndexEntry>>;

#[derive(Debug, Clone)]
struct CachedFile {
    etag: Option<String>,
    last_modified: Option<String>,
    entries: Option<Vec<IndexEntry>>,
}

/// A connection to one sparse registry.
#[derive(Debug)]
pub struct RegistryClient {
    http: reqwest::Client,
    publisher: reqwest::Client,
    index_url: String,
    config: RegistryConfig,
    options: ClientOptions,
    cache: Mutex<HashMap<String, CachedFile>>,
    fresh_counter: AtomicU64,
}

fn network(error: &reqwest::Error) -> RegistryError {
    RegistryError::Network {
        detail: describe(error),
    }
}

/// reqwest's message with its causes, which say what actually failed.
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn header(headers: &HeaderMap, name: reqwest::header::HeaderName) -> Option<String> {
    headers.get(name)?.to_str().ok().map(str::to_owned)
}

impl RegistryClient {
    /// Connects to the sparse index at `index` (`sparse+http(s)://…/`) and reads its
    /// `config.json`.
    pub async fn connect(index: &str, options: ClientOptions) -> Result<Self, RegistryError> {
        let Some(url) = index.strip_prefix("sparse+") else {
            return Err(RegistryError::Protocol {
                detail: format!("`{index}` is not a sparse index (sparse+https://…/); git indexes are not supported"),
            });
        };
        check_transport(index, options.allow_http)?;
        let index_url = if url.ends_with('/') {
            url.to_owned()
        } else {
            format!("{url}/")
        };
        let build = |redirects: reqwest::redirect::Policy| {
            reqwest::Client::builder()
                .user_agent(concat!("convoy/", env!("CARGO_PKG_VERSION")))
                .redirect(redirects)
                .connect_timeout(Duration::from_secs(10))
                .timeout(Duration::from_secs(60))
                .build()
                .map_err(|e| RegistryError::Protocol {
                    detail: describe(&e),
                })
        };
        let http = build(reqwest::redirect::Policy::limited(5))?;
        let publisher = build(reqwest::redirect::Policy::none())?;
        let mut client = Self {
            http,
            publisher,
            index_url,
            config: RegistryConfig {
                dl: String::new(),
                api: None,
                auth_required: false,
            },
            options,
            cache: Mutex::new(HashMap::new()),
            fresh_counter: AtomicU64::new(0),
        };
        client.config = client.read_config().await?;
        if let Some(api) = &client.config.api {
            check_transport(api, client.options.allow_http)?;
        }
        Ok(client)
    }

    async fn read_config(&self) -> Result<RegistryConfig, RegistryError> {
        let url = format!("{}config.json", self.index_url);
        let mut response = self.http.get(&url).send().await.map_err(|e| network(&e))?;
        if response.status() == StatusCode::UNAUTHORIZED {
            if let Some(token) = &self.options.read_token {
                response = self
                    .http
                    .get(&url)
                    .header(AUTHORIZATION, token.expose())
                    .send()
                    .await
                    .map_err(|e| network(&e))?;
            }
        }
        let status = response.status();
        let body = response.text().await.map_err(|e| network(&e))?;
        if !status.is_success() {
            return Err(read_failure(status, &body, &url));
        }
        serde_json::from_str(&body).map_err(|e| RegistryError::Protocol {
            detail: format!("{url} is not a registry config.json: {e}"),
        })
    }

    /// The registry's `config.json`.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// The index root URL (without `sparse+`, with a trailing slash).
    pub fn index_url(&self) -> &str {
        &self.index_url
    }

    /// The entries of `name`'s index file; `None` when the registry has no such crate.
    pub async fn index_file(
        &self,
        name: &str,
        freshness: Freshness,
    ) -> Result<IndexFile, RegistryError> {
        let path = index_path(name);
        let mut url = format!("{}{path}", self.index_url);
        let mut request_headers = HeaderMap::new();
        let cached = self.cache.lock().await.get(&path).cloned();
        match freshness {
            Freshness::Fresh => {
                let n = self.fresh_counter.fetch_add(1, Ordering::Relaxed);
                url.push_str(&format!("?convoy-fresh={n}"));
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
            .get(&url)
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
        let body = response.text().await.map_err(|e| network(&e))?;
        let entries = match status.as_u16() {
            200 => Some(
                parse_index_file(&body).map_err(|e| RegistryError::Protocol {
                    detail: format!("{url}: {e}"),
                })?,
            ),
            404 | 410 | 451 => None,
            _ => return Err(read_failure(status, &body, &url)),
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
        let api = self
            .config
            .api
            .as_deref()
            .ok_or_else(|| RegistryError::Client {
                status: 0,
                detail: "the registry's config.json names no `api`: it does not accept publishes"
                    .to_owned(),
            })?;
        let url = format!("{}/api/v1/crates/new", api.trim_end_matches('/'));
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
        let response = self
            .publisher
            .put(&url)
            .header(AUTHORIZATION, authorization)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| {
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
        let body = response
            .text()
            .await
            .map_err(|e| RegistryError::OutcomeUnknown {
                detail: describe(&e),
            })?;
        if (300..400).contains(&status) {
            return Err(RegistryError::Client {
                status,
                detail:
                    "the publish API answered with a redirect, which is not followed with a token"
                        .to_owned(),
            });
        }
        classify_response(status, retry_after.as_deref(), &body, now)?;
        Ok(parse_warnings(&body))
    }

    /// Downloads a `.crate` through the `dl` template.
    pub async fn download(
        &self,
        name: &str,
        version: &str,
        cksum: &str,
    ) -> Result<Vec<u8>, RegistryError> {
        let url = self.config.download_url(name, version, cksum);
        check_transport(&url, self.options.allow_http)?;
        let mut request = self.http.get(&url);
        if self.config.auth_required {
            if let Some(token) = &self.options.read_token {
                request = request.header(AUTHORIZATION, token.expose());
            }
        }
        let response = request.send().await.map_err(|e| network(&e))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| network(&e))?;
        if !status.is_success() {
            return Err(read_failure(status, &String::from_utf8_lossy(&bytes), &url));
        }
        Ok(bytes.to_vec())
    }
}

fn read_failure(status: StatusCode, body: &str, url: &str) -> RegistryError {
    let detail = format!("{url}: {}", error_detail(body));
    match status.as_u16() {
        401 | 403 => RegistryError::Auth {
            status: status.as_u16(),
            detail,
            trusted_publishing_only: false,
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
