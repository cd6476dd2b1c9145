//! What can go wrong talking to a registry, classified so callers know what is safe to retry.
//!
//! The classification of a response is a pure function of its status, `Retry-After` header and
//! body, so every class is unit-tested without a server.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convoy_schema::{exit, ErrorCode};

/// A registry failure, by what the caller may do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RegistryError {
    /// 429: wait until `retry_at` (when the registry said) and try again.
    #[error("rate limited by the registry{}: {detail}", retry_words(.retry_at))]
    RateLimited {
        /// When the registry said to try again, if it said.
        retry_at: Option<SystemTime>,
        /// The registry's message.
        detail: String,
    },
    /// The version is already in the registry; resolve by reading the index.
    #[error("the registry already has this version: {detail}")]
    AlreadyExists {
        /// The registry's message.
        detail: String,
    },
    /// 401/403: the token is missing, wrong, lacks rights, or the crate accepts only trusted
    /// publishing.
    #[error("the registry refused the credentials (HTTP {status}): {detail}")]
    Auth {
        /// HTTP status.
        status: u16,
        /// The registry's message.
        detail: String,
        /// The crate is marked trusted-publishing-only.
        trusted_publishing_only: bool,
    },
    /// 401/403 to a trusted-publishing token uploading a crate's first version: the registry
    /// creates crates only for API tokens (crates.io). Not retryable with this credential.
    #[error("the registry creates new crates only with an API token (HTTP {status}): {detail}")]
    NeedsApiToken {
        /// HTTP status.
        status: u16,
        /// The registry's message.
        detail: String,
    },
    /// Another 4xx: the request is wrong and retrying will not help.
    #[error("the registry rejected the request (HTTP {status}): {detail}")]
    Client {
        /// HTTP status.
        status: u16,
        /// The registry's message.
        detail: String,
    },
    /// 5xx: the registry failed; retrying later may succeed.
    #[error("the registry failed (HTTP {status}): {detail}")]
    Server {
        /// HTTP status.
        status: u16,
        /// The body or message.
        detail: String,
    },
    /// The request did not reach the registry (connect failure, DNS, refused): safe to retry.
    #[error("cannot reach the registry: {detail}")]
    Network {
        /// What failed.
        detail: String,
    },
    /// The request was sent but no response came back: it may or may not have taken effect.
    /// Resolve by reading the index, never by sending it again blindly.
    #[error("the request was sent but its outcome is unknown: {detail}")]
    OutcomeUnknown {
        /// What failed.
        detail: String,
    },
    /// The registry answered something that is not its protocol (bad config.json, index line).
    #[error("the registry's answer is not valid: {detail}")]
    Protocol {
        /// What is wrong.
        detail: String,
    },
    /// A plain-HTTP URL that is not on this machine.
    #[error(
        "refusing plain HTTP to {url}: tokens and artifacts would cross the network unencrypted"
    )]
    InsecureUrl {
        /// The URL.
        url: String,
    },
}

fn retry_words(retry_at: &Option<SystemTime>) -> String {
    match retry_at.and_then(|t| t.duration_since(UNIX_EPOCH).ok()) {
        Some(at) => format!(" until {} (unix time)", at.as_secs()),
        None => String::new(),
    }
}

