//! Bad input gets a clear message and exit code 2 before anything is sent; SLOs exit 3;
//! Ctrl-C writes the report and exits 130.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::*;

#[test]
fn invalid_flags_and_specs_exit_2_with_a_message() {
    let (addr, script) = scripted_server(Script::default());
    let url = format!("http://{addr}/");
    // An earlier run's directory, and a file where a directory is expected.
    let earlier = tempdir("earlier");
    std::fs::create_dir_all(&earlier).unwrap();
    std::fs::write(earlier.join("summary.json"), "{}").unwrap();
    let earlier_s = earlier.to_str().unwrap().to_string();
    let file_s = earlier.join("summary.json").to_str().unwrap().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec![
                "run",
                &url,
                "--duration",
                "10s",
                "--fault",
                "http:/kill,at=30s",
            ],
            "would first fire at 30.000 s, after the end of the 10.000 s run",
        ),
        (
            vec!["run", &url, "--fault", "http:/kill,evry=3s"],
            "unknown option 'evry'",
        ),
        (
            vec!["run", &url, "--fault", "http:http://bad host/kill,every=1s"],
            "not a URL",
        ),
        (
            vec!["run", &url, "--timeout", "18446744073709551615s"],
            "out of range (1ms to 1h)",
        ),
        (
            vec!["run", &url, "--fault", "http:/kill,poisson=1e20"],
            "out of range (0 to 7 days)",
        ),
        (
            vec![
                "run",
                &url,
                "--fault",
                "http:/kill,at=18446744073709551615s",
            ],
            "out of range (0 to 7 days)",
        ),
        (
            vec!["run", &url, "--out", &earlier_s],
            "already holds files",
        ),
        (
            vec![
                "run",
                &url,
                "--swarm-service",
                "app",
                "--fault",
                "partition:node-1,at=1s",
            ],
            "partition faults need --node-driver",
        ),
        (
            vec!["run", &url, "--fault", "drain:node-1,at=1s"],
            "drain faults need --swarm-service",
        ),
        (
            vec!["run", &url, "--node-driver", "ftp://x:1"],
            "neither exec:COMMAND nor http://HOST:PORT",
        ),
        (
            vec!["run", &url, "--engine", "node-1=/var/run/docker.sock"],
            "is not unix:///PATH or tcp://HOST:PORT",
        ),
        (
            vec!["run", &url, "--fault", "node-stop:node 1,at=1s"],
            "is not a node name",
        ),
        (
            vec![
                "node-agent",
                "--driver",
                "true",
                "--nodes",
                "node-1",
                "--token",
                "short",
            ],
            "at least 16 characters",
        ),
        (
            vec!["run", &url, "--out", &file_s],
            "is a file, not a directory",
        ),
        (
            vec!["run", &url, "--rate", "10", "--max-in-flight", "2M"],
            "out of range (1 to 1,000,000)",
        ),
        (
            vec!["run", &url, "--rate", "1M", "--timeout", "60s"],
            "requests can be in flight",
        ),
        (vec!["run", &url, "--rate", "fast"], "not a number"),
        (vec!["run", &url, "--rate", "0"], "greater than zero"),
        (vec!["run", &url, "--duration=-3s"], "not a duration"),
        (
            vec!["run", &url, "--fault", "nuke:/x,every=1s"],
            "unknown fault kind",
        ),
        (vec!["run", &url, "--fault", "http:/kill"], "no schedule"),
        (
            vec!["run", &url, "--fault", "http:/kill,every=1s,count=0"],
            "count=0",
        ),
        (
            vec!["run", &url, "--slo", "uptime>=99%"],
            "unknown SLO metric",
        ),
        (
            vec!["run", &url, "--rate", "10", "--concurrency", "4"],
            "cannot be used with",
        ),
        (vec!["run", "https://example.invalid/"], "only http://"),
        (vec!["run", "not a url"], "not a URL"),
        (
            vec!["run", &url, "--fault", "docker,every=1s"],
            "--swarm-service",
        ),
        (vec!["run", &url, "--replicas", "5"], "--swarm-service"),
        (
            vec![
                "run",
                &url,
                "--rate",
                "10",
                "--duration",
                "5s",
                "--vantage",
                "global",
            ],
            "needs --swarm-service",
        ),
        (
            vec![
                "run",
                &url,
                "--rate",
                "10",
                "--duration",
                "5s",
                "--vantage",
                "nodes:a;a",
            ],
            "named twice",
        ),
        (vec!["run", &url, "--vantage", "global"], "--rate"),
        (
            vec![
                "run",
                &url,
                "--rate",
                "10",
                "--duration",
                "5s",
                "--vantage",
                "global",
                "--share",
                "1/2",
            ],
            "cannot be used with",
        ),
        (
            vec![
                "run",
                &url,
                "--rate",
                "10",
                "--duration",
                "5s",
                "--vantage-lead",
                "1s",
            ],
            "5s to 10m",
        ),
        (vec!["run", &url, "--stream-to", "http://h:1"], "--out"),
        (
            vec![
                "run",
                &url,
                "--rate",
                "10",
                "--out",
                &earlier_s,
                "--force",
                "--stream-to",
                "http://h:1",
                "--shares-by-node",
                "node-0=2/2",
            ],
            "CRASHLAB_NODE names no node",
        ),
        (
            vec![
                "run",
                &url,
                "--rate",
                "10",
                "--out",
                &earlier_s,
                "--force",
                "--stream-to",
                "http://h:1",
                "--shares-by-node",
                "node-0",
            ],
            "NODE=K/N",
        ),
        (
            vec![
                "run",
                &url,
                "--out",
                &earlier_s,
                "--force",
                "--stream-to",
                "http://h:1",
            ],
            "needs the run's token",
        ),
        (
            vec![
                "gather",
                "--listen",
                "127.0.0.1:0",
                "--out",
                &earlier_s,
                "--expect",
                "0",
                "--token",
                "0123456789abcdef",
            ],
            "1..=1000",
        ),
        (
            vec![
                "gather",
                "--listen",
                "127.0.0.1:0",
                "--out",
                &earlier_s,
                "--expect",
                "2",
                "--token",
                "short",
            ],
            "at least 16 characters",
        ),
        (vec!["report", "/nonexistent/dir"], "summary.json"),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ];
    for (args, needle) in cases {
        let o = run(&args);
        assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(needle),
            "{args:?}: expected '{needle}' in: {}",
            stderr(&o)
        );
    }
    assert_eq!(
        script.answered.load(Ordering::SeqCst),
        0,
        "bad input must send nothing"
    );
    assert_eq!(
        std::fs::read_to_string(earlier.join("summary.json")).unwrap(),
        "{}",
        "the earlier run is untouched"
    );
    let _ = std::fs::remove_dir_all(&earlier);
}

