//! Format versions (`"MAJOR.MINOR"`) and the reading rule every Convoy document follows.
//!
//! A reader accepts a document whose major equals its own and whose minor is not newer than its
//! own. A newer minor may carry fields whose meaning the reader would silently drop, so it is
//! refused too, with a message that says to upgrade Convoy.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A document format version, written `"MAJOR.MINOR"` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FormatVersion {
    /// Incompatible changes bump the major.
    pub major: u32,
    /// Compatible additions bump the minor.
    pub minor: u32,
}

impl FormatVersion {
    /// A version from its two numbers.
    pub const fn new(major: u32, minor: u32) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for FormatVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for FormatVersion {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let parse = |part: &str| -> Option<u32> {
            let digits_only = !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
            let canonical = part == "0" || !part.starts_with('0');
            if digits_only && canonical {
                part.parse().ok()
            } else {
                None
            }
        };
        match text.split_once('.') {
            Some((major, minor)) => match (parse(major), parse(minor)) {
                (Some(major), Some(minor)) => Ok(Self { major, minor }),
                _ => Err(format!("`{text}` is not of the form MAJOR.MINOR")),
            },
            None => Err(format!("`{text}` is not of the form MAJOR.MINOR")),
        }
    }
}

impl Serialize for FormatVersion {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FormatVersion {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for FormatVersion {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FormatVersion".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(0|[1-9][0-9]*)\\.(0|[1-9][0-9]*)$",
            "description": "Document format version, MAJOR.MINOR. Readers reject another major and a newer minor."
        })
    }
}

/// Why a Convoy document could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The text is not JSON at all.
    #[error("the {document} is not valid JSON: {source}")]
    NotJson {
        /// What kind of document was being read ("plan", "registry snapshot").
        document: &'static str,
        /// The parser's complaint, with line and column.
        source: serde_json::Error,
    },
    /// The top-level `format_version` field is missing or malformed.
    #[error("the {document} has no valid `format_version` field{detail}")]
    MissingVersion {
        /// What kind of document was being read.
        document: &'static str,
        /// What was found instead, if anything.
        detail: String,
    },
    /// The document's format is not one this build understands.
    #[error("the {document} has format version {found}, but this Convoy reads {supported} (same major, minor at most {supported_minor})", supported_minor = .supported.minor)]
    Unsupported {
        /// What kind of document was being read.
        document: &'static str,
        /// The version the document declares.
        found: FormatVersion,
        /// The version this build writes.
        supported: FormatVersion,
    },
    /// The document declares a supported version but its fields do not match the format.
    #[error("the {document} does not match format {version}: {path}{source}", path = path_prefix(.path))]
    Invalid {
        /// What kind of document was being read.
        document: &'static str,
        /// The declared version.
        version: FormatVersion,
        /// JSON path of the offending field, such as `packages[3].artifact.sha256`; empty when
        /// the complaint is about the document as a whole.
        path: String,
        /// The field-level complaint.
        source: serde_json::Error,
    },
}

impl ReadError {
    /// Stable code of this error (one of [`crate::codes::READ_CODES`]).
    pub fn error_code(&self) -> crate::ErrorCode {
        use crate::codes::*;
        match self {
            Self::NotJson { .. } => DOCUMENT_NOT_JSON,
            Self::MissingVersion { .. } => FORMAT_VERSION_MISSING,
            Self::Unsupported { .. } => FORMAT_VERSION_UNSUPPORTED,
            Self::Invalid { .. } => DOCUMENT_INVALID,
        }
    }

    /// Stable kebab-case code of this error.
    pub fn code(&self) -> &'static str {
        self.error_code().name
    }

    /// What the user can do about it.
    pub fn help(&self) -> String {
        match self {
            Self::Unsupported { found, supported, .. } if found > supported => {
                "the document was written by a newer Convoy: upgrade Convoy to read it".to_owned()
            }
            Self::Unsupported { .. } => {
                "the document was written by an older, incompatible Convoy: regenerate it with this version".to_owned()
            }
            _ => "pass a file written by Convoy, unmodified".to_owned(),
        }
    }
}

/// Reads a document of kind `document` after checking its `format_version` against `supported`.
pub fn read_document<T: DeserializeOwned>(
    text: &str,
    document: &'static str,
    supported: FormatVersion,
) -> Result<T, ReadError> {
    read_versioned_document(text, document, &[supported])
}

