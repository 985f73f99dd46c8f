#!/usr/bin/env python3
"""The failure spectrum's table, from the runs scripts/spectrum.sh wrote.

usage: scripts/spectrum-table.py DIR > DIR/table.md

DIR holds FAULT/health-(off|on)/N-replica(s)/summary.json. One row per run: what swarm did
(noticed, replaced, the replacement healthy), what clients saw (failed requests, their
outage, availability, p99), each time from the fault. A figure for something that did not
happen is never printed: "never (watched N s)" says how long the run looked.
"""

import json
import os
import re
import sys

ORDER = ["kill", "stop", "pause", "sigstop", "hang", "slow", "errors",
         "netem-delay", "netem-loss", "netem-rate", "oom"]
WHAT = {
    "kill": "SIGKILL",
    "stop": "graceful stop (SIGTERM, grace 10 s)",
    "pause": "docker pause, 15 s",
    "sigstop": "SIGSTOP, SIGCONT after 15 s",
    "hang": "crashserver hangs 15 s",
    "slow": "+300 ms for 15 s",
    "errors": "20 % answered 500 for 15 s",
    "netem-delay": "netem delay 200 ms, 15 s",
    "netem-loss": "netem loss 20 %, 15 s",
    "netem-rate": "64 kbit/s for 15 s",
    "oom": "leak 16 MiB/s, limit 64 MiB",
}


def secs(v):
    return "-" if v is None else f"{v:.2f}"


def runs(root):
    for fault in os.listdir(root):
        for health in ("off", "on"):
            d = os.path.join(root, fault, f"health-{health}")
            if not os.path.isdir(d):
                continue
            for cell in os.listdir(d):
                m = re.fullmatch(r"(\d+)-replicas?", cell)
                path = os.path.join(d, cell, "summary.json")
                if m and os.path.isfile(path):
                    with open(path) as f:
                        yield fault, health, int(m.group(1)), json.load(f)


def row(fault, health, n, s):
    f = (s.get("faults") or [None])[0]
    counts = s["counts"]
    avail = s["availability"]["requests"]
    p99 = (s.get("latency_ms") or {}).get("p99")
    clients = [
        f"{counts['failed']}",
        "-" if avail is None else f"{avail * 100:.2f} %",
        "-" if p99 is None else f"{p99:.1f}",
    ]
    head = [fault, WHAT.get(fault, ""), health, str(n)]
    if f is None:
        return head + ["no fault fired", "", "", ""] + clients
    if not f["ok"]:
        reason = f["outcome"].split("not reached: ")[-1]
        reason = re.sub(r"^[0-9a-f]{12} \([^)]*\): ", "", reason)
        reason = re.sub(r"^the netem helper in .*? exited \d+: chaos-runner netem: ", "", reason)
        reason = re.sub(r" \(CONFIG_NET_SCH_NETEM;.*", " (CONFIG_NET_SCH_NETEM unset)", reason)
        return head + [f"fault not made: {reason}", "", "", ""] + clients
    sw = f.get("swarm") or {}
    watched = sw.get("watched_s")
    # A summary written before the run recorded how long it watched says nothing of "never".
    never = "-" if watched is None else f"never ({watched:.0f} s watched)"
    noticed = sw.get("noticed_s")
    how = []
    if sw.get("unhealthy_s") is not None:
        how.append("unhealthy")
    if sw.get("oom"):
        how.append("OOM")
    if sw.get("died_s") is not None:
        how.append(f"died, exit {sw.get('exit_code')}" if sw.get("exit_code") is not None else "died")
    seen = never if noticed is None else f"{noticed:.2f} ({', '.join(how)})"
    replaced = never if sw.get("started_s") is None else secs(sw.get("started_s"))
    healthy = "-" if health == "off" or sw.get("started_s") is None else (
        secs(sw.get("healthy_s")) if sw.get("healthy_s") is not None else never)
    if not f.get("failures"):
        outage = "no failed request"
    elif f.get("last_failure_s") is not None:
        outage = f"{f['last_failure_s']:.2f}"
        if f.get("not_recovered_after_s") is not None:
            outage += " (not over at the end)"
    else:
        outage = "-"
    return head + [seen, replaced, healthy, outage] + clients


def main():
    if len(sys.argv) != 2 or not os.path.isdir(sys.argv[1]):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    rows = sorted(
        (row(*r) for r in runs(sys.argv[1])),
        key=lambda r: (ORDER.index(r[0]) if r[0] in ORDER else 99, r[2], int(r[3])),
    )
    if not rows:
        print(f"spectrum-table.py: no runs under {sys.argv[1]}", file=sys.stderr)
        return 1
    print("Times in seconds from the fault. *noticed*: the engine's first sign (a failed health")
    print("check made the task unhealthy, an OOM, a death); *replaced*: a new task's container")
    print("started; *healthy*: the replacement passed its health check; *last failure*: the fault")
    print("to the last request it made fail. Availability: ok / sent over the whole run.")
    print()
    print("| fault | what | health check | replicas | swarm noticed | replaced | replacement healthy "
          "| last failure | failed requests | availability | p99 (ms) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
