//! The multi-node lab: up, a partition and a kill on another node measured from inside it
//! through the node agent and the nodes' engines, a partition measured from every node at
//! once and merged (scripts/vantage.sh), and down leaving the machine as found.

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::*;

const RUN: &str = "/run/crashlab-lab";

/// What the lab may change on this machine, as text to compare before and after.
fn machine_state() -> String {
    let out = |cmd: &str, args: &[&str]| {
        let o = Command::new(cmd).args(args).output().expect(cmd);
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let links: String = out("ip", &["-br", "link"])
        .lines()
        .map(|l| l.split_whitespace().next().unwrap_or("").to_string() + "\n")
        .collect();
    let mounts: String = std::fs::read_to_string("/proc/self/mounts")
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("crashlab"))
        .map(|l| l.to_string() + "\n")
        .collect();
    let engines = out("pgrep", &["-af", "crashlab-lab"]);
    format!(
        "netns:\n{}links:\n{links}iptables:\n{}mounts:\n{mounts}dirs: {} {}\nprocesses:\n{engines}",
        out("ip", &["netns", "list"]),
        out("iptables", &["-S"]),
        std::path::Path::new(RUN).exists(),
        std::path::Path::new("/var/lib/crashlab-lab").exists(),
    )
}

/// Takes the lab down even when an assertion fails.
struct LabGuard;

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = sh(Command::new("scripts/lab.sh").arg("down"));
    }
}

fn node0(args: &[&str]) -> std::process::Output {
    sh(Command::new("docker")
        .arg("-H")
        .arg(format!("unix://{RUN}/node-0/docker.sock"))
        .args(args))
}

