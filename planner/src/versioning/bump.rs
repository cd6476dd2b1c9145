//! Version bumps that follow Cargo's compatibility rules.
//!
//! A [`Level`] says how much a release changes compatibility (a breaking
//! change, a compatible feature, a fix), and [`bump`] turns it into the next
//! version the way Cargo's caret (`^`) requirements read versions: on `1.x`
//! and above the major position is breaking, on `0.y` the minor position is
//! breaking, and on `0.0.z` every release is breaking. Pre-release versions
//! follow npm's convention: a pre-release is already on its way to its base
//! version, so bumping it usually just finishes it.
//!
//! [`is_breaking`] tells whether a version change breaks `^from`, and
//! [`rewrite_requirement`] rewrites a dependent's requirement so that it
//! admits a new version while keeping the style it was written in.

use std::fmt;

use semver::{BuildMetadata, Comparator, Op, Prerelease, Version, VersionReq};

/// How much a release changes compatibility, or which pre-release step to take.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Level {
    /// A breaking change.
    Major,
    /// A compatible feature.
    Minor,
    /// A fix.
    Patch,
    /// A pre-release step. The identifier (e.g. `alpha`) names the
    /// pre-release train; `None` keeps the current one, or starts `alpha`
    /// from a stable version.
    Prerelease(Option<String>),
    /// Finishes a pre-release: `2.0.0-alpha.5` becomes `2.0.0`.
    Release,
}

/// The identifier used when a pre-release is started without one.
const DEFAULT_PRERELEASE: &str = "alpha";

/// What [`Level::parse`] accepts, for error messages.
const ACCEPTED_LEVELS: &str =
    "`major`, `minor`, `patch`, `release`, `prerelease` or `prerelease=ID` \
     (ID: ASCII letters, digits and `-`, not all digits)";

impl Level {
    /// Parses `major`, `minor`, `patch`, `release`, `prerelease` or
    /// `prerelease=ID`, where `ID` is non-empty, made of ASCII letters,
    /// digits and `-`, and not purely numeric.
    ///
    /// Keywords are matched without regard to ASCII case and surrounding
    /// whitespace is ignored; the identifier is kept as written.
    ///
    /// # Errors
    ///
    /// A message saying what is accepted when `text` is none of these.
    pub fn parse(text: &str) -> Result<Level, String> {
        let text = text.trim();
        let keyword = |word: &str| text.eq_ignore_ascii_case(word);
        if keyword("major") {
            return Ok(Level::Major);
        }
        if keyword("minor") {
            return Ok(Level::Minor);
        }
        if keyword("patch") {
            return Ok(Level::Patch);
        }
        if keyword("release") {
            return Ok(Level::Release);
        }
        if keyword("prerelease") {
            return Ok(Level::Prerelease(None));
        }
        if let Some((head, id)) = text.split_once('=') {
            if head.trim().eq_ignore_ascii_case("prerelease") {
                let id = id.trim();
                return if is_valid_identifier(id) {
                    Ok(Level::Prerelease(Some(id.to_owned())))
                } else {
                    Err(format!(
                        "invalid pre-release identifier `{id}`: expected ASCII letters, digits \
                         and `-`, not empty and not all digits"
                    ))
                };
            }
        }
        Err(format!(
            "unknown bump level `{text}`: expected {ACCEPTED_LEVELS}"
        ))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Level::Major => f.write_str("major"),
            Level::Minor => f.write_str("minor"),
            Level::Patch => f.write_str("patch"),
            Level::Release => f.write_str("release"),
            Level::Prerelease(None) => f.write_str("prerelease"),
            Level::Prerelease(Some(id)) => write!(f, "prerelease={id}"),
        }
    }
}

impl std::str::FromStr for Level {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Level::parse(text)
    }
}

/// Whether `id` may name a pre-release train: non-empty, ASCII letters,
/// digits and `-` only, and not purely numeric.
fn is_valid_identifier(id: &str) -> bool {
    !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !id.bytes().all(|b| b.is_ascii_digit())
}

