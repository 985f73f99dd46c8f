//! `chaos-runner experiment`: against a scripted server whose outages each trial's fault
//! starts, every trial's figures equal the server's own count, and the experiment's
//! statistics equal those the test computes from that truth; a missed hypothesis exits 3;
//! an interrupted experiment is continued by `--resume` without redoing a finished run;
//! bad files are refused with the field's name and line.

use std::time::{Duration, SystemTime};

use crate::support::*;
use crate::truth::run_start;

/// Student's t at 0.975 for 2 degrees of freedom (tables; three trials a cell).
const T_975_DF2: f64 = 4.302_652_729_911_275;

fn write_file(dir: &std::path::Path, text: &str) -> std::path::PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let p = dir.join("e.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn assert_valid(e: &serde_json::Value) {
    assert_schema("experiment.schema.json", e);
}

fn json(p: &std::path::Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

#[test]
fn every_trial_matches_the_servers_count_and_the_statistics_match_an_independent_computation() {
    let _turn = timing_turn();
    let (addr, script) = scripted_server(Script {
        outage_on_demand: true,
        ..Default::default()
    });
    let dir = tempdir("experiment-truth");
    let file = write_file(
        &dir,
        &format!(
            r#"
name = "outage length"
trials = 3
seed = 7
[run]
url = "http://{addr}/"
rate = 200
duration = "1500ms"
timeout = "1s"
[matrix]
faults = ["http:/outage?ms=200,at=400ms", "http:/outage?ms=600,at=400ms"]
[[hypothesis]]
slo = "availability>=99%"
"#
        ),
    );
    let out = dir.join("out");
    let o = run(&[
        "experiment",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    // 200 or 600 ms of 503s in 1.5 s: availability <= 90 %, so the hypothesis is missed.
    assert_eq!(
        code(&o),
        3,
        "{}{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    let e = json(&out.join("experiment.json"));
    assert_valid(&e);
    // The schema is strict: a status it does not know is refused.
    let mut wrong = e.clone();
    wrong["trials"][0]["status"] = "lost".into();
    assert!(!schema("experiment.schema.json").is_valid(&wrong));
    assert_eq!(e["complete"], true);
    let trials = e["trials"].as_array().unwrap();
    assert_eq!(trials.len(), 6);
    // Interleaved: cell 1, cell 2, cell 1, ...
    let order: Vec<u64> = trials.iter().map(|t| t["cell"].as_u64().unwrap()).collect();
    assert_eq!(order, [1, 2, 1, 2, 1, 2]);

    // The truth of each trial: the server's own 200s and 503s between its start and the
    // next trial's.
    let summaries: Vec<serde_json::Value> = trials
        .iter()
        .map(|t| json(&out.join(t["dir"].as_str().unwrap()).join("summary.json")))
        .collect();
    let starts: Vec<SystemTime> = summaries.iter().map(run_start).collect();
    let log = script.log.entries();
    let mut truth = [Vec::new(), Vec::new()];
    for (i, s) in summaries.iter().enumerate() {
        let end = starts.get(i + 1).copied();
        let mine: Vec<_> = log
            .iter()
            .filter(|e| {
                let t = script.log.run_time(starts[i], e.arrived);
                t >= -0.001 && end.is_none_or(|n| script.log.run_time(n, e.arrived) < -0.001)
            })
            .collect();
        let ok = mine.iter().filter(|e| e.status == 200).count() as u64;
        let failed = mine.iter().filter(|e| e.status == 503).count() as u64;
        let c = &s["counts"];
        assert_eq!(c["ok"].as_u64(), Some(ok), "trial {i}: {c}");
        assert_eq!(c["failed"].as_u64(), Some(failed), "trial {i}: {c}");
        assert!(failed > 0, "trial {i}: its fault started an outage");
        let scheduled = c["scheduled"].as_u64().unwrap() as f64;
        let availability = ok as f64 / scheduled;
        let reported = trials[i]["metrics"]["availability"].as_f64().unwrap();
        assert!(
            (reported - availability).abs() < 1e-12,
            "trial {i}: {reported} vs {availability}"
        );
        truth[trials[i]["cell"].as_u64().unwrap() as usize - 1].push(availability);
    }

    // Mean, standard deviation and interval from the truth, computed here.
    for (cell, values) in truth.iter().enumerate() {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        let sd = (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
        let half = T_975_DF2 * sd / n.sqrt();
        let st = &e["cells"][cell]["stats"]["availability"];
        let close = |a: &serde_json::Value, b: f64| (a.as_f64().unwrap() - b).abs() < 1e-9;
        assert!(close(&st["mean"], mean), "cell {cell}: {st} vs mean {mean}");
        assert!(close(&st["sd"], sd), "cell {cell}: {st} vs sd {sd}");
        assert!(close(&st["ci"][0], mean - half), "cell {cell}: {st}");
        assert!(close(&st["ci"][1], mean + half), "cell {cell}: {st}");
    }
    // The longer outage costs availability, and the difference names its cells.
    let d = e["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["metric"] == "availability")
        .unwrap();
    assert_eq!((d["a"].as_u64(), d["b"].as_u64()), (Some(1), Some(2)));
    assert!(d["diff"].as_f64().unwrap() < 0.0, "{d}");
    for h in e["hypotheses"].as_array().unwrap() {
        assert_eq!(h["passed"], false, "{h}");
    }
    let md = std::fs::read_to_string(out.join("experiment.md")).unwrap();
    assert!(md.contains("The unit of replication is a trial"), "{md}");
    assert!(md.contains("MISSED"), "{md}");
    let html = std::fs::read_to_string(out.join("experiment.html")).unwrap();
    assert!(html.contains("<svg"), "the charts are drawn");
    assert!(html.contains("runs/cell-02/trial-03/report.html"));

    // Never overwritten silently; --force writes over an earlier experiment.
    let again = run(&[
        "experiment",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&again), 2, "{}", stderr(&again));
    assert!(stderr(&again).contains("--resume"), "{}", stderr(&again));
}

#[test]
fn an_interrupted_experiment_is_resumed_without_redoing_a_finished_run() {
    let _turn = timing_turn();
    let (addr, _) = scripted_server(Script::default());
    let dir = tempdir("experiment-resume");
    let file = write_file(
        &dir,
        &format!(
            "name = \"resume\"\ntrials = 4\n[run]\nurl = \"http://{addr}/\"\nrate = 50\nduration = \"1s\"\n"
        ),
    );
    let out = dir.join("out");
    let child = runner()
        .args([
            "experiment",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let second = out.join("runs/cell-01/trial-02");
    wait_for("the second trial to start", Duration::from_secs(60), || {
        second.join("journal").exists()
    });
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}", stderr(&o));
    let e = json(&out.join("experiment.json"));
    assert_valid(&e);
    assert_eq!(e["interrupted"], true);
    let status: Vec<&str> = e["trials"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["status"].as_str().unwrap())
        .collect();
    assert_eq!(status, ["done", "interrupted", "pending", "pending"]);
    let first = out.join("runs/cell-01/trial-01/summary.json");
    let before = std::fs::read(&first).unwrap();
    let modified = std::fs::metadata(&first).unwrap().modified().unwrap();

    // A different file (or trial count) is refused.
    let other = run(&[
        "experiment",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--resume",
        "--trials",
        "5",
    ]);
    assert_eq!(code(&other), 2, "{}", stderr(&other));

    let o = run(&[
        "experiment",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--resume",
    ]);
    assert_eq!(
        code(&o),
        0,
        "{}{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    assert_eq!(
        std::fs::read(&first).unwrap(),
        before,
        "trial 1 was not redone"
    );
    assert_eq!(
        std::fs::metadata(&first).unwrap().modified().unwrap(),
        modified
    );
    let e = json(&out.join("experiment.json"));
    assert_eq!(e["complete"], true);
    assert_eq!(e["cells"][0]["done"], 4);
    let stderr = stderr(&o);
    assert_eq!(
        stderr.matches("trial ").count(),
        3,
        "only trials 2 to 4 ran: {stderr}"
    );
}

#[test]
fn bad_experiment_files_are_refused_with_the_field_and_line() {
    let dir = tempdir("experiment-bad");
    let cases = [
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\nrate = \"fast\"\n",
            "[run] rate (line 4)",
        ),
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\nbogus = 3\n",
            "[run] bogus (line 4)",
        ),
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\n[matrix]\nreplicas = [1, 5]\n",
            "swarm_service",
        ),
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\nout = \"elsewhere\"\n",
            "[run] out (line 4)",
        ),
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\n[matrix]\nfaults = [\"nuke:/x,at=1s\"]\n",
            "[matrix] faults (line 5)",
        ),
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\nduration = \"1s\"\nfault = [\"cmd:true,at=5s\"]\n",
            "after the end",
        ),
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\nswarm_service = \"s\"\n[matrix]\nmemory = [\"none\", \"5MiB\"]\n",
            "[matrix] memory (line 6), value 2: '5MiB' is out of range",
        ),
        ("name = \"x\"\n[runn]\nurl = \"u\"\n", "line 2"),
        (
            "name = \"x\"\n[run]\nurl = \"http://127.0.0.1:1/\"\n[matrix]\nrate = [10]\n[[hypothesis]]\nslo = \"p99<=1s\"\nonly = { rate = 20 }\n",
            "matches no configuration",
        ),
    ];
    for (i, (text, says)) in cases.iter().enumerate() {
        let file = write_file(&dir.join(i.to_string()), text);
        let o = run(&["experiment", file.to_str().unwrap(), "--dry-run"]);
        assert_eq!(code(&o), 2, "{text}: {}", stderr(&o));
        assert!(
            stderr(&o).contains(says),
            "{text}: wanted '{says}' in: {}",
            stderr(&o)
        );
    }
}

#[test]
fn every_committed_experiment_file_is_a_valid_plan() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../experiments");
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "toml") {
            // The lab's files leave its node driver to the command line (lab.sh gives it).
            let o = run(&[
                "experiment",
                p.to_str().unwrap(),
                "--dry-run",
                "--",
                "--node-driver",
                "exec:true",
            ]);
            assert_eq!(code(&o), 0, "{}: {}", p.display(), stderr(&o));
            // Every file plans its cells (vantage-partition.toml has one: it compares vantage
            // points, not configurations).
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("cell 1:"),
                "{}",
                p.display()
            );
            n += 1;
        }
    }
    assert!(n >= 3, "{n} files in {}", dir.display());
}
