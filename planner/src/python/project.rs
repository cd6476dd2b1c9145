//! Pure: a Python project's `pyproject.toml` read into what planning needs — its name
//! (normalized), its PEP 440 version (static, or `dynamic` from a version attribute), its
//! requirements (PEP 508, with their extras and markers), and the metadata an index shows —
//! with a diagnostic for each problem.

use std::str::FromStr;

use convoy_schema::plan::{package_key, Diagnostic, Ecosystem};
use pep440_rs::Version;
use pep508_rs::{PackageName, Requirement, VersionOrUrl};
use toml_edit::{DocumentMut, Item};

use crate::diagnostics::{diagnostic, Code};

/// A project as discovery found it: where it is and the texts planning reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonProject {
    /// The project's directory relative to the repository root, `/`-separated; `""` at the top.
    pub dir: String,
    /// The text of its `pyproject.toml`.
    pub pyproject: String,
    /// The file a dynamic version is read from, if the project has one and it exists:
    /// (path relative to the repository root, text).
    pub version_file: Option<(String, String)>,
}

impl PythonProject {
    /// `pyproject.toml`'s path relative to the repository root.
    pub fn manifest_path(&self) -> String {
        in_dir(&self.dir, "pyproject.toml")
    }
}

/// `file` inside `dir` (`""` is the top).
pub fn in_dir(dir: &str, file: &str) -> String {
    if dir.is_empty() {
        file.to_owned()
    } else {
        format!("{dir}/{file}")
    }
}

/// One requirement of a project, where it is written.
#[derive(Debug, Clone)]
pub struct Declared {
    /// `dependencies` or `optional-dependencies.<extra>`.
    pub field: String,
    /// The extra, for an optional dependency.
    pub extra: Option<String>,
    /// Its position in that array.
    pub index: usize,
    /// The requirement as written.
    pub text: String,
    /// It parsed as PEP 508.
    pub requirement: Requirement,
}

impl Declared {
    /// The version specifiers, if the requirement has some (and no URL).
    pub fn specifiers(&self) -> Option<&pep440_rs::VersionSpecifiers> {
        match &self.requirement.version_or_url {
            Some(VersionOrUrl::VersionSpecifier(specifiers)) if !specifiers.is_empty() => {
                Some(specifiers)
            }
            _ => None,
        }
    }

    /// Whether it names a direct URL (`name @ https://…`), which an index refuses.
    pub fn is_url(&self) -> bool {
        matches!(self.requirement.version_or_url, Some(VersionOrUrl::Url(_)))
    }

    /// The requirement with `specifier` written after its name and extras, markers kept:
    /// `elizaos; python_version >= "3.9"` → `elizaos==2.0.0a5; python_version >= "3.9"`.
    pub fn pinned(&self, specifier: &str) -> String {
        match self.text.split_once(';') {
            Some((head, marker)) => format!("{}{specifier}; {}", head.trim_end(), marker.trim()),
            None => format!("{}{specifier}", self.text.trim_end()),
        }
    }

    /// The requirement with its version specifiers replaced by `specifier`, name, extras and
    /// markers as written: `elizaos[web]>=1,<2; os_name == "nt"` → `elizaos[web]==2.0.0; os_name == "nt"`.
    pub fn respecified(&self, specifier: &str) -> String {
        let (head, marker) = match self.text.split_once(';') {
            Some((head, marker)) => (head, Some(marker.trim())),
            None => (self.text.as_str(), None),
        };
        let head = head.trim();
        let name_end = head
            .find(|c: char| !(c.is_ascii_alphanumeric() || "._-".contains(c)))
            .unwrap_or(head.len());
        let mut out = head[..name_end].to_owned();
        let rest = head[name_end..].trim_start();
        if rest.starts_with('[') {
            if let Some(end) = rest.find(']') {
                out.push_str(&rest[..=end]);
            }
        }
        out.push_str(specifier);
        if let Some(marker) = marker {
            out.push_str("; ");
            out.push_str(marker);
        }
        out
    }

    /// The marker, if the requirement has one.
    pub fn marker(&self) -> Option<String> {
        self.requirement.marker.try_to_string()
    }
}

