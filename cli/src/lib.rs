//! What every Convoy binary does first: log to stderr as `CONVOY_LOG` asks, and parse its
//! arguments, turning clap's errors into Convoy's exit codes (`--help` and `--version` exit 0, a
//! usage error exits 2). Also what all three share: the [`error`] shape and its reporting, the
//! registry arguments, the plan, bundle and document readers (regular files, bounded), the async
//! runtime, and [`markdown`] escaping.

pub mod error;
pub mod markdown;

pub use error::{report, ExpectedError};

use std::collections::BTreeMap;
use std::path::Path;

use convoy_registry::resolve::RegistryChoice;
use convoy_schema::codes::FILE_UNREADABLE;
use convoy_schema::plan::{is_plain_file_name, Plan};
use convoy_schema::{error_codes, exit, ErrorCode, ReadError};

/// `--registry NAME | --index URL` and `--allow-http`, as every Convoy binary takes them.
// The field docs are `--help` text, where `<NAME>` and a bare URL read as meant.
#[allow(rustdoc::invalid_html_tags, rustdoc::bare_urls)]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct RegistryArgs {
    /// Registry by cargo's name for it ([registries.NAME] in cargo's configuration, or
    /// CARGO_REGISTRIES_<NAME>_INDEX).
    #[arg(long, value_name = "NAME", conflicts_with = "index")]
    pub registry: Option<String>,
    /// Registry by sparse index URL, e.g. sparse+https://index.crates.io/.
    #[arg(long, value_name = "URL")]
    pub index: Option<String>,
    /// Allow plain HTTP to a registry that is not on this machine.
    #[arg(long)]
    pub allow_http: bool,
}

impl RegistryArgs {
    /// The registry the command line names, if it names one.
    pub fn choice(&self) -> Option<RegistryChoice> {
        match (&self.registry, &self.index) {
            (Some(name), _) => Some(RegistryChoice::Named(name.clone())),
            (None, Some(url)) => Some(RegistryChoice::Index(url.clone())),
            (None, None) => None,
        }
    }
}

/// Installs the stderr logger, filtered by `CONVOY_LOG` (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("CONVOY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .without_time()
        .try_init();
}

/// Parses the process arguments; `Err` carries the exit code after clap has printed its message.
pub fn parse_args<T: clap::Parser>() -> Result<T, i32> {
    T::try_parse().map_err(|error| {
        let _ = error.print();
        if error.use_stderr() {
            exit::REFUSED
        } else {
            exit::OK
        }
    })
}

/// One bundle file as read: its bytes, or why it was not read.
pub type BundleFile = Result<Vec<u8>, String>;

/// The artifact files a plan names that exist in the bundle directory `dir`, by file name. Names
/// that are not bare file names are never read; a missing file is simply absent. Only regular
/// files inside the bundle are read (a symbolic link is followed only to a file inside it), at
/// most one byte more than the plan's size, so a FIFO, a device or a link to `/dev/zero` is
/// refused with its reason instead of hanging or filling memory.
pub fn read_bundle(plan: &Plan, dir: &Path) -> BTreeMap<String, BundleFile> {
    let crates = plan
        .packages
        .iter()
        .filter_map(|p| p.artifact.as_ref())
        .map(|a| (&a.file, a.size));
    let python = plan
        .packages
        .iter()
        .filter_map(|p| p.python.as_ref())
        .flat_map(|p| &p.files)
        .map(|f| (&f.filename, f.size));
    crates
        .chain(python)
        .filter(|(file, _)| is_plain_file_name(file))
        .filter_map(|(file, size)| Some((file.clone(), read_bundle_file(dir, file, size)?)))
        .collect()
}

