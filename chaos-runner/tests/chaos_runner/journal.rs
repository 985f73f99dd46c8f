//! The run journal: a runner killed at any moment keeps what it measured up to its last
//! committed second, `report` rebuilds the run from it (marked incomplete, exit 4), and a
//! directory that cannot be written is refused before anything is sent.

use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use rand::{Rng, SeedableRng};

use crate::support::*;

const RATE: f64 = 1000.0;

/// Starts a run of 6 s at 1,000/s against `addr`, SIGKILLs it `after` its first request.
fn killed_run(out: &std::path::Path, addr: std::net::SocketAddr, script: &Script, after: Duration) {
    killed_run_with(out, addr, script, after, &[], "KILL");
}

/// [`killed_run`] with more arguments, stopped by `signal` (`KILL` or `TERM`); its exit status.
fn killed_run_with(
    out: &std::path::Path,
    addr: std::net::SocketAddr,
    script: &Script,
    after: Duration,
    more: &[&str],
    signal: &str,
) -> std::process::ExitStatus {
    let mut child = runner()
        .args([
            "run",
            &format!("http://{addr}/"),
            "--rate",
            "1000",
            "--duration",
            "6s",
        ])
        .args(more)
        .args(["--out", out.to_str().unwrap(), "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the first request", Duration::from_secs(60), || {
        script.first.get().is_some()
    });
    let first = *script.first.get().unwrap();
    while first.elapsed() < after {
        std::thread::sleep(Duration::from_millis(1));
    }
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success(), "kill -s {signal}");
    child.wait().unwrap()
}

#[test]
fn a_runner_killed_at_random_moments_keeps_what_it_measured() {
    let _turn = timing_turn();
    let seed: u64 = rand::rngs::StdRng::from_os_rng().random();
    println!("kill times from seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    for round in 0..10 {
        let (addr, script) = scripted_server(Script {
            outage: Some((Duration::from_millis(1000), Duration::from_millis(1600))),
            ..Default::default()
        });
        let out = tempdir(&format!("killed-{round}"));
        // Past the outage (1.0-1.6 s) by more than a second: it is whole in what was committed.
        let after = Duration::from_millis(rng.random_range(2_800..5_500));
        killed_run(&out, addr, &script, after);
        assert!(!out.join("summary.json").exists(), "the run was killed");
        // A second run into the directory is refused, and says why.
        let again = run_into(
            &out,
            &format!("http://{addr}/"),
            &["--rate", "10", "--duration", "1s"],
        );
        assert_eq!(code(&again), 2, "{}", stderr(&again));
        assert!(
            stderr(&again).contains("did not finish"),
            "{}",
            stderr(&again)
        );

        let o = run(&["report", out.to_str().unwrap()]);
        assert_eq!(
            code(&o),
            4,
            "{}{}",
            stderr(&o),
            String::from_utf8_lossy(&o.stdout)
        );
        let s = summary(&out);
        let (_, ok) = assert_reconciles(&s);
        let covered = s["incomplete"]["stopped_at_s"].as_f64().unwrap();
        let in_flight = s["incomplete"]["in_flight"].as_u64().unwrap();
        // At most the last second is lost: the journal commits once a second, on the
        // runner's own clock; where the machine kept the runner from its schedule (as the
        // server saw its requests arrive late near the kill), that commit came that much later.
        let killed_at = after.as_secs_f64();
        let behind_ms = script
            .log
            .send_delay_ms(run_start(&s), RATE, killed_at - 1.5, killed_at);
        assert!(
            covered <= killed_at + 0.05 && covered >= killed_at - 1.1 - behind_ms / 1e3,
            "killed {killed_at:.3} s after the first request, covered to {covered:.3} s (the runner was behind its schedule by up to {behind_ms:.0} ms then)"
        );
        // The truth: what the server answered ok to the ticks the report covers.
        let log = script.log.entries();
        let truth_ok = log
            .iter()
            .enumerate()
            .filter(|(i, e)| (*i as f64) / RATE < covered && e.status == 200)
            .count() as u64;
        println!(
            "round {round}: killed at {killed_at:.3} s, covered {covered:.3} s, ok {ok} (server {truth_ok}), {in_flight} in flight"
        );
        assert!(
            ok <= truth_ok && truth_ok - ok <= RATE as u64,
            "rebuilt ok {ok}, the server answered {truth_ok} ok to the covered ticks"
        );
        // The outage, whole inside the covered part, as the server lived it.
        let truth = script.log.outage(RATE, |r| r.status == 503);
        let w = s["downtime"]["windows"].as_array().unwrap();
        assert_outage(w, &truth, &script.log, run_start(&s), RATE);
        // Latency of the successes read before the cut, against the server's log: the report
        // holds every answer the client had read by its last commit. It surely read those the
        // server gave well before (by the slack and how far behind the client ran then), and
        // none the server gave after; those in flight at the cut are in neither.
        let start = run_start(&s);
        let behind = script.log.send_delay_ms(start, RATE, 0.0, covered);
        let end_behind = script
            .log
            .send_delay_ms(start, RATE, covered - 1.5, covered);
        // (latency from the tick's time, answered at) of each success, on the run's time line.
        let answered: Vec<(f64, f64)> = log
            .iter()
            .enumerate()
            .filter(|(_, e)| e.status == 200)
            .filter_map(|(i, e)| {
                let at = script.log.run_time(start, e.answered?);
                Some(((at - i as f64 / RATE) * 1e3, at))
            })
            .collect();
        let read_by = |t: f64| -> Vec<f64> {
            answered
                .iter()
                .filter(|(_, a)| *a <= t)
                .map(|(l, _)| *l)
                .collect()
        };
        let surely = read_by(covered - (SLACK_MS + end_behind) / 1e3);
        let at_most = read_by(covered);
        let count = s["latency_ms"]["count"].as_u64().unwrap();
        for (key, q) in [("p50", 0.5), ("p99", 0.99)] {
            assert_quantile_between(
                key,
                s["latency_ms"][key].as_f64().unwrap(),
                q,
                count,
                &surely,
                &at_most,
                behind,
            );
        }
        for f in ["report.md", "report.html"] {
            let text = std::fs::read_to_string(out.join(f)).unwrap();
            assert!(text.contains("INCOMPLETE"), "{f} does not say so");
        }
        // Re-rendering the rebuilt run keeps saying so.
        assert_eq!(code(&run(&["report", out.to_str().unwrap()])), 4);
    }
}

