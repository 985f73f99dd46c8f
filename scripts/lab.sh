#!/usr/bin/env bash
# A local swarm of several Docker Engines on this Linux machine, one per network namespace,
# named node-0..node-N like the lecture's droplets; node failures on demand.
#
#   scripts/lab.sh up [--nodes 3] [--managers 1|3] [--heartbeat 5s] [--image IMAGE]
#   scripts/lab.sh status
#   scripts/lab.sh env N          # prints: export DOCKER_HOST=... (node N's engine)
#   scripts/lab.sh node stop|start|cut|heal|drain|active NODE
#   scripts/lab.sh deploy STACK [REPLICAS]  # compose.yaml on the lab, kill token set
#   scripts/lab.sh run NETWORK DIR ARGS...  # chaos-runner run ARGS in a container on node-0
#   scripts/lab.sh experiment NETWORK DIR FILE ARGS...  # chaos-runner experiment FILE, the same way
#   scripts/lab.sh load NODE NETWORK DIR ARGS...  # chaos-runner run ARGS on NODE: load only (no
#                                 # engine, no node driver), e.g. a --share of a schedule
#   scripts/lab.sh down           # also after a failure or Ctrl-C: the machine as found
#
# Each node: a network namespace (crashlab-node-I) with a veth on the bridge crashlab0
# (10.199.0.0/24, node I at 10.199.0.(10+I); the host is 10.199.0.1; no default route, so
# nothing leaves the machine), a dockerd of its own (own socket, data, exec root, vfs
# storage) started in that namespace with its own hostname. node-0 initialises the swarm;
# with --managers 3, node-1 and node-2 join as managers; the rest join as workers. The image
# reaches every engine by docker save | docker load (no registry).
#
# Node faults, as chaos-runner's node driver calls them (`chaos-runner run --node-driver`):
#   stop   the node's containers and engine are killed and its link goes down (a crashed
#          machine: its peers time out); start brings the link up and the engine back
#   cut    the node's link goes down (a partition: its tasks run on, unreachable); heal
#   drain  availability drain through a manager; active
# A node agent on 10.199.0.1:7077 (token in /run/crashlab-lab/agent.token) runs these for
# a chaos-runner inside the lab, which cannot reach the host itself.
#
# Needs root, ip, iptables, nsenter, unshare, dockerd and docker; Linux only.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN=/run/crashlab-lab
DATA=/var/lib/crashlab-lab
BRIDGE=crashlab0
SUBNET_PREFIX=10.199.0
POOL=10.201.0.0/16
AGENT_PORT=7077

say() { printf '==> %s\n' "$*"; }
die() { echo "lab.sh: $*" >&2; exit 1; }
usage() { sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; }

node_dir() { echo "$RUN/$1"; }
node_sock() { echo "unix://$RUN/$1/docker.sock"; }
node_ip() { echo "$SUBNET_PREFIX.$(( 10 + ${1#node-} ))"; }
ndocker() { local n=$1; shift; docker -H "$(node_sock "$n")" "$@"; }
nodes() { cat "$RUN/nodes" 2>/dev/null || true; }
is_up() { [ -f "$RUN/nodes" ]; }

need_tools() {
    local missing=()
    [ "$(id -u)" = 0 ] || die "needs root (network namespaces, a bridge, iptables, engines)"
    [ "$(uname -s)" = Linux ] || die "Linux only (network namespaces); on macOS or Windows use the single-node demo"
    for t in ip iptables nsenter unshare dockerd docker; do
        command -v "$t" >/dev/null || missing+=("$t")
    done
    [ "${#missing[@]}" = 0 ] || die "missing: ${missing[*]} (Debian: apt-get install iproute2 iptables util-linux docker.io)"
}

# start_engine NODE: dockerd in the node's namespace with its own hostname; waits for it.
start_engine() {
    local n=$1 d
    d=$(node_dir "$n")
    mkdir -p "$d" "$DATA/$n"
    # An empty config: this machine's daemon.json (data-root, storage driver) must not apply.
    echo '{}' > "$d/daemon.json"
    nsenter --net="/var/run/netns/crashlab-$n" unshare --uts sh -c \
        "hostname $n && exec dockerd --config-file $d/daemon.json -H $(node_sock "$n") \
            --data-root $DATA/$n --exec-root $d/exec --pidfile $d/docker.pid \
            --storage-driver vfs --iptables=true --ip-forward=true" \
        > "$d/dockerd.log" 2>&1 &
    for _ in $(seq 1 60); do
        ndocker "$n" info >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    tail -5 "$d/dockerd.log" >&2
    die "the engine of $n did not start (log: $d/dockerd.log)"
}

