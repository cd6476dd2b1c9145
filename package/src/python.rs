//! Packaging Python projects, an IO edge like [`staging`](crate::staging): the sdist and wheel
//! of one project at the plan's commit, made in a clean clone of that commit, never in the
//! user's tree.
//!
//! [`build`] clones the commit into a fresh staging directory (`git clone --shared`, as the Cargo
//! path does), sets `SOURCE_DATE_EPOCH` to the commit's committer time, and runs
//! `python -m build --sdist --wheel --outdir OUT PROJECT` there, with a timeout and only the
//! tail of its output kept. The python is `$CONVOY_PYTHON` when set, else the one
//! `scripts/python-tools install` made (PyPA `build` [`BUILD_VERSION`] under
//! `${CONVOY_TOOLS_DIR:-/opt/convoy}`), else `python3` from `PATH`. `build` fetches the
//! project's build backend into an isolated environment, from PyPI or `$PIP_INDEX_URL`.
//!
//! What comes back is every file built (the sdist first) with its [`DistFile`] description, and
//! the wheel's core metadata, checked against the sdist's `PKG-INFO` in the fields an installer
//! resolves with. With [`BuildRequest::check_reproducible`], the commit is built a second time
//! in another directory and the bytes compared; a difference is report data
//! ([`Reproducibility`]), naming the archive members that differ, not an error.
//!
//! The archive readers ([`wheel_metadata`], [`sdist_metadata`], [`describe_difference`]) and
//! [`parse_core_metadata`] are pure and bounded in what they decompress.

// An IO edge: package/clippy.toml forbids these calls everywhere else in the crate.
#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use convoy_schema::python::{CoreMetadata, DistFile, DistKind};
use sha2::{Digest, Sha256};

use crate::error::PackageError;
use crate::staging::{self, staging_failed};

/// The version of PyPA `build` that `scripts/python-tools install` puts in
/// `${CONVOY_TOOLS_DIR:-/opt/convoy}/python-tools-<version>`.
pub const BUILD_VERSION: &str = "1.2.2.post1";

/// How long one build may take unless the request says otherwise: fetching a backend and
/// building a pure-Python project takes seconds; compiling native code can take minutes.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20 * 60);

/// Bytes of a build's stdout and of its stderr kept for an error message.
const OUTPUT_TAIL: usize = 16 * 1024;

/// Largest core metadata file read (long descriptions included).
const METADATA_LIMIT: u64 = 16 * 1024 * 1024;

/// Most bytes decompressed from one archive while reading it.
const ARCHIVE_LIMIT: u64 = 2 * 1024 * 1024 * 1024;

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The repository's top directory (its work tree is never read: the commit is cloned).
    pub repository: PathBuf,
    /// The commit to build.
    pub commit: String,
    /// The project's directory inside the repository, `/`-separated; empty for the top.
    pub project_path: String,
    /// Build a second time in another directory and compare the bytes.
    pub check_reproducible: bool,
    /// How long one build may take before it is ended.
    pub timeout: Duration,
    /// Files written over the clone before building, `(path relative to the repository root,
    /// text)`: the plan's edits (its pinned requirements), never the user's tree.
    pub edited_files: Vec<(String, String)>,
    /// Version assignments to set in the clone's own files (a dynamic version's
    /// `__version__`), as the plan's edits say.
    pub version_edits: Vec<convoy_schema::plan::ManifestEdit>,
}

impl BuildRequest {
    /// A request for the project at `project_path` in `repository` at `commit`, built once,
    /// with the [`DEFAULT_TIMEOUT`].
    pub fn new(
        repository: impl Into<PathBuf>,
        commit: impl Into<String>,
        project_path: impl Into<String>,
    ) -> Self {
        Self {
            repository: repository.into(),
            commit: commit.into(),
            project_path: project_path.into(),
            check_reproducible: false,
            timeout: DEFAULT_TIMEOUT,
            edited_files: Vec::new(),
            version_edits: Vec::new(),
        }
    }
}

/// Sets the modification time of every file and directory under `dir` (not following
/// symbolic links, skipping `.git`) to `epoch`.
fn clamp_times(dir: &Path, epoch: i64) -> std::io::Result<()> {
    let time = std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(epoch).unwrap_or(0));
    let mut pending = vec![dir.to_path_buf()];
    let mut directories = Vec::new();
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_symlink() || entry.file_name() == ".git" {
                continue;
            }
            if kind.is_dir() {
                pending.push(entry.path());
                directories.push(entry.path());
            } else {
                std::fs::File::options()
                    .write(true)
                    .open(entry.path())?
                    .set_modified(time)?;
            }
        }
    }
    // Directories after what they hold.
    directories.push(dir.to_path_buf());
    for directory in directories {
        std::fs::File::open(&directory)?.set_modified(time)?;
    }
    Ok(())
}

