//! Shared state of one server: identity, configuration, readiness, the crash countdown.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

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
    shutting_down: AtomicBool,
    armed: Mutex<Option<ArmedCrash>>,
    /// Requests answered on every route.
    pub served: AtomicU64,
    /// Requests on the application routes (/ and /status), for --crash-after.
    pub app_requests: AtomicU64,
    pub rng: Mutex<SmallRng>,
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
        Self(Arc::new(Inner {
            config,
            identity,
            metrics,
            crasher,
            shutting_down: AtomicBool::new(false),
            armed: Mutex::new(None),
            served: AtomicU64::new(0),
            app_requests: AtomicU64::new(0),
            rng: Mutex::new(SmallRng::from_os_rng()),
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
        *self.armed.lock().expect("armed lock")
    }

    /// Arms the countdown once; later calls leave it where it is. Returns the armed crash
    /// and whether this call armed it.
    pub fn arm(&self, delay: Duration) -> (ArmedCrash, bool) {
        let mut armed = self.armed.lock().expect("armed lock");
        if let Some(a) = *armed {
            return (a, false);
        }
        let a = ArmedCrash {
            at: Instant::now() + delay,
            at_wall: SystemTime::now() + delay,
        };
        *armed = Some(a);
        self.metrics.crash_armed.set(1);
        self.metrics.ready.set(0);
        (a, true)
    }

    /// Marks the process not-ready and hands the cause to the crasher after `after`.
    /// One log line with the cause, then the crasher.
    fn crash(&self, cause: CrashCause) {
        tracing::error!(instance = %self.identity.instance_id, %cause, exit_code = self.config.exit_code, "crashing");
        (self.crasher)(cause);
    }

    pub fn crash_soon(&self, cause: CrashCause, after: Duration) {
        self.metrics.ready.set(0);
        self.shutting_down.store(true, Ordering::SeqCst);
        let state = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            state.crash(cause);
        });
    }

    /// Runs the crasher on a timer without touching readiness (the countdown already did).
    pub fn crash_at(&self, cause: CrashCause, at: Instant) {
        let state = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(at).await;
            state.crash(cause);
        });
    }
}
