use super::*;
use crate::swarm::plan::{FailureAction, UpdateOrder};
use proptest::prelude::*;

fn p(s: &str) -> Result<FaultSpec, SpecError> {
    s.parse()
}

#[test]
fn parses_each_kind_and_schedule() {
    let f = p("http:/kill,every=10s").unwrap();
    assert_eq!(
        f.kind,
        FaultKind::Http {
            to: HttpTo::Path("/kill".into())
        }
    );
    assert_eq!(f.when, When::Every(Duration::from_secs(10)));
    assert_eq!(f.count, 1);

    let f = p("docker,poisson=15s,count=2,seed=7").unwrap();
    assert_eq!(
        f.kind,
        FaultKind::Docker {
            signal: "SIGKILL".into()
        }
    );
    assert_eq!(f.when, When::Poisson(Duration::from_secs(15)));
    assert_eq!((f.count, f.seed), (2, 7));

    let f = p("docker:term,at=5s;20s").unwrap();
    assert_eq!(
        f.kind,
        FaultKind::Docker {
            signal: "SIGTERM".into()
        }
    );
    assert_eq!(
        f.when,
        When::At(vec![Duration::from_secs(5), Duration::from_secs(20)])
    );
}

#[test]
fn commands_may_contain_commas_and_colons() {
    let f = p("cmd:echo a,b; date +%H:%M,every=1m").unwrap();
    assert_eq!(
        f.kind,
        FaultKind::Cmd {
            arg: "echo a,b; date +%H:%M".into()
        }
    );
}

#[test]
fn rejects_bad_specs_with_reasons() {
    assert!(matches!(p(""), Err(SpecError::Empty(_))));
    assert!(matches!(
        p("nuke:/x,every=1s"),
        Err(SpecError::UnknownKind { .. })
    ));
    assert!(matches!(p("http,every=1s"), Err(SpecError::MissingArg(_))));
    assert!(matches!(p("http:/kill"), Err(SpecError::NoSchedule(_))));
    assert!(matches!(
        p("http:http://bad host/kill,every=1s"),
        Err(SpecError::BadValue { .. })
    ));
    assert!(matches!(
        p("http:/ki ll,every=1s"),
        Err(SpecError::BadValue { .. })
    ));
    assert_eq!(
        p("http:/kill?token=s3cret,every=1s").unwrap().text,
        "http:/kill?token=REDACTED,every=1s"
    );
    assert_eq!(
            p("http:/kill,evry=3s").unwrap_err().to_string(),
            "unknown option 'evry' in fault 'http:/kill,evry=3s' (options: every, at, poisson, seed; http, docker, stop also count; update also image, order, parallelism, delay, failure, monitor; canary also image, order, failure, monitor, hold, max_error_rate; node-stop, partition, drain, manager-stop also for; pause, signal, netem also count, for)"
        );
    assert!(
        matches!(p("docker,every=1s,cuont=2"), Err(SpecError::UnknownKey { key, .. }) if key == "cuont")
    );
    assert!(
        matches!(p("cmd:echo a,evry=3s"), Err(SpecError::UnknownKey { key, .. }) if key == "evry")
    );
    // A command may hold `word=value` parts when the spec has a schedule.
    assert!(
        matches!(p("cmd:X=1 ./kill.sh,a=b,every=2s").unwrap().kind, FaultKind::Cmd { arg } if arg == "X=1 ./kill.sh,a=b")
    );
    assert!(matches!(
        p("http:/kill,every=1s,at=2s"),
        Err(SpecError::TwoSchedules(_))
    ));
    assert!(matches!(
        p("http:/kill,every=0s"),
        Err(SpecError::BadValue { .. })
    ));
    assert!(matches!(
        p("http:/kill,every=1s,count=0"),
        Err(SpecError::BadValue { .. })
    ));
    assert!(matches!(
        p("http:kill,every=1s"),
        Err(SpecError::BadValue { .. })
    ));
    assert!(matches!(
        p("docker:SIGFOO,every=1s"),
        Err(SpecError::BadSignal { .. })
    ));
    assert_eq!(
            p("cmd:true,every=1s,count=2").unwrap_err().to_string(),
            "count= does not apply to cmd faults in 'cmd:true,every=1s,count=2' (cmd takes only every, at, poisson, seed)"
        );
    assert_eq!(
            p("nuke:/x,every=1s").unwrap_err().to_string(),
            "unknown fault kind 'nuke' in 'nuke:/x,every=1s' (kinds: http, cmd, docker, update, canary, node-stop, partition, drain, manager-stop, pause, stop, signal, netem)"
        );
}

