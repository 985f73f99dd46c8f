#!/usr/bin/env bash
# Healing across nodes, medians of N: on the 3-node lab (scripts/lab.sh), the time from a
# fault to the first success of a replacement task, for a task kill, a stopped node and a
# partitioned node, with the settings that make it shortest here (dispatcher heartbeat 1 s,
# client timeout 250 ms; see results/multi-node/README.md). Linux, root.
#
#   scripts/bench-healing.sh [--rounds 10] [--heartbeat 1s] [--timeout 250ms] [--out DIR] [--force]
#
# Each round is a run of its own (20 s at 200 requests/s, the fault at 5 s, a node put back
# after 10 s), after the service is rebalanced over the three nodes (docker service update
# --force), so that every round starts with tasks on the faulted node. Every round's
# summary.json is kept (DIR/ROUND-KIND/); DIR/healing.md gives per kind the median, minimum
# and maximum of: fault to replacement answering, fault to node declared down, failures.
# Default DIR: results/local/bench-healing-<UTC time>; the committed results/bench/healing/
# come from --out results/bench/healing --force.
set -euo pipefail
cd "$(dirname "$0")/.."

rounds=10 heartbeat=1s timeout=250ms force=0
out=results/local/bench-healing-$(date -u +%Y%m%dT%H%M%SZ)
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=${2:?}; shift 2 ;;
        --heartbeat) heartbeat=${2:?}; shift 2 ;;
        --timeout) timeout=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-healing.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$rounds" in [1-9]|[1-9][0-9]) ;; *) echo "bench-healing.sh: --rounds takes 1 to 99" >&2; exit 2 ;; esac
command -v jq >/dev/null || { echo "bench-healing.sh: needs jq" >&2; exit 1; }
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ "$force" != 1 ]; then
    echo "bench-healing.sh: $out holds earlier results: choose another --out, or add --force" >&2
    exit 2
fi
rm -rf "${out:?}"/[0-9]*-* "$out/healing.md"
mkdir -p "$out"

RUN=/run/crashlab-lab
image=crashlab/crashserver:bench-$$
service=lab_appserver
started=$SECONDS
say() { printf '==> [%4ss] %s\n' "$(( SECONDS - started ))" "$*"; }
node0() { docker -H "unix://$RUN/node-0/docker.sock" "$@"; }
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    scripts/lab.sh down >/dev/null 2>&1 || true
    docker image rm -f "$image" >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building the image"
scripts/build-image.sh "$image" >/dev/null
say "a lab of 3 nodes, dispatcher heartbeat $heartbeat"
scripts/lab.sh up --nodes 3 --heartbeat "$heartbeat" --image "$image" >/dev/null
scripts/lab.sh deploy lab 5

# round KIND SPEC N: one run with one fault, into $out/N-KIND.
round() {
    local kind=$1 spec=$2 n=$3 dir
    dir=$out/$n-$kind
    if [ "$kind" != task-kill ]; then
        # Tasks on every node again (a lost node's tasks went elsewhere and stay there).
        node0 service update --quiet --detach=false --force "$service" >/dev/null 2>&1
    fi
    scripts/lab.sh run lab_appnet "$dir" http://tasks.appserver:8080/ --swarm-service "$service" \
        --replicas 5 --rate 200 --duration 20s --timeout "$timeout" -q --label "$kind $n" \
        --fault "$spec" >/dev/null 2>&1 || { echo "round $n of $kind failed" >&2; return 1; }
}

for n in $(seq 1 "$rounds"); do
    say "round $n of $rounds"
    # The kill goes to a task chosen at random (seeded), on whichever node it runs.
    round task-kill "docker,at=5s,seed=$n" "$n"
    round node-stop "node-stop:node-1,at=5s,for=10s" "$n"
    round partition "partition:node-1,at=5s,for=10s" "$n"
done

# Fault to the first answer from a replica first seen after the fault (a replacement).
# shellcheck disable=SC2016  # jq's own variables
replacement='(.faults[0].at_s) as $t | [.instances[] | select(.first_seen_s > $t) | .first_seen_s - $t] | min'
median() { sort -n | awk '{v[NR]=$1} END {if (NR==0) {print "-"; exit} m=(NR%2)?v[(NR+1)/2]:(v[NR/2]+v[NR/2+1])/2; printf "%.3f (%.3f to %.3f, n=%d)", m, v[1], v[NR], NR}'; }
{
    echo "# Healing across nodes, medians of $rounds"
    echo
    echo "\`scripts/bench-healing.sh --rounds $rounds --heartbeat $heartbeat --timeout $timeout\` on"
    echo "$(jq -r '.run.host' "$out/1-task-kill/summary.json"): a lab of 3 engines (scripts/lab.sh),"
    echo "5 replicas rebalanced before each round, 200 requests/s, one fault 5 s into a 20 s run,"
    echo "a node put back after 10 s. Seconds from the fault; median (min to max, rounds)."
    echo
    echo "| fault | to a replacement's first answer (s) | to node down (s) | failed requests |"
    echo "|---|---|---|---|"
    for kind in task-kill node-stop partition; do
        files=("$out"/*-"$kind"/summary.json)
        rep=$(for f in "${files[@]}"; do jq -r "$replacement // empty" "$f"; done | median)
        down=$(for f in "${files[@]}"; do jq -r '.faults[0].node.down_s // empty' "$f"; done | median)
        failed=$(for f in "${files[@]}"; do jq -r '.counts.failed' "$f"; done | median)
        echo "| $kind | $rep | $down | $failed |"
    done
    echo
    echo "Each round's summary.json is in $out/ROUND-KIND/."
} > "$out/healing.md"
cat "$out/healing.md"
