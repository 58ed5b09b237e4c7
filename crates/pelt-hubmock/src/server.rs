//! The server: a thread with a one-threaded `tokio` runtime serving `hyper` connections.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::answer::{State, answer};
use crate::error::HubMockError;
use crate::fault::Fault;
use crate::repo::Repo;

/// The commit every repository is at.
pub const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";

/// The running server.
pub struct Hub {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
}

impl Hub {
    /// Starts a server on a free port of 127.0.0.1, in a thread of its own that lives as long
    /// as the process.
    pub fn start() -> Result<Self, HubMockError> {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(HubMockError::Start)?;
        listener
            .set_nonblocking(true)
            .map_err(HubMockError::Start)?;
        let addr = listener.local_addr().map_err(HubMockError::Start)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(HubMockError::Start)?;
        let listener = {
            let _context = runtime.enter();
            tokio::net::TcpListener::from_std(listener).map_err(HubMockError::Start)?
        };
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            runtime.block_on(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = Arc::clone(&shared);
                    let service = hyper::service::service_fn(move |request| {
                        let state = Arc::clone(&state);
                        async move { Ok::<_, Infallible>(answer(&state, addr, &request)) }
                    });
                    tokio::spawn(async move {
                        // A connection closed on purpose (Fault::Drop) ends with an error.
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                            .await;
                    });
                }
            });
        });
        Ok(Self { addr, state })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The endpoint, for `HF_ENDPOINT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Serves model `id`.
    pub fn model(&self, id: &str, repo: Repo) -> &Self {
        self.state().repos.insert(format!("models/{id}"), repo);
        self
    }

    /// Serves data set `id`.
    pub fn dataset(&self, id: &str, repo: Repo) -> &Self {
        self.state().repos.insert(format!("datasets/{id}"), repo);
        self
    }

    /// Adds a fault.
    pub fn fault(&self, fault: Fault) -> &Self {
        self.state().faults.push(fault);
        self
    }

    /// Removes every fault.
    pub fn heal(&self) -> &Self {
        self.state().faults.clear();
        self
    }

    /// The requests so far, as `PATH [RANGE]`.
    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    /// The files whose content was transferred (requests for more than the first byte).
    pub fn transfers(&self) -> Vec<String> {
        self.log()
            .iter()
            .filter(|l| !l.ends_with("bytes=0-0"))
            .filter(|l| l.contains("/resolve/main/") || l.starts_with("/cdn/"))
            .cloned()
            .collect()
    }
}