/// Why a bump is not possible.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BumpError {
    /// [`Level::Release`] was asked of a version that is not a pre-release.
    NotAPrerelease {
        /// The version that was to be released.
        version: Version,
    },
    /// Switching to the requested pre-release identifier would make the
    /// version go backwards (e.g. `2.0.0-beta.2` to `alpha`).
    PrereleaseGoesBackwards {
        /// The current version.
        version: Version,
        /// The requested pre-release identifier.
        identifier: String,
    },
    /// The pre-release identifier is not usable (empty, purely numeric, or
    /// with characters other than ASCII letters, digits and `-`). Only
    /// reachable when a [`Level::Prerelease`] is built by hand rather than
    /// with [`Level::parse`].
    InvalidIdentifier {
        /// The rejected identifier.
        identifier: String,
    },
    /// A version number would exceed `u64::MAX`.
    Overflow {
        /// The version that could not be bumped.
        version: Version,
    },
}

impl fmt::Display for BumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BumpError::NotAPrerelease { version } => write!(
                f,
                "cannot release {version}: it is not a pre-release (use major, minor or patch)"
            ),
            BumpError::PrereleaseGoesBackwards {
                version,
                identifier,
            } => write!(
                f,
                "cannot switch {version} to pre-release `{identifier}`: the version would go \
                 backwards"
            ),
            BumpError::InvalidIdentifier { identifier } => write!(
                f,
                "invalid pre-release identifier `{identifier}`: expected ASCII letters, digits \
                 and `-`, not empty and not all digits"
            ),
            BumpError::Overflow { version } => {
                write!(f, "cannot bump {version}: a version number would overflow")
            }
        }
    }
}

impl std::error::Error for BumpError {}

/// The next version after `version` at `level`.
///
/// The result never carries build metadata and is always greater than
/// `version`.
///
/// # Errors
///
/// [`BumpError::NotAPrerelease`] for [`Level::Release`] on a stable version,
/// [`BumpError::PrereleaseGoesBackwards`] when a different pre-release
/// identifier would sort before the current one,
/// [`BumpError::InvalidIdentifier`] for an unusable identifier, and
/// [`BumpError::Overflow`] when a number would exceed `u64::MAX`.
pub fn bump(version: &Version, level: &Level) -> Result<Version, BumpError> {
    let base = base_of(version);
    let is_pre = !version.pre.is_empty();
    let overflow = || BumpError::Overflow {
        version: version.clone(),
    };
    match level {
        Level::Major | Level::Minor | Level::Patch if !is_pre => {
            bump_stable(&base, level).ok_or_else(overflow)
        }
        Level::Major => {
            let raised = if base.major >= 1 {
                base.minor == 0 && base.patch == 0
            } else if base.minor >= 1 {
                base.patch == 0
            } else {
                true
            };
            if raised {
                Ok(base)
            } else {
                bump_stable(&base, &Level::Major).ok_or_else(overflow)
            }
        }
        Level::Minor => {
            if base.major >= 1 && base.patch != 0 {
                bump_stable(&base, &Level::Minor).ok_or_else(overflow)
            } else {
                Ok(base)
            }
        }
        Level::Patch => Ok(base),
        Level::Release => {
            if is_pre {
                Ok(base)
            } else {
                Err(BumpError::NotAPrerelease {
                    version: version.clone(),
                })
            }
        }
        Level::Prerelease(id) => {
            if let Some(id) = id {
                if !is_valid_identifier(id) {
                    return Err(BumpError::InvalidIdentifier {
                        identifier: id.clone(),
                    });
                }
            }
            if !is_pre {
                let mut next = bump_stable(&base, &Level::Patch).ok_or_else(overflow)?;
                let id = id.as_deref().unwrap_or(DEFAULT_PRERELEASE);
                next.pre = prerelease(&format!("{id}.1"), id)?;
                return Ok(next);
            }
            let current = version.pre.as_str();
            let first = current.split('.').next().unwrap_or(current);
            match id {
                Some(id) if id != first => {
                    let mut next = base;
                    next.pre = prerelease(&format!("{id}.1"), id)?;
                    if next.pre > version.pre {
                        Ok(next)
                    } else {
                        Err(BumpError::PrereleaseGoesBackwards {
                            version: version.clone(),
                            identifier: id.clone(),
                        })
                    }
                }
                _ => {
                    let text = next_prerelease(current);
                    let mut next = base;
                    next.pre = prerelease(&text, first)?;
                    Ok(next)
                }
            }
        }
    }
}

/// `version` without pre-release and build metadata.
fn base_of(version: &Version) -> Version {
    Version::new(version.major, version.minor, version.patch)
}