convoy_schema::error_codes! {
    /// The codes of [`RegistryError`], in every binary. The exit code is the one a command
    /// ends with when the error stops it; the upload-only codes (`already-exists`,
    /// `outcome-unknown`, `new-crate-needs-api-token`) end a publish run as a failed crate.
    pub REGISTRY_CODES {
        /// 429 asking to wait longer than the command may.
        RATE_LIMITED = "rate-limited", exit::REGISTRY;
        /// The registry already has the version.
        ALREADY_EXISTS = "already-exists", exit::FAILED;
        /// The registry refused the credentials.
        REGISTRY_AUTH_FAILED = "registry-auth-failed", exit::REGISTRY;
        /// A trusted-publishing token cannot create a crate.
        NEW_CRATE_NEEDS_API_TOKEN = "new-crate-needs-api-token", exit::FAILED;
        /// Another 4xx.
        REGISTRY_REJECTED = "registry-rejected", exit::REGISTRY;
        /// 5xx.
        REGISTRY_SERVER_ERROR = "registry-server-error", exit::REGISTRY;
        /// The request did not reach the registry.
        REGISTRY_UNREACHABLE = "registry-unreachable", exit::REGISTRY;
        /// Sent, but no answer came back.
        OUTCOME_UNKNOWN = "outcome-unknown", exit::FAILED;
        /// The answer is not the registry protocol.
        REGISTRY_PROTOCOL_ERROR = "registry-protocol-error", exit::REFUSED;
        /// Plain HTTP to another machine.
        INSECURE_REGISTRY_URL = "insecure-registry-url", exit::REFUSED;
    }
}

/// The codes a command can stop with (and print): all but those only an upload answer has,
/// which end a publish run as a failed crate in its events instead.
pub fn stopping_codes() -> Vec<ErrorCode> {
    let upload_only = [ALREADY_EXISTS, OUTCOME_UNKNOWN, NEW_CRATE_NEEDS_API_TOKEN];
    REGISTRY_CODES
        .iter()
        .copied()
        .filter(|code| !upload_only.contains(code))
        .collect()
}

impl RegistryError {
    /// Stable code, with the exit code of a command this error stops.
    pub fn error_code(&self) -> ErrorCode {
        match self {
            Self::RateLimited { .. } => RATE_LIMITED,
            Self::AlreadyExists { .. } => ALREADY_EXISTS,
            Self::Auth { .. } => REGISTRY_AUTH_FAILED,
            Self::NeedsApiToken { .. } => NEW_CRATE_NEEDS_API_TOKEN,
            Self::Client { .. } => REGISTRY_REJECTED,
            Self::Server { .. } => REGISTRY_SERVER_ERROR,
            Self::Network { .. } => REGISTRY_UNREACHABLE,
            Self::OutcomeUnknown { .. } => OUTCOME_UNKNOWN,
            Self::Protocol { .. } => REGISTRY_PROTOCOL_ERROR,
            Self::InsecureUrl { .. } => INSECURE_REGISTRY_URL,
        }
    }

    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        self.error_code().name
    }

    /// The exit code of a command this error stops: 2 for a URL or an answer that is not a
    /// registry's (nothing to retry), 3 for the registry's failures.
    pub fn exit_code(&self) -> i32 {
        self.error_code().exit
    }

    /// What to do about it, for a command that only reads the registry (plan, verify).
    pub fn read_help(&self) -> &'static str {
        match self {
            Self::Auth { .. } => "set the registry's read token in CARGO_REGISTRIES_<NAME>_TOKEN (CARGO_REGISTRY_TOKEN for crates.io)",
            Self::InsecureUrl { .. } => "use https, or pass --allow-http if plain HTTP is really meant",
            _ => "check the index URL and the network",
        }
    }

    /// The same error with every secret value removed from what the registry said.
    pub fn redacted(self, secrets: &[&crate::auth::Token]) -> Self {
        let scrub = |detail: String| crate::auth::redact(&detail, secrets);
        match self {
            Self::RateLimited { retry_at, detail } => Self::RateLimited {
                retry_at,
                detail: scrub(detail),
            },
            Self::AlreadyExists { detail } => Self::AlreadyExists {
                detail: scrub(detail),
            },
            Self::Auth {
                status,
                detail,
                trusted_publishing_only,
            } => Self::Auth {
                status,
                detail: scrub(detail),
                trusted_publishing_only,
            },
            Self::Client { status, detail } => Self::Client {
                status,
                detail: scrub(detail),
            },
            Self::NeedsApiToken { status, detail } => Self::NeedsApiToken {
                status,
                detail: scrub(detail),
            },
            Self::Server { status, detail } => Self::Server {
                status,
                detail: scrub(detail),
            },
            Self::Network { detail } => Self::Network {
                detail: scrub(detail),
            },
            Self::OutcomeUnknown { detail } => Self::OutcomeUnknown {
                detail: scrub(detail),
            },
            Self::Protocol { detail } => Self::Protocol {
                detail: scrub(detail),
            },
            Self::InsecureUrl { url } => Self::InsecureUrl { url: scrub(url) },
        }
    }

    /// Whether sending the same request again is safe and may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Server { .. } | Self::Network { .. } | Self::RateLimited { .. }
        )
    }
}

