//! Conventional Commits: reading commit subjects and bodies to decide how
//! much a set of commits changes compatibility.
//!
//! A subject such as `feat(parser)!: drop the old syntax` is split into its
//! [`Header`] by [`parse_header`]; [`classify`] maps a commit to a
//! [`Change`] (breaking, feature or fix), and [`level_of`] picks the
//! strongest change of a release. Subjects that do not follow the
//! convention count as fixes.

/// One commit as the tool records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CommitSummary<'a> {
    /// The first line of the commit message.
    pub subject: &'a str,
    /// Whether the body has a `BREAKING CHANGE:` or `BREAKING-CHANGE:`
    /// footer (see [`has_breaking_footer`]).
    pub breaking_note: bool,
}

impl CommitSummary<'_> {
    /// The kind of change this commit makes; see [`classify`].
    pub fn change(&self) -> Change {
        classify(self.subject, self.breaking_note)
    }
}

/// How much a commit changes compatibility.
///
/// Variants are ordered by strength: `Fix < Feature < Breaking`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Change {
    /// A fix, and everything else: `fix`, `docs`, `chore`, `refactor`, …
    /// and subjects that are not Conventional Commits.
    Fix,
    /// A compatible feature (`feat`).
    Feature,
    /// A breaking change (`!` in the header or a breaking-change footer).
    Breaking,
}

/// The parsed header of a subject that follows Conventional Commits:
/// `type(scope)!: description`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    /// The type (`feat`, `fix`, …), lowercased.
    pub kind: String,
    /// The scope between parentheses, if any.
    pub scope: Option<&'a str>,
    /// Whether the header has the `!` breaking-change marker.
    pub breaking: bool,
    /// The description after `: `, without surrounding whitespace.
    pub description: &'a str,
}

/// Parses `subject` as a Conventional Commits header, or `None` when it does
/// not follow the convention.
///
/// The grammar is `type(scope)!: description`: the type is one word of ASCII
/// letters (any case), the scope is optional, non-empty and has no
/// parentheses inside, `!` is optional, and the colon is followed by at
/// least one space and a non-empty description. Whitespace around the
/// subject is ignored.
pub fn parse_header(subject: &str) -> Option<Header<'_>> {
    let subject = subject.trim();
    let kind_end = subject
        .find(|c: char| !c.is_ascii_alphabetic())
        .unwrap_or(subject.len());
    let (kind, mut rest) = subject.split_at(kind_end);
    if kind.is_empty() {
        return None;
    }
    let mut scope = None;
    if let Some(after_paren) = rest.strip_prefix('(') {
        let close = after_paren.find(')')?;
        let (inside, after) = after_paren.split_at(close);
        if inside.is_empty() || inside.contains('(') {
            return None;
        }
        scope = Some(inside);
        rest = after.strip_prefix(')').unwrap_or(after);
    }
    let breaking = match rest.strip_prefix('!') {
        Some(after) => {
            rest = after;
            true
        }
        None => false,
    };
    let rest = rest.strip_prefix(':')?;
    let description = rest.strip_prefix(' ')?.trim();
    if description.is_empty() {
        return None;
    }
    Some(Header {
        kind: kind.to_ascii_lowercase(),
        scope,
        breaking,
        description,
    })
}

/// The kind of change a commit makes: [`Change::Breaking`] when the header
/// has `!` or `breaking_note` is set (for any type, and even when the
/// subject is not conventional), [`Change::Feature`] for `feat`, and
/// [`Change::Fix`] for everything else.
pub fn classify(subject: &str, breaking_note: bool) -> Change {
    if breaking_note {
        return Change::Breaking;
    }
    match parse_header(subject) {
        Some(header) if header.breaking => Change::Breaking,
        Some(header) if header.kind == "feat" => Change::Feature,
        _ => Change::Fix,
    }
}

/// Whether a commit body carries a breaking-change footer: a line starting
/// with `BREAKING CHANGE:` or `BREAKING-CHANGE:` (exact case, as the
/// specification requires).
pub fn has_breaking_footer(body: &str) -> bool {
    body.lines()
        .any(|line| line.starts_with("BREAKING CHANGE:") || line.starts_with("BREAKING-CHANGE:"))
}

