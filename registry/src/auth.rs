//! Tokens and where they may go. Tokens come from the environment only — cargo's variable names,
//! or one named with `--token-env` — never from arguments, files or plans. A token is sent only
//! to the API of the registry the command line or cargo's configuration names, and never over
//! plain HTTP to another machine.

use std::fmt;

use reqwest::Url;
use url::Host;

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

/// A registry URL parsed once, with the parser the HTTP client itself uses (`url`, which reqwest
/// re-exports), so the host Convoy judges is the host the client connects to. `sparse+` is
/// dropped; only `http` and `https` with a host and without credentials are accepted.
pub fn parse_url(text: &str) -> Result<Url, RegistryError> {
    let bare = text.strip_prefix("sparse+").unwrap_or(text);
    let invalid = |why: &str| RegistryError::Protocol {
        detail: format!("`{text}` is not a usable registry URL: {why}"),
    };
    let url = Url::parse(bare).map_err(|e| invalid(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid("only http and https are supported"));
    }
    if url.host().is_none() {
        return Err(invalid("it names no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "it carries credentials; give tokens through the environment",
        ));
    }
    Ok(url)
}

/// Whether a parsed URL's host is this machine (127.0.0.0/8, `localhost`, `[::1]`). `0.0.0.0`
/// and other unspecified or private addresses are not.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Refuses plain HTTP to anything but this machine unless `allow_http`.
pub fn check_transport(url: &Url, allow_http: bool) -> Result<(), RegistryError> {
    if url.scheme() == "https" || allow_http || is_loopback(url) {
        return Ok(());
    }
    Err(RegistryError::InsecureUrl {
        url: url.to_string(),
    })
}

/// Parses `text` and refuses it unless its transport is acceptable: the one gate every URL Convoy
/// requests passes through.
pub fn checked_url(text: &str, allow_http: bool) -> Result<Url, RegistryError> {
    let url = parse_url(text)?;
    check_transport(&url, allow_http)?;
    Ok(url)
}

/// Replaces every occurrence of the secret values in `text` with `<redacted>`: whatever a
/// registry says may quote the token back, and nothing it says is shown or stored unredacted.
pub fn redact(text: &str, secrets: &[&Token]) -> String {
    let mut text = text.to_owned();
    for secret in secrets {
        let value = secret.expose();
        // A token shorter than this would redact ordinary words; real tokens are far longer.
        if value.len() >= 4 {
            text = text.replace(value, "<redacted>");
        }
    }
    text
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

    fn allowed(url: &str, allow_http: bool) -> bool {
        checked_url(url, allow_http).is_ok()
    }

    #[test]
    fn plain_http_only_to_this_machine() {
        assert!(allowed("sparse+https://index.crates.io/", false));
        assert!(allowed("sparse+http://127.0.0.1:8080/index/", false));
        assert!(allowed("http://127.9.0.1:8080/", false));
        assert!(allowed("http://localhost:1/", false));
        assert!(allowed("http://LOCALHOST:1/", false));
        assert!(allowed("http://[::1]:1/", false));
        assert!(!allowed("http://127.0.0.1.example.com/", false));
        assert!(!allowed("http://registry.internal/", false));
        assert!(allowed("http://registry.internal/", true));
        assert!(!allowed("http://0.0.0.0:8080/", false));
        assert!(!allowed("ftp://127.0.0.1/", true));
        assert!(!allowed("not a url", true));
    }

    #[test]
    fn the_host_judged_is_the_host_the_client_connects_to() {
        // The backslash is a path separator for the URL parser (and so for reqwest): the host is
        // 0.0.0.0, not the 127.0.0.1 after the `@` that a hand-written split would have taken.
        for trick in [
            "http://0.0.0.0:8080\\@127.0.0.1/index/",
            "sparse+http://10.0.0.1:8080\\@127.0.0.1/",
            "http://10.0.0.1#@127.0.0.1/",
            "http://10.0.0.1?@127.0.0.1/",
        ] {
            let url = parse_url(trick).map(|u| u.host_str().map(str::to_owned));
            assert!(!allowed(trick, false), "{trick} -> {url:?}");
        }
        // Credentials in a registry URL are refused outright, with or without --allow-http.
        assert!(!allowed("http://user@127.0.0.1/", false));
        assert!(!allowed("https://user:pw@example.com/", true));
    }

    #[test]
    fn redaction_replaces_every_occurrence() {
        let token = Token::new("cio-SECRET-123".into());
        let said = "invalid token cio-SECRET-123 (Bearer cio-SECRET-123)";
        let redacted = redact(said, &[&token]);
        assert!(!redacted.contains("SECRET"), "{redacted}");
        assert_eq!(redacted.matches("<redacted>").count(), 2);
        assert_eq!(redact("abc abc", &[&Token::new("abc".into())]), "abc abc");
    }
}