/// The most of anything a registry said that a message quotes.
pub const QUOTE_LIMIT: usize = 500;

/// `text` cut to [`QUOTE_LIMIT`] characters, saying how much was left out: a registry's answer is
/// quoted in messages, journals and summaries, never whole.
pub fn quote(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(QUOTE_LIMIT) {
        Some((cut, _)) => format!("{}… ({} more bytes)", &text[..cut], text.len() - cut),
        None => text.to_owned(),
    }
}

/// `errors[].detail` of a registry's JSON error body, joined; the raw body when it has none.
/// Quoted, so at most [`QUOTE_LIMIT`] characters.
pub fn error_detail(body: &str) -> String {
    let details: Vec<String> = serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors")?.as_array().cloned())
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e.get("detail")?.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    if details.is_empty() {
        quote(body)
    } else {
        quote(&details.join("; "))
    }
}

fn has_error_list(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("errors").map(serde_json::Value::is_array))
        .unwrap_or(false)
}

/// Classifies a publish-API response. `Ok` for a 2xx without an error list.
pub fn classify_response(
    status: u16,
    retry_after: Option<&str>,
    body: &str,
    now: SystemTime,
) -> Result<(), RegistryError> {
    let success = (200..300).contains(&status);
    if success && !has_error_list(body) {
        return Ok(());
    }
    let detail = error_detail(body);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("already uploaded") || lower.contains("already exists") {
        return Err(RegistryError::AlreadyExists { detail });
    }
    Err(match status {
        429 => RegistryError::RateLimited {
            retry_at: retry_time(retry_after, &detail, now),
            detail,
        },
        401 | 403 if lower.contains("trusted publishing") && lower.contains("new crate") => {
            RegistryError::NeedsApiToken { status, detail }
        }
        401 | 403 => RegistryError::Auth {
            status,
            trusted_publishing_only: lower.contains("trusted publishing"),
            detail,
        },
        500..=599 => RegistryError::Server { status, detail },
        _ => RegistryError::Client { status, detail },
    })
}

/// When to retry: `Retry-After` (seconds or an HTTP date), else crates.io's
/// "Please try again after `<date>`" in the message.
pub fn retry_time(header: Option<&str>, detail: &str, now: SystemTime) -> Option<SystemTime> {
    if let Some(value) = header.map(str::trim) {
        if let Ok(seconds) = value.parse::<u64>() {
            // A time past what the clock can hold is no time at all.
            return now.checked_add(Duration::from_secs(seconds));
        }
        if let Some(at) = parse_date(value) {
            return Some(at);
        }
    }
    let lower = detail.to_ascii_lowercase();
    let start = lower.find("try again after ")? + "try again after ".len();
    let rest = &detail[start..];
    let end = rest
        .find(" or ")
        .or_else(|| rest.find(". "))
        .unwrap_or(rest.len());
    parse_date(rest[..end].trim_end_matches('.').trim())
}