# kill_engine NODE: its containers, then its engine and containerd (SIGKILL).
kill_engine() {
    local n=$1 d pid ids
    d=$(node_dir "$n")
    ids=$(ndocker "$n" ps -q 2>/dev/null || true)
    # shellcheck disable=SC2086  # container ids, one word each
    [ -z "$ids" ] || ndocker "$n" kill $ids >/dev/null 2>&1 || true
    pid=$(cat "$d/docker.pid" 2>/dev/null || true)
    [ -z "$pid" ] || kill -9 "$pid" 2>/dev/null || true
    # The engine's containerd and shims are found by their paths under the node's exec root.
    pkill -9 -f -- "$d/exec" 2>/dev/null || true
    for _ in $(seq 1 40); do
        pgrep -f -- "$d/exec" >/dev/null || { [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; } || break
        sleep 0.25
    done
    rm -f "$d/docker.pid"
}

set_link() { ip link set "crashlab-$1" "$2"; }

up() {
    local count=3 managers=1 heartbeat=5s image=crashlab/crashserver:latest
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) count=${2:?}; shift 2 ;;
            --managers) managers=${2:?}; shift 2 ;;
            --heartbeat) heartbeat=${2:?}; shift 2 ;;
            --image) image=${2:?}; shift 2 ;;
            *) die "up: unknown argument '$1'" ;;
        esac
    done
    case "$count" in [1-9]) ;; *) die "--nodes takes 1 to 9" ;; esac
    case "$managers" in 1|3) ;; *) die "--managers takes 1 or 3" ;; esac
    [ "$managers" -le "$count" ] || die "--managers $managers needs at least $managers nodes"
    need_tools
    is_up && die "a lab is up already (scripts/lab.sh status; scripts/lab.sh down)"
    if [ -e "$RUN" ] || [ -e "$DATA" ]; then
        die "$RUN or $DATA is left from an earlier lab: scripts/lab.sh down"
    fi
    docker image inspect "$image" >/dev/null 2>&1 \
        || die "no image $image on this engine: scripts/build-image.sh $image"
    trap 'echo "lab.sh: up failed: taking the lab down" >&2; down' ERR INT TERM
    local started=$SECONDS i n
    mkdir -p "$RUN" "$DATA"
    # Others may pass through $RUN to the engines' sockets (which keep their own group);
    # the agent's token is the owner's alone.
    chmod 711 "$RUN"
    chmod 700 "$DATA"
    say "bridge $BRIDGE ($SUBNET_PREFIX.1/24) and $count node namespaces"
    ip link add "$BRIDGE" type bridge
    ip addr add "$SUBNET_PREFIX.1/24" dev "$BRIDGE"
    ip link set "$BRIDGE" up
    # Bridged traffic passes iptables here, where FORWARD drops by default.
    iptables -I FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    echo "FORWARD -i $BRIDGE -o $BRIDGE -j ACCEPT" > "$RUN/iptables"
    : > "$RUN/nodes"
    for i in $(seq 0 $(( count - 1 ))); do
        n=node-$i
        echo "$n" >> "$RUN/nodes"
        ip netns add "crashlab-$n"
        ip link add "crashlab-$n" type veth peer name eth0 netns "crashlab-$n"
        ip link set "crashlab-$n" master "$BRIDGE" up
        ip -n "crashlab-$n" addr add "$(node_ip "$n")/24" dev eth0
        ip -n "crashlab-$n" link set eth0 up
        ip -n "crashlab-$n" link set lo up
    done
    say "engines"
    for n in $(nodes); do start_engine "$n"; done
    say "image $image on every node"
    for n in $(nodes); do docker save "$image" | ndocker "$n" load -q >/dev/null; done
    say "swarm: node-0 initialises (dispatcher heartbeat $heartbeat), $(( managers - 1 )) more manager(s), $(( count - managers )) worker(s)"
    ndocker node-0 swarm init --advertise-addr "$(node_ip node-0)" --listen-addr "$(node_ip node-0):2377" \
        --default-addr-pool "$POOL" --dispatcher-heartbeat "$heartbeat" >/dev/null
    local mtoken wtoken
    mtoken=$(ndocker node-0 swarm join-token -q manager)
    wtoken=$(ndocker node-0 swarm join-token -q worker)
    for n in $(nodes); do
        [ "$n" = node-0 ] && continue
        local token=$wtoken
        [ "${n#node-}" -lt "$managers" ] && token=$mtoken
        ndocker "$n" swarm join --token "$token" --advertise-addr "$(node_ip "$n")" \
            --listen-addr "$(node_ip "$n"):2377" "$(node_ip node-0):2377" >/dev/null
    done
    echo "$managers" > "$RUN/managers"
    echo "$image" > "$RUN/image"
    start_agent "$image"
    trap - ERR INT TERM
    say "up in $(( SECONDS - started )) s"
    status
}

