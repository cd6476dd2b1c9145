//! Packaging, an IO edge: makes the `.crate` files a plan names without touching the user's tree
//! or `target/`. `convoy-plan --bundle` and `convoy-verify --rebuild` both package through
//! [`package`], so a rebuild stages and packages exactly as planning did.
//!
//! Each run stages the workspace in a fresh temporary directory — a `git clone --shared` of the
//! repository checked out at the planned commit, or a copy when the workspace is not in git —
//! applies only the plan's manifest edits there, and runs
//! `cargo package --no-verify -p <each package to publish or skip>` with a target directory
//! inside the staging area. With no edits, the archives are byte for byte what `cargo package` makes in a
//! clean checkout of the commit, `.cargo_vcs_info.json` included; with edits, cargo records the
//! staged tree as `"dirty": true`, as it would for any change not committed.
//!
//! An interrupt (SIGINT, SIGTERM, SIGHUP; Ctrl-C on Windows) must not leave staging areas behind
//! in `/dev/shm`: [`clean_up_on_interrupt`] installs a handler that ends the cargo and git
//! processes packaging waits for, removes every staging directory still in use, and exits with
//! [`exit::INTERRUPTED`]. Those processes run in process groups of their own, so that the handler
//! reaches the compilers `cargo package` starts too.

// An IO edge: package/clippy.toml forbids these calls everywhere else in the crate.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};

use convoy_registry::CRATES_IO;
use convoy_schema::exit;
use convoy_schema::plan::{Action, GitInputs, Packaging, PackagingSource, Plan};

use crate::edits;
use crate::error::PackageError;

/// One packaged crate's bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedCrate {
    /// Package name.
    pub name: String,
    /// The `.crate` file's bytes.
    pub bytes: Vec<u8>,
}

/// What packaging produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagingOutcome {
    /// How it was done.
    pub packaging: Packaging,
    /// The crates, or cargo's message when `cargo package` failed.
    pub result: Result<Vec<PackagedCrate>, String>,
    /// The crates of a second run in another staging directory (`--check-reproducible`).
    pub second_run: Option<Vec<PackagedCrate>>,
}

/// What packaging needs to know about the workspace beyond the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageInput {
    /// `cargo --version` ([`crate::cargo::cargo_version`]), recorded in the outcome's
    /// [`Packaging`].
    pub cargo_version: String,
    /// The commit to stage with `git clone --shared`, and where the workspace lies in the
    /// repository; `None` when the workspace is not in git, and a copy of it is staged instead.
    pub git: Option<GitInputs>,
}

/// What to package and how.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Absolute path of the workspace root.
    pub workspace_root: PathBuf,
    /// Build each packaged crate against the staged siblings (`cargo package` without
    /// `--no-verify`).
    pub verify_build: bool,
    /// Package a second time in another staging directory and compare.
    pub check_reproducible: bool,
}

/// Packages the plan's `publish` packages. A failure of cargo itself is reported in the
/// outcome (it becomes a plan diagnostic); failures to stage are errors.
pub fn package(
    input: &PackageInput,
    plan: &Plan,
    options: &PackageOptions,
) -> Result<PackagingOutcome, PackageError> {
    // Versions the registry already has are packaged too, so their bytes can be compared with
    // the registry's: a skip is only a skip when the content is the same.
    let packages: Vec<(String, String)> = plan
        .packages
        .iter()
        .filter(|p| p.action != Action::Excluded)
        .map(|p| (p.name.clone(), p.version.to_string()))
        .collect();
    // Every edit the plan names, excluded members' included: a requirement rewritten in a
    // member that is never published still has to resolve for the workspace to build.
    let has_edits = !edits::manifest_edits(plan).is_empty()
        || !plan.lockfile_edits.is_empty()
        || plan
            .packages
            .iter()
            .any(|p| p.release.as_ref().is_some_and(|r| r.changelog.is_some()));
    let source = match input.git {
        Some(_) => PackagingSource::GitCommit,
        None => PackagingSource::Copy,
    };
    let packaging = Packaging {
        cargo_version: input.cargo_version.clone(),
        source,
        edits_applied: has_edits,
        build_verified: options.verify_build,
        reproducibility_checked: options.check_reproducible,
    };
    if packages.is_empty() {
        // An empty release: `cargo package` without `--package` would package the whole
        // workspace, excluded and unpublishable members included.
        return Ok(PackagingOutcome {
            packaging,
            result: Ok(Vec::new()),
            second_run: None,
        });
    }
    let first = package_once(input, plan, &packages, has_edits, options, "stage")?;
    let second = match (&first, options.check_reproducible) {
        (Ok(_), true) => Some(package_once(
            input,
            plan,
            &packages,
            has_edits,
            options,
            "second/deeper/stage",
        )?),
        _ => None,
    };
    let second = match second {
        Some(Ok(crates)) => Some(crates),
        Some(Err(message)) => {
            return Ok(PackagingOutcome {
                packaging,
                result: Err(message),
                second_run: None,
            })
        }
        None => None,
    };
    Ok(PackagingOutcome {
        packaging,
        result: first,
        second_run: second,
    })
}

