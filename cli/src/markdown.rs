//! Escaping for every Markdown Convoy writes: the plan a pull request shows, the publisher's step
//! summary, the verifier's report. Every string they show comes from the workspace under review
//! (descriptions, manifest text that diagnostics quote, file names inside archives, registry names
//! from `.cargo/config.toml`, ...), from a hand-edited plan file, or from what a registry said. Each one goes through exactly one of these functions, chosen by where it
//! is written, so that none of it is read as Markdown or HTML: a pull request cannot make the
//! comment its reviewers read show a heading, a link, an image or a table row of its own.
//!
//! | where | function | how |
//! |---|---|---|
//! | a paragraph, list item or table cell | [`text`] | Markdown punctuation backslash-escaped, line breaks as `<br>` |
//! | a code span outside a table | [`code`] | fenced by more backticks than the longest run inside |
//! | a code span in a table cell | [`cell_code`] | as [`code`], pipes escaped for the table |
//! | inside raw HTML (`<summary>`) | [`html`] | HTML entities, also for Markdown punctuation; line breaks as spaces |
//! | a fenced code block | [`code_block`] | fenced by more backticks than the longest run inside |
//!
//! None of them lets a line break through as a line break of the Markdown source, so untrusted
//! text never starts a block (heading, list, quote, fence, HTML block, table row).

use std::fmt::Write as _;

/// Characters that Markdown (CommonMark with GitHub's extensions: tables, strikethrough, math)
/// can read as markup anywhere in a line. All are ASCII punctuation, which CommonMark lets a
/// backslash escape.
const INLINE_MARKUP: &[char] = &[
    '\\', '`', '*', '_', '[', ']', '<', '>', '!', '#', '|', '&', '~', '$',
];

/// Inline text for a paragraph, a list item or a table cell: shows `raw` exactly as written.
///
/// Markup characters are backslash-escaped (a `\|` also keeps a table cell whole), so are the `:`
/// of `://` and the `.` of `www.` that GitHub would turn into links, a leading list,
/// heading-underline or ordered-list marker is escaped, leading blanks are dropped (they could
/// make an indented code block) and line breaks become `<br>` so the text stays on one source
/// line.
pub fn text(raw: &str) -> String {
    let raw = raw.trim_start_matches([' ', '\t']);
    let mut out = String::with_capacity(raw.len() + 8);
    let mut chars = raw.chars().peekable();
    // Only the first character can start a block: everything is written on one line.
    let leading_digits = raw.bytes().take_while(u8::is_ascii_digit).count();
    if let Some(first) = raw.chars().next() {
        if matches!(first, '-' | '+' | '=') {
            out.push('\\');
        }
    }
    let mut index = 0;
    while let Some(c) = chars.next() {
        match c {
            '\r' | '\n' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                    index += 1;
                }
                out.push_str("<br>");
            }
            // `1.` or `1)` followed by a space (or nothing) would start an ordered list.
            '.' | ')'
                if index == leading_digits
                    && index > 0
                    && chars.peek().is_none_or(|next| matches!(next, ' ' | '\t')) =>
            {
                out.push('\\');
                out.push(c);
            }
            // GitHub links bare `scheme://…` and `www.…` (its autolink extension); an escape
            // keeps them text.
            ':' if chars.clone().take(2).eq(['/', '/']) => out.push_str("\\:"),
            '.' if raw
                .get(index.saturating_sub(3)..index)
                .is_some_and(|before| before.eq_ignore_ascii_case("www")) =>
            {
                out.push_str("\\.");
            }
            c if INLINE_MARKUP.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(visible(c)),
        }
        index += c.len_utf8();
    }
    out
}

/// A code span, for a paragraph or list item (not a table cell: see [`cell_code`]).
pub fn code(raw: &str) -> String {
    code_span(raw, false)
}

/// A code span inside a table cell: as [`code`], with `|` escaped, which GitHub's tables unescape
/// before reading the span.
pub fn cell_code(raw: &str) -> String {
    code_span(raw, true)
}

fn code_span(raw: &str, in_cell: bool) -> String {
    let mut content: String = raw.chars().map(visible).collect();
    if content.is_empty() {
        content.push(' ');
    }
    let fence = "`".repeat(longest_backtick_run(&content) + 1);
    // A span's content that starts or ends with a backtick needs a space beside the fence, and
    // CommonMark takes one space off each side when both are there, so this shows `content` as is.
    let all_spaces = content.bytes().all(|b| b == b' ');
    let pad = if !all_spaces && (content.starts_with(['`', ' ']) || content.ends_with(['`', ' '])) {
        " "
    } else {
        ""
    };
    if in_cell {
        content = content.replace('|', "\\|");
    }
    format!("{fence}{pad}{content}{pad}{fence}")
}

