#!/usr/bin/env bash
# The main job: deploy crashserver on a local single-node swarm, hammer it while its
# replicas are killed through the Docker API, at 1 and then at 5 replicas, and write the
# comparison into results/.
#
# usage: scripts/demo.sh [--duration 60s] [--every 10s] [--rate 200] [--replicas 1,5]
#                        [--out results/swarm-demo]
#
# It builds the image offline, uses the engine's swarm (initialising a single-node one only
# when the engine is in none, and leaving it again at the end), deploys compose.yaml,
# detects how the service can be reached (routing mesh, or DNS round-robin to the tasks from
# a container on the overlay network), runs chaos-runner, and removes everything it created,
# also on failure or Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=60s
every=10s
rate=200
replicas=1,5
out=results/swarm-demo
port=${PUBLISHED_PORT:-8080}

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --every) every=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --replicas) replicas=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "demo.sh: unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
done

stack=${CRASHLAB_STACK:-crashlab-demo}
service=${stack}_appserver
network=${stack}_appnet
image=crashlab/crashserver:demo-$$
runner_name=${stack}-runner-$$
started=$(date +%s)
created_swarm=0
deployed=0
built=0

say() { printf '==> [%3ss] %s\n' "$(( $(date +%s) - started ))" "$*"; }

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    say "cleaning up"
    docker rm -f "$runner_name" >/dev/null 2>&1 || true
    if [ "$deployed" = 1 ]; then
        docker stack rm "$stack" >/dev/null 2>&1 || true
        # The stack's containers and network go asynchronously: wait for both.
        for _ in $(seq 1 90); do
            if [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ] &&
                ! docker network inspect "$network" >/dev/null 2>&1; then
                break
            fi
            sleep 1
        done
    fi
    if [ "$built" = 1 ]; then
        docker image rm -f "$image" >/dev/null 2>&1 || true
    fi
    if [ "$created_swarm" = 1 ]; then
        say "leaving the single-node swarm this script created"
        docker swarm leave --force >/dev/null 2>&1 || true
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

command -v docker >/dev/null || { echo "demo.sh: docker is not installed" >&2; exit 1; }
docker info >/dev/null 2>&1 || { echo "demo.sh: cannot reach the Docker Engine (is it running, may you use its socket?)" >&2; exit 1; }

say "building the image offline"
scripts/build-image.sh "$image" | sed 's/^/    /'
built=1
runner=dist/image/chaos-runner

state=$(docker info -f '{{.Swarm.LocalNodeState}}')
if [ "$state" = inactive ]; then
    say "the engine is in no swarm: initialising a single-node swarm (left again at the end)"
    docker swarm init --advertise-addr 127.0.0.1 >/dev/null
    created_swarm=1
elif [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" != true ]; then
    echo "demo.sh: this engine is in a swarm but is not a manager; run the demo on a manager" >&2
    exit 1
else
    say "using the engine's swarm (state: $state)"
fi

first=${replicas%%,*}
say "deploying compose.yaml as stack $stack ($first replica(s), published port $port)"
if ! deploy_log=$(CRASHLAB_IMAGE=$image REPLICAS=$first PUBLISHED_PORT=$port \
    docker stack deploy -c compose.yaml "$stack" 2>&1); then
    echo "$deploy_log" >&2
    exit 1
fi
deployed=1

wait_running() {
    for _ in $(seq 1 120); do
        if [ "$(docker service ls --filter "name=$service" --format '{{.Replicas}}')" = "$1/$1" ]; then
            return 0
        fi
        sleep 1
    done
    echo "demo.sh: $service did not reach $1 running replica(s)" >&2
    return 1
}
wait_running "$first"

# Which access path works here? The lecture's routing mesh (the published port on this
# host), else DNS round-robin to the tasks from a container on the overlay network.
mkdir -p "$out"
if "$runner" probe --timeout 2s "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    mode=host
    target="http://127.0.0.1:$port/"
    access="swarm routing mesh: published port $port on this host (ingress, VIP load-balanced)"
    say "access path: routing mesh on port $port"
else
    say "the routing mesh refuses connections on port $port here (no IPVS?): probing from the overlay network"
    found=$(docker run --rm --network "$network" --entrypoint /usr/local/bin/chaos-runner "$image" \
        probe --timeout 2s http://appserver:8080/health http://tasks.appserver:8080/health 2>/dev/null || true)
    case "$found" in
        http://appserver:8080/*)
            target=http://appserver:8080/
            access="swarm VIP (appserver) from a chaos-runner container on overlay network $network; the routing mesh on port $port refused connections" ;;
        http://tasks.appserver:8080/*)
            target=http://tasks.appserver:8080/
            access="swarm DNS round-robin to the tasks (tasks.appserver) from a chaos-runner container on overlay network $network; the routing mesh on port $port and the service VIP did not forward here" ;;
        *)
            echo "demo.sh: the service answers on no access path (mesh, VIP, tasks DNS)" >&2
            exit 1 ;;
    esac
    mode=container
    # The published port is useless here and costs about 10 s per restart (the ingress
    # attachment of a new task): remove it, and say so in the report.
    say "removing the unusable published port (it slows every restart on this host)"
    docker service update --quiet --detach=true --publish-rm 8080 "$service" >/dev/null
    access="$access; published port removed for the measurement"
    # A kill during the update (or its monitor period) would be handled by the update, not
    # by the restart policy: wait until swarm calls the update completed.
    for _ in $(seq 1 120); do
        st=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$service")
        [ "$st" = completed ] && break
        case "$st" in rollback*|paused) echo "demo.sh: removing the published port failed: $st" >&2; exit 1 ;; esac
        sleep 1
    done
    wait_running "$first"
    say "access path: $target from a container on the overlay"
fi

run_runner() { # DIR ARGS...
    local dir=$1; shift
    if [ "$mode" = host ]; then
        "$runner" run "$target" --out "$out/$dir" "$@"
    else
        local uid gid
        uid=$(id -u); [ "$uid" = 0 ] && uid=65532
        gid=$(stat -c %g /var/run/docker.sock)
        chmod a+rwx "$out"
        docker run --rm --name "$runner_name" --network "$network" \
            --user "$uid" --group-add "$gid" \
            -v /var/run/docker.sock:/var/run/docker.sock \
            -v "$(cd "$out" && pwd):/results" \
            --entrypoint /usr/local/bin/chaos-runner "$image" \
            run "$target" --out "/results/$dir" "$@"
    fi
}

dirs=()
IFS=, read -r -a counts <<< "$replicas"
for n in "${counts[@]}"; do
    label="$n replica"; [ "$n" = 1 ] || label="$n replicas"
    dir="${label// /-}"
    say "run: $label, $duration at $rate req/s, a docker SIGKILL of one task every $every"
    rm -rf "${out:?}/$dir"
    run_runner "$dir" --swarm-service "$service" --replicas "$n" --rate "$rate" --duration "$duration" \
        --timeout 1s --max-in-flight 512 \
        --fault "docker,every=$every,seed=1" --label "$label" --access-path "$access" 2>&1 | sed 's/^/    /'
    dirs+=("$out/$dir")
done

say "comparing: ${dirs[*]}"
"$runner" compare "${dirs[@]}" --out "$out/compare" | sed 's/^/    /'
echo
sed -n '/^| run/,/^$/p' "$out/compare/compare.md"
say "done: reports in $out (open $out/compare/compare.html)"
