//! Which registry is meant, resolved the way cargo resolves `--registry` and `--index`.
//!
//! [`resolve`] is pure: the caller hands in the environment and the text of cargo's configuration
//! files, nearest first; [`cargo_config_files`] reads those files.

use std::path::{Path, PathBuf};

use convoy_schema::codes::FILE_UNREADABLE;
use convoy_schema::snapshot::RegistryTarget;
use convoy_schema::{exit, ErrorCode};

use crate::{CRATES_IO, CRATES_IO_INDEX};

/// The registry asked for on the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryChoice {
    /// Neither `--registry` nor `--index`: cargo's `registry.default`, else crates.io.
    Default,
    /// `--registry NAME`.
    Named(String),
    /// `--index URL`.
    Index(String),
}

/// A cargo configuration file's path (for messages) and text.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    /// Where it was read from.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// Where resolution failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No definition of the named registry.
    #[error("registry `{name}` is not configured: no {variable} variable and no `registries.{name}.index` in cargo's configuration")]
    Unknown {
        /// The name.
        name: String,
        /// The environment variable cargo would read.
        variable: String,
    },
    /// A configuration file cannot be read.
    #[error("cannot read cargo configuration {path}: {message}")]
    Unreadable {
        /// The file.
        path: String,
        /// The OS error.
        message: String,
    },
    /// A configuration file is not TOML.
    #[error("cargo configuration {path} is not valid: {message}")]
    Config {
        /// The file.
        path: String,
        /// The parser's message.
        message: String,
    },
    /// `--index` is not an index URL.
    #[error("--index {url}: {why}")]
    BadIndex {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
    /// `--python-index` is not a simple API URL this command may use.
    #[error("--python-index {url}: {why}")]
    BadPythonIndex {
        /// The URL.
        url: String,
        /// Why.
        why: String,
    },
}

convoy_schema::error_codes! {
    /// The codes of [`ResolveError`], in every binary.
    pub RESOLVE_CODES {
        /// `--registry NAME` is not defined.
        UNKNOWN_REGISTRY = "unknown-registry", exit::REFUSED;
        /// A cargo configuration file is not valid TOML.
        CARGO_CONFIG_INVALID = "cargo-config-invalid", exit::REFUSED;
        /// `--index` is not an index URL.
        INVALID_INDEX_URL = "invalid-index-url", exit::REFUSED;
    }
}

impl ResolveError {
    /// Stable code and exit code.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::Unknown { .. } => UNKNOWN_REGISTRY,
            Self::Unreadable { .. } => FILE_UNREADABLE,
            Self::Config { .. } => CARGO_CONFIG_INVALID,
            Self::BadIndex { .. } | Self::BadPythonIndex { .. } => INVALID_INDEX_URL,
        }
    }

    /// What to do about it.
    pub fn help(&self) -> String {
        match self {
            Self::Unknown { name, variable } => format!(
                "define it in .cargo/config.toml as [registries.{name}] index = \"sparse+https://…/\", set {variable}, or pass --index URL"
            ),
            Self::Unreadable { .. } => "check that the file is readable".to_owned(),
            Self::Config { .. } => "fix the file; cargo reads it too".to_owned(),
            Self::BadIndex { .. } => {
                "give the index as cargo does, e.g. sparse+https://index.crates.io/".to_owned()
            }
            Self::BadPythonIndex { .. } => "give the index's simple API base, e.g. https://pypi.org/simple/ (plain HTTP only to this machine, or with --allow-http)".to_owned(),
        }
    }
}

/// The registry `choice` means for a command run in `dir`, resolved as cargo would: from the
/// process environment and cargo's configuration files from `dir` up (not read for `--index`).
/// The one IO edge around [`resolve`].
pub fn resolve_target(choice: &RegistryChoice, dir: &Path) -> Result<RegistryTarget, ResolveError> {
    let configs = match choice {
        RegistryChoice::Index(_) => Vec::new(),
        _ => cargo_config_files(dir).map_err(|(path, e)| ResolveError::Unreadable {
            path: path.display().to_string(),
            message: e.to_string(),
        })?,
    };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    resolve(choice, &env, &configs)
}