/// One staging and packaging run; `Ok(Err(..))` carries cargo's own failure message.
fn package_once(
    input: &PackageInput,
    plan: &Plan,
    packages: &[(String, String)],
    has_edits: bool,
    options: &PackageOptions,
    subdir: &str,
) -> Result<Result<Vec<PackagedCrate>, String>, PackageError> {
    let staging = staging_directory(options.verify_build)?;
    let stage_root = staging.path().join(subdir);
    let workspace = match &input.git {
        Some(git) => {
            let repository = repository_root(&options.workspace_root, &git.workspace_path);
            clone_commit(&repository, &git.commit, &stage_root)?;
            if git.workspace_path.is_empty() {
                stage_root.clone()
            } else {
                stage_root.join(&git.workspace_path)
            }
        }
        None => {
            copy_tree(&options.workspace_root, &stage_root)?;
            stage_root.clone()
        }
    };
    let edited = edits::edited_files(plan, |file| std::fs::read_to_string(workspace.join(file)))
        .map_err(|e| staging_failed(format!("cannot apply the plan's edits: {e}")))?;
    for (file, text) in &edited {
        std::fs::write(workspace.join(file), text)
            .map_err(|e| staging_failed(format!("cannot write the staged {file}: {e}")))?;
    }
    let target_dir = staging.path().join("target");
    let mut cargo = Command::new(crate::cargo::cargo_program());
    cargo
        .arg("package")
        .arg("--manifest-path")
        .arg(workspace.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .current_dir(&workspace);
    if !options.verify_build {
        cargo.arg("--no-verify");
    }
    if has_edits {
        cargo.arg("--allow-dirty");
    }
    if plan.registry.name.as_deref() != Some(CRATES_IO) {
        // The staged tree may lack the cargo configuration that names the registry, so the
        // index is passed directly; cargo records the same source URL either way.
        cargo.arg("--index").arg(&plan.registry.index);
    }
    for (name, _) in packages {
        cargo.arg("--package").arg(name);
    }
    tracing::debug!(command = ?cargo, "packaging");
    let output =
        output_of(&mut cargo).map_err(|e| staging_failed(format!("cannot run cargo: {e}")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let message = stderr
            .lines()
            .filter(|line| {
                !line.trim_start().starts_with("Packaging")
                    && !line.trim_start().starts_with("Packaged")
            })
            .collect::<Vec<_>>()
            .join("\n")
            .replace(&*staging.path().to_string_lossy(), "<staging>");
        return Ok(Err(message.trim().to_owned()));
    }
    let mut crates = Vec::with_capacity(packages.len());
    for (name, version) in packages {
        let path = target_dir
            .join("package")
            .join(format!("{name}-{version}.crate"));
        let bytes = std::fs::read(&path).map_err(|source| PackageError::Read {
            path: path.display().to_string(),
            source,
        })?;
        crates.push(PackagedCrate {
            name: name.clone(),
            bytes,
        });
    }
    Ok(Ok(crates))
}

/// What an interrupt has to clean up: the staging directories in use and the processes working
/// in them.
pub(crate) struct InFlight {
    staging: Vec<PathBuf>,
    pub(crate) children: Vec<Child>,
}

static IN_FLIGHT: Mutex<InFlight> = Mutex::new(InFlight {
    staging: Vec::new(),
    children: Vec::new(),
});

pub(crate) fn in_flight() -> MutexGuard<'static, InFlight> {
    IN_FLIGHT.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Installs (once per process) the handler that cleans up after an interrupt; see the module
/// documentation. `program` starts the line it prints (`convoy-plan: interrupted; staging areas
/// removed`). If no handler can be installed, packaging goes on without one.
pub fn clean_up_on_interrupt(program: &'static str) {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        if let Err(error) = ctrlc::set_handler(move || interrupted(program)) {
            tracing::warn!(%error, "no interrupt handler: an interrupt may leave staging areas behind");
        }
    });
}

