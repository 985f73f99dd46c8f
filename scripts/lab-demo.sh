#!/usr/bin/env bash
# The lecture's picture on a local swarm of several nodes (scripts/lab.sh), in one command:
# 1 versus 5 replicas with task kills spread over the nodes; at 5 replicas a node stopped, a
# node cut off, a node drained and one task killed, side by side; how the dispatcher
# heartbeat and the client's timeout change what a partition costs; and, on a lab with three
# managers, what losing two of them does. Linux, root.
#
#   scripts/lab-demo.sh [--nodes 3] [--duration 60s] [--rate 200] [--out DIR] [--force]
#                       [--only basic|nodes|detection|managers|vantage] [--trials N]
#
# --trials N (2 or more): the node faults, the detection and the managers scenarios are run
# as experiment files through `chaos-runner experiment`, N interleaved trials each, instead of
# one run each: experiments/node-faults.toml into DIR/node-faults/,
# experiments/detection.toml on a lab with heartbeat 5 s and with 1 s into
# DIR/detection-hb5s/ and DIR/detection-hb1s/, experiments/managers.toml into DIR/managers/
# (means with 95 % intervals in each experiment.md). The files set their duration and rate
# (60 s at 200 requests/s); --duration and --rate apply to the single runs.
#
# --only vantage (not part of all): experiments/vantage-partition.toml into DIR/vantage-partition/,
# a partition of node-1 measured from every node at once (`vantage = "global"`), N trials
# (the file's 3 unless --trials).
#
# Writes into a new results/local/multi-node-<UTC time>/ by default (never over earlier
# results unless --force); the committed results/multi-node/ come from
#   scripts/lab-demo.sh --out results/multi-node --force
# The lab is taken down at the end, also on failure or Ctrl-C (lab.sh down).
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=3 duration=60s rate=200 force=0 only=all trials=
out=results/local/multi-node-$(date -u +%Y%m%dT%H%M%SZ)
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes=${2:?}; shift 2 ;;
        --duration) duration=${2:?}; shift 2 ;;
        --rate) rate=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --force) force=1; shift ;;
        --only) only=${2:?}; shift 2 ;;
        --trials) trials=${2:?}; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "lab-demo.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$nodes" in [3-9]) ;; *) echo "lab-demo.sh: --nodes takes 3 to 9" >&2; exit 2 ;; esac
case "$trials" in ""|[1-9]|[1-9][0-9]) ;; *) echo "lab-demo.sh: --trials takes 1 to 99" >&2; exit 2 ;; esac
case "$only" in all|basic|nodes|detection|managers|vantage) ;;
    *) echo "lab-demo.sh: --only takes basic, nodes, detection, managers or vantage" >&2; exit 2 ;; esac
# Without --trials: the vantage experiment keeps its file's number of trials; the others
# are single runs.
trial_flag=(--trials "${trials:-1}")
if [ "$only" = vantage ] && [ -z "$trials" ]; then trial_flag=(); fi
trials=${trials:-1}
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ "$force" != 1 ]; then
    echo "lab-demo.sh: $out holds earlier results: choose another --out, or add --force" >&2
    exit 2
fi

stack=lab
service=${stack}_appserver
network=${stack}_appnet
image=crashlab/crashserver:lab-$$
started=$SECONDS
lab_up=0
say() { printf '==> [%3ss] %s\n' "$(( SECONDS - started ))" "$*"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "$lab_up" = 1 ]; then scripts/lab.sh down | sed 's/^/    /'; fi
    docker image rm -f "$image" >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# lab MANAGERS [HEARTBEAT]: a fresh lab with the stack deployed at 1 replica.
lab() {
    if [ "$lab_up" = 1 ]; then scripts/lab.sh down >/dev/null; lab_up=0; fi
    lab_up=1
    scripts/lab.sh up --nodes "$nodes" --managers "$1" --heartbeat "${2:-5s}" --image "$image" \
        | sed 's/^/    /'
    say "deploying compose.yaml as stack $stack on the lab"
    scripts/lab.sh deploy "$stack" 1
}

# run DIR LABEL ARGS...: chaos-runner in a container on node-0 (scripts/lab.sh run).
run() {
    local dir=$1 label=$2; shift 2
    # Checked fresh (or --force) at the start: this run's directory is this script's own.
    rm -rf "${out:?}/$dir"
    say "run: $label"
    scripts/lab.sh run "$network" "$out/$dir" http://tasks.appserver:8080/ \
        --swarm-service "$service" --rate "$rate" --duration "$duration" --label "$label" \
        --access-path "DNS round-robin to the tasks (tasks.appserver) from a container on node-0, overlay network $network (lab of $nodes nodes; no IPVS)" \
        "$@" 2>&1 | sed "s|/run-out|$out/$dir|g; s/^/    /"
}

