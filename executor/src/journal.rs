//! The journal beside a plan: every event of every run of it, one JSON line each, synced to disk
//! as it happens; and the lock that lets only one publisher run a plan at a time.
//!
//! The index stays the source of truth for what is published. The journal adds what the index
//! cannot say: which crates an earlier, interrupted run of the same plan *sent*. A rerun reads
//! their index entries (and waits out the poll timeout) before sending any of them again, and
//! counts them as published by that earlier run, not as "already present".

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Why the journal cannot be used (the run is refused before anything is uploaded).
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The journal or its lock cannot be created, read or written.
    #[error("cannot use the journal {path}: {error}")]
    Unwritable {
        /// The file.
        path: PathBuf,
        /// What failed.
        error: std::io::Error,
    },
    /// Another publisher holds the lock.
    #[error("another convoy-publish is running this plan (it holds {path})")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
}

impl JournalError {
    /// Stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unwritable { .. } => "journal-unwritable",
            Self::Locked { .. } => "publish-already-running",
        }
    }

    /// What to do.
    pub fn help(&self) -> &'static str {
        match self {
            Self::Unwritable { .. } => "pass --journal with a writable path (the journal is what lets a rerun resume without sending twice)",
            Self::Locked { .. } => "wait for the other run to end; two publishers of one plan would send the same crates twice",
        }
    }
}

/// An open journal, holding the plan's publish lock until dropped.
#[derive(Debug)]
pub struct Journal {
    file: File,
    // Held for its advisory lock, which the OS releases when the process ends, however it ends.
    _lock: File,
}

impl Journal {
    /// Takes the lock `<path>.lock`, reads what earlier runs wrote, and opens `path` to append.
    pub fn open(path: &Path) -> Result<(Self, String), JournalError> {
        let unwritable = |path: &Path| {
            let path = path.to_path_buf();
            move |error| JournalError::Unwritable { path, error }
        };
        let mut lock_path = path.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock_path = PathBuf::from(lock_path);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(unwritable(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(JournalError::Locked { path: lock_path }),
            Err(TryLockError::Error(error)) => return Err(unwritable(&lock_path)(error)),
        }
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .map_err(unwritable(path))?;
        let mut earlier = String::new();
        file.read_to_string(&mut earlier)
            .map_err(unwritable(path))?;
        Ok((Self { file, _lock: lock }, earlier))
    }

    /// Appends one line and syncs it to disk.
    pub fn append(&mut self, line: &str) -> std::io::Result<()> {
        writeln!(self.file, "{line}")?;
        self.file.sync_data()
    }
}

/// The crates that earlier runs of the plan with `digest` sent (an `uploading` event), with when
/// they were last sent, from a journal's text. Lines of other plans, and lines that are not
/// events, are ignored.
pub fn sent_before(journal: &str, digest: &str) -> BTreeMap<String, SystemTime> {
    let mut sent = BTreeMap::new();
    for event in journal
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["plan"] == digest && event["event"] == "uploading")
    {
        let (Some(name), Some(time)) = (event["crate"].as_str(), event["time"].as_u64()) else {
            continue;
        };
        let Some(at) = UNIX_EPOCH.checked_add(Duration::from_secs(time)) else {
            continue;
        };
        let latest = sent.entry(name.to_owned()).or_insert(at);
        *latest = (*latest).max(at);
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_uploads_of_the_same_plan_count() {
        let journal = concat!(
            r#"{"event":"uploading","crate":"a","plan":"sha256:1","time":1}"#,
            "\n",
            r#"{"event":"uploading","crate":"a","plan":"sha256:1","time":7}"#,
            "\n",
            r#"{"event":"uploading","crate":"a","plan":"sha256:1","time":3}"#,
            "\n",
            r#"{"event":"uploading","crate":"b","plan":"sha256:2","time":1}"#,
            "\n",
            r#"{"event":"paced","crate":"c","plan":"sha256:1","time":1}"#,
            "\n",
            "not json\n",
            r#"{"event":"uploading","crate":"d","time":1}"#,
            "\n",
            r#"{"event":"uploading","crate":"e","plan":"sha256:1""#,
        );
        assert_eq!(
            sent_before(journal, "sha256:1").into_iter().collect::<Vec<_>>(),
            [("a".to_owned(), UNIX_EPOCH + Duration::from_secs(7))]
        );
    }

    #[test]
    fn a_second_publisher_is_refused_and_the_lock_dies_with_the_first() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json.journal");
        let (mut first, earlier) = Journal::open(&path).unwrap();
        assert_eq!(earlier, "");
        first.append("line").unwrap();
        let second = Journal::open(&path).unwrap_err();
        assert_eq!(second.code(), "publish-already-running", "{second}");
        drop(first);
        let (_third, earlier) = Journal::open(&path).unwrap();
        assert_eq!(earlier, "line\n");
    }

    #[test]
    fn an_unwritable_journal_is_an_error_not_a_silent_no_op() {
        let error = Journal::open(Path::new("/proc/no-such-dir/plan.journal")).unwrap_err();
        assert_eq!(error.code(), "journal-unwritable", "{error}");
    }
}
