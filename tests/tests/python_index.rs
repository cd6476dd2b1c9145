//! `convoy-registry`'s Python index client against the testkit's Python index: uploads (the
//! digest checked, identical re-uploads, other bytes under a name, bad tokens), project pages in
//! JSON and HTML, delayed visibility on the manual clock, and the token kept out of errors.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use convoy_registry::auth::Token;
use convoy_registry::clock::ManualClock;
use convoy_registry::python::{by_version, Login, PythonIndex};
use convoy_registry::Freshness;
use convoy_schema::digest::sha256_hex;
use convoy_schema::python::{CoreMetadata, DistFile, DistKind};
use convoy_testkit::{Faults, Options, TestRegistry};
use convoy_tests::Fixture;

const TOKEN: &str = "pypi-python-index-test-token";

struct Setup {
    _storage: Fixture,
    registry: TestRegistry,
    clock: Arc<ManualClock>,
}

fn setup(faults: Faults) -> Setup {
    let storage = Fixture::empty();
    let clock = Arc::new(ManualClock::new(
        UNIX_EPOCH + Duration::from_secs(1_795_269_600),
    ));
    let mut options = Options::new(storage.root().join("registry"), TOKEN);
    options.faults = faults;
    options.clock = clock.clone();
    let registry = TestRegistry::start(options).expect("registry starts");
    Setup {
        _storage: storage,
        registry,
        clock,
    }
}

fn index(registry: &TestRegistry) -> PythonIndex {
    PythonIndex::new(
        &registry.python_index_url(),
        Some(&registry.python_upload_url()),
        false,
    )
    .expect("index")
}

fn file(filename: &str, kind: DistKind, bytes: &[u8]) -> DistFile {
    DistFile {
        filename: filename.into(),
        kind,
        pyversion: match kind {
            DistKind::Sdist => "source".into(),
            DistKind::BdistWheel => "py3".into(),
        },
        size: bytes.len() as u64,
        sha256: sha256_hex(bytes),
    }
}

fn metadata() -> CoreMetadata {
    CoreMetadata {
        fields: vec![
            ("Metadata-Version".into(), "2.4".into()),
            ("Name".into(), "Demo_Core".into()),
            ("Version".into(), "1.0a1".into()),
            ("Requires-Dist".into(), "attrs>=23".into()),
        ],
        description: Some("# Demo\n\nline two\n".into()),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

#[test]
fn uploads_are_served_with_their_sha256_and_same_bytes_again_change_nothing() {
    let setup = setup(Faults::default());
    let index = index(&setup.registry);
    let login = Login::token(Token::new(TOKEN.into()));
    let sdist = file("demo_core-1.0a1.tar.gz", DistKind::Sdist, b"sdist bytes");
    let wheel = file(
        "demo_core-1.0a1-py3-none-any.whl",
        DistKind::BdistWheel,
        b"wheel bytes",
    );
    runtime().block_on(async {
        assert_eq!(
            index.project("demo-core", Freshness::Fresh).await.unwrap(),
            None
        );
        index
            .upload(&login, &sdist, b"sdist bytes", &metadata())
            .await
            .unwrap();
        index
            .upload(&login, &wheel, b"wheel bytes", &metadata())
            .await
            .unwrap();
        // The same file again: accepted, nothing changes (PyPI's rule).
        index
            .upload(&login, &sdist, b"sdist bytes", &metadata())
            .await
            .unwrap();
        let links = index
            .project("Demo.Core", Freshness::Fresh)
            .await
            .unwrap()
            .unwrap();
        let versions = by_version("demo-core", &links);
        let files = &versions["1.0a1"];
        assert_eq!(files.len(), 2);
        assert_eq!(files[0].filename, "demo_core-1.0a1-py3-none-any.whl");
        assert_eq!(files[0].sha256.as_deref(), Some(wheel.sha256.as_str()));
        assert_eq!(files[1].sha256.as_deref(), Some(sdist.sha256.as_str()));
        let downloaded = index.download(&links[1].url).await.unwrap();
        assert_eq!(downloaded, b"sdist bytes");

        // Other bytes under a stored name: refused, and classified as such.
        let other = file("demo_core-1.0a1.tar.gz", DistKind::Sdist, b"other bytes");
        let error = index
            .upload(&login, &other, b"other bytes", &metadata())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "already-exists", "{error}");
        // A digest that is not the bytes'.
        let error = index
            .upload(&login, &other, b"third bytes", &metadata())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "registry-rejected", "{error}");
        // A wrong token: refused, and never quoted.
        let wrong = Login::token(Token::new("pypi-wrong-secret-value".into()));
        let error = index
            .upload(&wrong, &other, b"other bytes", &metadata())
            .await
            .unwrap_err();
        assert_eq!(error.code(), "registry-auth-failed");
    });
    let uploads: Vec<_> = setup
        .registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(uploads.len(), 6);
    assert_eq!(
        uploads.iter().filter(|r| r.stored.is_some()).count(),
        2,
        "only the two first uploads stored anything"
    );
}

