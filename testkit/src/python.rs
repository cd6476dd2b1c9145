//! The test registry's Python index, PyPI's protocol on the same server:
//! - `POST {base}/pypi/legacy/`: the legacy upload API (`multipart/form-data`, HTTP basic auth
//!   `__token__` / the registry's token). It checks `sha256_digest` against the bytes; an
//!   identical file again is 200 and changes nothing (PyPI's rule, unless
//!   [`Faults::python_not_idempotent`](crate::Faults)); other bytes under a stored name are 400
//!   "File already exists".
//! - `GET {base}/pypi/simple/{name}/`: the project page, PEP 691 JSON when asked for, else PEP
//!   503 HTML with `#sha256=` fragments; wheels offer their core metadata (PEP 658).
//! - `GET {base}/pypi/files/{name}/{filename}` (and `….metadata`): downloads.
//! - with trusted publishing ([`TrustedPublishing`](crate::TrustedPublishing)): `GET
//!   {base}/pypi/_/oidc/audience` (`pypi`) and `POST {base}/pypi/_/oidc/mint-token`, which trades
//!   an unused identity token for that audience for an upload token valid 15 minutes (PyPI's
//!   rules and error shape).
//!
//! Files are stored under `<dir>/python/<name>/`, so state survives a restart. The faults of
//! uploads (`fail_upload`, `reset_upload`, `drop_upload_response`, `slow`) and delayed
//! visibility (`index_delay`) apply as for crates.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use convoy_registry::python::normalize;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

/// A stored file's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// The file name.
    pub filename: String,
    /// Lowercase hex SHA-256.
    pub sha256: String,
    /// The upload's metadata fields (`requires_dist`, …) as it sent them.
    pub metadata: Vec<(String, String)>,
    /// Yanked.
    pub yanked: bool,
}

/// Python files under one directory.
#[derive(Debug, Clone)]
pub struct PythonStore {
    dir: PathBuf,
}

impl PythonStore {
    /// Storage in `dir/python`.
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        let dir = dir.join("python");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn project_dir(&self, name: &str) -> PathBuf {
        self.dir.join(normalize(name))
    }

    /// The files of a project, by name.
    pub fn files(&self, name: &str) -> Vec<StoredFile> {
        let Ok(entries) = std::fs::read_dir(self.project_dir(name)) else {
            return Vec::new();
        };
        let mut files: Vec<StoredFile> = entries
            .flatten()
            .filter_map(|e| {
                let path = e.path();
                if path.extension()? != "json" {
                    return None;
                }
                let record: Value = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
                Some(StoredFile {
                    filename: record["filename"].as_str()?.to_owned(),
                    sha256: record["sha256"].as_str()?.to_owned(),
                    metadata: serde_json::from_value(record["metadata"].clone())
                        .unwrap_or_default(),
                    yanked: record["yanked"].as_bool().unwrap_or(false),
                })
            })
            .collect();
        files.sort_by(|a, b| a.filename.cmp(&b.filename));
        files
    }

    /// The bytes of a stored file.
    pub fn bytes(&self, name: &str, filename: &str) -> Option<Vec<u8>> {
        if filename.contains(['/', '\\']) || filename.starts_with('.') {
            return None;
        }
        std::fs::read(self.project_dir(name).join(filename)).ok()
    }

    fn store(&self, name: &str, file: &StoredFile, bytes: &[u8]) -> std::io::Result<()> {
        let dir = self.project_dir(name);
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join(&file.filename), bytes)?;
        let record = json!({
            "filename": file.filename,
            "sha256": file.sha256,
            "metadata": file.metadata,
            "yanked": file.yanked,
        });
        std::fs::write(
            dir.join(format!("{}.json", file.filename)),
            record.to_string(),
        )
    }

    /// A stored file's record, if there is one.
    fn record(&self, name: &str, filename: &str) -> Option<StoredFile> {
        self.files(name)
            .into_iter()
            .find(|f| f.filename == filename)
    }

    /// Marks a stored file yanked or not; `false` when there is no such file.
    pub fn set_yanked(&self, name: &str, filename: &str, yanked: bool) -> bool {
        let (Some(mut file), Some(bytes)) =
            (self.record(name, filename), self.bytes(name, filename))
        else {
            return false;
        };
        file.yanked = yanked;
        self.store(name, &file, &bytes).is_ok()
    }

    /// Replaces a stored file's bytes (and recorded sha256) behind the uploader's back: a
    /// tampered index, for the verifier's tests.
    pub fn replace(&self, name: &str, filename: &str, bytes: &[u8]) -> bool {
        let Some(mut file) = self.record(name, filename) else {
            return false;
        };
        file.sha256 = convoy_schema::digest::sha256_hex(bytes);
        self.store(name, &file, bytes).is_ok()
    }

    /// Stores a file nobody planned (as another uploader would).
    pub fn add(&self, name: &str, filename: &str, bytes: &[u8]) -> bool {
        let file = StoredFile {
            filename: filename.to_owned(),
            sha256: convoy_schema::digest::sha256_hex(bytes),
            metadata: Vec::new(),
            yanked: false,
        };
        self.store(name, &file, bytes).is_ok()
    }
}

