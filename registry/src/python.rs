//! A Python package index: the simple API that says which files a project has (PEP 691 JSON,
//! else the PEP 503 HTML page's `#sha256=` fragments), and the legacy upload API every index
//! implements (`multipart/form-data`, HTTP basic auth, as `__token__` for an API token).
//!
//! The pure pieces — reading a project page, the version a file name carries, the upload's
//! form fields, classifying the upload's answer — are unit-tested here; [`PythonIndex`] is the
//! HTTP edge. Its URLs are parsed once by the HTTP client's parser and pass the transport check;
//! every body is read up to a limit; uploads follow no redirect, so the token goes to the upload
//! URL the command line names and nowhere else; every error has the token redacted.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use convoy_schema::python::{CoreMetadata, DistFile, ServedFile};
use reqwest::header::{HeaderValue, ACCEPT, CACHE_CONTROL, RETRY_AFTER};
use reqwest::{StatusCode, Url};

use crate::auth::{check_transport, checked_url, Token};
use crate::client::{
    describe, header, http_client, network, read_body, read_redirects, send_upload, Overflow,
    RESPONSE_LIMIT,
};
use crate::clock::{Clock, SystemClock};
use crate::error::{retry_time, RegistryError};
use crate::Freshness;

/// The most a project page may be: the largest on PyPI (thousands of files) are a few MiB.
pub const PAGE_LIMIT: u64 = 64 << 20;
/// The most a downloaded distribution file may be (PyPI's default upload limit is 100 MB).
pub const FILE_LIMIT: u64 = 1 << 30;
/// The PEP 691 JSON media type.
pub const SIMPLE_JSON: &str = "application/vnd.pypi.simple.v1+json";

/// The user name an API token is sent with (PyPI, TestPyPI, and indexes like them).
pub const TOKEN_USER: &str = "__token__";

/// Who uploads: HTTP basic auth's user and password. For PyPI the user is [`TOKEN_USER`] and
/// the password an API token; a self-hosted index (devpi) takes a user's name and password.
/// The password is a [`Token`]: redacted from everything the index says.
#[derive(Debug, Clone)]
pub struct Login {
    /// The user name (not a secret).
    pub user: String,
    /// The token or password.
    pub password: Token,
}

impl Login {
    /// An API token, sent as [`TOKEN_USER`].
    pub fn token(token: Token) -> Self {
        Self {
            user: TOKEN_USER.to_owned(),
            password: token,
        }
    }
}

/// A file a project page lists, with where to download it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Name, sha256 (when stated) and yanked state.
    pub file: ServedFile,
    /// The download URL, resolved against the page.
    pub url: String,
    /// The index serves the file's core metadata at `{url}.metadata` (PEP 658/714).
    pub core_metadata: bool,
}

/// PEP 503 normalization of a project name: lower case, runs of `-`, `_`, `.` as one `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            separator = true;
            continue;
        }
        if separator && !out.is_empty() {
            out.push('-');
        }
        separator = false;
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// The normalized version a distribution file of `project` carries in its name: an sdist
/// `{name}-{version}.tar.gz` (or `.zip`), a wheel `{name}-{version}-….whl`; `None` for a file
/// that is neither or names another project.
pub fn file_version(project: &str, filename: &str) -> Option<String> {
    let (stem, wheel) = if let Some(stem) = filename.strip_suffix(".whl") {
        (stem, true)
    } else if let Some(stem) = filename
        .strip_suffix(".tar.gz")
        .or_else(|| filename.strip_suffix(".zip"))
    {
        (stem, false)
    } else {
        return None;
    };
    let (name, version) = if wheel {
        let mut parts = stem.split('-');
        (parts.next()?, parts.next()?)
    } else {
        // An sdist's name may hold `-`; the version never does.
        stem.rsplit_once('-')?
    };
    if normalize(name) != normalize(project) {
        return None;
    }
    pep440_rs::Version::from_str(version)
        .ok()
        .map(|v| v.to_string())
}

