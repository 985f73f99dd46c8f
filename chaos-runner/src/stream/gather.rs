//! The receiving side: `chaos-runner gather` keeps what each vantage point sends in
//! `OUT/vantages/NAME/` (the run directory it mirrors), and when every expected vantage has
//! ended (sent its end, or nothing for `lost_after`) merges them into `OUT/merged/`. A
//! vantage that never sent its end is lost: `merge` rebuilds it from its journal up to what
//! arrived, and the exit code is 4 (an incomplete measurement).

use std::collections::BTreeMap;
use std::future::IntoFuture;
use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post, put};
use axum::Router;
use bytes::Bytes;
use serde::Deserialize;

use super::{known_file, valid_name, MAX_FILE, MAX_SEND, MIN_TOKEN};
use crate::exit::UsageError;

/// What `gather` waits for and where it writes.
#[derive(Debug, Clone)]
pub struct GatherConfig {
    pub out: PathBuf,
    pub token: String,
    /// How many vantage points are expected (1 to [`crate::merge::MAX_RUNS`]).
    pub expect: usize,
    /// A vantage silent this long without having sent its end is lost.
    pub lost_after: Duration,
    /// The longest `gather` waits in all.
    pub deadline: Duration,
}

/// One vantage point as the gatherer has seen it.
#[derive(Debug, Clone, Copy)]
struct Heard {
    last: Instant,
    done: bool,
}

#[derive(Clone)]
struct Gatherer {
    out: Arc<PathBuf>,
    token: Arc<String>,
    expect: usize,
    heard: Arc<Mutex<BTreeMap<String, Heard>>>,
    /// Set once the senders are to stop ([`Gathering::stop_senders`]).
    stopping: Arc<AtomicBool>,
}

/// How the gathering ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gathered {
    /// Vantages that sent their end.
    pub done: Vec<String>,
    /// Vantages that went silent, or the deadline came, before their end.
    pub lost: Vec<String>,
    /// How many of the expected never sent anything.
    pub missing: usize,
}

/// The gatherer's routes (`GET /v1/health` answers without a token).
fn app(g: Gatherer) -> Router {
    Router::new()
        .route("/v1/health", get(|| async { "ok\n" }))
        .route("/v1/vantages/{name}/done", post(done))
        .route("/v1/vantages/{name}/alive", post(alive))
        .route("/v1/vantages/{name}/{*file}", put(receive))
        .layer(DefaultBodyLimit::max(MAX_SEND))
        .layer(axum::middleware::map_response_with_state(g.clone(), stamp))
        .with_state(g)
}

/// Every answer carries the gatherer's clock (µs since the Unix epoch), which each sender
/// compares with its own, and, once the senders are to stop, the stop header.
async fn stamp(
    State(g): State<Gatherer>,
    mut res: axum::response::Response,
) -> axum::response::Response {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros());
    if let Ok(v) = axum::http::HeaderValue::from_str(&now.to_string()) {
        res.headers_mut().insert("x-gatherer-time-us", v);
    }
    if g.stopping.load(Ordering::Relaxed) {
        res.headers_mut().insert(
            super::STOP_HEADER,
            axum::http::HeaderValue::from_static("1"),
        );
    }
    res
}

#[derive(Deserialize)]
struct At {
    offset: u64,
}

impl Gatherer {
    /// Checks the token and the name; notes that `name` was heard from.
    fn admit(&self, headers: &HeaderMap, name: &str) -> Result<(), (StatusCode, String)> {
        let given = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let want = format!("Bearer {}", self.token);
        if !crate::redact::same_secret(given.as_bytes(), want.as_bytes()) {
            return Err((StatusCode::UNAUTHORIZED, "a valid token is needed\n".into()));
        }
        if !valid_name(name) {
            return Err((
                StatusCode::BAD_REQUEST,
                "a vantage's name is 1 to 64 of A-Z a-z 0-9 . _ -\n".into(),
            ));
        }
        let mut heard = self.heard.lock().expect("not poisoned");
        if !heard.contains_key(name) && heard.len() >= self.expect {
            return Err((
                StatusCode::CONFLICT,
                format!("{} vantage(s) expected, all heard from\n", self.expect),
            ));
        }
        let h = heard.entry(name.to_string()).or_insert(Heard {
            last: Instant::now(),
            done: false,
        });
        h.last = Instant::now();
        Ok(())
    }
}

