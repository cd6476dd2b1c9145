//! Pure: a PEP 440 specifier set moved to admit a dependency's new version, written the way it
//! was written — the Python side of the cascade, as Cargo's `"0.2"` becomes `"0.3"`:
//! `==1.0.0` → `==1.1.0`, `==1.0.*` → `==1.1.*`, `~=1.0` → `~=1.1`, `~=1.0.0` → `~=1.1.0`,
//! `>=1.0,<1.1` → `>=1.0,<1.2`, `!=1.1.0` dropped. Clauses that already admit the version stay as
//! they are. `None` when no such rewrite admits it (the caller pins instead).

use pep440_rs::{Operator, Version, VersionSpecifiers};

/// `specifiers` moved to admit `to`, or `None`.
pub fn moved(written: &str, specifiers: &VersionSpecifiers, to: &Version) -> Option<String> {
    let mut clauses = Vec::new();
    for clause in specifiers.iter() {
        if clause.contains(to) {
            clauses.push(clause.to_string());
            continue;
        }
        let width = clause.version().release().len();
        let clause = match clause.operator() {
            Operator::Equal => format!("=={to}"),
            #[allow(deprecated)]
            Operator::ExactEqual => format!("==={to}"),
            Operator::EqualStar => format!("=={}.*", prefix(to, width)),
            Operator::TildeEqual => format!("~={}", prefix(to, width.max(2))),
            Operator::LessThan => format!("<{}", next(to, width)),
            Operator::LessThanEqual => format!("<={to}"),
            Operator::NotEqual | Operator::NotEqualStar => continue,
            // A lower bound above the new version: the dependency moved down, no rewrite.
            Operator::GreaterThan | Operator::GreaterThanEqual => return None,
        };
        clauses.push(clause);
    }
    let separator = if written.contains(", ") { ", " } else { "," };
    let text = clauses.join(separator);
    let parsed: VersionSpecifiers = text.parse().ok()?;
    parsed.contains(to).then_some(text)
}

/// The first `width` release numbers of `version` (zeros where it has fewer), dotted.
fn prefix(version: &Version, width: usize) -> String {
    (0..width)
        .map(|i| version.release().get(i).copied().unwrap_or(0).to_string())
        .collect::<Vec<_>>()
        .join(".")
}

/// The exclusive upper bound of the same width above `version`: its first `width` release
/// numbers with the last raised (`1.1.0`, width 2 → `1.2`).
fn next(version: &Version, width: usize) -> String {
    let width = width.max(1);
    let mut numbers: Vec<u64> = (0..width)
        .map(|i| version.release().get(i).copied().unwrap_or(0))
        .collect();
    if let Some(last) = numbers.last_mut() {
        *last += 1;
    }
    numbers
        .iter()
        .map(u64::to_string)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rewritten(written: &str, to: &str) -> Option<String> {
        moved(written, &written.parse().unwrap(), &to.parse().unwrap())
    }

    #[test]
    fn specifiers_move_keeping_their_style() {
        for (written, to, expected) in [
            ("==1.0.0", "1.1.0", Some("==1.1.0")),
            ("==1.0", "1.1.0", Some("==1.1.0")),
            ("==1.0.*", "1.1.0", Some("==1.1.*")),
            ("~=1.0", "2.0.0", Some("~=2.0")),
            ("~=1.0.0", "1.1.0", Some("~=1.1.0")),
            (">=1.0,<1.1", "1.1.0", Some(">=1.0,<1.2")),
            (">=1.0, <2", "2.0.0a1", Some(">=1.0, <3")),
            (">=1,!=1.1.0", "1.1.0", Some(">=1")),
            ("<=1.0.5", "1.1.0", Some("<=1.1.0")),
            ("==2.0.0a5", "2.0.0a6", Some("==2.0.0a6")),
            // Already admitting clauses stay as written.
            (">=0.9, ~=1.0.0", "1.1.0", Some(">=0.9, ~=1.1.0")),
            // Moved down: no rewrite.
            (">=2", "1.5.0", None),
        ] {
            assert_eq!(
                rewritten(written, to).as_deref(),
                expected,
                "{written} for {to}"
            );
        }
    }
}