/// One built file: its description and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltFile {
    /// Name, kind, `pyversion`, size and SHA-256, as the plan records them.
    pub file: DistFile,
    /// The file's bytes.
    pub bytes: Vec<u8>,
}

/// What building a project gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltProject {
    /// Every file built, the sdist first, then the wheels by name.
    pub files: Vec<BuiltFile>,
    /// The core metadata of the (first) wheel, which the sdist's `PKG-INFO` agrees with.
    pub metadata: CoreMetadata,
    /// The project builds native code: its backend is maturin, or a wheel is not pure Python
    /// (its tag is not `py*-none-any`). The wheel is then for this platform only.
    pub native: bool,
    /// `[build-system] build-backend` of the project's `pyproject.toml`, if it names one.
    pub build_backend: Option<String>,
    /// What built it, e.g. `build 1.2.2.post1`.
    pub tool: String,
    /// The `SOURCE_DATE_EPOCH` the build ran with: the commit's committer time.
    pub source_date_epoch: i64,
    /// The comparison with a second build, when the request asked for one.
    pub reproducibility: Option<Reproducibility>,
}

/// How a second build of the same commit compared with the first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reproducibility {
    /// The files whose bytes differ (or that only one build made); empty when every byte is
    /// the same.
    pub differences: Vec<FileDifference>,
}

impl Reproducibility {
    /// Both builds made the same files, byte for byte.
    pub fn is_reproducible(&self) -> bool {
        self.differences.is_empty()
    }
}

/// One built file that is not the same in both builds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDifference {
    /// The file's name.
    pub filename: String,
    /// What differs, from [`describe_difference`], e.g. `differing files: demo/__init__.py`.
    pub description: String,
}

/// Builds the sdist and wheel of the project `request` names at its commit; see the module
/// documentation.
pub fn build(request: &BuildRequest) -> Result<BuiltProject, PackageError> {
    let python = python_program();
    let tool = build_tool_version(&python)?;
    let source_date_epoch = committer_time(&request.repository, &request.commit)?;
    let first = build_once(request, &python, source_date_epoch, "stage")?;
    let reproducibility = if request.check_reproducible {
        let second = build_once(request, &python, source_date_epoch, "second/deeper/stage")?;
        Some(compare_builds(&first.files, &second.files))
    } else {
        None
    };
    let (metadata, pure) = check_files(&first.files)?;
    let native = !pure
        || first
            .build_backend
            .as_deref()
            .is_some_and(|backend| backend.starts_with("maturin"));
    Ok(BuiltProject {
        files: first.files,
        metadata,
        native,
        build_backend: first.build_backend,
        tool,
        source_date_epoch,
        reproducibility,
    })
}

/// The python that runs `build`: `$CONVOY_PYTHON`, else the one `scripts/python-tools` installs
/// when it is there, else `python3`.
pub fn python_program() -> PathBuf {
    if let Some(python) = std::env::var_os("CONVOY_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(python);
    }
    let tools = std::env::var_os("CONVOY_TOOLS_DIR")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("/opt/convoy"), PathBuf::from);
    let installed = tools
        .join(format!("python-tools-{BUILD_VERSION}"))
        .join("bin")
        .join("python");
    if installed.is_file() {
        installed
    } else {
        PathBuf::from("python3")
    }
}

