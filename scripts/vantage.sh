#!/usr/bin/env bash
# Load from every node of the lab (scripts/lab.sh) at once, and one measurement of it: a
# chaos-runner on each node sends its --share of one schedule, all on one clock
# (--start-at), while the one on node-0 also cuts node-1 off for a while (--fault stop: stops
# node-1, and its own load with it); then `chaos-runner merge` adds them up and keeps each
# node's view beside the total. What node-1's clients saw of the partition against what the
# others saw is the point; with a stop, that node-1's vantage is merged up to its loss and
# named. Linux, root.
#
#   scripts/vantage.sh [--nodes 3] [--per-node 1] [--replicas 5] [--rate 300]
#                      [--duration 40s] [--fault partition|stop] [--stream | --coordinator]
#                      [--out DIR] [--force]
#
# --coordinator instead starts one chaos-runner, on node-0, with --vantage global: it starts a
# load task on every node itself (one swarm service in global-job mode), runs its own share and
# the fault, gathers what the tasks send, removes the service and merges (DIR/coordinator, its tasks' runs in
# DIR/coordinator/vantages/NODE, the merge in DIR/coordinator/merged).
#
# --stream also sends every vantage's run, as it is written, to a gatherer on the host
# (`chaos-runner gather` on the lab's bridge, 10.199.0.1:7071, with a token for this run), over
# the lab's network as a load generator on another machine would: DIR/gathered/vantages/NAME
# then mirrors DIR/NAME, and DIR/gathered/merged is the gatherer's merge of what arrived. A
# vantage silent longer than the cut plus 30 s is lost to it (and stops its own load).
#
# --per-node K starts K load generators on each node (nodes x K vantage points, each its own
# share; named node-I.J), to see what more of them cost. Writes DIR/node-0 .. DIR/node-N (each
# vantage's run) and DIR/merged (merged.md, merged.html, merged.json, latency.hlog); by default a new results/local/vantage-<UTC time>/, never over earlier
# results unless --force. The committed results/multi-node/vantage/ come from
#   scripts/vantage.sh --out results/multi-node/vantage --force
# The lab is taken down at the end, also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

nodes=3 per_node=1 replicas=5 rate=300 duration=40s fault=partition force=0 stream=0 coordinator=0
out=results/local/vantage-$(date -u +%Y%m%dT%H%M%SZ)
while [ $# -gt 0 ]; do
    case "$1" in
        --nodes) nodes=${2:?}; shift 2 ;;
        --per-node) per_node=${2:?}; shift 2 ;;
        --replicas) replicas=${2:?}; shift 2 ;;
        --rate) rate=${2:?}; shift 2 ;;
        --duration) duration=${2:?}; shift 2 ;;
        --fault) fault=${2:?}; shift 2 ;;
        --out) out=${2:?}; shift 2 ;;
        --force) force=1; shift ;;
        --stream) stream=1; shift ;;
        --coordinator) coordinator=1; shift ;;
        -h|--help) sed -n '2,33p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "vantage.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
case "$nodes" in [2-9]) ;; *) echo "vantage.sh: --nodes takes 2 to 9" >&2; exit 2 ;; esac
case "$per_node" in [1-8]) ;; *) echo "vantage.sh: --per-node takes 1 to 8" >&2; exit 2 ;; esac
case "$replicas" in [1-9]|[1-9][0-9]) ;; *) echo "vantage.sh: --replicas takes 1 to 99" >&2; exit 2 ;; esac
case "$rate" in [1-9]|[1-9][0-9]|[1-9][0-9][0-9]|[1-9][0-9][0-9][0-9]) ;;
    *) echo "vantage.sh: --rate takes 1 to 9999 requests/s" >&2; exit 2 ;; esac
case "$duration" in [1-9]s|[1-9][0-9]s|[1-5][0-9][0-9]s) ;;
    *) echo "vantage.sh: --duration takes 20s to 599s" >&2; exit 2 ;; esac
if [ "${duration%s}" -lt 20 ]; then echo "vantage.sh: --duration takes 20s to 599s" >&2; exit 2; fi
case "$fault" in partition|stop) ;; *) echo "vantage.sh: --fault takes partition or stop" >&2; exit 2 ;; esac
if [ "$stream" = 1 ] && [ "$coordinator" = 1 ]; then
    echo "vantage.sh: --coordinator gathers by itself: leave out --stream" >&2; exit 2
