# Shared by demo.sh and upgrade.sh: build the image, use (or create) a single-node swarm,
# deploy compose.yaml, find the access path that works, run chaos-runner, clean up.
# The caller sets: stack (default name), port, out; and calls swarm_setup, then run_runner.
# CRASHLAB_COMPOSE names another compose file to deploy (default: compose.yaml). With
# `health` set (an interval such as 250ms), the image's health check, which compose.yaml
# switches off, is turned back on at that interval after the deploy.
# shellcheck shell=bash

stack=${stack:-crashlab-demo}
compose=${CRASHLAB_COMPOSE:-compose.yaml}
port=${PUBLISHED_PORT:-8080}
service=${stack}_appserver
network=${stack}_appnet
image=crashlab/crashserver:demo-$$
runner_name=${stack}-runner-$$
started=$(date +%s)
created_swarm=0
gwbridge_before=0
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
        # The stack's containers and network go asynchronously: wait for both, and remove
        # the network ourselves if swarm could not (it refuses while endpoints linger).
        for _ in $(seq 1 90); do
            if [ -z "$(docker ps -aq --filter "label=com.docker.stack.namespace=$stack")" ]; then
                docker network inspect "$network" >/dev/null 2>&1 || break
                docker network rm "$network" >/dev/null 2>&1 || true
            fi
            sleep 1
        done
        if docker network inspect "$network" >/dev/null 2>&1; then
            echo "${0##*/}: could not remove network $network" >&2
        fi
    fi
    if [ "$built" = 1 ]; then
        docker image rm -f "$image" >/dev/null 2>&1 || true
    fi
    if [ "$created_swarm" = 1 ]; then
        say "leaving the single-node swarm this script created"
        docker swarm leave --force >/dev/null 2>&1 || true
        # swarm init made docker_gwbridge; the engine keeps it after leaving unless removed.
        if [ "$gwbridge_before" = 0 ]; then
            docker network rm docker_gwbridge >/dev/null 2>&1 || true
        fi
    fi
    exit "$rc"
}
# Waits until the service's last update is completed (fails on a rollback or pause).
wait_update_done() {
    local st
    for _ in $(seq 1 180); do
        st=$(docker service inspect -f '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}' "$service")
        case "$st" in
            completed|"") return 0 ;;
            rollback_completed|rollback_paused|paused) echo "${0##*/}: the service update ended $st" >&2; return 1 ;;
        esac
        sleep 1
    done
    echo "${0##*/}: the service update did not complete" >&2
    return 1
}

swarm_traps() {
    trap cleanup EXIT
    trap 'exit 130' INT TERM
}

# swarm_setup REPLICAS [EXTRA_ENV...]: everything up to a running, reachable service.
swarm_setup() {
    local first=$1
    : "${out:?the caller sets out}"

    command -v docker >/dev/null || { echo "${0##*/}: docker is not installed" >&2; exit 1; }
    docker info >/dev/null 2>&1 || { echo "${0##*/}: cannot reach the Docker Engine (is it running, may you use its socket?)" >&2; exit 1; }

    say "building the image (scripts/build-image.sh chooses the path: host or inside Docker)"
    built=1
    scripts/build-image.sh "$image" 2>&1 | sed 's/^/    /'
    # A chaos-runner that runs on this host exists only after a host build (on macOS or
    # with an engine of another architecture the image's is a Linux binary of that engine's).
    runner=
    case "$(scripts/build-image.sh --plan)" in
        host*) runner=dist/image/chaos-runner ;;
    esac

    state=$(docker info -f '{{.Swarm.LocalNodeState}}')
    if [ "$state" = inactive ]; then
        say "the engine is in no swarm: initialising a single-node swarm (left again at the end)"
        if docker network inspect docker_gwbridge >/dev/null 2>&1; then gwbridge_before=1; fi
        docker swarm init --advertise-addr 127.0.0.1 >/dev/null
        created_swarm=1
    elif [ "$(docker info -f '{{.Swarm.ControlAvailable}}')" != true ]; then
        echo "${0##*/}: this engine is in a swarm but is not a manager; run the demo on a manager" >&2
        exit 1
    else
        say "using the engine's swarm (state: $state)"
    fi

    # /kill and /status are never left open on the published port: a token for this run
    # (the demo kills through the Docker API and does not need it).
    kill_token=${KILL_TOKEN:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
    say "deploying $compose as stack $stack ($first replica(s), published port $port, /kill and /status behind a token)"
    if ! deploy_log=$(CRASHLAB_IMAGE=$image REPLICAS=$first PUBLISHED_PORT=$port KILL_TOKEN=$kill_token \
        docker stack deploy -c "$compose" "$stack" 2>&1); then
        echo "$deploy_log" >&2
        exit 1
    fi
    deployed=1
    if [ -n "${health:-}" ]; then
        say "turning the image's health check on, every $health"
        docker service update --quiet --detach=false --no-healthcheck=false \
            --health-interval "$health" "$service" >/dev/null
    fi

    wait_running() {
        for _ in $(seq 1 120); do
            if [ "$(docker service ls --filter "name=$service" --format '{{.Replicas}}')" = "$1/$1" ]; then
                return 0
            fi
            sleep 1
        done
        echo "${0##*/}: $service did not reach $1 running replica(s)" >&2
        return 1
    }
    wait_running "$first"

    # Which access path works here? The lecture's routing mesh (the published port on this
    # host), else DNS round-robin to the tasks from a container on the overlay network.
    mkdir -p "$out"
    if [ -n "$runner" ] && "$runner" probe --timeout 2s "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
        mode=host
        target="http://127.0.0.1:$port/"
        access="swarm routing mesh: published port $port on this host (ingress, VIP load-balanced)"
        say "access path: routing mesh on port $port"
    else
        if [ -n "$runner" ]; then
            say "the routing mesh refuses connections on port $port here (no IPVS?): probing from the overlay network"
        else
            say "no chaos-runner for this host (the image was built inside Docker): probing from the overlay network"
        fi
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
                echo "${0##*/}: the service answers on no access path (mesh, VIP, tasks DNS)" >&2
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
        wait_update_done
        wait_running "$first"
        say "access path: $target from a container on the overlay"
    fi

}

