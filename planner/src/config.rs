//! `convoy.toml`, Convoy's one configuration file at the repository root: parsed into one type,
//! then validated into [`Config`], which the planner core accepts. A problem in the file is a
//! plan diagnostic with a code (the defaults stand in for what could not be read), never a
//! panic and never a silent default.
//!
//! ```toml
//! versioning = "independent"      # or "shared": one version and one tag for every package
//! tag = "{name}-v{version}"       # the default tag template ("v{version}" when shared)
//!
//! [groups.core]                   # packages that always share one version
//! members = ["convoy-demo-core", "convoy-demo-macros"]
//! tag = "core-v{version}"         # optional; default: each member's own template
//!
//! [packages.convoy-demo-cli]      # per-package overrides
//! tag = "cli/{version}"
//! changelog = false               # do not add sections to its CHANGELOG.md
//!
//! [python]                        # the Python projects released with the crates
//! members = ["py/*"]              # globs of project directories (default: the uv workspace's)
//! exclude = ["py/experiments"]    # globs left out
//! pin = "exact"                   # internal requirements as `name==V` ("compatible": `name~=V`)
//! ```

use std::collections::BTreeMap;

use convoy_schema::plan::Diagnostic;
use toml_edit::{DocumentMut, Item};

use crate::diagnostics::{diagnostic, Code};

/// The file name, at the repository root.
pub const CONFIG_FILE: &str = "convoy.toml";

/// How versions relate across packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Versioning {
    /// Each package has its own version and tag (groups excepted).
    #[default]
    Independent,
    /// Every package shares one version and one tag.
    Shared,
}

/// A named group of packages that always share one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Member package names, sorted.
    pub members: Vec<String>,
    /// The group's tag template, if it has one.
    pub tag: Option<String>,
}

/// Per-package settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PackageSettings {
    /// Tag template for this package.
    pub tag: Option<String>,
    /// Whether a release adds a section to the package's `CHANGELOG.md` (default: when it has one).
    pub changelog: bool,
}

/// How a requirement on another project of the repository is pinned in what is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pin {
    /// `name==V`: exactly the version released with it.
    #[default]
    Exact,
    /// `name~=V`: PEP 440's compatible release of it.
    Compatible,
}

impl Pin {
    /// The specifier that pins `version`.
    pub fn specifier(self, version: &str) -> String {
        match self {
            Self::Exact => format!("=={version}"),
            Self::Compatible => format!("~={version}"),
        }
    }
}

/// `[python]`: which Python projects the release holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PythonSettings {
    /// Globs of project directories, relative to the repository root; `None`: the uv
    /// workspace's members.
    pub members: Option<Vec<String>>,
    /// Globs of directories left out.
    pub exclude: Vec<String>,
    /// How internal requirements are pinned.
    pub pin: Pin,
}

/// Validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Independent or shared versions.
    pub versioning: Versioning,
    /// Tag template set at the top level, if any.
    pub tag: Option<String>,
    /// Named groups, sorted by name.
    pub groups: Vec<Group>,
    /// Per-package settings, by package name.
    pub packages: BTreeMap<String, PackageSettings>,
    /// Whether `versioning` was written (when it was not, inheriting `workspace.package.version`
    /// implies sharing for those members).
    pub versioning_explicit: bool,
    /// `[python]`.
    pub python: PythonSettings,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            versioning: Versioning::Independent,
            tag: None,
            groups: Vec::new(),
            packages: BTreeMap::new(),
            versioning_explicit: false,
            python: PythonSettings::default(),
        }
    }
}

/// The default tag template of an independently versioned package.
pub const DEFAULT_TAG: &str = "{name}-v{version}";
/// The default tag template in shared mode.
pub const DEFAULT_SHARED_TAG: &str = "v{version}";

impl Config {
    /// The settings of `package` (defaults when the file says nothing about it).
    pub fn package(&self, package: &str) -> PackageSettings {
        self.packages
            .get(package)
            .cloned()
            .unwrap_or(PackageSettings {
                tag: None,
                changelog: true,
            })
    }