fi
if [ -d "$out" ] && [ -n "$(ls -A "$out")" ] && [ "$force" != 1 ]; then
    echo "vantage.sh: $out holds earlier results: choose another --out, or add --force" >&2
    exit 2
fi

stack=lab
service=${stack}_appserver
network=${stack}_appnet
# One tag, reused: a run killed before its clean-up leaves at most this image behind (and the
# lab, which `scripts/lab.sh down` removes); its load containers stop by their own --duration.
image=crashlab/crashserver:vantage
started=$SECONDS
lab_up=0
gather_pid=
say() { printf '==> [%3ss] %s\n' "$(( SECONDS - started ))" "$*"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    # Every load container stops by itself at the end of its --duration; the lab's removal
    # takes any that has not.
    if [ -n "$gather_pid" ]; then kill "$gather_pid" 2>/dev/null || true; fi
    if [ "$lab_up" = 1 ]; then scripts/lab.sh down | sed 's/^/    /'; fi
    docker image rm -f "$image" >/dev/null 2>&1 || true
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building the image"
scripts/build-image.sh "$image" 2>&1 | sed 's/^/    /'
say "a lab of $nodes nodes"
lab_up=1
scripts/lab.sh up --nodes "$nodes" --image "$image" | sed 's/^/    /'
say "deploying compose.yaml as stack $stack at $replicas replicas"
scripts/lab.sh deploy "$stack" "$replicas"
mkdir -p "$out"

# The partition (or the stop) from 10 s to 10 s + half the run, as node-0's run injects it.
cut_for=$(( ${duration%s} / 2 ))s
case "$fault" in
    partition) spec="partition:node-1,at=10s,for=$cut_for" what="node-1 cut off" ;;
    stop) spec="node-stop:node-1,at=10s,for=$cut_for" what="node-1 (and its load) stopped" ;;
esac
if [ "$coordinator" = 1 ]; then
    dir=$out/coordinator
    rm -rf "${dir:?}"
    access="DNS round-robin to the tasks (tasks.appserver) from a container on each node, overlay network $network (lab of $nodes nodes; no IPVS)"
    # A task cut off from the coordinator longer than --vantage-lost-after stops and is lost:
    # the bound outlasts the cut, so node-1's clients keep measuring through it.
    say "one runner on node-0 with --vantage global: $rate requests/s in all for $duration; $what at 10 s for $cut_for"
    crc=0
    scripts/lab.sh run "$network" "$dir" http://tasks.appserver:8080/ --rate "$rate" \
        --duration "$duration" --timeout 1s --swarm-service "$service" --replicas "$replicas" \
        --fault "$spec" --vantage global --label "coordinator on node-0" \
        --vantage-lost-after "$(( ${cut_for%s} + 30 ))s" \
        --access-path "$access" > "$out/coordinator.log" 2>&1 || crc=$?
    sed "s|/run-out|$dir|g; s/^/    /" "$out/coordinator.log" | tail -n 12
    # Exit 4: a vantage was lost (with --fault stop, node-1's task) and is merged up to it.
    case "$crc" in 0|4) say "the coordinator ended (exit $crc)" ;;
        *) say "the coordinator failed (exit $crc)"; exit "$crc" ;; esac
    # It removed its load services, whatever happened to their tasks.
    left=$(eval "$(scripts/lab.sh env 0)"; docker service ls -q --filter name=crashlab-vantage- | wc -l)
    say "load services left on the swarm: $left"
    [ "$left" = 0 ] || exit 1
    if [ -f "$dir/merged/merged.md" ]; then
        awk '/^\| vantage/ { on = 1 } on && !NF { exit } on' "$dir/merged/merged.md"
    fi
    say "done: $dir (merged/merged.html; report.html; vantages/NODE/report.html)"
    exit 0
fi

# One clock for all: far enough ahead for node-0's run to see every replica answer first.
start_at=$(date -u -d "@$(( $(date +%s) + 45 ))" +%Y-%m-%dT%H:%M:%SZ)
# Vantage points: node-I with one per node, node-I.J with several; the first on node-0 injects
# the fault and watches the swarm.
vantages=()
for i in $(seq 0 $(( nodes - 1 ))); do
    for j in $(seq 1 "$per_node"); do
        if [ "$per_node" = 1 ]; then vantages+=("$i:node-$i"); else vantages+=("$i:node-$i.$j"); fi
    done
