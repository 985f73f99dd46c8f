#!/usr/bin/env bash
# The main job: deploy crashserver on a local single-node swarm, hammer it while its
# replicas are killed through the Docker API, at 1 and then at 5 replicas, and write the
# comparison into results/local/swarm-demo-<UTC time>/ (a new directory each time).
#
# usage: scripts/demo.sh [--duration 60s] [--every 10s] [--rate 200] [--replicas 1,5]
#                        [--health-check INTERVAL] [--live [PORT]] [--out DIR] [--force]
#                        [--trials N]
#
# It builds the image offline, uses the engine's swarm (initialising a single-node one only
# when the engine is in none, and leaving it again at the end), deploys compose.yaml,
# detects how the service can be reached (routing mesh, or DNS round-robin to the tasks from
# a container on the overlay network), runs chaos-runner, and removes everything it created,
# also on failure or Ctrl-C. --health-check turns the image's health check on (compose.yaml
# switches it off), to see what it adds to every recovery. --live serves chaos-runner's live
# view on http://127.0.0.1:PORT/ (default 9090) for the class: open it in a browser; the page
# follows each run and keeps its final figures in between. --trials N (2 or more) repeats each
# replica count N times through `chaos-runner experiment` (interleaved) and reports means
# with 95 % intervals in DIR/experiment.md instead of one run each (for coursework).
set -euo pipefail
cd "$(dirname "$0")/.."

duration=60s
every=10s
rate=200
replicas=1,5
out=results/local/swarm-demo-$(date -u +%Y%m%dT%H%M%SZ)
health=
force=0
live_port=
trials=1

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --every) every=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --replicas) replicas=$2; shift 2 ;;
        --health-check) health=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --force) force=1; shift ;;
        --trials) trials=$2; shift 2 ;;
        --live)
            live_port=9090; shift
            case "${1:-}" in [0-9]*) live_port=$1; shift ;; esac ;;
        -h|--help) usage; exit 0 ;;
        *) echo "demo.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

stack=${CRASHLAB_STACK:-crashlab-demo}
# shellcheck source=scripts/lib/swarm.sh
. scripts/lib/swarm.sh
IFS=, read -r -a counts <<< "$replicas"
case "$trials" in
    1) ;;
    [2-9]|[1-9][0-9]|[1-9][0-9][0-9])
        check_fresh "$out"
        swarm_traps
        swarm_setup "${replicas%%,*}"
        # The demo's settings as an experiment file (the engine keeps a copy in $out).
        exp_file=$(mktemp "${TMPDIR:-/tmp}/crashlab-demo.XXXXXX")
        chmod 644 "$exp_file"
        health_axis=
        [ -z "$health" ] || health_axis="health = [\"interval=$health;retries=2;timeout=1s\"]"
        cat > "$exp_file" <<TOML
name = "demo: replicas $replicas under SIGKILL every $every"
trials = $trials
seed = 1
[run]
url = "$target"
rate = $rate
duration = "$duration"
timeout = "1s"
faults = ["docker,every=$every"]
[matrix]
replicas = [$replicas]
$health_axis
TOML
        say "experiment: replicas $replicas, $trials trials each, interleaved ($duration at $rate req/s, a SIGKILL every $every)"
        rc=0
        run_experiment "$exp_file" | sed 's/^/    /' || rc=$?
        rm -f "$exp_file"
        [ -f "$out/experiment.md" ] && sed -n '/^## What was done/,/^## Each/p' "$out/experiment.md" | sed '$d'
        say "done (exit $rc): $out/experiment.md and experiment.html"
        exit "$rc" ;;
    *) echo "demo.sh: --trials $trials: a whole number, 1 to 999" >&2; exit 2 ;;
esac
planned=("$out/compare")
for n in "${counts[@]}"; do
    if [ "$n" = 1 ]; then planned+=("$out/1-replica"); else planned+=("$out/$n-replicas"); fi
done
check_fresh "${planned[@]}"
swarm_traps
swarm_setup "${replicas%%,*}"

dirs=()
for n in "${counts[@]}"; do
    label="$n replica"; [ "$n" = 1 ] || label="$n replicas"
    dir="${label// /-}"
    [ -z "$health" ] || label="$label, health check every $health"
    say "run: $label, $duration at $rate req/s, a docker SIGKILL of one task every $every"
    run_runner "$dir" --swarm-service "$service" --replicas "$n" --rate "$rate" --duration "$duration" \
        --timeout 1s \
        --fault "docker,every=$every,seed=1" --label "$label" --access-path "$access" 2>&1 | sed 's/^/    /'
    dirs+=("$out/$dir")
done

if [ "${#dirs[@]}" -lt 2 ]; then
    sed -n '/^| run/,/^$/p' "${dirs[0]}/report.md"
    say "done: report in ${dirs[0]}/report.md and report.html"
    exit 0
fi
say "comparing: ${dirs[*]}"
run_tool compare "${dirs[@]}" --out "$out/compare" | sed 's/^/    /'
echo
sed -n '/^| run/,/^$/p' "$out/compare/compare.md"
say "done: $out/compare/compare.md and compare.html, each run's report.md and report.html in ${dirs[*]}"