    /// The group `package` belongs to by configuration, if any.
    pub fn group_of(&self, package: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.members.iter().any(|m| m == package))
    }

    /// The tag template for `package`: its own, its group's, the top level's, or the default.
    pub fn tag_template(&self, package: &str) -> String {
        if let Some(tag) = self.packages.get(package).and_then(|p| p.tag.clone()) {
            return tag;
        }
        if let Some(tag) = self.group_of(package).and_then(|g| g.tag.clone()) {
            return tag;
        }
        if let Some(tag) = &self.tag {
            return tag.clone();
        }
        match self.versioning {
            Versioning::Independent => DEFAULT_TAG.to_owned(),
            Versioning::Shared => DEFAULT_SHARED_TAG.to_owned(),
        }
    }
}

/// Renders a tag template.
pub fn render_tag(template: &str, name: &str, version: &semver::Version) -> String {
    render_tag_text(template, name, &version.to_string())
}

/// Renders a tag template with a version as its ecosystem writes it (PEP 440 for Python).
pub fn render_tag_text(template: &str, name: &str, version: &str) -> String {
    template
        .replace("{name}", name)
        .replace("{version}", version)
}

/// The version a tag names, if `tag` is `template` rendered for `name`.
pub fn match_tag(template: &str, name: &str, tag: &str) -> Option<semver::Version> {
    semver::Version::parse(match_tag_text(template, name, tag)?).ok()
}

/// The version text of a tag, if `tag` is `template` rendered for `name`.
pub fn match_tag_text<'t>(template: &str, name: &str, tag: &'t str) -> Option<&'t str> {
    let named = template.replace("{name}", name);
    let (before, after) = named.split_once("{version}")?;
    tag.strip_prefix(before)?.strip_suffix(after)
}

/// Why a template cannot make tag names: it lacks `{version}`, has another placeholder, or
/// renders to something git refuses as a tag name.
fn template_problem(template: &str) -> Option<String> {
    if !template.contains("{version}") {
        return Some("it has no `{version}` placeholder".to_owned());
    }
    let rest = template.replace("{version}", "").replace("{name}", "");
    if rest.contains('{') || rest.contains('}') {
        return Some("the only placeholders are `{name}` and `{version}`".to_owned());
    }
    let sample = render_tag(template, "name", &semver::Version::new(1, 0, 0));
    if !is_valid_tag_name(&sample) {
        return Some(format!("`{sample}` is not a valid git tag name"));
    }
    None
}

/// Git's rules for a ref name component sequence (`git check-ref-format`), for tags.
pub fn is_valid_tag_name(tag: &str) -> bool {
    !tag.is_empty()
        && !tag.starts_with(['-', '/', '.'])
        && !tag.ends_with(['/', '.'])
        && !tag.ends_with(".lock")
        && !tag.contains("..")
        && !tag.contains("//")
        && !tag.contains("@{")
        && tag != "@"
        && !tag.split('/').any(|part| part.starts_with('.'))
        && !tag
            .chars()
            .any(|c| c.is_ascii_control() || " ~^:?*[\\\x7f".contains(c))
}

/// Reads `convoy.toml`'s text (`None`: no file, the defaults). Problems are returned as
/// diagnostics; the configuration returned keeps every part that was valid.
pub fn parse(text: Option<&str>) -> (Config, Vec<Diagnostic>) {
    let mut config = Config::default();
    let mut problems = Vec::new();
    let Some(text) = text else {
        return (config, problems);
    };
    let invalid = |problems: &mut Vec<Diagnostic>, message: String, help: &str| {
        problems.push(diagnostic(
            Code::ConfigInvalid,
            None,
            format!("{CONFIG_FILE}: {message}"),
            help.to_owned(),
        ));
    };
    let doc = match text.parse::<DocumentMut>() {
        Ok(doc) => doc,
        Err(error) => {
            invalid(
                &mut problems,
                format!("not valid TOML: {}", error.to_string().trim_end()),
                "fix the syntax; the defaults are used until then",
            );
            return (config, problems);
        }
    };
    for (key, item) in doc.iter() {
        match key {
            "versioning" => match item.as_str() {
                Some("independent") => {
                    config.versioning = Versioning::Independent;
                    config.versioning_explicit = true;
                }
                Some("shared") => {
                    config.versioning = Versioning::Shared;
                    config.versioning_explicit = true;
                }
                _ => invalid(
                    &mut problems,
                    format!(
                        "`versioning = {}` is not a versioning mode",
                        item_text(item)
                    ),
                    "write `versioning = \"independent\"` or `versioning = \"shared\"`",
                ),
            },
            "tag" => config.tag = template(item, "tag", &mut problems),
            "groups" => parse_groups(item, &mut config, &mut problems),
            "packages" => parse_packages(item, &mut config, &mut problems),
            "python" => parse_python(item, &mut config.python, &mut problems),
            other => unknown_key(other, &mut problems),
        }
    }
    (config, problems)
}

