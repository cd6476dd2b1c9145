//! Stable error codes: the word every Convoy binary prints in `error[<code>]:` and the exit code
//! that goes with it. Codes are public API (scripts match on them), so each is declared once,
//! with its exit code, in a list made by [`error_codes!`](crate::error_codes): an error type
//! returns one of the list's constants and cannot invent a code the list (and so the
//! documentation, which a test keeps equal to the lists) does not have.
//!
//! ```
//! use convoy_schema::{error_codes, exit};
//!
//! error_codes! {
//!     /// Codes of an example command.
//!     pub EXAMPLE_CODES {
//!         /// The input file is missing.
//!         INPUT_MISSING = "input-missing", exit::REFUSED;
//!         /// The server failed.
//!         SERVER_FAILED = "server-failed", exit::REGISTRY;
//!     }
//! }
//!
//! assert_eq!(INPUT_MISSING.name, "input-missing");
//! assert_eq!(SERVER_FAILED.exit, 3);
//! assert_eq!(EXAMPLE_CODES, [INPUT_MISSING, SERVER_FAILED]);
//! ```

/// One stable error code and the process exit code that goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorCode {
    /// The kebab-case code, as printed in `error[<name>]:`.
    pub name: &'static str,
    /// The exit code (one of [`crate::exit`]).
    pub exit: i32,
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Declares error-code constants and the list of all of them, so that no code exists outside a
/// list. See the [module documentation](crate::codes) for an example.
#[macro_export]
macro_rules! error_codes {
    (
        $(#[$list_meta:meta])*
        $vis:vis $list:ident {
            $( $(#[$meta:meta])* $name:ident = $code:literal, $exit:expr; )*
        }
    ) => {
        $(
            $(#[$meta])*
            $vis const $name: $crate::codes::ErrorCode =
                $crate::codes::ErrorCode { name: $code, exit: $exit };
        )*
        $(#[$list_meta])*
        $vis const $list: &[$crate::codes::ErrorCode] = &[$($name),*];
    };
}

use crate::exit;

/// Every code of `lists`, sorted by name, each once: a binary's `codes()` is the union of its own
/// list and those of everything it reads.
pub fn union(lists: &[&[ErrorCode]]) -> Vec<ErrorCode> {
    let mut all: Vec<ErrorCode> = lists.concat();
    all.sort();
    all.dedup();
    all
}

error_codes! {
    /// Reading any file (plan, snapshot, manifest, configuration) and the codes of
    /// [`crate::ReadError`]: reading any Convoy document.
    pub READ_CODES {
        /// The file cannot be read (not a regular file, too large, not UTF-8, an OS error).
        FILE_UNREADABLE = "file-unreadable", exit::REFUSED;
        /// The text is not JSON.
        DOCUMENT_NOT_JSON = "document-not-json", exit::REFUSED;
        /// No valid `format_version`.
        FORMAT_VERSION_MISSING = "format-version-missing", exit::REFUSED;
        /// A format version this build does not read.
        FORMAT_VERSION_UNSUPPORTED = "format-version-unsupported", exit::REFUSED;
        /// A field does not match the format.
        DOCUMENT_INVALID = "document-invalid", exit::REFUSED;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_kebab_case_and_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for code in READ_CODES {
            assert!(code
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
            assert!(seen.insert(code.name));
        }
    }
}
