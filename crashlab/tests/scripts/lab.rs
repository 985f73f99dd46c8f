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

/// The coordinator of `run --vantage global` killed outright (SIGKILL) mid-run: every load
/// task stops by itself once it has lost the coordinator for --vantage-lost-after (5 s here),
/// long before its --duration; the load services stay until `chaos-runner restore` removes
/// them from the journal; the lab's removal leaves the machine as found.
#[test]
#[ignore = "needs root and Docker; CI runs it (cargo test -- --include-ignored)"]
fn a_killed_coordinator_s_tasks_stop_by_themselves_and_restore_removes_their_services() {
    need("docker", &["info"]);
    need("ip", &["netns", "list"]);
    let _turn = docker_turn();
    let before = machine_state();
    let tag = format!("crashlab/crashserver:e2e-coord-{}", std::process::id());
    let o = sh(Command::new("scripts/build-image.sh").arg(&tag));
    assert!(o.status.success(), "{}", text(&o));
    let _image = Leftovers {
        containers: vec![],
        image: tag.clone(),
    };
    let lab = LabGuard;
    let o = sh(Command::new("scripts/lab.sh").args(["up", "--nodes", "3", "--image", &tag]));
    assert!(o.status.success(), "{}", text(&o));
    let o = sh(Command::new("scripts/lab.sh").args(["deploy", "lab", "3"]));
    assert!(o.status.success(), "{}", text(&o));
    let out = std::env::temp_dir().join(format!("crashlab-coord-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let mut coordinator = Command::new("scripts/lab.sh")
        .args(["run", "lab_appnet"])
        .arg(&out)
        .args([
            "http://tasks.appserver:8080/",
            "--rate",
            "60",
            "--duration",
            "120s",
        ])
        .args([
            "--timeout",
            "1s",
            "--swarm-service",
            "lab_appserver",
            "--replicas",
            "3",
        ])
        .args([
            "--vantage",
            "global",
            "--vantage-lost-after",
            "5s",
            "--vantage-lead",
            "10s",
        ])
        .current_dir(repo())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let services = || {
        let o = node0(&["service", "ls", "-q", "--filter", "name=crashlab-vantage-"]);
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    let tasks = || {
        let o = Command::new("pgrep")
            .args([
                "-f",
                "^/usr/local/bin/chaos-runner run .*--out /vantage/run",
            ])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&o.stdout).lines().count()
    };
    // The load under way on every node, its first seconds arrived at the coordinator.
    within("3 load tasks sending", Duration::from_secs(180), || {
        tasks() == 3
            && ["node-0", "node-1", "node-2"].iter().all(|n| {
                std::fs::metadata(out.join("vantages").join(n).join("journal/buckets.csv"))
                    .is_ok_and(|m| m.len() > 0)
            })
    });
    assert_eq!(services(), 3);
    let killed = Command::new("pkill")
        .args([
            "-KILL",
            "-f",
            "^/usr/local/bin/chaos-runner run --out /run-out .*--vantage global",
        ])
        .status()
        .unwrap();
    assert!(killed.success(), "the coordinator was running");
    let _ = coordinator.wait();
    // Each task stops once it could not reach the coordinator for 5 s: within its next
    // second's send, the load's stop and its report, not at the end of its 120 s.
    let took = within("the load tasks to stop", Duration::from_secs(60), || {
        tasks() == 0
    });
    assert!(
        took < Duration::from_secs(20),
        "the tasks stopped {took:?} after"
    );
    assert_eq!(services(), 3, "nobody removed them yet");
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
    assert_eq!(services(), 0, "restore removed them");
    let _ = std::fs::remove_dir_all(&out);
    drop(lab);
    assert_eq!(machine_state(), before, "the lab left something behind");
}
