//! Tokens and where they may go. Tokens come from the environment only — cargo's variable names,
//! or one named with `--token-env` — never from arguments, files or plans. A token is sent only
//! to the API of the registry the command line or cargo's configuration names, and never over
//! plain HTTP to another machine.

use std::fmt;

use crate::error::RegistryError;
use crate::CRATES_IO;

/// A registry token. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// Wraps a token value.
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The value, for the `Authorization` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The environment variable a token is read from: `explicit` (from `--token-env`) if given,
/// else `CARGO_REGISTRY_TOKEN` for crates.io and `CARGO_REGISTRIES_<NAME>_TOKEN` for a named
/// registry. `None` for a registry given only by URL without `--token-env`.
pub fn token_variable(registry_name: Option<&str>, explicit: Option<&str>) -> Option<String> {
    if let Some(variable) = explicit {
        return Some(variable.to_owned());
    }
    match registry_name? {
        CRATES_IO => Some("CARGO_REGISTRY_TOKEN".to_owned()),
        name => Some(format!(
            "CARGO_REGISTRIES_{}_TOKEN",
            name.to_ascii_uppercase().replace('-', "_")
        )),
    }
}

/// The token in `variable`, if set and not empty.
pub fn token_from_env(variable: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Option<Token> {
    lookup(variable)
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
        .map(Token)
}

/// Whether `url`'s host is this machine (127.0.0.0/8, `localhost`, `[::1]`).
pub fn is_loopback(url: &str) -> bool {
    let Some(host) = host_of(url) else {
        return false;
    };
    if host == "localhost" {
        return true;
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The host of an `scheme://host[:port]/…` URL, lower-cased.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sparse+").unwrap_or(url);
    let (_, after) = rest.split_once("://")?;
    let authority = after.split(['/', '?', '#']).next()?;
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let host = if authority.starts_with('[') {
        authority.split_once(']').map(|(h, _)| format!("{h}]"))?
    } else {
        authority.split(':').next()?.to_owned()
    };
    Some(host.to_ascii_lowercase())
}

/// `scheme://host[:port]` of a URL, for same-origin checks.
pub fn origin_of(url: &str) -> Option<String> {
    let rest = url.strip_prefix("sparse+").unwrap_or(url);
    let (scheme, after) = rest.split_once("://")?;
    let authority = after.split(['/', '?', '#']).next()?;
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        authority.to_ascii_lowercase()
    ))
}

/// Refuses plain HTTP to anything but this machine unless `allow_http`.
pub fn check_transport(url: &str, allow_http: bool) -> Result<(), RegistryError> {
    let rest = url.strip_prefix("sparse+").unwrap_or(url);
    if rest.starts_with("https://") || allow_http || is_loopback(url) {
        return Ok(());
    }
    Err(RegistryError::InsecureUrl {
        url: url.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_variables_follow_cargo() {
        assert_eq!(
            token_variable(Some("crates-io"), None).as_deref(),
            Some("CARGO_REGISTRY_TOKEN")
        );
        assert_eq!(
            token_variable(Some("my-reg"), None).as_deref(),
            Some("CARGO_REGISTRIES_MY_REG_TOKEN")
        );
        assert_eq!(token_variable(None, None), None);
        assert_eq!(
            token_variable(None, Some("CI_TOKEN")).as_deref(),
            Some("CI_TOKEN")
        );
    }

    #[test]
    fn tokens_never_print() {
        let token = token_from_env("T", &|_| Some(" secret-value \n".into())).unwrap();
        assert_eq!(token.expose(), "secret-value");
        assert!(!format!("{token:?} {token}").contains("secret"));
        assert_eq!(token_from_env("T", &|_| Some("  ".into())), None);
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(check_transport("sparse+https://index.crates.io/", false).is_ok());
        assert!(check_transport("sparse+http://127.0.0.1:8080/index/", false).is_ok());
        assert!(check_transport("http://localhost:1/", false).is_ok());
        assert!(check_transport("http://[::1]:1/", false).is_ok());
        assert!(check_transport("http://127.0.0.1.example.com/", false).is_err());
        assert!(check_transport("http://registry.internal/", false).is_err());
        assert!(check_transport("http://registry.internal/", true).is_ok());
        assert!(check_transport("http://user@10.0.0.1/", false).is_err());
    }

    #[test]
    fn origins_and_hosts() {
        assert_eq!(
            origin_of("sparse+http://127.0.0.1:80/a/b").as_deref(),
            Some("http://127.0.0.1:80")
        );
        assert_eq!(
            host_of("https://User@Example.COM:443/x").as_deref(),
            Some("example.com")
        );
        assert_eq!(host_of("http://[::1]:8/").as_deref(), Some("[::1]"));
    }
}
