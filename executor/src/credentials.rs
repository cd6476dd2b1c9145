//! Which credential each upload carries, and the life of a trusted-publishing token.
//!
//! Two lanes: the long-lived API token from the environment, and a short-lived token from
//! trusted publishing (the CI's OIDC identity token exchanged at the registry). crates.io
//! creates crates only for API tokens, so a crate's first version needs the API token; every
//! other upload prefers the trusted token when the run has one. The choice ([`lane`]) and the
//! refresh rule ([`Lifetime`]) are pure; [`Credentials`] holds the tokens and does the
//! exchanges and revocations they call for.
//!
//! A release with Python packages holds the Python index's login too: a token (or a user's
//! password) from the environment, or a token the index mints for an identity token (PyPI's
//! trusted publishing, `mint-token`: valid 15 minutes, replaced by the same rule, never
//! revoked because PyPI has no way to).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use convoy_registry::auth::Token;
use convoy_registry::python::{Login, PythonIndex};
use convoy_registry::trusted::IdTokenSource;
use convoy_registry::{RegistryClient, RegistryError};
use convoy_schema::events::CredentialLane;

use crate::schedule::Kind;

/// The credential uploads of `kind` carry, given which the run holds; `None` when none of them
/// can publish it (a new crate with only a trusted-publishing token).
pub fn lane(kind: Kind, api: bool, trusted: bool) -> Option<CredentialLane> {
    match kind {
        Kind::NewCrate => api.then_some(CredentialLane::ApiToken),
        Kind::NewVersion if trusted => Some(CredentialLane::TrustedPublishing),
        Kind::NewVersion => api.then_some(CredentialLane::ApiToken),
        // The Python index's token is checked before the run; it is an API token too.
        Kind::Python => Some(CredentialLane::ApiToken),
    }
}

/// Which credentials a run holds (or, in a dry run, would hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lanes {
    /// An API token.
    pub api: bool,
    /// A trusted-publishing token.
    pub trusted: bool,
}

impl Lanes {
    /// The credential an upload of `kind` carries ([`lane`]).
    pub fn of(self, kind: Kind) -> Option<CredentialLane> {
        lane(kind, self.api, self.trusted)
    }

    /// In words, for the dry run.
    pub fn describe(self) -> &'static str {
        match (self.api, self.trusted) {
            (true, true) => "trusted publishing for new versions, the API token for new crates",
            (false, true) => "trusted publishing only: new crates need an API token and are left for a rerun with one",
            (true, false) => "the API token",
            (false, false) => "none",
        }
    }
}

/// How long a trusted-publishing token lives, and how early it is replaced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Valid this long after it is issued (crates.io: 30 minutes; it does not say so per token).
    pub valid_for: Duration,
    /// Replaced this long before it expires: more than an upload can take (the client times
    /// out a request after 60 s), so no upload ever carries a token that expires on the way.
    pub margin: Duration,
}

impl Lifetime {
    /// crates.io's: valid 30 minutes, replaced after 20.
    pub const CRATES_IO: Self = Self {
        valid_for: Duration::from_secs(30 * 60),
        margin: Duration::from_secs(10 * 60),
    };

    /// PyPI's minted upload tokens: valid 15 minutes, replaced after 10 (an upload of a large
    /// wheel may take minutes).
    pub const PYPI: Self = Self {
        valid_for: Duration::from_secs(15 * 60),
        margin: Duration::from_secs(5 * 60),
    };

    /// When a token issued at `issued` is replaced before its next use.
    pub fn refresh_at(&self, issued: SystemTime) -> SystemTime {
        issued + self.valid_for.saturating_sub(self.margin)
    }

    /// The longest a run may go on with a token that cannot be replaced (an identity token is
    /// exchanged once): `max_wait` shortened to the token's safe life.
    pub fn bound_wait(&self, max_wait: Option<Duration>) -> Duration {
        let safe = self.valid_for.saturating_sub(self.margin);
        max_wait.map_or(safe, |wait| wait.min(safe))
    }
}

/// A change in the run's credentials, for the event stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenEvent {
    /// A trusted-publishing token was obtained.
    Issued {
        /// For the Python index (else the Cargo registry).
        python: bool,
        /// It replaces one about to expire.
        refreshed: bool,
        /// When it will be replaced.
        refresh_at: SystemTime,
    },
    /// A trusted-publishing token was revoked (`Ok`), or the registry did not confirm it.
    Revoked(Result<(), String>),
}

struct Trusted {
    source: IdTokenSource,
    audience: String,
    lifetime: Lifetime,
    current: Arc<Token>,
    issued: SystemTime,
    /// Replaced tokens not yet revoked: an upload may still carry them.
    retired: Vec<Arc<Token>>,
}

/// The Python index's login: fixed, or minted from identity tokens.
enum PythonLogin {
    Fixed(Arc<Login>),
    Minted {
        index: Arc<PythonIndex>,
        source: IdTokenSource,
        audience: String,
        current: Arc<Login>,
        issued: SystemTime,
    },
}