/// An upload's form, read from its multipart body.
#[derive(Debug, Default)]
pub(crate) struct Upload {
    pub(crate) fields: Vec<(String, String)>,
    pub(crate) filename: Option<String>,
    pub(crate) content: Vec<u8>,
}

impl Upload {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a `multipart/form-data` body (`content_type` names its boundary).
pub(crate) async fn read_form(content_type: &str, body: Bytes) -> Result<Upload, String> {
    let boundary = multer::parse_boundary(content_type).map_err(|e| e.to_string())?;
    let stream = futures_util::stream::once(async move { Ok::<Bytes, std::io::Error>(body) });
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut upload = Upload::default();
    while let Some(field) = multipart.next_field().await.map_err(|e| e.to_string())? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "content" {
            upload.filename = field.file_name().map(str::to_owned);
            upload.content = field.bytes().await.map_err(|e| e.to_string())?.to_vec();
        } else {
            let value = field.text().await.map_err(|e| e.to_string())?;
            upload.fields.push((name, value));
        }
    }
    Ok(upload)
}

fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_owned())));
    *response.status_mut() = status;
    response
}

/// What an upload did: the response, and (name, filename, sha256) when a file was stored.
pub(crate) struct Uploaded {
    pub(crate) response: Response<Full<Bytes>>,
    pub(crate) stored: Option<(String, String, String)>,
}

