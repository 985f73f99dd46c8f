#!/usr/bin/env bash
# The whole failure spectrum on a local single-node swarm: experiments/spectrum-sweep.toml
# (eleven faults into one task, with the health check off and on, at 1 and at 3 replicas,
# under a 64 MiB memory limit), run by scripts/experiment.sh, which builds the image, deploys
# the stack and removes everything it created at the end, also on failure or Ctrl-C.
#
# usage: scripts/spectrum.sh [--trials N] [--out DIR] [--force] [--resume] [--dry-run]
#
# One trial per cell by default: 44 runs, about 35 minutes; --trials 3 gives every cell an
# interval (about 1 h 45 min). To sweep fewer faults or other settings, copy the file and
# run it with scripts/experiment.sh. Results: DIR (default
# results/local/failure-spectrum-<UTC time>) holds experiment.md, experiment.html,
# experiment.json and every run's report. Exit codes as scripts/experiment.sh's.
set -euo pipefail
cd "$(dirname "$0")/.."

out=results/local/failure-spectrum-$(date -u +%Y%m%dT%H%M%SZ)
pass=()
while [ $# -gt 0 ]; do
    case "$1" in
        --trials)
            case "${2:-}" in
                [1-9]|[1-9][0-9]|[1-9][0-9][0-9]) pass+=(--trials "$2"); shift 2 ;;
                *) echo "spectrum.sh: --trials takes 1 to 999, not '${2:-}'" >&2; exit 2 ;;
            esac ;;
        --out) out=${2:?--out takes a directory}; shift 2 ;;
        --force|--resume|--dry-run) pass+=("$1"); shift ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "spectrum.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
exec scripts/experiment.sh experiments/spectrum-sweep.toml --out "$out" ${pass[@]+"${pass[@]}"}