/// The interrupt handler (on a thread of its own). It keeps the lock until the process exits,
/// so packaging cannot register anything new, nor go on past a process the handler ended.
fn interrupted(program: &str) {
    let mut in_flight = in_flight();
    for child in &mut in_flight.children {
        end_process_group(child);
    }
    for dir in &in_flight.staging {
        remove_staging(dir);
    }
    eprintln!("{program}: interrupted; staging areas removed");
    std::process::exit(exit::INTERRUPTED);
}

/// Kills `child` and everything it started (its process group), and reaps it.
pub(crate) fn end_process_group(child: &mut Child) {
    #[cfg(unix)]
    if let Ok(group) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(group),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Removes a staging directory. A process killed a moment ago may still finish a write, which
/// makes one pass fail with "directory not empty"; a few passes, a moment apart, get past it.
fn remove_staging(dir: &Path) {
    for _ in 0..20 {
        match std::fs::remove_dir_all(dir) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => return,
        }
    }
}

/// A staging directory, registered for the interrupt handler while it exists.
pub(crate) struct Staging {
    dir: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Staging {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = dir.close();
        }
        in_flight().staging.retain(|p| *p != self.path);
    }
}

/// Runs `command` to completion as [`Command::output`] does, in a process group of its own, and
/// registered so an interrupt ends it (and what it started).
pub(crate) fn output_of(command: &mut Command) -> std::io::Result<Output> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    let (id, stdout, stderr) = {
        let mut in_flight = in_flight();
        let mut child = command.spawn()?;
        let pipes = (child.id(), child.stdout.take(), child.stderr.take());
        in_flight.children.push(child);
        pipes
    };
    let stderr = std::thread::spawn(move || read_all(stderr));
    let stdout = read_all(stdout);
    let stderr = stderr.join().unwrap_or_default();
    // After an interrupt the handler holds the lock until the process exits: this waits for that.
    let child = {
        let mut in_flight = in_flight();
        let at = in_flight.children.iter().position(|c| c.id() == id);
        at.map(|at| in_flight.children.swap_remove(at))
    };
    let status = child
        .ok_or_else(|| std::io::Error::other("the process was ended by an interrupt"))?
        .wait()?;
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Everything a child writes to `pipe`, until it closes it.
fn read_all(pipe: Option<impl Read>) -> Vec<u8> {
    let mut bytes = Vec::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_end(&mut bytes);
    }
    bytes
}

/// Where staging areas are made: `$CONVOY_STAGING_DIR` if set; else the system's temporary
/// directory when `TMPDIR` is set or a build is verified (compiling can take gigabytes); else
/// `/dev/shm` when it is writable, because a staging area is thrown away and creating thousands
/// of small files costs several times more on disk than in memory. It is registered for the
/// interrupt handler as it is made.
pub(crate) fn staging_directory(verify_build: bool) -> Result<Staging, PackageError> {
    let mut in_flight = in_flight();
    let dir = temporary_directory(verify_build)?;
    let path = dir.path().to_path_buf();
    in_flight.staging.push(path.clone());
    Ok(Staging {
        dir: Some(dir),
        path,
    })
}

fn temporary_directory(verify_build: bool) -> Result<tempfile::TempDir, PackageError> {
    let builder = || {
        let mut builder = tempfile::Builder::new();
        builder.prefix("convoy-package-");
        builder
    };
    let failed =
        |e: std::io::Error| staging_failed(format!("cannot create a temporary directory: {e}"));
    if let Some(dir) = std::env::var_os("CONVOY_STAGING_DIR") {
        return builder().tempdir_in(dir).map_err(failed);
    }
    let memory = Path::new("/dev/shm");
    if std::env::var_os("TMPDIR").is_none() && !verify_build && memory.is_dir() {
        if let Ok(dir) = builder().tempdir_in(memory) {
            return Ok(dir);
        }
    }
    builder().tempdir().map_err(failed)
}

