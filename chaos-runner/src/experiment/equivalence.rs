//! Every `[run]` field of an experiment file and its `chaos-runner run` flag give the same
//! checked [`RunConfig`], a test per field; and every flag of `run` is either covered here
//! or one the experiment sets itself (a new flag without a case fails the coverage test).

use std::path::Path;

use clap::{CommandFactory, Parser};

use super::plan::{Plan, ONCE_ONLY_FIELDS, OWN_FIELDS, STREAM_FIELDS};
use super::Overrides;
use crate::cli::{Cli, Command};
use crate::config::RunConfig;

const URL: &str = "http://127.0.0.1:8080/status";

/// A directory of this test's own, removed when dropped.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("crashlab-eq-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        Self(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// (the `[run]` lines besides `url`, the same as flags after the URL).
const CASES: &[(&str, &[&str])] = &[
    ("rate = 200", &["--rate", "200"]),
    ("rate = \"2k\"", &["--rate", "2k"]),
    ("concurrency = 8", &["--concurrency", "8"]),
    (
        "rate = 100\nmax_in_flight = 50",
        &["--rate", "100", "--max-in-flight", "50"],
    ),
    (
        "rate = 100\nshare = \"2/3\"",
        &["--rate", "100", "--share", "2/3"],
    ),
    ("duration = \"3s\"", &["--duration", "3s"]),
    ("requests = 1000", &["--requests", "1000"]),
    ("timeout = \"500ms\"", &["--timeout", "500ms"]),
    ("no_keepalive = true", &["--no-keepalive"]),
    ("no_keepalive = false", &[]),
    ("recycle = \"2s\"", &["--recycle", "2s"]),
    ("resolve_every = \"0s\"", &["--resolve-every", "0s"]),
    (
        "headers = [\"X-A: 1\", \"X-B: two\"]",
        &["--header", "X-A: 1", "--header", "X-B: two"],
    ),
    ("header = \"X-A: 1\"", &["--header", "X-A: 1"]),
    (
        "faults = [\"http:/kill,at=1s,seed=3\", \"cmd:true,every=2s,seed=4\"]",
        &[
            "--fault",
            "http:/kill,at=1s,seed=3",
            "--fault",
            "cmd:true,every=2s,seed=4",
        ],
    ),
    (
        "faults = [\"http:http://127.0.0.1:9/kill,at=1s,seed=3\"]",
        &["--fault", "http:http://127.0.0.1:9/kill,at=1s,seed=3"],
    ),
    ("kill_token = \"s3cret\"", &["--kill-token", "s3cret"]),
    (
        "kill_token = \"s3cret\"\nkill_token_any_host = true",
        &["--kill-token", "s3cret", "--kill-token-any-host"],
    ),
    ("swarm_service = \"svc\"", &["--swarm-service", "svc"]),
    (
        "swarm_service = \"svc\"\nengines = [\"node-1=unix:///var/run/docker.sock\"]",
        &[
            "--swarm-service",
            "svc",
            "--engine",
            "node-1=unix:///var/run/docker.sock",
        ],
    ),
    (
        "swarm_service = \"svc\"\nnode_driver = \"exec:scripts/lab.sh node\"\nnode_token = \"t0k\"",
        &[
            "--swarm-service",
            "svc",
            "--node-driver",
            "exec:scripts/lab.sh node",
            "--node-token",
            "t0k",
        ],
    ),
    (
        "swarm_service = \"svc\"\nreplicas = 3",
        &["--swarm-service", "svc", "--replicas", "3"],
    ),
    (
        "swarm_service = \"svc\"\nconverge_timeout = \"30s\"",
        &["--swarm-service", "svc", "--converge-timeout", "30s"],
    ),
    ("recording = \"off\"", &["--recording", "off"]),
    ("bucket = \"50ms\"", &["--bucket", "50ms"]),
    ("bucket_threshold = \"95%\"", &["--bucket-threshold", "95%"]),
    ("min_window = \"300ms\"", &["--min-window", "300ms"]),
    (
        "slo = \"availability>=99%,p99<=250ms\"",
        &["--slo", "availability>=99%,p99<=250ms"],
    ),
    (
        "swarm_service = \"svc\"\nrate = 100\nduration = \"10s\"\nvantage = \"global\"",
        &["--swarm-service", "svc", "--rate", "100", "--duration", "10s", "--vantage", "global"],
    ),
    (
        "swarm_service = \"svc\"\nrate = 100\nduration = \"10s\"\nvantage = \"nodes:node-0;node-2\"",
        &["--swarm-service", "svc", "--rate", "100", "--duration", "10s", "--vantage", "nodes:node-0;node-2"],
    ),
    (
        "swarm_service = \"svc\"\nrate = 100\nduration = \"10s\"\nvantage = \"global\"\nvantage_image = \"crashlab/crashserver:v2\"",
        &["--swarm-service", "svc", "--rate", "100", "--duration", "10s", "--vantage", "global", "--vantage-image", "crashlab/crashserver:v2"],
    ),
    (
        "swarm_service = \"svc\"\nrate = 100\nduration = \"10s\"\nvantage = \"global\"\nvantage_port = 7171",
        &["--swarm-service", "svc", "--rate", "100", "--duration", "10s", "--vantage", "global", "--vantage-port", "7171"],
    ),
    (
        "swarm_service = \"svc\"\nrate = 100\nduration = \"10s\"\nvantage = \"global\"\nvantage_lead = \"30s\"",
        &["--swarm-service", "svc", "--rate", "100", "--duration", "10s", "--vantage", "global", "--vantage-lead", "30s"],
    ),
    (
        "swarm_service = \"svc\"\nrate = 100\nduration = \"10s\"\nvantage = \"global\"\nvantage_lost_after = \"40s\"",
        &["--swarm-service", "svc", "--rate", "100", "--duration", "10s", "--vantage", "global", "--vantage-lost-after", "40s"],
    ),
    ("access_path = \"dnsrr\"", &["--access-path", "dnsrr"]),
];