/// Reads a document of kind `document` whose `format_version` has the major of one of
/// `supported` and a minor no newer than that one's. The last of `supported` is the version this
/// build writes; the others are older majors whose documents the types still read exactly (their
/// additions since are all optional).
pub fn read_versioned_document<T: DeserializeOwned>(
    text: &str,
    document: &'static str,
    supported: &[FormatVersion],
) -> Result<T, ReadError> {
    let current = supported
        .last()
        .copied()
        .unwrap_or(FormatVersion::new(0, 0));
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|source| ReadError::NotJson { document, source })?;
    let version = match value.get("format_version") {
        Some(serde_json::Value::String(text)) => {
            text.parse::<FormatVersion>()
                .map_err(|detail| ReadError::MissingVersion {
                    document,
                    detail: format!(": {detail}"),
                })?
        }
        Some(other) => {
            return Err(ReadError::MissingVersion {
                document,
                detail: format!(": found {other} where a \"MAJOR.MINOR\" string belongs"),
            })
        }
        None => {
            return Err(ReadError::MissingVersion {
                document,
                detail: String::new(),
            })
        }
    };
    let readable = supported
        .iter()
        .any(|s| s.major == version.major && version.minor <= s.minor);
    if !readable {
        return Err(ReadError::Unsupported {
            document,
            found: version,
            supported: current,
        });
    }
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        ReadError::Invalid {
            document,
            version,
            // The path of the document itself prints as ".".
            path: if path == "." { String::new() } else { path },
            source: error.into_inner(),
        }
    })
}

/// `path: `, or nothing for the document as a whole.
fn path_prefix(path: &str) -> String {
    if path.is_empty() {
        String::new()
    } else {
        format!("{path}: ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Doc {
        #[allow(dead_code)]
        format_version: FormatVersion,
    }

    fn read(text: &str) -> Result<Doc, ReadError> {
        read_document(text, "test document", FormatVersion::new(1, 2))
    }

    #[test]
    fn parses_and_prints_canonical_form() {
        let version: FormatVersion = "12.0".parse().unwrap();
        assert_eq!(version, FormatVersion::new(12, 0));
        assert_eq!(version.to_string(), "12.0");
        for bad in ["1", "1.", ".1", "01.0", "1.00", "1.0.0", "a.b", "-1.0", ""] {
            assert!(bad.parse::<FormatVersion>().is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn accepts_same_major_and_older_or_equal_minor() {
        assert!(read(r#"{"format_version":"1.0"}"#).is_ok());
        assert!(read(r#"{"format_version":"1.2"}"#).is_ok());
    }

    #[test]
    fn rejects_newer_minor_and_other_major_with_codes() {
        let newer = read(r#"{"format_version":"1.3"}"#).unwrap_err();
        assert_eq!(newer.code(), "format-version-unsupported");
        assert!(newer.help().contains("upgrade Convoy"), "{}", newer.help());
        let older_major = read(r#"{"format_version":"0.9"}"#).unwrap_err();
        assert!(older_major.help().contains("regenerate"));
        assert!(matches!(
            read(r#"{"format_version":"2.0"}"#),
            Err(ReadError::Unsupported { .. })
        ));
    }

    #[test]
    fn an_older_major_is_read_when_it_is_listed() {
        let read = |text: &str| {
            read_versioned_document::<Doc>(
                text,
                "test document",
                &[FormatVersion::new(1, 3), FormatVersion::new(2, 0)],
            )
        };
        for ok in ["1.0", "1.3", "2.0"] {
            assert!(
                read(&format!(r#"{{"format_version":"{ok}"}}"#)).is_ok(),
                "{ok}"
            );
        }
        for refused in ["1.4", "2.1", "0.9", "3.0"] {
            let error = read(&format!(r#"{{"format_version":"{refused}"}}"#)).unwrap_err();
            let ReadError::Unsupported { supported, .. } = error else {
                panic!("{refused}: {error}")
            };
            assert_eq!(supported, FormatVersion::new(2, 0));
        }
    }

    #[test]
    fn rejects_missing_or_malformed_version_and_non_json() {
        assert_eq!(read("{}").unwrap_err().code(), "format-version-missing");
        assert_eq!(
            read(r#"{"format_version":1}"#).unwrap_err().code(),
            "format-version-missing"
        );
        assert_eq!(read("not json").unwrap_err().code(), "document-not-json");
    }
}
