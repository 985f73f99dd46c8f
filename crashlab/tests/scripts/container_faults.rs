//! Container faults on a real swarm: `pause` freezes a task container and `for=` unpauses
//! it; `signal:SIGSTOP` stops its process and `for=` sends SIGCONT; the engine's own view
//! confirms each, and each is undone at the end of an interrupted run, or by `restore`
//! after a killed one.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn tasks(service: &str) -> Vec<String> {
    docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=com.docker.swarm.service.name={service}"),
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

fn paused(service: &str) -> usize {
    tasks(service)
        .iter()
        .filter(|id| docker(&["inspect", "-f", "{{.State.Paused}}", id]) == "true")
        .count()
}

/// Task containers whose main process the kernel says is stopped (`T`).
fn stopped(service: &str) -> usize {
    tasks(service)
        .iter()
        .filter(|id| {
            let pid = docker(&["inspect", "-f", "{{.State.Pid}}", id]);
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .unwrap_or_default()
                .lines()
                .any(|l| l.starts_with("State:") && l.contains("T (stopped)"))
        })
        .count()
}

fn wait_until(what: &str, guard: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + guard;
    while !cond() {
        assert!(Instant::now() < end, "{what}: not within {guard:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A service of 2 replicas, a crashserver on this host for the load (the routing mesh does
/// not forward here), and a runner command; everything removed at the end.
struct Bench {
    service: String,
    port: u16,
    server: std::process::Child,
    _guard: ServiceLeftovers,
    _swarm: SwarmGuard,
}

impl Bench {
    fn new(name: &str) -> Self {
        let pid = std::process::id();
        let swarm = SwarmGuard::join();
        let image = format!("crashlab/crashserver:e2e-{name}-{pid}");
        let service = format!("crashlab-{name}-{pid}");
        let guard = ServiceLeftovers {
            service: service.clone(),
            image: image.clone(),
        };
        let o = sh(Command::new("scripts/build-image.sh").arg(&image));
        assert!(o.status.success(), "{}", text(&o));
        docker(&[
            "service",
            "create",
            "--quiet",
            "--detach",
            "--name",
            &service,
            "--replicas",
            "2",
            "--no-resolve-image",
            "--no-healthcheck",
            &image,
        ]);
        wait_until("2 replicas running", Duration::from_secs(60), || {
            tasks(&service).len() == 2
        });
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        drop(held);
        let server = Command::new(repo().join("dist/image/crashserver"))
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("crashserver built by build-image.sh");
        Self {
            service,
            port,
            server,
            _guard: guard,
            _swarm: swarm,
        }
    }

    fn runner(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_crashlab"));
        c.arg("chaos-runner").current_dir(repo());
        c
    }

    fn run(&self, out: &std::path::Path, duration: &str, faults: &[&str]) -> Command {
        let mut c = self.runner();
        c.args([
            "run",
            &format!("http://127.0.0.1:{}/", self.port),
            "--swarm-service",
            &self.service,
            "--rate",
            "20",
            "--duration",
            duration,
            "--out",
            out.to_str().unwrap(),
            "-q",
        ]);
        for f in faults {
            c.args(["--fault", f]);
        }
        c.stdout(Stdio::null()).stderr(Stdio::piped());
        c
    }
}

impl Drop for Bench {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

#[test]
#[ignore = "needs Docker; CI runs it (cargo test -- --include-ignored)"]
fn pause_and_sigstop_take_hold_and_are_undone_after_for_on_interrupt_and_by_restore() {
    need("docker", &["info"]);
    let _turn = docker_turn();
    let b = Bench::new("cfault");
    let out = std::env::temp_dir().join(format!("crashlab-cfault-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);

    // for=: paused from 1 s for 3 s, then SIGSTOPped from 5 s for 3 s.
    let child = b
        .run(
            &out.join("for"),
            "10s",
            &["pause,at=1s,for=3s", "signal:SIGSTOP,at=5s,for=3s"],
        )
        .spawn()
        .unwrap();
    wait_until("a task container paused", Duration::from_secs(60), || {
        paused(&b.service) == 1
    });
    wait_until("unpaused after for=", Duration::from_secs(30), || {
        paused(&b.service) == 0
    });
    wait_until("a task's process stopped", Duration::from_secs(30), || {
        stopped(&b.service) == 1
    });
    wait_until("continued after for=", Duration::from_secs(30), || {
        stopped(&b.service) == 0
    });
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = json(&out.join("for/summary.json"));
    let faults = s["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 2, "{faults:?}");
    for f in faults {
        assert_eq!(f["ok"], true, "{f}");
        let held = f["restored_at_s"].as_f64().unwrap() - f["at_s"].as_f64().unwrap();
        assert!(held >= 3.0, "undone {held} s after firing: {f}");
    }
    // Without a health check swarm never saw either: nothing died, nothing was replaced.
    for f in faults {
        assert_eq!(f["swarm"]["noticed_s"], serde_json::Value::Null, "{f}");
        assert!(f["swarm"]["watched_s"].as_f64().unwrap() > 2.0, "{f}");
    }
    let md = std::fs::read_to_string(out.join("for/report.md")).unwrap();
    assert!(md.contains("never ("), "{md}");
    let journal = std::fs::read_to_string(out.join("for/journal/run.jsonl")).unwrap();
    assert_eq!(journal.matches("{\"change\":{\"container\":").count(), 2);
    assert_eq!(journal.matches("{\"undone\":{\"container\":").count(), 2);

    // No for=: held until the end; an interrupted run lets it go.
    let child = b
        .run(&out.join("interrupted"), "60s", &["pause,at=1s"])
        .spawn()
        .unwrap();
    wait_until("a task container paused", Duration::from_secs(60), || {
        paused(&b.service) == 1
    });
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(
        paused(&b.service),
        0,
        "an interrupted run left a container paused"
    );

    // A killed runner leaves it paused; restore lets it go, once.
    let mut child = b
        .run(&out.join("killed"), "60s", &["pause,at=1s"])
        .spawn()
        .unwrap();
    wait_until("a task container paused", Duration::from_secs(60), || {
        paused(&b.service) == 1
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(paused(&b.service), 1, "SIGKILL runs no clean-up");
    let o = b
        .runner()
        .args(["restore", out.join("killed").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("unpause"), "{}", text(&o));
    assert_eq!(paused(&b.service), 0);
    let o = b
        .runner()
        .args(["restore", out.join("killed").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!text(&o).contains("restored:"), "{}", text(&o));

    // With a health check (every 1 s, 2 retries), a stopped process is noticed (unhealthy),
    // then killed: after the stop grace period, as SIGTERM cannot end a stopped process.
    docker(&[
        "service",
        "update",
        "--quiet",
        "--no-healthcheck=false",
        "--health-interval",
        "1s",
        "--health-retries",
        "2",
        "--health-timeout",
        "1s",
        &b.service,
    ]);
    wait_until("2 healthy replicas", Duration::from_secs(120), || {
        tasks(&b.service).len() == 2
            && tasks(&b.service)
                .iter()
                .all(|id| docker(&["inspect", "-f", "{{.State.Health.Status}}", id]) == "healthy")
    });
    let o = b
        .run(&out.join("health"), "25s", &["signal:SIGSTOP,at=1s"])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = json(&out.join("health/summary.json"));
    let sw = &s["faults"][0]["swarm"];
    let noticed = sw["noticed_s"]
        .as_f64()
        .expect("swarm noticed the stopped process");
    let unhealthy = sw["unhealthy_s"]
        .as_f64()
        .expect("through its health check");
    let died = sw["died_s"].as_f64().expect("and killed it");
    println!("SIGSTOP with a health check: unhealthy after {unhealthy:.2} s, died after {died:.2} s (exit {})", sw["exit_code"]);
    assert_eq!(noticed, unhealthy, "{sw}");
    assert!(died > unhealthy, "{sw}");
    assert_eq!(
        sw["exit_code"].as_i64(),
        Some(137),
        "killed, not ended by SIGTERM: {sw}"
    );
    assert!(
        sw["started_s"].as_f64().unwrap() > died,
        "a replacement: {sw}"
    );
    assert_eq!(
        stopped(&b.service),
        0,
        "the end of the run left nothing stopped"
    );
    let _ = std::fs::remove_dir_all(&out);
}

/// What the applet (over netlink) and iproute2's `tc` see in each task container's network
/// namespace, entered from the host.
fn qdiscs(service: &str) -> Vec<String> {
    tasks(service)
        .iter()
        .map(|id| {
            let pid = docker(&["inspect", "-f", "{{.State.Pid}}", id]);
            let o = Command::new("nsenter")
                .args(["-t", &pid, "-n"])
                .arg(repo().join("dist/image/chaos-runner"))
                .args(["netem", "show"])
                .output()
                .expect("nsenter");
            let tc = Command::new("nsenter")
                .args(["-t", &pid, "-n", "tc", "qdisc", "show", "dev", "eth0"])
                .output()
                .expect("nsenter tc");
            format!("{}{}", text(&o), text(&tc))
        })
        .collect()
}

fn degraded(service: &str) -> usize {
    qdiscs(service)
        .iter()
        .filter(|q| q.contains("eth0: tbf rate=64000bit") || q.contains("eth0: netem"))
        .count()
}

fn helpers() -> String {
    docker(&["ps", "-a", "-q", "--filter", "label=crashlab.helper"])
}

#[test]
#[ignore = "needs Docker and root (nsenter); CI runs it (cargo test -- --include-ignored)"]
fn netem_degrades_one_task_through_a_helper_and_leaves_no_qdisc_and_no_helper() {
    need("docker", &["info"]);
    let _turn = docker_turn();
    let b = Bench::new("netem");
    let out = std::env::temp_dir().join(format!("crashlab-netem-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(degraded(&b.service), 0, "{:?}", qdiscs(&b.service));

    // A rate limit (netem's, or a token bucket where the kernel has no netem) from 1 s for
    // 3 s; delay and loss where the kernel has netem, else a clear refusal.
    let child = b
        .run(
            &out.join("for"),
            "8s",
            &[
                "netem:rate=64kbit,at=1s,for=3s",
                "netem:delay=100ms;loss=5%,at=5s,for=1s",
            ],
        )
        .spawn()
        .unwrap();
    wait_until("a task's network degraded", Duration::from_secs(60), || {
        degraded(&b.service) == 1
    });
    // The qdisc is in place before its helper has exited and been removed: wait for that.
    wait_until(
        "the helper removed once it has set it",
        Duration::from_secs(20),
        || helpers().is_empty(),
    );
    wait_until("put back after for=", Duration::from_secs(30), || {
        degraded(&b.service) == 0
    });
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let s = json(&out.join("for/summary.json"));
    let faults = s["faults"].as_array().unwrap();
    let rate = &faults[0];
    assert_eq!(rate["ok"], true, "{rate}");
    assert!(
        rate["outcome"]
            .as_str()
            .unwrap()
            .contains("set netem rate=64000bit on 1 of 2"),
        "{rate}"
    );
    let held = rate["restored_at_s"].as_f64().unwrap() - rate["at_s"].as_f64().unwrap();
    assert!(held >= 3.0, "undone {held} s after firing: {rate}");
    let delay = &faults[1];
    let kernel_has_netem = delay["ok"] == true;
    if !kernel_has_netem {
        assert!(
            delay["outcome"]
                .as_str()
                .unwrap()
                .contains("this kernel has no netem qdisc"),
            "{delay}"
        );
    }
    println!("kernel has netem: {kernel_has_netem}; {}", delay["outcome"]);
    assert!(helpers().is_empty(), "helpers left: {}", helpers());
    let journal = std::fs::read_to_string(out.join("for/journal/run.jsonl")).unwrap();
    assert!(journal.contains("\"undo\":\"netem-clear\""), "{journal}");
    // Whatever was written down before it was tried is marked undone: made and put back,
    // or refused by the kernel.
    assert_eq!(
        journal.matches("{\"change\":{\"container\":").count(),
        journal.matches("{\"undone\":{\"container\":").count(),
        "{journal}"
    );

    // Held to the end: an interrupted run clears it, also when interrupted while its helper
    // is still at work (the firing is let finish, then undone; CI once caught a run that
    // abandoned it there and left the qdisc).
    let child = b
        .run(
            &out.join("interrupted"),
            "60s",
            &["netem:rate=64kbit,at=1s"],
        )
        .spawn()
        .unwrap();
    wait_until("a helper at work", Duration::from_secs(60), || {
        !helpers().is_empty() || degraded(&b.service) == 1
    });
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    assert_eq!(degraded(&b.service), 0, "{:?}", qdiscs(&b.service));
    assert!(helpers().is_empty(), "helpers left: {}", helpers());

    // A killed runner leaves it; restore clears it.
    let mut child = b
        .run(&out.join("killed"), "60s", &["netem:rate=64kbit,at=1s"])
        .spawn()
        .unwrap();
    wait_until("a task's network degraded", Duration::from_secs(60), || {
        degraded(&b.service) == 1
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(degraded(&b.service), 1, "SIGKILL runs no clean-up");
    let o = b
        .runner()
        .args(["restore", out.join("killed").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(text(&o).contains("netem-clear"), "{}", text(&o));
    assert_eq!(degraded(&b.service), 0, "{:?}", qdiscs(&b.service));
    assert!(helpers().is_empty(), "helpers left: {}", helpers());
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
#[ignore = "needs Docker; CI runs it (cargo test -- --include-ignored)"]
fn a_change_whose_firing_was_cut_short_by_the_end_of_the_load_is_put_back_at_the_end() {
    need("docker", &["info"]);
    let _turn = docker_turn();
    let b = Bench::new("cutshort");
    let out = std::env::temp_dir().join(format!("crashlab-cutshort-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    // A node driver whose stop hangs past the 5 s a firing may still take when the load
    // ends: the stop is written down, then abandoned; the run must still start the node.
    let log = out.join("driver.log");
    let script = out.join("driver.sh");
    std::fs::write(
        &script,
        format!(
            "echo \"$1 $2 begin\" >> {log}\n[ \"$1\" = stop ] && sleep 30\necho \"$1 $2 end\" >> {log}\n",
            log = log.display()
        ),
    )
    .unwrap();
    let o = b
        .run(&out.join("run"), "2s", &["node-stop:no-such-node,at=1s"])
        .args(["--node-driver", &format!("exec:sh {}", script.display())])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(
        calls,
        "stop no-such-node begin\nstart no-such-node begin\nstart no-such-node end\n",
        "{}",
        text(&o)
    );
    let s = json(&out.join("run/summary.json"));
    let f = &s["faults"][0];
    assert!(
        f["outcome"].as_str().unwrap().starts_with("cut short"),
        "{f}"
    );
    assert!(
        f["restore"]
            .as_str()
            .unwrap()
            .contains("no-such-node start"),
        "{f}"
    );
    let journal = std::fs::read_to_string(out.join("run/journal/run.jsonl")).unwrap();
    assert_eq!(
        journal.matches("{\"change\":{\"node\":").count(),
        journal.matches("{\"undone\":{\"node\":").count(),
        "{journal}"
    );
    // Nothing is left for restore to put back.
    let o = b
        .runner()
        .args(["restore", out.join("run").to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), calls);
    let _ = std::fs::remove_dir_all(&out);
}
