//! Inserting a release section into a Keep a Changelog `CHANGELOG.md`, leaving every other
//! byte as it was. The planner renders the section (`convoy_planner::versioning::changelog`)
//! and predicts the edited file; packaging applies the same insertion in its staging copy.

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

    /// `(what, changelog, the result with `§` where the new section goes)`.
    const CASES: &[(&str, &str, &str)] = &[
        (
            "after an Unreleased section with content and no blank line",
            "# Changelog\n\n## [Unreleased]\n- pending\n## [1.0.0]\n",
            "# Changelog\n\n## [Unreleased]\n- pending\n\n§## [1.0.0]\n",
        ),
        (
            "after an Unreleased section at the end",
            "# Changelog\n\n## [Unreleased]\n\n- pending\n",
            "# Changelog\n\n## [Unreleased]\n\n- pending\n\n§",
        ),
        (
            "after a lower-case unreleased heading",
            "## unreleased\n\n## [1.0.0]\n",
            "## unreleased\n\n§## [1.0.0]\n",
        ),
        (
            "after an Unreleased heading with a suffix",
            "## [Unreleased] - soon\n\n## [1.0.0]\n",
            "## [Unreleased] - soon\n\n§## [1.0.0]\n",
        ),
        (
            "before the first heading when it only starts like Unreleased",
            "## [Unreleasedish]\n\n## [1.0.0]\n",
            "§## [Unreleasedish]\n\n## [1.0.0]\n",
        ),
        (
            "before the first release without an Unreleased section",
            "# Changelog\n\nIntro.\n\n## [1.0.0] - 2024-01-01\n\n- first\n",
            "# Changelog\n\nIntro.\n\n§## [1.0.0] - 2024-01-01\n\n- first\n",
        ),
        (
            "after a title and an introduction",
            "# Changelog\n\nAll notable changes are documented here.\n",
            "# Changelog\n\nAll notable changes are documented here.\n\n§",
        ),
        ("after a title without a newline", "# Changelog", "# Changelog\n\n§"),
        ("after a title and a blank line", "# Changelog\n\n", "# Changelog\n\n§"),
        ("into an empty file", "", "§"),
        (
            "before the first real heading, not one in fenced code",
            "# Changelog\n\nExample:\n\n```markdown\n## [Unreleased]\n## not a heading\n```\n\n## [1.0.0] - 2024-01-01\n\n- first\n",
            "# Changelog\n\nExample:\n\n```markdown\n## [Unreleased]\n## not a heading\n```\n\n§## [1.0.0] - 2024-01-01\n\n- first\n",
        ),
        (
            "at the end when the only heading is fenced",
            "# Changelog\n\n```\n## not a heading\n```\n",
            "# Changelog\n\n```\n## not a heading\n```\n\n§",
        ),
        (
            "after tilde fences closed by longer runs",
            "~~~~\n## no\n~~~\n## still no\n~~~~~\n## [1.0.0]\n",
            "~~~~\n## no\n~~~\n## still no\n~~~~~\n\n§## [1.0.0]\n",
        ),
        (
            "at the end when an unclosed fence hides the rest",
            "# C\n\n```\n## [1.0.0]\n",
            "# C\n\n```\n## [1.0.0]\n\n§",
        ),
        (
            "at the end when headings are indented or deeper",
            "# C\n\n ## indented\n### deeper\n#### [Unreleased]\n",
            "# C\n\n ## indented\n### deeper\n#### [Unreleased]\n\n§",
        ),
        (
            "before a heading on the first line",
            "## [1.0.0]\n\n- first\n",
            "§## [1.0.0]\n\n- first\n",
        ),
    ];

    #[test]
    fn the_section_goes_after_unreleased_else_before_the_first_release_else_at_the_end() {
        for (what, text, expected) in CASES {
            assert_eq!(insert(text, NEW), expected.replace('§', NEW), "{what}");
        }
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
    }
}
