//! `convoy-registry`'s client against the testkit registry: every error class and every fault,
//! timed by a shared manual clock so nothing sleeps.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use convoy_registry::clock::{Clock, ManualClock};
use convoy_registry::{ClientOptions, Freshness, RegistryClient, RegistryError};
use convoy_schema::plan::PublishMetadata;
use convoy_testkit::{Faults, Options, RateLimit, TestRegistry};
use convoy_tests::hostile::{endless_chunks, http, raw_server, redirecting_server};
use convoy_tests::Fixture;

const TOKEN: &str = "client-test-token";

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_269_600)
}

struct Setup {
    _storage: Fixture,
    registry: TestRegistry,
    clock: Arc<ManualClock>,
}

fn setup(faults: Faults) -> Setup {
    let storage = Fixture::empty();
    let clock = Arc::new(ManualClock::new(start()));
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

fn metadata(name: &str, vers: &str) -> PublishMetadata {
    PublishMetadata::new(name, vers)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

fn token() -> convoy_registry::auth::Token {
    convoy_registry::auth::Token::new(TOKEN.into())
}

async fn connect(registry: &TestRegistry) -> RegistryClient {
    RegistryClient::connect(&registry.index_url(), ClientOptions::default())
        .await
        .expect("connects")
}

fn uploads(registry: &TestRegistry) -> usize {
    registry
        .requests()
        .iter()
        .filter(|r| r.path == "/api/v1/crates/new")
        .count()
}

#[test]
fn publish_is_visible_with_the_servers_cksum_and_downloads_back() {
    let Setup {
        registry, clock, ..
    } = setup(Faults::default());
    runtime().block_on(async {
        let client = connect(&registry).await;
        assert_eq!(
            client
                .index_file("cl-one", Freshness::Revalidate)
                .await
                .unwrap(),
            None
        );
        client
            .publish(
                &token(),
                &metadata("cl-one", "1.0.0"),
                b"crate bytes",
                clock.now(),
            )
            .await
            .unwrap();
        let entries = client
            .index_file("cl-one", Freshness::Revalidate)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            entries[0].cksum,
            convoy_schema::digest::sha256_hex(b"crate bytes")
        );
        let bytes = client
            .download("cl-one", "1.0.0", &entries[0].cksum, 1 << 20)
            .await
            .unwrap();
        assert_eq!(bytes, b"crate bytes");
        // Revalidation: the second read of an unchanged file is a 304.
        client
            .index_file("cl-one", Freshness::Revalidate)
            .await
            .unwrap();
        let statuses: Vec<Option<u16>> = registry
            .requests()
            .iter()
            .filter(|r| r.path.starts_with("/index/cl/-o/cl-one"))
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, [Some(404), Some(200), Some(304)]);
    });
}

#[test]
fn already_exists_auth_and_client_errors_are_classified() {
    let Setup {
        registry, clock, ..
    } = setup(Faults::default());
    runtime().block_on(async {
        let client = connect(&registry).await;
        client
            .publish(&token(), &metadata("cl-dup", "1.0.0"), b"x", clock.now())
            .await
            .unwrap();
        let duplicate = client
            .publish(&token(), &metadata("cl-dup", "1.0.0"), b"x", clock.now())
            .await;
        assert!(
            matches!(duplicate, Err(RegistryError::AlreadyExists { .. })),
            "{duplicate:?}"
        );
        let wrong = convoy_registry::auth::Token::new("wrong".into());
        let refused = client
            .publish(&wrong, &metadata("cl-auth", "1.0.0"), b"x", clock.now())
            .await;
        assert!(
            matches!(refused, Err(RegistryError::Auth { status: 403, .. })),
            "{refused:?}"
        );
        let invalid = client
            .publish(&token(), &metadata("9bad", "1.0.0"), b"x", clock.now())
            .await;
        assert!(
            matches!(invalid, Err(RegistryError::Client { status: 400, .. })),
            "{invalid:?}"
        );
    });
}