/// The simple API base `text` names, parsed once by the HTTP client's URL parser and refused
/// unless it is HTTPS (or plain HTTP to this machine, or `allow_http`), has no credentials,
/// query or fragment; with a trailing `/`, so `{index}{name}/` is a project's page.
pub fn python_index(text: &str, allow_http: bool) -> Result<String, ResolveError> {
    let bad = |why: String| ResolveError::BadPythonIndex {
        url: text.to_owned(),
        why,
    };
    let mut url = crate::auth::checked_url(text, allow_http).map_err(|e| bad(e.to_string()))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "credentials do not belong in the URL; the token comes from the environment".into(),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("a simple API base has no query or fragment".into()));
    }
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(url.to_string())
}

/// The variable cargo reads for a registry's index: `CARGO_REGISTRIES_<NAME>_INDEX`.
pub fn index_variable(name: &str) -> String {
    format!(
        "CARGO_REGISTRIES_{}_INDEX",
        name.to_ascii_uppercase().replace('-', "_")
    )
}

/// Resolves `choice`. `env` looks up an environment variable; `configs` are cargo's
/// configuration files, highest precedence first.
pub fn resolve(
    choice: &RegistryChoice,
    env: &dyn Fn(&str) -> Option<String>,
    configs: &[ConfigFile],
) -> Result<RegistryTarget, ResolveError> {
    match choice {
        RegistryChoice::Index(url) => {
            check_index_url(url)?;
            Ok(RegistryTarget {
                name: None,
                index: url.clone(),
            })
        }
        RegistryChoice::Named(name) => named(name, env, configs),
        RegistryChoice::Default => {
            let default = match env("CARGO_REGISTRY_DEFAULT") {
                Some(name) => Some(name),
                None => first_string(configs, &["registry", "default"])?,
            };
            named(default.as_deref().unwrap_or(CRATES_IO), env, configs)
        }
    }
}

fn named(
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    configs: &[ConfigFile],
) -> Result<RegistryTarget, ResolveError> {
    if name == CRATES_IO {
        return Ok(RegistryTarget {
            name: Some(CRATES_IO.to_owned()),
            index: CRATES_IO_INDEX.to_owned(),
        });
    }
    let variable = index_variable(name);
    let index = match env(&variable) {
        Some(index) => Some(index),
        None => first_string(configs, &["registries", name, "index"])?,
    };
    match index {
        Some(index) => Ok(RegistryTarget {
            name: Some(name.to_owned()),
            index,
        }),
        None => Err(ResolveError::Unknown {
            name: name.to_owned(),
            variable,
        }),
    }
}

/// The first string at `keys` across `configs`, in precedence order.
fn first_string(configs: &[ConfigFile], keys: &[&str]) -> Result<Option<String>, ResolveError> {
    for config in configs {
        let doc: toml_edit::DocumentMut =
            config
                .text
                .parse()
                .map_err(|e: toml_edit::TomlError| ResolveError::Config {
                    path: config.path.clone(),
                    message: e.to_string().trim_end().to_owned(),
                })?;
        let mut item: Option<&toml_edit::Item> = Some(doc.as_item());
        for key in keys {
            item = item.and_then(|i| i.get(key));
        }
        if let Some(value) = item.and_then(toml_edit::Item::as_str) {
            return Ok(Some(value.to_owned()));
        }
    }
    Ok(None)
}

/// Cargo's configuration files for a directory: `.cargo/config.toml` (or `.cargo/config`) in it
/// and each parent, nearest first, then `$CARGO_HOME`'s (default `$HOME/.cargo`).
pub fn cargo_config_files(start: &Path) -> Result<Vec<ConfigFile>, (PathBuf, std::io::Error)> {
    let mut dirs: Vec<PathBuf> = start.ancestors().map(|dir| dir.join(".cargo")).collect();
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cargo")));
    if let Some(home) = cargo_home {
        if !dirs.contains(&home) {
            dirs.push(home);
        }
    }
    let mut files = Vec::new();
    for dir in dirs {
        let found = ["config.toml", "config"]
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file());
        if let Some(path) = found {
            let text = std::fs::read_to_string(&path).map_err(|e| (path.clone(), e))?;
            files.push(ConfigFile {
                path: path.display().to_string(),
                text,
            });
        }
    }
    Ok(files)
}