/// `None` when the file does not exist.
fn read_bundle_file(dir: &Path, name: &str, size: u64) -> Option<BundleFile> {
    use std::io::Read;

    let path = dir.join(name);
    let link = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta.file_type().is_symlink(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => return Some(Err(format!("cannot read it: {e}"))),
    };
    let real = if link {
        let inside = std::fs::canonicalize(dir).ok();
        match std::fs::canonicalize(&path) {
            Ok(target) if inside.is_some_and(|d| target.starts_with(d)) => target,
            Ok(_) => {
                return Some(Err(
                    "it is a symbolic link to a file outside the bundle".to_owned()
                ))
            }
            Err(e) => {
                return Some(Err(format!(
                    "it is a symbolic link that cannot be followed: {e}"
                )))
            }
        }
    } else {
        path
    };
    let file = match open_regular(&real) {
        Ok(file) => file,
        Err(reason) => return Some(Err(reason)),
    };
    let mut bytes = Vec::new();
    Some(
        file.take(size.saturating_add(1))
            .read_to_end(&mut bytes)
            .map(|_| bytes)
            .map_err(|e| format!("cannot read it: {e}")),
    )
}

/// Opens `path` for reading if it is a regular file, without blocking (a FIFO would hang a
/// plain open) and without following a final symbolic link; says why not otherwise.
fn open_regular(path: &Path) -> Result<std::fs::File, String> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path)
        .map_err(|e| format!("cannot open it: {e}"))?;
    match file.metadata() {
        Ok(meta) if meta.is_file() => Ok(file),
        Ok(_) => Err("it is not a regular file (a FIFO, device, socket or directory)".to_owned()),
        Err(e) => Err(format!("cannot read it: {e}")),
    }
}

/// The most a plan or snapshot file may be.
pub const DOCUMENT_LIMIT: u64 = 256 << 20;

/// Reads a document (a plan, a snapshot) that a user names: a regular file (a link to one is
/// followed), at most [`DOCUMENT_LIMIT`] bytes, UTF-8. The error says why, for a message that
/// names the file.
pub fn read_document(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let real = std::fs::canonicalize(path).map_err(|e| format!("cannot open it: {e}"))?;
    let mut bytes = Vec::new();
    open_regular(&real)?
        .take(DOCUMENT_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read it: {e}"))?;
    if bytes.len() as u64 > DOCUMENT_LIMIT {
        return Err(format!("it is larger than {} MiB", DOCUMENT_LIMIT >> 20));
    }
    String::from_utf8(bytes).map_err(|_| "it is not UTF-8 text".to_owned())
}

error_codes! {
    /// The codes of [`PlanFileError`] and [`RuntimeError`], in every binary that reads a plan.
    pub PLAN_FILE_CODES {
        /// The plan's digest does not match its content.
        PLAN_DIGEST_MISMATCH = "plan-digest-mismatch", exit::REFUSED;
        /// The async runtime cannot start.
        RUNTIME_FAILED = "runtime-failed", exit::FAILED;
    }
}

/// Why a plan file named on the command line cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PlanFileError {
    /// Not a readable regular file of at most [`DOCUMENT_LIMIT`] bytes of UTF-8.
    #[error("cannot read {path}: {reason}")]
    Unreadable {
        /// The file as given.
        path: String,
        /// Why.
        reason: String,
    },
    /// Not a plan of a format this Convoy reads.
    #[error("plan {path}: {source}")]
    Format {
        /// The file as given.
        path: String,
        /// What is wrong with it.
        source: ReadError,
    },
    /// The plan was edited after it was made.
    #[error("plan {path} records digest {recorded}, but its content hashes to {computed}: it was edited after it was made")]
    DigestMismatch {
        /// The file as given.
        path: String,
        /// The digest in the file.
        recorded: String,
        /// The digest of the content.
        computed: String,
    },
}

impl ExpectedError for PlanFileError {
    fn error_code(&self) -> ErrorCode {
        match self {
            Self::Unreadable { .. } => FILE_UNREADABLE,
            Self::Format { source, .. } => source.error_code(),
            Self::DigestMismatch { .. } => PLAN_DIGEST_MISMATCH,
        }
    }