#[test]
fn server_errors_resets_and_dropped_responses() {
    let faults = Faults {
        fail_upload: [(1, 503)].into(),
        reset_upload: [2].into(),
        drop_upload_response: [3].into(),
        ..Faults::default()
    };
    let Setup {
        registry, clock, ..
    } = setup(faults);
    runtime().block_on(async {
        let client = connect(&registry).await;
        let first = client
            .publish(&token(), &metadata("cl-f", "1.0.0"), b"x", clock.now())
            .await;
        assert!(
            matches!(first, Err(RegistryError::Server { status: 503, .. })),
            "{first:?}"
        );
        assert!(first.unwrap_err().is_retryable());
        let second = client
            .publish(&token(), &metadata("cl-f", "1.0.0"), b"x", clock.now())
            .await;
        assert!(
            matches!(second, Err(RegistryError::OutcomeUnknown { .. })),
            "{second:?}"
        );
        assert_eq!(
            client.index_file("cl-f", Freshness::Fresh).await.unwrap(),
            None,
            "a reset upload stored nothing"
        );
        let third = client
            .publish(&token(), &metadata("cl-f", "1.0.0"), b"x", clock.now())
            .await;
        let unknown = third.unwrap_err();
        assert!(
            matches!(unknown, RegistryError::OutcomeUnknown { .. }),
            "{unknown:?}"
        );
        assert!(
            !unknown.is_retryable(),
            "an unknown outcome is resolved by reading the index"
        );
        let entries = client.index_file("cl-f", Freshness::Fresh).await.unwrap();
        assert_eq!(
            entries.map(|e| e.len()),
            Some(1),
            "the dropped response's upload was stored"
        );
        assert_eq!(uploads(&registry), 3);
    });
}

#[test]
fn unreachable_registries_are_network_errors() {
    let result = runtime().block_on(RegistryClient::connect(
        "sparse+http://127.0.0.1:1/index/",
        ClientOptions::default(),
    ));
    assert!(
        matches!(result, Err(RegistryError::Network { .. })),
        "{result:?}"
    );
}

#[test]
fn rate_limits_answer_429_with_a_retry_time_and_refill() {
    let faults = Faults {
        new_crate_limit: Some(RateLimit {
            burst: 1,
            refill: Duration::from_secs(600),
        }),
        new_version_limit: Some(RateLimit {
            burst: 2,
            refill: Duration::from_secs(60),
        }),
        ..Faults::default()
    };
    let Setup {
        registry, clock, ..
    } = setup(faults);
    runtime().block_on(async {
        let client = connect(&registry).await;
        client
            .publish(&token(), &metadata("cl-r", "1.0.0"), b"a", clock.now())
            .await
            .unwrap();
        let limited = client
            .publish(&token(), &metadata("cl-s", "1.0.0"), b"b", clock.now())
            .await;
        match limited {
            Err(RegistryError::RateLimited { retry_at, detail }) => {
                // Counted from the answer: the request's own (real) duration comes on top.
                let retry_at = retry_at.expect("a retry time");
                let wait = retry_at.duration_since(start()).unwrap();
                assert!(
                    wait >= Duration::from_secs(600) && wait < Duration::from_secs(601),
                    "{wait:?}"
                );
                assert!(detail.contains("try again after"), "{detail}");
            }
            other => panic!("expected a 429, got {other:?}"),
        }
        // New versions have their own bucket.
        client
            .publish(&token(), &metadata("cl-r", "1.0.1"), b"c", clock.now())
            .await
            .unwrap();
        client
            .publish(&token(), &metadata("cl-r", "1.0.2"), b"d", clock.now())
            .await
            .unwrap();
        assert!(matches!(
            client
                .publish(&token(), &metadata("cl-r", "1.0.3"), b"e", clock.now())
                .await,
            Err(RegistryError::RateLimited { .. })
        ));
        clock.advance(Duration::from_secs(600));
        client
            .publish(&token(), &metadata("cl-s", "1.0.0"), b"b", clock.now())
            .await
            .unwrap();
        client
            .publish(&token(), &metadata("cl-r", "1.0.3"), b"e", clock.now())
            .await
            .unwrap();
    });
}

