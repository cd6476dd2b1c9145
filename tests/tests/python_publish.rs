//! `convoy-publish`'s IO loop releasing Python packages to the testkit's Python index under each
//! fault, on a manual clock (nothing sleeps): 5xx answers, connections reset before the upload is
//! handled, responses dropped after it is stored, delayed visibility, and other bytes under a
//! planned file name. The index is not idempotent here (an identical re-upload is refused), so
//! every file must reach it exactly once.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use convoy_executor::credentials::Credentials;
use convoy_executor::driver::{self, PythonTarget, Release, RunOptions};
use convoy_executor::journal::EarlierRuns;
use convoy_executor::schedule::Settings;
use convoy_executor::validate::{registry_state, Payload, PythonUpload, RegistryState, Upload};
use convoy_registry::auth::Token;
use convoy_registry::clock::{Clock, ManualClock};
use convoy_registry::python::{Login, PythonIndex};
use convoy_registry::trusted::IdTokenSource;
use convoy_registry::{ClientOptions, Freshness, RegistryClient};
use convoy_schema::digest::sha256_hex;
use convoy_schema::python::{CoreMetadata, DistFile, DistKind};
use convoy_testkit::{Faults, Options, TestRegistry, TrustedPublishing};
use convoy_tests::Fixture;

const TOKEN: &str = "pypi-publish-faults-token";
const REQUEST_TOKEN: &str = "oidc-request-python-faults-secret";

/// `pf-a`, `pf-b` (requires a), `pf-c` (requires b): an sdist and a wheel each.
fn uploads() -> Vec<Upload> {
    [
        ("pf-a", vec![]),
        ("pf-b", vec!["python:pf-a"]),
        ("pf-c", vec!["python:pf-b"]),
    ]
    .into_iter()
    .map(|(name, after)| {
        let stem = name.replace('-', "_");
        let file = |filename: String, kind| {
            let bytes = format!("{filename} bytes").into_bytes();
            (
                DistFile {
                    filename,
                    kind,
                    pyversion: match kind {
                        DistKind::Sdist => "source".into(),
                        DistKind::BdistWheel => "py3".into(),
                    },
                    size: bytes.len() as u64,
                    sha256: sha256_hex(&bytes),
                },
                bytes,
            )
        };
        Upload {
            name: format!("python:{name}"),
            version: "1.0.0".parse().unwrap(),
            after: after.into_iter().map(str::to_owned).collect(),
            payload: Payload::Python(PythonUpload {
                project: name.to_owned(),
                version: "1.0".into(),
                files: vec![
                    file(format!("{stem}-1.0.tar.gz"), DistKind::Sdist),
                    file(format!("{stem}-1.0-py3-none-any.whl"), DistKind::BdistWheel),
                ],
                metadata: CoreMetadata {
                    fields: vec![
                        ("Metadata-Version".into(), "2.4".into()),
                        ("Name".into(), name.into()),
                        ("Version".into(), "1.0".into()),
                    ],
                    description: None,
                },
            }),
        }
    })
    .collect()
}

struct Ran {
    registry: TestRegistry,
    outcome: driver::Outcome,
    _storage: Fixture,
}

fn run_with(faults: Faults, prepare: impl FnOnce(&TestRegistry)) -> Ran {
    run_as(faults, false, prepare)
}