async fn receive(
    State(g): State<Gatherer>,
    Path((name, file)): Path<(String, String)>,
    Query(at): Query<At>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if let Err(e) = g.admit(&headers, &name) {
        return e;
    }
    if !known_file(&file) {
        return (
            StatusCode::NOT_FOUND,
            format!("no file '{file}' in a run\n"),
        );
    }
    if at.offset + body.len() as u64 > MAX_FILE {
        return (
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("a file is kept up to {MAX_FILE} bytes\n"),
        );
    }
    let path = g.out.join("vantages").join(&name).join(&file);
    let write = || -> std::io::Result<Option<u64>> {
        std::fs::create_dir_all(path.parent().expect("a file in a directory"))?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)?;
        let have = f.metadata()?.len();
        if at.offset > have {
            return Ok(Some(have));
        }
        // From the offset on, what was sent now wins (a send repeated after a lost answer).
        f.set_len(at.offset)?;
        f.seek(SeekFrom::Start(at.offset))?;
        f.write_all(&body)?;
        f.sync_data()?;
        Ok(None)
    };
    match write() {
        Ok(None) => (StatusCode::OK, String::new()),
        Ok(Some(have)) => (StatusCode::CONFLICT, format!("have {have}\n")),
        Err(e) => {
            tracing::warn!(name, file, "keeping a send: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n"))
        }
    }
}

/// A vantage with nothing new to send says it is still there.
async fn alive(
    State(g): State<Gatherer>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    match g.admit(&headers, &name) {
        Ok(()) => (StatusCode::OK, String::new()),
        Err(e) => e,
    }
}

async fn done(
    State(g): State<Gatherer>,
    Path(name): Path<String>,
    headers: HeaderMap,
) -> (StatusCode, String) {
    if let Err(e) = g.admit(&headers, &name) {
        return e;
    }
    if let Some(h) = g.heard.lock().expect("not poisoned").get_mut(&name) {
        h.done = true;
    }
    tracing::info!(name, "vantage done");
    (StatusCode::OK, String::new())
}

impl Gatherer {
    /// Whether gathering is over: every expected vantage ended, or whoever was heard from
    /// ended and nobody new came for `lost_after`.
    fn over(&self, started: Instant, lost_after: Duration) -> bool {
        let heard = self.heard.lock().expect("not poisoned");
        let ended = |h: &Heard| h.done || h.last.elapsed() >= lost_after;
        if heard.len() >= self.expect {
            return heard.values().all(ended);
        }
        let latest = heard.values().map(|h| h.last).max().unwrap_or(started);
        !heard.is_empty() && heard.values().all(ended) && latest.elapsed() >= lost_after
    }

    fn gathered(&self) -> Gathered {
        let heard = self.heard.lock().expect("not poisoned");
        Gathered {
            done: heard
                .iter()
                .filter(|(_, h)| h.done)
                .map(|(n, _)| n.clone())
                .collect(),
            lost: heard
                .iter()
                .filter(|(_, h)| !h.done)
                .map(|(n, _)| n.clone())
                .collect(),
            missing: self.expect.saturating_sub(heard.len()),
        }
    }
}

/// A gatherer serving in the background (`run --vantage` runs one beside its own run).
pub struct Gathering {
    g: Gatherer,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    end: tokio::sync::oneshot::Sender<()>,
    started: Instant,
    lost_after: Duration,
    deadline: Duration,
}

impl Gathering {
    /// Checks the settings, makes `OUT/vantages` and serves on `listener`.
    pub fn start(
        listener: tokio::net::TcpListener,
        config: GatherConfig,
    ) -> Result<Self, UsageError> {
        if config.token.len() < MIN_TOKEN {
            return Err(UsageError(format!(
                "the stream token ({}) must be at least {MIN_TOKEN} characters",
                super::TOKEN_ENV
            )));
        }
        if !(1..=crate::merge::MAX_RUNS).contains(&config.expect) {
            return Err(UsageError(format!(
                "--expect {}: 1 to {}",
                config.expect,
                crate::merge::MAX_RUNS
            )));
        }
        if config.out.join("vantages").exists() {
            return Err(UsageError(format!(
                "{} holds an earlier gathering: choose another --out",
                config.out.display()
            )));
        }
        std::fs::create_dir_all(config.out.join("vantages"))
            .map_err(|e| UsageError(format!("cannot create {}: {e}", config.out.display())))?;
        let g = Gatherer {
            out: Arc::new(config.out.clone()),
            token: Arc::new(config.token.clone()),
            expect: config.expect,
            heard: Arc::default(),
            stopping: Arc::default(),
        };
        let (end, end_rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            axum::serve(listener, app(g.clone()))
                .with_graceful_shutdown(async move {
                    let _ = end_rx.await;
                })
                .into_future(),
        );
        Ok(Self {
            g,
            server,
            end,
            started: Instant::now(),
            lost_after: config.lost_after,
            deadline: config.deadline,
        })
    }

    /// From now on every answer asks the senders to stop: each stops its load as Ctrl-C
    /// would at its next send (within about a second) and sends the rest and its end.
    pub fn stop_senders(&self) {
        self.g.stopping.store(true, Ordering::Relaxed);
    }