/// Handles an upload that passed authentication and the injected faults.
pub(crate) fn upload(store: &PythonStore, form: &Upload, not_idempotent: bool) -> Uploaded {
    let refused = |status, body: &str| Uploaded {
        response: text(status, body),
        stored: None,
    };
    if form.field(":action") != Some("file_upload") {
        return refused(StatusCode::BAD_REQUEST, "400 Unknown or missing :action");
    }
    let (Some(name), Some(version), Some(filename)) = (
        form.field("name"),
        form.field("version"),
        form.filename.as_deref(),
    ) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "400 name, version and content are required",
        );
    };
    if filename.contains(['/', '\\']) || filename.starts_with('.') {
        return refused(StatusCode::BAD_REQUEST, "400 Invalid filename");
    }
    if convoy_registry::python::file_version(name, filename).as_deref()
        != version
            .parse::<pep440_rs::Version>()
            .ok()
            .map(|v| v.to_string())
            .as_deref()
    {
        return refused(
            StatusCode::BAD_REQUEST,
            &format!("400 Version in filename {filename} does not match {name} {version}"),
        );
    }
    let sha256 = convoy_schema::digest::sha256_hex(&form.content);
    if form.field("sha256_digest").map(str::to_ascii_lowercase) != Some(sha256.clone()) {
        return refused(
            StatusCode::BAD_REQUEST,
            "400 The digest supplied does not match a digest calculated from the uploaded file.",
        );
    }
    if let Some(existing) = store
        .files(name)
        .into_iter()
        .find(|f| f.filename == filename)
    {
        if existing.sha256 == sha256 && !not_idempotent {
            // PyPI: the same file again changes nothing.
            return refused(StatusCode::OK, "OK");
        }
        return refused(
            StatusCode::BAD_REQUEST,
            &format!("400 File already exists ('{filename}', with sha256 hash {}). See https://pypi.org/help/#file-name-reuse for more information.", existing.sha256),
        );
    }
    let metadata: Vec<(String, String)> = form
        .fields
        .iter()
        .filter(|(n, _)| !n.starts_with(':') && n != "protocol_version" && n != "sha256_digest")
        .cloned()
        .collect();
    let file = StoredFile {
        filename: filename.to_owned(),
        sha256: sha256.clone(),
        metadata,
        yanked: false,
    };
    match store.store(name, &file, &form.content) {
        Ok(()) => Uploaded {
            response: text(StatusCode::OK, "OK"),
            stored: Some((normalize(name), filename.to_owned(), sha256)),
        },
        Err(e) => refused(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A project page of the files visible at `now` (`visible` says whether one is).
pub(crate) fn page(
    store: &PythonStore,
    base: &str,
    name: &str,
    json_wanted: bool,
    visible: &dyn Fn(&str) -> bool,
) -> Response<Full<Bytes>> {
    let normalized = normalize(name);
    let files: Vec<StoredFile> = store
        .files(&normalized)
        .into_iter()
        .filter(|f| visible(&f.filename))
        .collect();
    if files.is_empty() {
        return text(StatusCode::NOT_FOUND, "404 Not Found");
    }
    let url = |f: &StoredFile| format!("{base}/pypi/files/{normalized}/{}", f.filename);
    let mut response = if json_wanted {
        let listed: Vec<Value> = files
            .iter()
            .map(|f| {
                let mut entry = json!({
                    "filename": f.filename,
                    "url": url(f),
                    "hashes": { "sha256": f.sha256 },
                    "yanked": f.yanked,
                });
                if f.filename.ends_with(".whl") {
                    entry["core-metadata"] = json!(true);
                }
                entry
            })
            .collect();
        let mut response = Response::new(Full::new(Bytes::from(
            json!({ "meta": { "api-version": "1.1" }, "name": normalized, "files": listed })
                .to_string(),
        )));
        response.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static(convoy_registry::python::SIMPLE_JSON),
        );
        response
    } else {
        let links: String = files
            .iter()
            .map(|f| {
                format!(
                    "<a href=\"{}#sha256={}\"{}>{}</a><br/>\n",
                    url(f),
                    f.sha256,
                    if f.yanked { " data-yanked=\"\"" } else { "" },
                    f.filename
                )
            })
            .collect();
        let mut response = Response::new(Full::new(Bytes::from(format!(
            "<!DOCTYPE html>\n<html><body><h1>Links for {normalized}</h1>\n{links}</body></html>\n"
        ))));
        response.headers_mut().insert(
            "content-type",
            hyper::header::HeaderValue::from_static("text/html"),
        );
        response
    };
    *response.status_mut() = StatusCode::OK;
    response
}

/// A download: the file, or (`….metadata`) a wheel's core metadata (PEP 658): its
/// `*.dist-info/METADATA`, as PyPI serves it; the upload's metadata fields when the wheel has
/// none.
pub(crate) fn download(store: &PythonStore, name: &str, filename: &str) -> Response<Full<Bytes>> {
    if let Some(wheel) = filename.strip_suffix(".metadata") {
        let Some(file) = store.files(name).into_iter().find(|f| f.filename == wheel) else {
            return text(StatusCode::NOT_FOUND, "404 Not Found");
        };
        let from_wheel = store
            .bytes(name, wheel)
            .and_then(|bytes| wheel_metadata(&bytes));
        return match from_wheel {
            Some(metadata) => Response::new(Full::new(Bytes::from(metadata))),
            None => text(StatusCode::OK, &core_metadata(&file.metadata)),
        };
    }
    match store.bytes(name, filename) {
        Some(bytes) => Response::new(Full::new(Bytes::from(bytes))),
        None => text(StatusCode::NOT_FOUND, "404 Not Found"),
    }
}

/// The `*.dist-info/METADATA` member of a wheel, if it is a zip archive that has one.
fn wheel_metadata(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).ok()?;
    let name = archive
        .file_names()
        .find(|n| n.ends_with(".dist-info/METADATA") && n.matches('/').count() == 1)?
        .to_owned();
    let mut member = archive.by_name(&name).ok()?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(&mut member, 16 << 20), &mut out).ok()?;
    Some(out)
}

/// The upload's metadata fields (`requires_dist` = `a==1`) in core-metadata form
/// (`Requires-Dist: a==1`), the long description and the upload's own fields left out.
fn core_metadata(fields: &[(String, String)]) -> String {
    fields
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "description" | "filetype" | "pyversion"))
        .map(|(name, value)| {
            let title: Vec<String> = name
                .split('_')
                .map(|part| {
                    let mut chars = part.chars();
                    chars.next().map_or_else(String::new, |c| {
                        c.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                })
                .collect();
            format!("{}: {value}\n", title.join("-"))
        })
        .collect()
}

/// When a stored file becomes visible, for `index_delay`: (project, filename) → time.
pub(crate) type Pending = std::collections::BTreeMap<(String, String), SystemTime>;
