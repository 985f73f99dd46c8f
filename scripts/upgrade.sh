#!/usr/bin/env bash
# Upgrade strategies under load, measured on a local single-node swarm: a rolling update
# (stop-first, swarm's default) against a blue-green-like one (start-first), at 1 and at 5
# replicas, and a canary release of a deliberately broken version that must be rolled back.
# Writes the runs and their comparison into a new results/local/upgrades-<UTC time>/.
#
# usage: scripts/upgrade.sh [--duration 45s] [--rate 200] [--health-check INTERVAL]
#                          [--out DIR] [--force]
#        (default DIR: results/local/upgrades-<UTC time>; the committed results:
#        scripts/upgrade.sh --out results/upgrades --force)
#
# --health-check turns the image's health check on (compose.yaml ships it off). Without it,
# swarm puts a new task into the service's DNS as soon as its container runs, a few
# milliseconds before crashserver listens: a connection opened in between is refused, so
# even start-first can lose a request now and then. With it, a new task gets traffic only
# once its check passed, and start-first loses nothing by construction.
#
# Each run deploys version v1, starts the update to v2 5 s into the load, and records which
# version answered every request, the update's progress and every task swap. The canary run
# updates one of 5 replicas to v3-bad (answering 500 to half its requests), holds 8 s,
# compares its error rate with the other replicas' and rolls it back. Earlier results in --out
# are never replaced silently: it refuses unless --force.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=45s
rate=200
out=results/local/upgrades-$(date -u +%Y%m%dT%H%M%SZ)
force=0
health=
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --health-check) health=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --force) force=1; shift ;;
        -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "upgrade.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

case "$health" in
    ''|[1-9]*s) ;;
    *) echo "upgrade.sh: --health-check takes an interval such as 1s or 500ms, not '$health'" >&2; exit 2 ;;
esac

stack=${CRASHLAB_STACK:-crashlab-upgrade}
export VERSION=v1
# shellcheck source=scripts/lib/swarm.sh
. scripts/lib/swarm.sh
check_fresh "$out/stop-first-1" "$out/start-first-1" "$out/stop-first-5" "$out/start-first-5" \
    "$out/canary-5" "$out/compare"
swarm_traps
swarm_setup 1

# back_to_v1 N: the service at version v1 (healthy, no fault) with N replicas.
back_to_v1() {
    docker service update --quiet --detach=true --env-add VERSION=v1 --env-rm ERROR_RATE \
        --replicas "$1" "$service" >/dev/null
    wait_update_done || true
    wait_running "$1"
    sleep 2
}

dirs=()
for n in 1 5; do
    for order in stop-first start-first; do
        label="$order, $n replica"; [ "$n" = 1 ] || label="${label}s"
        [ -z "$health" ] || label="$label, health check every $health"
        dir=$(echo "$order-$n" | tr -c 'a-z0-9-\n' '-')
        say "run: $label: update v1 -> v2 at 5 s under $rate req/s for $duration"
        back_to_v1 "$n"
            run_runner "$dir" --swarm-service "$service" --replicas "$n" --rate "$rate" --duration "$duration" \
            --timeout 1s \
            --fault "update:VERSION=v2,at=5s,order=$order,parallelism=1,delay=0s,monitor=2s,failure=rollback" \
            --label "$label" --access-path "$access" 2>&1 | sed 's/^/    /'
        dirs+=("$out/$dir")
    done
done

say "run: canary of a broken version (v3-bad, 50 % errors) on 1 of 5 replicas"
back_to_v1 5
run_runner canary-5 --swarm-service "$service" --replicas 5 --rate "$rate" --duration "$duration" \
    --timeout 1s \
    --fault "canary:VERSION=v3-bad;ERROR_RATE=50%,at=5s,order=start-first,hold=8s,max_error_rate=5%" \
    --label "canary v3-bad, 5 replicas${health:+, health check every $health}" --access-path "$access" 2>&1 | sed 's/^/    /'
dirs+=("$out/canary-5")

say "comparing: ${dirs[*]}"
run_tool compare "${dirs[@]}" --out "$out/compare" | sed 's/^/    /'
echo
sed -n '/^| run/,/^$/p' "$out/compare/compare.md"
say "done: reports in $out (open $out/compare/compare.html)"