/// The files of a project page, by version (files whose names carry none are left out).
pub fn by_version(project: &str, links: &[Link]) -> BTreeMap<String, Vec<ServedFile>> {
    let mut versions: BTreeMap<String, Vec<ServedFile>> = BTreeMap::new();
    for link in links {
        if let Some(version) = file_version(project, &link.file.filename) {
            versions.entry(version).or_default().push(link.file.clone());
        }
    }
    for files in versions.values_mut() {
        files.sort();
    }
    versions
}

/// Reads a PEP 691 JSON project page. `page` is its URL, which relative file URLs resolve
/// against.
pub fn parse_json_page(body: &[u8], page: &Url) -> Result<Vec<Link>, String> {
    #[derive(serde::Deserialize)]
    struct Page {
        files: Vec<File>,
    }
    #[derive(serde::Deserialize)]
    struct File {
        filename: String,
        url: String,
        #[serde(default)]
        hashes: BTreeMap<String, String>,
        #[serde(default)]
        yanked: serde_json::Value,
        #[serde(default, rename = "core-metadata", alias = "data-dist-info-metadata")]
        core_metadata: serde_json::Value,
    }
    let page_data: Page = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    page_data
        .files
        .into_iter()
        .map(|f| {
            let url = page
                .join(&f.url)
                .map_err(|e| format!("{}: bad url: {e}", f.filename))?;
            Ok(Link {
                file: ServedFile {
                    sha256: f.hashes.get("sha256").map(|h| h.to_ascii_lowercase()),
                    // `false`, `true` or a reason string (PEP 592).
                    yanked: !matches!(
                        f.yanked,
                        serde_json::Value::Null | serde_json::Value::Bool(false)
                    ),
                    filename: f.filename,
                },
                url: url.into(),
                core_metadata: !matches!(
                    f.core_metadata,
                    serde_json::Value::Null | serde_json::Value::Bool(false)
                ),
            })
        })
        .collect()
}

/// Reads a PEP 503 HTML project page: each `<a href="…#sha256=…">filename</a>`, yanked when
/// the anchor has `data-yanked`.
pub fn parse_html_page(body: &[u8], page: &Url) -> Result<Vec<Link>, String> {
    let text = String::from_utf8_lossy(body);
    let lower = text.to_ascii_lowercase();
    let mut links = Vec::new();
    let mut at = 0;
    while let Some(start) = lower[at..].find("<a ").map(|i| i + at) {
        let Some(tag_end) = lower[start..].find('>').map(|i| i + start) else {
            break;
        };
        let Some(close) = lower[tag_end..].find("</a>").map(|i| i + tag_end) else {
            break;
        };
        let tag = &text[start..tag_end];
        let filename = unescape(text[tag_end + 1..close].trim());
        at = close + 4;
        let Some(href) = attribute(tag, "href") else {
            continue;
        };
        let href = unescape(&href);
        let url = page
            .join(&href)
            .map_err(|e| format!("{filename}: bad href: {e}"))?;
        let sha256 = url
            .fragment()
            .and_then(|f| f.strip_prefix("sha256="))
            .map(str::to_ascii_lowercase);
        let mut without_fragment = url.clone();
        without_fragment.set_fragment(None);
        links.push(Link {
            file: ServedFile {
                filename,
                sha256,
                yanked: tag.to_ascii_lowercase().contains("data-yanked"),
            },
            url: without_fragment.into(),
            core_metadata: attribute(tag, "data-core-metadata")
                .or_else(|| attribute(tag, "data-dist-info-metadata"))
                .is_some_and(|v| v != "false"),
        });
    }
    Ok(links)
}