/// Parses a date as registries write them: an HTTP date (`Sat, 21 Nov 2026 14:00:00 GMT`, and
/// the obsolete forms HTTP allows), by `httpdate`; or the RFC 2822 form crates.io's messages use,
/// `[Day, ]D Mon YYYY HH:MM:SS (GMT|UTC|UT|Z|+hhmm|-hhmm)`, rewritten into an HTTP date (the
/// weekday is whichever one `httpdate` accepts for that day) and shifted by its zone.
pub fn parse_date(text: &str) -> Option<SystemTime> {
    if let Ok(at) = httpdate::parse_http_date(text) {
        return Some(at);
    }
    let text = text.split_once(", ").map_or(text, |(_, rest)| rest);
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [day, month, year, time, zone] = parts.as_slice() else {
        return None;
    };
    let day: u8 = day.parse().ok()?;
    let offset_minutes: i64 = match *zone {
        "GMT" | "UTC" | "UT" | "Z" => 0,
        zone if zone.len() == 5 && (zone.starts_with('+') || zone.starts_with('-')) => {
            // `get`, not indexing: five bytes need not be five characters (found by convoy-fuzz).
            let hours: i64 = zone.get(1..3)?.parse().ok()?;
            let minutes: i64 = zone.get(3..5)?.parse().ok()?;
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            sign * (hours * 60 + minutes)
        }
        _ => return None,
    };
    let utc = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
        .iter()
        .find_map(|weekday| {
            httpdate::parse_http_date(&format!("{weekday}, {day:02} {month} {year} {time} GMT"))
                .ok()
        })?;
    let shift = Duration::from_secs(offset_minutes.unsigned_abs() * 60);
    if offset_minutes >= 0 {
        utc.checked_sub(shift)
    } else {
        utc.checked_add(shift)
    }
}