pub(crate) fn staging_failed(message: String) -> PackageError {
    PackageError::Staging { message }
}

/// The repository's top directory: the workspace root less its path inside the repository.
fn repository_root(workspace_root: &Path, workspace_path: &str) -> PathBuf {
    let depth = workspace_path.split('/').filter(|p| !p.is_empty()).count();
    workspace_root
        .ancestors()
        .nth(depth)
        .unwrap_or(workspace_root)
        .to_path_buf()
}

fn run_git(args: &[&std::ffi::OsStr]) -> Result<(), PackageError> {
    let output = output_of(Command::new("git").args(args).env("LC_ALL", "C"))
        .map_err(|e| staging_failed(format!("cannot run git: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(staging_failed(format!(
            "git {} failed: {}",
            args.iter()
                .map(|a| a.to_string_lossy())
                .collect::<Vec<_>>()
                .join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

/// A checkout of `commit` at `destination` that shares the repository's objects.
pub(crate) fn clone_commit(
    repository: &Path,
    commit: &str,
    destination: &Path,
) -> Result<(), PackageError> {
    if let Some(parent) = destination.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| staging_failed(format!("cannot create {}: {e}", parent.display())))?;
    }
    run_git(&[
        "clone".as_ref(),
        "--quiet".as_ref(),
        "--shared".as_ref(),
        "--no-checkout".as_ref(),
        repository.as_os_str(),
        destination.as_os_str(),
    ])?;
    run_git(&[
        "-C".as_ref(),
        destination.as_os_str(),
        "checkout".as_ref(),
        "--quiet".as_ref(),
        "--detach".as_ref(),
        commit.as_ref(),
    ])
}

/// Copies a workspace outside git, leaving out `target/` directories and VCS metadata.
fn copy_tree(from: &Path, to: &Path) -> Result<(), PackageError> {
    let skip: BTreeSet<&str> = ["target", ".git"].into();
    let mut pending = vec![(from.to_path_buf(), to.to_path_buf())];
    while let Some((source, destination)) = pending.pop() {
        std::fs::create_dir_all(&destination)
            .map_err(|e| staging_failed(format!("cannot create {}: {e}", destination.display())))?;
        let entries = std::fs::read_dir(&source).map_err(|e| PackageError::Read {
            path: source.display().to_string(),
            source: e,
        })?;
        for entry in entries {
            let entry = entry.map_err(|e| PackageError::Read {
                path: source.display().to_string(),
                source: e,
            })?;
            let name = entry.file_name();
            let kind = entry.file_type().map_err(|e| PackageError::Read {
                path: entry.path().display().to_string(),
                source: e,
            })?;
            if kind.is_dir() {
                if !skip.contains(name.to_string_lossy().as_ref()) {
                    pending.push((entry.path(), destination.join(&name)));
                }
            } else if kind.is_file() {
                std::fs::copy(entry.path(), destination.join(&name)).map_err(|e| {
                    staging_failed(format!("cannot copy {}: {e}", entry.path().display()))
                })?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_root_is_the_workspace_root_less_its_path() {
        let root = Path::new("/r/crates/w");
        assert_eq!(repository_root(root, ""), root);
        assert_eq!(repository_root(root, "crates/w"), Path::new("/r"));
        assert_eq!(repository_root(root, "crates/w/"), Path::new("/r"));
    }

    #[test]
    fn a_copy_leaves_out_target_and_git() {
        let from = tempfile::tempdir().unwrap();
        let to = tempfile::tempdir().unwrap();
        for dir in ["src", "target/debug", ".git", "a/target"] {
            std::fs::create_dir_all(from.path().join(dir)).unwrap();
        }
        for file in [
            "Cargo.toml",
            "src/lib.rs",
            "target/debug/x",
            ".git/HEAD",
            "a/target/y",
        ] {
            std::fs::write(from.path().join(file), file).unwrap();
        }
        let stage = to.path().join("stage");
        copy_tree(from.path(), &stage).unwrap();
        assert_eq!(
            std::fs::read_to_string(stage.join("src/lib.rs")).unwrap(),
            "src/lib.rs"
        );
        assert!(stage.join("Cargo.toml").is_file());
        assert!(!stage.join("target").exists());
        assert!(!stage.join(".git").exists());
        assert!(stage.join("a").is_dir() && !stage.join("a/target").exists());
    }
}
