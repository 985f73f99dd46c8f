#!/usr/bin/env bash
# The failure spectrum: which failures swarm heals on its own, which only with a health
# check, and which it never notices, measured on a local single-node swarm. Each fault is
# injected once into one task, 5 s into a 30 s run at 50 req/s, with the health check off
# and on (every 1 s, 2 retries, 1 s timeout), at 1 and at 3 replicas; undoable faults are
# undone 15 s after they fire. Writes one run per cell and table.md into a new
# results/local/failure-spectrum-<UTC time>/ (the committed one: results/failure-spectrum/).
#
# usage: scripts/spectrum.sh [--faults kill,stop,...] [--replicas 1,3] [--health off,on]
#                            [--duration 30s] [--rate 50] [--out DIR] [--force]
#
# Faults: kill (SIGKILL), stop (SIGTERM, then SIGKILL after the grace period), pause (cgroup
# freeze), sigstop (SIGSTOP, SIGCONT after 15 s), hang (crashserver answers nothing for 15 s),
# slow (300 ms added), errors (20 % answered 500), netem-delay (200 ms), netem-loss (20 %),
# netem-rate (64 kbit/s), oom (crashserver leaks 16 MiB/s; the run sets a 64 MiB limit).
# Where the kernel has no netem, its delay and loss rows say so (the fault fails, in words).
# 44 runs by default, about 35 minutes. Everything the script changes is removed at the end,
# also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

faults=kill,stop,pause,sigstop,hang,slow,errors,netem-delay,netem-loss,netem-rate,oom
replicas=1,3
healths=off,on
duration=30s
rate=50
out=results/local/failure-spectrum-$(date -u +%Y%m%dT%H%M%SZ)
force=0
while [ $# -gt 0 ]; do
    case "$1" in
        --faults) faults=$2; shift 2 ;;
        --replicas) replicas=$2; shift 2 ;;
        --health) healths=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "spectrum.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

# The fault spec of each row (fired 5 s into the run; undone or over 15 s later).
spec_of() {
    case "$1" in
        kill) echo "docker:SIGKILL,at=5s" ;;
        stop) echo "stop,at=5s" ;;
        pause) echo "pause,at=5s,for=15s" ;;
        sigstop) echo "signal:SIGSTOP,at=5s,for=15s" ;;
        hang) echo "http:/chaos?hang=15s,at=5s" ;;
        slow) echo "http:/chaos?slow=300ms&for=15s,at=5s" ;;
        errors) echo "http:/chaos?errors=0.2&for=15s,at=5s" ;;
        netem-delay) echo "netem:delay=200ms,at=5s,for=15s" ;;
        netem-loss) echo "netem:loss=20%,at=5s,for=15s" ;;
        netem-rate) echo "netem:rate=64kbit,at=5s,for=15s" ;;
        oom) echo "http:/chaos?leak=16&leak_max=1024&for=25s,at=5s" ;;
        *) return 1 ;;
    esac
}
IFS=, read -r -a fault_list <<< "$faults"
IFS=, read -r -a counts <<< "$replicas"
IFS=, read -r -a health_list <<< "$healths"
for f in "${fault_list[@]}"; do
    spec_of "$f" >/dev/null || { echo "spectrum.sh: unknown fault '$f' (kill, stop, pause, sigstop, hang, slow, errors, netem-delay, netem-loss, netem-rate, oom)" >&2; exit 2; }
done
for h in "${health_list[@]}"; do
    case "$h" in off|on) ;; *) echo "spectrum.sh: --health takes off and/or on, not '$h'" >&2; exit 2 ;; esac
done
for n in "${counts[@]}"; do
    case "$n" in ''|*[!0-9]*|0) echo "spectrum.sh: --replicas takes whole numbers from 1, not '$n'" >&2; exit 2 ;; esac
done

stack=${CRASHLAB_STACK:-crashlab-spectrum}
# shellcheck source=scripts/lib/swarm.sh
. scripts/lib/swarm.sh
check_fresh "$out"
swarm_traps
swarm_setup "${counts[0]}"

# health on|off [MEMORY]: the service's health check and memory limit for the next cells;
# waits until the update is done and every replica runs (and is healthy, with the check).
configure() {
    local args=(--quiet --detach=true)
    if [ "$1" = on ]; then
        args+=(--no-healthcheck=false --health-interval 1s --health-retries 2 --health-timeout 1s
               --health-start-period 0s)
    else
        args+=(--no-healthcheck)
    fi
    args+=(--limit-memory "${2:-0}")
    docker service update "${args[@]}" "$service" >/dev/null
    wait_update_done
}

cells=$(( ${#fault_list[@]} * ${#counts[@]} * ${#health_list[@]} ))
say "$cells runs: faults ${faults}; replicas ${replicas}; health check ${healths}; $duration at $rate req/s each"
i=0
for h in "${health_list[@]}"; do
    memory=
    configure "$h"
    for f in "${fault_list[@]}"; do
        if [ "$f" = oom ] && [ -z "$memory" ]; then
            memory=64M
            say "a 64 MiB memory limit for the oom rows"
            configure "$h" "$memory"
        elif [ "$f" != oom ] && [ -n "$memory" ]; then
            memory=
            configure "$h"
        fi
        for n in "${counts[@]}"; do
            i=$((i + 1))
            dir="$f/health-$h/$n-replica"; [ "$n" = 1 ] || dir="${dir}s"
            label="$f, health check $h, $n replica"; [ "$n" = 1 ] || label="${label}s"
            say "[$i/$cells] $label: --fault '$(spec_of "$f")'"
            run_runner "$dir" --swarm-service "$service" --replicas "$n" --rate "$rate" \
                --duration "$duration" --timeout 1s \
                --fault "$(spec_of "$f")" --label "$label" --access-path "$access" -q 2>&1 \
                | sed 's/^/    /' || say "the run exited $? (kept: its report says why)"
        done
    done
done

say "writing $out/table.md"
python3 scripts/spectrum-table.py "$out" > "$out/table.md"
cat "$out/table.md"
say "done: $out/table.md, each run's report.md and report.html under $out/FAULT/health-*/"
