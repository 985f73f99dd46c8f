//! The files a run writes: schema-pinned summary.json, timeline.csv, latency.hgrm and
//! latency.hlog, report.md and report.html; `report` re-renders and `compare` compares.

use std::time::Duration;

use crate::support::*;

fn run_with_outage(name: &str) -> TempDir {
    let (addr, _) = scripted_server(Script {
        outage: Some((Duration::from_millis(300), Duration::from_millis(700))),
        ..Default::default()
    });
    let out = tempdir(name);
    let spec = "cmd:true,at=300ms";
    let o = run(&[
        "run",
        &format!("http://{addr}/"),
        "--rate",
        "300",
        "--duration",
        "1500ms",
        "--fault",
        spec,
        "--slo",
        "p99<=1s",
        "--label",
        name,
        "--out",
        out.to_str().unwrap(),
        "-q",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    out
}

#[test]
fn summary_json_matches_its_schema() {
    let out = run_with_outage("schema");
    let s = summary(&out);
    let v = schema("summary.schema.json");
    let errors: Vec<String> = v
        .iter_errors(&s)
        .map(|e| format!("{e} at {}", e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    // And the schema is not vacuous: a summary missing its counts fails it.
    let mut broken = s.clone();
    broken.as_object_mut().unwrap().remove("counts");
    assert!(!v.is_valid(&broken));
    let mut wrong = s;
    wrong["counts"]["sent"] = serde_json::json!(-1);
    assert!(!v.is_valid(&wrong));
}

#[test]
fn every_report_file_is_written_and_says_what_was_measured() {
    let out = run_with_outage("files");
    for f in [
        "summary.json",
        "timeline.csv",
        "latency.hgrm",
        "latency.hlog",
        "report.md",
        "report.html",
    ] {
        let len = std::fs::metadata(out.join(f)).map(|m| m.len()).unwrap_or(0);
        assert!(len > 0, "{f} missing or empty");
    }
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("Access path: direct: loopback address"));
    assert!(md.contains("| scheduled | sent | dropped |"));
    assert!(md.contains("## Outages"));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    // Throughput, failures by class (this run has an outage), replicas, latency by
    // percentile, latency over time.
    assert_eq!(html.matches("<svg").count(), 5, "five charts");
    assert!(html.contains("Failed requests per second by class"));
    assert!(!html.contains("<script"), "self-contained, no scripts");
    let hgrm = std::fs::read_to_string(out.join("latency.hgrm")).unwrap();
    assert!(hgrm.contains("Percentile") && hgrm.contains("#[Max"));
    let hlog = std::fs::read_to_string(out.join("latency.hlog")).unwrap();
    assert!(hlog.contains("#[StartTime:") && hlog.contains("Tag=ok"));
    let csv = std::fs::read_to_string(out.join("timeline.csv")).unwrap();
    assert!(csv.lines().count() >= 15, "a row per 100 ms bucket");
}

#[test]
fn report_rerenders_from_the_data_and_compare_puts_runs_side_by_side() {
    let a = run_with_outage("cmp-a");
    let b = run_with_outage("cmp-b");
    let before = std::fs::read_to_string(a.join("report.md")).unwrap();
    std::fs::remove_file(a.join("report.md")).unwrap();
    std::fs::remove_file(a.join("report.html")).unwrap();
    let o = run(&["report", a.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(
        std::fs::read_to_string(a.join("report.md")).unwrap(),
        before,
        "re-rendered report equals the original"
    );
    assert!(a.join("report.html").exists());

    let out = tempdir("cmp-out");
    let o = run(&[
        "compare",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let md = std::fs::read_to_string(out.join("compare.md")).unwrap();
    assert!(md.contains("| cmp-a |") && md.contains("| cmp-b |"), "{md}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("compare.json")).unwrap()).unwrap();
    assert_eq!(json["runs"].as_array().unwrap().len(), 2);
    assert!(std::fs::read_to_string(out.join("compare.html"))
        .unwrap()
        .contains("<svg"));
}