#[test]
fn run_help_names_every_kind_and_option() {
    use clap::CommandFactory;
    let mut cmd = crate::cli::Cli::command();
    let run = cmd.find_subcommand_mut("run").expect("a run command");
    let help = run.render_long_help().to_string();
    for kind in Kind::ALL {
        assert!(help.contains(kind.name()), "{kind} is not in run --help");
        for key in keys::of(kind) {
            assert!(
                help.contains(&format!("{key}=")),
                "{key}= is not in run --help"
            );
        }
    }
    for key in keys::COMMON {
        assert!(
            help.contains(&format!("{key}=")),
            "{key}= is not in run --help"
        );
    }
}

#[test]
fn parses_node_faults() {
    let f = p("partition:node-1,at=20s,for=30s").unwrap();
    assert_eq!(
        f.kind,
        FaultKind::Node(NodeFault {
            kind: Kind::Partition,
            nodes: NodeTarget::Named(vec!["node-1".into()]),
            hold: Some(Duration::from_secs(30)),
        })
    );
    let f = p("manager-stop:2,at=10s").unwrap();
    assert!(matches!(
        f.kind,
        FaultKind::Node(NodeFault {
            nodes: NodeTarget::Managers(2),
            hold: None,
            ..
        })
    ));
    let f = p("node-stop:node-1;node-2,at=5s").unwrap();
    assert!(
        matches!(f.kind, FaultKind::Node(NodeFault { nodes: NodeTarget::Named(n), .. }) if n.len() == 2)
    );
    assert!(p("node-stop,at=5s").is_err(), "a node is needed");
    assert!(p("node-stop:node 1,at=5s").is_err());
    assert!(p("drain:node-1,at=5s,count=2").is_err());
    assert!(p("node-stop:3,at=5s").is_ok(), "a node may be named 3");
    assert!(p("manager-stop:0,at=5s").is_err());
}

#[test]
fn parses_updates_and_canaries() {
    let f = p("update:VERSION=v2;COLOR=blue,at=10s,order=start-first,parallelism=2,delay=1s,failure=rollback").unwrap();
    let FaultKind::Update(plan) = f.kind else {
        panic!("not an update")
    };
    assert_eq!(
        plan.env,
        vec![
            ("VERSION".into(), "v2".into()),
            ("COLOR".into(), "blue".into())
        ]
    );
    assert_eq!(
        (plan.order, plan.parallelism, plan.failure_action),
        (UpdateOrder::StartFirst, 2, FailureAction::Rollback)
    );
    assert_eq!(plan.delay, Duration::from_secs(1));

    let f = p("update,at=5s,image=registry.example/crashserver:v2").unwrap();
    let FaultKind::Update(plan) = f.kind else {
        panic!("not an update")
    };
    assert_eq!(
        plan.image.as_deref(),
        Some("registry.example/crashserver:v2")
    );
    assert!(plan.env.is_empty());

    let f = p("canary:VERSION=v3;ERROR_RATE=50%,at=5s,hold=8s,max_error_rate=5%").unwrap();
    let FaultKind::Canary {
        plan,
        hold,
        max_error_rate,
    } = f.kind
    else {
        panic!("not a canary")
    };
    assert_eq!(plan.env[1], ("ERROR_RATE".into(), "50%".into()));
    assert_eq!(
        (hold, max_error_rate, plan.parallelism),
        (Duration::from_secs(8), 0.05, 1)
    );
}

