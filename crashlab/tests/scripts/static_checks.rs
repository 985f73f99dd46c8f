//! Checks that need no engine: shellcheck, the portability of the host scripts, the image
//! build plan and the cluster script's dry run.

use std::process::Command;

use crate::support::*;

#[test]
#[ignore = "needs shellcheck; CI runs it (cargo test -- --include-ignored)"]
fn scripts_are_clean_under_shellcheck() {
    need("shellcheck", &["--version"]);
    // Every script, so that a new one cannot slip past.
    let mut files: Vec<String> = vec![".ci/run".into()];
    for dir in ["scripts", "scripts/lib"] {
        for e in std::fs::read_dir(repo().join(dir)).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".sh") {
                files.push(format!("{dir}/{name}"));
            }
        }
    }
    files.sort();
    assert!(files.len() >= 12, "{files:?}");
    let o = sh(Command::new("shellcheck").arg("-x").args(&files));
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn host_scripts_need_only_bash_3_2_and_bsd_tools() {
    let o = sh(&mut Command::new("scripts/check-portable.sh"));
    assert!(o.status.success(), "{}", text(&o));
    // The check itself catches what it lists.
    let bad = std::env::temp_dir().join(format!("crashlab-not-portable-{}.sh", std::process::id()));
    std::fs::write(
        &bad,
        "declare -A ips\nmapfile -t a < f\necho \"${x,,}\"\nstat -c %g f\nsed -i s/a/b/ f\nreadlink -f x\ndate -d now\ndocker service update --detach=true x\nnames | grep -qx a\nls | head -n1\n",
    )
    .unwrap();
    let o = sh(Command::new("scripts/check-portable.sh").arg(&bad));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    for line in [1, 2, 3, 4, 5, 6, 7, 9, 10] {
        assert!(
            t.contains(&format!("{}:{line}:", bad.display())),
            "line {line} not caught: {t}"
        );
    }
    assert!(
        !t.contains(&format!("{}:8:", bad.display())),
        "'update --' is not GNU date: {t}"
    );
    let _ = std::fs::remove_file(&bad);
}

