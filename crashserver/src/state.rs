//! Shared state of one server: identity, configuration, readiness, the crash countdown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime};

use axum::http::HeaderValue;
use tokio::time::Instant;

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::config::Config;
use crate::crash::{CrashCause, Crasher};
use crate::identity::Identity;
use crate::metrics::Metrics;

/// A crash scheduled by `GET /status`.
#[derive(Debug, Clone, Copy)]
pub struct ArmedCrash {
    /// On tokio's clock, so tests can pause time.
    pub at: Instant,
    pub at_wall: SystemTime,
}

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub identity: Identity,
    pub metrics: Metrics,
    crasher: Crasher,
    /// `X-Instance` and `X-Version`, built once (None when not a valid header value).
    pub instance_header: Option<HeaderValue>,
    pub version_header: Option<HeaderValue>,
    shutting_down: AtomicBool,
    /// Set once, by the first `GET /status`.
    armed: OnceLock<ArmedCrash>,
    /// Requests answered on every route.
    pub served: AtomicU64,
    /// Requests on the application routes (/ and /status), for --crash-after.
    pub app_requests: AtomicU64,
    pub rng: Mutex<SmallRng>,
    /// Open connections allowed, over every serving thread (MAX_CONNECTIONS).
    pub connection_slots: Arc<tokio::sync::Semaphore>,
    /// The crash this process is bound for, once /status or /kill asked for one: it ends
    /// with EXIT_CODE even when a SIGTERM's drain ends before the crash's time.
    pending_crash: OnceLock<CrashCause>,
    /// Faults switched on at run time (`GET /chaos`).
    pub chaos: crate::chaos::Chaos,
    /// Where crash timers run: the runtime that lives until every serving thread has
    /// drained (else the current one), so a countdown fires even when the thread that
    /// armed it has finished draining.
    pub crash_runtime: OnceLock<tokio::runtime::Handle>,
}

/// A header value that costs nothing to clone (its bytes live as long as the process: one
/// per server, built once).
fn static_header(s: &str) -> Option<HeaderValue> {
    HeaderValue::from_str(s).ok()?;
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    Some(HeaderValue::from_static(leaked))
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("instance", &self.0.identity.instance_id)
            .finish()
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(config: Config, crasher: Crasher) -> Self {
        let identity = Identity::new(config.version());
        let metrics = Metrics::new(&identity.instance_id, &identity.version);
        metrics.ready.set(1);
        let max_connections = config.max_connections as usize;
        Self(Arc::new(Inner {
            instance_header: static_header(&identity.instance_id),
            version_header: static_header(&identity.version),
            config,
            identity,
            metrics,
            crasher,
            shutting_down: AtomicBool::new(false),
            armed: OnceLock::new(),
            served: AtomicU64::new(0),
            app_requests: AtomicU64::new(0),
            rng: Mutex::new(SmallRng::from_os_rng()),
            connection_slots: Arc::new(tokio::sync::Semaphore::new(max_connections)),
            pending_crash: OnceLock::new(),
            chaos: crate::chaos::Chaos::default(),
            crash_runtime: OnceLock::new(),
        }))
    }

    /// Ready unless shutting down or a crash is armed.
    pub fn is_ready(&self) -> bool {
        !self.shutting_down.load(Ordering::SeqCst) && self.armed().is_none()
    }

    pub fn begin_shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        self.metrics.ready.set(0);
    }

    pub fn armed(&self) -> Option<ArmedCrash> {
        self.armed.get().copied()
    }

    /// Arms the countdown once; later calls leave it where it is. Returns the armed crash
    /// and whether this call armed it.
    pub fn arm(&self, delay: Duration) -> (ArmedCrash, bool) {
        let mut armed_now = false;
        let a = *self.armed.get_or_init(|| {
            armed_now = true;
            ArmedCrash {
                at: Instant::now() + delay,
                at_wall: SystemTime::now() + delay,
            }
        });
        if armed_now {
            self.metrics.crash_armed.set(1);
            self.metrics.ready.set(0);
        }
        (a, armed_now)
    }

    /// One log line with the cause, then the crasher.
    fn crash(&self, cause: CrashCause) {
        tracing::error!(instance = %self.identity.instance_id, %cause, exit_code = self.config.exit_code, "crashing");
        (self.crasher)(cause);
    }

    pub fn timers(&self) -> tokio::runtime::Handle {
        self.crash_runtime
            .get()
            .cloned()
            .unwrap_or_else(tokio::runtime::Handle::current)
    }

    /// The crash asked for (by /status, /kill or --crash-after), if any.
    pub fn pending_crash(&self) -> Option<CrashCause> {
        self.pending_crash.get().copied()
    }

    /// Marks the process not-ready and hands the cause to the crasher after `after`.
    pub fn crash_soon(&self, cause: CrashCause, after: Duration) {
        let _ = self.pending_crash.set(cause);
        self.metrics.ready.set(0);
        self.shutting_down.store(true, Ordering::SeqCst);
        let state = self.clone();
        self.timers().spawn(async move {
            tokio::time::sleep(after).await;
            state.crash(cause);
        });
    }

    /// Runs the crasher on a timer without touching readiness (the countdown already did).
    pub fn crash_at(&self, cause: CrashCause, at: Instant) {
        let _ = self.pending_crash.set(cause);
        let state = self.clone();
        self.timers().spawn(async move {
            tokio::time::sleep_until(at).await;
            state.crash(cause);
        });
    }
}