#[test]
fn index_delay_and_stale_reads_need_fresh_polling() {
    let faults = Faults {
        index_delay: Duration::from_secs(30),
        stale_for: Duration::from_secs(600),
        ..Faults::default()
    };
    let Setup {
        registry, clock, ..
    } = setup(faults);
    runtime().block_on(async {
        let client = connect(&registry).await;
        client
            .publish(&token(), &metadata("cl-d", "1.0.0"), b"x", clock.now())
            .await
            .unwrap();
        assert_eq!(
            client.index_file("cl-d", Freshness::Fresh).await.unwrap(),
            None,
            "not visible yet"
        );
        clock.advance(Duration::from_secs(31));
        assert!(
            client
                .index_file("cl-d", Freshness::Fresh)
                .await
                .unwrap()
                .is_some(),
            "visible after the delay"
        );
        assert_eq!(
            client
                .index_file("cl-d", Freshness::Revalidate)
                .await
                .unwrap(),
            None,
            "a cache still serves the file from before the publish"
        );
        clock.advance(Duration::from_secs(600));
        assert!(client
            .index_file("cl-d", Freshness::Revalidate)
            .await
            .unwrap()
            .is_some());
        let fresh_reads = registry
            .requests()
            .iter()
            .filter(|r| r.path.contains("convoy-fresh="))
            .count();
        assert_eq!(fresh_reads, 2);
    });
}

#[test]
fn slow_responses_take_clock_time_and_yanks_show_in_the_index() {
    let faults = Faults {
        slow: Duration::from_secs(5),
        ..Faults::default()
    };
    let Setup {
        registry, clock, ..
    } = setup(faults);
    let before = clock.now();
    runtime().block_on(async {
        let client = connect(&registry).await;
        client
            .publish(&token(), &metadata("cl-y", "1.0.0"), b"x", clock.now())
            .await
            .unwrap();
        assert!(clock.now().duration_since(before).unwrap() >= Duration::from_secs(10));
        assert!(registry.store().set_yanked("cl-y", "1.0.0", true));
        let entries = client
            .index_file("cl-y", Freshness::Fresh)
            .await
            .unwrap()
            .unwrap();
        assert!(entries[0].yanked);
    });
}

#[test]
fn state_survives_a_restart() {
    let storage = Fixture::empty();
    let dir = storage.root().join("registry");
    {
        let registry = TestRegistry::start(Options::new(dir.clone(), TOKEN)).unwrap();
        runtime().block_on(async {
            let client = connect(&registry).await;
            client
                .publish(
                    &token(),
                    &metadata("cl-p", "1.0.0"),
                    b"x",
                    SystemTime::now(),
                )
                .await
                .unwrap();
        });
    }
    let restarted = TestRegistry::start(Options::new(dir, TOKEN)).unwrap();
    let entries = runtime().block_on(async {
        connect(&restarted)
            .await
            .index_file("cl-p", Freshness::Fresh)
            .await
    });
    assert_eq!(entries.unwrap().map(|e| e.len()), Some(1));
}

#[test]
fn tokens_do_not_follow_redirects() {
    // The place a redirect points to: it must never see a token.
    let (elsewhere, elsewhere_seen) = redirecting_server(4, |method, _| match method {
        "PUT" => http("200 OK", "", "{}"),
        _ => http("404 Not Found", "", ""),
    });
    let (port, seen) = redirecting_server(3, move |method, path| {
        match (method, path) {
        ("GET", "/index/config.json") => http(
            "200 OK",
            "",
            &format!("{{\"dl\":\"http://127.0.0.1:{elsewhere}/dl\",\"api\":\"http://localhost:{elsewhere}\",\"auth-required\":true}}"),
        ),
        _ => http("307 Temporary Redirect", &format!("Location: http://localhost:{elsewhere}{path}\r\n"), ""),
    }
    });
    let registry = format!("sparse+http://127.0.0.1:{port}/index/");
    runtime().block_on(async {
        let options = ClientOptions {
            allow_http: false,
            read_token: Some(convoy_registry::auth::Token::new("read-secret".into())),
        };
        let client = RegistryClient::connect(&registry, options)
            .await
            .expect("connects");
        // The API in config.json is another origin: the token goes there, and only there, and a
        // redirect from it is not followed.
        let _ = client
            .publish(
                &token(),
                &metadata("cl-r", "1.0.0"),
                b"x",
                SystemTime::now(),
            )
            .await;
        let read = client.index_file("cl-r", Freshness::Revalidate).await;
        assert_eq!(read, Ok(None), "the redirect was followed to a 404");
    });
    let elsewhere_requests: Vec<(String, Option<String>)> = elsewhere_seen.try_iter().collect();
    let first: Vec<(String, Option<String>)> = seen.try_iter().collect();
    assert_eq!(first.len(), 2, "config.json and the index read: {first:?}");
    assert_eq!(
        first[1].1.as_deref(),
        Some("read-secret"),
        "the read token goes to the index host"
    );
    // The publish went to the API origin named by config.json with the token …
    let publish = elsewhere_requests
        .iter()
        .find(|(line, _)| line.starts_with("PUT"))
        .expect("publish reached the API");
    assert_eq!(publish.1.as_deref(), Some(TOKEN));
    // … and the redirected index read arrived at the other host without any Authorization.
    let redirected = elsewhere_requests
        .iter()
        .find(|(line, _)| line.starts_with("GET /index/"))
        .expect("redirect followed");
    assert_eq!(
        redirected.1, None,
        "Authorization must not cross to another host"
    );
}