/// What build-image.sh would do on a machine with these facts.
fn build_plan(os: &str, arch: &str, engine: &str, cargo: &str) -> String {
    let o = sh(Command::new("scripts/build-image.sh")
        .arg("--plan")
        .env("CRASHLAB_HOST_OS", os)
        .env("CRASHLAB_HOST_ARCH", arch)
        .env("CRASHLAB_ENGINE_ARCH", engine)
        .env("CRASHLAB_HAVE_CARGO", cargo));
    assert!(o.status.success(), "{}", text(&o));
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

#[test]
fn the_image_is_built_on_the_host_only_where_that_binary_runs_in_the_engine() {
    let path = |os, arch, engine, cargo| {
        let p = build_plan(os, arch, engine, cargo);
        p.split('\t').next().unwrap().to_string()
    };
    // This project's machine, and an arm64 Linux board or cloud machine.
    assert_eq!(
        path("Linux", "x86_64", "x86_64", "yes"),
        "host x86_64-unknown-linux-gnu"
    );
    assert_eq!(
        path("Linux", "aarch64", "aarch64", "yes"),
        "host aarch64-unknown-linux-gnu"
    );
    assert_eq!(
        path("Linux", "arm64", "aarch64", "yes"),
        "host aarch64-unknown-linux-gnu"
    );
    // Docker Desktop on Apple Silicon or Intel Macs, and on Windows (WSL2 says Linux, and
    // then decides by architecture and Rust like any Linux host).
    assert_eq!(path("Darwin", "arm64", "aarch64", "yes"), "docker");
    assert_eq!(path("Darwin", "x86_64", "x86_64", "no"), "docker");
    assert_eq!(path("MINGW64_NT-10.0", "x86_64", "x86_64", "yes"), "docker");
    // An engine of another architecture, or no Rust on the host.
    assert_eq!(path("Linux", "x86_64", "aarch64", "yes"), "docker");
    assert_eq!(path("Linux", "aarch64", "x86_64", "yes"), "docker");
    assert_eq!(path("Linux", "x86_64", "x86_64", "no"), "docker");
    assert!(build_plan("Darwin", "arm64", "aarch64", "yes").contains("linux/aarch64"));
    // No engine at all: it says so, and a build refuses with exit 2.
    let o = sh(Command::new("scripts/build-image.sh")
        .arg("--plan")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert!(text(&o).starts_with("none\t"), "{}", text(&o));
    let o = sh(Command::new("scripts/build-image.sh")
        .arg("crashlab/crashserver:never")
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock"));
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("does not answer"), "{}", text(&o));
}

#[test]
#[ignore = "needs jq; CI runs it (cargo test -- --include-ignored)"]
fn cluster_dry_run_prints_every_api_call_and_remote_command() {
    need("jq", &["--version"]);
    let o = sh(Command::new("scripts/cluster.sh")
        .args(["--dry-run", "create", "--workers", "2", "--tag", "lecture"])
        .env_remove("DIGITALOCEAN_TOKEN"));
    assert!(o.status.success(), "{}", text(&o));
    let t = text(&o);
    assert_eq!(
        t.matches("API  POST https://api.digitalocean.com/v2/droplets ")
            .count(),
        3,
        "{t}"
    );
    assert!(t.contains(r#""tags":["lecture"]"#));
    // The swarm's ports are open to the other nodes' private addresses only; 2376 is shut.
    assert!(t.contains("ufw allow from <worker1-private-ip> to any port 2377 proto tcp"));
    assert!(t.contains("ufw allow from <swarm-manager-private-ip> to any port 4789 proto udp"));
    assert!(!t.contains("ufw allow 2377") && !t.contains("ufw allow 4789") && !t.contains("2376"));
    assert!(t.contains(
        "SSH  root@<swarm-manager-ip>: docker swarm init --advertise-addr <swarm-manager-private-ip> --data-path-addr <swarm-manager-private-ip>"
    ));
    assert_eq!(
        t.matches("--token <worker-join-token> <swarm-manager-private-ip>:2377")
            .count(),
        2
    );
    assert!(t.contains("docker swarm join --advertise-addr <worker2-private-ip> --data-path-addr <worker2-private-ip>"));

    let o = sh(Command::new("scripts/cluster.sh").args([
        "--dry-run",
        "deploy",
        "--replicas",
        "5",
        "--load-image",
    ]));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains("SCP  compose.yaml -> root@<swarm-manager-ip>:/root/compose.yaml"));
    assert!(t.contains("REPLICAS=5 docker stack deploy -c /root/compose.yaml crashlab"));
    // A kill token by default, on the remote command's stdin, printed once for the user.
    assert!(t.contains("(secret on stdin): read -r KILL_TOKEN && export KILL_TOKEN && "));
    let token = t
        .lines()
        .find_map(|l| l.strip_prefix("kill token (shown once; /kill and /status need it): "))
        .expect("the token is printed");
    assert_eq!(
        t.matches(token).count(),
        2,
        "printed once, and in the suggested command: {t}"
    );
    assert!(t.contains(&format!("KILL_TOKEN={token} chaos-runner run")));
    let o =
        sh(Command::new("scripts/cluster.sh").args(["--dry-run", "deploy", "--image", "x;reboot"]));
    assert_eq!(
        o.status.code(),
        Some(2),
        "an image reference goes into a remote shell"
    );
    assert!(
        t.contains("docker save crashlab/crashserver:latest | ssh root@<worker2-ip> docker load")
    );

    let o = sh(Command::new("scripts/cluster.sh")
        .args(["--dry-run", "destroy", "--tag", "lecture"])
        .stdin(std::process::Stdio::null()));
    assert_eq!(
        o.status.code(),
        Some(2),
        "destroy without --yes and no terminal to ask on"
    );
    assert!(!text(&o).contains("DELETE"));
    let o = sh(Command::new("scripts/cluster.sh").args([
        "--dry-run",
        "destroy",
        "--tag",
        "lecture",
        "--yes",
    ]));
    assert!(
        text(&o).contains("API  DELETE https://api.digitalocean.com/v2/droplets?tag_name=lecture")
    );

    // Without a token (and not a dry run) it refuses before calling anything.
    let o = sh(Command::new("scripts/cluster.sh")
        .arg("create")
        .env_remove("DIGITALOCEAN_TOKEN"));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("DIGITALOCEAN_TOKEN is not set"));
    let o =
        sh(Command::new("scripts/cluster.sh").args(["--dry-run", "create", "--workers", "two"]));
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn cluster_node_driver_and_engines_dry_run() {
    // The node driver chaos-runner calls as `cluster.sh node VERB NODE`.
    let o = sh(Command::new("scripts/cluster.sh").args(["--dry-run", "node", "stop", "worker1"]));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains(r#"POST https://api.digitalocean.com/v2/droplets/<worker1-id>/actions {"type":"power_off"}"#), "{t}");
    let o = sh(Command::new("scripts/cluster.sh").args(["--dry-run", "node", "start", "worker1"]));
    assert!(text(&o).contains(r#"{"type":"power_on"}"#));
    let o = sh(Command::new("scripts/cluster.sh").args(["--dry-run", "node", "cut", "worker2"]));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for peer in ["<swarm-manager-private-ip>", "<worker1-private-ip>"] {
        assert!(
            t.contains(&format!(
                "iptables -I INPUT -s {peer} -m comment --comment crashlab-cut -j DROP"
            )),
            "{t}"
        );
    }
    assert!(
        !t.contains("-s <worker2-private-ip>"),
        "a node never cuts itself off from itself"
    );
    let o = sh(Command::new("scripts/cluster.sh").args(["--dry-run", "node", "heal", "worker2"]));
    assert!(text(&o).contains("iptables -D INPUT -s <worker1-private-ip>"));
    for bad in [
        &["node", "reboot", "worker1"][..],
        &["node", "stop", "worker9"][..],
        &["node", "stop"][..],
    ] {
        let o = sh(Command::new("scripts/cluster.sh")
            .arg("--dry-run")
            .args(bad));
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
    }
    // Each node's socket over SSH, and the flags that give it to chaos-runner.
    let o = sh(Command::new("scripts/cluster.sh").args(["--dry-run", "engines"]));
    let t = text(&o);
    assert!(t.contains("ssh -nNT -o ExitOnForwardFailure=yes -L /tmp/crashlab-worker1.sock:/var/run/docker.sock root@<worker1-ip>"), "{t}");
    assert!(
        t.contains("--engine worker2=unix:///tmp/crashlab-worker2.sock"),
        "{t}"
    );
    assert!(
        t.contains("--node-driver 'exec:scripts/cluster.sh --tag crashlab node'"),
        "{t}"
    );
}

/// `cluster.sh vantage`: the coordinator in a container on the manager, on the stack's
/// network with the manager's engine, `--vantage global` with the faults asked, the kill token
/// on stdin only, the run copied back; node faults and bad input refused before anything.
#[test]
fn cluster_vantage_dry_run_coordinates_from_the_manager() {
    let token = "0123456789abcdef0123";
    let out = std::env::temp_dir().join(format!("crashlab-cv-{}", std::process::id()));
    let o = sh(Command::new("scripts/cluster.sh").args([
        "--dry-run",
        "vantage",
        "--rate",
        "200",
        "--duration",
        "30s",
        "--fault",
        "http:/kill,every=10s",
        "--kill-token",
        token,
        "--image",
        "crashlab/crashserver:v1",
        "--out",
        out.to_str().unwrap(),
    ]));
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    for want in [
        "SSH  root@<swarm-manager-ip> (secret on stdin): mkdir -p /root/crashlab-runs/vantage-",
        "read -r KILL_TOKEN",
        "docker run --rm --network crashlab_appnet -v /var/run/docker.sock:/var/run/docker.sock",
        "--entrypoint /usr/local/bin/chaos-runner crashlab/crashserver:v1 run --out /run-out http://tasks.appserver:8080/ --swarm-service crashlab_appserver --vantage global --rate 200 --duration 30s",
        "--fault http:/kill\\,every=10s",
        "SCP  root@<swarm-manager-ip>:/root/crashlab-runs/vantage-",
    ] {
        assert!(t.contains(want), "{want}: {t}");
    }
    assert!(!t.contains(token), "the token is on no command line: {t}");
    assert!(!out.exists(), "a dry run writes nothing here");
    for (bad, said) in [
        (
            &["--fault", "partition:worker1,at=10s"][..],
            "node faults need",
        ),
        (&["--fault", "http:/kill $(reboot)"][..], "holds characters"),
        (&["--rate", "0"][..], "--rate takes"),
        (&["--duration", "2h"][..], "--duration takes"),
    ] {
        let o = sh(Command::new("scripts/cluster.sh")
            .args(["--dry-run", "vantage"])
            .args(bad));
        assert_eq!(o.status.code(), Some(2), "{bad:?}: {}", text(&o));
        assert!(text(&o).contains(said), "{bad:?}: {}", text(&o));
        assert!(!text(&o).contains("SSH "), "{bad:?}: nothing ran");
    }
}

#[test]
fn spectrum_refuses_bad_input_before_it_touches_the_engine() {
    for (args, said) in [
        (&["--trials", "0"][..], "--trials takes 1 to 999"),
        (&["--trials"][..], "--trials takes 1 to 999"),
        (&["--faults", "kill"][..], "unknown argument '--faults'"),
        (&["--bogus"][..], "unknown argument '--bogus'"),
    ] {
        let o = sh(Command::new("scripts/spectrum.sh").args(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(said), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("building the image"), "{}", text(&o));
    }
}

#[test]
fn bench_healing_refuses_bad_input_before_it_touches_the_engine() {
    for (args, said) in [
        (&["--trials", "1"][..], "--trials takes 2 to 99"),
        (&["--rounds", "100"][..], "--trials takes 2 to 99"),
        (&["--timeout", "1s"][..], "unknown argument '--timeout'"),
    ] {
        let o = sh(Command::new("scripts/bench-healing.sh").args(args));
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", text(&o));
        assert!(text(&o).contains(said), "{args:?}: {}", text(&o));
        assert!(!text(&o).contains("building the image"), "{}", text(&o));
    }
}

#[test]
fn benchmarks_md_calls_a_goal_inconclusive_when_its_rounds_straddle_it() {
    need("python3", &["--version"]);
    let dir = std::env::temp_dir().join(format!("crashlab-bench-md-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("bench")).unwrap();
    let raw = repo().join("results/bench/benchmarks.json");
    std::fs::copy(&raw, dir.join("bench/benchmarks.json")).unwrap();
    let o = sh(Command::new("python3")
        .args(["scripts/bench.py", "--render-only", "--out"])
        .arg(&dir));
    assert!(o.status.success(), "{}", text(&o));
    let md = std::fs::read_to_string(dir.join("benchmarks.md")).unwrap();
    let r = json(&raw);
    let oha = &r["load_tools"]["ratio_vs_oha"];
    let (lo, hi) = (oha["min"].as_f64().unwrap(), oha["max"].as_f64().unwrap());
    let row = md
        .lines()
        .find(|l| l.starts_with("| chaos-runner / oha requests/s >= 1.2 |"))
        .unwrap();
    assert!(row.contains(&format!("({lo:.3} to {hi:.3})")), "{row}");
    let want = if lo >= 1.2 {
        "| met |"
    } else if hi < 1.2 {
        "| NOT met |"
    } else {
        "| inconclusive"
    };
    assert!(row.contains(want), "{row}");
    assert!(
        md.contains("measures the load tool as much as the server"),
        "{md}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
