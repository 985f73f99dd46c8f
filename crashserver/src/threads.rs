//! Serving on every core the nginx way: one single-threaded runtime per thread, all
//! accepting from the same listening socket, so a connection lives on the thread that
//! accepted it and no request wakes another thread. A work-stealing runtime shuffles tasks
//! between threads, which on a 2-core machine shared with the load generator cost about a
//! tenth of the throughput. The shared socket (rather than one socket per thread with
//! SO_REUSEPORT) lets whichever thread is free take the next connection, which measured
//! about 8 % faster here when one core is also busy with the load generator.
//! One termination signal stops every thread; each drains for at most the grace period.

use std::net::SocketAddr;
use std::thread;

use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::watch;

use crate::server::{self, Drain};
use crate::state::AppState;

/// Errors that stop the server before or while it serves.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot start the async runtime")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start a server thread")]
    Thread(#[source] std::io::Error),
    #[error("server failed")]
    Serve(#[source] std::io::Error),
    #[error("a server thread panicked")]
    Panicked,
}

/// Number of serving threads: `requested`, or one per core this process may run on.
pub fn thread_count(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    thread::available_parallelism().map_or(1, usize::from)
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)
}

/// The listening socket, bound inside a runtime (the backlog tokio uses: 1,024).
fn listen(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)?.into_std()
}

/// This thread's handle on the shared socket. Must run inside its runtime.
fn attach(listener: std::net::TcpListener) -> std::io::Result<TcpListener> {
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

/// Binds `addr` and serves `state` on it from `threads` threads until `shutdown` resolves,
/// calling `on_listening` with the bound address once the socket listens (connections
/// wait in its backlog until a thread takes them).
pub fn serve(
    addr: SocketAddr,
    threads: usize,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<Drain, ServeError> {
    let rt = runtime()?;
    // Crash timers run here: this runtime is driven until every thread has drained.
    let _ = state.crash_runtime.set(rt.handle().clone());
    let listen_err = |source| ServeError::Listen { addr, source };
    let socket = rt.block_on(async { listen(addr) }).map_err(listen_err)?;
    let bound = socket.local_addr().map_err(listen_err)?;
    let clones = (1..threads)
        .map(|_| socket.try_clone())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(listen_err)?;
    let first = rt.block_on(async { attach(socket) }).map_err(listen_err)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let mut helpers = Vec::with_capacity(clones.len());
    for (i, socket) in clones.into_iter().enumerate() {
        let (state, mut stop) = (state.clone(), stop_rx.clone());
        let spawned = thread::Builder::new()
            .name(format!("crashserver-{}", i + 1))
            .spawn(move || -> Result<Drain, ServeError> {
                let rt = runtime()?;
                rt.block_on(async move {
                    let listener = attach(socket).map_err(|source| ServeError::Listen {
                        addr: bound,
                        source,
                    })?;
                    let stopped = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    server::serve_listener(listener, state, stopped)
                        .await
                        .map_err(ServeError::Serve)
                })
                .inspect_err(|e| tracing::error!("server thread {}: {e:#}", i + 1))
            });
        match spawned {
            Ok(h) => helpers.push(h),
            Err(e) => {
                let _ = stop_tx.send(true);
                for h in helpers {
                    let _ = h.join();
                }
                return Err(ServeError::Thread(e));
            }
        }
    }
    on_listening(bound);

    let main = rt.block_on(server::run(first, state, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    }));
    let mut drain = main.map_err(ServeError::Serve)?;
    // Join the others while this runtime still runs (a crash countdown may be due).
    let joined = rt.block_on(async move {
        tokio::task::spawn_blocking(move || {
            helpers.into_iter().map(|h| h.join()).collect::<Vec<_>>()
        })
        .await
    });
    for j in joined.map_err(|_| ServeError::Panicked)? {
        match j {
            Ok(Ok(Drain::TimedOut)) => drain = Drain::TimedOut,
            Ok(Ok(Drain::Complete)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ServeError::Panicked),
        }
    }
    Ok(drain)
}