/// A run whose Python login is `__token__` and the index's token, or (`trusted`) a token the
/// index mints for an identity token from its GitHub-shaped token service.
fn run_as(faults: Faults, trusted: bool, prepare: impl FnOnce(&TestRegistry)) -> Ran {
    let storage = Fixture::empty();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    ));
    let mut options = Options::new(storage.root().join("registry"), "cargo-token");
    options.python_token = Some(TOKEN.to_owned());
    options.faults = Faults {
        python_not_idempotent: true,
        ..faults
    };
    options.clock = clock.clone();
    options.trusted = Some(TrustedPublishing::new(REQUEST_TOKEN));
    let registry = TestRegistry::start(options).unwrap();
    let uploads = uploads();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let outcome = runtime.block_on(async {
        let client = RegistryClient::connect(&registry.index_url(), ClientOptions::default())
            .await
            .unwrap()
            .with_clock(clock.clone());
        let index = PythonIndex::new(
            &registry.python_index_url(),
            Some(&registry.python_upload_url()),
            false,
        )
        .unwrap()
        .with_clock(clock.clone());
        let mut pages = BTreeMap::new();
        for upload in &uploads {
            if let Payload::Python(python) = &upload.payload {
                let page = index
                    .project(&python.project, Freshness::Fresh)
                    .await
                    .unwrap();
                pages.insert(upload.name.clone(), page);
            }
        }
        let RegistryState {
            initial,
            new_crates,
        } = registry_state(&uploads, &BTreeMap::new(), &pages).unwrap();
        // After the run read the index and before it uploads: another uploader at work.
        prepare(&registry);
        let options = RunOptions {
            schedule: Settings {
                poll_timeout: Duration::from_secs(600),
                ..Settings::default()
            },
            python: Some(PythonTarget {
                index: Arc::new(index),
            }),
            ..RunOptions::default()
        };
        let mut credentials = if trusted {
            let source = IdTokenSource::GitHub {
                request_url: registry.oidc_url().parse().unwrap(),
                request_token: Token::new(REQUEST_TOKEN.into()),
            };
            let index = options.python.as_ref().unwrap().index.clone();
            let (credentials, _) = Credentials::none()
                .with_python_trusted(index, source, clock.now())
                .await
                .expect("the index mints a token");
            credentials
        } else {
            Credentials::none().with_python(Login::token(Token::new(TOKEN.into())))
        };
        let earlier = EarlierRuns::default();
        let release = Release {
            uploads: &uploads,
            initial: &initial,
            new_crates: &new_crates,
            earlier: &earlier,
        };
        driver::run(
            &client,
            &mut credentials,
            release,
            clock.as_ref(),
            &options,
            &mut |_| {},
        )
        .await
    });
    Ran {
        registry,
        outcome,
        _storage: storage,
    }
}

/// How many times each file was stored, and how many uploads were sent in all.
fn stored(registry: &TestRegistry) -> (BTreeMap<String, usize>, usize) {
    let mut stored = BTreeMap::new();
    let mut sent = 0;
    for request in registry.requests() {
        if request.path.starts_with("/pypi/legacy") {
            sent += 1;
        }
        if let Some((_, filename, _)) = request
            .stored
            .filter(|_| request.path.starts_with("/pypi/legacy"))
        {
            *stored.entry(filename).or_insert(0) += 1;
        }
    }
    (stored, sent)
}

fn all_published_once(ran: &Ran, expected_sends: usize) {
    let mut published = ran.outcome.published.clone();
    published.sort();
    assert_eq!(
        published,
        ["python:pf-a", "python:pf-b", "python:pf-c"],
        "{:?}",
        ran.outcome.failed
    );
    assert_eq!(ran.outcome.exit_code(), 0);
    let (stored, sent) = stored(&ran.registry);
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert!(
        stored.values().all(|n| *n == 1),
        "each file stored once: {stored:?}"
    );
    assert_eq!(sent, expected_sends, "uploads sent");
}

#[test]
fn a_clean_run_uploads_each_file_once_in_dependency_order() {
    let ran = run_with(Faults::default(), |_| {});
    all_published_once(&ran, 6);
    let order: Vec<String> = ran
        .registry
        .requests()
        .into_iter()
        .filter_map(|r| r.stored.map(|(_, file, _)| file))
        .collect();
    assert_eq!(
        order,
        [
            "pf_a-1.0.tar.gz",
            "pf_a-1.0-py3-none-any.whl",
            "pf_b-1.0.tar.gz",
            "pf_b-1.0-py3-none-any.whl",
            "pf_c-1.0.tar.gz",
            "pf_c-1.0-py3-none-any.whl"
        ]
    );
}

#[test]
fn five_hundreds_and_resets_are_sent_again_and_stored_once() {
    let ran = run_with(
        Faults {
            fail_upload: [(1, 503), (4, 502)].into(),
            reset_upload: [3].into(),
            ..Faults::default()
        },
        |_| {},
    );
    // Three answers that stored nothing: three more sends.
    all_published_once(&ran, 9);
}

