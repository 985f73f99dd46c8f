//! Serving on every core the nginx way: one single-threaded runtime per thread, all
//! accepting from the same listening socket, so a connection lives on the thread that
//! accepted it and no request wakes another thread. A work-stealing runtime shuffles tasks
//! between threads, which on a 2-core machine shared with the load generator cost about a
//! tenth of the throughput. The shared socket (rather than one socket per thread with
//! SO_REUSEPORT) lets whichever thread is free take the next connection, which measured
//! about 8 % faster here when one core is also busy with the load generator.
//! One termination signal stops every thread; each drains for at most the grace period.

use std::net::SocketAddr;
use std::sync::mpsc;
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
fn attach(listener: &std::net::TcpListener) -> std::io::Result<TcpListener> {
    let own = listener.try_clone()?;
    own.set_nonblocking(true)?;
    TcpListener::from_std(own)
}

/// Binds `addr` and serves `state` on it from `threads` threads until `shutdown` resolves,
/// calling `on_listening` with the bound address once every thread accepts.
pub fn serve(
    addr: SocketAddr,
    threads: usize,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<Drain, ServeError> {
    let rt = runtime()?;
    let listen_err = |source| ServeError::Listen { addr, source };
    let (socket, first) = rt
        .block_on(async {
            let socket = listen(addr)?;
            let first = attach(&socket)?;
            Ok((socket, first))
        })
        .map_err(listen_err)?;
    let bound = first.local_addr().map_err(listen_err)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut helpers = Vec::with_capacity(threads.saturating_sub(1));
    for i in 1..threads {
        let (state, mut stop, ready) = (state.clone(), stop_rx.clone(), ready_tx.clone());
        let socket = socket.try_clone().map_err(listen_err)?;
        let spawned = thread::Builder::new()
            .name(format!("crashserver-{i}"))
            .spawn(move || -> Result<Drain, ServeError> {
                // Report the runtime and the socket, then hang up: the caller counts answers.
                let started = runtime().and_then(|rt| {
                    let listener = rt.block_on(async { attach(&socket) });
                    let listener = listener.map_err(|source| ServeError::Listen {
                        addr: bound,
                        source,
                    })?;
                    Ok((rt, listener))
                });
                drop(socket);
                let (rt, listener) = match started {
                    Ok(ok) => {
                        let _ = ready.send(None);
                        ok
                    }
                    Err(e) => {
                        let _ = ready.send(Some(e));
                        return Ok(Drain::Complete);
                    }
                };
                drop(ready);
                rt.block_on(async move {
                    let stopped = async move {
                        let _ = stop.wait_for(|s| *s).await;
                    };
                    server::serve_listener(listener, state, stopped)
                        .await
                        .map_err(ServeError::Serve)
                })
            })
            .map_err(ServeError::Runtime)?;
        helpers.push(spawned);
    }
    drop(ready_tx);
    drop(socket);
    let mut bind_failed = None;
    for _ in 1..threads {
        let failed = ready_rx.recv().unwrap_or(Some(ServeError::Panicked));
        if let Some(e) = failed {
            bind_failed.get_or_insert(e);
        }
    }
    if let Some(e) = bind_failed {
        let _ = stop_tx.send(true);
        for h in helpers {
            let _ = h.join();
        }
        return Err(e);
    }
    on_listening(bound);

    let main = rt.block_on(server::run(first, state, async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    }));
    let mut drain = main.map_err(ServeError::Serve)?;
    for h in helpers {
        match h.join() {
            Ok(Ok(Drain::TimedOut)) => drain = Drain::TimedOut,
            Ok(Ok(Drain::Complete)) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ServeError::Panicked),
        }
    }
    Ok(drain)
}