/// The tokens a run holds.
pub struct Credentials {
    api: Option<Arc<Token>>,
    trusted: Option<Trusted>,
    python: Option<PythonLogin>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api", &self.api.is_some())
            .field("trusted", &self.trusted.is_some())
            .field("python", &self.python.is_some())
            .finish()
    }
}

impl Credentials {
    /// Only an API token.
    pub fn api(token: Token) -> Self {
        Self {
            api: Some(Arc::new(token)),
            trusted: None,
            python: None,
        }
    }

    /// No Cargo credential (a release of Python packages only).
    pub fn none() -> Self {
        Self {
            api: None,
            trusted: None,
            python: None,
        }
    }

    /// These credentials, and `login` for the Python index.
    pub fn with_python(mut self, login: Login) -> Self {
        self.python = Some(PythonLogin::Fixed(Arc::new(login)));
        self
    }

    /// These credentials, and an upload token `index` mints for an identity token from
    /// `source` (for the audience the index names).
    pub async fn with_python_trusted(
        mut self,
        index: Arc<PythonIndex>,
        source: IdTokenSource,
        now: SystemTime,
    ) -> Result<(Self, TokenEvent), RegistryError> {
        let audience = index.oidc_audience().await?;
        let token = mint(&index, &source, &audience).await?;
        self.python = Some(PythonLogin::Minted {
            index,
            source,
            audience,
            current: Arc::new(Login::token(token)),
            issued: now,
        });
        let event = TokenEvent::Issued {
            python: true,
            refreshed: false,
            refresh_at: Lifetime::PYPI.refresh_at(now),
        };
        Ok((self, event))
    }

    /// The lane the Python index's uploads take.
    pub fn python_lane(&self) -> CredentialLane {
        match self.python {
            Some(PythonLogin::Minted { .. }) => CredentialLane::TrustedPublishing,
            _ => CredentialLane::ApiToken,
        }
    }

    /// The Python index's login for an upload starting at `now`; a minted token due for
    /// replacement is replaced first (when its source can give another identity token).
    pub async fn python_login(
        &mut self,
        now: SystemTime,
    ) -> Result<(Arc<Login>, Option<TokenEvent>), RegistryError> {
        match &mut self.python {
            None => Err(RegistryError::Auth {
                status: 0,
                detail: "this run holds no login for the Python index".to_owned(),
                trusted_publishing_only: false,
            }),
            Some(PythonLogin::Fixed(login)) => Ok((login.clone(), None)),
            Some(PythonLogin::Minted {
                index,
                source,
                audience,
                current,
                issued,
            }) => {
                if now < Lifetime::PYPI.refresh_at(*issued) || !source.can_refresh() {
                    return Ok((current.clone(), None));
                }
                let token = mint(index, source, audience).await?;
                *current = Arc::new(Login::token(token));
                *issued = now;
                let event = TokenEvent::Issued {
                    python: true,
                    refreshed: true,
                    refresh_at: Lifetime::PYPI.refresh_at(now),
                };
                Ok((current.clone(), Some(event)))
            }
        }
    }

    /// Trusted publishing (and the API token for new crates, when there is one): asks `source`
    /// for an identity token for `audience` and exchanges it at the registry.
    pub async fn trusted(
        api: Option<Token>,
        client: &RegistryClient,
        source: IdTokenSource,
        audience: String,
        lifetime: Lifetime,
        now: SystemTime,
    ) -> Result<(Self, TokenEvent), RegistryError> {
        let token = exchange(client, &source, &audience).await?;
        let credentials = Self {
            python: None,
            api: api.map(Arc::new),
            trusted: Some(Trusted {
                source,
                audience,
                lifetime,
                current: Arc::new(token),
                issued: now,
                retired: Vec::new(),
            }),
        };
        let event = TokenEvent::Issued {
            python: false,
            refreshed: false,
            refresh_at: lifetime.refresh_at(now),
        };
        Ok((credentials, event))
    }

    /// The lane uploads of `kind` take with these credentials.
    pub fn lane(&self, kind: Kind) -> Option<CredentialLane> {
        lane(kind, self.api.is_some(), self.trusted.is_some())
    }

    /// The token for an upload in `lane` starting at `now`; a trusted token due for replacement
    /// is replaced first (when its source can give another identity token).
    pub async fn token(
        &mut self,
        lane: CredentialLane,
        client: &RegistryClient,
        now: SystemTime,
    ) -> Result<(Arc<Token>, Option<TokenEvent>), RegistryError> {
        let missing = || RegistryError::Auth {
            status: 0,
            detail: "this run holds no credential for that upload".to_owned(),
            trusted_publishing_only: false,
        };
        match lane {
            CredentialLane::ApiToken => Ok((self.api.clone().ok_or_else(missing)?, None)),
            CredentialLane::TrustedPublishing => {
                let trusted = self.trusted.as_mut().ok_or_else(missing)?;
                if now < trusted.lifetime.refresh_at(trusted.issued)
                    || !trusted.source.can_refresh()
                {
                    return Ok((trusted.current.clone(), None));
                }
                let token = exchange(client, &trusted.source, &trusted.audience).await?;
                let old = std::mem::replace(&mut trusted.current, Arc::new(token));
                trusted.retired.push(old);
                trusted.issued = now;
                let event = TokenEvent::Issued {
                    python: false,
                    refreshed: true,
                    refresh_at: trusted.lifetime.refresh_at(now),
                };
                Ok((trusted.current.clone(), Some(event)))
            }
        }
    }

