//! One view of a dependency for comparing what an index line says with what publish metadata
//! says. The index names a dependency by its manifest key (`name`, the rename) with the real name
//! in `package`; publish metadata names the real crate with the rename in
//! `explicit_name_in_toml`. Requirements are compared in semver's display form (`1.0` is `^1.0`).

use convoy_schema::plan::{DependencyKind, PublishDependency};

use crate::index::IndexDependency;

/// A dependency in a form both views reduce to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct NormalizedDependency {
    /// Dependency kind.
    pub kind: DependencyKind,
    /// Platform restriction.
    pub target: Option<String>,
    /// Real crate name.
    pub package: String,
    /// The manifest key when it differs from the real name.
    pub rename: Option<String>,
    /// Requirement in semver display form.
    pub req: String,
    /// Features enabled, sorted.
    pub features: Vec<String>,
    /// Whether optional.
    pub optional: bool,
    /// Whether default features are on.
    pub default_features: bool,
    /// Other registry's index URL; `None` for the same registry.
    pub registry: Option<String>,
}

fn display_req(req: &str) -> String {
    semver::VersionReq::parse(req).map_or_else(|_| req.to_owned(), |r| r.to_string())
}

fn sorted(features: &[String]) -> Vec<String> {
    let mut features = features.to_vec();
    features.sort();
    features.dedup();
    features
}

impl NormalizedDependency {
    /// From an index line's dependency.
    pub fn from_index(dep: &IndexDependency) -> Self {
        let (package, rename) = match &dep.package {
            Some(package) if *package != dep.name => (package.clone(), Some(dep.name.clone())),
            _ => (dep.name.clone(), None),
        };
        Self {
            kind: match dep.kind.as_deref() {
                Some("dev") => DependencyKind::Dev,
                Some("build") => DependencyKind::Build,
                _ => DependencyKind::Normal,
            },
            target: dep.target.clone(),
            package,
            rename,
            req: display_req(&dep.req),
            features: sorted(&dep.features),
            optional: dep.optional,
            default_features: dep.default_features,
            registry: dep.registry.clone(),
        }
    }

    /// From publish metadata's dependency.
    pub fn from_publish(dep: &PublishDependency) -> Self {
        Self {
            kind: dep.kind,
            target: dep.target.clone(),
            package: dep.name.clone(),
            rename: dep.explicit_name_in_toml.clone().filter(|r| *r != dep.name),
            req: display_req(&dep.version_req),
            features: sorted(&dep.features),
            optional: dep.optional,
            default_features: dep.default_features,
            registry: dep.registry.clone(),
        }
    }
}

/// Both lists normalized and sorted, ready to compare.
pub fn normalized_index_deps(deps: &[IndexDependency]) -> Vec<NormalizedDependency> {
    let mut out: Vec<_> = deps.iter().map(NormalizedDependency::from_index).collect();
    out.sort();
    out
}

/// Publish metadata dependencies normalized and sorted.
pub fn normalized_publish_deps(deps: &[PublishDependency]) -> Vec<NormalizedDependency> {
    let mut out: Vec<_> = deps
        .iter()
        .map(NormalizedDependency::from_publish)
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_and_publish_views_meet() {
        let index = IndexDependency {
            name: "core-a".into(),
            req: "0.1".into(),
            features: vec!["std".into(), "alloc".into()],
            optional: true,
            default_features: false,
            target: Some("cfg(unix)".into()),
            kind: Some("build".into()),
            registry: None,
            package: Some("pk-a".into()),
        };
        let publish = PublishDependency {
            optional: true,
            default_features: false,
            name: "pk-a".into(),
            features: vec!["alloc".into(), "std".into()],
            version_req: "^0.1".into(),
            target: Some("cfg(unix)".into()),
            kind: DependencyKind::Build,
            registry: None,
            explicit_name_in_toml: Some("core-a".into()),
        };
        assert_eq!(
            NormalizedDependency::from_index(&index),
            NormalizedDependency::from_publish(&publish)
        );
        let mut other = publish.clone();
        other.version_req = "^0.2".into();
        assert_ne!(
            NormalizedDependency::from_index(&index),
            NormalizedDependency::from_publish(&other)
        );
    }
}