/// The trial's configuration from a file whose `[run]` holds `fields`.
fn from_file(dir: &Path, fields: &str) -> RunConfig {
    let path = dir.join("e.toml");
    std::fs::write(
        &path,
        format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\n{fields}\n"),
    )
    .unwrap();
    let plan = Plan::read(&path, Some(1), &Overrides::default())
        .unwrap_or_else(|e| panic!("{fields}: {}", e.0));
    let trial = &plan.schedule()[0];
    let mut c = plan.run_config(trial, dir).unwrap();
    c.command.clear();
    c
}

/// The same from `chaos-runner run URL flags...` plus what the experiment adds.
fn from_flags(dir: &Path, flags: &[&str]) -> RunConfig {
    let out = dir.join("runs/cell-01/trial-01").display().to_string();
    let mut argv = vec!["chaos-runner", "run", URL];
    argv.extend(flags);
    argv.extend(["--label", "as configured", "--out", &out, "--quiet"]);
    let Command::Run(args) = Cli::try_parse_from(&argv).unwrap().command else {
        panic!("not run")
    };
    RunConfig::check(*args, vec![]).unwrap_or_else(|e| panic!("{flags:?}: {}", e.0))
}

#[test]
fn every_run_field_gives_the_configuration_of_its_flag() {
    let dir = Scratch::new("fields");
    for (fields, flags) in CASES {
        let (file, line) = (from_file(dir.path(), fields), from_flags(dir.path(), flags));
        assert_eq!(file, line, "[run] {fields} against {flags:?}");
        // The field under test is the last line: without it the configuration differs
        // (else the case could not fail), unless it asks for nothing.
        if !flags.is_empty() {
            let before = fields.rsplit_once('\n').map_or("", |(b, _)| b);
            assert_ne!(
                from_file(dir.path(), before),
                file,
                "[run] {fields}: its last field changed nothing"
            );
        }
    }
}