done
total=${#vantages[@]}
streaming=()
if [ "$stream" = 1 ]; then
    # Longer than the cut: node-1's load must outlast a partition from its gatherer.
    lost_after=$(( ${cut_for%s} + 30 ))s
    token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
    gather_at=10.199.0.1:7071
    rm -rf "${out:?}/gathered"
    say "a gatherer on $gather_at for the $total vantage points (lost after ${lost_after} of silence)"
    CRASHLAB_STREAM_TOKEN=$token dist/image/chaos-runner gather --listen "$gather_at" \
        --out "$out/gathered" --expect "$total" --lost-after "$lost_after" \
        > "$out/gather.log" 2>&1 &
    gather_pid=$!
    streaming=(--stream-to "http://$gather_at" --stream-token "$token" --stream-lost-after "$lost_after")
fi
say "$total vantage points, $rate requests/s in all from $start_at for $duration; $what at 10 s for $cut_for"
pids=()
for k in "${!vantages[@]}"; do
    i=${vantages[$k]%%:*} name=${vantages[$k]#*:}
    dir=$out/$name
    rm -rf "${dir:?}"
    access="DNS round-robin to the tasks (tasks.appserver) from a container on node-$i, overlay network $network (lab of $nodes nodes; no IPVS)"
    common=(http://tasks.appserver:8080/ --rate "$rate" --share "$(( k + 1 ))/$total"
        --start-at "$start_at" --duration "$duration" --timeout 1s
        --label "from $name" --access-path "$access")
    [ "$stream" = 0 ] || common+=("${streaming[@]}" --stream-name "$name")
    if [ "$k" = 0 ]; then
        scripts/lab.sh run "$network" "$dir" "${common[@]}" --swarm-service "$service" \
            --replicas "$replicas" --fault "$spec" \
            > "$out/$name.log" 2>&1 &
    else
        scripts/lab.sh load "node-$i" "$network" "$dir" "${common[@]}" > "$out/$name.log" 2>&1 &
    fi
    pids+=("$!")
done
rc=0
for k in "${!pids[@]}"; do
    i=${vantages[$k]%%:*} name=${vantages[$k]#*:}
    if wait "${pids[$k]}"; then
        say "$name: done"
    elif lrc=$? && [ "$fault" = stop ] && [ "$i" = 1 ]; then
        # Its engine was killed under it: what its journal kept is merged, up to the stop.
        say "$name: lost with its node (exit $lrc), as the stop meant; merged up to it"
    else
        rc=$lrc
        say "$name: exit $rc (its log: $out/$name.log)"
    fi
    sed "s|/run-out|$out/$name|g; s/^/    /" "$out/$name.log" | tail -n 3
done
say "merging the $total runs"
dirs=()
for v in "${vantages[@]}"; do
    # A run that did not finish (its node stopped) is merged up to its loss, from its journal.
    if [ -f "$out/${v#*:}/summary.json" ] || [ -f "$out/${v#*:}/journal/run.jsonl" ]; then
        dirs+=("$out/${v#*:}")
    fi
done
if [ "${#dirs[@]}" -ge 2 ]; then
    # Exit 4: a vantage was lost and is counted up to its loss, as the page says. Its time
    # and peak memory are kept: what merging this many vantages costs.
    mrc=0 timer=()
    : > "$out/merge.time"
    if [ -x /usr/bin/time ]; then
        timer=(/usr/bin/time -f "merge: %e s elapsed, %M KB peak memory" -o "$out/merge.time")
    fi
    "${timer[@]}" dist/image/chaos-runner merge "${dirs[@]}" --out "$out/merged" --force \
        > "$out/merge.log" 2>&1 || mrc=$?
    sed 's/^/    /' "$out/merge.log" "$out/merge.time"
    case "$mrc" in 0|4) ;; *) exit "$mrc" ;; esac
    awk '/^\| vantage/ { on = 1 } on && !NF { exit } on' "$out/merged/merged.md"
fi
if [ -n "$gather_pid" ]; then
    # It ends once every vantage sent its end or was silent for $lost_after: 0, or 4 with one lost.
    grc=0
    wait "$gather_pid" || grc=$?
    gather_pid=
    say "the gatherer ended (exit $grc):"
    sed 's/^/    /' "$out/gather.log"
    case "$grc" in 0|4) ;; *) exit "$grc" ;; esac
fi
say "done: $out (merged/merged.html; node-*/report.html)"
[ "$rc" = 0 ] || exit "$rc"