fn check_index_url(url: &str) -> Result<(), ResolveError> {
    let bad = |why: &str| {
        Err(ResolveError::BadIndex {
            url: url.to_owned(),
            why: why.to_owned(),
        })
    };
    let rest = url.strip_prefix("sparse+").unwrap_or(url);
    let Some((scheme, after)) = rest.split_once("://") else {
        return bad("it has no scheme such as sparse+https://");
    };
    if !matches!(scheme, "http" | "https" | "file" | "ssh" | "git") {
        return bad(
            "the scheme must be http, https, file, ssh or git (with sparse+ for a sparse index)",
        );
    }
    if after.is_empty() || after.chars().any(char::is_whitespace) {
        return bad("it has no host or contains whitespace");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_indexes_are_checked_and_end_with_a_slash() {
        assert_eq!(
            python_index("https://pypi.org/simple", false).unwrap(),
            "https://pypi.org/simple/"
        );
        assert_eq!(
            python_index("http://127.0.0.1:3141/root/dev/+simple/", false).unwrap(),
            "http://127.0.0.1:3141/root/dev/+simple/"
        );
        for bad in [
            "http://example.org/simple/",
            "https://u:p@pypi.org/simple/",
            "https://pypi.org/simple/?x=1",
            "not a url",
        ] {
            let error = python_index(bad, false).unwrap_err();
            assert_eq!(error.error_code().name, "invalid-index-url", "{bad}");
        }
        assert!(python_index("http://example.org/simple/", true).is_ok());
    }

    fn config(path: &str, text: &str) -> ConfigFile {
        ConfigFile {
            path: path.to_owned(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn default_is_crates_io() {
        let target = resolve(&RegistryChoice::Default, &|_| None, &[]).unwrap();
        assert_eq!(target.name.as_deref(), Some("crates-io"));
        assert_eq!(target.index, "sparse+https://index.crates.io/");
    }

    #[test]
    fn named_registry_from_env_before_config_and_nearest_config_first() {
        let configs = [
            config("near", "[registries.my-reg]\nindex = \"sparse+https://near/\"\n"),
            config("far", "[registries.my-reg]\nindex = \"sparse+https://far/\"\n[registry]\ndefault = \"my-reg\"\n"),
        ];
        let choice = RegistryChoice::Named("my-reg".into());
        assert_eq!(
            resolve(&choice, &|_| None, &configs).unwrap().index,
            "sparse+https://near/"
        );
        let env = |var: &str| {
            (var == "CARGO_REGISTRIES_MY_REG_INDEX").then(|| "sparse+https://env/".to_owned())
        };
        assert_eq!(
            resolve(&choice, &env, &configs).unwrap().index,
            "sparse+https://env/"
        );
        let default = resolve(&RegistryChoice::Default, &|_| None, &configs).unwrap();
        assert_eq!(default.name.as_deref(), Some("my-reg"));
    }

    #[test]
    fn unknown_registry_and_bad_config_and_bad_index() {
        assert_eq!(
            resolve(&RegistryChoice::Named("nope".into()), &|_| None, &[]),
            Err(ResolveError::Unknown {
                name: "nope".into(),
                variable: "CARGO_REGISTRIES_NOPE_INDEX".into()
            })
        );
        let broken = [config("broken.toml", "[registries\n")];
        assert!(matches!(
            resolve(&RegistryChoice::Named("x".into()), &|_| None, &broken),
            Err(ResolveError::Config { path, .. }) if path == "broken.toml"
        ));
        for bad in ["index.crates.io", "ftp://x/", "sparse+https://"] {
            assert!(
                resolve(&RegistryChoice::Index(bad.into()), &|_| None, &[]).is_err(),
                "{bad}"
            );
        }
        let given = resolve(
            &RegistryChoice::Index("sparse+http://127.0.0.1:1/i/".into()),
            &|_| None,
            &[],
        )
        .unwrap();
        assert_eq!(given.name, None);
    }
}
