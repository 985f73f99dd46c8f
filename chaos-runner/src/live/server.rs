//! The live view's HTTP side: `/` (the page), `/events` (server-sent events, a frame about
//! twice a second, then `end` with the final figures), `/metrics`. One render per tick
//! shared by every viewer; at most [`MAX_VIEWERS`] event streams at once; nothing fetched
//! from elsewhere; the page holds no secret.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::{self, Stream};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

use super::{figures, frame, Feed};

/// Event streams served at once (a lecture hall's worth of laptops).
pub const MAX_VIEWERS: usize = 64;

/// How often a frame is rendered.
const FRAME_EVERY: Duration = Duration::from_millis(500);

/// The buckets a frame shows (a minute of 100 ms buckets).
const FRAME_BUCKETS: usize = 600;

#[derive(Debug, Clone)]
enum Frame {
    Waiting,
    Running(Arc<String>),
    End(Arc<String>),
}

#[derive(Clone)]
struct AppState {
    frames: watch::Receiver<Frame>,
    viewers: Arc<Semaphore>,
    feed: Arc<Feed>,
}

/// A live view being served.
#[derive(Debug)]
pub struct LiveServer {
    frames: watch::Sender<Frame>,
    render: JoinHandle<()>,
    server: JoinHandle<()>,
    shutdown: oneshot::Sender<()>,
}

const PAGE: &str = r#"<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>chaos-runner live</title>
<style>
body{font-family:system-ui,sans-serif;margin:1em 2em;color:#111;font-size:20px;background:#fff}
h1{font-size:34px;margin:.2em 0}.sub{color:#555;margin:0}.status{font-weight:600;font-size:22px}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:10px 0}
.tile{border:2px solid #ccc;border-radius:10px;padding:8px 18px;min-width:190px}
.tile .v{font-size:46px;font-weight:700;font-variant-numeric:tabular-nums}.tile .l{color:#444}
.tile.ok .v{color:#2e8b57}.tile.bad{border-color:#c82828;background:#fff0f0}.tile.bad .v{color:#c82828}
figure{margin:8px 0}svg{width:100%;height:auto}
table.events{border-collapse:collapse;font-size:18px}.events td{padding:2px 10px;border-bottom:1px solid #eee}
.events td.n{text-align:right;font-variant-numeric:tabular-nums}.events tr.fault td{color:#c82828;font-weight:600}
#conn{color:#777;font-size:16px}
</style></head><body><div id="frame">FRAME</div><p id="conn"></p>
<script>
function connect(){const es=new EventSource('/events');const f=document.getElementById('frame'),c=document.getElementById('conn');
es.addEventListener('frame',e=>{f.innerHTML=e.data;c.textContent='live';});
es.addEventListener('end',e=>{f.innerHTML=e.data;c.textContent='run finished; waiting for the next run';es.close();setTimeout(connect,3000);});
es.onerror=()=>{c.textContent='not connected: waiting for a run';};}
connect();
</script></body></html>"#;

impl LiveServer {
    /// Binds the address (a usage error when it cannot be had) before the run starts.
    pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
        TcpListener::bind(addr).await
    }

    /// Serves the feed on `listener`, rendering a frame every half second.
    pub fn start(listener: TcpListener, feed: Feed) -> std::io::Result<Self> {
        let (frames, rx) = watch::channel(Frame::Waiting);
        let tx = frames.clone();
        let render_feed = feed.clone();
        let render = tokio::spawn(async move {
            let mut tick = tokio::time::interval(FRAME_EVERY);
            loop {
                tick.tick().await;
                let snap = render_feed.board.snapshot(FRAME_BUCKETS);
                let f = figures::of(&render_feed, &snap);
                let html = frame::render(&render_feed, &snap, &f);
                if tx.send(Frame::Running(Arc::new(html))).is_err() {
                    return;
                }
            }
        });
        let state = AppState {
            frames: rx,
            viewers: Arc::new(Semaphore::new(MAX_VIEWERS)),
            feed: Arc::new(feed),
        };
        let app = Router::new()
            .route("/", get(page))
            .route("/events", get(events))
            .route("/metrics", get(metrics))
            .with_state(state);
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stop.await;
                })
                .await;
        });
        Ok(Self {
            frames,
            render,
            server,
            shutdown,
        })
    }

    /// Shows `final_html` to every viewer (and ends their streams), keeps serving it for
    /// `linger`, then stops (open streams get 2 s to close).
    pub async fn finish(self, final_html: String, linger: Duration) {
        self.render.abort();
        let _ = self.render.await;
        let _ = self.frames.send(Frame::End(Arc::new(final_html)));
        tokio::time::sleep(linger).await;
        let _ = self.shutdown.send(());
        let mut server = self.server;
        if tokio::time::timeout(Duration::from_secs(2), &mut server)
            .await
            .is_err()
        {
            server.abort();
        }
    }
}

async fn page(State(st): State<AppState>) -> Html<String> {
    let now = match &*st.frames.borrow() {
        Frame::Waiting => "<p>waiting for the run…</p>".to_string(),
        Frame::Running(h) | Frame::End(h) => h.to_string(),
    };
    Html(PAGE.replace("FRAME", &now))
}

async fn metrics(State(st): State<AppState>) -> Response {
    let text = super::metrics::text(&st.feed);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn events(State(st): State<AppState>) -> Response {
    let Ok(permit) = st.viewers.clone().try_acquire_owned() else {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many viewers\n").into_response();
    };
    Sse::new(frames(st.frames.clone(), permit))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The frames as events: one per change, then `end` with the final figures, then done.
fn frames(
    rx: watch::Receiver<Frame>,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl Stream<Item = Result<Event, Infallible>> {
    stream::unfold(Some((rx, permit, true)), |st| async move {
        let (mut rx, permit, first) = st?;
        if !first && rx.changed().await.is_err() {
            return None;
        }
        let f = rx.borrow_and_update().clone();
        match f {
            Frame::Waiting => Some((
                Ok(Event::default().event("waiting").data("")),
                Some((rx, permit, false)),
            )),
            Frame::Running(h) => Some((
                Ok(Event::default().event("frame").data(h.as_str())),
                Some((rx, permit, false)),
            )),
            Frame::End(h) => Some((Ok(Event::default().event("end").data(h.as_str())), None)),
        }
    })
}