fn parse_groups(item: &Item, config: &mut Config, problems: &mut Vec<Diagnostic>) {
    let Some(groups) = item.as_table_like() else {
        return wrong_type("groups", "a table of groups", problems);
    };
    for (name, group) in groups.iter() {
        let Some(fields) = group.as_table_like() else {
            wrong_type(&format!("groups.{name}"), "a table", problems);
            continue;
        };
        let mut parsed = Group {
            name: name.to_owned(),
            members: Vec::new(),
            tag: None,
        };
        for (key, value) in fields.iter() {
            match key {
                "members" => match string_list(value) {
                    Some(members) => parsed.members = members,
                    None => wrong_type(
                        &format!("groups.{name}.members"),
                        "an array of package names",
                        problems,
                    ),
                },
                "tag" => parsed.tag = template(value, &format!("groups.{name}.tag"), problems),
                other => unknown_key(&format!("groups.{name}.{other}"), problems),
            }
        }
        parsed.members.sort();
        parsed.members.dedup();
        for member in &parsed.members {
            if let Some(other) = config.group_of(member) {
                problems.push(diagnostic(
                    Code::ConfigInvalid,
                    Some(member),
                    format!(
                        "{CONFIG_FILE}: `{member}` is in groups `{}` and `{name}`",
                        other.name
                    ),
                    "a package belongs to at most one group: remove it from one of them",
                ));
            }
        }
        parsed.members.retain(|m| config.group_of(m).is_none());
        config.groups.push(parsed);
    }
    config.groups.sort_by(|a, b| a.name.cmp(&b.name));
}

fn parse_packages(item: &Item, config: &mut Config, problems: &mut Vec<Diagnostic>) {
    let Some(packages) = item.as_table_like() else {
        return wrong_type("packages", "a table of packages", problems);
    };
    for (name, settings) in packages.iter() {
        let Some(fields) = settings.as_table_like() else {
            wrong_type(&format!("packages.{name}"), "a table", problems);
            continue;
        };
        let mut parsed = PackageSettings {
            tag: None,
            changelog: true,
        };
        for (key, value) in fields.iter() {
            match key {
                "tag" => parsed.tag = template(value, &format!("packages.{name}.tag"), problems),
                "changelog" => match value.as_bool() {
                    Some(on) => parsed.changelog = on,
                    None => wrong_type(
                        &format!("packages.{name}.changelog"),
                        "true or false",
                        problems,
                    ),
                },
                other => unknown_key(&format!("packages.{name}.{other}"), problems),
            }
        }
        config.packages.insert(name.to_owned(), parsed);
    }
}

fn parse_python(item: &Item, settings: &mut PythonSettings, problems: &mut Vec<Diagnostic>) {
    let Some(fields) = item.as_table_like() else {
        return wrong_type("python", "a table", problems);
    };
    for (key, value) in fields.iter() {
        match key {
            "members" | "exclude" => match string_list(value) {
                Some(globs) if key == "members" => settings.members = Some(globs),
                Some(globs) => settings.exclude = globs,
                None => wrong_type(
                    &format!("python.{key}"),
                    "an array of directory globs such as \"py/*\"",
                    problems,
                ),
            },
            "pin" => match value.as_str() {
                Some("exact") => settings.pin = Pin::Exact,
                Some("compatible") => settings.pin = Pin::Compatible,
                _ => wrong_type("python.pin", "\"exact\" or \"compatible\"", problems),
            },
            other => unknown_key(&format!("python.{other}"), problems),
        }
    }
}

fn template(item: &Item, key: &str, problems: &mut Vec<Diagnostic>) -> Option<String> {
    let Some(text) = item.as_str() else {
        wrong_type(key, "a string such as \"{name}-v{version}\"", problems);
        return None;
    };
    if let Some(problem) = template_problem(text) {
        problems.push(diagnostic(
            Code::ConfigInvalid,
            None,
            format!("{CONFIG_FILE}: `{key} = \"{text}\"`: {problem}"),
            "use `{name}` and `{version}` in a valid git tag name, e.g. \"{name}-v{version}\"",
        ));
        return None;
    }
    Some(text.to_owned())
}

