//! The image: size, user, health check.

use std::process::Command;

use crate::support::*;

#[test]
#[ignore = "needs Docker; CI runs it (cargo test -- --include-ignored)"]
fn image_is_small_runs_as_non_root_and_turns_healthy() {
    need("docker", &["info"]);
    let _turn = docker_turn();
    let tag = format!("crashlab/crashserver:e2e-image-{}", std::process::id());
    let o = sh(Command::new("scripts/build-image.sh")
        .arg(&tag)
        .env("VERSION", "e2e"));
    assert!(o.status.success(), "{}", text(&o));
    let name = format!("crashlab-image-test-{}", std::process::id());
    let guard = Leftovers {
        containers: vec![name.clone()],
        image: tag.clone(),
    };

    let size: u64 = docker(&["image", "inspect", "-f", "{{.Size}}", &tag])
        .parse()
        .unwrap();
    // 5.75 MB: the experiment engine (TOML files, statistics, its pages) runs inside the
    // image on overlay networks, and costs it about 350 KB (5,314,896 bytes with it,
    // 4,967,920 without, measured by building both); the goal was 5 MB before it. Load from
    // every node (streaming to a gatherer, the gatherer, the `--vantage` coordinator) costs
    // 239 KB more: the binary is 5,711,536 bytes with it, 5,472,528 without (e46fd9a), both
    // built with the image profile; the goal was 5.5 MB before it. The rest of it (a global
    // job of load tasks told to stop by their gatherer, merged histograms, experiments loaded
    // from every node with each vantage's statistics, merged.json read back, crashserver's
    // access log) costs 92 KB more: 5,803,888 bytes at 1928e3f against 5,711,536 at 941759e,
    // both built with the image profile in a target directory of their own; the goal was
    // 5.75 MB before it.
    assert!(
        size <= 5_850_000,
        "image is {size} bytes, more than 5.85 MB"
    );
    assert_eq!(
        docker(&["image", "inspect", "-f", "{{.Config.User}}", &tag]),
        "65532:65532"
    );
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.ExposedPorts \"8080/tcp\"}}",
            &tag
        ]),
        "{}"
    );
    assert!(docker(&[
        "image",
        "inspect",
        "-f",
        "{{json .Config.Healthcheck.Test}}",
        &tag
    ])
    .contains("healthcheck"));
    assert_eq!(
        docker(&[
            "image",
            "inspect",
            "-f",
            "{{index .Config.Labels \"org.opencontainers.image.version\"}}",
            &tag
        ]),
        "e2e"
    );

    let id = docker(&["run", "-d", "--name", &name, &tag]);
    assert!(!id.is_empty());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let h = docker(&["inspect", "-f", "{{.State.Health.Status}}", &name]);
        if h == "healthy" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not healthy after 30 s: {h}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    // The process runs as the non-root user, and answers with the container's id.
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &name]);
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the container's process");
    let uid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .unwrap_or_default()
        .to_string();
    assert!(
        uid.split_whitespace().skip(1).all(|u| u == "65532"),
        "{uid}"
    );
    let ip = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]);
    let mut s =
        std::net::TcpStream::connect((ip.as_str(), 8080)).expect("connect to the container");
    use std::io::{Read, Write};
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains(&format!("x-instance: {}", &id[..12])),
        "{answer}"
    );
    assert!(answer.to_lowercase().contains("x-version: e2e"));
    // SIGTERM (docker stop) is a graceful exit 0.
    docker(&["stop", "-t", "10", &name]);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.ExitCode}}", &name]),
        "0"
    );
    drop(guard);
}