    /// Waits until every expected vantage ended, `stop` resolves or the deadline comes;
    /// then stops serving and says what arrived.
    pub async fn finish(self, stop: impl std::future::Future<Output = ()>) -> Gathered {
        let (watcher, started, lost_after) = (self.g.clone(), self.started, self.lost_after);
        let over = async move {
            loop {
                tokio::time::sleep(Duration::from_millis(200)).await;
                if watcher.over(started, lost_after) {
                    return;
                }
            }
        };
        let left = self.deadline.saturating_sub(started.elapsed());
        tokio::select! {
            () = over => {}
            () = stop => {}
            () = tokio::time::sleep(left) => {
                eprintln!("chaos-runner: the gathering's deadline ({:?}) came", self.deadline);
            }
        }
        let _ = self.end.send(());
        // Sends under way finish; a peer that holds its connection open is not waited for long.
        if tokio::time::timeout(Duration::from_secs(5), self.server)
            .await
            .is_err()
        {
            tracing::warn!("a connection was still open 5 s after gathering ended; closing");
        }
        self.g.gathered()
    }
}

/// `chaos-runner gather`: serves on `listen` until gathering is over (or Ctrl-C), then
/// says what arrived. The caller merges.
pub async fn gather(listen: SocketAddr, config: GatherConfig) -> anyhow::Result<Gathered> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| UsageError(format!("cannot listen on {listen}: {e}")))?;
    eprintln!(
        "chaos-runner: gathering {} vantage(s) on {} into {}",
        config.expect,
        listener.local_addr()?,
        config.out.display()
    );
    let gathering = Gathering::start(listener, config)?;
    let interrupt = crate::signals::install();
    Ok(gathering
        .finish(crate::signals::interrupted(interrupt))
        .await)
}

/// Says what a gathering got and merges it (after `first`, a run of the gatherer's own with
/// its name, if any) into `OUT/merged`: the exit code, 4 when a vantage was lost or never
/// came.
pub fn merge_arrived(
    g: &Gathered,
    first: Option<(&std::path::Path, &str)>,
    out: &std::path::Path,
) -> anyhow::Result<u8> {
    let named = |v: &[String]| {
        if v.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.join(", "))
        }
    };
    println!(
        "gathered: {} vantage(s) ended{}, {} lost{}, {} never came",
        g.done.len(),
        named(&g.done),
        g.lost.len(),
        named(&g.lost),
        g.missing
    );
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(out.join("vantages"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.join(crate::journal::DIR)
                .join(crate::journal::ENTRIES)
                .exists()
        })
        .collect();
    dirs.sort();
    dirs.splice(0..0, first.map(|(d, _)| d.to_path_buf()));
    // A vantage lost before it measured anything has nothing to merge: named, left out.
    let mut whole = g.lost.is_empty() && g.missing == 0;
    dirs.retain(|d| {
        if !crate::journal::unfinished(d) {
            return true;
        }
        match crate::journal::rebuild(d) {
            Ok(_) => true,
            Err(e) => {
                println!("left out of the merge: {}: {e:#}", d.display());
                whole = false;
                false
            }
        }
    });
    if dirs.len() < 2 {
        println!(
            "{} run(s) with a journal: nothing to merge (their runs are in {}/vantages)",
            dirs.len(),
            out.display()
        );
        return Ok(if whole {
            crate::exit::OK
        } else {
            crate::exit::INCOMPLETE
        });
    }
    let merged_out = out.join("merged");
    let first_name = first.filter(|(d, _)| dirs.first().is_some_and(|f| f == d));
    let m = crate::merge::merge_named(&dirs, first_name.map(|(_, n)| n), &merged_out, false)?;
    let code = crate::merge::print_outcome(&m, &merged_out);
    Ok(if whole { code } else { crate::exit::INCOMPLETE })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    /// Every answer carries the gatherer's clock; once the senders are to stop, the stop
    /// header too, on every route a sender uses (and only then).
    #[tokio::test]
    async fn answers_ask_the_senders_to_stop_once_told_to() {
        let out = std::env::temp_dir().join(format!("crashlab-gather-stop-{}", std::process::id()));
        let g = Gatherer {
            out: Arc::new(out.clone()),
            token: Arc::new("0123456789abcdef".into()),
            expect: 1,
            heard: Arc::default(),
            stopping: Arc::default(),
        };
        let ask = |g: &Gatherer, uri: &str, method: &str| {
            let req = axum::http::Request::builder()
                .method(method)
                .uri(uri)
                .header("authorization", "Bearer 0123456789abcdef")
                .body(axum::body::Body::empty())
                .unwrap();
            app(g.clone()).oneshot(req)
        };
        let r = ask(&g, "/v1/vantages/a/alive", "POST").await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        assert!(r.headers().contains_key("x-gatherer-time-us"));
        assert!(!r.headers().contains_key(STOP));
        g.stopping.store(true, Ordering::Relaxed);
        for (uri, method) in [
            ("/v1/vantages/a/alive", "POST"),
            ("/v1/vantages/a/journal/run.jsonl?offset=0", "PUT"),
            ("/v1/vantages/a/done", "POST"),
        ] {
            let r = ask(&g, uri, method).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK, "{uri}");
            assert!(r.headers().contains_key(STOP), "{uri}");
        }
        let _ = std::fs::remove_dir_all(&out);
    }

    const STOP: &str = super::super::STOP_HEADER;
}