/// The value of attribute `name` in an HTML start tag, quoted with `"` or `'`.
fn attribute(tag: &str, name: &str) -> Option<String> {
    let lower = tag.to_ascii_lowercase();
    let mut from = 0;
    while let Some(i) = lower[from..].find(name).map(|i| i + from) {
        from = i + name.len();
        let before_ok = lower[..i].ends_with(char::is_whitespace);
        let rest = lower[from..].trim_start();
        if !before_ok || !rest.starts_with('=') {
            continue;
        }
        let offset = tag.len() - rest.len() + 1;
        let value = tag[offset..].trim_start();
        let quote = value.chars().next()?;
        if quote != '"' && quote != '\'' {
            return value.split_whitespace().next().map(str::to_owned);
        }
        let end = value[1..].find(quote)?;
        return Some(value[1..=end].to_owned());
    }
    None
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The form fields of an upload of `file` with `metadata`, in the order twine sends them; the
/// file itself goes last, as `content`.
pub fn upload_fields(file: &DistFile, metadata: &CoreMetadata) -> Vec<(String, String)> {
    let mut fields = vec![
        (":action".to_owned(), "file_upload".to_owned()),
        ("protocol_version".to_owned(), "1".to_owned()),
        ("filetype".to_owned(), file.kind.filetype().to_owned()),
        ("pyversion".to_owned(), file.pyversion.clone()),
        ("sha256_digest".to_owned(), file.sha256.clone()),
    ];
    fields.extend(metadata.upload_fields());
    fields
}

/// Classifies the upload API's answer. PyPI and devpi answer an identical re-upload with 200;
/// another file under an existing name is 400 "File already exists" (PyPI) or 409 (devpi).
pub fn classify_upload(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    now: SystemTime,
) -> Result<(), RegistryError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    let detail: String = body.trim().chars().take(500).collect();
    let lower = detail.to_ascii_lowercase();
    Err(match status {
        409 => RegistryError::AlreadyExists { detail },
        400 if lower.contains("already exists") => RegistryError::AlreadyExists { detail },
        429 => RegistryError::RateLimited {
            retry_at: retry_time(retry_after, &detail, now),
            detail,
        },
        401 | 403 => RegistryError::Auth {
            status,
            trusted_publishing_only: false,
            detail,
        },
        500..=599 => RegistryError::Server { status, detail },
        _ => RegistryError::Client { status, detail },
    })
}

/// Where an index's trusted-publishing endpoints are: `{base}_/oidc/`, the base being the
/// simple API's URL without its last `simple/` segment (`https://pypi.org/simple/` →
/// `https://pypi.org/_/oidc/`, TestPyPI likewise). `None` for an index whose simple API is not
/// at a `simple/` path: it says nowhere where its endpoints would be.
pub fn oidc_base(index: &Url) -> Option<Url> {
    let path = index.path().strip_suffix("/simple/")?;
    let mut base = index.clone();
    base.set_path(&format!("{path}/_/oidc/"));
    base.set_query(None);
    Some(base)
}

/// The audience `GET {oidc}/audience` answers (`{"audience": "pypi"}`).
pub fn parse_audience(body: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("audience")?
        .as_str()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
}

/// The token `POST {oidc}/mint-token` answers with (`{"token": "pypi-…"}`), or why there is
/// none: PyPI answers a refused identity token with 422 and
/// `{"message": …, "errors": [{"code": …, "description": …}]}`, shown as the index says it.
pub fn parse_minted(status: u16, body: &str) -> Result<Token, RegistryError> {
    let value = serde_json::from_str::<serde_json::Value>(body).ok();
    if (200..300).contains(&status) {
        return value
            .as_ref()
            .and_then(|v| v.get("token")?.as_str())
            .filter(|t| !t.is_empty())
            .map(|t| Token::new(t.to_owned()))
            .ok_or_else(|| RegistryError::Protocol {
                detail: "the mint-token answer has no `token`".to_owned(),
            });
    }
    let described: Vec<String> = value
        .as_ref()
        .and_then(|v| v.get("errors")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("error");
            let text = e.get("description").and_then(|d| d.as_str())?;
            Some(format!("{code}: {text}"))
        })
        .collect();
    let detail: String = if described.is_empty() {
        body.trim().to_owned()
    } else {
        described.join("; ")
    }
    .chars()
    .take(500)
    .collect();
    Err(match status {
        429 => RegistryError::RateLimited {
            retry_at: None,
            detail,
        },
        500..=599 => RegistryError::Server { status, detail },
        _ => RegistryError::Auth {
            status,
            trusted_publishing_only: false,
            detail: format!("trusted publishing was refused: {detail}"),
        },
    })
}

