//! `crashserver healthcheck`: a one-second HTTP probe of this container's own `/health`,
//! for the image's HEALTHCHECK (a scratch image has no curl).

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(1);

/// True when `GET /health` on 127.0.0.1:`port` answers 200 within a second.
pub fn probe(port: u16) -> bool {
    probe_addr(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).is_ok()
}

pub fn probe_addr(addr: SocketAddr) -> std::io::Result<()> {
    let deadline = std::time::Instant::now() + TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
    let left = || {
        deadline
            .saturating_duration_since(std::time::Instant::now())
            .max(Duration::from_millis(1))
    };
    stream.set_write_timeout(Some(left()))?;
    stream.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")?;
    stream.set_read_timeout(Some(left()))?;
    let mut head = [0u8; 16];
    let mut got = 0;
    while got < 12 {
        let n = stream.read(&mut head[got..])?;
        if n == 0 {
            break;
        }
        got += n;
    }
    if head[..got].starts_with(b"HTTP/1.1 200") || head[..got].starts_with(b"HTTP/1.0 200") {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "unexpected answer: {:?}",
            String::from_utf8_lossy(&head[..got])
        )))
    }
}
