//! The report's sections on nodes: node faults from the managers' view, and node states.

use super::tables::*;
use crate::summary::Summary;

/// What each node fault cost, from the managers' view.
pub(super) fn node_faults(s: &Summary, out: &mut Vec<Section>) {
    let rows: Vec<Vec<String>> = s
        .faults
        .iter()
        .enumerate()
        .filter_map(|(i, f)| f.node.as_ref().map(|n| (i, f, n)))
        .map(|(i, f, n)| {
            let cp = match (n.control_plane_lost_s, n.control_plane_back_s) {
                (Some(l), Some(b)) => format!("lost {l:.1}, back {b:.1}"),
                (Some(l), None) => format!("lost {l:.1}, not back"),
                _ => "-".into(),
            };
            vec![
                (i + 1).to_string(),
                f.kind.name().to_string(),
                n.nodes.join(", "),
                secs(f.at_s),
                opt_secs(n.down_s),
                opt_secs(n.rescheduled_s),
                opt_secs(n.replacement_running_s),
                opt_secs(n.replacement_answered_s),
                f.failures.to_string(),
                recovery(f),
                put_back(f),
                opt_secs(n.ready_again_s),
                cp,
            ]
        })
        .collect();
    if rows.is_empty() {
        return;
    }
    out.push(Section {
        title: "Node faults".into(),
        lines: vec![
format!("From the managers' own view, seconds from the fault: the node reported down, the first task of the service assigned to another node, a replacement running, clients' first answer from a replacement; then the clients' view (failures, recovery as in Faults), when putting the node back began and when it was done (- when after the load ended), the node ready again, and the managers' API lost and back (no quorum). A stopped or partitioned node's tasks cannot be reached: clients time out on them until the overlay's own failure detection (gossip) drops them from the service's DNS; the managers declare the node down and reschedule its tasks on their own clock (the dispatcher heartbeat), which restores capacity, not the clients' view. Every time in this table is from the fault. The managers' node and task states are polled every {} ms, so 'down after', 'rescheduled', 'replacement running, seen by' and 'ready again' are each seen at most that late: upper bounds, which is why a replacement can answer clients before it was seen running.", crate::swarm::nodes::POLL.as_millis()),
        ],
        table: t(
            &[
                "#",
                "kind",
                "nodes",
                "at (s)",
                "down after (s)",
                "rescheduled (s)",
                "replacement running, seen by (s)",
                "replacement answered (s)",
                "failures",
                "recovery (s)",
                "put back after (s)",
                "ready again (s)",
                "managers' API",
            ],
            rows,
        ),
        ..Default::default()
    });
}

/// The nodes' states as the managers reported them, at each change.
pub(super) fn nodes(s: &Summary, out: &mut Vec<Section>) {
    let Some(sw) = s.swarm.as_ref().filter(|sw| sw.nodes.nodes.len() > 1) else {
        return;
    };
    const SHOWN: usize = 60;
    let events = &sw.nodes.nodes;
    let mut lines = vec![format!(
        "Engines reached for docker faults: {}. Node driver: {}.",
        if sw.engines.is_empty() {
            "-".to_string()
        } else {
            sw.engines.join(", ")
        },
        sw.node_driver.as_deref().unwrap_or("none")
    )];
    if events.len() > SHOWN {
        lines.push(format!(
            "The first {SHOWN} of {} changes (all in summary.json).",
            events.len()
        ));
    }
    for c in &sw.nodes.control_plane {
        lines.push(format!(
            "{:.3} s: the managers' API {} ({}).",
            c.at_s,
            if c.available {
                "answers"
            } else {
                "does NOT answer"
            },
            c.detail
        ));
    }
    out.push(Section {
        title: "Nodes".into(),
        lines,
        table: t(
            &["at (s)", "node", "state", "availability", "manager"],
            events
                .iter()
                .take(SHOWN)
                .map(|e| {
                    vec![
                        secs(e.at_s),
                        e.node.clone(),
                        e.state.clone(),
                        e.availability.clone(),
                        e.manager.clone().unwrap_or_else(|| "-".into()),
                    ]
                })
                .collect(),
        ),
        ..Default::default()
    });
}

#[cfg(test)]
mod tests {
    use crate::summary::Summary;

    /// The committed partition of node-1 at 5 replicas, cut 10 s in for 30 s.
    fn partition() -> Summary {
        serde_json::from_str(include_str!(
            "../../../results/multi-node/partition/summary.json"
        ))
        .unwrap()
    }

    #[test]
    fn node_fault_times_are_all_from_the_fault_and_clean_up_is_no_repair() {
        let s = partition();
        let f = &s.faults[0];
        let all = super::super::sections::sections(&s);
        let nodes = all.iter().find(|x| x.title == "Node faults").unwrap();
        let t = nodes.table.as_ref().unwrap();
        let col = |name: &str| t.head.iter().position(|h| h == name).unwrap();
        let put_back: f64 = t.rows[0][col("put back after (s)")].parse().unwrap();
        let ready: f64 = t.rows[0][col("ready again (s)")].parse().unwrap();
        assert!(
            (put_back - (f.restored_at_s.unwrap() - f.at_s)).abs() < 0.001,
            "{put_back}"
        );
        assert!(ready > put_back, "ready {ready} before put back {put_back}");
        // The old tasks' deaths when node-1 came back (about 42 s) are not shown as swarm's
        // reaction to the cut.
        let faults = all.iter().find(|x| x.title == "Faults").unwrap();
        let t = faults.table.as_ref().unwrap();
        let died = t.head.iter().position(|h| h == "died (s)").unwrap();
        assert_eq!(t.rows[0][died], "see Node faults");
    }

    #[test]
    fn a_rerender_counts_restarts_as_this_version_does() {
        let mut s = partition();
        assert_eq!(s.restarts_seen, 3, "as the run wrote it");
        super::super::brought_up_to_date(&mut s, &[]);
        assert_eq!(s.restarts_seen, 2, "9cbedd4f45f2 started before the cut");
    }

    #[test]
    fn putting_back_shows_when_it_began_and_when_it_was_done() {
        let mut s = partition();
        let f = &mut s.faults[0];
        f.restore_began_s = Some(f.at_s + 30.0);
        f.restored_at_s = Some(f.at_s + 30.9);
        assert_eq!(super::put_back(f), "30.000 to 30.900");
        f.restore_began_s = None;
        assert_eq!(super::put_back(f), "30.900");
        f.restored_at_s = None;
        assert_eq!(super::put_back(f), "-");
    }
}