/// A connection to one Python index: its simple API, and where uploads go.
pub struct PythonIndex {
    http: reqwest::Client,
    uploader: reqwest::Client,
    index: Url,
    upload: Option<Url>,
    allow_http: bool,
    fresh: AtomicU64,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PythonIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PythonIndex")
            .field("index", &self.index.as_str())
            .field("upload", &self.upload.as_ref().map(Url::as_str))
            .finish_non_exhaustive()
    }
}

impl PythonIndex {
    /// An index whose simple API base is `index` (`…/simple/`) and whose upload URL is `upload`
    /// (none for reading only).
    pub fn new(index: &str, upload: Option<&str>, allow_http: bool) -> Result<Self, RegistryError> {
        let mut index = checked_url(index, allow_http)?;
        if !index.path().ends_with('/') {
            let path = format!("{}/", index.path());
            index.set_path(&path);
        }
        let upload = upload.map(|u| checked_url(u, allow_http)).transpose()?;
        // Pages of large projects take a while; uploads of large wheels longer.
        let http = http_client(read_redirects(allow_http), Duration::from_secs(120))?;
        let uploader = http_client(reqwest::redirect::Policy::none(), Duration::from_secs(600))?;
        Ok(Self {
            http,
            uploader,
            index,
            upload,
            allow_http,
            fresh: AtomicU64::new(0),
            clock: Arc::new(SystemClock),
        })
    }

    /// The same index timing by `clock`.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The simple API base.
    pub fn index_url(&self) -> &str {
        self.index.as_str()
    }

    /// The files the index lists for `project`; `None` when it has no such project. `Fresh`
    /// defeats caches (a CDN in front of the index) with `Cache-Control: no-cache` and a query
    /// string no cache has seen.
    pub async fn project(
        &self,
        project: &str,
        freshness: Freshness,
    ) -> Result<Option<Vec<Link>>, RegistryError> {
        let name = normalize(project);
        let mut page = self.index.clone();
        page.path_segments_mut()
            .map_err(|()| RegistryError::Protocol {
                detail: format!("{} cannot be a base URL", self.index),
            })?
            .pop_if_empty()
            .push(&name)
            .push("");
        let mut url = page.clone();
        let mut request = self.http.get(url.clone()).header(
            ACCEPT,
            HeaderValue::from_str(&format!("{SIMPLE_JSON}, text/html;q=0.01"))
                .unwrap_or(HeaderValue::from_static(SIMPLE_JSON)),
        );
        if freshness == Freshness::Fresh {
            let n = self.fresh.fetch_add(1, Ordering::Relaxed);
            url.set_query(Some(&format!("convoy-fresh={n}")));
            request = self
                .http
                .get(url.clone())
                .header(ACCEPT, format!("{SIMPLE_JSON}, text/html;q=0.01"))
                .header(CACHE_CONTROL, "no-cache");
        }
        let response = request.send().await.map_err(|e| network(&e))?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let json = header(response.headers(), reqwest::header::CONTENT_TYPE)
            .is_some_and(|t| t.starts_with(SIMPLE_JSON) || t.starts_with("application/json"));
        let final_url = response.url().clone();
        if !status.is_success() {
            let retry_after = header(response.headers(), RETRY_AFTER);
            let body = read_body(response, RESPONSE_LIMIT, Overflow::Truncate, &url).await?;
            let detail = format!("{page}: {}", String::from_utf8_lossy(&body).trim());
            return Err(match status.as_u16() {
                429 => RegistryError::RateLimited {
                    retry_at: retry_time(retry_after.as_deref(), &detail, self.clock.now()),
                    detail,
                },
                s @ 500..=599 => RegistryError::Server { status: s, detail },
                s => RegistryError::Client { status: s, detail },
            });
        }
        let body = read_body(response, PAGE_LIMIT, Overflow::Refuse, &url).await?;
        let parsed = if json {
            parse_json_page(&body, &final_url)
        } else {
            parse_html_page(&body, &final_url)
        };
        parsed.map(Some).map_err(|why| RegistryError::Protocol {
            detail: format!("{page} is not a simple API project page: {why}"),
        })
    }