#[test]
fn a_dropped_response_is_settled_by_reading_the_index_not_by_sending_again() {
    // The 1st and 4th uploads are stored, then their connections close without an answer.
    let ran = run_with(
        Faults {
            drop_upload_response: [1, 4].into(),
            ..Faults::default()
        },
        |_| {},
    );
    all_published_once(&ran, 6);
}

#[test]
fn files_visible_only_later_are_polled_for() {
    let ran = run_with(
        Faults {
            index_delay: Duration::from_secs(40),
            ..Faults::default()
        },
        |_| {},
    );
    all_published_once(&ran, 6);
    assert!(ran.outcome.index_reads >= 3, "{}", ran.outcome.index_reads);
}

#[test]
fn other_bytes_under_a_planned_name_stop_that_package_and_its_dependents() {
    let ran = run_with(Faults::default(), |registry| {
        assert!(registry.python_store().add(
            "pf-b",
            "pf_b-1.0-py3-none-any.whl",
            b"someone else's wheel"
        ));
    });
    assert_eq!(ran.outcome.published, ["python:pf-a"]);
    let failed: BTreeMap<String, String> = ran.outcome.failed.iter().cloned().collect();
    assert!(
        failed["python:pf-b"].contains("pf_b-1.0-py3-none-any.whl"),
        "{failed:?}"
    );
    assert!(failed["python:pf-c"].contains("python:pf-b"), "{failed:?}");
    assert_eq!(ran.outcome.exit_code(), 1);
    // Nothing of pf-b (or pf-c) was sent: the index was read first.
    let (stored, sent) = stored(&ran.registry);
    assert_eq!(sent, 2, "{stored:?}");
}

#[test]
fn a_planned_version_the_index_has_with_other_bytes_is_refused_before_any_upload() {
    let storage = Fixture::empty();
    let registry =
        TestRegistry::start(Options::new(storage.root().join("registry"), TOKEN)).unwrap();
    assert!(registry
        .python_store()
        .add("pf-a", "pf_a-1.0.tar.gz", b"other sdist"));
    let index = PythonIndex::new(&registry.python_index_url(), None, false).unwrap();
    let page = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(index.project("pf-a", Freshness::Fresh))
        .unwrap();
    let pages = [("python:pf-a".to_owned(), page)].into();
    let refusal = registry_state(&uploads(), &BTreeMap::new(), &pages).unwrap_err();
    assert_eq!(refusal.code(), "version-exists-with-different-content");
    assert!(refusal.to_string().contains("pf_a-1.0.tar.gz"), "{refusal}");
    assert!(registry.requests().iter().all(|r| r.method == "GET"));
}

#[test]
fn trusted_publishing_mints_a_token_and_replaces_it_before_it_expires() {
    // Each file is served six minutes after its upload: three projects, one after another,
    // take over 18 minutes, longer than a minted token lives (15 minutes).
    let ran = run_as(
        Faults {
            index_delay: Duration::from_secs(6 * 60),
            ..Faults::default()
        },
        true,
        |_| {},
    );
    all_published_once(&ran, 6);
    let minted = ran.registry.minted_python_tokens();
    assert!(minted.len() >= 2, "replaced at least once: {minted:?}");
    // Every upload carried a minted token that was not yet 10 minutes old (replaced with a
    // margin, never sent near its expiry).
    for request in ran.registry.requests() {
        if !request.path.starts_with("/pypi/legacy") {
            continue;
        }
        let carried = minted
            .iter()
            .find(|t| {
                request.authorization.as_deref().is_some_and(|a| {
                    use base64::Engine;
                    let expected = base64::engine::general_purpose::STANDARD
                        .encode(format!("__token__:{}", t.token));
                    a == format!("Basic {expected}")
                })
            })
            .expect("a minted token");
        let age = request.received.duration_since(carried.issued).unwrap();
        assert!(age < Duration::from_secs(10 * 60), "{age:?}");
    }
}
