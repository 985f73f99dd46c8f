//! Serving on every core the nginx way: one single-threaded runtime per thread, each with
//! its own listening socket on the same port (SO_REUSEPORT, so the kernel spreads new
//! connections over them), so a connection lives on one thread and no request wakes
//! another. A work-stealing runtime shuffles tasks between threads, which on a 2-core
//! machine shared with the load generator cost about a tenth of the throughput.
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

/// One listening socket of the group. Must run inside a runtime.
fn listen(addr: SocketAddr, shared: bool) -> std::io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(shared)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Binds `threads` sockets to `addr` and serves `state` on them until `shutdown`
/// resolves, calling `on_listening` with the bound address once every socket is bound.
/// A port already in use is an error, as with a single socket: SO_REUSEPORT would
/// otherwise let a second server share it silently.
pub fn serve(
    addr: SocketAddr,
    threads: usize,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    on_listening: impl FnOnce(SocketAddr),
) -> Result<Drain, ServeError> {
    let rt = runtime()?;
    let listen_err = |source| ServeError::Listen { addr, source };
    let first = rt.block_on(async {
        if threads > 1 && addr.port() != 0 {
            // Refuse a port someone holds: a plain bind fails where a shared one would not.
            drop(listen(addr, false).map_err(listen_err)?);
        }
        listen(addr, threads > 1).map_err(listen_err)
    })?;
    let bound = first.local_addr().map_err(listen_err)?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = mpsc::channel();
    let mut helpers = Vec::with_capacity(threads.saturating_sub(1));
    for i in 1..threads {
        let (state, mut stop, ready) = (state.clone(), stop_rx.clone(), ready_tx.clone());
        let spawned = thread::Builder::new()
            .name(format!("crashserver-{i}"))
            .spawn(move || -> Result<Drain, ServeError> {
                // Report the runtime and the socket, then hang up: the caller counts answers.
                let started = runtime().and_then(|rt| {
                    let listener = rt.block_on(async { listen(bound, true) });
                    let listener = listener.map_err(|source| ServeError::Listen {
                        addr: bound,
                        source,
                    })?;
                    Ok((rt, listener))
                });
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