    /// Uploads `file` (its `bytes`) with `metadata` as the legacy upload API takes it, with
    /// `login`. Nothing is retried here: an answer that may have been lost is
    /// [`RegistryError::OutcomeUnknown`], settled by reading the index.
    pub async fn upload(
        &self,
        login: &Login,
        file: &DistFile,
        bytes: &[u8],
        metadata: &CoreMetadata,
    ) -> Result<(), RegistryError> {
        self.upload_once(login, file, bytes, metadata)
            .await
            .map_err(|e| e.redacted(&[&login.password]))
    }

    async fn upload_once(
        &self,
        login: &Login,
        file: &DistFile,
        bytes: &[u8],
        metadata: &CoreMetadata,
    ) -> Result<(), RegistryError> {
        let url = self.upload.clone().ok_or_else(|| RegistryError::Protocol {
            detail: "no upload URL was given for the Python index".to_owned(),
        })?;
        check_transport(&url, self.allow_http)?;
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in upload_fields(file, metadata) {
            form = form.text(name, value);
        }
        let part = reqwest::multipart::Part::bytes(bytes.to_vec())
            .file_name(file.filename.clone())
            .mime_str("application/octet-stream")
            .map_err(|e| RegistryError::Protocol {
                detail: describe(&e),
            })?;
        form = form.part("content", part);
        let answer = send_upload(
            self.uploader
                .post(url.clone())
                .basic_auth(&login.user, Some(login.password.expose()))
                .multipart(form),
            &url,
            "the upload URL",
        )
        .await?;
        classify_upload(
            answer.status,
            answer.retry_after.as_deref(),
            &answer.body,
            self.clock.now(),
        )
    }

    fn oidc_endpoint(&self, name: &str) -> Result<Url, RegistryError> {
        let base = oidc_base(&self.index).ok_or_else(|| RegistryError::Protocol {
            detail: format!(
                "{} is not a `…/simple/` URL, so where its trusted-publishing endpoints are is not known",
                self.index
            ),
        })?;
        base.join(name).map_err(|e| RegistryError::Protocol {
            detail: format!("{base}{name}: {e}"),
        })
    }

    /// The audience the index wants identity tokens for (`GET {oidc}/audience`).
    pub async fn oidc_audience(&self) -> Result<String, RegistryError> {
        let url = self.oidc_endpoint("audience")?;
        let bytes = self.fetch(url.as_str(), RESPONSE_LIMIT).await?;
        parse_audience(&String::from_utf8_lossy(&bytes)).ok_or_else(|| RegistryError::Protocol {
            detail: format!("{url}: the answer has no `audience`"),
        })
    }

    /// Trades the CI's identity token for a short-lived upload token (`POST {oidc}/mint-token`,
    /// sent as [`TOKEN_USER`]). Redirects are not followed: the identity token goes to this
    /// index only. Both tokens are redacted from every error.
    pub async fn mint_token(&self, id_token: &Token) -> Result<Token, RegistryError> {
        let result = async {
            let url = self.oidc_endpoint("mint-token")?;
            check_transport(&url, self.allow_http)?;
            let response = self
                .uploader
                .post(url.clone())
                .header(ACCEPT, "application/json")
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(serde_json::json!({ "token": id_token.expose() }).to_string())
                .send()
                .await
                .map_err(|e| network(&e))?;
            let status = response.status().as_u16();
            let body = read_body(response, RESPONSE_LIMIT, Overflow::Truncate, &url).await?;
            parse_minted(status, &String::from_utf8_lossy(&body))
        }
        .await;
        match result {
            Ok(token) => Ok(token),
            Err(error) => Err(error.redacted(&[id_token])),
        }
    }

