//! Pure: one canonical version, rendered per ecosystem. A plan's `version` is a semantic
//! version; a Python project's PEP 440 version maps onto it and back
//! (`2.0.0a5` ⇄ `2.0.0-alpha.5`, `1.0rc1` → `1.0.0-rc.1`, `3.1.dev2` → `3.1.0-dev.2`).
//!
//! What has no semantic-version form — an epoch, a post release, more than three release
//! numbers — is refused with a reason, as is a local version (`+abc`), which PyPI refuses.
//! Note that the orders differ: PEP 440 sorts `.devN` before `aN`; semver sorts `-dev.N` after
//! `-beta.N`. Convoy compares Python versions with PEP 440's rules ([`pep440_rs`]).

use pep440_rs::{PrereleaseKind, Version};

/// The canonical (semantic) version of a PEP 440 version, or why it has none.
pub fn canonical(version: &Version) -> Result<semver::Version, String> {
    if !version.local().is_empty() {
        return Err(format!(
            "`{version}` is a local version (`+…`), which package indexes refuse"
        ));
    }
    if version.epoch() != 0 {
        return Err(format!(
            "`{version}` has an epoch (`N!`), which Convoy's versions cannot carry"
        ));
    }
    if let Some(post) = version.post() {
        return Err(format!(
            "`{version}` is a post release (`.post{post}`), which Convoy's versions cannot carry"
        ));
    }
    let release = version.release();
    let number = |i: usize| release.get(i).copied().unwrap_or(0);
    if release.len() > 3 {
        return Err(format!(
            "`{version}` has {} release numbers; Convoy's versions have at most three",
            release.len()
        ));
    }
    let mut pre = Vec::new();
    if let Some(p) = version.pre() {
        let kind = match p.kind {
            PrereleaseKind::Alpha => "alpha",
            PrereleaseKind::Beta => "beta",
            PrereleaseKind::Rc => "rc",
        };
        pre.push(format!("{kind}.{}", p.number));
    }
    if let Some(dev) = version.dev() {
        pre.push(format!("dev.{dev}"));
    }
    let mut canonical = semver::Version::new(number(0), number(1), number(2));
    if !pre.is_empty() {
        canonical.pre =
            semver::Prerelease::new(&pre.join(".")).map_err(|e| format!("`{version}`: {e}"))?;
    }
    Ok(canonical)
}

/// A canonical version as a Python project writes it: its PEP 440 form, or the canonical text
/// when it has none (a diagnostic says so elsewhere).
pub fn pep440_text(version: &semver::Version) -> String {
    pep440(version).map_or_else(|_| version.to_string(), |v| v.to_string())
}

/// The canonical version a Python project's release tag names: its PEP 440 form
/// (`core-v2.0.0a5`), or the canonical one (`v2.0.0-alpha.5`, a group's shared tag).
pub fn of_tag(text: &str) -> Option<semver::Version> {
    if let Ok(version) = semver::Version::parse(text) {
        return Some(version);
    }
    canonical(&text.parse::<Version>().ok()?).ok()
}

/// The PEP 440 form of a canonical version (`2.0.0-alpha.5` → `2.0.0a5`), or why it has none:
/// build metadata, or a pre-release other than `alpha.N`, `beta.N`, `rc.N` (each optionally
/// followed by `dev.N`) or `dev.N`.
pub fn pep440(version: &semver::Version) -> Result<Version, String> {
    if !version.build.is_empty() {
        return Err(format!(
            "`{version}` has build metadata (`+…`), which package indexes refuse"
        ));
    }
    let mut text = format!("{}.{}.{}", version.major, version.minor, version.patch);
    let parts: Vec<&str> = if version.pre.is_empty() {
        Vec::new()
    } else {
        version.pre.split('.').collect()
    };
    let unsupported = || {
        format!(
            "`{version}` has the pre-release `{}`; Python versions take `alpha.N`, `beta.N`, \
             `rc.N` and `dev.N`",
            version.pre
        )
    };
    let mut rest = parts.as_slice();
    if let [kind @ ("alpha" | "beta" | "rc"), number, tail @ ..] = rest {
        let number: u64 = number.parse().map_err(|_| unsupported())?;
        let short = match *kind {
            "alpha" => "a",
            "beta" => "b",
            _ => "rc",
        };
        text.push_str(&format!("{short}{number}"));
        rest = tail;
    }
    match rest {
        [] => {}
        ["dev", number] => {
            let number: u64 = number.parse().map_err(|_| unsupported())?;
            text.push_str(&format!(".dev{number}"));
        }
        _ => return Err(unsupported()),
    }
    text.parse().map_err(|_| unsupported())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(text: &str) -> Version {
        text.parse().unwrap()
    }

    #[test]
    fn pep440_versions_map_to_canonical_ones_and_back() {
        for (python, canonical_text, rendered) in [
            ("1.2.3", "1.2.3", "1.2.3"),
            ("1.2", "1.2.0", "1.2.0"),
            ("2", "2.0.0", "2.0.0"),
            ("2.0.0-alpha.5", "2.0.0-alpha.5", "2.0.0a5"),
            ("2.0.0a5", "2.0.0-alpha.5", "2.0.0a5"),
            ("1.0.0-rc.1", "1.0.0-rc.1", "1.0.0rc1"),
            ("1.0b2", "1.0.0-beta.2", "1.0.0b2"),
            ("3.1.dev2", "3.1.0-dev.2", "3.1.0.dev2"),
            ("3.1.0a1.dev2", "3.1.0-alpha.1.dev.2", "3.1.0a1.dev2"),
        ] {
            let mapped = canonical(&v(python)).unwrap();
            assert_eq!(mapped.to_string(), canonical_text, "{python}");
            assert_eq!(pep440(&mapped).unwrap().to_string(), rendered, "{python}");
            // Rendering keeps the PEP 440 meaning.
            assert_eq!(pep440(&mapped).unwrap(), v(python), "{python}");
        }
    }

    #[test]
    fn tags_name_versions_in_either_form() {
        assert_eq!(of_tag("2.0.0a5"), Some("2.0.0-alpha.5".parse().unwrap()));
        assert_eq!(
            of_tag("2.0.0-alpha.5"),
            Some("2.0.0-alpha.5".parse().unwrap())
        );
        assert_eq!(of_tag("1.0"), Some("1.0.0".parse().unwrap()));
        assert_eq!(of_tag("1.0+local"), None);
        assert_eq!(of_tag("next"), None);
    }

    #[test]
    fn versions_without_a_canonical_form_are_refused_with_the_reason() {
        for (python, says) in [
            ("1.0+abc", "local version"),
            ("1!1.0", "epoch"),
            ("1.0.post1", "post release"),
            ("1.2.3.4", "4 release numbers"),
        ] {
            let error = canonical(&v(python)).unwrap_err();
            assert!(error.contains(says), "{python}: {error}");
        }
        for semver in [
            "1.0.0+build",
            "1.0.0-beta",
            "1.0.0-alpha.x",
            "1.0.0-rc.1.rc.2",
        ] {
            assert!(pep440(&semver.parse().unwrap()).is_err(), "{semver}");
        }
    }
}