fn string_list(item: &Item) -> Option<Vec<String>> {
    item.as_array()?
        .iter()
        .map(|v| v.as_str().map(str::to_owned))
        .collect()
}

fn item_text(item: &Item) -> String {
    item.to_string().trim().to_owned()
}

fn wrong_type(key: &str, expected: &str, problems: &mut Vec<Diagnostic>) {
    problems.push(diagnostic(
        Code::ConfigInvalid,
        None,
        format!("{CONFIG_FILE}: `{key}` must be {expected}"),
        format!("correct `{key}` in {CONFIG_FILE}"),
    ));
}

fn unknown_key(key: &str, problems: &mut Vec<Diagnostic>) {
    problems.push(diagnostic(
        Code::ConfigUnknownKey,
        None,
        format!("{CONFIG_FILE}: unknown key `{key}`; it is ignored"),
        "known keys: versioning, tag, groups.<name>.{members, tag}, packages.<name>.{tag, changelog}",
    ));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_file_means_the_defaults() {
        let (config, problems) = parse(None);
        assert_eq!(config, Config::default());
        assert!(problems.is_empty());
        assert_eq!(config.tag_template("a"), "{name}-v{version}");
    }

    #[test]
    fn reads_modes_groups_and_overrides() {
        let (config, problems) = parse(Some(
            r#"
versioning = "shared"
[groups.core]
members = ["b", "a"]
tag = "core-v{version}"
[packages.c]
tag = "c/{version}"
changelog = false
"#,
        ));
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(config.versioning, Versioning::Shared);
        assert_eq!(config.groups[0].members, ["a", "b"]);
        assert_eq!(config.tag_template("a"), "core-v{version}");
        assert_eq!(config.tag_template("c"), "c/{version}");
        assert_eq!(config.tag_template("d"), "v{version}");
        assert!(!config.package("c").changelog);
        assert!(config.package("d").changelog);
    }

    #[test]
    fn problems_are_coded_diagnostics_never_panics() {
        let cases = [
            ("versioning = 3", "config-invalid"),
            ("versioning = \"solo\"", "config-invalid"),
            ("tag = \"release\"", "config-invalid"),
            ("tag = \"{name} v{version}\"", "config-invalid"),
            ("tag = \"{nom}-{version}\"", "config-invalid"),
            ("groups = 1", "config-invalid"),
            ("[groups.x]\nmembers = \"a\"", "config-invalid"),
            (
                "[groups.x]\nmembers = [\"a\"]\n[groups.y]\nmembers = [\"a\"]",
                "config-invalid",
            ),
            ("[packages.a]\nchangelog = \"yes\"", "config-invalid"),
            ("colour = \"blue\"", "config-unknown-key"),
            ("[packages.a]\nbump = \"minor\"", "config-unknown-key"),
            ("versioning = ", "config-invalid"),
        ];
        for (text, code) in cases {
            let (_, problems) = parse(Some(text));
            assert_eq!(problems.len(), 1, "{text}: {problems:?}");
            assert_eq!(problems[0].code, code, "{text}");
            assert!(problems[0].message.starts_with("convoy.toml: "), "{text}");
        }
    }

    #[test]
    fn tags_match_their_templates() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert_eq!(
            match_tag("{name}-v{version}", "a-b", "a-b-v1.2.3"),
            Some(v("1.2.3"))
        );
        assert_eq!(match_tag("{name}-v{version}", "a", "a-b-v1.2.3"), None);
        assert_eq!(
            match_tag("v{version}", "x", "v2.0.0-alpha.5"),
            Some(v("2.0.0-alpha.5"))
        );
        assert_eq!(match_tag("v{version}", "x", "v2"), None);
        assert_eq!(render_tag("{name}@{version}", "a", &v("1.0.0")), "a@1.0.0");
        assert!(is_valid_tag_name("a-v1.0.0+build.1"));
        assert!(!is_valid_tag_name("a v1"));
        assert!(!is_valid_tag_name("a..b"));
    }
}
