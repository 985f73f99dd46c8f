//! What the script tests share: the repository, commands and their output, Docker turns
//! and clean-up guards.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The Docker tests share one engine and its swarm (one may initialise it and leave it at
/// the end): they take turns.
static DOCKER: std::sync::Mutex<()> = std::sync::Mutex::new(());

pub fn docker_turn() -> std::sync::MutexGuard<'static, ()> {
    DOCKER
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Fails the test, loudly, when `tool` is missing. The tests that need one are
/// `#[ignore]`d by default (the runner's summary counts them as ignored, never passed) and
/// run with `cargo test -- --include-ignored`, as CI does.
pub fn need(tool: &str, probe: &[&str]) {
    let ok = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "{tool} is missing or not working: this test needs it (.ci/run provides it)"
    );
}

pub fn sh(cmd: &mut Command) -> Output {
    cmd.current_dir(repo()).output().expect("run command")
}

pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn docker(args: &[&str]) -> String {
    let o = Command::new("docker").args(args).output().expect("docker");
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

pub fn assert_network_gone(stack: &str) {
    let net = Command::new("docker")
        .args(["network", "inspect", &format!("{stack}_appnet")])
        .output()
        .unwrap();
    assert!(!net.status.success(), "network {stack}_appnet left behind");
}

pub fn json(path: &Path) -> serde_json::Value {
    serde_json::from_str(
        &std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap()
}

/// Removes the look-alike containers and the image even when an assertion fails.
pub struct Leftovers {
    pub containers: Vec<String>,
    pub image: String,
}

impl Drop for Leftovers {
    fn drop(&mut self) {
        for c in &self.containers {
            let _ = Command::new("docker").args(["rm", "-f", c]).output();
        }
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.image])
            .output();
    }
}

/// The engine in a swarm for the test: a single-node one made (and left at the end) when it
/// was in none.
pub struct SwarmGuard {
    made: bool,
}

impl SwarmGuard {
    pub fn join() -> Self {
        let made = docker(&["info", "-f", "{{.Swarm.LocalNodeState}}"]) != "active";
        if made {
            docker(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
        }
        Self { made }
    }
}

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        if self.made {
            let _ = Command::new("docker")
                .args(["swarm", "leave", "--force"])
                .output();
            let _ = Command::new("docker")
                .args(["network", "rm", "docker_gwbridge"])
                .output();
        }
    }
}

/// Removes the service and its image, also on failure (before the swarm is left).
pub struct ServiceLeftovers {
    pub service: String,
    pub image: String,
}

impl Drop for ServiceLeftovers {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["service", "rm", &self.service])
            .output();
        let gone = Instant::now() + Duration::from_secs(30);
        while Instant::now() < gone
            && !docker(&[
                "ps",
                "-aq",
                "--filter",
                &format!("label=com.docker.swarm.service.name={}", self.service),
            ])
            .is_empty()
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.image])
            .output();
    }
}