#[test]
fn tokens_echoed_by_the_index_are_redacted() {
    let setup = setup(Faults {
        echo_token: true,
        ..Faults::default()
    });
    let index = index(&setup.registry);
    let secret = Login::token(Token::new("pypi-echoed-secret-value".into()));
    let sdist = file("demo_core-1.0a1.tar.gz", DistKind::Sdist, b"x");
    let error = runtime()
        .block_on(index.upload(&secret, &sdist, b"x", &metadata()))
        .unwrap_err();
    let text = format!("{error} {error:?}");
    assert!(!text.contains("pypi-echoed-secret-value"), "{text}");
    assert!(text.contains("Invalid API Token"), "{text}");
}

#[test]
fn html_pages_and_delayed_visibility() {
    let setup = setup(Faults {
        python_html_only: true,
        index_delay: Duration::from_secs(30),
        ..Faults::default()
    });
    let index = index(&setup.registry);
    let login = Login::token(Token::new(TOKEN.into()));
    let sdist = file("demo_core-1.0a1.tar.gz", DistKind::Sdist, b"sdist");
    runtime().block_on(async {
        index
            .upload(&login, &sdist, b"sdist", &metadata())
            .await
            .unwrap();
        assert_eq!(
            index.project("demo-core", Freshness::Fresh).await.unwrap(),
            None,
            "not visible before the delay"
        );
        setup.clock.advance(Duration::from_secs(31));
        let links = index
            .project("demo-core", Freshness::Fresh)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(links.len(), 1);
        assert_eq!(links[0].file.sha256.as_deref(), Some(sdist.sha256.as_str()));
        assert!(!links[0].url.contains('#'));
    });
}

#[test]
fn trusted_publishing_mints_once_per_identity_token_for_the_audience_the_index_names() {
    let storage = Fixture::empty();
    let mut options = Options::new(storage.root().join("registry"), TOKEN);
    options.trusted = Some(convoy_testkit::TrustedPublishing::new("request-secret"));
    let registry = TestRegistry::start(options).expect("registry starts");
    let index = index(&registry);
    let source = convoy_registry::trusted::IdTokenSource::GitHub {
        request_url: registry.oidc_url().parse().unwrap(),
        request_token: Token::new("request-secret".into()),
    };
    runtime().block_on(async {
        let audience = index.oidc_audience().await.unwrap();
        assert_eq!(audience, "pypi");
        // An identity token for another audience is refused, as PyPI says it, unquoted.
        let other = source.id_token("crates.io").await.unwrap();
        let refused = index.mint_token(&other).await.unwrap_err();
        assert_eq!(refused.code(), "registry-auth-failed");
        let text = format!("{refused} {refused:?}");
        assert!(text.contains("invalid-token"), "{text}");
        assert!(!text.contains(other.expose()), "{text}");
        // The right audience: a token, which uploads; the same identity token again: refused.
        let id = source.id_token(&audience).await.unwrap();
        let minted = index.mint_token(&id).await.unwrap();
        assert!(minted.expose().starts_with("pypi-"));
        let sdist = file("demo_core-1.0a1.tar.gz", DistKind::Sdist, b"sdist");
        index
            .upload(&Login::token(minted), &sdist, b"sdist", &metadata())
            .await
            .unwrap();
        let reused = index.mint_token(&id).await.unwrap_err();
        assert!(
            reused.to_string().contains("invalid-reuse-token"),
            "{reused}"
        );
    });
    assert_eq!(registry.minted_python_tokens().len(), 1);
}