/// A project read from its `pyproject.toml`.
#[derive(Debug, Clone)]
pub struct Project {
    /// Where it is.
    pub dir: String,
    /// `pyproject.toml`, relative to the repository root.
    pub manifest_path: String,
    /// `[project] name` as written.
    pub name: String,
    /// The name normalized (PEP 503).
    pub normalized: String,
    /// The version; none when it cannot be read (a diagnostic says why).
    pub version: Option<Version>,
    /// The requirements, `dependencies` first, then each extra's in key order.
    pub requirements: Vec<Declared>,
    /// `[project] classifiers`.
    pub classifiers: Vec<String>,
    /// The document, for edits.
    pub document: DocumentMut,
}

/// The PEP 503 form of a project name: lower case, runs of `-`, `_` and `.` as one `-`.
pub fn normalize(name: &str) -> String {
    match PackageName::from_str(name) {
        Ok(name) => name.to_string(),
        Err(_) => name.to_ascii_lowercase(),
    }
}

/// Reads `project`; the diagnostics say what is wrong with it. `None` when it has no usable
/// `[project]` table or name (an error diagnostic says so).
pub fn read(project: &PythonProject, found: &mut Vec<Diagnostic>) -> Option<Project> {
    let manifest_path = project.manifest_path();
    let invalid = |found: &mut Vec<Diagnostic>, name: Option<&str>, message: String| {
        found.push(diagnostic(
            Code::PythonProjectInvalid,
            name,
            message,
            "fix the project's `pyproject.toml` (PEP 621 `[project]` table)",
        ));
    };
    let document = match project.pyproject.parse::<DocumentMut>() {
        Ok(document) => document,
        Err(error) => {
            invalid(
                found,
                None,
                format!(
                    "{manifest_path} is not valid TOML: {}",
                    error.to_string().trim_end()
                ),
            );
            return None;
        }
    };
    let Some(table) = document.get("project").and_then(Item::as_table_like) else {
        invalid(
            found,
            None,
            format!("{manifest_path} has no `[project]` table"),
        );
        return None;
    };
    let Some(name) = table.get("name").and_then(Item::as_str).map(str::to_owned) else {
        invalid(
            found,
            None,
            format!("{manifest_path} has no `project.name`"),
        );
        return None;
    };
    if PackageName::from_str(&name).is_err() {
        invalid(
            found,
            None,
            format!("{manifest_path}: `{name}` is not a valid project name (PEP 508: letters, digits, `-`, `_`, `.`, starting and ending with a letter or digit)"),
        );
        return None;
    }
    let normalized = normalize(&name);
    let key = package_key(Ecosystem::Python, &normalized);
    let package = Some(key.as_str());
    let dynamic = string_list(table.get("dynamic"));
    let version = read_version(project, table, &dynamic, &manifest_path, package, found);

    let mut requirements = Vec::new();
    let mut requirement = |field: String, extra: Option<String>, index: usize, text: &str| {
        match Requirement::from_str(text) {
            Ok(requirement) => requirements.push(Declared {
                field,
                extra,
                index,
                text: text.to_owned(),
                requirement,
            }),
            Err(error) => found.push(diagnostic(
                Code::PythonRequirementInvalid,
                package,
                format!(
                    "{manifest_path}: `{field}` has `{text}`, which is not a PEP 508 requirement: {}",
                    error.message
                ),
                "write the requirement as PEP 508 says, e.g. `name[extra]>=1.2; python_version >= \"3.9\"`",
            )),
        }
    };
    for (index, text) in indexed_strings(table.get("dependencies")) {
        requirement("dependencies".to_owned(), None, index, &text);
    }
    if let Some(extras) = table
        .get("optional-dependencies")
        .and_then(Item::as_table_like)
    {
        let mut names: Vec<&str> = extras.iter().map(|(k, _)| k).collect();
        names.sort_unstable();
        for extra in names {
            for (index, text) in indexed_strings(extras.get(extra)) {
                requirement(
                    format!("optional-dependencies.{extra}"),
                    Some(extra.to_owned()),
                    index,
                    &text,
                );
            }
        }
    }
    if dynamic
        .iter()
        .any(|d| d == "dependencies" || d == "optional-dependencies")
    {
        found.push(diagnostic(
            Code::PythonDynamicDependencies,
            package,
            format!("{manifest_path}: the project's dependencies are `dynamic`, so Convoy cannot see its requirements on other projects of the repository"),
            "list them in `[project] dependencies` so the release order and the pins are planned",
        ));
    }
    let classifiers = string_list(table.get("classifiers"));
    check_metadata(
        table,
        &dynamic,
        &classifiers,
        &manifest_path,
        package,
        found,
    );
    Some(Project {
        dir: project.dir.clone(),
        manifest_path,
        name,
        normalized,
        version,
        requirements,
        classifiers,
        document,
    })
}

