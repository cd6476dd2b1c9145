//! Keep a Changelog sections: rendering a release's commits as a Markdown
//! section and inserting it into an existing `CHANGELOG.md`.
//!
//! [`section`] groups commits into "Breaking changes", "Added", "Fixed" and
//! "Changed" using Conventional Commits headers, and [`insert`] places the
//! result after the `## [Unreleased]` section (or before the newest
//! release) while leaving the rest of the file byte for byte as it was.

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

/// Inserts `section` into the changelog text `changelog`.
///
/// The section goes after the `## [Unreleased]` section when there is one
/// (before the next `## ` heading after it, or at the end), else before the
/// first `## ` heading, else at the end. A blank line is added before the
/// section when the text before it does not end with one. Every other byte
/// is kept as it was; when the file uses CRLF line endings, the inserted
/// text uses them too. Lines inside fenced code blocks are never headings.
pub fn insert(changelog: &str, section: &str) -> String {
    let crlf = uses_crlf(changelog);
    let newline = if crlf { "\r\n" } else { "\n" };
    let position = insertion_point(changelog);
    let (before, after) = changelog.split_at(position);

    let mut inserted = String::new();
    if !before.is_empty() && !ends_with_blank_line(before) {
        if !before.ends_with('\n') {
            inserted.push_str(newline);
        }
        inserted.push_str(newline);
    }
    let normalized = section.replace("\r\n", "\n");
    if crlf {
        inserted.push_str(&normalized.replace('\n', "\r\n"));
    } else {
        inserted.push_str(&normalized);
    }

    let mut out = String::with_capacity(changelog.len() + inserted.len());
    out.push_str(before);
    out.push_str(&inserted);
    out.push_str(after);
    out
}

/// Whether the text's first line ending is CRLF.
fn uses_crlf(text: &str) -> bool {
    text.find('\n')
        .is_some_and(|index| text.get(..index).is_some_and(|line| line.ends_with('\r')))
}

/// Whether `text` ends with an empty line (two consecutive line endings).
fn ends_with_blank_line(text: &str) -> bool {
    text.ends_with("\n\n") || text.ends_with("\n\r\n")
}

/// The byte offset at which a new release section belongs.
fn insertion_point(text: &str) -> usize {
    let headings = level_two_headings(text);
    let unreleased = headings
        .iter()
        .position(|&(_, line)| is_unreleased_heading(line));
    match unreleased {
        Some(index) => headings
            .get(index + 1)
            .map_or(text.len(), |&(start, _)| start),
        None => headings.first().map_or(text.len(), |&(start, _)| start),
    }
}

/// The `## ` headings of `text` outside fenced code blocks, as (byte offset
/// of the line, line text without its line ending).
fn level_two_headings(text: &str) -> Vec<(usize, &str)> {
    let mut headings = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut start = 0;
    for raw in text.split_inclusive('\n') {
        let line = raw.trim_end_matches(['\n', '\r']);
        match fence {
            Some((marker, len)) => {
                if closes_fence(line, marker, len) {
                    fence = None;
                }
            }
            None => {
                if let Some(opened) = opens_fence(line) {
                    fence = Some(opened);
                } else if line.starts_with("## ") || line == "##" {
                    headings.push((start, line));
                }
            }
        }
        start += raw.len();
    }
    headings
}

/// The fence marker and its length when `line` opens a fenced code block
/// (up to three spaces, then at least three backticks or tildes).
fn opens_fence(line: &str) -> Option<(char, usize)> {
    let (marker, len, _) = fence_run(line)?;
    let info = line.trim_start_matches(' ').get(len..).unwrap_or("");
    if marker == '`' && info.contains('`') {
        return None;
    }
    Some((marker, len))
}

/// Whether `line` closes a fence opened with `len` `marker` characters.
fn closes_fence(line: &str, marker: char, len: usize) -> bool {
    match fence_run(line) {
        Some((found, found_len, rest)) => {
            found == marker && found_len >= len && rest.trim().is_empty()
        }
        None => false,
    }
}

/// The fence character, run length and the rest of the line when `line` is
/// indented by at most three spaces and starts with three or more backticks
/// or tildes.
fn fence_run(line: &str) -> Option<(char, usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = trimmed.len() - trimmed.trim_start_matches(marker).len();
    if len < 3 {
        return None;
    }
    Some((marker, len, trimmed.get(len..).unwrap_or("")))
}

