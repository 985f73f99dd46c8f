//! Firing a fault: an HTTP request to replicas (or a URL), a shell command, or Docker kills
//! of the target service's task containers. Each firing yields a [`FaultEvent`].

use std::sync::Arc;
use std::time::Duration;

use crate::http_get::get_once;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::{FaultKind, FaultSpec, Fired, HttpTo};
use crate::swarm::Swarm;
use crate::target::Target;

const HTTP_FAULT_TIMEOUT: Duration = Duration::from_secs(2);
const CMD_FAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// One firing of a fault, as reported.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FaultEvent {
    /// Which `--fault` (0-based, in command-line order).
    pub fault: usize,
    pub spec: String,
    pub kind: super::Kind,
    /// When it fired, seconds from the start of the load.
    pub at_s: f64,
    /// How long firing took (the kill request, command or Docker calls).
    pub took_ms: f64,
    /// Whether the fault did what it was asked (a kill answered, exit 0, containers signalled).
    pub ok: bool,
    /// What happened, for people.
    pub outcome: String,
    /// What it hit: replica addresses and ids, container ids, the command, or nodes.
    pub targets: Vec<String>,
    /// Node faults: when the nodes were put back (seconds from the start of the load);
    /// none when that happened after the load ended, or never.
    #[serde(default)]
    pub restored_at_s: Option<f64>,
    /// When putting it back began (seconds from the start of the load); none as above.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restore_began_s: Option<f64>,
    /// Node faults: how they were put back (or why not).
    #[serde(default)]
    pub restore: Option<String>,
}

/// What firing needs beyond the spec.
#[derive(Debug, Clone)]
pub struct FaultContext {
    pub target: Arc<Target>,
    /// Replicas seen so far, with live answer counts per version (for canaries).
    pub instances: Arc<crate::record::Instances>,
    pub kill_token: Option<String>,
    /// Send the kill token to hosts other than the target's too.
    pub token_any_host: bool,
    pub swarm: Option<Arc<Swarm>>,
    /// How node faults stop, start, cut and heal nodes.
    pub node_driver: Option<Arc<crate::node::NodeDriver>>,
    /// Where changes to the swarm are written down before they are made.
    pub journal: crate::journal::Journal,
}

impl FaultContext {
    pub fn means(&self) -> super::undo::Means<'_> {
        super::undo::Means {
            driver: self.node_driver.as_deref(),
            swarm: self.swarm.as_deref(),
            journal: &self.journal,
        }
    }
}

/// Writes down a change of the service's spec before it is made (undone by the spec as found).
async fn service_change(
    ctx: &FaultContext,
    plan: &crate::swarm::plan::UpdatePlan,
) -> Result<(), String> {
    ctx.journal
        .change(&crate::journal::Change::Service {
            what: plan.describe(),
        })
        .await
}

/// Fires one fault: what happened, and (node faults) what will put the nodes back.
pub async fn fire(
    spec: &FaultSpec,
    ctx: &FaultContext,
    rng: &mut StdRng,
) -> (Fired, Vec<super::undo::Undo>) {
    let fired = match &spec.kind {
        FaultKind::Node(n) => return super::node::fire(n, ctx.means()).await,
        FaultKind::Container(c) => {
            return super::container::fire(c, spec.count, ctx.means(), rng).await
        }
        FaultKind::Http { to } => fire_http(to, spec.count, ctx, rng).await,
        FaultKind::Cmd { arg } => fire_cmd(arg, ctx).await,
        FaultKind::Docker { signal } => match &ctx.swarm {
            Some(sw) => killed(
                sw.kill_tasks(signal, spec.count, rng).await,
                signal,
                spec.count,
            ),
            None => Fired::new(false, "docker fault without --swarm-service".into(), vec![]),
        },
        FaultKind::Update(plan) => match &ctx.swarm {
            Some(sw) => match service_change(ctx, plan).await {
                Err(e) => Fired::new(false, e, vec![sw.service.clone()]),
                Ok(()) => match sw.update(plan, false).await {
                    Ok(()) => Fired::new(
                        true,
                        format!("update started: {}", plan.describe()),
                        vec![sw.service.clone()],
                    ),
                    Err(e) => Fired::new(
                        false,
                        format!("update failed to start: {e}"),
                        vec![sw.service.clone()],
                    ),
                },
            },
            None => Fired::new(false, "update fault without --swarm-service".into(), vec![]),
        },
        FaultKind::Canary {
            plan,
            hold,
            max_error_rate,
        } => match &ctx.swarm {
            Some(sw) => match service_change(ctx, plan).await {
                Err(e) => Fired::new(false, e, vec![sw.service.clone()]),
                Ok(()) => {
                    super::canary::run(sw, &ctx.instances, plan, *hold, *max_error_rate).await
                }
            },
            None => Fired::new(false, "canary fault without --swarm-service".into(), vec![]),
        },
    };
    (fired, Vec::new())
}