    fn help(&self) -> String {
        match self {
            Self::Unreadable { .. } => "give the plan.json that convoy-plan wrote".to_owned(),
            Self::Format { source, .. } => source.help(),
            Self::DigestMismatch { .. } => {
                "regenerate the plan with convoy-plan instead of editing it".to_owned()
            }
        }
    }
}

/// Reads the plan file at `path` (see [`read_document`]), refusing a format this Convoy does not
/// read and a digest that does not match the content.
pub fn read_plan(path: &Path) -> Result<Plan, PlanFileError> {
    let shown = path.display().to_string();
    let text = read_document(path).map_err(|reason| PlanFileError::Unreadable {
        path: shown.clone(),
        reason,
    })?;
    let plan = Plan::from_json(&text).map_err(|source| PlanFileError::Format {
        path: shown.clone(),
        source,
    })?;
    let computed = plan.compute_digest();
    if computed != plan.digest {
        return Err(PlanFileError::DigestMismatch {
            path: shown,
            recorded: plan.digest,
            computed,
        });
    }
    Ok(plan)
}

/// The async runtime could not start (threads or the OS's event queue).
#[derive(Debug, thiserror::Error)]
#[error("cannot start the async runtime: {0}")]
pub struct RuntimeError(std::io::Error);

impl ExpectedError for RuntimeError {
    fn error_code(&self) -> ErrorCode {
        RUNTIME_FAILED
    }

    fn help(&self) -> String {
        "retry; check the process's thread and file-descriptor limits (ulimit)".to_owned()
    }
}

/// The runtime the network-facing binaries run on: two workers (the machines CI gives have two
/// cores; the work is waiting on the network), every driver enabled.
pub fn runtime() -> Result<tokio::runtime::Runtime, RuntimeError> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(RuntimeError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_bundle_are_read_and_never_past_the_planned_size() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("bundle");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("a.crate"), b"abcdef").unwrap();
        std::fs::write(root.path().join("outside.crate"), b"abc").unwrap();
        std::os::unix::fs::symlink(dir.join("a.crate"), dir.join("inside-link.crate")).unwrap();
        std::os::unix::fs::symlink(
            root.path().join("outside.crate"),
            dir.join("out-link.crate"),
        )
        .unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("zero.crate")).unwrap();
        // mkfifo(1) keeps `unsafe` out of the workspace.
        let made = std::process::Command::new("mkfifo")
            .arg(dir.join("fifo.crate"))
            .status()
            .unwrap();
        assert!(made.success());
        std::fs::create_dir(dir.join("dir.crate")).unwrap();

        assert_eq!(
            read_bundle_file(&dir, "a.crate", 6),
            Some(Ok(b"abcdef".to_vec()))
        );
        assert_eq!(
            read_bundle_file(&dir, "a.crate", 2),
            Some(Ok(b"abc".to_vec())),
            "size + 1 at most"
        );
        assert_eq!(
            read_bundle_file(&dir, "inside-link.crate", 6),
            Some(Ok(b"abcdef".to_vec()))
        );
        assert_eq!(read_bundle_file(&dir, "missing.crate", 6), None);
        assert!(read_document(&dir.join("fifo.crate"))
            .unwrap_err()
            .contains("not a regular file"));
        assert!(read_document(&dir.join("dir.crate"))
            .unwrap_err()
            .contains("not a regular file"));
        assert_eq!(
            read_document(&dir.join("inside-link.crate")).unwrap(),
            "abcdef"
        );
        for (name, why) in [
            ("out-link.crate", "outside the bundle"),
            ("zero.crate", "outside the bundle"),
            ("fifo.crate", "not a regular file"),
            ("dir.crate", "not a regular file"),
        ] {
            match read_bundle_file(&dir, name, 1 << 30) {
                Some(Err(reason)) => assert!(reason.contains(why), "{name}: {reason}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
