//! A canary release, measured: update one replica, wait until the new version answers, hold,
//! compare its error rate with the other versions', then let the update roll on or roll back.

use std::collections::HashSet;
use std::time::Duration;

use tokio::time::Instant;

use super::spec::UpdatePlan;
use crate::record::instances::VersionCounts;
use crate::record::Instances;
use crate::swarm::Swarm;

use super::Fired;

/// Longest wait for the canary to answer its first request.
const FIRST_ANSWER: Duration = Duration::from_secs(60);

fn sum(counts: &VersionCounts, pick: impl Fn(&str) -> bool) -> (u64, u64) {
    counts
        .iter()
        .filter(|(v, _)| pick(v))
        .fold((0, 0), |acc, (_, c)| (acc.0 + c.0, acc.1 + c.1))
}

fn rate((answers, errors): (u64, u64)) -> f64 {
    if answers == 0 {
        0.0
    } else {
        errors as f64 / answers as f64
    }
}

/// Runs the canary step; returns what it did like every fault.
pub async fn run(
    sw: &Swarm,
    instances: &Instances,
    plan: &UpdatePlan,
    hold: Duration,
    max_error_rate: f64,
) -> Fired {
    let old: HashSet<String> = instances.by_version().into_keys().collect();
    if let Err(e) = sw.update(plan, true).await {
        return Fired::new(
            false,
            format!("canary update failed to start: {e}"),
            vec![sw.service.clone()],
        );
    }
    let is_new = |v: &str| !old.contains(v);
    let waited = Instant::now();
    loop {
        if sum(&instances.by_version(), is_new).0 > 0 {
            break;
        }
        if waited.elapsed() > FIRST_ANSWER {
            let rolled = sw.rollback().await;
            return Fired::new(
                rolled.is_ok(),
                format!(
                    "canary {}: the new version answered nothing within {FIRST_ANSWER:?}: rolled back{}",
                    plan.describe(),
                    rolled.err().map(|e| format!(" (failed: {e})")).unwrap_or_default()
                ),
                vec![sw.service.clone()],
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let before = instances.by_version();
    tokio::time::sleep(hold).await;
    let after = instances.by_version();
    let delta = |pick: &dyn Fn(&str) -> bool| {
        let (a0, e0) = sum(&before, pick);
        let (a1, e1) = sum(&after, pick);
        (a1 - a0, e1 - e0)
    };
    let canary = delta(&is_new);
    let baseline = delta(&|v: &str| !is_new(v));
    let canary_rate = rate(canary);
    let verdict = canary.0 == 0 || canary_rate > max_error_rate;
    let action = if verdict {
        sw.rollback().await
    } else {
        sw.resume().await
    };
    let decision = match (verdict, &action) {
        (true, Ok(())) => "rolled back".to_string(),
        (false, Ok(())) => "promoted: the update goes on to every replica".to_string(),
        (_, Err(e)) => format!("could not act: {e}"),
    };
    Fired::new(
        action.is_ok(),
        format!(
            "{decision}: canary {}: {} answers, {:.1}% errors, against {:.1}% for the others ({} answers) over {:?}; limit {:.1}%",
            plan.describe(),
            canary.0,
            canary_rate * 100.0,
            rate(baseline) * 100.0,
            baseline.0,
            hold,
            max_error_rate * 100.0
        ),
        vec![sw.service.clone()],
    )
}