#[test]
fn rejects_bad_updates() {
    assert!(p("update:VERSION,at=1s").is_err());
    assert!(p("update:VERSION=v2,at=1s,order=sideways").is_err());
    assert!(p("update:VERSION=v2,at=1s,failure=explode").is_err());
    assert!(p("update:VERSION=v2,at=1s,hold=5s").is_err());
    assert!(p("canary:VERSION=v2,at=1s,parallelism=3").is_err());
    assert!(p("http:/kill,every=1s,order=start-first").is_err());
    assert!(p("update:VERSION=v2,at=1s,count=2").is_err());
}

proptest! {
    #[test]
    fn never_panics(s in "\\PC{0,40}") {
        let _ = p(&s);
    }

    #[test]
    fn every_round_trips(ms in 1u64..1_000_000, count in 1u32..100, seed in any::<u64>()) {
        let f = p(&format!("http:/kill,every={ms}ms,count={count},seed={seed}")).unwrap();
        prop_assert_eq!(f.when, When::Every(Duration::from_millis(ms)));
        prop_assert_eq!(f.count, count);
        prop_assert_eq!(f.seed, seed);
    }
}

mod no_panic {
    use super::*;

    proptest! {
        /// Whatever a user types as a fault spec: a spec or an error, never a panic.
        #[test]
        fn any_text_parses_or_errs(s in "(http|cmd|docker|update|canary)?(:[ -~]{0,30})?(,[a-z_]{1,14}=[ -~]{0,24}){0,4}") {
            let _ = s.parse::<FaultSpec>();
        }

        #[test]
        fn huge_schedules_are_refused_or_kept(n in proptest::num::u64::ANY, key in "(every|at|poisson)", unit in "(|s|ms|h|d|e20)") {
            if let Ok(f) = format!("http:/kill,{key}={n}{unit}").parse::<FaultSpec>() {
                let mut s = crate::fault::Schedule::new(f.when, f.seed);
                for _ in 0..3 {
                    let _ = s.next_offset();
                }
            }
        }
    }
}

#[test]
fn container_faults_parse_and_only_what_can_be_undone_takes_for() {
    use crate::fault::spec::{ContainerAction, ContainerFault};
    let f = p("pause,at=5s,for=20s,count=2").unwrap();
    assert_eq!(
        f.kind,
        FaultKind::Container(ContainerFault {
            action: ContainerAction::Pause,
            hold: Some(Duration::from_secs(20))
        })
    );
    assert_eq!(f.count, 2);
    let f = p("signal:stop,at=5s,for=10s").unwrap();
    assert_eq!(
        f.kind,
        FaultKind::Container(ContainerFault {
            action: ContainerAction::Signal("SIGSTOP".into()),
            hold: Some(Duration::from_secs(10))
        })
    );
    assert!(p("signal:SIGTERM,at=5s").is_ok());
    assert!(p("stop,every=10s").is_ok());
    for bad in [
        "signal:SIGTERM,at=5s,for=10s",
        "signal,at=5s",
        "signal:SIGNOPE,at=1s",
        "stop,at=1s,for=5s",
        "pause,at=1s,for=0s",
        "netem,at=1s",
        "netem:delay=fast,at=1s",
        "netem:colour=red,at=1s",
    ] {
        assert!(p(bad).is_err(), "{bad} accepted");
    }
    let f = p("netem:delay=200ms;loss=5%,at=5s,for=20s,count=2").unwrap();
    let FaultKind::Container(ContainerFault {
        action: ContainerAction::Netem(n),
        hold,
    }) = &f.kind
    else {
        panic!("{:?}", f.kind)
    };
    assert_eq!(n.delay, Duration::from_millis(200));
    assert!((n.loss - 0.05).abs() < 1e-12);
    assert_eq!(*hold, Some(Duration::from_secs(20)));
    assert_eq!(f.count, 2);
}