#[test]
fn run_help_names_every_fault_kind() {
    let o = run(&["run", "--help"]);
    assert_eq!(code(&o), 0);
    let text = String::from_utf8_lossy(&o.stdout);
    for kind in ["http", "cmd", "docker", "update", "canary"] {
        assert!(
            text.contains(&format!("{kind} (")),
            "{kind} missing from: {text}"
        );
    }
}

#[test]
fn docker_faults_without_a_docker_socket_exit_2_before_any_load() {
    let (addr, script) = scripted_server(Script::default());
    let out = tempdir("nodocker");
    let o = runner()
        .args([
            "run",
            &format!("http://{addr}/"),
            "--swarm-service",
            "appserver",
            "--fault",
            "docker,every=1s",
            "--out",
            out.to_str().unwrap(),
        ])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot reach the Docker Engine"),
        "{}",
        stderr(&o)
    );
    assert_eq!(script.answered.load(Ordering::SeqCst), 0);
    assert!(!out.join("summary.json").exists());
}

#[test]
fn a_missed_slo_exits_3_and_a_met_one_exits_0() {
    let (addr, _) = scripted_server(Script {
        outage: Some((Duration::from_millis(200), Duration::from_millis(600))),
        ..Default::default()
    });
    let out = tempdir("slo");
    let o = run(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "200",
        "--duration",
        "1s",
        "--slo",
        "availability>=99.5%",
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    let s = summary(&out);
    assert_eq!(s["slo"]["passed"], false);
    let (addr, _) = scripted_server(Script::default());
    let o = run(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "200",
        "--duration",
        "500ms",
        "--slo",
        "availability>=99.5%,p99<=1s",
        "--out",
        out.to_str().unwrap(),
        "--force",
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        summary(&out)["slo"]["passed"],
        true,
        "--force wrote over the first run"
    );
}

#[test]
fn interrupt_writes_the_report_marked_interrupted_and_exits_130() {
    let (addr, script) = scripted_server(Script::default());
    let out = tempdir("interrupt");
    let mut child = runner()
        .args([
            "run",
            &format!("http://{addr}/"),
            "--rate",
            "300",
            "--duration",
            "60s",
            "--out",
            out.to_str().unwrap(),
            "-q",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("a second of load answered", Duration::from_secs(60), || {
        script.answered.load(Ordering::SeqCst) >= 300
    });
    let st = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let started = std::time::Instant::now();
    let status = child.wait().unwrap();
    // The run had 59 s to go: stopping promptly is well short of that on any machine.
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "interrupt must stop the run promptly: {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(130));
    let s = summary(&out);
    assert_eq!(s["interrupted"], true);
    let (sent, ok) = assert_reconciles(&s);
    // What was sent before the interrupt is what the server answered, every one.
    let answered = script.answered.load(Ordering::SeqCst);
    assert!(answered >= 300);
    assert_eq!((sent, ok), (answered, answered));
}
