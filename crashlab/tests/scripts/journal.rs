//! A runner killed mid-run on a real swarm: `chaos-runner restore DIR` puts back what the run
//! changed (replicas, an environment variable), from its journal alone, and a second restore
//! changes nothing.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

fn spec(service: &str) -> (String, String) {
    let replicas = docker(&[
        "service",
        "inspect",
        "-f",
        "{{.Spec.Mode.Replicated.Replicas}}",
        service,
    ]);
    let env = docker(&[
        "service",
        "inspect",
        "-f",
        "{{json .Spec.TaskTemplate.ContainerSpec.Env}}",
        service,
    ]);
    (replicas, env)
}

fn wait_until(what: &str, guard: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + guard;
    while !cond() {
        assert!(Instant::now() < end, "{what}: not within {guard:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs Docker; CI runs it (cargo test -- --include-ignored)"]
fn restore_puts_back_what_a_killed_run_changed_and_a_second_restore_changes_nothing() {
    need("docker", &["info"]);
    let _turn = docker_turn();
    let pid = std::process::id();
    let _swarm = SwarmGuard::join();
    let image = format!("crashlab/crashserver:e2e-journal-{pid}");
    let service = format!("crashlab-journal-{pid}");
    let _guard = ServiceLeftovers {
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
        "1",
        "--no-resolve-image",
        "--no-healthcheck",
        "--env",
        "VERSION=v1",
        &image,
    ]);
    let found = spec(&service);
    assert_eq!(found.0, "1");
    // The load goes to a crashserver on this host (the routing mesh does not forward here).
    let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    drop(held);
    let mut server = Command::new(repo().join("dist/image/crashserver"))
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("crashserver built by build-image.sh");
    let out = std::env::temp_dir().join(format!("crashlab-journal-{pid}"));
    let _ = std::fs::remove_dir_all(&out);
    let runner = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_crashlab"));
        c.arg("chaos-runner").current_dir(repo());
        c
    };
    let mut child = runner()
        .args([
            "run",
            &format!("http://127.0.0.1:{port}/"),
            "--swarm-service",
            &service,
            "--replicas",
            "3",
            "--rate",
            "20",
            "--duration",
            "120s",
            "--fault",
            "update:VERSION=v2,at=1s",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Killed once the update is under way (its firing is in the journal, and the service
    // is scaled and updated).
    let journal = out.join("journal/run.jsonl");
    wait_until("the update fault fired", Duration::from_secs(180), || {
        std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("{\"fault\":"))
    });
    wait_until("the service changed", Duration::from_secs(60), || {
        let (replicas, env) = spec(&service);
        replicas == "3" && env.contains("VERSION=v2")
    });
    child.kill().unwrap(); // SIGKILL: nothing of the runner's own clean-up runs
    child.wait().unwrap();
    assert_eq!(
        spec(&service).0,
        "3",
        "the killed run left the service scaled"
    );

    let o = runner()
        .args(["restore", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = text(&o);
    assert!(said.contains("restored: service"), "{said}");
    assert!(said.contains("replicas 3 -> 1"), "{said}");
    assert_eq!(spec(&service), found, "{said}");

    let o = runner()
        .args(["restore", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let said = text(&o);
    assert!(
        !said.contains("restored:"),
        "a second restore changed something: {said}"
    );
    assert!(said.contains("as the run found it"), "{said}");
    assert_eq!(spec(&service), found);

    // The killed run's report is rebuilt and says it is incomplete.
    let o = runner()
        .args(["report", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    let s = json(&out.join("summary.json"));
    assert!(s["incomplete"]["stopped_at_s"].as_f64().unwrap() > 0.0);
    assert!(
        s["swarm"]["restore"]
            .as_str()
            .unwrap()
            .contains("restored as found"),
        "{}",
        s["swarm"]
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&out);
}