/// `build 1.2.2.post1`, from `python -m build --version`.
fn build_tool_version(python: &Path) -> Result<String, PackageError> {
    let tool_failed = |message: String| PackageError::Tool {
        program: python.display().to_string(),
        args: "-m build --version".to_owned(),
        message,
    };
    let output = staging::output_of(
        Command::new(python)
            .args(["-m", "build", "--version"])
            .env("PYTHONDONTWRITEBYTECODE", "1"),
    )
    .map_err(|e| tool_failed(e.to_string()))?;
    if !output.status.success() {
        return Err(tool_failed(format!(
            "{}; install PyPA build with `scripts/python-tools install` or set CONVOY_PYTHON \
             to a python that has it",
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let text = text.trim();
    // `build 1.2.2.post1 (/path/to/build)`: the path says nothing about the bytes.
    Ok(text.split(" (").next().unwrap_or(text).to_owned())
}

/// The commit's committer time, in seconds since the epoch (`git show -s --format=%ct`).
fn committer_time(repository: &Path, commit: &str) -> Result<i64, PackageError> {
    let output = staging::output_of(
        Command::new("git")
            .arg("-C")
            .arg(repository)
            .args(["show", "-s", "--format=%ct"])
            .arg(commit)
            .env("LC_ALL", "C"),
    )
    .map_err(|e| staging_failed(format!("cannot run git: {e}")))?;
    let text = String::from_utf8_lossy(&output.stdout);
    match text.trim().parse::<i64>() {
        Ok(time) if output.status.success() => Ok(time),
        _ => Err(staging_failed(format!(
            "cannot read the committer time of {commit}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))),
    }
}

/// One build's files, with what the staged `pyproject.toml` says about its backend.
struct OneBuild {
    files: Vec<BuiltFile>,
    build_backend: Option<String>,
}

fn build_once(
    request: &BuildRequest,
    python: &Path,
    source_date_epoch: i64,
    subdir: &str,
) -> Result<OneBuild, PackageError> {
    let staging = staging::staging_directory(false)?;
    let stage_root = staging.path().join(subdir);
    staging::clone_commit(&request.repository, &request.commit, &stage_root)?;
    let inside = |path: &str| {
        let inside = Path::new(path);
        if inside.is_absolute()
            || inside
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(staging_failed(format!(
                "the edited file `{path}` is not inside the repository"
            )));
        }
        Ok(stage_root.join(inside))
    };
    for (path, text) in &request.edited_files {
        std::fs::write(inside(path)?, text)
            .map_err(|e| staging_failed(format!("cannot write the plan's edit of {path}: {e}")))?;
    }
    for edit in &request.version_edits {
        let file = inside(&edit.file)?;
        let text = std::fs::read_to_string(&file)
            .map_err(|e| staging_failed(format!("cannot read {} at the commit: {e}", edit.file)))?;
        let edited = crate::edits::set_version_assignment(&text, edit)
            .map_err(|m| staging_failed(format!("{}: {m}", edit.file)))?;
        std::fs::write(&file, edited).map_err(|e| {
            staging_failed(format!(
                "cannot write the plan's edit of {}: {e}",
                edit.file
            ))
        })?;
    }
    // A checkout's files carry the time of the checkout, which backends that archive file
    // times (setuptools' and maturin's sdists) would put into the bytes: every file of the
    // staging copy gets the commit's time instead, as SOURCE_DATE_EPOCH says.
    clamp_times(&stage_root, source_date_epoch)
        .map_err(|e| staging_failed(format!("cannot set the staged files' times: {e}")))?;
    let project_name = match request.project_path.trim_matches('/') {
        "" => ".".to_owned(),
        path => path.to_owned(),
    };
    let project = stage_root.join(request.project_path.trim_matches('/'));
    let build_failed = |message: String| PackageError::PythonBuild {
        project: project_name.clone(),
        tool: "python -m build".to_owned(),
        message,
    };
    let pyproject = project.join("pyproject.toml");
    let build_backend = match std::fs::read_to_string(&pyproject) {
        Ok(text) => build_backend(&text),
        Err(_) if project.join("setup.py").is_file() => None,
        Err(_) => {
            return Err(build_failed(format!(
                "the commit {} has no pyproject.toml (nor setup.py) there",
                request.commit
            )))
        }
    };
    let out = staging.path().join("dist");
    let mut command = Command::new(python);
    command
        .args(["-m", "build", "--sdist", "--wheel", "--outdir"])
        .arg(&out)
        .arg(&project)
        .current_dir(&project)
        .env("SOURCE_DATE_EPOCH", source_date_epoch.to_string())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env("LC_ALL", "C");
    tracing::debug!(?command, "building a Python project");
    let ran = run_bounded(&mut command, request.timeout)
        .map_err(|e| build_failed(format!("cannot run {}: {e}", python.display())))?;
    let shown = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .replace(&*staging.path().to_string_lossy(), "<staging>")
            .trim()
            .to_owned()
    };
    let tail = match (shown(&ran.stderr), shown(&ran.stdout)) {
        (stderr, stdout) if stderr.is_empty() => stdout,
        (stderr, _) => stderr,
    };
    match ran.status {
        None => {
            return Err(build_failed(format!(
                "ended after {} s (the timeout); its output ended with:\n{tail}",
                request.timeout.as_secs()
            )))
        }
        Some(status) if !status.success() => {
            return Err(build_failed(format!(
                "it exited with {status}; its output ended with:\n{tail}"
            )))
        }
        Some(_) => {}
    }
    let mut names = Vec::new();
    let entries = std::fs::read_dir(&out).map_err(|source| PackageError::Read {
        path: out.display().to_string(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| PackageError::Read {
            path: out.display().to_string(),
            source,
        })?;
        names.push(entry.file_name().to_string_lossy().into_owned());
    }
    // The sdist first, then the wheels by name.
    names.sort_by_key(|name| (!name.ends_with(".tar.gz"), name.clone()));
    let mut files = Vec::with_capacity(names.len());
    for name in names {
        let path = out.join(&name);
        let bytes = std::fs::read(&path).map_err(|source| PackageError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let file =
            describe_file(&name, &bytes).map_err(|message| PackageError::PythonArtifact {
                file: name.clone(),
                message,
            })?;
        files.push(BuiltFile { file, bytes });
    }
    Ok(OneBuild {
        files,
        build_backend,
    })
}

/// `[build-system] build-backend` of a `pyproject.toml`, if it is TOML and names one.
fn build_backend(pyproject: &str) -> Option<String> {
    let document = pyproject.parse::<toml_edit::DocumentMut>().ok()?;
    document
        .get("build-system")?
        .get("build-backend")?
        .as_str()
        .map(str::to_owned)
}

/// Whether the build gave one sdist and at least one wheel whose metadata agree; the wheel's
/// metadata, and whether every wheel is pure Python.
fn check_files(files: &[BuiltFile]) -> Result<(CoreMetadata, bool), PackageError> {
    let invalid = |file: &str, message: String| PackageError::PythonArtifact {
        file: file.to_owned(),
        message,
    };
    let sdists: Vec<&BuiltFile> = files
        .iter()
        .filter(|f| f.file.kind == DistKind::Sdist)
        .collect();
    let wheels: Vec<&BuiltFile> = files
        .iter()
        .filter(|f| f.file.kind == DistKind::BdistWheel)
        .collect();
    let (Some(sdist), false, 1) = (sdists.first(), wheels.is_empty(), sdists.len()) else {
        let names: Vec<&str> = files.iter().map(|f| f.file.filename.as_str()).collect();
        return Err(invalid(
            "the build's output",
            format!(
                "a build must give one sdist and at least one wheel; it gave [{}]",
                names.join(", ")
            ),
        ));
    };
    let sdist_metadata =
        sdist_metadata(&sdist.bytes).map_err(|m| invalid(&sdist.file.filename, m))?;
    let mut first = None;
    for wheel in &wheels {
        let metadata =
            wheel_metadata(&wheel.bytes).map_err(|m| invalid(&wheel.file.filename, m))?;
        if let Some(disagreement) = metadata_disagreement(&metadata, &sdist_metadata) {
            return Err(invalid(
                &wheel.file.filename,
                format!(
                    "its METADATA and {}'s PKG-INFO disagree: {disagreement}",
                    sdist.file.filename
                ),
            ));
        }
        first.get_or_insert(metadata);
    }
    let pure = wheels
        .iter()
        .all(|w| wheel_tags(&w.file.filename).is_some_and(|tags| tags.is_pure()));
    Ok((first.unwrap_or_default(), pure))
}

/// The [`DistFile`] of a built file, from its name and bytes.
pub fn describe_file(filename: &str, bytes: &[u8]) -> Result<DistFile, String> {
    let (kind, pyversion) = if filename.ends_with(".tar.gz") {
        (DistKind::Sdist, "source".to_owned())
    } else if let Some(tags) = wheel_tags(filename) {
        (DistKind::BdistWheel, tags.python)
    } else {
        return Err(
            "neither an sdist (`.tar.gz`) nor a wheel (`{name}-{version}-{python}-{abi}-{platform}.whl`)"
                .to_owned(),
        );
    };
    Ok(DistFile {
        filename: filename.to_owned(),
        kind,
        pyversion,
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A wheel file name's compatibility tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelTags {
    /// The python tag, e.g. `py3`, `cp312`, `py2.py3`.
    pub python: String,
    /// The ABI tag, e.g. `none`, `abi3`.
    pub abi: String,
    /// The platform tag, e.g. `any`, `manylinux_2_17_x86_64`.
    pub platform: String,
}

impl WheelTags {
    /// Pure Python for any platform: `py*-none-any`.
    pub fn is_pure(&self) -> bool {
        self.abi == "none"
            && self.platform == "any"
            && self.python.split('.').all(|tag| tag.starts_with("py"))
    }
}

/// The tags of `{name}-{version}(-{build})?-{python}-{abi}-{platform}.whl`, if `filename` is
/// a wheel's name.
pub fn wheel_tags(filename: &str) -> Option<WheelTags> {
    let stem = filename.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if !(5..=6).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
        return None;
    }
    let [python, abi, platform] = parts[parts.len() - 3..] else {
        return None;
    };
    Some(WheelTags {
        python: python.to_owned(),
        abi: abi.to_owned(),
        platform: platform.to_owned(),
    })
}

/// Parses core metadata (`METADATA`, `PKG-INFO`): RFC 822-style header fields up to the first
/// empty line, then the body, which is the long description. A line starting with a space or a
/// tab continues the field before it (kept as Python's email parser keeps it: a newline, then
/// the line); repeated fields stay repeated, in order. A line that is neither a field nor a
/// continuation starts the body, as it does for Python's parser.
pub fn parse_core_metadata(text: &str) -> CoreMetadata {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut body = "";
    let mut consumed = 0;
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.is_empty() {
            body = &text[consumed + line.len()..];
            break;
        }
        if bare.starts_with([' ', '\t']) && !fields.is_empty() {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(bare);
            }
        } else if let Some((name, value)) = bare
            .split_once(':')
            .filter(|(name, _)| !name.is_empty() && !name.contains([' ', '\t']))
        {
            fields.push((name.to_owned(), value.trim().to_owned()));
        } else {
            body = &text[consumed..];
            break;
        }
        consumed += line.len();
    }
    CoreMetadata {
        fields,
        description: (!body.is_empty()).then(|| body.to_owned()),
    }
}

/// The core metadata of a wheel: its `{name}-{version}.dist-info/METADATA`.
pub fn wheel_metadata(wheel: &[u8]) -> Result<CoreMetadata, String> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(wheel))
        .map_err(|e| format!("not a zip archive: {e}"))?;
    let names: Vec<String> = archive
        .file_names()
        .filter(|name| {
            name.split_once('/')
                .is_some_and(|(dir, file)| dir.ends_with(".dist-info") && file == "METADATA")
        })
        .map(str::to_owned)
        .collect();
    let [name] = names.as_slice() else {
        return Err(format!(
            "it has {} `*.dist-info/METADATA` files, not one",
            names.len()
        ));
    };
    let entry = archive
        .by_name(name)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    let text = read_metadata(entry, name)?;
    Ok(parse_core_metadata(&text))
}

/// The core metadata of an sdist: its `{name}-{version}/PKG-INFO`.
pub fn sdist_metadata(sdist: &[u8]) -> Result<CoreMetadata, String> {
    let decoder = flate2::read::GzDecoder::new(sdist).take(ARCHIVE_LIMIT);
    let mut archive = tar::Archive::new(decoder);
    let entries = archive
        .entries()
        .map_err(|e| format!("not a gzipped tar archive: {e}"))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("not a gzipped tar archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("a member's name cannot be read: {e}"))?
            .to_string_lossy()
            .into_owned();
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        if let [_, "PKG-INFO"] = parts.as_slice() {
            return read_metadata(entry, &path).map(|text| parse_core_metadata(&text));
        }
    }
    Err("it has no `{name}-{version}/PKG-INFO`".to_owned())
}

fn read_metadata(entry: impl Read, name: &str) -> Result<String, String> {
    let mut bytes = Vec::new();
    entry
        .take(METADATA_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {name}: {e}"))?;
    if bytes.len() as u64 > METADATA_LIMIT {
        return Err(format!(
            "{name} is larger than {} MiB",
            METADATA_LIMIT / 1024 / 1024
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{name} is not UTF-8"))
}

/// PEP 503 normalization: lower case, runs of `-`, `_`, `.` as one `-`.
fn normalized_name(name: &str) -> String {
    let mut normalized = String::with_capacity(name.len());
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !normalized.ends_with('-') {
                normalized.push('-');
            }
        } else {
            normalized.push(c.to_ascii_lowercase());
        }
    }
    normalized
}

/// Where a wheel's metadata and the sdist's disagree in what installers resolve with: the
/// name (normalized), the version, `Requires-Python`, `Requires-Dist` and `Provides-Extra` (as
/// sets, white space and quotes aside). A field the sdist marks `Dynamic` may differ.
fn metadata_disagreement(wheel: &CoreMetadata, sdist: &CoreMetadata) -> Option<String> {
    let dynamic: Vec<String> = sdist.all("Dynamic").map(str::to_ascii_lowercase).collect();
    let mut problems = Vec::new();
    for field in [
        "Name",
        "Version",
        "Requires-Python",
        "Requires-Dist",
        "Provides-Extra",
    ] {
        if dynamic.contains(&field.to_ascii_lowercase()) {
            continue;
        }
        let values = |metadata: &CoreMetadata| {
            let mut values: Vec<String> = metadata
                .all(field)
                .map(|v| {
                    if field == "Name" || field == "Provides-Extra" {
                        normalized_name(v)
                    } else if field == "Requires-Dist" {
                        canonical_requirement(v)
                    } else {
                        spelling_ignored(v)
                    }
                })
                .collect();
            values.sort();
            values.dedup();
            values
        };
        let (in_wheel, in_sdist) = (values(wheel), values(sdist));
        if in_wheel != in_sdist {
            problems.push(format!(
                "{field}: the wheel says [{}], the sdist [{}]",
                in_wheel.join(", "),
                in_sdist.join(", ")
            ));
        }
    }
    (!problems.is_empty()).then(|| problems.join("; "))
}

/// A requirement as PEP 508 reads it, printed back: markers that mean the same are written the
/// same (setuptools' wheel writes `(python_version >= "3.9") and extra == "cli"` where its
/// sdist has no parentheses). Text that does not parse is compared without its spacing.
pub fn canonical_requirement(value: &str) -> String {
    value
        .parse::<pep508_rs::Requirement>()
        .map(|r| r.to_string())
        .unwrap_or_else(|_| spelling_ignored(value))
}

/// A requirement or specifier without what backends spell differently but means the same:
/// white space and the choice of quotes (setuptools writes `attrs >=23` in a wheel and
/// `attrs>=23` in its sdist; hatchling writes markers with `'`).
fn spelling_ignored(value: &str) -> String {
    value
        .chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '"' { '\'' } else { c })
        .collect()
}

/// Compares two builds' files by name and bytes.
fn compare_builds(first: &[BuiltFile], second: &[BuiltFile]) -> Reproducibility {
    let by_name = |files: &[BuiltFile]| -> BTreeMap<String, (DistKind, Vec<u8>)> {
        files
            .iter()
            .map(|f| (f.file.filename.clone(), (f.file.kind, f.bytes.clone())))
            .collect()
    };
    let (first, second) = (by_name(first), by_name(second));
    let mut differences = Vec::new();
    for (name, (kind, bytes)) in &first {
        let description = match second.get(name) {
            None => "only the first build made it".to_owned(),
            Some((_, other)) if other == bytes => continue,
            Some((_, other)) => describe_difference(bytes, other, *kind),
        };
        differences.push(FileDifference {
            filename: name.clone(),
            description,
        });
    }
    for name in second.keys().filter(|name| !first.contains_key(*name)) {
        differences.push(FileDifference {
            filename: name.clone(),
            description: "only the second build made it".to_owned(),
        });
    }
    Reproducibility { differences }
}

/// What differs between two versions of one distribution file, as
/// [`CrateArchive::describe_difference`](crate::artifacts::CrateArchive::describe_difference)
/// says it for `.crate` files: the members whose content differs; else the members whose
/// timestamps or modes differ; else that only the archive's own headers or compression do.
pub fn describe_difference(first: &[u8], second: &[u8], kind: DistKind) -> String {
    let (Ok(first_members), Ok(second_members)) =
        (archive_members(first, kind), archive_members(second, kind))
    else {
        return "one of the archives cannot be read".to_owned();
    };
    let differing = |pick: fn(&Member) -> &[u8]| -> Vec<&str> {
        let mut names: Vec<&str> = first_members
            .iter()
            .filter(|(name, member)| {
                second_members
                    .get(*name)
                    .is_none_or(|other| pick(member) != pick(other))
            })
            .map(|(name, _)| name.as_str())
            .chain(
                second_members
                    .keys()
                    .filter(|name| !first_members.contains_key(*name))
                    .map(String::as_str),
            )
            .collect();
        names.sort_unstable();
        names
    };
    let content = differing(|m| &m.digest);
    if !content.is_empty() {
        return format!("differing files: {}", content.join(", "));
    }
    let headers = differing(|m| m.header.as_bytes());
    if !headers.is_empty() {
        return format!(
            "the files are equal; their timestamps or modes differ: {}",
            headers.join(", ")
        );
    }
    if kind == DistKind::Sdist && first.get(4..8) != second.get(4..8) {
        return "the files are equal; the gzip header's timestamp differs".to_owned();
    }
    "the files are equal; the archives differ in headers or compression".to_owned()
}

/// One archive member as compared: a digest of its content and its timestamp and mode.
struct Member {
    digest: Vec<u8>,
    header: String,
}

fn archive_members(bytes: &[u8], kind: DistKind) -> Result<BTreeMap<String, Member>, String> {
    let mut members = BTreeMap::new();
    let mut budget = ARCHIVE_LIMIT;
    let mut digest_of = |reader: &mut dyn Read| -> Result<Vec<u8>, String> {
        let mut hasher = Sha256::new();
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let read = reader.read(&mut buffer).map_err(|e| e.to_string())?;
            if read == 0 {
                break;
            }
            budget = budget
                .checked_sub(read as u64)
                .ok_or("the archive decompresses to too much")?;
            hasher.update(&buffer[..read]);
        }
        Ok(hasher.finalize().to_vec())
    };
    match kind {
        DistKind::Sdist => {
            let decoder = flate2::read::GzDecoder::new(bytes).take(ARCHIVE_LIMIT);
            let mut archive = tar::Archive::new(decoder);
            for entry in archive.entries().map_err(|e| e.to_string())? {
                let mut entry = entry.map_err(|e| e.to_string())?;
                let name = entry
                    .path()
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .into_owned();
                let header = entry.header();
                let header = format!(
                    "{:?} {:?} {:?}",
                    header.mtime().ok(),
                    header.mode().ok(),
                    header.entry_type()
                );
                let digest = digest_of(&mut entry)?;
                members.insert(name, Member { digest, header });
            }
        }
        DistKind::BdistWheel => {
            let mut archive =
                zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| e.to_string())?;
            for index in 0..archive.len() {
                let mut entry = archive.by_index(index).map_err(|e| e.to_string())?;
                let name = entry.name().to_owned();
                let header = format!("{:?} {:?}", entry.last_modified(), entry.unix_mode());
                let digest = digest_of(&mut entry)?;
                members.insert(name, Member { digest, header });
            }
        }
    }
    Ok(members)
}

/// What a bounded run gave: `None` as the status when the timeout ended it; the tails of its
/// output.
struct Ran {
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `command` in a process group of its own, registered so an interrupt ends it, keeping
/// only the last [`OUTPUT_TAIL`] bytes of each output; past `timeout`, ends the group.
fn run_bounded(command: &mut Command, timeout: Duration) -> std::io::Result<Ran> {
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(command, 0);
    let (id, stdout, stderr) = {
        let mut in_flight = staging::in_flight();
        let mut child = command.spawn()?;
        let pipes = (child.id(), child.stdout.take(), child.stderr.take());
        in_flight.children.push(child);
        pipes
    };
    let stdout = std::thread::spawn(move || tail_of(stdout));
    let stderr = std::thread::spawn(move || tail_of(stderr));
    let deadline = Instant::now() + timeout;
    let status = loop {
        {
            // After an interrupt the handler holds the lock until the process exits.
            let mut in_flight = staging::in_flight();
            let Some(at) = in_flight.children.iter().position(|c| c.id() == id) else {
                return Err(std::io::Error::other(
                    "the process was ended by an interrupt",
                ));
            };
            if in_flight.children[at].try_wait()?.is_some() {
                // Reaped already: `wait` returns the status it got.
                break Some(in_flight.children.swap_remove(at).wait()?);
            }
            if Instant::now() >= deadline {
                let mut child = in_flight.children.swap_remove(at);
                staging::end_process_group(&mut child);
                break None;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Ran {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}

/// The last [`OUTPUT_TAIL`] bytes a child writes to `pipe`, until it closes it.
fn tail_of(pipe: Option<impl Read>) -> Vec<u8> {
    let mut kept = Vec::new();
    let Some(mut pipe) = pipe else {
        return kept;
    };
    let mut buffer = [0; 8192];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => break,
            Ok(read) => {
                kept.extend_from_slice(&buffer[..read]);
                if kept.len() > 2 * OUTPUT_TAIL {
                    kept.drain(..kept.len() - OUTPUT_TAIL);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if kept.len() > OUTPUT_TAIL {
        kept.drain(..kept.len() - OUTPUT_TAIL);
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_fields_repeat_continue_and_end_at_the_body() {
        let text = "Metadata-Version: 2.4\nName: demo-core\nVersion: 1.0\nLicense: MIT\n        second line\nRequires-Dist: a==1\nRequires-Dist: b; extra == \"x\"\n\n# Demo\n\nText: not a field\n";
        let metadata = parse_core_metadata(text);
        assert_eq!(metadata.get("name"), Some("demo-core"));
        assert_eq!(metadata.get("License"), Some("MIT\n        second line"));
        assert_eq!(
            metadata.all("Requires-Dist").collect::<Vec<_>>(),
            ["a==1", "b; extra == \"x\""]
        );
        assert_eq!(
            metadata.description.as_deref(),
            Some("# Demo\n\nText: not a field\n")
        );
        assert_eq!(parse_core_metadata("Name: x\n").description, None);
        let no_blank = parse_core_metadata("Name: x\nnot a header\nmore");
        assert_eq!(no_blank.fields.len(), 1);
        assert_eq!(no_blank.description.as_deref(), Some("not a header\nmore"));
    }

    #[test]
    fn wheel_tags_tell_pure_wheels_from_native_ones() {
        let pure = wheel_tags("demo_core-1.0-py3-none-any.whl").unwrap();
        assert_eq!(pure.python, "py3");
        assert!(pure.is_pure());
        assert!(wheel_tags("demo-1.0-1-py2.py3-none-any.whl")
            .unwrap()
            .is_pure());
        let native = wheel_tags("demo-1.0-cp312-cp312-manylinux_2_17_x86_64.whl").unwrap();
        assert_eq!(native.python, "cp312");
        assert!(!native.is_pure());
        assert!(!wheel_tags("demo-1.0-cp312-abi3-any.whl").unwrap().is_pure());
        assert_eq!(wheel_tags("demo-1.0.tar.gz"), None);
        assert_eq!(wheel_tags("demo-1.0-py3.whl"), None);
        let file = describe_file("demo-1.0.tar.gz", b"abc").unwrap();
        assert_eq!(
            (file.kind, file.pyversion.as_str()),
            (DistKind::Sdist, "source")
        );
        assert_eq!(
            file.sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(describe_file("demo-1.0.zip", b"").is_err());
    }

    #[test]
    fn metadata_disagreements_name_the_field() {
        let wheel = parse_core_metadata(
            "Name: Demo_Core\nVersion: 1.0\nRequires-Dist: a >=1; python_version >= \"3.9\"\n",
        );
        let same = parse_core_metadata(
            "Name: demo-core\nVersion: 1.0\nRequires-Dist: a>=1; python_version>='3.9'\n",
        );
        assert_eq!(metadata_disagreement(&wheel, &same), None);
        let other = parse_core_metadata("Name: demo-core\nVersion: 1.0\n");
        assert_eq!(
            metadata_disagreement(&wheel, &other).as_deref(),
            Some(
                "Requires-Dist: the wheel says [a>=1 ; python_full_version >= '3.9'], the sdist []"
            )
        );
        let setuptools_wheel = parse_core_metadata(
            "Name: demo-core\nVersion: 1.0\nRequires-Dist: a >=1; python_version >= \"3.9\"\nRequires-Dist: b==1; (python_version >= \"3.9\") and extra == \"cli\"\n",
        );
        let setuptools_sdist = parse_core_metadata(
            "Name: demo-core\nVersion: 1.0\nRequires-Dist: a>=1; python_version>='3.9'\nRequires-Dist: b==1; python_version >= '3.9' and extra == 'cli'\n",
        );
        assert_eq!(
            metadata_disagreement(&setuptools_wheel, &setuptools_sdist),
            None
        );
        let dynamic =
            parse_core_metadata("Name: demo-core\nVersion: 1.0\nDynamic: Requires-Dist\n");
        assert_eq!(metadata_disagreement(&wheel, &dynamic), None);
    }

    fn wheel(files: &[(&str, &str)], year: u16) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .last_modified_time(zip::DateTime::from_date_and_time(year, 1, 1, 0, 0, 0).unwrap());
        for (name, text) in files {
            writer.start_file(*name, options).unwrap();
            std::io::Write::write_all(&mut writer, text.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn wheel_differences_name_the_members() {
        let one = wheel(
            &[
                ("d/__init__.py", "1"),
                ("d-1.dist-info/METADATA", "Name: d\nVersion: 1\n"),
            ],
            2020,
        );
        let two = wheel(
            &[
                ("d/__init__.py", "2"),
                ("d-1.dist-info/METADATA", "Name: d\nVersion: 1\n"),
            ],
            2020,
        );
        let later = wheel(
            &[
                ("d/__init__.py", "1"),
                ("d-1.dist-info/METADATA", "Name: d\nVersion: 1\n"),
            ],
            2021,
        );
        assert_eq!(wheel_metadata(&one).unwrap().get("Version"), Some("1"));
        assert_eq!(
            describe_difference(&one, &two, DistKind::BdistWheel),
            "differing files: d/__init__.py"
        );
        assert_eq!(
            describe_difference(&one, &later, DistKind::BdistWheel),
            "the files are equal; their timestamps or modes differ: d-1.dist-info/METADATA, d/__init__.py"
        );
        assert_eq!(
            describe_difference(&one, b"nope", DistKind::BdistWheel),
            "one of the archives cannot be read"
        );
        assert!(wheel_metadata(b"nope").is_err());
    }
}