# The node agent: the host side of chaos-runner's node driver for runs inside the lab.
start_agent() {
    local bin=$RUN/crashlab c
    # The image's static binary runs on this host (a Linux engine's architecture is the host's).
    c=$(docker create "$1")
    docker cp -L "$c:/usr/local/bin/crashlab" "$bin" >/dev/null
    docker rm "$c" >/dev/null
    head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RUN/agent.token"
    chmod 600 "$RUN/agent.token"
    NODE_AGENT_TOKEN=$(cat "$RUN/agent.token") "$bin" chaos-runner node-agent \
        --listen "$SUBNET_PREFIX.1:$AGENT_PORT" --driver "$PWD/scripts/lab.sh node" \
        --nodes "$(nodes | paste -sd, -)" > "$RUN/agent.log" 2>&1 &
    echo $! > "$RUN/agent.pid"
    for _ in $(seq 1 40); do
        grep -q listening "$RUN/agent.log" 2>/dev/null && return 0
        sleep 0.25
    done
    die "the node agent did not start: $(cat "$RUN/agent.log")"
}

# deploy STACK [REPLICAS]: compose.yaml as a stack on the lab, with the lab's image and a
# random kill token; without IPVS the routing mesh does not forward, and its published port
# slows every restart: it is removed.
deploy() {
    local stack=${1:?deploy takes STACK [REPLICAS]} replicas=${2:-1}
    is_up || die "no lab is up"
    CRASHLAB_IMAGE=$(cat "$RUN/image") REPLICAS=$replicas \
        KILL_TOKEN=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n') \
        ndocker node-0 stack deploy --resolve-image never -c compose.yaml "$stack" >/dev/null
    ndocker node-0 service update --quiet --detach=false --publish-rm 8080 "${stack}_appserver" \
        >/dev/null 2>&1
}

# run NETWORK DIR ARGS...: `chaos-runner run ARGS` in a container on node-0, on the overlay
# NETWORK (the only way to the tasks here), with node-0's engine as the manager, every other
# node's engine for docker faults and the node agent for node faults; its reports in DIR,
# which ends up the invoking user's.
run_in_lab() {
    local network=${1:?run takes NETWORK DIR ARGS...} dir=${2:?run takes NETWORK DIR ARGS...}
    shift 2
    lab_flags
    in_lab "$network" "$dir" "" run --out /run-out "${LAB_FLAGS[@]}" "$@"
}

# experiment_in_lab NETWORK DIR FILE ARGS...: chaos-runner experiment FILE into DIR from the
# same container as `run`; the lab's node driver and engines go to every trial (after --).
experiment_in_lab() {
    local network=${1:?experiment takes NETWORK DIR FILE ARGS...} dir=${2:?experiment takes NETWORK DIR FILE ARGS...}
    local file=${3:?experiment takes NETWORK DIR FILE ARGS...}
    shift 3
    [ -f "$file" ] || die "no such file: $file"
    lab_flags
    in_lab "$network" "$dir" "$file" experiment /experiment.toml --out /run-out "$@" -- "${LAB_FLAGS[@]}"
}

# lab_flags: LAB_FLAGS, what every run in the lab needs: the node agent as its node driver
# and the other nodes' engines.
lab_flags() {
    local n
    is_up || die "no lab is up"
    LAB_FLAGS=(--node-driver "http://$SUBNET_PREFIX.1:$AGENT_PORT")
    while read -r n; do
        [ "$n" = node-0 ] || LAB_FLAGS+=(--engine "$n=$(node_sock "$n")")
    done < "$RUN/nodes"
}

# in_lab NETWORK DIR FILE ARGS...: chaos-runner ARGS in a container on node-0's NETWORK,
# DIR mounted at /run-out (FILE, if any, at /experiment.toml), with node-0's engine and the
# node agent's token.
in_lab() {
    local network=$1 dir=$2 file=$3 gid rc=0
    shift 3
    mkdir -p "$dir"
    chown 65532 "$dir"
    local mount_file=()
    [ -z "$file" ] || mount_file=(-v "$(cd "$(dirname "$file")" && pwd)/$(basename "$file"):/experiment.toml:ro")
    gid=$(stat -c %g "$RUN/node-0/docker.sock")  # portable: the lab is Linux only
    ndocker node-0 run --rm --network "$network" --group-add "$gid" \
        -v "$RUN:$RUN" -v "$(cd "$dir" && pwd):/run-out" "${mount_file[@]}" \
        -e "DOCKER_HOST=$(node_sock node-0)" -e "NODE_AGENT_TOKEN=$(cat "$RUN/agent.token")" \
        --entrypoint /usr/local/bin/chaos-runner "$(cat "$RUN/image")" "$@" \
        || rc=$?
    chown -R "$(id -u):$(id -g)" "$dir"
    return "$rc"
}

