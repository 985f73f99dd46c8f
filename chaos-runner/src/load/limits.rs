//! The open-file limit: every request in flight holds a socket, so a run needs one file per
//! worker it may start, plus a few for itself. The soft limit is raised as far as the hard
//! limit allows; a run that needs more is refused before anything is sent.

/// Files the process needs beyond its connections (reports, the Docker socket, stdio, DNS).
const SPARE_FILES: u64 = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("this process may open at most {limit} files (ulimit -Hn), and up to {needed} requests can be in flight")]
pub struct TooFewFiles {
    pub limit: u64,
    pub needed: u64,
}

/// Raises the open-file limit so that `connections` sockets fit; returns the limit now in
/// force. Where the OS has no such limit, there is nothing to do.
pub fn ensure_open_files(connections: u64) -> Result<u64, TooFewFiles> {
    let needed = connections.saturating_add(SPARE_FILES);
    match rlimit::increase_nofile_limit(needed) {
        Ok(limit) if limit >= needed => Ok(limit),
        Ok(limit) => {
            // A privileged process may raise the hard limit too (up to the kernel's nr_open).
            if rlimit::Resource::NOFILE.set(needed, needed).is_ok() {
                return Ok(needed);
            }
            Err(TooFewFiles {
                limit: limit.saturating_sub(SPARE_FILES),
                needed: connections,
            })
        }
        Err(e) => {
            tracing::debug!("cannot read or raise the open-file limit: {e}");
            Ok(needed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_need_fits_and_an_absurd_one_is_refused() {
        assert!(ensure_open_files(10).is_ok_and(|l| l >= 138));
        let e = ensure_open_files(u64::MAX / 2).unwrap_err();
        assert_eq!(e.needed, u64::MAX / 2);
        assert!(e.limit < e.needed);
    }
}