fn read_version(
    project: &PythonProject,
    table: &dyn toml_edit::TableLike,
    dynamic: &[String],
    manifest_path: &str,
    package: Option<&str>,
    found: &mut Vec<Diagnostic>,
) -> Option<Version> {
    let (text, from) = match table.get("version").and_then(Item::as_str) {
        Some(text) => (text.to_owned(), manifest_path.to_owned()),
        None if dynamic.iter().any(|d| d == "version") => {
            let read = project
                .version_file
                .as_ref()
                .and_then(|(path, text)| Some((version_attribute(text)?, path.clone())));
            match read {
                Some(read) => read,
                None => {
                    found.push(diagnostic(
                        Code::PythonVersionMissing,
                        package,
                        format!(
                            "{manifest_path}: the version is `dynamic` and Convoy cannot read it{}",
                            project.version_file.as_ref().map_or(String::new(), |(path, _)| format!(
                                " (no `__version__ = \"…\"` in {path})"
                            ))
                        ),
                        "set `project.version`, or point `[tool.hatch.version] path` or `[tool.setuptools.dynamic] version = { attr = \"pkg.__version__\" }` at a file with `__version__ = \"X.Y.Z\"`",
                    ));
                    return None;
                }
            }
        }
        None => {
            found.push(diagnostic(
                Code::PythonVersionMissing,
                package,
                format!(
                    "{manifest_path} has no `project.version` and does not declare it `dynamic`"
                ),
                "set `project.version = \"X.Y.Z\"`",
            ));
            return None;
        }
    };
    match Version::from_str(&text) {
        Ok(version) => Some(version),
        Err(error) => {
            found.push(diagnostic(
                Code::PythonVersionInvalid,
                package,
                format!("{from}: `{text}` is not a PEP 440 version: {error}"),
                "use a PEP 440 version such as `1.2.0` or `2.0.0a5`",
            ));
            None
        }
    }
}

/// The string of a `__version__ = "…"` (or `VERSION`, `version`) assignment at the start of a
/// line, as hatchling's default version source and setuptools' `attr:` read it.
pub fn version_attribute(text: &str) -> Option<String> {
    version_assignment(text).map(|(_, value)| value)
}

/// The first version assignment of `text`: the name assigned and the string.
pub fn version_assignment(text: &str) -> Option<(String, String)> {
    text.lines()
        .find_map(convoy_package::edits::version_assignment)
}

/// The files a dynamic version may be read from, relative to the project directory, in the
/// order they are tried: `[tool.hatch.version] path`, else the module of
/// `[tool.setuptools.dynamic] version = { attr = "pkg.__version__" }` under `src/` or the top.
pub fn version_sources(pyproject: &str) -> Vec<String> {
    let Ok(document) = pyproject.parse::<DocumentMut>() else {
        return Vec::new();
    };
    let tool = document.get("tool");
    if let Some(path) = tool
        .and_then(|t| t.get("hatch"))
        .and_then(|h| h.get("version"))
        .and_then(|v| v.get("path"))
        .and_then(Item::as_str)
    {
        return vec![path.to_owned()];
    }
    let Some(attr) = tool
        .and_then(|t| t.get("setuptools"))
        .and_then(|s| s.get("dynamic"))
        .and_then(|d| d.get("version"))
        .and_then(|v| v.get("attr"))
        .and_then(Item::as_str)
    else {
        return Vec::new();
    };
    let Some((module, _attribute)) = attr.rsplit_once('.') else {
        return Vec::new();
    };
    let module = module.replace('.', "/");
    ["src/", ""]
        .iter()
        .flat_map(|base| {
            [
                format!("{base}{module}.py"),
                format!("{base}{module}/__init__.py"),
            ]
        })
        .collect()
}

/// The top-level classifier categories of the trove (`trove-classifiers`); PyPI refuses an
/// upload with a classifier it does not know.
const CLASSIFIER_CATEGORIES: [&str; 11] = [
    "Development Status",
    "Environment",
    "Framework",
    "Intended Audience",
    "License",
    "Natural Language",
    "Operating System",
    "Programming Language",
    "Topic",
    "Typing",
    "Private",
];

