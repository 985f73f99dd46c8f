//! Outcome classes: every attempt lands in exactly one.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// 2xx or 3xx.
    Ok,
    /// 4xx answer.
    #[serde(rename = "http_4xx")]
    Http4xx,
    /// 5xx answer.
    #[serde(rename = "http_5xx")]
    Http5xx,
    /// Connection refused, or no route to the address (nothing listens there).
    Refused,
    /// Connection reset or closed before a whole answer arrived.
    Reset,
    /// No whole answer within the per-request timeout.
    Timeout,
    /// The target's name did not resolve.
    Dns,
    /// Anything else (malformed answer, local error).
    Other,
}

impl Class {
    pub const ALL: [Class; 8] = [
        Class::Ok,
        Class::Http4xx,
        Class::Http5xx,
        Class::Refused,
        Class::Reset,
        Class::Timeout,
        Class::Dns,
        Class::Other,
    ];
    pub const COUNT: usize = 8;

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            Class::Ok => "ok",
            Class::Http4xx => "http_4xx",
            Class::Http5xx => "http_5xx",
            Class::Refused => "refused",
            Class::Reset => "reset",
            Class::Timeout => "timeout",
            Class::Dns => "dns",
            Class::Other => "other",
        }
    }

    pub fn is_ok(self) -> bool {
        self == Class::Ok
    }

    pub fn from_status(code: u16) -> Class {
        match code {
            200..=399 => Class::Ok,
            400..=499 => Class::Http4xx,
            500..=599 => Class::Http5xx,
            _ => Class::Other,
        }
    }

    /// Classifies an I/O error met while connecting or exchanging.
    pub fn from_io(e: &std::io::Error) -> Class {
        use std::io::ErrorKind::*;
        match e.kind() {
            ConnectionRefused | HostUnreachable | NetworkUnreachable | AddrNotAvailable => {
                Class::Refused
            }
            ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof | NotConnected => {
                Class::Reset
            }
            TimedOut => Class::Timeout,
            _ => match e.raw_os_error() {
                Some(libc::EHOSTUNREACH) | Some(libc::ENETUNREACH) | Some(libc::ECONNREFUSED) => {
                    Class::Refused
                }
                Some(libc::ECONNRESET) | Some(libc::EPIPE) => Class::Reset,
                _ => Class::Other,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serialised_names_are_the_reported_names() {
        for c in Class::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
        }
    }

    #[test]
    fn statuses_map_to_classes() {
        assert_eq!(Class::from_status(200), Class::Ok);
        assert_eq!(Class::from_status(302), Class::Ok);
        assert_eq!(Class::from_status(404), Class::Http4xx);
        assert_eq!(Class::from_status(503), Class::Http5xx);
        assert_eq!(Class::from_status(101), Class::Other);
    }

    #[test]
    fn io_errors_map_to_classes() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            Class::from_io(&Error::from(ErrorKind::ConnectionRefused)),
            Class::Refused
        );
        assert_eq!(
            Class::from_io(&Error::from(ErrorKind::ConnectionReset)),
            Class::Reset
        );
        assert_eq!(
            Class::from_io(&Error::from(ErrorKind::TimedOut)),
            Class::Timeout
        );
        assert_eq!(
            Class::from_io(&Error::from_raw_os_error(libc::EHOSTUNREACH)),
            Class::Refused
        );
    }

    #[test]
    fn indexes_are_dense() {
        for (i, c) in Class::ALL.iter().enumerate() {
            assert_eq!(c.index(), i);
        }
    }
}