# check_fresh DIR...: refuses (exit 2) to write over earlier results unless force=1.
check_fresh() {
    local d
    for d in "$@"; do
        if [ -d "$d" ] && [ -n "$(ls -A "$d" 2>/dev/null)" ] && [ "${force:-0}" != 1 ]; then
            echo "${0##*/}: $d holds earlier results: choose another --out, or add --force to replace them" >&2
            exit 2
        fi
    done
}

# run_runner DIR ARGS...: chaos-runner run into $out/DIR, on this host or from the image in a
# container on the overlay. The results belong to the invoking user and nothing is made
# world-writable: the container writes as this user (as 65532 when that is root, the image's
# user, and the files are handed back to root afterwards). Paths printed are host paths.
run_runner() {
    local dir=$1; shift
    rm -rf "${out:?}/$dir"
    mkdir -p "$out/$dir"
    # Empty arrays expand with ${a[@]+...}: bash 3.2 calls "${a[@]}" unbound under set -u.
    local live=() publish=()
    if [ -n "${live_port:-}" ]; then
        # Loopback only: the page is for this machine's browser (or a projector on it).
        if [ "$mode" = host ]; then
            live=(--live "127.0.0.1:$live_port" --live-linger 3s)
        else
            live=(--live "0.0.0.0:$live_port" --live-linger 3s)
            publish=(-p "127.0.0.1:$live_port:$live_port")
        fi
        say "live view: http://127.0.0.1:$live_port/ (open it in a browser; it follows each run)"
    fi
    # The run's token reaches http faults (/kill, /chaos) through the environment, never the
    # command line.
    [ -z "${kill_token:-}" ] || export KILL_TOKEN="$kill_token"
    if [ "$mode" = host ]; then
        "$runner" run "$target" --out "$out/$dir" ${live[@]+"${live[@]}"} "$@"
        return
    fi
    local uid gid host_dir rc=0
    uid=$(id -u)
    [ "$uid" = 0 ] && { uid=65532; chown 65532 "$out/$dir"; }
    # The socket's group, portably (GNU and BSD ls alike; -L follows Docker Desktop's link).
    # shellcheck disable=SC2012  # one fixed path, not a listing
    gid=$(ls -lnL /var/run/docker.sock | awk '{print $4}')
    host_dir=$(cd "$out/$dir" && pwd)
    docker run --rm --name "$runner_name" --network "$network" ${publish[@]+"${publish[@]}"} \
        --user "$uid" --group-add "$gid" ${kill_token:+-e KILL_TOKEN} \
        -v /var/run/docker.sock:/var/run/docker.sock \
        -v "$host_dir:/run-out" \
        --entrypoint /usr/local/bin/chaos-runner "$image" \
        run "$target" --out /run-out ${live[@]+"${live[@]}"} "$@" 2>&1 | sed "s|/run-out|$out/$dir|g" || rc=$?
    [ "$(id -u)" = 0 ] && chown -R 0:0 "$out/$dir"
    return "$rc"
}

# run_experiment FILE ARGS...: chaos-runner experiment FILE into $out, against this stack's
# service and access path, on this host or from the image in a container on the overlay
# (as run_runner: the invoking user's files, the Docker socket for the cells' settings).
run_experiment() {
    local file=$1; shift
    # The trials' http faults need the token the stack was deployed with (-e passes it on).
    [ -z "${kill_token:-}" ] || export KILL_TOKEN="$kill_token"
    mkdir -p "$out"
    local over=(--url "$target" --swarm-service "$service" --access-path "$access")
    if [ "$mode" = host ]; then
        "$runner" experiment "$file" --out "$out" "${over[@]}" "$@"
        return
    fi
    local uid gid host_dir host_file rc=0
    uid=$(id -u)
    [ "$uid" = 0 ] && { uid=65532; chown -R 65532 "$out"; }
    # shellcheck disable=SC2012  # one fixed path, not a listing
    gid=$(ls -lnL /var/run/docker.sock | awk '{print $4}')
    host_dir=$(cd "$out" && pwd)
    host_file=$(cd "$(dirname "$file")" && pwd)/$(basename "$file")
    docker run --rm --name "$runner_name" --network "$network" \
        --user "$uid" --group-add "$gid" ${kill_token:+-e KILL_TOKEN} \
        -v /var/run/docker.sock:/var/run/docker.sock \
        -v "$host_dir:/run-out" -v "$host_file:/experiment.toml:ro" \
        --entrypoint /usr/local/bin/chaos-runner "$image" \
        experiment /experiment.toml --out /run-out "${over[@]}" "$@" 2>&1 | sed "s|/run-out|$out|g" || rc=$?
    [ "$(id -u)" = 0 ] && chown -R 0:0 "$out"
    return "$rc"
}

# run_tool ARGS...: chaos-runner for report work (compare) on files under $out: on this host,
# or from the image with $out mounted (then paths under $out are given as they are).
run_tool() {
    if [ -n "$runner" ]; then
        "$runner" "$@"
        return
    fi
    local abs uid
    abs=$(cd "$out" && pwd)
    uid=$(id -u)
    docker run --rm --user "$uid" -v "$abs:$abs" -w "$abs" \
        --entrypoint /usr/local/bin/chaos-runner "$image" "$@"
}