# load_on NODE NETWORK DIR ARGS...: chaos-runner run ARGS in a container on NODE's engine and
# NETWORK, DIR mounted at /run-out; it gets neither an engine nor the node agent's token, so
# it only loads and measures (a vantage point on that node).
load_on() {
    local node=${1:?load takes NODE NETWORK DIR ARGS...} network=${2:?load takes NODE NETWORK DIR ARGS...}
    local dir=${3:?load takes NODE NETWORK DIR ARGS...} rc=0
    shift 3
    is_up || die "no lab is up"
    grep -qx -- "$node" <<<"$(nodes)" || die "no node '$node'"
    mkdir -p "$dir"
    chown 65532 "$dir"
    ndocker "$node" run --rm --network "$network" -v "$(cd "$dir" && pwd):/run-out" \
        --entrypoint /usr/local/bin/chaos-runner "$(cat "$RUN/image")" run --out /run-out "$@" \
        || rc=$?
    chown -R "$(id -u):$(id -g)" "$dir"
    return "$rc"
}

status() {
    is_up || { echo "no lab is up"; return 0; }
    echo "nodes: $(nodes | paste -sd' ' -); managers: $(cat "$RUN/managers" 2>/dev/null || echo ?)"
    ndocker node-0 node ls 2>/dev/null || echo "(node-0's engine does not answer)"
    echo "point docker at node N:   eval \"\$(scripts/lab.sh env N)\""
    echo "node agent:               http://$SUBNET_PREFIX.1:$AGENT_PORT (token in $RUN/agent.token)"
}

node_cmd() {
    local verb=${1:-} n=${2:-}
    is_up || die "no lab is up"
    grep -qx -- "$n" <<<"$(nodes)" || die "no node '$n' (nodes: $(nodes | paste -sd' ' -))"
    case "$verb" in
        # The link first: a crashed machine announces nothing (no container deaths, no
        # endpoint removals gossiped to the other nodes); its peers find out by timeouts.
        stop) set_link "$n" down; kill_engine "$n" ;;
        start)
            set_link "$n" up
            [ -f "$(node_dir "$n")/docker.pid" ] || start_engine "$n" ;;
        cut) set_link "$n" down ;;
        heal) set_link "$n" up ;;
        drain|active) ndocker node-0 node update --availability "$verb" "$n" >/dev/null ;;
        *) die "node: unknown action '$verb' (stop, start, cut, heal, drain, active)" ;;
    esac
    echo "$n: $verb done"
}

down() {
    trap - ERR INT TERM
    local n d
    [ "$(id -u)" = 0 ] || die "needs root"
    if [ -f "$RUN/agent.pid" ]; then kill "$(cat "$RUN/agent.pid")" 2>/dev/null || true; fi
    for n in $(nodes); do
        [ -d "$(node_dir "$n")" ] && kill_engine "$n"
    done
    # Whatever an engine left mounted under the lab's directories.
    grep -oE " ($RUN|$DATA)/[^ ]*" /proc/self/mounts | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    for n in $(nodes); do
        ip link del "crashlab-$n" 2>/dev/null || true
        ip netns del "crashlab-$n" 2>/dev/null || true
    done
    # Namespaces of a lab whose node list was lost.
    ip netns list 2>/dev/null | awk '/^crashlab-node-/ {print $1}' | while read -r ns; do
        ip netns del "$ns" 2>/dev/null || true
    done
    if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link del "$BRIDGE"; fi
    while iptables -C FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do
        iptables -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT
    done
    rm -rf "$RUN" "$DATA"
    say "lab down: no namespace, bridge, rule, engine or directory left"
}

case "${1:-}" in
    up) shift; up "$@" ;;
    down) down ;;
    status) status ;;
    env)
        is_up || die "no lab is up"
        n=node-${2:?env takes a node number}
        grep -qx -- "$n" <<<"$(nodes)" || die "no node '$n'"
        echo "export DOCKER_HOST=$(node_sock "$n")" ;;
    node) shift; node_cmd "$@" ;;
    run) shift; run_in_lab "$@" ;;
    experiment) shift; experiment_in_lab "$@" ;;
    load) shift; load_on "$@" ;;
    deploy) shift; deploy "$@" ;;
    -h|--help|"") usage ;;
    *) usage >&2; exit 2 ;;
esac