/// Formats a time as an HTTP date (`Sat, 21 Nov 2026 14:00:00 GMT`), the form crates.io uses in
/// "try again after" messages and [`parse_date`] reads; a time an HTTP date cannot show (before
/// 1970, after 9999) as seconds since the epoch.
pub fn format_date(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // httpdate panics past the year 9999 (253402300800 s); a registry's answer must not.
    if seconds < 253_402_300_800 {
        httpdate::fmt_http_date(time.max(UNIX_EPOCH))
    } else {
        format!("{seconds} s after 1970 (unix time)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    #[test]
    fn dates_in_every_form_registries_use() {
        // 2026-11-21T14:00:00Z
        let expected = at(1_795_269_600);
        assert_eq!(parse_date("Sat, 21 Nov 2026 14:00:00 GMT"), Some(expected));
        assert_eq!(
            parse_date("Sat, 21 Nov 2026 14:00:00 +0000"),
            Some(expected)
        );
        assert_eq!(
            parse_date("Sat, 21 Nov 2026 15:30:00 +0130"),
            Some(expected)
        );
        assert_eq!(parse_date("21 Nov 2026 14:00:00 UTC"), Some(expected));
        assert_eq!(parse_date("1 Jan 1970 00:00:00 GMT"), Some(at(0)));
        assert_eq!(
            parse_date("29 Feb 2024 00:00:00 GMT"),
            Some(at(1_709_164_800))
        );
        for bad in [
            "",
            "tomorrow",
            "32 Nov 2026 14:00:00 GMT",
            "21 Nov 2026 14:00 GMT",
            "21 Foo 2026 14:00:00 GMT",
        ] {
            assert_eq!(parse_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn formatted_dates_parse_back() {
        assert_eq!(
            format_date(at(1_795_269_600)),
            "Sat, 21 Nov 2026 14:00:00 GMT"
        );
        assert_eq!(format_date(at(0)), "Thu, 01 Jan 1970 00:00:00 GMT");
        for seconds in [0, 59, 86_399, 951_782_400, 1_709_164_800, 4_102_444_799] {
            assert_eq!(
                parse_date(&format_date(at(seconds))),
                Some(at(seconds)),
                "{seconds}"
            );
        }
    }

    #[test]
    fn retry_time_from_header_or_crates_io_message() {
        let now = at(1000);
        assert_eq!(retry_time(Some("120"), "", now), Some(at(1120)));
        assert_eq!(
            retry_time(Some("Thu, 01 Jan 1970 00:30:00 GMT"), "", now),
            Some(at(1800))
        );
        let message = "You have published too many new crates in a short period of time. Please try again after Sat, 21 Nov 2026 14:00:00 GMT or email help@crates.io to have your limit increased.";
        assert_eq!(retry_time(None, message, now), Some(at(1_795_269_600)));
        assert_eq!(
            retry_time(
                None,
                "Please try again after Sat, 21 Nov 2026 14:00:00 +0000.",
                now
            ),
            Some(at(1_795_269_600))
        );
        assert_eq!(retry_time(None, "slow down", now), None);
        // Values past what a clock holds are refused, not a panic or a wrap.
        assert_eq!(retry_time(Some("18446744073709551615"), "", now), None);
        assert_eq!(
            retry_time(Some("Sat, 21 Nov 99999999999 14:00:00 GMT"), "", now),
            None
        );
        assert_eq!(parse_date("1 Jan -9223372036854775807 00:00:00 GMT"), None);
        // A five-byte zone that is not five characters.
        assert_eq!(parse_date("Sat, 11 Nov 2026 14:00:00 +M\u{e9}"), None);
        assert_eq!(parse_date("Sat, 11 Nov 2026 14:00:00 +\u{e9}00"), None);
    }

    #[test]
    fn quoted_answers_are_bounded() {
        let huge = "x".repeat(10_000_000);
        let quoted = error_detail(&huge);
        assert!(quoted.len() < QUOTE_LIMIT + 40, "{}", quoted.len());
        assert!(quoted.ends_with("(9999500 more bytes)"), "{quoted}");
        let json = format!(r#"{{"errors":[{{"detail":"{}"}}]}}"#, "é".repeat(2000));
        assert_eq!(
            error_detail(&json).chars().filter(|c| *c == 'é').count(),
            QUOTE_LIMIT
        );
    }

    #[test]
    fn responses_are_classified() {
        let now = at(0);
        let errors = |detail: &str| format!(r#"{{"errors":[{{"detail":"{detail}"}}]}}"#);
        assert_eq!(
            classify_response(200, None, r#"{"warnings":{}}"#, now),
            Ok(())
        );
        assert!(matches!(
            classify_response(
                200,
                None,
                &errors("crate version `0.1.0` is already uploaded"),
                now
            ),
            Err(RegistryError::AlreadyExists { .. })
        ));
        assert!(matches!(
            classify_response(400, None, &errors("crate `a@0.1.0` already exists"), now),
            Err(RegistryError::AlreadyExists { .. })
        ));
        assert_eq!(
            classify_response(429, Some("60"), &errors("too many"), now),
            Err(RegistryError::RateLimited {
                retry_at: Some(at(60)),
                detail: "too many".into()
            })
        );
        let auth = classify_response(
            403,
            None,
            &errors("this crate can only be published with trusted publishing"),
            now,
        );
        assert!(matches!(
            auth,
            Err(RegistryError::Auth {
                status: 403,
                trusted_publishing_only: true,
                ..
            })
        ));
        assert!(matches!(
            classify_response(401, None, "", now),
            Err(RegistryError::Auth {
                trusted_publishing_only: false,
                ..
            })
        ));
        // crates.io's answer to a trusted-publishing token creating a crate: a credential lane,
        // not a bad token.
        assert!(matches!(
            classify_response(
                403,
                None,
                &errors("Trusted Publishing tokens do not support creating new crates. Publish the crate manually, first"),
                now
            ),
            Err(RegistryError::NeedsApiToken { status: 403, .. })
        ));
        assert!(matches!(
            classify_response(400, None, &errors("bad"), now),
            Err(RegistryError::Client { status: 400, .. })
        ));
        assert!(matches!(
            classify_response(503, None, "down", now),
            Err(RegistryError::Server { status: 503, .. })
        ));
        let server = classify_response(502, None, "gateway", now).unwrap_err();
        assert!(server.is_retryable());
        assert_eq!(server.code(), "registry-server-error");
        assert!(!RegistryError::OutcomeUnknown {
            detail: String::new()
        }
        .is_retryable());
    }
}