#[test]
fn every_flag_of_run_has_a_case_or_is_the_experiment_s_own() {
    let cli = Cli::command();
    let run = cli.find_subcommand("run").unwrap();
    let covered = |long: &str| {
        CASES
            .iter()
            .any(|(_, flags)| flags.contains(&format!("--{long}").as_str()))
    };
    let missing: Vec<&str> = run
        .get_arguments()
        .filter_map(|a| a.get_long())
        .filter(|l| {
            *l != "help"
                && !OWN_FIELDS.contains(l)
                && !ONCE_ONLY_FIELDS.contains(l)
                && !STREAM_FIELDS.contains(l)
                && !covered(l)
        })
        .collect();
    assert!(missing.is_empty(), "flags with no file case: {missing:?}");
}

#[test]
fn a_start_time_is_refused_in_a_file() {
    let dir = Scratch::new("once");
    let path = dir.path().join("e.toml");
    std::fs::write(
        &path,
        format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\nstart_at = \"2026-12-02T10:00:00Z\"\n"),
    )
    .unwrap();
    let e = Plan::read(&path, Some(1), &Overrides::default()).unwrap_err();
    assert!(
        e.0.contains("[run] start_at (line 4): one time cannot start every trial"),
        "{}",
        e.0
    );
    std::fs::write(&path, format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\n")).unwrap();
    let overrides = Overrides {
        run_flags: vec!["--start-at=2026-12-02T10:00:00Z".into()],
        ..Overrides::default()
    };
    let e = Plan::read(&path, Some(1), &overrides).unwrap_err();
    assert!(e.0.contains("one time cannot start every trial"), "{}", e.0);
}

#[test]
fn streaming_is_refused_in_a_file_and_after_the_double_dash() {
    let dir = Scratch::new("stream");
    let path = dir.path().join("e.toml");
    std::fs::write(
        &path,
        format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\nstream_to = \"http://h:1\"\n"),
    )
    .unwrap();
    let e = Plan::read(&path, Some(1), &Overrides::default()).unwrap_err();
    assert!(
        e.0.contains("[run] stream_to (line 4): an experiment's trials are not streamed"),
        "{}",
        e.0
    );
    std::fs::write(&path, format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\n")).unwrap();
    let overrides = Overrides {
        run_flags: vec!["--stream-to=http://h:1".into()],
        ..Overrides::default()
    };
    let e = Plan::read(&path, Some(1), &overrides).unwrap_err();
    assert!(e.0.contains("not streamed to a gatherer"), "{}", e.0);
    let overrides = Overrides {
        run_flags: vec!["--shares-by-node=node-0=2/2".into()],
        ..Overrides::default()
    };
    let e = Plan::read(&path, Some(1), &overrides).unwrap_err();
    assert!(e.0.contains("not streamed to a gatherer"), "{}", e.0);
}

#[test]
fn the_experiment_s_own_fields_are_refused_in_run() {
    let dir = Scratch::new("own");
    let path = dir.path().join("e.toml");
    for own in OWN_FIELDS {
        let field = own.replace('-', "_");
        std::fs::write(
            &path,
            format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\n{field} = true\n"),
        )
        .unwrap();
        let e = Plan::read(&path, Some(1), &Overrides::default()).unwrap_err();
        assert!(
            e.0.contains(&format!("[run] {field} (line 4): set by the experiment")),
            "{}",
            e.0
        );
    }
}

#[test]
fn a_trial_s_command_line_is_what_its_journal_gets_with_secrets_redacted() {
    let dir = Scratch::new("command");
    let path = dir.path().join("e.toml");
    std::fs::write(
        &path,
        format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\nkill_token = \"s3cret\"\n"),
    )
    .unwrap();
    let plan = Plan::read(&path, Some(1), &Overrides::default()).unwrap();
    let c = plan.run_config(&plan.schedule()[0], dir.path()).unwrap();
    assert_eq!(&c.command[..3], ["chaos-runner", "run", URL]);
    assert!(
        c.command.contains(&"REDACTED".to_string()),
        "{:?}",
        c.command
    );
    assert!(
        !c.command.iter().any(|a| a.contains("s3cret")),
        "{:?}",
        c.command
    );
    assert!(
        !format!("{c:?}").contains("s3cret"),
        "Debug shows the token"
    );
    assert_eq!(c.kill_token.unwrap().expose(), "s3cret");
}

