//! Trusted publishing (OIDC): where the CI's identity token comes from, and how it is fetched.
//!
//! The CI proves who is publishing with a short-lived OpenID Connect token (a JWT) for an
//! audience, the registry's host. [`RegistryClient::exchange_trusted_token`] trades it at the
//! registry for a publish token valid about 30 minutes, and
//! [`RegistryClient::revoke_trusted_token`] ends that token early.
//!
//! Every value here is a secret: the request token that lets the job ask for identity tokens,
//! the identity token, and the publish token. Each is held in a [`Token`], sent only to the
//! origin it belongs to (the CI's token service, the registry's API) and redacted from
//! everything either of them says.
//!
//! [`RegistryClient::exchange_trusted_token`]: crate::RegistryClient::exchange_trusted_token
//! [`RegistryClient::revoke_trusted_token`]: crate::RegistryClient::revoke_trusted_token

use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION};
use reqwest::Url;

use crate::auth::{checked_url, Token};
use crate::client::RESPONSE_LIMIT;
use crate::error::{error_detail, RegistryError};

/// GitHub Actions' variable with the URL of its identity-token service (set when the job has
/// `permissions: id-token: write`).
pub const GITHUB_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// GitHub Actions' variable with the bearer token for that service.
pub const GITHUB_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Where the CI's identity token comes from.
#[derive(Debug, Clone)]
pub enum IdTokenSource {
    /// GitHub Actions: asked for, per audience, from its token service. A fresh one can be asked
    /// for at any time during the job, so the publish token can be refreshed.
    GitHub {
        /// The service URL (parsed once, as the client will request it).
        request_url: Url,
        /// The bearer token for the service.
        request_token: Token,
    },
    /// A variable holding the identity token itself (GitLab's `id_tokens:`). Registries accept
    /// an identity token once, so this source cannot refresh.
    Variable {
        /// The variable's name, for messages.
        name: String,
        /// The identity token.
        token: Token,
    },
}

/// Why no identity token source is usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Neither GitHub's variables nor the named variable are set.
    #[error("no OIDC identity token: {0}")]
    Missing(String),
    /// GitHub's request URL is not usable.
    #[error("{GITHUB_REQUEST_URL} is not a usable URL: {0}")]
    BadUrl(String),
}

impl IdTokenSource {
    /// The source the environment offers: the variable named with `variable` (GitLab) when
    /// given, else GitHub Actions' pair. `allow_http` as for registry URLs: GitHub's service
    /// is HTTPS; plain HTTP is accepted only on this machine (tests) unless allowed.
    pub fn from_env(
        variable: Option<&str>,
        lookup: &dyn Fn(&str) -> Option<String>,
        allow_http: bool,
    ) -> Result<Self, SourceError> {
        let value = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        if let Some(name) = variable {
            return value(name)
                .map(|token| Self::Variable {
                    name: name.to_owned(),
                    token: Token::new(token),
                })
                .ok_or_else(|| SourceError::Missing(format!("{name} is not set")));
        }
        match (value(GITHUB_REQUEST_URL), value(GITHUB_REQUEST_TOKEN)) {
            (Some(url), Some(token)) => Ok(Self::GitHub {
                request_url: checked_url(&url, allow_http)
                    .map_err(|e| SourceError::BadUrl(e.to_string()))?,
                request_token: Token::new(token),
            }),
            _ => Err(SourceError::Missing(format!(
                "{GITHUB_REQUEST_URL} and {GITHUB_REQUEST_TOKEN} are not set (GitHub Actions sets them only for a job with `permissions: id-token: write`)"
            ))),
        }
    }

    /// Whether a second identity token can be had (to refresh the publish token).
    pub fn can_refresh(&self) -> bool {
        matches!(self, Self::GitHub { .. })
    }

    /// The secrets this source holds, for redaction.
    pub fn secrets(&self) -> Vec<&Token> {
        match self {
            Self::GitHub { request_token, .. } => vec![request_token],
            Self::Variable { token, .. } => vec![token],
        }
    }

    /// An identity token for `audience`.
    pub async fn id_token(&self, audience: &str) -> Result<Token, RegistryError> {
        match self {
            Self::Variable { token, .. } => Ok(token.clone()),
            Self::GitHub {
                request_url,
                request_token,
            } => fetch_github(request_url, request_token, audience)
                .await
                .map_err(|e| e.redacted(&[request_token])),
        }
    }
}

/// The audience an identity token for the registry API at `api` must name: its host
/// (`crates.io` for crates.io).
pub fn audience(api: &Url) -> String {
    api.host_str().unwrap_or_default().to_owned()
}

async fn fetch_github(
    request_url: &Url,
    request_token: &Token,
    audience: &str,
) -> Result<Token, RegistryError> {
    let mut url = request_url.clone();
    url.query_pairs_mut().append_pair("audience", audience);
    let failed = |detail: String| RegistryError::Auth {
        status: 0,
        detail: format!("the CI's identity-token service: {detail}"),
        trusted_publishing_only: false,
    };
    // Its own client: no redirects (the bearer token goes to this URL only), bounded in time.
    let http = reqwest::Client::builder()
        .user_agent(concat!("convoy/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = http
        .get(url)
        .header(AUTHORIZATION, format!("bearer {}", request_token.expose()))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| RegistryError::Network {
            detail: format!("the CI's identity-token service: {e}"),
        })?;
    let status = response.status().as_u16();
    let body = crate::client::bounded_text(response, RESPONSE_LIMIT).await?;
    if !(200..300).contains(&status) {
        return Err(failed(format!("HTTP {status}: {}", error_detail(&body))));
    }
    serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("value")?.as_str().map(str::to_owned))
        .filter(|v| !v.is_empty())
        .map(Token::new)
        .ok_or_else(|| failed("the answer has no `value`".to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn github_needs_both_variables_and_a_safe_url() {
        let both = [
            (
                GITHUB_REQUEST_URL,
                "https://token.actions.example/id?api-version=2.0",
            ),
            (GITHUB_REQUEST_TOKEN, "request-secret"),
        ];
        let source = IdTokenSource::from_env(None, &env(&both), false).unwrap();
        assert!(source.can_refresh());
        assert!(!format!("{source:?}").contains("request-secret"));
        let missing = IdTokenSource::from_env(None, &env(&both[..1]), false).unwrap_err();
        assert!(missing.to_string().contains("id-token: write"), "{missing}");
        let plain = [
            (GITHUB_REQUEST_URL, "http://token.example/id"),
            (GITHUB_REQUEST_TOKEN, "t"),
        ];
        assert!(matches!(
            IdTokenSource::from_env(None, &env(&plain), false),
            Err(SourceError::BadUrl(_))
        ));
    }

    #[test]
    fn a_named_variable_wins_and_cannot_refresh() {
        let vars = [("CRATES_IO_ID_TOKEN", " jwt-value \n")];
        let source =
            IdTokenSource::from_env(Some("CRATES_IO_ID_TOKEN"), &env(&vars), false).unwrap();
        assert!(!source.can_refresh());
        assert_eq!(source.secrets()[0].expose(), "jwt-value");
        let error = IdTokenSource::from_env(Some("OTHER"), &env(&vars), false).unwrap_err();
        assert_eq!(error, SourceError::Missing("OTHER is not set".into()));
    }

    #[test]
    fn the_audience_is_the_api_host() {
        assert_eq!(
            audience(&Url::parse("https://crates.io").unwrap()),
            "crates.io"
        );
        assert_eq!(
            audience(&Url::parse("http://127.0.0.1:4000/").unwrap()),
            "127.0.0.1"
        );
    }
}
