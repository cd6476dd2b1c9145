//! Shared helpers for Convoy's cross-binary tests and benchmarks: small Cargo workspaces
//! generated in temporary directories, deterministic git commits, and the built binaries.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use convoy_planner::discover::{discover, DiscoverRequest};
use convoy_planner::error::PlanError;
use convoy_planner::planning;
use convoy_registry::resolve::RegistryChoice;
use convoy_schema::plan::{Plan, Selection};

pub mod python;

/// A manifest for a test package with the metadata registries require, plus `extra` TOML.
pub fn manifest(name: &str, version: &str, extra: &str) -> String {
    format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
         description = \"The {name} test crate.\"\nlicense = \"MIT\"\n{extra}"
    )
}

/// A Cargo workspace in a temporary directory, removed on drop.
pub struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    /// A virtual workspace whose members are directories named like the packages, with
    /// `root_extra` appended to the root manifest.
    pub fn new(members: &[(&str, String)], root_extra: &str) -> Self {
        let fixture = Self::empty();
        let list: Vec<String> = members
            .iter()
            .map(|(dir, _)| format!("\"{dir}\""))
            .collect();
        fixture.write(
            "Cargo.toml",
            &format!(
                "[workspace]\nresolver = \"2\"\nmembers = [{}]\n{root_extra}",
                list.join(", ")
            ),
        );
        for (dir, text) in members {
            fixture.write(&format!("{dir}/Cargo.toml"), text);
            fixture.write(&format!("{dir}/src/lib.rs"), "");
        }
        fixture
    }

    /// An empty temporary directory.
    pub fn empty() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("convoy-fixture-")
                .tempdir()
                .expect("temporary directory"),
        }
    }

    /// The workspace root.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `path` under the root, creating directories.
    pub fn write(&self, path: &str, text: &str) {
        let path = self.root().join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).expect("create fixture directory");
        }
        std::fs::write(path, text).expect("write fixture file");
    }

    /// `git init` and one commit of everything, with fixed identity and dates so the commit id
    /// depends on the content only.
    pub fn commit(&self) {
        git(self.root(), &["init", "--quiet", "--initial-branch=main"]);
        git(self.root(), &["add", "--all"]);
        git(self.root(), &["commit", "--quiet", "--message", "fixture"]);
    }

    /// A clean `git clone` of the committed workspace in a fresh directory (kept alive by the
    /// returned fixture), as a release job would check it out.
    pub fn clone_commit(&self) -> (Fixture, PathBuf) {
        let holder = Fixture::empty();
        let clone = holder.root().join("clone");
        git(
            holder.root(),
            &[
                "clone",
                "--quiet",
                &self.root().to_string_lossy(),
                &clone.to_string_lossy(),
            ],
        );
        (holder, clone)
    }

    /// Plans the workspace through the library (discovery and core), for the default registry.
    pub fn plan(&self) -> Plan {
        self.plan_with(|_| {}).expect("planning succeeds")
    }

    /// Plans the workspace after `adjust` changes the request.
    pub fn plan_with(&self, adjust: impl FnOnce(&mut DiscoverRequest)) -> Result<Plan, PlanError> {
        let mut request = DiscoverRequest {
            manifest_path: self.root().join("Cargo.toml"),
            root: None,
            registry: RegistryChoice::Default,
            registry_state: None,
            selection: Selection::default(),
            own_outputs: Vec::new(),
            allow_http: false,
            release: Default::default(),
            python_index: None,
        };
        adjust(&mut request);
        let discovered = discover(&request)?;
        Ok(planning::plan(&discovered.input)?)
    }
}

/// Runs git with a fixed identity and clock; panics when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "core.autocrlf=false", "-c", "commit.gpgsign=false"])
        .args(args)
        .env("GIT_AUTHOR_NAME", "Convoy Test")
        .env("GIT_AUTHOR_EMAIL", "test@convoy.invalid")
        .env("GIT_COMMITTER_NAME", "Convoy Test")
        .env("GIT_COMMITTER_EMAIL", "test@convoy.invalid")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .expect("git runs");
    assert!(
        output.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Every file and directory under `dir` (`.git` and `target` included) with the SHA-256 of each
/// file's contents, for asserting that a command changed nothing.
pub fn tree_listing(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut listing = BTreeMap::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current).expect("read_dir") {
            let path = entry.expect("directory entry").path();
            let key = path.strip_prefix(dir).expect("below dir").to_path_buf();
            if path.is_dir() {
                listing.insert(key, "dir".to_owned());
                pending.push(path);
            } else {
                let bytes = std::fs::read(&path).expect("read file");
                listing.insert(key, convoy_schema::digest::sha256_hex(&bytes));
            }
        }
    }
    listing
}

