//! Keep a Changelog sections: rendering a release's commits as a Markdown
//! section and inserting it into an existing `CHANGELOG.md`.
//!
//! [`section`] groups commits into "Breaking changes", "Added", "Fixed" and
//! "Changed" using Conventional Commits headers, and [`insert`] places the
//! result after the `## [Unreleased]` section (or before the newest
//! release) while leaving the rest of the file byte for byte as it was. [`insert`] lives in
//! `convoy-package`, which applies the same insertion when it stages a plan's edits.

pub use convoy_package::changelog::insert;

use super::conventional::{self, Change};

/// One commit to list in a changelog section.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Entry<'a> {
    /// The first line of the commit message.
    pub subject: &'a str,
    /// The full hexadecimal commit hash.
    pub hash: &'a str,
    /// Whether the body has a breaking-change footer.
    pub breaking_note: bool,
}

/// The subsections of a release, in output order.
const SUBSECTIONS: [&str; 4] = ["Breaking changes", "Added", "Fixed", "Changed"];

/// How many characters of the hash to show.
const SHORT_HASH_LEN: usize = 7;

/// The Markdown section for one release.
///
/// It starts with `## [VERSION] - DATE` and a blank line, then lists the
/// entries under "Breaking changes", "Added" (`feat`), "Fixed" (`fix`) and
/// "Changed" (everything else, including subjects that are not Conventional
/// Commits), each subsection only when it has entries, in input order. An
/// entry reads `- description (abc1234)`; for conventional subjects the
/// description is the header's, prefixed with `**scope:** ` when there is a
/// scope. Breaking entries appear only under "Breaking changes". With no
/// entries the body is `- No changes recorded.`. Newlines in the inputs are
/// replaced by spaces; nothing else is escaped. The section ends with one
/// blank line.
pub fn section(version: &str, date: &str, entries: &[Entry<'_>]) -> String {
    let mut groups: [Vec<String>; 4] = Default::default();
    for entry in entries {
        let (group, line) = entry_line(entry);
        if let Some(lines) = groups.get_mut(group) {
            lines.push(line);
        }
    }

    let mut out = format!(
        "## [{}] - {}\n\n",
        single_line(version).trim(),
        single_line(date).trim()
    );
    if groups.iter().all(Vec::is_empty) {
        out.push_str("- No changes recorded.\n\n");
        return out;
    }
    for (title, lines) in SUBSECTIONS.iter().zip(&groups) {
        if lines.is_empty() {
            continue;
        }
        out.push_str("### ");
        out.push_str(title);
        out.push_str("\n\n");
        for line in lines {
            out.push_str(line);
            out.push('\n');
        }
        out.push('\n');
    }
    out
}

/// The subsection index (into [`SUBSECTIONS`]) and list line for `entry`.
fn entry_line(entry: &Entry<'_>) -> (usize, String) {
    let subject = single_line(entry.subject);
    let subject = subject.trim();
    let (group, description) = match conventional::parse_header(subject) {
        Some(header) => {
            let breaking = conventional::classify(subject, entry.breaking_note) == Change::Breaking;
            let group = if breaking {
                0
            } else {
                match header.kind.as_str() {
                    "feat" => 1,
                    "fix" => 2,
                    _ => 3,
                }
            };
            let description = match header.scope {
                Some(scope) => format!("**{}:** {}", scope.trim(), header.description),
                None => header.description.to_owned(),
            };
            (group, description)
        }
        None => {
            let group = if entry.breaking_note { 0 } else { 3 };
            (group, subject.to_owned())
        }
    };
    let short: String = entry.hash.trim().chars().take(SHORT_HASH_LEN).collect();
    let line = if short.is_empty() {
        format!("- {description}")
    } else {
        format!("- {description} ({short})")
    };
    (group, line)
}

/// `text` with each line break (`\r\n`, `\n` or `\r`) replaced by a space.
fn single_line(text: &str) -> String {
    text.replace("\r\n", " ").replace(['\r', '\n'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef01234567";

    fn entry(subject: &str) -> Entry<'_> {
        Entry {
            subject,
            hash: HASH,
            breaking_note: false,
        }
    }

    // ---- section ----

    #[test]
    fn empty_section() {
        assert_eq!(
            section("1.0.0", "2024-05-01", &[]),
            "## [1.0.0] - 2024-05-01\n\n- No changes recorded.\n\n"
        );
    }

    #[test]
    fn section_groups_in_fixed_order() {
        let entries = [
            entry("docs: explain config"),
            entry("fix: handle empty input"),
            entry("feat(cli): add --dry-run"),
            entry("feat!: new config format"),
            entry("Update README"),
            entry("feat: second feature"),
        ];
        assert_eq!(
            section("2.0.0", "2024-05-01", &entries),
            "## [2.0.0] - 2024-05-01\n\
             \n\
             ### Breaking changes\n\
             \n\
             - new config format (0123456)\n\
             \n\
             ### Added\n\
             \n\
             - **cli:** add --dry-run (0123456)\n\
             - second feature (0123456)\n\
             \n\
             ### Fixed\n\
             \n\
             - handle empty input (0123456)\n\
             \n\
             ### Changed\n\
             \n\
             - explain config (0123456)\n\
             - Update README (0123456)\n\
             \n"
        );
    }

    #[test]
    fn section_only_nonempty_subsections() {
        assert_eq!(
            section("0.1.1", "2024-01-02", &[entry("fix(io): close files")]),
            "## [0.1.1] - 2024-01-02\n\n### Fixed\n\n- **io:** close files (0123456)\n\n"
        );
    }

    #[test]
    fn breaking_footer_moves_entry_to_breaking_only() {
        let entries = [
            Entry {
                subject: "fix(api): rename field",
                hash: "abcdef1234",
                breaking_note: true,
            },
            Entry {
                subject: "Rewrite everything",
                hash: "fedcba9876",
                breaking_note: true,
            },
        ];
        assert_eq!(
            section("3.0.0", "2024-01-02", &entries),
            "## [3.0.0] - 2024-01-02\n\n### Breaking changes\n\n\
             - **api:** rename field (abcdef1)\n\
             - Rewrite everything (fedcba9)\n\n"
        );
    }

    #[test]
    fn section_replaces_newlines_and_keeps_markdown() {
        let entries = [
            entry("fix: a\nb\r\nc\rd"),
            entry("Merge *branch* `x`\n\nbody"),
        ];
        assert_eq!(
            section("1.0.1", "2024-01-02", &entries),
            "## [1.0.1] - 2024-01-02\n\n### Fixed\n\n- a b c d (0123456)\n\n\
             ### Changed\n\n- Merge *branch* `x`  body (0123456)\n\n"
        );
    }

    #[test]
    fn section_short_and_missing_hashes() {
        let entries = [
            Entry {
                subject: "fix: short",
                hash: "abc",
                breaking_note: false,
            },
            Entry {
                subject: "fix: none",
                hash: "",
                breaking_note: false,
            },
            Entry {
                subject: "fix: unicode",
                hash: "ééééééééé",
                breaking_note: false,
            },
        ];
        assert_eq!(
            section("1.0.0", "d", &entries),
            "## [1.0.0] - d\n\n### Fixed\n\n- short (abc)\n- none\n- unicode (ééééééé)\n\n"
        );
    }

    #[test]
    fn section_sanitizes_version_and_date() {
        assert!(
            section("1.0.0\n", "2024-01-01\r\n", &[]).starts_with("## [1.0.0] - 2024-01-01\n\n")
        );
    }

    #[test]
    fn uppercase_type_is_classified() {
        assert_eq!(
            section("1.0.0", "d", &[entry("Feat: shiny")]),
            "## [1.0.0] - d\n\n### Added\n\n- shiny (0123456)\n\n"
        );
    }

    #[test]
    fn inserting_rendered_section_round_trip() {
        let text = "# Changelog\n\n## [Unreleased]\n\n## [0.1.0] - 2024-01-01\n\n- initial\n";
        let new = section("0.2.0", "2024-02-01", &[entry("feat: more")]);
        assert_eq!(
            insert(text, &new),
            "# Changelog\n\n## [Unreleased]\n\n## [0.2.0] - 2024-02-01\n\n### Added\n\n\
             - more (0123456)\n\n## [0.1.0] - 2024-01-01\n\n- initial\n"
        );
    }

    proptest! {
        #[test]
        fn section_ends_with_one_blank_line(
            subjects in proptest::collection::vec("\\PC{0,20}|feat: \\PC{1,10}|fix\\(s\\)!: x", 0..5),
        ) {
            let entries: Vec<Entry<'_>> = subjects.iter().map(|s| entry(s)).collect();
            let text = section("1.0.0", "d", &entries);
            prop_assert!(text.ends_with("\n\n"));
            prop_assert!(!text.ends_with("\n\n\n"));
            prop_assert_eq!(text.matches("\n- ").count(), entries.len().max(1));
        }
    }
}
