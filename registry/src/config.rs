//! A registry's `config.json`: where crates download from, where its API is, and whether reading
//! the index needs a token.

use serde::Deserialize;

use crate::index::prefix;

/// The index's `config.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct RegistryConfig {
    /// Download URL, possibly with template markers.
    pub dl: String,
    /// Base URL of the web API (publish, yank, owners); absent for read-only registries.
    #[serde(default)]
    pub api: Option<String>,
    /// Whether every request, index reads included, needs a token.
    #[serde(default, rename = "auth-required")]
    pub auth_required: bool,
}

const MARKERS: [&str; 5] = [
    "{crate}",
    "{version}",
    "{prefix}",
    "{lowerprefix}",
    "{sha256-checksum}",
];

impl RegistryConfig {
    /// Where `name`@`version` (whose `.crate` has `cksum`) downloads from.
    pub fn download_url(&self, name: &str, version: &str, cksum: &str) -> String {
        if !MARKERS.iter().any(|marker| self.dl.contains(marker)) {
            return format!(
                "{}/{name}/{version}/download",
                self.dl.trim_end_matches('/')
            );
        }
        self.dl
            .replace("{crate}", name)
            .replace("{version}", version)
            .replace("{prefix}", &prefix(name))
            .replace("{lowerprefix}", &prefix(&name.to_ascii_lowercase()))
            .replace("{sha256-checksum}", cksum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dl: &str) -> RegistryConfig {
        RegistryConfig {
            dl: dl.into(),
            api: None,
            auth_required: false,
        }
    }

    #[test]
    fn download_urls_fill_templates_or_append() {
        assert_eq!(
            config("https://static.crates.io/crates").download_url("serde", "1.0.0", "ab"),
            "https://static.crates.io/crates/serde/1.0.0/download"
        );
        assert_eq!(
            config("https://d/{prefix}/{lowerprefix}/{crate}/{crate}-{version}.crate?sum={sha256-checksum}")
                .download_url("Serde", "1.0.0", "ab"),
            "https://d/Se/rd/se/rd/Serde/Serde-1.0.0.crate?sum=ab"
        );
        assert_eq!(
            config("https://d/{prefix}/{crate}").download_url("abc", "1.0.0", ""),
            "https://d/3/a/abc"
        );
    }

    #[test]
    fn config_json_fields() {
        let parsed: RegistryConfig = serde_json::from_str(
            r#"{"dl":"x","api":"http://127.0.0.1:1","auth-required":true,"other":1}"#,
        )
        .unwrap();
        assert!(parsed.auth_required);
        assert_eq!(parsed.api.as_deref(), Some("http://127.0.0.1:1"));
    }
}
