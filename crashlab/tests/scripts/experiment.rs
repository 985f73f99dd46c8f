//! An experiment on a real swarm (`scripts/experiment.sh`): a matrix over replicas with a
//! health check set through the swarm API, 2 configurations x 2 trials; every trial's
//! replicas answered before its clock started, the statistics and pages are there, and the
//! service was put back as found.

use std::process::Command;

use crate::support::*;

#[test]
#[ignore = "needs Docker; CI runs it (cargo test -- --include-ignored)"]
fn an_experiment_over_replicas_runs_every_trial_and_puts_the_service_back() {
    need("docker", &["info"]);
    let _turn = docker_turn();
    let stack = format!("crashlab-exp{}", std::process::id());
    let dir = std::env::temp_dir().join(format!("crashlab-experiment-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("replicas.toml");
    std::fs::write(
        &file,
        r#"
name = "replicas e2e"
trials = 2
rebalance = true
[run]
url = "http://replaced.by.the.script:8080/"
rate = 50
duration = "5s"
timeout = "1s"
faults = ["http:/chaos?slow=20ms&for=1s,at=1s", "docker,at=2s"]
[matrix]
replicas = [1, 3]
health = ["interval=1s;retries=2;timeout=1s"]
"#,
    )
    .unwrap();
    let out = dir.join("out");
    let o = sh(Command::new("scripts/experiment.sh")
        .arg(&file)
        .args(["--out", out.to_str().unwrap()])
        .env("CRASHLAB_STACK", &stack));
    let log = text(&o);
    assert!(o.status.success(), "{log}");
    let e = json(&out.join("experiment.json"));
    assert_eq!(e["complete"], true, "{log}");
    let trials = e["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 4);
    assert_eq!(e["rebalance"], true);
    // Spread afresh before every trial: no task of one trial served the next.
    let ids = |t: &serde_json::Value| -> Vec<String> {
        let s = json(&out.join(t["dir"].as_str().unwrap()).join("summary.json"));
        s["instances"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_string())
            .collect()
    };
    for pair in trials.windows(2) {
        let (a, b) = (ids(&pair[0]), ids(&pair[1]));
        assert!(
            !b.iter().any(|i| a.contains(i)),
            "{} and {} share a task: {a:?} {b:?}",
            pair[0]["dir"],
            pair[1]["dir"]
        );
    }
    for t in trials {
        assert_eq!(t["status"], "done", "{t}");
        assert!(t.get("short_of_replicas").is_none(), "{t}");
        let s = json(&out.join(t["dir"].as_str().unwrap()).join("summary.json"));
        let want = if t["cell"] == 1 { 1 } else { 3 };
        let sw = &s["swarm"];
        assert_eq!(sw["replicas"], want, "{sw}");
        assert_eq!(sw["answering"]["seen"], want, "{}", sw["answering"]);
        // The health check the cell set was running: swarm reported the task healthy.
        assert!(
            sw["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|ev| ev["action"] == "healthy"),
            "no health check ran in {}: {sw}",
            t["dir"]
        );
        // Both took effect: the http one with the token the stack was deployed with.
        for f in s["faults"].as_array().unwrap() {
            assert!(f["ok"] == true, "{f}");
        }
        // What swarm did, as the experiment states it, is what the run recorded: a SIGKILL
        // is noticed (the task died) and replaced; a slow replica never is.
        let by_kind = |k: &str| {
            s["faults"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["kind"] == k)
                .unwrap_or_else(|| panic!("no {k} fault in {}", s["faults"]))
                .clone()
        };
        let (kill, slow) = (by_kind("docker"), by_kind("http"));
        let (m, sw) = (&t["metrics"], &kill["swarm"]);
        assert_eq!(m["swarm_noticed_s"], sw["noticed_s"], "{m} {sw}");
        assert_eq!(m["swarm_replaced_s"], sw["started_s"], "{m} {sw}");
        assert_eq!(m["faults_unnoticed"], 1.0, "{m}");
        assert!(slow["swarm"]["noticed_s"].is_null(), "{slow}");
        assert!(sw["noticed_s"].as_f64().unwrap() < 2.0, "{sw}");
    }
    let cells = e["cells"].as_array().unwrap();
    assert_eq!(cells.len(), 2);
    for c in cells {
        assert_eq!(c["done"], 2);
        assert!(c["stats"]["availability"]["ci"].is_array(), "{c}");
    }
    // compose.yaml has 1 replica and no health check: both were put back.
    let restored = e["service"].as_str().unwrap();
    assert!(restored.contains("health check put back"), "{restored}");
    let journal = std::fs::read_to_string(out.join("journal/run.jsonl")).unwrap();
    assert!(journal.contains("\"service_restored\""), "{journal}");
    for f in ["experiment.md", "experiment.html"] {
        assert!(out.join(f).exists(), "{f}");
    }
    assert!(log.contains("What was done"), "{log}");
    let md = std::fs::read_to_string(out.join("experiment.md")).unwrap();
    assert!(md.contains("What swarm did about the faults"), "{md}");
    let _ = std::fs::remove_dir_all(&dir);
}
