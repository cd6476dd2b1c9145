//! Observing a registry for verification: the index files of the plan's crates and, with
//! `--download`, the `.crate` files, at most 32 requests at a time. No token is sent unless the
//! registry's `config.json` says `auth-required` (then cargo's read-token variable is used).

use std::collections::BTreeMap;

use convoy_registry::{Freshness, RegistryClient, RegistryError};
use futures_util::stream::{self, StreamExt};

use crate::compare::Observed;

/// One `.crate` to download: name, version, expected cksum (for `{sha256-checksum}` templates)
/// and the most bytes to read (the planned size: anything larger is not the planned file).
pub type Wanted = (String, String, String, u64);

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
        bundle: BTreeMap::new(),
    })
}