/// Whether `classifiers` keep the project off public indexes (`Private :: …`).
pub fn is_private(classifiers: &[String]) -> bool {
    classifiers
        .iter()
        .any(|c| c.split(" :: ").next() == Some("Private"))
}

fn check_metadata(
    table: &dyn toml_edit::TableLike,
    dynamic: &[String],
    classifiers: &[String],
    manifest_path: &str,
    package: Option<&str>,
    found: &mut Vec<Diagnostic>,
) {
    let has = |key: &str| table.contains_key(key) || dynamic.iter().any(|d| d == key);
    let license_classifier = classifiers.iter().any(|c| c.starts_with("License :: "));
    let mut missing = Vec::new();
    if !has("license") && !has("license-files") && !license_classifier {
        missing.push("a license (`license`, `license-files` or a `License ::` classifier)");
    }
    if !has("readme") {
        missing.push("a readme (`readme`), which the index shows as the project's description");
    }
    if !has("description") {
        missing.push("a summary (`description`)");
    }
    for what in missing {
        found.push(diagnostic(
            Code::PythonMetadataMissing,
            package,
            format!("{manifest_path} has no {what}"),
            "add it to `[project]`; the index shows the project without it",
        ));
    }
    for classifier in classifiers {
        let parts: Vec<&str> = classifier.split(" :: ").collect();
        let known = parts.len() >= 2
            && CLASSIFIER_CATEGORIES.contains(&parts[0])
            && parts.iter().all(|p| !p.trim().is_empty() && p.trim() == *p);
        if !known {
            found.push(diagnostic(
                Code::PythonClassifierInvalid,
                package,
                format!("{manifest_path}: `{classifier}` is not a trove classifier (`Category :: Subcategory`, with a category of {})", CLASSIFIER_CATEGORIES.join(", ")),
                "use a classifier from https://pypi.org/classifiers/; PyPI refuses uploads with others",
            ));
        }
    }
}

/// A TOML array of strings (other items are skipped; a missing key is empty).
fn string_list(item: Option<&Item>) -> Vec<String> {
    indexed_strings(item).into_iter().map(|(_, s)| s).collect()
}

