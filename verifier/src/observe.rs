//! Observing a registry for verification: the index files of the plan's crates and, with
//! `--download`, the `.crate` files, at most 32 requests at a time. No token is sent unless the
//! registry's `config.json` says `auth-required` (then cargo's read-token variable is used).

use std::collections::BTreeMap;

use convoy_registry::{Freshness, RegistryClient, RegistryError};
use convoy_schema::plan::Package;
use convoy_schema::Plan;
use futures_util::stream::{self, StreamExt};

use crate::compare::{expected_cksum, Observed};

/// One `.crate` to download: name, version, expected cksum (for `{sha256-checksum}` templates)
/// and the most bytes to read (the planned size: anything larger is not the planned file).
pub type Wanted = (String, String, String, u64);

/// The most bytes read of a `.crate` the plan has no artifact for (a skipped package): crates.io's
/// own upload limit.
pub const UNPLANNED_CRATE_LIMIT: u64 = 10 << 20;

/// The `.crate` of each of `packages` (of `plan`), for `--download`.
pub fn wanted(plan: &Plan, packages: &[&Package]) -> Vec<Wanted> {
    packages
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.to_string(),
                expected_cksum(plan, p).unwrap_or_default(),
                p.artifact
                    .as_ref()
                    .map_or(UNPLANNED_CRATE_LIMIT, |a| a.size),
            )
        })
        .collect()
}

/// Reads the index files of `names` and downloads `downloads`.
pub async fn observe(
    client: &RegistryClient,
    names: &[String],
    downloads: &[Wanted],
) -> Result<Observed, RegistryError> {
    let index = client.index_files(names, 32, Freshness::Fresh).await?;
    let fetched: Vec<(String, Result<Vec<u8>, String>)> = stream::iter(downloads.iter().cloned())
        .map(|(name, version, cksum, max_bytes)| async move {
            let result = client
                .download(&name, &version, &cksum, max_bytes)
                .await
                .map_err(|e| e.to_string());
            (name, result)
        })
        .buffer_unordered(32)
        .collect()
        .await;
    Ok(Observed {
        index,
        downloads: fetched.into_iter().collect::<BTreeMap<_, _>>(),
        ..Observed::default()
    })
}
