#!/usr/bin/env bash
# Healing across nodes with repetitions: experiments/healing.toml on a 3-node lab
# (scripts/lab.sh) with a short dispatcher heartbeat: for a task kill, a stopped node and a
# partitioned node, the time from the fault to a replacement's first answer and to the node
# declared down, and the failed requests, as means with 95 % intervals, medians and ranges
# over the trials (experiment.md; experiment.json for scripts/bench.py). Linux, root.
#
#   scripts/bench-healing.sh [--trials 10] [--heartbeat 1s] [--out DIR] [--force]
#
# Each trial is a run of its own (20 s at 200 requests/s, the fault at 5 s, a node put back
# after 10 s), after the service's tasks are spread afresh over the three nodes. Default DIR:
# results/local/bench-healing-<UTC time>; the committed results/bench/healing/ come from
# --out results/bench/healing --force. The lab is torn down at the end, also on failure or
# Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

trials=10 heartbeat=1s force=0
out=results/local/bench-healing-$(date -u +%Y%m%dT%H%M%SZ)
while [ $# -gt 0 ]; do
    case "$1" in
        --trials|--rounds) trials=${2:-}; shift; [ $# -gt 0 ] && shift ;;
        --heartbeat) heartbeat=${2:?--heartbeat takes a duration}; shift 2 ;;
        --out) out=${2:?--out takes a directory}; shift 2 ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-healing.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$trials" in [2-9]|[1-9][0-9]) ;; *) echo "bench-healing.sh: --trials takes 2 to 99" >&2; exit 2 ;; esac
replace=()
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
    if [ "$force" != 1 ]; then
        echo "bench-healing.sh: $out holds earlier results: choose another --out, or add --force" >&2
        exit 2
    fi
    # chaos-runner replaces an earlier experiment only, never another directory's files.
    if [ ! -f "$out/experiment.toml" ]; then
        echo "bench-healing.sh: --force replaces an earlier experiment, and $out holds none: choose another --out" >&2
        exit 2
    fi
    replace=(--force)
fi

image=crashlab/crashserver:bench-$$
started=$SECONDS
say() { printf '==> [%4ss] %s\n' "$(( SECONDS - started ))" "$*"; }
# shellcheck disable=SC2317  # run by the EXIT trap
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
say "experiments/healing.toml: $trials trials per fault, interleaved"
rc=0
scripts/lab.sh experiment lab_appnet "$out" experiments/healing.toml --trials "$trials" ${replace[@]+"${replace[@]}"} \
    --access-path "DNS round-robin to the tasks (tasks.appserver) from a container on node-0, overlay network lab_appnet (lab of 3 nodes, heartbeat $heartbeat; no IPVS)" \
    2>&1 | sed "s|/run-out|$out|g; s/^/    /" || rc=$?
[ -f "$out/experiment.md" ] && sed -n '/^## What swarm did/,/^## Differences/p' "$out/experiment.md" | sed '$d'
say "done (exit $rc): $out/experiment.md and experiment.html"
exit "$rc"