/// The strings of a TOML array with their positions in it.
fn indexed_strings(item: Option<&Item>) -> Vec<(usize, String)> {
    item.and_then(Item::as_array)
        .map(|array| {
            array
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((i, v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// `document` with the requirement at `field[index]` replaced by `to` (its decoration kept).
pub fn replace_requirement(document: &mut DocumentMut, field: &str, index: usize, to: &str) {
    let project = &mut document["project"];
    let array = match field.split_once('.') {
        Some((_, extra)) => project["optional-dependencies"][extra].as_array_mut(),
        None => project[field].as_array_mut(),
    };
    if let Some(value) = array.and_then(|a| a.get_mut(index)) {
        let decor = value.decor().clone();
        *value = to.into();
        *value.decor_mut() = decor;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(pyproject: &str) -> (Option<Project>, Vec<Diagnostic>) {
        let mut found = Vec::new();
        let read = read(
            &PythonProject {
                dir: "py/a".into(),
                pyproject: pyproject.into(),
                version_file: Some((
                    "py/a/src/a/__init__.py".into(),
                    "__version__ = '1.4.0'\n".into(),
                )),
            },
            &mut found,
        );
        (read, found)
    }

    fn codes(found: &[Diagnostic]) -> Vec<&str> {
        found.iter().map(|d| d.code.as_str()).collect()
    }

    const FULL: &str = r#"[project]
name = "Demo_Core"
version = "2.0.0-alpha.5"
description = "d"
readme = "README.md"
license = "MIT"
classifiers = ["Programming Language :: Python :: 3", "License :: OSI Approved :: MIT License"]
dependencies = ["attrs>=23", "demo-base; python_version >= \"3.9\""]

[project.optional-dependencies]
zeta = ["demo.extra[fast]>=1"]
alpha = ["x"]
"#;

    #[test]
    fn a_complete_project_reads_without_diagnostics() {
        let (read, found) = project(FULL);
        assert_eq!(found, []);
        let read = read.unwrap();
        assert_eq!(read.name, "Demo_Core");
        assert_eq!(read.normalized, "demo-core");
        assert_eq!(read.manifest_path, "py/a/pyproject.toml");
        assert_eq!(read.version.unwrap().to_string(), "2.0.0a5");
        let fields: Vec<(&str, &str)> = read
            .requirements
            .iter()
            .map(|r| (r.field.as_str(), r.requirement.name.as_ref()))
            .collect();
        assert_eq!(
            fields,
            [
                ("dependencies", "attrs"),
                ("dependencies", "demo-base"),
                ("optional-dependencies.alpha", "x"),
                ("optional-dependencies.zeta", "demo-extra"),
            ]
        );
        let base = &read.requirements[1];
        assert_eq!(base.specifiers(), None);
        assert_eq!(
            base.pinned("==2.0.0a5"),
            "demo-base==2.0.0a5; python_version >= \"3.9\""
        );
        assert_eq!(
            base.marker().as_deref(),
            Some("python_full_version >= '3.9'")
        );
        assert_eq!(read.requirements[3].extra.as_deref(), Some("zeta"));
        assert!(read.requirements[0].specifiers().is_some());
    }

    #[test]
    fn problems_are_diagnostics_with_codes() {
        for (text, expected) in [
            ("not toml [", vec!["python-project-invalid"]),
            ("[tool.x]\n", vec!["python-project-invalid"]),
            ("[project]\nversion = \"1\"\n", vec!["python-project-invalid"]),
            ("[project]\nname = \"-bad\"\n", vec!["python-project-invalid"]),
            (
                "[project]\nname = \"a\"\ndescription = \"d\"\nreadme = \"R\"\nlicense = \"MIT\"\n",
                vec!["python-version-missing"],
            ),
            (
                "[project]\nname = \"a\"\nversion = \"one\"\ndescription = \"d\"\nreadme = \"R\"\nlicense = \"MIT\"\n",
                vec!["python-version-invalid"],
            ),
            (
                "[project]\nname = \"a\"\nversion = \"1.0\"\n",
                vec!["python-metadata-missing"; 3],
            ),
            (
                "[project]\nname = \"a\"\nversion = \"1.0\"\ndescription = \"d\"\nreadme = \"R\"\nlicense = \"MIT\"\nclassifiers = [\"Made Up :: Thing\", \"Topic\"]\ndependencies = [\"b >>= 1\"]\n",
                vec!["python-classifier-invalid", "python-classifier-invalid", "python-requirement-invalid"],
            ),
            (
                "[project]\nname = \"a\"\nversion = \"1.0\"\ndescription = \"d\"\nreadme = \"R\"\nlicense = \"MIT\"\ndynamic = [\"dependencies\"]\n",
                vec!["python-dynamic-dependencies"],
            ),
        ] {
            let (_, found) = project(text);
            let mut got = codes(&found);
            got.sort_unstable();
            assert_eq!(got, expected, "{text}");
        }
    }

    #[test]
    fn a_dynamic_version_is_read_from_its_attribute() {
        let text = "[project]\nname = \"a\"\ndynamic = [\"version\"]\ndescription = \"d\"\nreadme = \"R\"\nlicense = \"MIT\"\n";
        let (read, found) = project(text);
        assert_eq!(found, []);
        assert_eq!(read.unwrap().version.unwrap().to_string(), "1.4.0");
        assert_eq!(
            version_attribute("x = 1\n__version__ = \"2.0rc1\"  # c\n").as_deref(),
            Some("2.0rc1")
        );
        assert_eq!(version_attribute("    __version__ = '1'\n"), None);
        assert_eq!(
            version_sources("[tool.hatch.version]\npath = \"src/a/__about__.py\"\n"),
            ["src/a/__about__.py"]
        );
        assert_eq!(
            version_sources(
                "[tool.setuptools.dynamic]\nversion = { attr = \"a.b.__version__\" }\n"
            ),
            [
                "src/a/b.py",
                "src/a/b/__init__.py",
                "a/b.py",
                "a/b/__init__.py"
            ]
        );
        assert!(version_sources("[project]\n").is_empty());
    }

    #[test]
    fn names_normalize_as_pep_503_says() {
        assert_eq!(normalize("Demo_Core"), "demo-core");
        assert_eq!(normalize("a.-_b"), "a-b");
        assert!(is_private(&["Private :: Do Not Upload".into()]));
        assert!(!is_private(&["Topic :: Private".into()]));
    }
}