    /// The core metadata the index serves for a file (PEP 658: `{url}.metadata`), as text.
    pub async fn core_metadata(&self, url: &str) -> Result<String, RegistryError> {
        let bytes = self.fetch(&format!("{url}.metadata"), 16 << 20).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Downloads a file the index lists, up to `limit` bytes (at most [`FILE_LIMIT`]).
    pub async fn download_limited(&self, url: &str, limit: u64) -> Result<Vec<u8>, RegistryError> {
        self.fetch(url, limit.min(FILE_LIMIT)).await
    }

    /// Downloads a file the index lists, up to [`FILE_LIMIT`] bytes.
    pub async fn download(&self, url: &str) -> Result<Vec<u8>, RegistryError> {
        self.fetch(url, FILE_LIMIT).await
    }

    async fn fetch(&self, url: &str, limit: u64) -> Result<Vec<u8>, RegistryError> {
        let url = checked_url(url, self.allow_http)?;
        let response = self
            .http
            .get(url.clone())
            .send()
            .await
            .map_err(|e| network(&e))?;
        if !response.status().is_success() {
            return Err(RegistryError::Client {
                status: response.status().as_u16(),
                detail: format!("{url}: download failed"),
            });
        }
        read_body(response, limit, Overflow::Refuse, &url).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_schema::python::DistKind;

    fn page() -> Url {
        Url::parse("http://127.0.0.1:9/root/dev/+simple/demo-core/").unwrap()
    }

    #[test]
    fn trusted_publishing_endpoints_sit_beside_the_simple_api() {
        let base = |u: &str| oidc_base(&Url::parse(u).unwrap()).map(|b| b.to_string());
        assert_eq!(
            base("https://pypi.org/simple/").as_deref(),
            Some("https://pypi.org/_/oidc/")
        );
        assert_eq!(
            base("https://test.pypi.org/simple/").as_deref(),
            Some("https://test.pypi.org/_/oidc/")
        );
        assert_eq!(
            base("http://127.0.0.1:9/pypi/simple/").as_deref(),
            Some("http://127.0.0.1:9/pypi/_/oidc/")
        );
        assert_eq!(
            base("http://127.0.0.1:9/root/dev/+simple/").as_deref(),
            None
        );
        assert_eq!(
            parse_audience(r#"{"audience":"pypi"}"#).as_deref(),
            Some("pypi")
        );
        assert_eq!(parse_audience(r#"{"audience":""}"#), None);
        assert_eq!(parse_audience("<html>"), None);
    }

    #[test]
    fn minted_tokens_and_refusals_are_read_as_pypi_writes_them() {
        let token = parse_minted(200, r#"{"success":true,"token":"pypi-abc"}"#).unwrap();
        assert_eq!(token.expose(), "pypi-abc");
        assert_eq!(
            parse_minted(200, r#"{"token":""}"#).unwrap_err().code(),
            "registry-protocol-error"
        );
        let refused = parse_minted(
            422,
            r#"{"message":"Token request failed","errors":[{"code":"invalid-publisher","description":"valid token, but no corresponding publisher"}]}"#,
        )
        .unwrap_err();
        assert_eq!(refused.code(), "registry-auth-failed");
        assert!(
            refused
                .to_string()
                .contains("invalid-publisher: valid token, but no corresponding publisher"),
            "{refused}"
        );
        assert_eq!(
            parse_minted(503, "down").unwrap_err().code(),
            "registry-server-error"
        );
    }

    #[test]
    fn file_names_carry_their_versions() {
        assert_eq!(
            file_version("Demo_Core", "demo_core-2.0.0a5.tar.gz").as_deref(),
            Some("2.0.0a5")
        );
        assert_eq!(
            file_version("demo-core", "demo-core-1.0.tar.gz").as_deref(),
            Some("1.0")
        );
        assert_eq!(
            file_version("demo-core", "demo_core-2.0.0a5-py3-none-any.whl").as_deref(),
            Some("2.0.0a5")
        );
        assert_eq!(file_version("demo-core", "other-1.0.tar.gz"), None);
        assert_eq!(file_version("demo-core", "demo_core-1.0.exe"), None);
        assert_eq!(normalize("Demo__Core.x"), "demo-core-x");
    }

    #[test]
    fn json_pages_give_files_with_hashes_and_yanked_state() {
        let body = br#"{"meta":{"api-version":"1.1"},"name":"demo-core","files":[
            {"filename":"demo_core-1.0.tar.gz","url":"../../+f/aa/demo_core-1.0.tar.gz","hashes":{"sha256":"AB12"},"yanked":false},
            {"filename":"demo_core-1.0-py3-none-any.whl","url":"https://files.example/x.whl","hashes":{},"yanked":"broken"}]}"#;
        let links = parse_json_page(body, &page()).unwrap();
        assert_eq!(links[0].file.sha256.as_deref(), Some("ab12"));
        assert_eq!(
            links[0].url,
            "http://127.0.0.1:9/root/dev/+f/aa/demo_core-1.0.tar.gz"
        );
        assert!(!links[0].file.yanked);
        assert!(links[1].file.yanked);
        assert_eq!(links[1].file.sha256, None);
        let versions = by_version("demo-core", &links);
        assert_eq!(versions["1.0"].len(), 2);
        assert!(parse_json_page(b"<html>", &page()).is_err());
    }

    #[test]
    fn html_pages_give_files_from_their_fragments() {
        let body = br#"<!DOCTYPE html><html><body>
            <a href="../../packages/demo_core-1.0.tar.gz#sha256=CDEF" data-requires-python="&gt;=3.8">demo_core-1.0.tar.gz</a><br/>
            <A HREF='/p/demo_core-1.0-py3-none-any.whl' data-yanked="">demo_core-1.0-py3-none-any.whl</A>
            <a name="x">not a file</a></body></html>"#;
        let links = parse_html_page(body, &page()).unwrap();
        assert_eq!(links.len(), 2);
        assert_eq!(links[0].file.filename, "demo_core-1.0.tar.gz");
        assert_eq!(links[0].file.sha256.as_deref(), Some("cdef"));
        assert_eq!(
            links[0].url,
            "http://127.0.0.1:9/root/dev/packages/demo_core-1.0.tar.gz"
        );
        assert!(links[1].file.yanked);
        assert_eq!(links[1].file.sha256, None);
    }

    #[test]
    fn uploads_send_the_metadata_and_are_classified() {
        let file = DistFile {
            filename: "demo_core-1.0.tar.gz".into(),
            kind: DistKind::Sdist,
            pyversion: "source".into(),
            size: 3,
            sha256: "ab".into(),
        };
        let metadata = CoreMetadata {
            fields: vec![
                ("Metadata-Version".into(), "2.4".into()),
                ("Name".into(), "demo-core".into()),
                ("Version".into(), "1.0".into()),
                ("Requires-Dist".into(), "a==1".into()),
            ],
            description: None,
        };
        let fields = upload_fields(&file, &metadata);
        let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                ":action",
                "protocol_version",
                "filetype",
                "pyversion",
                "sha256_digest",
                "metadata_version",
                "name",
                "version",
                "requires_dist"
            ]
        );
        let now = SystemTime::UNIX_EPOCH;
        assert!(classify_upload(200, None, "OK", now).is_ok());
        for (status, body, code) in [
            (
                400,
                "400 File already exists ('demo_core-1.0.tar.gz', with blake2_256 hash …)",
                "already-exists",
            ),
            (409, "conflict", "already-exists"),
            (
                403,
                "Invalid or non-existent authentication information.",
                "registry-auth-failed",
            ),
            (429, "slow down", "rate-limited"),
            (503, "unavailable", "registry-server-error"),
            (400, "Invalid value for classifiers", "registry-rejected"),
        ] {
            let error = classify_upload(status, Some("7"), body, now).unwrap_err();
            assert_eq!(error.error_code().name, code, "{status} {body}");
        }
    }
}