/// The strongest of `changes` (`Breaking > Feature > Fix`), or
/// [`Change::Fix`] when there are none.
pub fn level_of(changes: impl IntoIterator<Item = Change>) -> Change {
    changes.into_iter().max().unwrap_or(Change::Fix)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn header(subject: &str) -> Header<'_> {
        match parse_header(subject) {
            Some(header) => header,
            None => panic!("{subject:?} should parse"),
        }
    }

    #[test]
    fn parses_plain_header() {
        assert_eq!(
            header("feat: add a thing"),
            Header {
                kind: "feat".to_owned(),
                scope: None,
                breaking: false,
                description: "add a thing",
            }
        );
    }

    #[test]
    fn parses_scope_and_bang() {
        assert_eq!(
            header("fix(parser)!: reject bad input"),
            Header {
                kind: "fix".to_owned(),
                scope: Some("parser"),
                breaking: true,
                description: "reject bad input",
            }
        );
        let h = header("refactor(core/io): split module");
        assert_eq!(h.scope, Some("core/io"));
        assert!(!h.breaking);
        let h = header("chore!: drop MSRV 1.60");
        assert_eq!(h.kind, "chore");
        assert_eq!(h.scope, None);
        assert!(h.breaking);
    }

    #[test]
    fn kind_is_lowercased() {
        assert_eq!(header("Feat: x").kind, "feat");
        assert_eq!(header("FIX(Api): y").kind, "fix");
        assert_eq!(header("FIX(Api): y").scope, Some("Api"));
    }

    #[test]
    fn description_is_trimmed_and_may_contain_colons() {
        assert_eq!(header("feat:   spaced  ").description, "spaced");
        assert_eq!(header("docs: a: b (c)").description, "a: b (c)");
        assert_eq!(
            header("  fix: padded subject ").description,
            "padded subject"
        );
    }

    #[test]
    fn rejects_non_conventional_subjects() {
        for subject in [
            "Merge branch 'x'",
            "Update README",
            "",
            "   ",
            "feat:no space",
            "feat: ",
            "feat:",
            "feat",
            ": nothing",
            "feat2: digits in type",
            "build-system: hyphen",
            "feat (scope): space before scope",
            "feat(): empty scope",
            "feat(a(b)): nested",
            "feat(unclosed: x",
            "feat!!: two bangs",
            "feat(x)y: junk",
            "feat !: space before bang",
            "fix:\tx",
            "élan: non ascii type",
            "Revert \"feat: x\"",
        ] {
            assert_eq!(parse_header(subject), None, "{subject:?}");
        }
    }

    #[test]
    fn non_ascii_description_and_scope() {
        let h = header("fix(ünï): café ☕");
        assert_eq!(h.scope, Some("ünï"));
        assert_eq!(h.description, "café ☕");
    }

    #[test]
    fn classify_by_type() {
        assert_eq!(classify("feat: x", false), Change::Feature);
        assert_eq!(classify("Feat(ui): x", false), Change::Feature);
        assert_eq!(classify("fix: x", false), Change::Fix);
        assert_eq!(classify("docs: x", false), Change::Fix);
        assert_eq!(classify("chore(deps): x", false), Change::Fix);
        assert_eq!(classify("refactor: x", false), Change::Fix);
        assert_eq!(classify("feature: x", false), Change::Fix);
        assert_eq!(classify("Merge branch x", false), Change::Fix);
        assert_eq!(classify("Update README", false), Change::Fix);
    }

    #[test]
    fn classify_breaking() {
        assert_eq!(classify("feat!: x", false), Change::Breaking);
        assert_eq!(classify("fix(api)!: x", false), Change::Breaking);
        assert_eq!(classify("docs!: x", false), Change::Breaking);
        assert_eq!(classify("fix: x", true), Change::Breaking);
        assert_eq!(classify("feat: x", true), Change::Breaking);
        assert_eq!(classify("Update README", true), Change::Breaking);
    }

    #[test]
    fn commit_summary_change() {
        let commit = CommitSummary {
            subject: "feat(cli): add --dry-run",
            breaking_note: false,
        };
        assert_eq!(commit.change(), Change::Feature);
        let commit = CommitSummary {
            subject: "refactor: rename",
            breaking_note: true,
        };
        assert_eq!(commit.change(), Change::Breaking);
    }

    #[test]
    fn breaking_footer_detection() {
        assert!(has_breaking_footer("BREAKING CHANGE: config moved"));
        assert!(has_breaking_footer(
            "Some text.\n\nBREAKING CHANGE: config moved\nRefs: #1"
        ));
        assert!(has_breaking_footer("body\r\n\r\nBREAKING-CHANGE: x\r\n"));
        assert!(!has_breaking_footer(""));
        assert!(!has_breaking_footer("breaking change: lower case"));
        assert!(!has_breaking_footer("Breaking Change: title case"));
        assert!(!has_breaking_footer("  BREAKING CHANGE: indented"));
        assert!(!has_breaking_footer("This is a BREAKING CHANGE: mid-line"));
        assert!(!has_breaking_footer("BREAKING CHANGE without colon"));
        assert!(!has_breaking_footer("BREAKING CHANGES: plural"));
    }

    #[test]
    fn level_of_picks_strongest() {
        assert_eq!(level_of([]), Change::Fix);
        assert_eq!(level_of([Change::Fix, Change::Fix]), Change::Fix);
        assert_eq!(level_of([Change::Fix, Change::Feature]), Change::Feature);
        assert_eq!(
            level_of([Change::Feature, Change::Breaking, Change::Fix]),
            Change::Breaking
        );
        assert_eq!(level_of(vec![Change::Breaking]), Change::Breaking);
    }

    #[test]
    fn change_ordering() {
        assert!(Change::Breaking > Change::Feature);
        assert!(Change::Feature > Change::Fix);
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_description_is_non_empty(subject in "\\PC{0,40}") {
            if let Some(h) = parse_header(&subject) {
                prop_assert!(!h.description.is_empty());
                prop_assert!(h.kind.bytes().all(|b| b.is_ascii_lowercase()));
            }
        }

        #[test]
        fn breaking_note_always_wins(subject in "\\PC{0,40}") {
            prop_assert_eq!(classify(&subject, true), Change::Breaking);
        }

        #[test]
        fn level_of_is_max(changes in proptest::collection::vec(
            prop_oneof![Just(Change::Fix), Just(Change::Feature), Just(Change::Breaking)], 0..8)
        ) {
            let level = level_of(changes.iter().copied());
            prop_assert!(changes.iter().all(|c| *c <= level));
            prop_assert!(changes.is_empty() || changes.contains(&level));
        }
    }
}
