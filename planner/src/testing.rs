//! Builders for planner-core inputs in unit tests: members whose manifest text matches their
//! declared dependencies, without cargo or a filesystem.

use convoy_schema::plan::{DependencyKind, GitInputs, Selection};
use convoy_schema::snapshot::RegistryTarget;

use crate::model::{
    DeclaredDependency, DependencySource, GitState, Member, RegistryObservations, WorkspaceInput,
};
use crate::{CRATES_IO, CRATES_IO_INDEX};

/// A dependency of a test member on another member by path: (target, kind, version written).
pub type PathDep<'a> = (&'a str, DependencyKind, Option<&'a str>);

/// A member named `name` at `name/Cargo.toml` with path dependencies `deps`.
pub fn member(name: &str, version: &str, deps: &[PathDep<'_>], extra: &str) -> Member {
    let mut text = format!(
        "[package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2021\"\n\
         description = \"{name}\"\nlicense = \"MIT\"\n{extra}"
    );
    let mut dependencies = Vec::new();
    for kind in [
        DependencyKind::Normal,
        DependencyKind::Build,
        DependencyKind::Dev,
    ] {
        let of_kind: Vec<_> = deps.iter().filter(|(_, k, _)| *k == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        text.push_str(&format!("\n[{}]\n", kind.table()));
        for (target, _, req) in of_kind {
            match req {
                Some(req) => text.push_str(&format!(
                    "{target} = {{ path = \"../{target}\", version = \"{req}\" }}\n"
                )),
                None => text.push_str(&format!("{target} = {{ path = \"../{target}\" }}\n")),
            }
            dependencies.push(DeclaredDependency {
                name: (*target).to_owned(),
                rename: None,
                kind,
                target: None,
                req: req
                    .map(|r| {
                        semver::VersionReq::parse(r)
                            .map(|r| r.to_string())
                            .unwrap_or_else(|_| r.to_owned())
                    })
                    .unwrap_or_else(|| "*".to_owned()),
                source: DependencySource::Path {
                    member: Some((*target).to_owned()),
                    path: (*target).to_owned(),
                },
            });
        }
    }
    Member {
        name: name.to_owned(),
        version: version.parse().expect("test version"),
        manifest_path: format!("{name}/Cargo.toml"),
        manifest_text: text,
        publish: extra.contains("publish = false").then(Vec::new),
        description: Some(name.to_owned()),
        license: Some("MIT".to_owned()),
        license_file: None,
        readme: None,
        keywords: Vec::new(),
        dependencies,
    }
}

/// A workspace of `members` in a clean git checkout, targeting crates.io, nothing observed.
pub fn workspace(members: Vec<Member>) -> WorkspaceInput {
    let list: Vec<String> = members.iter().map(|m| format!("\"{}\"", m.name)).collect();
    WorkspaceInput {
        root_manifest: format!(
            "[workspace]\nresolver = \"2\"\nmembers = [{}]\n",
            list.join(", ")
        ),
        members,
        cargo_version: "cargo 1.95.0 (f2d3ce0bd 2026-03-21)".to_owned(),
        git: GitState::Checkout(GitInputs {
            commit: "c".repeat(40),
            tree: "7".repeat(40),
            dirty: false,
            workspace_path: String::new(),
        }),
        lockfile: None,
        registry: RegistryTarget {
            name: Some(CRATES_IO.to_owned()),
            index: CRATES_IO_INDEX.to_owned(),
        },
        selection: Selection::default(),
        observations: RegistryObservations::absent(),
        release: Default::default(),
        python: None,
    }
}