/// The codes of a plan's diagnostics, sorted, with duplicates.
pub fn codes(plan: &Plan) -> Vec<String> {
    let mut codes: Vec<String> = plan.diagnostics.iter().map(|d| d.code.clone()).collect();
    codes.sort();
    codes
}

/// Path of a Convoy binary of this workspace, built (once per process) with the profile the
/// tests were built with, so the tests never run a stale binary.
pub fn binary(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("test executable path");
        // target/<profile>/deps/<test> (or target/<profile>/<bin>).
        let mut dir = exe.parent().expect("executable directory").to_path_buf();
        if dir.file_name().is_some_and(|n| n == "deps") {
            dir.pop();
        }
        let release = dir.file_name().is_some_and(|n| n == "release");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("workspace root");
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .current_dir(workspace)
            .args(["build", "--quiet", "--workspace", "--bins"]);
        if release {
            build.arg("--release");
        }
        let status = build.status().expect("cargo build runs");
        assert!(status.success(), "building the Convoy binaries failed");
        dir
    });
    dir.join(name)
}

/// Points `command`'s cargo at its own `CARGO_HOME` (registry caches keyed by a test registry's
/// port would pile up in the user's) while keeping the real toolchain (cargo is a rustup proxy).
pub fn isolated_cargo<'c>(command: &'c mut Command, cargo_home: &Path) -> &'c mut Command {
    let real_home = PathBuf::from(std::env::var_os("HOME").expect("HOME"));
    let rustup =
        std::env::var_os("RUSTUP_HOME").map_or_else(|| real_home.join(".rustup"), Into::into);
    command
        .env("CARGO_HOME", cargo_home)
        .env("RUSTUP_HOME", rustup)
        .env("CARGO_TERM_COLOR", "never")
}

/// Output of a finished process, with helpers for assertions.
pub struct Run {
    /// The raw output.
    pub output: Output,
}

impl Run {
    /// Exit code (-1 when killed by a signal).
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    /// Standard output as text.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    /// Standard error as text.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }
}

/// Runs `command` to completion.
pub fn run(command: &mut Command) -> Run {
    Run {
        output: command.output().expect("process runs"),
    }
}

/// Hostile HTTP servers on loopback, for tests of what Convoy does with a registry's answers.
pub mod hostile {
    /// A one-purpose HTTP server on loopback: answers each request with `reply(method, path)` and
    /// records the `Authorization` header of every request it sees. Stops after `max` requests.
    pub fn redirecting_server(
        max: usize,
        reply: impl Fn(&str, &str) -> String + Send + 'static,
    ) -> (u16, std::sync::mpsc::Receiver<(String, Option<String>)>) {
        raw_server(max, move |method, path, out| {
            use std::io::Write;
            let _ = out.write_all(reply(method, path).as_bytes());
        })
    }

    /// A hostile HTTP server on loopback: `answer(method, path, stream)` writes whatever it likes.
    /// Records each request line and its `Authorization` header; stops after `max` requests.
    pub fn raw_server(
        max: usize,
        answer: impl Fn(&str, &str, &mut std::net::TcpStream) + Send + 'static,
    ) -> (u16, std::sync::mpsc::Receiver<(String, Option<String>)>) {
        use std::io::{BufRead, BufReader, Read};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (seen, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(max) {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request_line = String::new();
                let _ = reader.read_line(&mut request_line);
                let (mut authorization, mut length) = (None, 0usize);
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    let lower = line.to_ascii_lowercase();
                    if lower.starts_with("authorization:") {
                        authorization = Some(line[14..].trim().to_owned());
                    }
                    if let Some(value) = lower.strip_prefix("content-length:") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
                let mut body = vec![0; length.min(1 << 20)];
                let _ = reader.read_exact(&mut body);
                let mut parts = request_line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_owned(),
                    parts.next().unwrap_or("").to_owned(),
                );
                let _ = seen.send((format!("{method} {path}"), authorization));
                answer(&method, &path, &mut stream);
            }
        });
        (port, receiver)
    }

    /// Writes a chunked body of `total` bytes of `x` until the reader hangs up.
    pub fn endless_chunks(out: &mut std::net::TcpStream, head: &str, total: usize) {
        use std::io::Write;
        let chunk = vec![b'x'; 64 << 10];
        let _ = out.write_all(
            format!("HTTP/1.1 {head}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        );
        let mut sent = 0;
        while sent < total {
            if out
                .write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .and_then(|()| out.write_all(&chunk))
                .and_then(|()| out.write_all(b"\r\n"))
                .is_err()
            {
                return;
            }
            sent += chunk.len();
        }
        let _ = out.write_all(b"0\r\n\r\n");
    }

    /// A complete HTTP/1.1 response with `Connection: close`.
    pub fn http(status: &str, headers: &str, body: &str) -> String {
        format!(
            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    }
}