/// Vantage points lost mid-run: one whose runner died (SIGKILL, as when its node vanishes) is
/// merged from what its journal kept, one stopped by SIGTERM (as an engine that stops sends
/// its containers) from its report up to then; the page says which was lost when, and nothing
/// of either after its loss is counted; the whole run is merged beside them. Nothing is
/// written into the lost runs' directories.
#[test]
fn vantages_lost_mid_run_are_merged_up_to_their_loss_and_named() {
    let _turn = timing_turn();
    let (addr, script) = scripted_server(Script::default());
    let url = format!("http://{addr}/");
    let outs = [
        tempdir("vantage-whole"),
        tempdir("vantage-killed"),
        tempdir("vantage-stopped"),
    ];
    let start_at =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(3)).to_string();
    let on_clock = |k: u32| {
        vec![
            "--share".to_string(),
            format!("{k}/3"),
            "--start-at".into(),
            start_at.clone(),
        ]
    };
    let whole = {
        let (out, url, more) = (outs[0].to_path_buf(), url.clone(), on_clock(1));
        std::thread::spawn(move || {
            let more: Vec<&str> = more.iter().map(String::as_str).collect();
            run_into(
                &out,
                &url,
                &[&["--rate", "1000", "--duration", "6s"][..], &more].concat(),
            )
        })
    };
    let stopped = {
        let (out, script, more) = (outs[2].to_path_buf(), script.clone(), on_clock(3));
        std::thread::spawn(move || {
            let more: Vec<&str> = more.iter().map(String::as_str).collect();
            killed_run_with(
                &out,
                addr,
                &script,
                Duration::from_millis(2_200),
                &more,
                "TERM",
            )
        })
    };
    let after = Duration::from_millis(3_300);
    let more = on_clock(2);
    let more: Vec<&str> = more.iter().map(String::as_str).collect();
    killed_run_with(&outs[1], addr, &script, after, &more, "KILL");
    let o = whole.join().unwrap();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(stopped.join().unwrap().code(), Some(130), "interrupted");
    assert!(!outs[1].join("summary.json").exists(), "the run was killed");

    let merged = tempdir("vantage-merged");
    let mut args: Vec<&str> = vec!["merge"];
    args.extend(outs.iter().map(|o| o.to_str().unwrap()));
    args.extend(["--out", merged.to_str().unwrap()]);
    let o = run(&args);
    assert_eq!(code(&o), 4, "incomplete: {}", stderr(&o));
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("lost at"), "{said}");
    assert!(
        !outs[1].join("summary.json").exists(),
        "merge wrote into the lost run's directory"
    );
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("merged.json")).unwrap())
            .unwrap();
    let v = m["vantages"].as_array().unwrap();
    let n = |x: &serde_json::Value, k: &str| x[k].as_u64().unwrap();
    assert_eq!(v[0]["lost_at_s"], serde_json::Value::Null);
    assert_eq!(v[0]["rebuilt"], false);
    assert_eq!(n(&v[0], "scheduled"), 2000, "the whole run's share");
    assert_eq!(v[1]["rebuilt"], true);
    assert_eq!(v[1]["incomplete"], true);
    assert_eq!(v[2]["rebuilt"], false);
    assert_eq!(v[2]["in_flight_at_loss"], serde_json::Value::Null);
    let start = humantime::parse_rfc3339(v[1]["started_at"].as_str().unwrap()).unwrap();
    for (x, at, allowed) in [
        (&v[1], after, 1.5),
        (&v[2], Duration::from_millis(2_200), 0.3),
    ] {
        let lost_at = x["lost_at_s"].as_f64().expect("the lost vantage is named");
        let stopped_at = at.as_secs_f64();
        assert!(
            lost_at <= stopped_at + 0.05 && lost_at >= stopped_at - allowed,
            "{}: stopped {stopped_at} s after the first request, lost at {lost_at} s",
            x["name"]
        );
        // Its share up to the loss and nothing after: share k/3 is every third tick. Those
        // under way then are not counted, nor those the client had not sent yet where it ran
        // late (by the server's log of all shares' arrivals, on their one clock), nor those
        // ended but not yet taken in by its collector at the commit: on a busy machine up to a
        // tenth of a second's worth (34 of a share's ticks).
        let due = (lost_at * 1000.0 / 3.0).round() as u64;
        let behind_ms = script
            .log
            .send_delay_ms(start, RATE, lost_at - 1.0, lost_at);
        let unsent =
            x["in_flight_at_loss"].as_u64().unwrap_or(0) + (behind_ms / 3.0).ceil() as u64 + 34;
        let scheduled = n(x, "scheduled");
        assert!(
            scheduled <= due + 1 && scheduled + unsent + 1 >= due,
            "{}: {scheduled} scheduled to {lost_at} s, its share has {due} ticks then ({unsent} may be under way, unsent or not yet taken in)",
            x["name"]
        );
    }
    // The merged counts are the whole run's and what was kept of the lost ones.
    let g = &m["merged"];
    for k in ["scheduled", "sent", "ok", "failed", "dropped"] {
        assert_eq!(n(g, k), v.iter().map(|x| n(x, k)).sum::<u64>(), "{k}");
    }
    // Every request kept was one the server answered ok.
    let server_ok = script
        .log
        .entries()
        .iter()
        .filter(|e| e.status == 200)
        .count() as u64;
    assert!(
        n(g, "ok") <= server_ok,
        "{} ok, the server {server_ok}",
        n(g, "ok")
    );
    let page = std::fs::read_to_string(merged.join("merged.md")).unwrap();
    for says in [
        "vantage-killed` (share 2/3) stopped measuring",
        "vantage-stopped` (share 3/3) stopped measuring",
        "(lost at",
        "not counted",
        "stopped by a signal",
        "has no report",
        // One vantage saw the whole run: none is compared with another.
        "fewer than two vantage points saw the whole run",
    ] {
        assert!(
            page.contains(says),
            "merged.md does not say {says:?}:\n{page}"
        );
    }
    assert_schema("merged.schema.json", &m);
}

