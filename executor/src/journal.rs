//! The journal beside a plan: every event of every run of it, one JSON line each (a
//! [`PublishEvent`], the same lines `--format json` prints), synced to disk as it happens; and
//! the lock that lets only one publisher run a plan at a time.
//!
//! The index stays the source of truth for what is published. The journal adds what the index
//! cannot say: which crates an earlier, interrupted run of the same plan *sent*. A rerun reads
//! their index entries (and waits out the poll timeout) before sending any of them again, and
//! counts them as published by that earlier run, not as "already present".

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convoy_schema::events::{EventKind, PublishEvent};

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

convoy_schema::error_codes! {
    /// The codes of [`JournalError`].
    pub JOURNAL_CODES {
        /// The journal or its lock cannot be used.
        JOURNAL_UNWRITABLE = "journal-unwritable", convoy_schema::exit::REFUSED;
        /// Another publisher holds the lock.
        PUBLISH_ALREADY_RUNNING = "publish-already-running", convoy_schema::exit::REFUSED;
    }
}

impl JournalError {
    /// Stable code (one of [`JOURNAL_CODES`]).
    pub fn error_code(&self) -> convoy_schema::ErrorCode {
        match self {
            Self::Unwritable { .. } => JOURNAL_UNWRITABLE,
            Self::Locked { .. } => PUBLISH_ALREADY_RUNNING,
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

/// What earlier runs of a plan did, read from its journal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EarlierRuns {
    /// Crates whose last upload's fate is unknown (sent, then no definite answer: the run died,
    /// or the upload was accepted or in doubt but not yet seen), with when it was sent.
    pub in_doubt: BTreeMap<String, SystemTime>,
    /// Crates an earlier run saw published (accepted or visible).
    pub published: BTreeSet<String>,
}

/// What earlier runs of the plan with `digest` did, from a journal's text. Lines of other plans,
/// and lines that are not events, are ignored.
pub fn earlier_runs(journal: &str, digest: &str) -> EarlierRuns {
    let mut runs = EarlierRuns::default();
    let mut previous: BTreeMap<String, &'static str> = BTreeMap::new();
    for line in journal
        .lines()
        .filter_map(|line| PublishEvent::from_line(line).ok())
        .filter(|line| line.plan == digest)
    {
        let Some(name) = line.crate_name().map(str::to_owned) else {
            continue;
        };
        let at = UNIX_EPOCH.checked_add(Duration::from_secs(line.time));
        let kind = match &line.event {
            EventKind::Uploading { .. } => "uploading",
            EventKind::Failed { .. } => "failed",
            _ => "other",
        };
        let before = previous.insert(name.clone(), kind);
        match line.event {
            EventKind::Uploading { .. } => {
                if let Some(at) = at {
                    runs.in_doubt.insert(name, at);
                }
            }
            EventKind::Accepted { .. } => {
                runs.published.insert(name);
            }
            EventKind::Visible { .. } | EventKind::PublishedEarlier { .. } => {
                runs.in_doubt.remove(&name);
                runs.published.insert(name);
            }
            // A definite answer that nothing was stored: 5xx, 429, or a rejection (a failure
            // right after sending); a failure after waiting for the index stays in doubt.
            EventKind::Retrying { .. } | EventKind::RateLimited { .. } => {
                runs.in_doubt.remove(&name);
            }
            EventKind::Failed { .. } if before == Some("uploading") => {
                runs.in_doubt.remove(&name);
            }
            _ => {}
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(event: &str, name: &str, plan: &str, time: u64) -> String {
        let fields = match event {
            "uploading" => r#","attempt":1,"credential":"api-token""#,
            "retrying" => r#","reason":"5xx","at":1"#,
            "failed" | "resolving" => r#","reason":"r""#,
            "rate-limited" => r#","kind":"new-crate","until":1,"refill_ms":null"#,
            _ => "",
        };
        format!(
            r#"{{"format_version":"1.0","plan":"{plan}","time":{time},"time_ms":{time}000,"event":"{event}","crate":"{name}","version":"1.0.0"{fields}}}"#
        )
    }

    #[test]
    fn what_earlier_runs_of_the_same_plan_left_in_doubt_or_published() {
        let journal = [
            line("uploading", "crashed", "sha256:1", 1),
            line("uploading", "accepted", "sha256:1", 2),
            line("accepted", "accepted", "sha256:1", 3),
            line("uploading", "seen", "sha256:1", 2),
            line("accepted", "seen", "sha256:1", 3),
            line("visible", "seen", "sha256:1", 4),
            line("uploading", "refused", "sha256:1", 2),
            line("failed", "refused", "sha256:1", 3),
            line("uploading", "five-hundred", "sha256:1", 2),
            line("retrying", "five-hundred", "sha256:1", 3),
            line("uploading", "four-twenty-nine", "sha256:1", 2),
            line("rate-limited", "four-twenty-nine", "sha256:1", 3),
            line("uploading", "lost", "sha256:1", 5),
            line("resolving", "lost", "sha256:1", 6),
            line("failed", "lost", "sha256:1", 9),
            line("uploading", "again", "sha256:1", 1),
            line("uploading", "again", "sha256:1", 7),
            line("uploading", "other-plan", "sha256:2", 1),
            "not json".to_owned(),
            r#"{"event":"uploading","crate":"no-plan","time":1}"#.to_owned(),
            r#"{"event":"uploading","crate":"cut-off","plan":"sha256:1""#.to_owned(),
            // Another major of the format is not read as this one.
            line("uploading", "future", "sha256:1", 1).replace("\"1.0\"", "\"2.0\""),
        ]
        .join("\n");
        let runs = earlier_runs(&journal, "sha256:1");
        let at = |t| UNIX_EPOCH + Duration::from_secs(t);
        assert_eq!(
            runs.in_doubt,
            BTreeMap::from([
                ("accepted".to_owned(), at(2)),
                ("again".to_owned(), at(7)),
                ("crashed".to_owned(), at(1)),
                ("lost".to_owned(), at(5)),
            ])
        );
        assert_eq!(
            runs.published.into_iter().collect::<Vec<_>>(),
            ["accepted", "seen"]
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
        assert_eq!(
            second.error_code().name,
            "publish-already-running",
            "{second}"
        );
        drop(first);
        let (_third, earlier) = Journal::open(&path).unwrap();
        assert_eq!(earlier, "line\n");
    }

    #[test]
    fn an_unwritable_journal_is_an_error_not_a_silent_no_op() {
        let error = Journal::open(Path::new("/proc/no-such-dir/plan.journal")).unwrap_err();
        assert_eq!(error.error_code().name, "journal-unwritable", "{error}");
    }
}
