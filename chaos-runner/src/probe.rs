//! `chaos-runner probe URL...`: which of these URLs answers? (Used by scripts to detect the
//! access path: routing mesh, VIP, or DNS round-robin to the tasks.)

use std::time::Duration;

use crate::exit;
use crate::http_get::get_once;
use crate::target::Target;

/// Prints the first URL that answers 2xx/3xx within `timeout`; returns the exit code.
pub async fn first_answering(urls: &[String], timeout: Duration) -> u8 {
    for url in urls {
        let t = match Target::parse(url) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("chaos-runner probe: {e}");
                return exit::USAGE;
            }
        };
        let attempt = async {
            let addr = t
                .pick()
                .await
                .map_err(|e| format!("does not resolve: {e}"))?;
            get_once(addr, &t.authority, &t.path, None, timeout).await
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok((status, _))) if (200..400).contains(&status) => {
                println!("{url}");
                return exit::OK;
            }
            Ok(Ok((status, _))) => eprintln!("chaos-runner probe: {url}: HTTP {status}"),
            Ok(Err(e)) => eprintln!("chaos-runner probe: {url}: {e}"),
            Err(_) => eprintln!("chaos-runner probe: {url}: no answer within {timeout:?}"),
        }
    }
    exit::RUNTIME
}
