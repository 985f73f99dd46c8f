//! Command-line and environment configuration (clap derive, every flag has an env twin).

use std::net::IpAddr;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use crashlab_common::value::{self, ValueError};

/// Exit code for a malformed configuration (clap's own usage-error code).
pub const EXIT_CONFIG: u8 = 2;
/// Exit code when the server fails at run time (for example the port is taken).
pub const EXIT_RUNTIME: u8 = 1;

#[derive(Debug, Parser)]
#[command(
    name = "crashserver",
    version,
    about = "The scaling lecture's self-healing demo service.",
    long_about = "The scaling lecture's self-healing demo service.\n\n\
GET / answers with the replica's identity; GET /status answers and then the process \
crashes CRASH_DELAY later; GET /kill crashes at once. /health, /ready and /metrics \
serve orchestrators and Prometheus. Every response carries X-Instance.\n\n\
Exit codes: 0 after a graceful SIGTERM/SIGINT shutdown; EXIT_CODE (default 1) after a \
crash; 1 on a run-time failure such as a port in use; 2 on malformed configuration."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub config: Config,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe this container's own /health on 127.0.0.1:PORT; exit 0 if it answers 200 within a second, else 1.
    /// This is what the image's HEALTHCHECK runs (a scratch image has no curl).
    Healthcheck,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Config {
    /// TCP port to listen on (0 picks a free port, logged at start-up).
    #[arg(long, env = "PORT", default_value_t = 8080)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, env = "BIND", default_value = "0.0.0.0")]
    pub bind: IpAddr,

    /// Serving threads, each with its own single-threaded runtime, all accepting from the
    /// one listening socket (0: one per core this process may use).
    #[arg(long, env = "THREADS", default_value_t = 0, value_parser = clap::value_parser!(u16).range(0..=1024))]
    pub threads: u16,

    /// Delay between a /status answer and the crash (humane durations: 3s, 500ms, 1m).
    #[arg(long, env = "CRASH_DELAY", default_value = "3s", value_parser = parse_duration)]
    pub crash_delay: Duration,

    /// When set, /status and /kill require this token (Authorization: Bearer or ?token=); else 403.
    #[arg(long, env = "KILL_TOKEN", hide_env_values = true)]
    pub kill_token: Option<String>,

    /// Process exit code for crashes (/status, /kill, --crash-after). Must be non-zero, so that
    /// an on-failure restart policy restarts the task.
    #[arg(long, env = "EXIT_CODE", default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..))]
    pub exit_code: u8,

    /// Log format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Human)]
    pub log_format: LogFormat,

    /// Log every answered request (an access log): when it arrived (unix microseconds), how
    /// long its answer took, method, route and status. A server-side record to check a
    /// client's counts and rates against.
    #[arg(long, env = "ACCESS_LOG", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub access_log: bool,

    /// Version reported in X-Version, the page and /metrics (default: the build's version).
    #[arg(long = "app-version", env = "VERSION", value_parser = parse_version)]
    pub app_version: Option<String>,

    /// The image's version, set when it was built: reported when VERSION is empty (as a
    /// compose file that passes VERSION through leaves it).
    #[arg(long, env = "IMAGE_VERSION", hide = true, value_parser = parse_version)]
    pub image_version: Option<String>,

    /// Most connections open at once (over all threads); further clients wait in the listen
    /// backlog until one closes. 1 to 1,000,000.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,

    /// A connection must send a request's whole header within this long of being opened or
    /// of its previous answer, else it is closed (a slow or idle client: also the keep-alive
    /// idle timeout). 100ms to 1h.
    #[arg(long, env = "HEADER_TIMEOUT", default_value = "5s", value_parser = parse_header_timeout)]
    pub header_timeout: Duration,

    /// Longest time to drain in-flight requests after SIGTERM/SIGINT before exiting anyway.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Fault: sleep this long before listening (a slow boot).
    #[arg(long, env = "STARTUP_DELAY", default_value = "0s", value_parser = parse_duration, help_heading = "Fault injection")]
    pub startup_delay: Duration,

    /// Fault: fixed latency added to / and /status.
    #[arg(long, env = "LATENCY", default_value = "0s", value_parser = parse_duration, help_heading = "Fault injection")]
    pub latency: Duration,

    /// Fault: random extra latency, uniform in [0, JITTER], added to / and /status.
    #[arg(long, env = "LATENCY_JITTER", default_value = "0s", value_parser = parse_duration, help_heading = "Fault injection")]
    pub latency_jitter: Duration,

    /// Fault: share of / and /status requests answered 500 (0.1 or 10%).
    #[arg(long, env = "ERROR_RATE", default_value = "0", value_parser = parse_ratio, help_heading = "Fault injection")]
    pub error_rate: f64,

    /// Fault: crash (like /kill) after answering this many / and /status requests.
    #[arg(long, env = "CRASH_AFTER", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Fault injection")]
    pub crash_after: Option<u64>,

    /// Fault: /health answers 503 (a bad release that an orchestrator should reject or roll back).
    #[arg(long, env = "UNHEALTHY", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", help_heading = "Fault injection")]
    pub unhealthy: bool,
}

