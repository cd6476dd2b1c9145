//! Fault injection: the ways real registries misbehave, each switchable, all timed by the
//! server's clock so tests never sleep.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub use convoy_registry::rate::{Bucket, RateLimit};

/// What the server does wrong, and when.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    /// A published version appears in the index only this long after the publish.
    pub index_delay: Duration,
    /// For this long after a publish, index reads that do not defeat caches (no
    /// `Cache-Control: no-cache`, no query string) get the file as it was before.
    pub stale_for: Duration,
    /// Bucket for the first version of a crate.
    pub new_crate_limit: Option<RateLimit>,
    /// Bucket for further versions.
    pub new_version_limit: Option<RateLimit>,
    /// The Nth upload (1-based) is answered with this status, without storing anything.
    pub fail_upload: BTreeMap<u64, u16>,
    /// The Nth upload's connection is closed before it is handled.
    pub reset_upload: BTreeSet<u64>,
    /// The Nth upload is stored, then its connection is closed without a response.
    pub drop_upload_response: BTreeSet<u64>,
    /// Every response waits this long first.
    pub slow: Duration,
    /// Every upload is answered "already uploaded" (HTTP 400) without storing anything: a
    /// registry that lies, which a publisher must not answer by sending again.
    pub always_already_exists: bool,
    /// Once an upload has been stored, every index file read is answered with this status: the
    /// registry dies after accepting an upload.
    pub index_fails_after_upload: Option<u16>,
    /// Bucket for index file reads (429 with `Retry-After` when empty).
    pub index_limit: Option<RateLimit>,
    /// Auth failures quote the `Authorization` header they were sent, as some registries do.
    pub echo_token: bool,
    /// `config.json` names this `api` instead of the server's own URL.
    pub api_url: Option<String>,
    /// `config.json` names no `api` at all (a read-only registry).
    pub omit_api: bool,
    /// The Python index answers an identical re-upload of a stored file with 400 "File
    /// already exists", as an index that is not idempotent does.
    pub python_not_idempotent: bool,
    /// The Python index serves only PEP 503 HTML pages, as older indexes (pypiserver) do.
    pub python_html_only: bool,
}
