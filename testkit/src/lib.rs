//! A real HTTP Cargo registry (and a Python index, [`python`]) for tests and the demo: sparse index, publish API computing
//! `cksum` itself, downloads, yank/unyank, token auth, storage in a directory (state survives a
//! restart), a request log, and fault injection. Real `cargo` publishes to it and builds from it,
//! which is what proves it faithful.
//!
//! [`TestRegistry::start`] runs it on 127.0.0.1 on a thread of its own, so synchronous tests and
//! async code can both use it; `convoy-testkit serve` runs it as a process.

pub mod faults;
pub mod python;
mod server;
pub mod store;

use std::sync::Arc;
use std::thread::JoinHandle;

pub use faults::{Faults, RateLimit};
pub use server::{IssuedToken, LoggedRequest, Options, TrustedPublishing};

/// A running test registry; stopped when dropped.
pub struct TestRegistry {
    state: Arc<server::State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl TestRegistry {
    /// Starts a registry with `options` on 127.0.0.1.
    pub fn start(options: Options) -> std::io::Result<Self> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", options.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let state = Arc::new(server::State::new(options, addr)?);
        let (shutdown, receiver) = tokio::sync::oneshot::channel();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let serving = state.clone();
        let thread = std::thread::Builder::new()
            .name("convoy-testkit".to_owned())
            .spawn(move || {
                runtime.block_on(async move {
                    if let Ok(listener) = tokio::net::TcpListener::from_std(listener) {
                        server::serve(serving, listener, receiver).await;
                    }
                });
            })?;
        Ok(Self {
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`: the API base.
    pub fn base_url(&self) -> &str {
        &self.state.base_url
    }

    /// `sparse+http://127.0.0.1:<port>/index/`: what cargo and Convoy take as the index.
    pub fn index_url(&self) -> String {
        format!("sparse+{}/index/", self.state.base_url)
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state
            .log
            .lock()
            .map(|log| log.clone())
            .unwrap_or_default()
    }

    /// The publish tokens trusted publishing issued, in order.
    pub fn trusted_tokens(&self) -> Vec<IssuedToken> {
        self.state
            .trust
            .lock()
            .map(|trust| trust.issued.clone())
            .unwrap_or_default()
    }

    /// The upload tokens the Python index minted (`/pypi/_/oidc/mint-token`), in order.
    pub fn minted_python_tokens(&self) -> Vec<IssuedToken> {
        self.state
            .trust
            .lock()
            .map(|trust| trust.minted.clone())
            .unwrap_or_default()
    }

    /// `{base}/oidc/token?api-version=2.0`: the identity-token service's URL, as GitHub sets
    /// `ACTIONS_ID_TOKEN_REQUEST_URL`.
    pub fn oidc_url(&self) -> String {
        format!("{}/oidc/token?api-version=2.0", self.state.base_url)
    }

    /// The storage.
    pub fn store(&self) -> &store::Store {
        &self.state.store
    }

    /// The Python index's storage.
    pub fn python_store(&self) -> &python::PythonStore {
        &self.state.python
    }

    /// `http://127.0.0.1:<port>/pypi/simple/`: the Python index's simple API base.
    pub fn python_index_url(&self) -> String {
        format!("{}/pypi/simple/", self.state.base_url)
    }

    /// `http://127.0.0.1:<port>/pypi/legacy/`: the Python index's upload URL.
    pub fn python_upload_url(&self) -> String {
        format!("{}/pypi/legacy/", self.state.base_url)
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