# experiment DIR FILE: FILE's trials (--trials) in a container on node-0, into $out/DIR.
experiment() {
    local dir=$1 file=$2 rc=0 how="as many trials as the file asks"
    [ "${#trial_flag[@]}" = 0 ] || how="${trial_flag[1]} trials per configuration"
    say "$file: $how, interleaved"
    rm -rf "${out:?}/$dir"
    scripts/lab.sh experiment "$network" "$out/$dir" "$file" \
        ${trial_flag[@]+"${trial_flag[@]}"} --swarm-service "$service" \
        --access-path "DNS round-robin to the tasks (tasks.appserver) from a container on node-0, overlay network $network (lab of $nodes nodes; no IPVS)" \
        2>&1 | sed "s|/run-out|$out/$dir|g; s/^/    /" || rc=$?
    [ -f "$out/$dir/experiment.md" ] \
        && sed -n '/^## What was done/,/^## Each/p' "$out/$dir/experiment.md" | sed '$d'
    say "$dir: exit $rc; $out/$dir/experiment.md and experiment.html"
}

compare() {
    local into=$1; shift
    dist/image/chaos-runner compare "$@" --out "$out/$into" | sed 's/^/    /'
    awk '/^\| run/ { on = 1 } on && !NF { exit } on && ++n <= 12' "$out/$into/compare.md"
}

say "building the image"
scripts/build-image.sh "$image" 2>&1 | sed 's/^/    /'
mkdir -p "$out"

if [ "$only" = all ] || [ "$only" = basic ] || [ "$only" = nodes ] || [ "$only" = vantage ]; then
    say "a lab of $nodes nodes, 1 manager"
    lab 1
fi
if [ "$only" = vantage ]; then
    experiment vantage-partition experiments/vantage-partition.toml
fi
if [ "$only" = all ] || [ "$only" = basic ]; then
    run 1-replica "1 replica, task kills" --replicas 1 --timeout 1s --fault "docker,every=10s,seed=1"
    run 5-replicas "5 replicas, task kills" --replicas 5 --timeout 1s --fault "docker,every=10s,seed=1"
    compare compare-replicas "$out/1-replica" "$out/5-replicas"
fi
if { [ "$only" = all ] || [ "$only" = nodes ]; } && [ "$trials" -gt 1 ]; then
    experiment node-faults experiments/node-faults.toml
elif [ "$only" = all ] || [ "$only" = nodes ]; then
    for f in "docker,at=10s,seed=1:task-kill:one task killed" \
             "node-stop:node-1,at=10s,for=30s:node-stop:node-1 stopped for 30 s" \
             "partition:node-1,at=10s,for=30s:partition:node-1 cut off for 30 s" \
             "drain:node-1,at=10s,for=30s:drain:node-1 drained for 30 s"; do
        # Node specs hold a colon themselves: split from the right.
        label=${f##*:}; rest=${f%:*}; dir=${rest##*:}; spec=${rest%:*}
        run "$dir" "5 replicas, $label" --replicas 5 --timeout 1s --fault "$spec"
    done
    compare compare-node-faults "$out/task-kill" "$out/node-stop" "$out/partition" "$out/drain"
fi
if { [ "$only" = all ] || [ "$only" = detection ]; } && [ "$trials" -gt 1 ]; then
    for hb in 5s 1s; do
        say "a lab with dispatcher heartbeat $hb"
        lab 1 "$hb"
        experiment "detection-hb$hb" experiments/detection.toml
    done
elif [ "$only" = all ] || [ "$only" = detection ]; then
    for hb in 5s 1s; do
        say "a lab with dispatcher heartbeat $hb"
        lab 1 "$hb"
        for t in 1s 250ms; do
            run "partition-hb$hb-timeout$t" "partition, heartbeat $hb, timeout $t" --replicas 5 \
                --timeout "$t" --fault "partition:node-1,at=10s,for=30s"
        done
    done
    compare compare-detection "$out"/partition-hb5s-timeout1s "$out"/partition-hb5s-timeout250ms \
        "$out"/partition-hb1s-timeout1s "$out"/partition-hb1s-timeout250ms
fi
if { [ "$only" = all ] || [ "$only" = managers ]; } && [ "$trials" -gt 1 ]; then
    say "a lab of $nodes nodes, 3 managers"
    lab 3
    experiment managers experiments/managers.toml
elif [ "$only" = all ] || [ "$only" = managers ]; then
    say "a lab of $nodes nodes, 3 managers"
    lab 3
    run manager-stop-1 "5 replicas, 1 of 3 managers stopped" --replicas 5 --timeout 1s \
        --fault "manager-stop:1,at=10s,for=30s"
    run manager-stop-2 "5 replicas, 2 of 3 managers stopped" --replicas 5 --timeout 1s \
        --fault "manager-stop:2,at=10s,for=30s"
    compare compare-managers "$out/manager-stop-1" "$out/manager-stop-2"
fi
say "done: $out (each run's report.md and report.html; compare-*/compare.html)"