#[test]
fn flags_after_the_double_dash_are_as_if_in_run_and_own_ones_are_refused() {
    let dir = Scratch::new("extra");
    let path = dir.path().join("e.toml");
    std::fs::write(
        &path,
        format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\nswarm_service = \"svc\"\n"),
    )
    .unwrap();
    let extra = [
        "--engine",
        "node-1=unix:///run/lab/node-1/docker.sock",
        "--node-driver",
        "http://10.99.0.1:7077",
    ];
    let overrides = Overrides {
        run_flags: extra.iter().map(|s| s.to_string()).collect(),
        ..Overrides::default()
    };
    let plan = Plan::read(&path, Some(1), &overrides).unwrap();
    let mut c = plan.run_config(&plan.schedule()[0], dir.path()).unwrap();
    c.command.clear();
    let mut flags = vec!["--swarm-service", "svc"];
    flags.extend(extra);
    assert_eq!(c, from_flags(dir.path(), &flags));
    for own in ["--out", "--label=x", "--quiet"] {
        let overrides = Overrides {
            run_flags: vec![own.to_string(), "x".into()],
            ..Overrides::default()
        };
        let e = Plan::read(&path, Some(1), &overrides).unwrap_err();
        assert!(e.0.contains("set by the experiment"), "{own}: {}", e.0);
    }
}

#[test]
fn tasks_are_spread_afresh_by_default_only_with_node_faults() {
    let dir = Scratch::new("rebalance");
    let path = dir.path().join("e.toml");
    let plan = |head: &str, run: &str| {
        std::fs::write(
            &path,
            format!("name = \"eq\"\n{head}\n[run]\nurl = \"{URL}\"\n{run}\n"),
        )
        .unwrap();
        let flags = Overrides {
            run_flags: vec!["--node-driver".into(), "exec:true".into()],
            ..Overrides::default()
        };
        Plan::read(&path, Some(1), &flags).map(|p| p.rebalance)
    };
    let svc = "swarm_service = \"svc\"";
    let node = format!("{svc}\nfaults = [\"partition:node-1,at=1s,for=2s\"]");
    let task = format!("{svc}\nfaults = [\"docker,at=1s\"]");
    assert!(plan("", &node).unwrap());
    assert!(!plan("", &task).unwrap());
    assert!(!plan("rebalance = false", &node).unwrap());
    assert!(plan("rebalance = true", &task).unwrap());
    let e = plan("rebalance = true", "").unwrap_err();
    assert!(e.0.contains("rebalance (line 2)"), "{}", e.0);
}

#[test]
fn the_run_s_axes_give_the_configuration_of_their_flags() {
    let dir = Scratch::new("axes");
    let path = dir.path().join("e.toml");
    std::fs::write(
        &path,
        format!("name = \"eq\"\n[run]\nurl = \"{URL}\"\n[matrix]\nrate = [50, \"1k\"]\ntimeout = [\"250ms\", \"1s\"]\n"),
    )
    .unwrap();
    let plan = Plan::read(&path, Some(1), &Overrides::default()).unwrap();
    let schedule = plan.schedule();
    assert_eq!(schedule.len(), 4);
    for (p, (rate, timeout)) in
        schedule
            .iter()
            .zip([("50", "250ms"), ("50", "1s"), ("1k", "250ms"), ("1k", "1s")])
    {
        let mut from_file = plan.run_config(p, dir.path()).unwrap();
        from_file.command.clear();
        let out = dir.path().join(&p.dir).display().to_string();
        let label = plan.cells[p.cell].label();
        assert_eq!(label, format!("rate {rate}/s, timeout {timeout}"));
        let argv = [
            "chaos-runner",
            "run",
            URL,
            "--rate",
            rate,
            "--timeout",
            timeout,
            "--label",
            &label,
            "--out",
            &out,
            "--quiet",
        ];
        let Command::Run(args) = Cli::try_parse_from(argv).unwrap().command else {
            panic!("not run")
        };
        let from_flags = RunConfig::check(*args, vec![]).unwrap();
        assert_eq!(from_file, from_flags, "{label}");
    }
}
