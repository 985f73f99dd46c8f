//! One builder per kind of fault: its argument and its own options (the table in `keys`
//! has already refused options the kind does not take).

use std::time::Duration;

use super::{
    normalise_signal, ContainerAction, ContainerFault, FaultKind, HttpTo, Kind, NodeFault,
    NodeTarget, SpecError, UpdatePlan,
};
use crate::parse;

/// The fault, and how many targets each firing hits.
pub fn build(
    text: &str,
    kind: Kind,
    arg: Option<&str>,
    opts: &[(&str, &str)],
) -> Result<(FaultKind, u32), SpecError> {
    let bad = |detail: String| SpecError::BadValue {
        spec: text.to_string(),
        detail,
    };
    let needed = || {
        arg.filter(|a| !a.is_empty())
            .map(str::to_string)
            .ok_or_else(|| SpecError::MissingArg(text.into()))
    };
    let count = count(opts).map_err(bad)?;
    let fault = match kind {
        Kind::Http => FaultKind::Http {
            to: http_to(needed()?).map_err(bad)?,
        },
        Kind::Cmd => FaultKind::Cmd { arg: needed()? },
        Kind::Docker => {
            let sig = arg.filter(|a| !a.is_empty()).unwrap_or("SIGKILL");
            FaultKind::Docker {
                signal: normalise_signal(sig).ok_or_else(|| SpecError::BadSignal {
                    sig: sig.into(),
                    spec: text.into(),
                })?,
            }
        }
        Kind::Update => FaultKind::Update(update_plan(arg.unwrap_or(""), opts).map_err(bad)?),
        Kind::Canary => canary(arg.unwrap_or(""), opts).map_err(bad)?,
        Kind::NodeStop | Kind::Partition | Kind::Drain | Kind::ManagerStop => {
            FaultKind::Node(node_fault(kind, &needed()?, opts).map_err(bad)?)
        }
        Kind::Pause | Kind::Stop | Kind::Signal | Kind::Netem => {
            let action = match kind {
                Kind::Pause => ContainerAction::Pause,
                Kind::Stop => ContainerAction::Stop,
                Kind::Netem => ContainerAction::Netem(
                    needed()?
                        .parse()
                        .map_err(|e: crate::netem::NetemSpecError| bad(e.to_string()))?,
                ),
                _ => {
                    let sig = needed()?;
                    ContainerAction::Signal(normalise_signal(&sig).ok_or_else(|| {
                        SpecError::BadSignal {
                            sig: sig.clone(),
                            spec: text.into(),
                        }
                    })?)
                }
            };
            let hold = hold(opts).map_err(bad)?;
            if hold.is_some() && !action.undoable() {
                return Err(bad(
                    "for= undoes a pause or a stopping signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU, \
                     with SIGCONT); this one has no undo"
                        .into(),
                ));
            }
            FaultKind::Container(ContainerFault { action, hold })
        }
    };
    Ok((fault, count))
}

fn count(opts: &[(&str, &str)]) -> Result<u32, String> {
    match opts.iter().find(|(k, _)| *k == "count") {
        None => Ok(1),
        Some((_, v)) => v
            .parse::<u32>()
            .ok()
            .filter(|c| (1..=1000).contains(c))
            .ok_or_else(|| format!("count={v} must be a whole number from 1 to 1000")),
    }
}

/// A path on the target (`/kill`) or an http:// URL.
fn http_to(arg: String) -> Result<HttpTo, String> {
    if arg.starts_with("http://") {
        return crate::target::TargetUrl::parse(&arg)
            .map(HttpTo::Url)
            .map_err(|e| e.to_string());
    } else if !arg.starts_with('/') {
        return Err(format!(
            "http fault argument '{arg}' must be a path (/kill) or an http:// URL"
        ));
    } else if arg.parse::<hyper::Uri>().is_err() || arg.contains(char::is_whitespace) {
        return Err(format!("'{arg}' is not a valid path"));
    }
    Ok(HttpTo::Path(arg))
}

/// An update's ARG (`KEY=VALUE;...`, environment changes) and its options.
fn update_plan(arg: &str, opts: &[(&str, &str)]) -> Result<UpdatePlan, String> {
    let mut plan = UpdatePlan::default();
    for pair in arg.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not KEY=VALUE (an environment change)"))?;
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("'{k}' is not an environment variable name"));
        }
        plan.env.push((k.to_string(), v.trim().to_string()));
    }
    let dur = |v: &str| parse::duration(v).map_err(|e| e.to_string());
    for &(k, v) in opts {
        match k {
            "image" if v.is_empty() => return Err("image= needs an image reference".into()),
            "image" => plan.image = Some(v.to_string()),
            "order" => plan.order = v.parse()?,
            "parallelism" => {
                plan.parallelism = v.parse().ok().filter(|p| *p <= 1000).ok_or_else(|| {
                    format!("parallelism={v} must be a whole number (0 = all at once)")
                })?
            }
            "delay" => plan.delay = dur(v)?,
            "monitor" => plan.monitor = dur(v)?,
            "failure" => plan.failure_action = v.parse()?,
            _ => {}
        }
    }
    Ok(plan)
}

/// A canary: an update of one replica, held for `hold`, judged by `max_error_rate`.
fn canary(arg: &str, opts: &[(&str, &str)]) -> Result<FaultKind, String> {
    let mut plan = update_plan(arg, opts)?;
    plan.parallelism = 1;
    let mut hold = Duration::from_secs(10);
    let mut max_error_rate = 0.05;
    for &(k, v) in opts {
        match k {
            "hold" => hold = parse::positive_duration(v).map_err(|e| e.to_string())?,
            "max_error_rate" => max_error_rate = parse::ratio(v).map_err(|e| e.to_string())?,
            _ => {}
        }
    }
    Ok(FaultKind::Canary {
        plan,
        hold,
        max_error_rate,
    })
}
/// A node fault: ARG names the nodes (`node-1`, `node-1;node-2`); manager-stop also takes
/// a number of managers; `for=` puts them back after that long.
fn node_fault(kind: Kind, arg: &str, opts: &[(&str, &str)]) -> Result<NodeFault, String> {
    let nodes = match arg.parse::<u32>() {
        Ok(n) if kind == Kind::ManagerStop && (1..=9).contains(&n) => NodeTarget::Managers(n),
        Ok(_) if kind == Kind::ManagerStop => {
            return Err(format!("manager-stop:{arg}: from 1 to 9 managers"))
        }
        _ => {
            let names: Vec<String> = arg
                .split(';')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            if let Some(bad) = names.iter().find(|n| !crate::node::valid_node_name(n)) {
                return Err(format!(
                    "'{bad}' is not a node name (letters, digits, '.', '_', '-')"
                ));
            }
            if names.is_empty() || names.len() > 9 {
                return Err(format!("{kind} takes 1 to 9 node names"));
            }
            NodeTarget::Named(names)
        }
    };
    Ok(NodeFault {
        kind,
        nodes,
        hold: hold(opts)?,
    })
}

/// `for=`: how long after firing what a fault did is undone.
fn hold(opts: &[(&str, &str)]) -> Result<Option<Duration>, String> {
    match opts.iter().find(|(k, _)| *k == "for") {
        Some((_, v)) => Ok(Some(
            parse::positive_duration(v).map_err(|e| e.to_string())?,
        )),
        None => Ok(None),
    }
}