#[test]
fn a_finished_run_leaves_a_journal_that_agrees_with_its_summary() {
    let (addr, _) = scripted_server(Script::default());
    let out = tempdir("journal-finished");
    let o = run_into(
        &out,
        &format!("http://{addr}/"),
        &["--rate", "200", "--duration", "2s"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let entries = std::fs::read_to_string(out.join("journal/run.jsonl")).unwrap();
    let kinds: Vec<String> = entries
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v.as_object().unwrap().keys().next().unwrap().clone()
        })
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("begin"));
    assert_eq!(kinds.get(1).map(String::as_str), Some("started"));
    assert_eq!(kinds.last().map(String::as_str), Some("end"));
    assert!(kinds.iter().filter(|k| *k == "second").count() >= 2);
    // `report` of a finished run is a plain re-render (exit 0).
    assert_eq!(code(&run(&["report", out.to_str().unwrap()])), 0);
    // `restore` of a run that acted on no swarm has nothing to do.
    let o = run(&["restore", out.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("nothing to put back"));
}

/// A tmpfs of `size` mounted on a fresh directory, unmounted when dropped.
struct Tmpfs(TempDir);

impl Tmpfs {
    fn mount(name: &str, options: &str) -> Self {
        let d = tempdir(name);
        std::fs::create_dir_all(&*d).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs", d.to_str().unwrap()])
            .status()
            .expect("mount (needs root)");
        assert!(st.success(), "mount -t tmpfs failed (needs root)");
        Self(d)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&*self.0).status();
    }
}