/// Whether a `## ` heading line is the Unreleased section heading
/// (`## [Unreleased]`, any ASCII case, brackets optional).
fn is_unreleased_heading(line: &str) -> bool {
    let title = line.trim_start_matches('#').trim();
    let title = title.strip_prefix('[').unwrap_or(title);
    title
        .get(..10)
        .is_some_and(|word| word.eq_ignore_ascii_case("unreleased"))
        && title
            .get(10..)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([']', ' ']))
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

    // ---- insert ----

    const NEW: &str = "## [1.1.0] - 2024-06-01\n\n### Added\n\n- thing (0123456)\n\n";

    #[test]
    fn insert_after_unreleased() {
        let text = "# Changelog\n\
                    \n\
                    All notable changes to this project will be documented in this file.\n\
                    \n\
                    ## [Unreleased]\n\
                    \n\
                    ## [1.0.0] - 2024-01-01\n\
                    \n\
                    ### Added\n\
                    \n\
                    - first (aaaaaaa)\n\
                    \n\
                    ## [0.1.0] - 2023-01-01\n\
                    \n\
                    - initial\n\
                    \n\
                    [Unreleased]: https://example.com/compare/v1.0.0...HEAD\n";
        let expected = "# Changelog\n\
                        \n\
                        All notable changes to this project will be documented in this file.\n\
                        \n\
                        ## [Unreleased]\n\
                        \n\
                        ## [1.1.0] - 2024-06-01\n\
                        \n\
                        ### Added\n\
                        \n\
                        - thing (0123456)\n\
                        \n\
                        ## [1.0.0] - 2024-01-01\n\
                        \n\
                        ### Added\n\
                        \n\
                        - first (aaaaaaa)\n\
                        \n\
                        ## [0.1.0] - 2023-01-01\n\
                        \n\
                        - initial\n\
                        \n\
                        [Unreleased]: https://example.com/compare/v1.0.0...HEAD\n";
        assert_eq!(insert(text, NEW), expected);
    }

    #[test]
    fn insert_after_unreleased_with_content_and_no_blank_line() {
        let text = "# Changelog\n\n## [Unreleased]\n- pending\n## [1.0.0]\n";
        assert_eq!(
            insert(text, NEW),
            format!("# Changelog\n\n## [Unreleased]\n- pending\n\n{NEW}## [1.0.0]\n")
        );
    }

    #[test]
    fn insert_after_unreleased_at_end() {
        let text = "# Changelog\n\n## [Unreleased]\n\n- pending\n";
        assert_eq!(
            insert(text, NEW),
            format!("# Changelog\n\n## [Unreleased]\n\n- pending\n\n{NEW}")
        );
    }

    #[test]
    fn insert_unreleased_heading_variants() {
        let text = "## unreleased\n\n## [1.0.0]\n";
        assert_eq!(
            insert(text, NEW),
            format!("## unreleased\n\n{NEW}## [1.0.0]\n")
        );
        let text = "## [Unreleased] - soon\n\n## [1.0.0]\n";
        assert_eq!(
            insert(text, NEW),
            format!("## [Unreleased] - soon\n\n{NEW}## [1.0.0]\n")
        );
        // Not an Unreleased heading: goes before the first heading.
        let text = "## [Unreleasedish]\n\n## [1.0.0]\n";
        assert_eq!(insert(text, NEW), format!("{NEW}{text}"));
    }

    #[test]
    fn insert_without_unreleased() {
        let text = "# Changelog\n\nIntro.\n\n## [1.0.0] - 2024-01-01\n\n- first\n";
        assert_eq!(
            insert(text, NEW),
            format!("# Changelog\n\nIntro.\n\n{NEW}## [1.0.0] - 2024-01-01\n\n- first\n")
        );
    }

    #[test]
    fn insert_title_and_intro_only() {
        let text = "# Changelog\n\nAll notable changes are documented here.\n";
        assert_eq!(
            insert(text, NEW),
            format!("# Changelog\n\nAll notable changes are documented here.\n\n{NEW}")
        );
        let no_trailing_newline = "# Changelog";
        assert_eq!(
            insert(no_trailing_newline, NEW),
            format!("# Changelog\n\n{NEW}")
        );
        let with_blank = "# Changelog\n\n";
        assert_eq!(insert(with_blank, NEW), format!("# Changelog\n\n{NEW}"));
    }

    #[test]
    fn insert_into_empty_file() {
        assert_eq!(insert("", NEW), NEW);
    }

    #[test]
    fn insert_crlf_file() {
        let text =
            "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n## [1.0.0] - 2024-01-01\r\n\r\n- first\r\n";
        assert_eq!(
            insert(text, NEW),
            "# Changelog\r\n\r\n## [Unreleased]\r\n\r\n\
             ## [1.1.0] - 2024-06-01\r\n\r\n### Added\r\n\r\n- thing (0123456)\r\n\r\n\
             ## [1.0.0] - 2024-01-01\r\n\r\n- first\r\n"
        );
    }

    #[test]
    fn insert_crlf_at_end_adds_crlf_blank_line() {
        let text = "# Changelog\r\nIntro.\r\n";
        assert_eq!(
            insert(text, "## [1.0.0] - d\n\n- x\n\n"),
            "# Changelog\r\nIntro.\r\n\r\n## [1.0.0] - d\r\n\r\n- x\r\n\r\n"
        );
    }

    #[test]
    fn insert_crlf_section_into_lf_file_is_normalized() {
        let text = "# Changelog\n\n";
        assert_eq!(
            insert(text, "## [1.0.0] - d\r\n\r\n- x\r\n\r\n"),
            "# Changelog\n\n## [1.0.0] - d\n\n- x\n\n"
        );
    }

    #[test]
    fn headings_in_fenced_code_are_ignored() {
        let text = "# Changelog\n\
                    \n\
                    Example:\n\
                    \n\
                    ```markdown\n\
                    ## [Unreleased]\n\
                    ## not a heading\n\
                    ```\n\
                    \n\
                    ## [1.0.0] - 2024-01-01\n\
                    \n\
                    - first\n";
        let (head, tail) = text.split_at(text.find("## [1.0.0]").unwrap_or(0));
        assert_eq!(insert(text, NEW), format!("{head}{NEW}{tail}"));
    }

    #[test]
    fn fence_only_heading_goes_to_end() {
        let text = "# Changelog\n\n```\n## not a heading\n```\n";
        assert_eq!(insert(text, NEW), format!("{text}\n{NEW}"));
    }

    #[test]
    fn tilde_fences_and_longer_closers() {
        let text = "~~~~\n## no\n~~~\n## still no\n~~~~~\n## [1.0.0]\n";
        let (head, tail) = text.split_at(text.rfind("## [1.0.0]").unwrap_or(0));
        assert_eq!(insert(text, NEW), format!("{head}\n{NEW}{tail}"));
    }

    #[test]
    fn unclosed_fence_hides_the_rest() {
        let text = "# C\n\n```\n## [1.0.0]\n";
        assert_eq!(insert(text, NEW), format!("{text}\n{NEW}"));
    }

    #[test]
    fn indented_or_deeper_headings_are_not_sections() {
        let text = "# C\n\n ## indented\n### deeper\n#### [Unreleased]\n";
        assert_eq!(insert(text, NEW), format!("{text}\n{NEW}"));
    }

    #[test]
    fn heading_as_first_line() {
        let text = "## [1.0.0]\n\n- first\n";
        assert_eq!(insert(text, NEW), format!("{NEW}{text}"));
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
        fn insert_keeps_every_original_byte(
            text in "(# C\r?\n|## \\[Unreleased\\]\r?\n|## \\[1\\.0\\.0\\]\r?\n|```\r?\n|- x\r?\n|\r?\n|é){0,12}",
        ) {
            let out = insert(&text, NEW);
            let inserted = if uses_crlf(&text) { NEW.replace('\n', "\r\n") } else { NEW.to_owned() };
            let at = out.find(&inserted).unwrap_or(usize::MAX);
            prop_assert!(at != usize::MAX, "section missing from {:?}", out);
            let (head, rest) = out.split_at(at);
            let tail = &rest[inserted.len()..];
            // The original is head (minus added line breaks) followed by tail.
            prop_assert!(text.ends_with(tail));
            let kept = &text[..text.len() - tail.len()];
            prop_assert!(head.starts_with(kept));
            let added = &head[kept.len()..];
            prop_assert!(added.len() <= 4 && added.chars().all(|c| c == '\r' || c == '\n'), "{:?}", added);
        }

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
