//! The body of `PUT /api/v1/crates/new`: u32 little-endian length of the metadata JSON, the JSON,
//! u32 little-endian length of the `.crate`, the `.crate` bytes. The JSON is serialized exactly as
//! cargo serializes its `NewCrate` (same field order; `registry` and `explicit_name_in_toml`
//! omitted when null).

use std::collections::BTreeMap;

use convoy_schema::plan::{DependencyKind, PublishMetadata};
use serde::Serialize;

/// Why a body could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is larger than the 4 GiB a publish body can carry")]
pub struct BodyTooLarge(pub &'static str);

#[derive(Serialize)]
struct WireCrate<'a> {
    name: &'a str,
    vers: &'a str,
    deps: Vec<WireDependency<'a>>,
    features: &'a BTreeMap<String, Vec<String>>,
    authors: &'a [String],
    description: &'a Option<String>,
    documentation: &'a Option<String>,
    homepage: &'a Option<String>,
    readme: &'a Option<String>,
    readme_file: &'a Option<String>,
    keywords: &'a [String],
    categories: &'a [String],
    license: &'a Option<String>,
    license_file: &'a Option<String>,
    repository: &'a Option<String>,
    badges: &'a BTreeMap<String, BTreeMap<String, String>>,
    links: &'a Option<String>,
    rust_version: &'a Option<String>,
}

#[derive(Serialize)]
struct WireDependency<'a> {
    optional: bool,
    default_features: bool,
    name: &'a str,
    features: &'a [String],
    version_req: &'a str,
    target: &'a Option<String>,
    kind: DependencyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    registry: &'a Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explicit_name_in_toml: &'a Option<String>,
}

/// The metadata JSON as cargo sends it.
pub fn metadata_json(metadata: &PublishMetadata) -> String {
    let wire = WireCrate {
        name: &metadata.name,
        vers: &metadata.vers,
        deps: metadata
            .deps
            .iter()
            .map(|d| WireDependency {
                optional: d.optional,
                default_features: d.default_features,
                name: &d.name,
                features: &d.features,
                version_req: &d.version_req,
                target: &d.target,
                kind: d.kind,
                registry: &d.registry,
                explicit_name_in_toml: &d.explicit_name_in_toml,
            })
            .collect(),
        features: &metadata.features,
        authors: &metadata.authors,
        description: &metadata.description,
        documentation: &metadata.documentation,
        homepage: &metadata.homepage,
        readme: &metadata.readme,
        readme_file: &metadata.readme_file,
        keywords: &metadata.keywords,
        categories: &metadata.categories,
        license: &metadata.license,
        license_file: &metadata.license_file,
        repository: &metadata.repository,
        badges: &metadata.badges,
        links: &metadata.links,
        rust_version: &metadata.rust_version,
    };
    // Plain data with string keys always serializes.
    serde_json::to_string(&wire).unwrap_or_default()
}

/// The complete request body for `metadata` and the `.crate` bytes.
pub fn publish_body(
    metadata: &PublishMetadata,
    crate_bytes: &[u8],
) -> Result<Vec<u8>, BodyTooLarge> {
    let json = metadata_json(metadata);
    let json_len = u32::try_from(json.len()).map_err(|_| BodyTooLarge("the metadata"))?;
    let crate_len = u32::try_from(crate_bytes.len()).map_err(|_| BodyTooLarge("the .crate"))?;
    let mut body = Vec::with_capacity(8 + json.len() + crate_bytes.len());
    body.extend_from_slice(&json_len.to_le_bytes());
    body.extend_from_slice(json.as_bytes());
    body.extend_from_slice(&crate_len.to_le_bytes());
    body.extend_from_slice(crate_bytes);
    Ok(body)
}

/// The two parts of a publish body, as a registry reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedBody {
    /// The metadata JSON text.
    pub metadata_json: String,
    /// The `.crate` bytes.
    pub crate_bytes: Vec<u8>,
}

/// Splits a publish body; `None` when the lengths do not add up.
pub fn decode_body(body: &[u8]) -> Option<DecodedBody> {
    let read_len = |at: usize| -> Option<usize> {
        let bytes: [u8; 4] = body.get(at..at + 4)?.try_into().ok()?;
        usize::try_from(u32::from_le_bytes(bytes)).ok()
    };
    let json_len = read_len(0)?;
    let json = body.get(4..4 + json_len)?;
    let crate_len = read_len(4 + json_len)?;
    let crate_start = 8 + json_len;
    let crate_bytes = body.get(crate_start..crate_start + crate_len)?;
    if crate_start + crate_len != body.len() {
        return None;
    }
    Some(DecodedBody {
        metadata_json: String::from_utf8(json.to_vec()).ok()?,
        crate_bytes: crate_bytes.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_schema::plan::PublishDependency;

    fn metadata() -> PublishMetadata {
        let mut metadata = PublishMetadata::new("foo", "0.1.0");
        metadata.deps.push(PublishDependency {
            optional: false,
            default_features: true,
            name: "bar".into(),
            features: vec![],
            version_req: "^1".into(),
            target: None,
            kind: DependencyKind::Normal,
            registry: None,
            explicit_name_in_toml: Some("baz".into()),
        });
        metadata.description = Some("d".into());
        metadata.license = Some("MIT".into());
        metadata
    }

    const JSON: &str = r#"{"name":"foo","vers":"0.1.0","deps":[{"optional":false,"default_features":true,"name":"bar","features":[],"version_req":"^1","target":null,"kind":"normal","explicit_name_in_toml":"baz"}],"features":{},"authors":[],"description":"d","documentation":null,"homepage":null,"readme":null,"readme_file":null,"keywords":[],"categories":[],"license":"MIT","license_file":null,"repository":null,"badges":{},"links":null,"rust_version":null}"#;

    #[test]
    fn body_is_byte_exact() {
        let body = publish_body(&metadata(), b"CRATE").unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(&(JSON.len() as u32).to_le_bytes());
        expected.extend_from_slice(JSON.as_bytes());
        expected.extend_from_slice(&[5, 0, 0, 0]);
        expected.extend_from_slice(b"CRATE");
        assert_eq!(body, expected);
        assert_eq!(
            &body[..4],
            &[0xaf, 0x01, 0, 0],
            "431 bytes of JSON, little-endian"
        );
        let decoded = decode_body(&body).unwrap();
        assert_eq!(decoded.metadata_json, JSON);
        assert_eq!(decoded.crate_bytes, b"CRATE");
        assert_eq!(decode_body(&body[..body.len() - 1]), None);
    }
}