#[test]
#[ignore = "needs root (mounts tmpfs); CI runs it (cargo test -- --include-ignored)"]
fn a_read_only_output_directory_is_refused_before_anything_is_sent() {
    let (addr, script) = scripted_server(Script::default());
    let ro = Tmpfs::mount("ro", "ro,size=1m");
    let o = run_into(
        &ro.0.join("run"),
        &format!("http://{addr}/"),
        &["--rate", "50", "--duration", "1s"],
    );
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("cannot"), "{}", stderr(&o));
    assert_eq!(script.answered.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
#[ignore = "needs root (mounts tmpfs); CI runs it (cargo test -- --include-ignored)"]
fn a_full_disk_stops_the_load_at_once_and_what_was_written_stays_readable() {
    let (addr, script) = scripted_server(Script::default());
    let fs = Tmpfs::mount("full", "size=512k");
    // Leave the run about 48 KiB: a few seconds of journal at 2,000/s.
    let filler = fs.0.join("filler");
    std::fs::write(&filler, vec![0u8; 464 * 1024]).unwrap();
    let out = fs.0.join("run");
    let started = Instant::now();
    let o = run_into(
        &out,
        &format!("http://{addr}/"),
        &["--rate", "2000", "--duration", "60s"],
    );
    let took = started.elapsed();
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(stderr(&o).contains("No space left"), "{}", stderr(&o));
    // The load stopped when the write failed, not at the end of its 60 s.
    assert!(took < Duration::from_secs(40), "ran {took:?}");
    assert!(script.answered.load(std::sync::atomic::Ordering::SeqCst) > 0);
    // With room again, what was written is read back: the run up to its last commit.
    std::fs::remove_file(&filler).unwrap();
    let o = run(&["report", out.to_str().unwrap()]);
    assert_eq!(
        code(&o),
        4,
        "{}{}",
        stderr(&o),
        String::from_utf8_lossy(&o.stdout)
    );
    let s = summary(&out);
    assert_reconciles(&s);
    assert!(s["counts"]["ok"].as_u64().unwrap() > 0);
}

#[test]
fn a_firing_under_way_when_the_load_ends_is_let_finish_for_a_while_then_marked_cut_short() {
    let (addr, _script) = scripted_server(Script::default());
    let url = format!("http://{addr}/");
    let out = tempdir("cut-short");
    std::fs::create_dir_all(&out).unwrap();
    let log = out.join("log");
    // Both fire at 1 s; the load ends at 1.5 s. The first takes 2 s: within the 5 s a
    // firing may still take, so it finishes and is reported. The second takes 30 s: it is
    // abandoned (its command killed) and reported as cut short.
    let quick = format!("cmd:sleep 2; echo quick >> {},at=1s", log.display());
    let stuck = format!("cmd:sleep 30; echo stuck >> {},at=1s", log.display());
    let started = Instant::now();
    let o = run_into(
        &out.join("run"),
        &url,
        &[
            "--rate",
            "20",
            "--duration",
            "1500ms",
            "--fault",
            &quick,
            "--fault",
            &stuck,
        ],
    );
    let took = started.elapsed();
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(took < Duration::from_secs(25), "the run waited {took:?}");
    let s = summary(&out.join("run"));
    let f = s["faults"].as_array().unwrap();
    assert_eq!(f.len(), 2, "{f:?}");
    // Both fired at 1 s: the summary lists them by time, so find each by its spec.
    let named = |what: &str| {
        f.iter()
            .find(|e| e["spec"].as_str().unwrap().contains(what))
            .unwrap_or_else(|| panic!("no {what} fault in {f:?}"))
    };
    let (quick, stuck) = (named("quick"), named("stuck"));
    assert_eq!(quick["ok"], true, "{quick}");
    assert!(quick["took_ms"].as_f64().unwrap() >= 2000.0, "{quick}");
    assert_eq!(stuck["ok"], false, "{stuck}");
    assert!(
        stuck["outcome"].as_str().unwrap().starts_with("cut short"),
        "{stuck}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "quick\n");
    // The journal names both, as the report does.
    let j = std::fs::read_to_string(out.join("run/journal/run.jsonl")).unwrap();
    assert!(j.contains("cut short"), "{j}");
}