/// A docker fault's outcome in words.
fn killed(
    k: Result<crate::swarm::Killed, crate::swarm::SwarmError>,
    signal: &str,
    count: u32,
) -> Fired {
    let k = match k {
        Ok(k) => k,
        Err(e) => return Fired::new(false, e.to_string(), vec![]),
    };
    if k.found == 0 {
        return Fired::new(
            false,
            format!("no running task container of service '{}'", k.service),
            vec![],
        );
    }
    let mut outcome = format!(
        "{signal} sent to {} of {count} asked task container(s)",
        k.signalled.len()
    );
    outcome.push_str(&crate::swarm::task_faults::passed_over_note(&k.passed_over));
    if !k.errors.is_empty() {
        outcome.push_str(&format!("; errors: {}", k.errors.join("; ")));
    }
    let ok = k.errors.is_empty() && k.signalled.len() == count as usize;
    Fired::new(ok, outcome, k.signalled)
}

async fn fire_http(to: &HttpTo, count: u32, ctx: &FaultContext, rng: &mut StdRng) -> Fired {
    // The kill token goes to the target's own host only (a full URL elsewhere gets none
    // unless --kill-token-any-host).
    let mut token = ctx.kill_token.as_deref();
    let (addrs, host, path) = match to {
        HttpTo::Path(path) => match ctx.target.resolve_all().await {
            Ok(mut a) => {
                a.shuffle(rng);
                a.truncate(count as usize);
                (a, ctx.target.authority.clone(), path.clone())
            }
            Err(e) => {
                return Fired::new(
                    false,
                    format!("cannot resolve {}: {e}", ctx.target.host),
                    vec![],
                )
            }
        },
        HttpTo::Url(u) => {
            if !ctx.token_any_host && !u.host.eq_ignore_ascii_case(&ctx.target.host) {
                token = None;
            }
            let t = Target::new(u.clone());
            match t.pick().await {
                Ok(a) => (vec![a; count as usize], t.authority.clone(), t.path.clone()),
                Err(e) => {
                    return Fired::new(false, format!("cannot resolve {}: {e}", t.host), vec![])
                }
            }
        }
    };
    let mut all_ok = true;
    let mut outcomes = Vec::new();
    let mut targets = Vec::new();
    for addr in addrs {
        match get_once(addr, &host, &path, token, HTTP_FAULT_TIMEOUT).await {
            Ok((status, instance)) => {
                all_ok &= (200..300).contains(&status);
                outcomes.push(format!("{addr}: HTTP {status}"));
                targets.push(match instance {
                    Some(i) => format!("{addr} ({i})"),
                    None => addr.to_string(),
                });
            }
            Err(e) => {
                all_ok = false;
                outcomes.push(format!("{addr}: {e}"));
                targets.push(addr.to_string());
            }
        }
    }
    Fired::new(
        all_ok,
        crate::redact::secrets(&format!("GET {path}: {}", outcomes.join("; "))),
        targets,
    )
}

/// Keeps the last `keep` bytes of what `r` yields, reading it to the end (so the writer
/// never blocks on a full pipe) in bounded memory.
async fn tail_of(r: Option<impl tokio::io::AsyncRead + Unpin>, keep: usize) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let Some(mut r) = r else {
        return Vec::new();
    };
    let mut tail = std::collections::VecDeque::with_capacity(keep);
    let mut buf = [0u8; 8192];
    while let Ok(n @ 1..) = r.read(&mut buf).await {
        tail.extend(&buf[..n]);
        let excess = tail.len().saturating_sub(keep);
        tail.drain(..excess);
    }
    tail.into()
}

async fn fire_cmd(cmd: &str, ctx: &FaultContext) -> Fired {
    const KEEP: usize = 4096;
    let shown = crate::redact::secrets(cmd);
    let mut c = tokio::process::Command::new("sh");
    c.arg("-c")
        .arg(cmd)
        .env("CHAOS_TARGET", &ctx.target.url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = match c.spawn() {
        Ok(c) => c,
        Err(e) => return Fired::new(false, format!("cannot run sh: {e}"), vec![shown]),
    };
    let (stdout, stderr) = (child.stdout.take(), child.stderr.take());
    let run = async { tokio::join!(tail_of(stdout, KEEP), tail_of(stderr, KEEP), child.wait()) };
    let (out, err, status) = match tokio::time::timeout(CMD_FAULT_TIMEOUT, run).await {
        Ok((o, e, Ok(st))) => (o, e, st),
        Ok((_, _, Err(e))) => {
            return Fired::new(false, format!("cannot wait for sh: {e}"), vec![shown])
        }
        Err(_) => {
            return Fired::new(
                false,
                format!("still running after {CMD_FAULT_TIMEOUT:?}; killed"),
                vec![shown],
            )
        }
    };
    let tail = |b: &[u8]| {
        let s = String::from_utf8_lossy(b);
        let s = s.trim();
        let start = s.char_indices().rev().nth(199).map(|(i, _)| i).unwrap_or(0);
        s[start..].to_string()
    };
    let code = status
        .code()
        .map_or("a signal".to_string(), |c| c.to_string());
    let mut outcome = format!(
        "exit {code} after {:.0} ms",
        started.elapsed().as_secs_f64() * 1e3
    );
    let (o, e) = (tail(&out), tail(&err));
    if !o.is_empty() {
        outcome.push_str(&format!("; stdout: {o}"));
    }
    if !e.is_empty() {
        outcome.push_str(&format!("; stderr: {e}"));
    }
    Fired::new(
        status.success(),
        crate::redact::secrets(&outcome),
        vec![shown],
    )
}