#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn the_lab_measures_a_partition_and_kills_on_other_nodes_and_leaves_the_machine_as_found() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    let tag = format!("crashlab/crashserver:e2e-lab-{}", std::process::id());
    let o = sh(Command::new("scripts/build-image.sh").arg(&tag));
    assert!(o.status.success(), "{}", text(&o));
    let _image = Leftovers {
        containers: vec![],
        image: tag.clone(),
    };
    let lab = LabGuard;
    let o = sh(Command::new("scripts/lab.sh").args(["up", "--nodes", "2", "--image", &tag]));
    assert!(o.status.success(), "{}", text(&o));
    let up = text(&o);
    assert!(
        up.contains("node-0") && up.contains("node-1") && up.contains("Leader"),
        "{up}"
    );

    for args in [
        &[
            "network",
            "create",
            "-d",
            "overlay",
            "--attachable",
            "labnet",
        ][..],
        &[
            "service",
            "create",
            "--quiet",
            "--detach",
            "--name",
            "app",
            "--network",
            "labnet",
            "--replicas",
            "2",
            "--replicas-max-per-node",
            "1",
            "--no-resolve-image",
            "--no-healthcheck",
            "--restart-delay",
            "0s",
            &tag,
        ][..],
    ] {
        let o = node0(args);
        assert!(o.status.success(), "{}", text(&o));
    }
    let out = std::env::temp_dir().join(format!("crashlab-lab-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).unwrap();
    let _ = Command::new("chown").arg("65532").arg(&out).status();
    let token = std::fs::read_to_string(format!("{RUN}/agent.token")).unwrap();
    let o = node0(&[
        "run",
        "--rm",
        "--network",
        "labnet",
        "--user",
        "0",
        "-v",
        &format!("{RUN}:{RUN}"),
        "-v",
        &format!("{}:/run-out", out.display()),
        "-e",
        &format!("DOCKER_HOST=unix://{RUN}/node-0/docker.sock"),
        "-e",
        &format!("NODE_AGENT_TOKEN={}", token.trim()),
        "--entrypoint",
        "/usr/local/bin/chaos-runner",
        &tag,
        "run",
        "http://tasks.app:8080/",
        "--out",
        "/run-out/r",
        "--swarm-service",
        "app",
        "--replicas",
        "2",
        "--rate",
        "50",
        "--duration",
        "32s",
        "--timeout",
        "1s",
        "--engine",
        &format!("node-1=unix://{RUN}/node-1/docker.sock"),
        "--node-driver",
        "http://10.199.0.1:7077",
        "--fault",
        "partition:node-1,at=6s,for=22s",
        "--fault",
        "docker,at=1s,count=2",
    ]);
    assert!(o.status.success(), "{}", text(&o));
    let s = json(&out.join("r/summary.json"));
    let _ = std::fs::remove_dir_all(&out);

    let c = &s["counts"];
    assert_eq!(
        c["sent"].as_u64(),
        Some(c["ok"].as_u64().unwrap() + c["failed"].as_u64().unwrap())
    );
    let fault = |kind: &str| {
        s["faults"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} fault in {}", s["faults"]))
    };
    let part = fault("partition");
    let down = part["node"]["down_s"]
        .as_f64()
        .expect("node-1 declared down");
    assert!((3.0..22.0).contains(&down), "down after {down} s");
    assert!(part["node"]["rescheduled_s"].as_f64().is_some(), "{part}");
    assert!(
        part["restored_at_s"].as_f64().is_some_and(|t| t > 24.0),
        "{part}"
    );
    assert!(
        part["failures"].as_u64().unwrap() > 0,
        "clients time out on the cut node's task until it is declared down"
    );
    let node_events = s["swarm"]["nodes"]["nodes"].as_array().unwrap();
    assert!(node_events
        .iter()
        .any(|e| e["node"] == "node-1" && e["state"] == "down"));
    // The kill reached both tasks, one on each node, before the partition. (After the heal
    // swarm is still replacing node-1's task for a while, and a kill then finds one.)
    let kill = fault("docker");
    assert_eq!(kill["ok"], true, "{kill}");
    let targets = kill["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2, "{kill}");
    for node in ["node-0", "node-1"] {
        assert!(
            targets.iter().any(|t| t
                .as_str()
                .is_some_and(|t| t.ends_with(&format!("on {node})")))),
            "{kill}"
        );
    }
    assert_eq!(
        s["swarm"]["engines"],
        serde_json::json!(["node-0", "node-1"])
    );
    assert!(s["swarm"]["node_driver"]
        .as_str()
        .is_some_and(|d| d.contains("10.199.0.1") && !d.contains(token.trim())));

    drop(lab);
    assert_eq!(machine_state(), before, "the lab left something behind");
}

/// scripts/vantage.sh on three nodes at 3 replicas, 90 requests/s for 20 s, node-0's run
/// injecting `fault` on node-1; its output directory and what it printed (it must succeed).
fn three_vantages(fault: &str, more: &[&str]) -> (std::path::PathBuf, std::process::Output) {
    let out = std::env::temp_dir().join(format!("crashlab-vantage-{fault}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let o = sh(Command::new("scripts/vantage.sh")
        .args(["--nodes", "3", "--replicas", "3", "--rate", "90"])
        .args(["--duration", "20s", "--fault", fault])
        .args(more)
        .args(["--out", out.to_str().unwrap()]));
    if !o.status.success() {
        let _ = std::fs::remove_dir_all(&out);
        panic!("{}", text(&o));
    }
    (out, o)
}

#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn every_node_measures_a_partition_and_the_merge_adds_them_up_and_leaves_the_machine_as_found() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    let (out, _) = three_vantages("partition", &[]);
    let read = |p: &str| json(&out.join(p));
    let (m, cut, node0) = (
        read("merged/merged.json"),
        read("node-1/summary.json"),
        read("node-0/summary.json"),
    );
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(machine_state(), before, "the lab left something behind");

    // Three shares of one schedule on one clock, adding up to it.
    assert_eq!(
        m["schedule"]["shares"],
        serde_json::json!(["1/3", "2/3", "3/3"])
    );
    assert!(m["schedule"]["spread_ms"].as_f64().unwrap() < 50.0, "{m}");
    let vantages = m["vantages"].as_array().unwrap();
    let sum = |k: &str| vantages.iter().map(|v| v[k].as_u64().unwrap()).sum::<u64>();
    let g = &m["merged"];
    assert_eq!(g["scheduled"].as_u64(), Some(1800), "90/s for 20 s");
    assert_eq!(g["sent"].as_u64(), Some(sum("sent")));
    assert_eq!(g["failed"].as_u64(), Some(sum("failed")));
    // node-0's run cut node-1 off; node-1's clients could reach only their own task.
    assert_eq!(
        node0["faults"][0]["kind"], "partition",
        "{}",
        node0["faults"]
    );
    assert_eq!(vantages[0]["fault_specs"].as_array().map(Vec::len), Some(1));
    assert!(
        cut["counts"]["by_class"]["timeout"].as_u64().unwrap() > 0,
        "{}",
        cut["counts"]
    );
}

/// A vantage whose node is stopped mid-run (the lab kills the node's engine and its
/// containers at once, as a crashed machine): its runner dies with it, what its journal kept is
/// merged up to then and the page names the vantage and when it was lost; the others' runs
/// go on whole. The truth for when: node-0's run's record of the stop (when it began and how
/// long the command took).
#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn a_vantage_whose_node_is_stopped_is_merged_up_to_the_stop_and_named() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    // Each vantage also sends its run to a gatherer on the host, over the lab's network.
    let (out, o) = three_vantages("stop", &["--stream"]);
    let read = |p: &str| json(&out.join(p));
    let (m, node0) = (read("merged/merged.json"), read("node-0/summary.json"));
    let lost_left = (
        out.join("node-1/summary.json").exists(),
        out.join("node-1/journal/run.jsonl").exists(),
    );
    let page = std::fs::read_to_string(out.join("merged/merged.md")).unwrap_or_default();
    let bytes = |p: &str| std::fs::read(out.join(p)).unwrap_or_default();
    // What the gatherer got: node-0's and node-2's runs byte for byte; node-1's journal up to
    // its last send before its node stopped, a beginning of what it wrote.
    let mut mirrored = Vec::new();
    for name in ["node-0", "node-2"] {
        for file in [
            "summary.json",
            "timeline.csv",
            "latency.hlog",
            "journal/run.jsonl",
        ] {
            let (here, there) = (
                bytes(&format!("{name}/{file}")),
                bytes(&format!("gathered/vantages/{name}/{file}")),
            );
            mirrored.push((format!("{name}/{file}"), !here.is_empty() && here == there));
        }
    }
    let (here, there) = (
        bytes("node-1/journal/run.jsonl"),
        bytes("gathered/vantages/node-1/journal/run.jsonl"),
    );
    let lost_sent = !there.is_empty() && here.starts_with(&there);
    let gathered = json(&out.join("gathered/merged/merged.json"));
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(machine_state(), before, "the lab left something behind");
    assert!(
        text(&o).contains("node-1: lost with its node"),
        "{}",
        text(&o)
    );
    assert_eq!(
        lost_left,
        (false, true),
        "node-1's runner died, its journal stayed"
    );
    assert!(
        mirrored.iter().all(|(_, same)| *same),
        "not mirrored by the gatherer: {mirrored:?}"
    );
    assert!(
        lost_sent,
        "node-1's journal did not arrive as a beginning of its own"
    );
    assert!(
        text(&o).contains("the gatherer ended (exit 4)")
            && text(&o).contains("2 vantage(s) ended (node-0, node-2), 1 lost (node-1)"),
        "{}",
        text(&o)
    );
    let gv = gathered["vantages"].as_array().unwrap();
    assert_eq!(gv[1]["name"], "node-1");
    assert!(gv[1]["lost_at_s"].as_f64().is_some(), "{}", gv[1]);
    for k in [0, 2] {
        assert_eq!(
            gv[k]["scheduled"], m["vantages"][k]["scheduled"],
            "the gatherer's merge and the shared disk's agree on {}",
            gv[k]["name"]
        );
    }

    let f = &node0["faults"][0];
    assert_eq!(f["kind"], "node-stop", "{f}");
    let began = f["at_s"].as_f64().unwrap();
    let done = began + f["took_ms"].as_f64().unwrap() / 1e3;
    let v = m["vantages"].as_array().unwrap();
    let (whole, lost) = (&v[0], &v[1]);
    assert_eq!(whole["lost_at_s"], serde_json::Value::Null, "{whole}");
    assert_eq!(v[2]["lost_at_s"], serde_json::Value::Null, "{}", v[2]);
    assert_eq!(lost["rebuilt"], true, "{lost}");
    // Lost when its engine was killed: after the stop began (less the journal's last second)
    // and no later than the stop command's end, on the one clock the runs share.
    let at = lost["lost_at_s"]
        .as_f64()
        .expect("node-1's vantage is named lost");
    let offset =
        lost["offset_ms"].as_f64().unwrap() / 1e3 - whole["offset_ms"].as_f64().unwrap() / 1e3;
    let at = at + offset;
    assert!(
        at >= began - 1.2 && at <= done + 0.1,
        "lost at {at:.3} s; the stop began at {began:.3} s and was done at {done:.3} s"
    );
    // The others ran whole: 30/s each for 20 s.
    for x in [whole, &v[2]] {
        assert_eq!(x["scheduled"].as_u64(), Some(600), "{x}");
    }
    let g = &m["merged"];
    let sum = |k: &str| v.iter().map(|x| x[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(g["scheduled"].as_u64(), Some(sum("scheduled")));
    assert!(
        sum("scheduled") < 1800,
        "nothing of node-1's after its loss"
    );
    for says in [
        "Lost: `node-1`",
        "node-1 (lost at",
        "was lost at",
        "`node-1`, lost mid-run, is left out of this comparison",
    ] {
        assert!(
            page.contains(says),
            "merged.md does not say {says:?}:\n{page}"
        );
    }
}

/// The load generators' processes (in their containers, seen from the host).
fn load_processes() -> String {
    let o = Command::new("pgrep")
        .args(["-af", "chaos-runner run --out /run-out"])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Starts scripts/vantage.sh in a process group of its own (as a terminal's foreground job)
/// and waits until node-1's load generator has committed a measured second to its journal.
fn vantage_sending(out: &std::path::Path, duration: &str) -> std::process::Child {
    let _ = std::fs::remove_dir_all(out);
    let child = Command::new("scripts/vantage.sh")
        .args(["--nodes", "2", "--replicas", "2", "--rate", "40"])
        .args(["--duration", duration, "--out", out.to_str().unwrap()])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("scripts/vantage.sh");
    let journal = out.join("node-1/journal/run.jsonl");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !std::fs::read_to_string(&journal).is_ok_and(|j| j.contains("\"second\"")) {
        assert!(Instant::now() < deadline, "node-1's load never started");
        std::thread::sleep(Duration::from_millis(200));
    }
    child
}

fn signal_group(child: &std::process::Child, signal: &str) {
    let st = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{}", child.id())])
        .status()
        .expect("kill");
    assert!(st.success(), "kill -s {signal} of the group");
}

/// Waits for `what` up to `bound`; how long it took.
fn within(what: &str, bound: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !done() {
        assert!(t.elapsed() < bound, "{what}: not within {bound:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    t.elapsed()
}

/// Ctrl-C of scripts/vantage.sh while its load generators send (SIGINT to its process group,
/// as a terminal sends it): it ends at once, taking the lab down with every load container.
/// SIGKILL of the whole group instead leaves the load to its own bound: every load generator
/// still runs right after (they live in the engines, not the script), none runs past its
/// --duration, each writes its whole report, and `scripts/lab.sh down` leaves the machine as
/// found.
#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn vantage_loads_stop_with_ctrl_c_and_by_their_own_bound_after_a_sigkill() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    let out = std::env::temp_dir().join(format!("crashlab-vantage-int-{}", std::process::id()));
    let _lab = LabGuard;

    let mut child = vantage_sending(&out, "60s");
    assert!(!load_processes().is_empty(), "the load generators run");
    signal_group(&child, "INT");
    let took = within(
        "vantage.sh ends after Ctrl-C",
        Duration::from_secs(60),
        || child.try_wait().unwrap().is_some(),
    );
    let code = child.wait().unwrap().code();
    let left = load_processes();
    let state = machine_state();
    let _ = std::fs::remove_dir_all(&out);
    println!("Ctrl-C: ended in {took:?} with {code:?}");
    assert_eq!(code, Some(130), "interrupted");
    assert!(left.is_empty(), "load generators left running: {left}");
    assert_eq!(state, before, "the lab left something behind");

    let mut child = vantage_sending(&out, "20s");
    signal_group(&child, "KILL");
    let _ = child.wait();
    let killed = Instant::now();
    let running = load_processes();
    // 20 s from a start at most 20 s ago, their 1 s timeout and the drain: 30 s at most.
    let took = within(
        "the load generators stop by their own bound",
        Duration::from_secs(30),
        || load_processes().is_empty(),
    );
    let whole = ["node-0", "node-1"].map(|n| out.join(n).join("summary.json").exists());
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "SIGKILL: the load generators ended {took:?} after it ({:?} since)",
        killed.elapsed()
    );
    assert!(
        !running.is_empty(),
        "the load generators outlive the script that started them"
    );
    assert_eq!(whole, [true, true], "every vantage wrote its report");
    let o = sh(Command::new("scripts/lab.sh").arg("down"));
    assert!(o.status.success(), "{}", text(&o));
    let _ = docker(&["image", "rm", "-f", "crashlab/crashserver:vantage"]);
    assert_eq!(machine_state(), before, "lab.sh down left something behind");
}

/// `run --vantage global` on the lab: the runner on node-0 starts a load task on every node
/// as a swarm job, runs its own share and the fault (node-1 stopped), gathers what the tasks
/// send, removes them and merges. node-1's task dies with its node: it is kept up to its last
/// send, named lost, and the coordinator exits 4; the others ran their whole shares.
#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn a_coordinator_loads_from_every_node_and_a_stopped_node_s_task_is_lost_and_named() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    let (out, o) = three_vantages("stop", &["--coordinator"]);
    let dir = out.join("coordinator");
    let m = json(&dir.join("merged/merged.json"));
    let coordinator = json(&dir.join("summary.json"));
    let page = std::fs::read_to_string(dir.join("merged/merged.md")).unwrap_or_default();
    let arrived: Vec<bool> = ["node-0", "node-2"]
        .iter()
        .map(|n| dir.join("vantages").join(n).join("summary.json").exists())
        .collect();
    let _ = std::fs::remove_dir_all(&out);
    assert_eq!(machine_state(), before, "the lab left something behind");
    let said = text(&o);
    assert!(
        said.contains("the coordinator ended (exit 4)")
            && said.contains("load services left on the swarm: 0"),
        "{said}"
    );
    assert_eq!(
        arrived,
        [true, true],
        "node-0's and node-2's runs arrived whole"
    );

    let v = m["vantages"].as_array().unwrap();
    let names: Vec<&str> = v.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["coordinator", "node-0", "node-1", "node-2"]);
    assert_eq!(
        m["schedule"]["shares"],
        serde_json::json!(["1/4", "2/4", "3/4", "4/4"])
    );
    // Whole shares of 90/s for 20 s (1,800 ticks): 450 each.
    for k in [0, 1, 3] {
        assert_eq!(v[k]["scheduled"].as_u64(), Some(450), "{}", v[k]);
        assert_eq!(v[k]["lost_at_s"], serde_json::Value::Null, "{}", v[k]);
    }
    // node-1's task, lost when its engine was killed: after the stop began (less the
    // journal's second and a send's second) and no later than the stop's end, on the one clock.
    let f = &coordinator["faults"][0];
    assert_eq!(f["kind"], "node-stop", "{f}");
    let began = f["at_s"].as_f64().unwrap();
    let done = began + f["took_ms"].as_f64().unwrap() / 1e3;
    let lost = &v[2];
    assert_eq!(lost["rebuilt"], true, "{lost}");
    let at = lost["lost_at_s"]
        .as_f64()
        .expect("node-1's task is named lost")
        + (lost["offset_ms"].as_f64().unwrap() - v[0]["offset_ms"].as_f64().unwrap()) / 1e3;
    assert!(
        at >= began - 2.2 && at <= done + 0.1,
        "lost at {at:.3} s; the stop began at {began:.3} s and was done at {done:.3} s"
    );
    let g = &m["merged"];
    let sum = |k: &str| v.iter().map(|x| x[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(g["scheduled"].as_u64(), Some(sum("scheduled")));
    assert_eq!(g["failed"].as_u64(), Some(sum("failed")));
    assert!(
        sum("scheduled") < 1800,
        "nothing of node-1's after its loss"
    );
    assert!(page.contains("Lost: `node-1`"), "{page}");
}

/// A lab of three nodes from a fresh image, the stack `lab` deployed at 3 replicas with
/// `env` for compose.yaml; the lab is taken down and the image removed when the guards drop.
fn three_node_lab(name: &str, env: &[(&str, &str)]) -> (LabGuard, Leftovers) {
    let tag = format!("crashlab/crashserver:e2e-{name}-{}", std::process::id());
    let o = sh(Command::new("scripts/build-image.sh").arg(&tag));
    assert!(o.status.success(), "{}", text(&o));
    let image = Leftovers {
        containers: vec![],
        image: tag.clone(),
    };
    let lab = LabGuard;
    let o = sh(Command::new("scripts/lab.sh").args(["up", "--nodes", "3", "--image", &tag]));
    assert!(o.status.success(), "{}", text(&o));
    let o = sh(Command::new("scripts/lab.sh")
        .args(["deploy", "lab", "3"])
        .envs(env.iter().copied()));
    assert!(o.status.success(), "{}", text(&o));
    (lab, image)
}

/// `scripts/lab.sh run lab_appnet OUT ARGS`, a coordinator with `--vantage global` on the
/// stack `lab` at 3 replicas, started in the background.
fn coordinator(out: &std::path::Path, args: &[&str]) -> std::process::Child {
    let _ = std::fs::remove_dir_all(out);
    Command::new("scripts/lab.sh")
        .args(["run", "lab_appnet"])
        .arg(out)
        .args(["http://tasks.appserver:8080/", "--timeout", "1s"])
        .args(["--swarm-service", "lab_appserver", "--replicas", "3"])
        .args(["--vantage", "global", "--vantage-lead", "10s"])
        .args(args)
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The load services on the lab's swarm, and the load tasks' processes on this machine.
fn load_services() -> usize {
    let o = node0(&["service", "ls", "-q", "--filter", "name=crashlab-vantage-"]);
    String::from_utf8_lossy(&o.stdout).lines().count()
}

fn load_tasks() -> usize {
    let o = Command::new("pgrep")
        .args([
            "-f",
            "^/usr/local/bin/chaos-runner run .*--out /vantage/run",
        ])
        .output()
        .expect("pgrep");
    String::from_utf8_lossy(&o.stdout).lines().count()
}

/// Sends `signal` (`-INT`, `-KILL`) to the coordinator's process, which must be running.
fn signal_coordinator(signal: &str) {
    let st = Command::new("pkill")
        .args([
            signal,
            "-f",
            "^/usr/local/bin/chaos-runner run --out /run-out .*--vantage global",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "the coordinator was running");
}

/// Waits until a load task on every node is sending and its first measured second arrived
/// at the coordinator.
fn every_task_sending(out: &std::path::Path) {
    within("3 load tasks sending", Duration::from_secs(180), || {
        load_tasks() == 3
            && ["node-0", "node-1", "node-2"].iter().all(|n| {
                std::fs::read_to_string(out.join("vantages").join(n).join("journal/run.jsonl"))
                    .is_ok_and(|j| j.contains("\"second\""))
            })
    });
}

/// What every replica of the stack `lab` logged, node by node: each access-log line
/// (`ACCESS_LOG`) for `/` as (arrival in unix µs, status).
fn served_by_node() -> Vec<(String, Vec<(u64, u64)>)> {
    ["node-0", "node-1", "node-2"]
        .iter()
        .map(|n| {
            let on = |args: &[&str]| {
                let o = sh(Command::new("docker")
                    .arg("-H")
                    .arg(format!("unix://{RUN}/{n}/docker.sock"))
                    .args(args));
                assert!(o.status.success(), "{n}: {}", text(&o));
                String::from_utf8_lossy(&o.stdout).into_owned()
            };
            let mut served = Vec::new();
            let ids = on(&[
                "ps",
                "-aq",
                "--filter",
                "label=com.docker.swarm.service.name=lab_appserver",
            ]);
            for id in ids.lines() {
                for line in on(&["logs", id]).lines() {
                    let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                        continue;
                    };
                    if v["message"] == "request" && v["route"] == "/" {
                        served.push((v["at_us"].as_u64().unwrap(), v["status"].as_u64().unwrap()));
                    }
                }
            }
            (n.to_string(), served)
        })
        .collect()
}

/// The successes' histogram of a run or merge directory, from its latency.hlog with
/// HdrHistogram's own decoder.
fn ok_histogram(dir: &std::path::Path) -> hdrhistogram::Histogram<u64> {
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let log = std::fs::read(dir.join("latency.hlog")).unwrap();
    let mut all = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for e in IntervalLogIterator::new(&log) {
        let LogEntry::Interval(h) = e.unwrap() else {
            continue;
        };
        if h.tag().is_some_and(|t| t.as_str() == "ok") {
            let b64 = &base64::engine::general_purpose::STANDARD;
            let bytes = base64::Engine::decode(b64, h.encoded_histogram()).unwrap();
            let one: hdrhistogram::Histogram<u64> =
                hdrhistogram::serialization::Deserializer::new()
                    .deserialize(&mut std::io::Cursor::new(bytes))
                    .unwrap();
            all.add(&one).unwrap();
        }
    }
    all
}

/// `run --vantage global` against a target on every node that logs each request it answers
/// (crashserver's ACCESS_LOG), one replica answering 20 % of it with 500 for 5 s: the merged
/// counts are the vantages' sum and what the servers logged (200s as ok, 500s as http_5xx),
/// the merged histogram is the vantages' histograms decoded and added, and the servers saw
/// the rate asked for, within 1 %.
#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn a_coordinator_s_merge_adds_up_to_what_the_servers_on_every_node_logged() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    let (lab, _image) = three_node_lab("sum", &[("ACCESS_LOG", "true")]);
    let o = node0(&[
        "service",
        "ps",
        "lab_appserver",
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Node}}",
    ]);
    let mut placed: Vec<String> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(String::from)
        .collect();
    placed.sort();
    assert_eq!(
        placed,
        ["node-0", "node-1", "node-2"],
        "a target on every node"
    );
    let o = node0(&[
        "service",
        "inspect",
        "lab_appserver",
        "--format",
        "{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}",
    ]);
    let token = String::from_utf8_lossy(&o.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("KILL_TOKEN=").map(String::from))
        .expect("the lab's kill token");
    let out = std::env::temp_dir().join(format!("crashlab-coord-sum-{}", std::process::id()));
    let run = coordinator(
        &out,
        &[
            "--rate",
            "300",
            "--duration",
            "20s",
            "--kill-token",
            &token,
            "--fault",
            "http:/chaos?errors=20%&for=5s,at=5s",
        ],
    );
    let o = run.wait_with_output().unwrap();
    let served = served_by_node();
    let m = json(&out.join("merged/merged.json"));
    let summary = json(&out.join("summary.json"));
    let mut runs = vec![out.clone()];
    runs.extend(["node-0", "node-1", "node-2"].map(|n| out.join("vantages").join(n)));
    let histograms: Vec<_> = runs.iter().map(|d| ok_histogram(d)).collect();
    let merged_h = ok_histogram(&out.join("merged"));
    let _ = std::fs::remove_dir_all(&out);
    drop(lab);
    assert_eq!(machine_state(), before, "the lab left something behind");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(summary["faults"][0]["ok"] == true, "{}", summary["faults"]);

    // The load the clients sent: from the clock's start (the coordinator's wait for its
    // replicas sent to / before it).
    let t0 = humantime::parse_rfc3339_weak(summary["run"]["started_at"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    let during: Vec<(String, Vec<(u64, u64)>)> = served
        .into_iter()
        .map(|(n, s)| {
            (
                n,
                s.into_iter().filter(|(at, _)| *at + 50_000 >= t0).collect(),
            )
        })
        .collect();
    for (n, s) in &during {
        println!(
            "{n}'s replica logged {} requests to / during the run",
            s.len()
        );
        assert!(!s.is_empty(), "{n}'s target served its part");
    }
    let all: Vec<(u64, u64)> = during.iter().flat_map(|(_, s)| s.clone()).collect();
    let status = |c: u64| all.iter().filter(|(_, s)| *s == c).count() as u64;

    let v = m["vantages"].as_array().unwrap();
    let names: Vec<&str> = v.iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["coordinator", "node-0", "node-1", "node-2"]);
    let g = &m["merged"];
    let n = |k: &str| g[k].as_u64().unwrap();
    let sum = |k: &str| v.iter().map(|x| x[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!((n("scheduled"), n("dropped")), (6000, 0), "300/s for 20 s");
    for k in ["scheduled", "sent", "ok", "failed"] {
        assert_eq!(n(k), sum(k), "merged {k} is the vantages' sum");
    }
    assert_eq!(
        n("sent"),
        all.len() as u64,
        "every request sent was served and logged"
    );
    assert_eq!(n("ok"), status(200), "ok as the servers answered 200");
    let errors = status(500);
    assert!(errors > 0, "the fault made errors");
    assert_eq!(g["by_class"]["http_5xx"].as_u64(), Some(errors));
    assert_eq!(n("failed"), errors, "and nothing else failed");

    // The merged histogram is the vantages' own, decoded and added, value for value.
    let mut added = hdrhistogram::Histogram::<u64>::new(3).unwrap();
    for h in &histograms {
        added.add(h).unwrap();
    }
    assert_eq!(added.len(), n("ok"));
    assert_eq!(merged_h, added, "merged latency.hlog");

    // The servers saw the rate asked for: the slope of arrivals over their order.
    let mut at: Vec<f64> = all.iter().map(|(t, _)| *t as f64 / 1e6).collect();
    at.sort_by(f64::total_cmp);
    let k = at.len() as f64;
    let (mi, mt) = ((k - 1.0) / 2.0, at.iter().sum::<f64>() / k);
    let (mut num, mut den) = (0.0, 0.0);
    for (i, t) in at.iter().enumerate() {
        num += (i as f64 - mi) * (t - mt);
        den += (i as f64 - mi).powi(2);
    }
    let rate = den / num;
    println!(
        "the servers saw {rate:.2} requests/s over {} arrivals",
        at.len()
    );
    assert!((rate / 300.0 - 1.0).abs() < 0.01, "{rate:.2}/s");
}

/// The coordinator of `run --vantage global` stopped: by Ctrl-C (SIGINT), it removes the
/// load service at once, its tasks stop and send what they have, it merges that (nothing
/// before the clock started) and exits 130; killed outright (SIGKILL), every load task stops by itself once it has lost
/// the coordinator for --vantage-lost-after (5 s here), long before its --duration, and the
/// load service stays until `chaos-runner restore` removes it from the journal. Either way no
/// load task runs on, and the lab's removal leaves the machine as found.
#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn a_coordinator_stopped_by_ctrl_c_or_killed_leaves_no_load_task_running() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    let (lab, _image) = three_node_lab("coord", &[]);
    let out = std::env::temp_dir().join(format!("crashlab-coord-{}", std::process::id()));
    let long = [
        "--rate",
        "60",
        "--duration",
        "120s",
        "--vantage-lost-after",
        "5s",
    ];

    // Ctrl-C before the clock started (the tasks up, waiting for it): nothing was measured,
    // nothing is merged, the service is removed and its tasks stop.
    let run = coordinator(&out, &long);
    within("3 load tasks up", Duration::from_secs(180), || {
        load_tasks() == 3
    });
    signal_coordinator("-INT");
    let o = run.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    within("the load tasks to stop", Duration::from_secs(30), || {
        load_tasks() == 0
    });
    assert_eq!(load_services(), 0, "{}", text(&o));

    // Ctrl-C while every vantage measures.
    let run = coordinator(&out, &long);
    every_task_sending(&out);
    assert_eq!(load_services(), 1);
    signal_coordinator("-INT");
    let interrupted = Instant::now();
    let removed = within("the load service removed", Duration::from_secs(20), || {
        load_services() == 0
    });
    let stopped = within("the load tasks to stop", Duration::from_secs(30), || {
        load_tasks() == 0
    });
    let o = run.wait_with_output().unwrap();
    let took = interrupted.elapsed();
    println!(
        "Ctrl-C: service removed after {removed:?}, tasks stopped after {stopped:?}, coordinator done after {took:?}"
    );
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let m = json(&out.join("merged/merged.json"));
    assert!(took < Duration::from_secs(60), "it ended in {took:?}");
    let v = m["vantages"].as_array().unwrap();
    assert_eq!(v.len(), 4, "{m}");
    for x in v {
        // Each stopped like the coordinator, far short of its 120 s share (1,800 ticks).
        assert!(
            x["scheduled"].as_u64().unwrap() < 1800,
            "{}: {}",
            x["name"],
            x["scheduled"]
        );
    }
    let g = &m["merged"];
    let sum = |k: &str| v.iter().map(|x| x[k].as_u64().unwrap()).sum::<u64>();
    assert_eq!(g["sent"].as_u64(), Some(sum("sent")));

    // SIGKILL.
    let run = coordinator(&out, &long);
    every_task_sending(&out);
    assert_eq!(load_services(), 1);
    signal_coordinator("-KILL");
    let _ = run.wait_with_output();
    // Each task stops once it could not reach the coordinator for 5 s: within its next
    // second's send, the load's stop and its report, not at the end of its 120 s.
    let took = within("the load tasks to stop", Duration::from_secs(60), || {
        load_tasks() == 0
    });
    println!("SIGKILL: the load tasks stopped {took:?} after");
    assert!(
        took < Duration::from_secs(20),
        "the tasks stopped {took:?} after"
    );
    assert_eq!(load_services(), 1, "nobody removed it yet");
    let o = sh(Command::new("dist/image/chaos-runner")
        .arg("restore")
        .arg(&out)
        .env("DOCKER_HOST", format!("unix://{RUN}/node-0/docker.sock"))
        .env(
            "NODE_AGENT_TOKEN",
            std::fs::read_to_string(format!("{RUN}/agent.token")).unwrap(),
        ));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("load service crashlab-vantage-"),
        "{}",
        text(&o)
    );
    assert_eq!(load_services(), 0, "restore removed it");
    let _ = std::fs::remove_dir_all(&out);
    drop(lab);
    assert_eq!(machine_state(), before, "the lab left something behind");
}