/// Text inside raw HTML, such as a `<details><summary>` line: entities for `& < > " '` and for the
/// Markdown punctuation too (inert in an HTML block, but no renderer then has to agree on that),
/// and line breaks as spaces (a blank line would end the HTML block and let Markdown resume).
pub fn html(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c if c == '\'' || INLINE_MARKUP.contains(&c) => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c => out.push(visible(c)),
        }
    }
    out
}

/// A fenced code block with info string `info` (a fixed word of the renderer's, such as `toml`),
/// ending in a newline. The fence is longer than any backtick run in `raw`, so no line of `raw`
/// can close it (CommonMark: a closing fence is at least as long as the opening one).
pub fn code_block(info: &str, raw: &str) -> String {
    let fence = "`".repeat((longest_backtick_run(raw) + 1).max(3));
    let newline = if raw.is_empty() || raw.ends_with('\n') {
        ""
    } else {
        "\n"
    };
    format!("{fence}{info}\n{raw}{newline}{fence}\n")
}

fn longest_backtick_run(text: &str) -> usize {
    text.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// `c`, a space for a control character (line breaks included), or U+FFFD for a bidirectional
/// control, which can make text read in another order than it is written.
fn visible(c: char) -> char {
    let bidi =
        matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}');
    if bidi {
        '\u{fffd}'
    } else if c.is_control() {
        ' '
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_escapes_markup_and_keeps_one_line() {
        assert_eq!(text("a|b\nc"), "a\\|b<br>c");
        assert_eq!(text("a\r\nb\rc"), "a<br>b<br>c");
        assert_eq!(
            text("![x](https://e.invalid/i.png) <img src=x> *y* _z_ [l]: u"),
            "\\!\\[x\\](https\\://e.invalid/i.png) \\<img src=x\\> \\*y\\* \\_z\\_ \\[l\\]: u"
        );
        assert_eq!(text("# h"), "\\# h");
        assert_eq!(text("  - item"), "\\- item");
        assert_eq!(text("12. x 3. y"), "12\\. x 3. y");
        assert_eq!(text("1) x"), "1\\) x");
        assert_eq!(text("7."), "7\\.");
        assert_eq!(text("&lt; $x$ ~~s~~"), "\\&lt; \\$x\\$ \\~\\~s\\~\\~");
        assert_eq!(text("a\\`b"), "a\\\\\\`b");
        assert_eq!(text("x\u{202e}y\u{7}"), "x\u{fffd}y ");
        assert_eq!(text("0.2.0 → 1.0.0"), "0.2.0 → 1.0.0");
        assert_eq!(
            text("see https://e.invalid/x or WWW.e.invalid: ok"),
            "see https\\://e.invalid/x or WWW\\.e.invalid: ok"
        );
    }

    #[test]
    fn code_spans_are_fenced_longer_than_any_backtick_run() {
        assert_eq!(code("core"), "`core`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("```"), "```` ``` ````");
        assert_eq!(code("`x"), "`` `x ``");
        assert_eq!(code(" x "), "`  x  `");
        assert_eq!(code(""), "` `");
        assert_eq!(code("a\n# b"), "`a # b`");
        assert_eq!(code("a|b"), "`a|b`");
        assert_eq!(cell_code("a|b"), "`a\\|b`");
    }

    #[test]
    fn html_text_is_entities_on_one_line() {
        assert_eq!(
            html("<img src=\"x\">\n\n# h & 'q'"),
            "&lt;img src=&quot;x&quot;&gt;  &#35; h &amp; &#39;q&#39;"
        );
        assert_eq!(html("![a](b) `c`"), "&#33;&#91;a&#93;(b) &#96;c&#96;");
        assert_eq!(html("core-0.2.0.crate"), "core-0.2.0.crate");
    }

    #[test]
    fn code_blocks_cannot_be_closed_from_inside() {
        assert_eq!(code_block("toml", "a = 1\n"), "```toml\na = 1\n```\n");
        assert_eq!(code_block("toml", "a = 1"), "```toml\na = 1\n```\n");
        assert_eq!(
            code_block("toml", "x = \"\n```\n# h\n````\""),
            "`````toml\nx = \"\n```\n# h\n````\"\n`````\n"
        );
    }
}
