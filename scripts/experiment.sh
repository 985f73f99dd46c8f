#!/usr/bin/env bash
# Runs an experiment file (experiments/*.toml, or your own) against crashserver on a local
# single-node swarm: builds the image, deploys compose.yaml, finds the access path, runs
# `chaos-runner experiment` (from a container on the overlay network where the routing mesh
# does not forward), and removes everything it created, also on failure or Ctrl-C. The
# file's url and swarm_service are replaced by this deployment's.
#
# usage: scripts/experiment.sh FILE [--trials N] [--out DIR] [--force] [--resume] [--dry-run]
#
# Results: DIR (default results/local/experiment-<file name>-<UTC time>) holds
# experiment.md, experiment.html, experiment.json and every run's own report. Exit codes as
# chaos-runner's: 0 done, 1 a trial failed, 2 bad input, 3 a hypothesis missed, 130 interrupted
# (`--resume` with the same --out continues; the stack is deployed anew).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
[ $# -ge 1 ] || { usage >&2; exit 2; }
case "$1" in -h|--help) usage; exit 0 ;; esac
file=$1; shift
[ -f "$file" ] || { echo "experiment.sh: no such file: $file" >&2; exit 2; }
name=$(basename "$file" .toml)
out=results/local/experiment-$name-$(date -u +%Y%m%dT%H%M%SZ)
pass=()
dry=0
while [ $# -gt 0 ]; do
    case "$1" in
        --trials) pass+=(--trials "$2"); shift 2 ;;
        --out) out=$2; shift 2 ;;
        --force|--resume) pass+=("$1"); shift ;;
        --dry-run) dry=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "experiment.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

stack=${CRASHLAB_STACK:-crashlab-exp}
# shellcheck source=scripts/lib/swarm.sh
. scripts/lib/swarm.sh
if [ "$dry" = 1 ]; then
    # The plan needs no engine: checked and printed by a host build, or the image's binary.
    if [ -x dist/image/chaos-runner ]; then
        exec dist/image/chaos-runner experiment "$file" --dry-run ${pass[@]+"${pass[@]}"}
    fi
    exec cargo run -q --release -p chaos-runner -- experiment "$file" --dry-run ${pass[@]+"${pass[@]}"}
fi
swarm_traps
swarm_setup 1
say "experiment $file into $out"
rc=0
run_experiment "$file" ${pass[@]+"${pass[@]}"} | sed 's/^/    /' || rc=$?
[ -f "$out/experiment.md" ] && sed -n '/^## What was done/,/^## Each/p' "$out/experiment.md" | sed '$d'
say "done (exit $rc): $out/experiment.md and experiment.html"
exit "$rc"