impl Config {
    /// Configuration with every default, for tests and embedding.
    pub fn defaults() -> Self {
        Cli::parse_from(["crashserver"]).config
    }

    /// VERSION, else the image's version, else the build's.
    pub fn version(&self) -> String {
        [&self.app_version, &self.image_version]
            .into_iter()
            .flatten()
            .find(|v| !v.trim().is_empty())
            .cloned()
            .unwrap_or_else(|| env!("CARGO_PKG_VERSION").to_string())
    }
}

/// The longest of every delay, timeout and grace period: an hour.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Parses humane durations (`3s`, `250ms`, `1m 30s`); a bare number means seconds. At most
/// [`MAX_DURATION`].
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    value::duration(s, MAX_DURATION).map_err(|e| match e {
        ValueError::OutOfRange => format!("'{}' is longer than the 1h allowed", s.trim()),
        ValueError::Malformed => format!(
            "'{}' is not a duration from 0 to 1h like 3s or 250ms",
            s.trim()
        ),
    })
}

/// A version label: at most 64 printable characters (it is a header value and a metric label).
pub fn parse_version(s: &str) -> Result<String, String> {
    if s.len() > 64 || !s.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
        return Err(format!(
            "'{}' is not a version: at most 64 printable ASCII characters",
            s.chars().take(80).collect::<String>()
        ));
    }
    Ok(s.to_string())
}

/// The header timeout: 100ms to 1h.
pub fn parse_header_timeout(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d < Duration::from_millis(100) {
        return Err(format!("'{s}' is shorter than the 100ms allowed"));
    }
    Ok(d)
}

/// Parses a ratio in [0, 1], written as `0.25` or `25%`.
pub fn parse_ratio(s: &str) -> Result<f64, String> {
    value::ratio(s).map_err(|e| match e {
        ValueError::OutOfRange => format!("'{s}' is outside 0..=1 (0%..=100%)"),
        ValueError::Malformed => format!("'{s}' is not a ratio like 0.1 or 10%"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_humane_and_bare_seconds() {
        assert_eq!(parse_duration("3s").unwrap(), Duration::from_secs(3));
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn an_empty_version_falls_back_to_the_images() {
        let v = |args: &[&str]| {
            let mut all = vec!["crashserver"];
            all.extend_from_slice(args);
            Cli::parse_from(all).config.version()
        };
        assert_eq!(v(&["--app-version", "v2", "--image-version", "v1"]), "v2");
        assert_eq!(v(&["--app-version", "", "--image-version", "v1"]), "v1");
        assert_eq!(v(&["--app-version", " "]), env!("CARGO_PKG_VERSION"));
    }

    #[test]
    fn ratios_accept_fraction_and_percent() {
        assert_eq!(parse_ratio("0.25").unwrap(), 0.25);
        assert_eq!(parse_ratio("10%").unwrap(), 0.1);
        assert!(parse_ratio("1.5").is_err());
        assert!(parse_ratio("x").is_err());
    }

    #[test]
    fn defaults_match_the_lecture() {
        let c = Config::defaults();
        assert_eq!(c.port, 8080);
        assert_eq!(c.crash_delay, Duration::from_secs(3));
        assert_eq!(c.exit_code, 1);
        assert!(c.kill_token.is_none());
    }
}

#[cfg(test)]
mod no_panic {
    use super::*;
    use clap::Parser;
    use proptest::prelude::*;

    proptest! {
        /// Any value for any setting: a configuration or an error, never a panic.
        #[test]
        fn any_setting_parses_or_errs(
            flag in "--(port|bind|threads|crash-delay|exit-code|shutdown-grace|startup-delay|latency|latency-jitter|error-rate|crash-after|max-connections|header-timeout|log-format|access-log|unhealthy)",
            value in "([ -~]{0,24}|[0-9]{1,25}(|s|ms|h|d|e20|%))",
        ) {
            let _ = Cli::try_parse_from(["crashserver", &flag, &value]);
        }
    }
}