    /// Revokes replaced tokens that no upload carries any more.
    pub async fn revoke_retired(&mut self, client: &RegistryClient) -> Vec<TokenEvent> {
        let Some(trusted) = self.trusted.as_mut() else {
            return Vec::new();
        };
        let (idle, busy): (Vec<_>, Vec<_>) = std::mem::take(&mut trusted.retired)
            .into_iter()
            .partition(|token| Arc::strong_count(token) == 1);
        trusted.retired = busy;
        revoke_all(client, &idle).await
    }

    /// Revokes every trusted-publishing token this run obtained: at the end of every run,
    /// however it ended.
    pub async fn close(self, client: &RegistryClient) -> Vec<TokenEvent> {
        let Some(trusted) = self.trusted else {
            return Vec::new();
        };
        let mut tokens = trusted.retired;
        tokens.push(trusted.current);
        revoke_all(client, &tokens).await
    }

    /// Whether the run may go on for longer than its trusted token lives (false: the identity
    /// token cannot be exchanged again, so the run must end before the token expires).
    pub fn refreshable(&self) -> bool {
        let python = match &self.python {
            Some(PythonLogin::Minted { source, .. }) => source.can_refresh(),
            _ => true,
        };
        python
            && self
                .trusted
                .as_ref()
                .is_none_or(|trusted| trusted.source.can_refresh())
    }

    /// How long a run may go on with tokens that cannot be replaced: the shortest safe life
    /// of the ones it holds, and `max_wait`.
    pub fn bound_wait(&self, max_wait: Option<Duration>) -> Option<Duration> {
        let mut bound = max_wait;
        if let Some(trusted) = &self.trusted {
            if !trusted.source.can_refresh() {
                bound = Some(trusted.lifetime.bound_wait(bound));
            }
        }
        if let Some(PythonLogin::Minted { source, .. }) = &self.python {
            if !source.can_refresh() {
                bound = Some(Lifetime::PYPI.bound_wait(bound));
            }
        }
        bound
    }
}

async fn exchange(
    client: &RegistryClient,
    source: &IdTokenSource,
    audience: &str,
) -> Result<Token, RegistryError> {
    let jwt = source.id_token(audience).await?;
    client
        .exchange_trusted_token(&jwt)
        .await
        .map_err(|e| e.redacted(&source.secrets()))
}

async fn mint(
    index: &PythonIndex,
    source: &IdTokenSource,
    audience: &str,
) -> Result<Token, RegistryError> {
    let jwt = source.id_token(audience).await?;
    index
        .mint_token(&jwt)
        .await
        .map_err(|e| e.redacted(&source.secrets()))
}

async fn revoke_all(client: &RegistryClient, tokens: &[Arc<Token>]) -> Vec<TokenEvent> {
    let mut events = Vec::new();
    for token in tokens {
        let result = client
            .revoke_trusted_token(token)
            .await
            .map_err(|e| e.to_string());
        events.push(TokenEvent::Revoked(result));
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_crates_need_the_api_token_and_the_rest_prefer_trusted_publishing() {
        use CredentialLane::{ApiToken, TrustedPublishing};
        assert_eq!(lane(Kind::NewCrate, true, true), Some(ApiToken));
        assert_eq!(lane(Kind::NewCrate, false, true), None);
        assert_eq!(lane(Kind::NewCrate, true, false), Some(ApiToken));
        assert_eq!(lane(Kind::NewVersion, true, true), Some(TrustedPublishing));
        assert_eq!(lane(Kind::NewVersion, false, true), Some(TrustedPublishing));
        assert_eq!(lane(Kind::NewVersion, true, false), Some(ApiToken));
        assert_eq!(lane(Kind::NewVersion, false, false), None);
    }

    #[test]
    fn a_token_is_replaced_with_a_margin_and_an_unreplaceable_one_bounds_the_run() {
        let start = SystemTime::UNIX_EPOCH;
        let life = Lifetime::CRATES_IO;
        assert_eq!(life.refresh_at(start), start + Duration::from_secs(20 * 60));
        assert!(
            life.margin > Duration::from_secs(60),
            "more than a request's timeout"
        );
        assert_eq!(life.bound_wait(None), Duration::from_secs(20 * 60));
        assert_eq!(
            life.bound_wait(Some(Duration::from_secs(60))),
            Duration::from_secs(60)
        );
        assert_eq!(
            life.bound_wait(Some(Duration::from_secs(7200))),
            Duration::from_secs(20 * 60)
        );
    }
}