/// Bumps a stable version at a compatibility level (`Major`, `Minor` or
/// `Patch`; other levels are treated as `Patch`). `None` on overflow.
fn bump_stable(base: &Version, level: &Level) -> Option<Version> {
    let (major, minor, patch) = (base.major, base.minor, base.patch);
    let next = if major >= 1 {
        match level {
            Level::Major => Version::new(major.checked_add(1)?, 0, 0),
            Level::Minor => Version::new(major, minor.checked_add(1)?, 0),
            _ => Version::new(major, minor, patch.checked_add(1)?),
        }
    } else if minor >= 1 {
        match level {
            Level::Major => Version::new(0, minor.checked_add(1)?, 0),
            _ => Version::new(0, minor, patch.checked_add(1)?),
        }
    } else {
        Version::new(0, 0, patch.checked_add(1)?)
    };
    Some(next)
}

/// The pre-release text after `current` on the same train: the last
/// identifier incremented when numeric, else `.1` appended.
fn next_prerelease(current: &str) -> String {
    match current.rsplit_once('.') {
        Some((head, last)) if is_numeric(last) => format!("{head}.{}", increment_decimal(last)),
        None if is_numeric(current) => increment_decimal(current),
        _ => format!("{current}.1"),
    }
}

/// Whether `text` is a non-empty run of ASCII digits.
fn is_numeric(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// Adds one to a decimal number written in ASCII digits, of any length.
fn increment_decimal(digits: &str) -> String {
    let mut bytes: Vec<u8> = digits.bytes().collect();
    let mut carry = true;
    for byte in bytes.iter_mut().rev() {
        if !carry {
            break;
        }
        if *byte == b'9' {
            *byte = b'0';
        } else {
            *byte += 1;
            carry = false;
        }
    }
    let mut text = String::with_capacity(bytes.len() + 1);
    if carry {
        text.push('1');
    }
    text.extend(bytes.into_iter().map(char::from));
    text
}

/// Parses pre-release text, reporting `identifier` when it is not valid.
fn prerelease(text: &str, identifier: &str) -> Result<Prerelease, BumpError> {
    Prerelease::new(text).map_err(|_| BumpError::InvalidIdentifier {
        identifier: identifier.to_owned(),
    })
}

/// Whether going from `from` to `to` breaks Cargo's caret requirement
/// `^from`, i.e. whether `^from` does not match `to`.
///
/// Build metadata is ignored. As in Cargo, `^from` matches a pre-release
/// only when it shares `from`'s `major.minor.patch` and `from` is itself a
/// pre-release, so moving from a stable version to any pre-release counts
/// as breaking.
pub fn is_breaking(from: &Version, to: &Version) -> bool {
    let caret = VersionReq {
        comparators: vec![Comparator {
            op: Op::Caret,
            major: from.major,
            minor: Some(from.minor),
            patch: Some(from.patch),
            pre: from.pre.clone(),
        }],
    };
    !caret.matches(to)
}

/// The requirement a dependent should write so that it admits `new`, keeping
/// the written style where it can. `None` when `requirement` does not parse.
///
/// A single caret (written `^` or bare), tilde or exact comparator keeps its
/// operator as written and its precision: `0.2` with `0.3.0` gives `0.3`,
/// `~1.2` with `2.0.0` gives `~2.0`. When `new` is a pre-release such a
/// comparator keeps its operator but gets the full version. Any other
/// requirement (several comparators, `>=`, `<`, wildcards) becomes
/// `^{new}`. The result always matches `new` and never carries build
/// metadata.
pub fn rewrite_requirement(requirement: &str, new: &Version) -> Option<String> {
    let text = requirement.trim();
    let req = VersionReq::parse(text).ok()?;
    let new_plain = Version {
        build: BuildMetadata::EMPTY,
        ..new.clone()
    };
    let styled = match req.comparators.as_slice() {
        [comparator] => styled_requirement(text, comparator, &new_plain),
        _ => None,
    };
    let candidates = [
        styled,
        Some(format!("^{new_plain}")),
        Some(format!("={new_plain}")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|candidate| matches_text(candidate, &new_plain))
        .or_else(|| Some(format!("^{new_plain}")))
}

/// The rewritten single comparator in the style of `text`, when its
/// operator is one whose style is kept.
fn styled_requirement(text: &str, comparator: &Comparator, new: &Version) -> Option<String> {
    let operator = match comparator.op {
        Op::Caret if text.starts_with('^') => "^",
        Op::Caret => "",
        Op::Tilde => "~",
        Op::Exact => "=",
        _ => return None,
    };
    if !new.pre.is_empty() {
        return Some(format!("{operator}{new}"));
    }
    let written = match (comparator.minor, comparator.patch) {
        (None, _) => format!("{}", new.major),
        (Some(_), None) => format!("{}.{}", new.major, new.minor),
        (Some(_), Some(_)) => format!("{}.{}.{}", new.major, new.minor, new.patch),
    };
    Some(format!("{operator}{written}"))
}

/// Whether the requirement `text` parses and matches `version`.
fn matches_text(text: &str, version: &Version) -> bool {
    VersionReq::parse(text).is_ok_and(|req| req.matches(version))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn v(text: &str) -> Version {
        match Version::parse(text) {
            Ok(version) => version,
            Err(err) => panic!("bad test version {text}: {err}"),
        }
    }

    fn bumped(version: &str, level: Level) -> String {
        match bump(&v(version), &level) {
            Ok(next) => next.to_string(),
            Err(err) => panic!("bump {version} {level} failed: {err}"),
        }
    }

    fn pre(id: &str) -> Level {
        Level::Prerelease(Some(id.to_owned()))
    }

    // ---- Level::parse / Display ----

    #[test]
    fn parse_keywords() {
        assert_eq!(Level::parse("major"), Ok(Level::Major));
        assert_eq!(Level::parse("minor"), Ok(Level::Minor));
        assert_eq!(Level::parse("patch"), Ok(Level::Patch));
        assert_eq!(Level::parse("release"), Ok(Level::Release));
        assert_eq!(Level::parse("prerelease"), Ok(Level::Prerelease(None)));
    }

    #[test]
    fn parse_is_lenient_about_case_and_whitespace() {
        assert_eq!(Level::parse("  Major "), Ok(Level::Major));
        assert_eq!(Level::parse("PATCH"), Ok(Level::Patch));
        assert_eq!(Level::parse("PreRelease=Beta"), Ok(pre("Beta")));
    }

    #[test]
    fn parse_prerelease_with_identifier() {
        assert_eq!(Level::parse("prerelease=beta"), Ok(pre("beta")));
        assert_eq!(Level::parse("prerelease=rc"), Ok(pre("rc")));
        assert_eq!(Level::parse("prerelease=pre-2"), Ok(pre("pre-2")));
        assert_eq!(Level::parse("prerelease=2a"), Ok(pre("2a")));
    }

    #[test]
    fn parse_rejects_bad_identifiers() {
        assert!(Level::parse("prerelease=").is_err());
        assert!(Level::parse("prerelease=12").is_err());
        assert!(Level::parse("prerelease=alpha.1").is_err());
        assert!(Level::parse("prerelease=al pha").is_err());
        assert!(Level::parse("prerelease=äl").is_err());
        assert!(Level::parse("prerelease=a+b").is_err());
    }

    #[test]
    fn parse_rejects_unknown_words_with_a_helpful_message() {
        let err = Level::parse("huge").unwrap_err();
        assert!(err.contains("`huge`"), "{err}");
        assert!(err.contains("major"), "{err}");
        assert!(err.contains("prerelease=ID"), "{err}");
        assert!(Level::parse("").is_err());
        assert!(Level::parse("minor=2").is_err());
        assert!(Level::parse("majors").is_err());
    }

    #[test]
    fn display_is_stable() {
        assert_eq!(Level::Major.to_string(), "major");
        assert_eq!(Level::Minor.to_string(), "minor");
        assert_eq!(Level::Patch.to_string(), "patch");
        assert_eq!(Level::Release.to_string(), "release");
        assert_eq!(Level::Prerelease(None).to_string(), "prerelease");
        assert_eq!(pre("beta").to_string(), "prerelease=beta");
    }

    #[test]
    fn from_str_matches_parse() {
        assert_eq!("prerelease=rc".parse::<Level>(), Ok(pre("rc")));
        assert!("nope".parse::<Level>().is_err());
    }

    // ---- stable bumps ----

    #[test]
    fn stable_one_and_above() {
        assert_eq!(bumped("1.2.3", Level::Major), "2.0.0");
        assert_eq!(bumped("1.2.3", Level::Minor), "1.3.0");
        assert_eq!(bumped("1.2.3", Level::Patch), "1.2.4");
        assert_eq!(bumped("7.0.0", Level::Major), "8.0.0");
        assert_eq!(bumped("7.0.0", Level::Minor), "7.1.0");
        assert_eq!(bumped("7.0.0", Level::Patch), "7.0.1");
    }

    #[test]
    fn stable_zero_minor() {
        assert_eq!(bumped("0.2.3", Level::Major), "0.3.0");
        assert_eq!(bumped("0.2.3", Level::Minor), "0.2.4");
        assert_eq!(bumped("0.2.3", Level::Patch), "0.2.4");
        assert_eq!(bumped("0.1.0", Level::Major), "0.2.0");
    }

    #[test]
    fn stable_zero_zero() {
        assert_eq!(bumped("0.0.3", Level::Major), "0.0.4");
        assert_eq!(bumped("0.0.3", Level::Minor), "0.0.4");
        assert_eq!(bumped("0.0.3", Level::Patch), "0.0.4");
        assert_eq!(bumped("0.0.0", Level::Major), "0.0.1");
    }

    #[test]
    fn build_metadata_is_dropped() {
        assert_eq!(bumped("1.2.3+build.5", Level::Patch), "1.2.4");
        assert_eq!(bumped("1.2.3-rc.1+sha.abc", Level::Release), "1.2.3");
        assert_eq!(bumped("1.2.3-rc.1+sha.abc", pre("rc")), "1.2.3-rc.2");
    }

    // ---- pre-release bumps at compatibility levels ----

    #[test]
    fn prerelease_major() {
        assert_eq!(bumped("2.0.0-alpha.5", Level::Major), "2.0.0");
        assert_eq!(bumped("1.2.4-beta.2", Level::Major), "2.0.0");
        assert_eq!(bumped("1.3.0-rc.1", Level::Major), "2.0.0");
        assert_eq!(bumped("0.3.0-alpha.1", Level::Major), "0.3.0");
        assert_eq!(bumped("0.3.1-alpha.1", Level::Major), "0.4.0");
        assert_eq!(bumped("0.0.4-alpha.1", Level::Major), "0.0.4");
    }

    #[test]
    fn prerelease_minor() {
        assert_eq!(bumped("1.3.0-rc.1", Level::Minor), "1.3.0");
        assert_eq!(bumped("1.3.1-rc.1", Level::Minor), "1.4.0");
        assert_eq!(bumped("2.0.0-alpha.1", Level::Minor), "2.0.0");
        assert_eq!(bumped("0.3.1-alpha.1", Level::Minor), "0.3.1");
        assert_eq!(bumped("0.3.0-alpha.1", Level::Minor), "0.3.0");
        assert_eq!(bumped("0.0.4-alpha.1", Level::Minor), "0.0.4");
    }

    #[test]
    fn prerelease_patch() {
        assert_eq!(bumped("1.2.4-beta.2", Level::Patch), "1.2.4");
        assert_eq!(bumped("2.0.0-alpha.5", Level::Patch), "2.0.0");
        assert_eq!(bumped("0.3.1-alpha.1", Level::Patch), "0.3.1");
    }

    // ---- release ----

    #[test]
    fn release_finishes_a_prerelease() {
        assert_eq!(bumped("2.0.0-alpha.5", Level::Release), "2.0.0");
        assert_eq!(bumped("0.1.0-rc", Level::Release), "0.1.0");
    }

    #[test]
    fn release_of_stable_is_an_error() {
        assert_eq!(
            bump(&v("1.2.3"), &Level::Release),
            Err(BumpError::NotAPrerelease {
                version: v("1.2.3")
            })
        );
        assert_eq!(
            bump(&v("1.2.3"), &Level::Release).unwrap_err().to_string(),
            "cannot release 1.2.3: it is not a pre-release (use major, minor or patch)"
        );
    }

    // ---- prerelease level ----

    #[test]
    fn prerelease_from_stable() {
        assert_eq!(bumped("1.2.3", Level::Prerelease(None)), "1.2.4-alpha.1");
        assert_eq!(bumped("0.2.3", pre("rc")), "0.2.4-rc.1");
        assert_eq!(bumped("0.0.3", pre("beta")), "0.0.4-beta.1");
        assert_eq!(bumped("1.0.0+meta", pre("beta")), "1.0.1-beta.1");
    }

    #[test]
    fn prerelease_same_train_increments() {
        assert_eq!(
            bumped("2.0.0-alpha.4", Level::Prerelease(None)),
            "2.0.0-alpha.5"
        );
        assert_eq!(bumped("2.0.0-alpha.4", pre("alpha")), "2.0.0-alpha.5");
        assert_eq!(
            bumped("2.0.0-rc.1.2", Level::Prerelease(None)),
            "2.0.0-rc.1.3"
        );
        assert_eq!(
            bumped("2.0.0-alpha", Level::Prerelease(None)),
            "2.0.0-alpha.1"
        );
        assert_eq!(bumped("2.0.0-alpha", pre("alpha")), "2.0.0-alpha.1");
        assert_eq!(bumped("2.0.0-alpha.9", pre("alpha")), "2.0.0-alpha.10");
        assert_eq!(
            bumped("2.0.0-alpha.1.x", Level::Prerelease(None)),
            "2.0.0-alpha.1.x.1"
        );
    }

    #[test]
    fn prerelease_numeric_only() {
        assert_eq!(bumped("1.0.0-0", Level::Prerelease(None)), "1.0.0-1");
        assert_eq!(bumped("1.0.0-99", Level::Prerelease(None)), "1.0.0-100");
        assert_eq!(bumped("1.0.0-3", pre("alpha")), "1.0.0-alpha.1");
    }

    #[test]
    fn prerelease_huge_counter_does_not_overflow() {
        assert_eq!(
            bumped("1.0.0-alpha.18446744073709551615", Level::Prerelease(None)),
            "1.0.0-alpha.18446744073709551616"
        );
        assert_eq!(
            bumped(
                "1.0.0-alpha.99999999999999999999999",
                Level::Prerelease(None)
            ),
            "1.0.0-alpha.100000000000000000000000"
        );
    }

    #[test]
    fn prerelease_switch_train_forwards() {
        assert_eq!(bumped("2.0.0-alpha.5", pre("beta")), "2.0.0-beta.1");
        assert_eq!(bumped("2.0.0-beta.2", pre("rc")), "2.0.0-rc.1");
    }

    #[test]
    fn prerelease_switch_train_backwards_is_an_error() {
        let err = bump(&v("2.0.0-beta.2"), &pre("alpha")).unwrap_err();
        assert_eq!(
            err,
            BumpError::PrereleaseGoesBackwards {
                version: v("2.0.0-beta.2"),
                identifier: "alpha".to_owned(),
            }
        );
        assert_eq!(
            err.to_string(),
            "cannot switch 2.0.0-beta.2 to pre-release `alpha`: the version would go backwards"
        );
        // Uppercase sorts before lowercase in ASCII.
        assert!(bump(&v("2.0.0-beta.2"), &pre("RC")).is_err());
    }

    #[test]
    fn hand_built_invalid_identifier_is_an_error() {
        for id in ["", "12", "a.b", "a b", "a+b"] {
            assert_eq!(
                bump(&v("1.0.0"), &pre(id)),
                Err(BumpError::InvalidIdentifier {
                    identifier: id.to_owned()
                }),
                "{id:?}"
            );
        }
        assert!(bump(&v("1.0.0-alpha.1"), &pre("")).is_err());
    }

    #[test]
    fn overflow_is_an_error_not_a_panic() {
        let max = u64::MAX;
        let at_max = Version::new(max, 0, 0);
        assert_eq!(
            bump(&at_max, &Level::Major),
            Err(BumpError::Overflow {
                version: at_max.clone()
            })
        );
        assert_eq!(bump(&at_max, &Level::Minor), Ok(Version::new(max, 1, 0)));
        assert!(bump(&Version::new(1, max, 0), &Level::Minor).is_err());
        assert!(bump(&Version::new(1, 1, max), &Level::Patch).is_err());
        assert!(bump(&Version::new(0, max, 3), &Level::Major).is_err());
        assert!(bump(&Version::new(0, 0, max), &Level::Prerelease(None)).is_err());
    }

    // ---- is_breaking ----

    #[test]
    fn is_breaking_follows_caret() {
        assert!(!is_breaking(&v("1.2.3"), &v("1.2.4")));
        assert!(!is_breaking(&v("1.2.3"), &v("1.9.0")));
        assert!(is_breaking(&v("1.2.3"), &v("2.0.0")));
        assert!(!is_breaking(&v("0.2.3"), &v("0.2.9")));
        assert!(is_breaking(&v("0.2.3"), &v("0.3.0")));
        assert!(is_breaking(&v("0.0.3"), &v("0.0.4")));
        assert!(!is_breaking(&v("0.0.3"), &v("0.0.3")));
        // Going backwards is not admitted by ^from either.
        assert!(is_breaking(&v("1.2.3"), &v("1.2.2")));
    }

    #[test]
    fn is_breaking_with_prereleases() {
        assert!(!is_breaking(&v("2.0.0-alpha.5"), &v("2.0.0")));
        assert!(!is_breaking(&v("2.0.0-alpha.5"), &v("2.0.0-beta.1")));
        assert!(!is_breaking(&v("2.0.0-alpha.5"), &v("2.1.0")));
        assert!(is_breaking(&v("2.0.0-alpha.5"), &v("2.0.1-alpha.1")));
        // A stable ^from never admits a pre-release.
        assert!(is_breaking(&v("1.2.3"), &v("1.2.4-alpha.1")));
    }

    #[test]
    fn is_breaking_ignores_build_metadata() {
        assert!(!is_breaking(&v("1.2.3+a"), &v("1.2.4+b")));
    }

    // ---- rewrite_requirement ----

    fn rewritten(req: &str, new: &str) -> Option<String> {
        rewrite_requirement(req, &v(new))
    }

    #[test]
    fn rewrite_keeps_operator_and_precision() {
        assert_eq!(rewritten("0.2", "0.3.0").as_deref(), Some("0.3"));
        assert_eq!(rewritten("^0.2.1", "0.3.0").as_deref(), Some("^0.3.0"));
        assert_eq!(rewritten("^0.2", "0.3.0").as_deref(), Some("^0.3"));
        assert_eq!(rewritten("~1.2", "2.0.0").as_deref(), Some("~2.0"));
        assert_eq!(rewritten("~1.2.3", "1.3.0").as_deref(), Some("~1.3.0"));
        assert_eq!(rewritten("1", "2.0.0").as_deref(), Some("2"));
        assert_eq!(rewritten("^1", "2.5.1").as_deref(), Some("^2"));
        assert_eq!(rewritten("=0.2.1", "0.3.0").as_deref(), Some("=0.3.0"));
        assert_eq!(rewritten("=1.2", "1.3.4").as_deref(), Some("=1.3"));
        assert_eq!(rewritten("0.0.3", "0.0.4").as_deref(), Some("0.0.4"));
    }

    #[test]
    fn rewrite_trims_input() {
        assert_eq!(rewritten("  ^1.2 \n", "2.0.0").as_deref(), Some("^2.0"));
    }

    #[test]
    fn rewrite_with_prerelease_uses_full_version() {
        assert_eq!(
            rewritten("0.2", "0.3.0-alpha.1").as_deref(),
            Some("0.3.0-alpha.1")
        );
        assert_eq!(
            rewritten("^2.0.0-alpha.4", "2.0.0-alpha.5").as_deref(),
            Some("^2.0.0-alpha.5")
        );
        assert_eq!(
            rewritten("~1.2", "1.3.0-rc.1").as_deref(),
            Some("~1.3.0-rc.1")
        );
        assert_eq!(
            rewritten("=1.2.3", "1.3.0-rc.1").as_deref(),
            Some("=1.3.0-rc.1")
        );
    }

    #[test]
    fn rewrite_other_forms_become_caret() {
        assert_eq!(rewritten(">=0.1, <0.3", "0.3.0").as_deref(), Some("^0.3.0"));
        assert_eq!(rewritten(">=1.0", "2.0.0").as_deref(), Some("^2.0.0"));
        assert_eq!(rewritten("<2", "2.0.0").as_deref(), Some("^2.0.0"));
        assert_eq!(rewritten("*", "2.0.0").as_deref(), Some("^2.0.0"));
        assert_eq!(rewritten("0.*", "0.3.0").as_deref(), Some("^0.3.0"));
        assert_eq!(rewritten("1.2.*", "1.3.0").as_deref(), Some("^1.3.0"));
        assert_eq!(
            rewritten(">=1.0, <3", "3.0.0-alpha.1").as_deref(),
            Some("^3.0.0-alpha.1")
        );
    }

    #[test]
    fn rewrite_drops_build_metadata() {
        assert_eq!(rewritten("^1.2", "2.0.0+git.abc").as_deref(), Some("^2.0"));
        assert_eq!(rewritten(">1", "2.0.0+git.abc").as_deref(), Some("^2.0.0"));
    }

    #[test]
    fn rewrite_normalizes_space_after_operator() {
        assert_eq!(rewritten("^ 1.2", "2.0.0").as_deref(), Some("^2.0"));
        assert_eq!(rewritten("= 1.2.3", "1.2.4").as_deref(), Some("=1.2.4"));
    }

    #[test]
    fn rewrite_keeps_requirement_that_already_admits_new() {
        assert_eq!(rewritten("0.0", "0.0.2").as_deref(), Some("0.0"));
        assert_eq!(rewritten("1", "1.7.0").as_deref(), Some("1"));
        assert_eq!(rewritten("~1.2", "1.2.9").as_deref(), Some("~1.2"));
    }

    #[test]
    fn rewrite_unparseable_is_none() {
        assert_eq!(rewritten("not a version", "1.0.0"), None);
        assert_eq!(rewritten("^^1", "1.0.0"), None);
        assert_eq!(rewritten("1.2.3.4", "1.0.0"), None);
        assert_eq!(rewritten("", "1.0.0"), None);
        assert_eq!(rewritten("~>1.2", "1.0.0"), None);
        assert_eq!(rewritten("v1.2", "1.0.0"), None);
    }

    // ---- properties ----

    fn arb_prerelease() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(String::new()),
            "(alpha|beta|rc|Pre|x-y)(\\.(0|[1-9][0-9]{0,3}|[a-z]{1,3})){0,3}",
            "(0|[1-9][0-9]{0,3})(\\.(0|[1-9][0-9]{0,3})){0,2}",
        ]
    }

    fn arb_version() -> impl Strategy<Value = Version> {
        (
            prop_oneof![Just(0u64), 1u64..5, Just(u64::MAX)],
            prop_oneof![Just(0u64), 1u64..5, Just(u64::MAX)],
            prop_oneof![Just(0u64), 1u64..5, Just(u64::MAX)],
            arb_prerelease(),
            prop_oneof![Just(""), Just("build.1")],
        )
            .prop_map(|(major, minor, patch, pre, build)| Version {
                major,
                minor,
                patch,
                pre: Prerelease::new(&pre).unwrap_or(Prerelease::EMPTY),
                build: BuildMetadata::new(build).unwrap_or(BuildMetadata::EMPTY),
            })
    }

    fn arb_level() -> impl Strategy<Value = Level> {
        prop_oneof![
            Just(Level::Major),
            Just(Level::Minor),
            Just(Level::Patch),
            Just(Level::Release),
            Just(Level::Prerelease(None)),
            "(alpha|beta|rc|Pre|x-y|0a|-)".prop_map(|id| Level::Prerelease(Some(id))),
        ]
    }

    proptest! {
        #[test]
        fn bump_always_goes_up_and_drops_build(version in arb_version(), level in arb_level()) {
            if let Ok(next) = bump(&version, &level) {
                prop_assert!(next > version, "{} -> {}", version, next);
                prop_assert!(next.build.is_empty());
            }
        }

        #[test]
        fn compatibility_levels_break_exactly_when_expected(
            major in 0u64..4, minor in 0u64..4, patch in 0u64..4,
        ) {
            let version = Version::new(major, minor, patch);
            for level in [Level::Major, Level::Minor, Level::Patch] {
                let next = bump(&version, &level).map_err(|e| TestCaseError::fail(e.to_string()))?;
                let expect_breaking = level == Level::Major || (major == 0 && minor == 0);
                prop_assert_eq!(is_breaking(&version, &next), expect_breaking, "{} {} -> {}", version, level, next);
            }
        }

        #[test]
        fn level_display_round_trips(level in arb_level()) {
            prop_assert_eq!(Level::parse(&level.to_string()), Ok(level));
        }

        #[test]
        fn rewritten_requirement_matches_new(
            req in prop_oneof![
                Just("0.2"), Just("^0.2.1"), Just("~1.2"), Just("1"), Just("=0.2.1"),
                Just(">=0.1, <0.3"), Just("*"), Just("0.*"), Just("^2.0.0-alpha.4"), Just("~0"),
            ],
            new in arb_version(),
        ) {
            if let Some(text) = rewrite_requirement(req, &new) {
                let parsed = VersionReq::parse(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(parsed.matches(&new), "{} -> {} for {}", req, text, new);
            } else {
                prop_assert!(false, "{} did not parse", req);
            }
        }
    }
}