#[test]
fn the_testkit_binary_prints_its_index_url_and_serves() {
    use std::io::BufRead;
    let storage = Fixture::empty();
    let mut child = std::process::Command::new(convoy_tests::binary("convoy-testkit"))
        .args([
            "serve",
            "--port",
            "0",
            "--token",
            "binary-secret-token",
            "--fail-upload",
            "1=503",
            "--request-log",
        ])
        .arg(storage.root().join("requests.jsonl"))
        .arg("--dir")
        .arg(storage.root().join("registry"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("starts");
    let mut first_line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first_line)
        .unwrap();
    let index = first_line.trim().to_owned();
    assert!(
        index.starts_with("sparse+http://127.0.0.1:") && index.ends_with("/index/"),
        "{index}"
    );
    let result = runtime().block_on(async {
        let client = RegistryClient::connect(&index, ClientOptions::default()).await?;
        let token = convoy_registry::auth::Token::new("binary-secret-token".into());
        let first = client
            .publish(
                &token,
                &metadata("cl-bin", "1.0.0"),
                b"x",
                SystemTime::now(),
            )
            .await;
        let second = client
            .publish(
                &token,
                &metadata("cl-bin", "1.0.0"),
                b"x",
                SystemTime::now(),
            )
            .await;
        Ok::<_, RegistryError>((first, second))
    });
    let _ = child.kill();
    let _ = child.wait();
    let (first, second) = result.expect("connects");
    assert!(
        matches!(first, Err(RegistryError::Server { status: 503, .. })),
        "{first:?}"
    );
    assert!(second.is_ok(), "{second:?}");
    // --request-log: one JSON line per request, the token never in it.
    let log = std::fs::read_to_string(storage.root().join("requests.jsonl")).unwrap();
    assert!(!log.contains("binary-secret-token"), "{log}");
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let uploads: Vec<&serde_json::Value> = lines.iter().filter(|l| l["upload"] == true).collect();
    assert_eq!(uploads.len(), 2, "{log}");
    assert_eq!(uploads[0]["status"], 503);
    assert_eq!(uploads[1]["stored"]["name"], "cl-bin");
    assert!(uploads.iter().all(|u| u["authorization"] == true));
}

#[test]
fn the_host_judged_is_the_host_connected_to() {
    // A listener the trick would reach: 0.0.0.0:PORT connects to this machine's listener.
    let (port, seen) = redirecting_server(4, |_, _| http("200 OK", "", r#"{"dl":"x"}"#));
    for trick in [
        format!("sparse+http://0.0.0.0:{port}\\@127.0.0.1/index/"),
        format!("sparse+http://0.0.0.0:{port}/index/"),
        format!("sparse+http://user@127.0.0.1:{port}/index/"),
    ] {
        let connected =
            runtime().block_on(RegistryClient::connect(&trick, ClientOptions::default()));
        assert!(
            matches!(
                connected,
                Err(RegistryError::InsecureUrl { .. } | RegistryError::Protocol { .. })
            ),
            "{trick}: {connected:?}"
        );
    }
    assert_eq!(
        seen.try_iter().count(),
        0,
        "no request left the machine's guard"
    );

    // The same trick in config.json's `api`: refused before any token could go there.
    let setup = setup(Faults {
        api_url: Some(format!("http://0.0.0.0:{port}\\@127.0.0.1")),
        ..Faults::default()
    });
    let connected = runtime().block_on(RegistryClient::connect(
        &setup.registry.index_url(),
        ClientOptions::default(),
    ));
    assert!(
        matches!(connected, Err(RegistryError::InsecureUrl { .. })),
        "{connected:?}"
    );
}

#[test]
fn every_answer_body_is_bounded_by_its_kind() {
    let started = std::time::Instant::now();
    let (port, _seen) = raw_server(8, |_, path, out| {
        use std::io::Write;
        match path {
            "/claims/index/config.json" => {
                let _ = out.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 3000000000\r\nConnection: close\r\n\r\n{",
                );
            }
            "/streams/index/config.json" => endless_chunks(out, "200 OK", 3 << 30),
            p if p.ends_with("config.json") => {
                let _ = out.write_all(
                    http("200 OK", "", r#"{"dl":"x","api":"http://127.0.0.1:1"}"#).as_bytes(),
                );
            }
            p if p.starts_with("/fine/index/") && p.contains("huge") => {
                endless_chunks(out, "200 OK", 3 << 30)
            }
            _ => endless_chunks(out, "500 Internal Server Error", 3 << 30),
        }
    });
    runtime().block_on(async {
        for root in ["claims", "streams"] {
            let error = RegistryClient::connect(
                &format!("sparse+http://127.0.0.1:{port}/{root}/index/"),
                ClientOptions::default(),
            )
            .await
            .unwrap_err();
            assert!(error.to_string().contains("larger than"), "{root}: {error}");
        }
        let client = RegistryClient::connect(
            &format!("sparse+http://127.0.0.1:{port}/fine/index/"),
            ClientOptions::default(),
        )
        .await
        .unwrap();
        let error = client
            .index_file("huge", Freshness::Fresh)
            .await
            .unwrap_err();
        assert!(error.to_string().contains("larger than"), "{error}");
        // A 3 GB error body is classified from its start and quoted in a few hundred bytes.
        let error = client
            .index_file("fail", Freshness::Fresh)
            .await
            .unwrap_err();
        assert!(
            matches!(error, RegistryError::Server { status: 500, .. }),
            "{error}"
        );
        assert!(error.to_string().len() < 800, "{}", error.to_string().len());
    });
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "bounded reads stop early: {:?}",
        started.elapsed()
    );
}

#[test]
fn tokens_the_registry_echoes_are_redacted() {
    let setup = setup(Faults {
        echo_token: true,
        ..Faults::default()
    });
    let wrong = convoy_registry::auth::Token::new("wrong-secret-d41d8cd9".into());
    let error = runtime().block_on(async {
        connect(&setup.registry)
            .await
            .publish(
                &wrong,
                &metadata("cl-echo", "1.0.0"),
                b"x",
                setup.clock.now(),
            )
            .await
            .unwrap_err()
    });
    let said = error.to_string();
    assert!(matches!(error, RegistryError::Auth { .. }), "{said}");
    assert!(!said.contains("wrong-secret"), "{said}");
    assert!(said.contains("<redacted>"), "{said}");
}

#[test]
fn index_reads_wait_out_429s_by_retry_after() {
    let setup = setup(Faults {
        index_limit: Some(RateLimit {
            burst: 1,
            refill: Duration::from_secs(30),
        }),
        ..Faults::default()
    });
    let read = runtime().block_on(async {
        let client = connect(&setup.registry)
            .await
            .with_clock(setup.clock.clone());
        for name in ["cl-a", "cl-b", "cl-c"] {
            client.index_file(name, Freshness::Fresh).await?;
        }
        Ok::<_, RegistryError>(())
    });
    assert_eq!(read, Ok(()));
    let limited = setup
        .registry
        .requests()
        .iter()
        .filter(|r| r.status == Some(429))
        .count();
    assert_eq!(limited, 2, "one 429 per refill, each waited out");
    assert!(setup.clock.now().duration_since(start()).unwrap() >= Duration::from_secs(60));

    // A wait longer than the client's patience goes to the caller as a rate limit.
    let setup = self::setup(Faults {
        index_limit: Some(RateLimit {
            burst: 1,
            refill: Duration::from_secs(3600),
        }),
        ..Faults::default()
    });
    let read = runtime().block_on(async {
        let client = connect(&setup.registry)
            .await
            .with_clock(setup.clock.clone());
        client.index_file("cl-a", Freshness::Fresh).await?;
        client.index_file("cl-b", Freshness::Fresh).await
    });
    assert!(
        matches!(
            read,
            Err(RegistryError::RateLimited {
                retry_at: Some(_),
                ..
            })
        ),
        "{read:?}"
    );
}
