#!/usr/bin/env bash
# The lecture's multi-node swarm on DigitalOcean, through its REST API.
#
# usage: scripts/cluster.sh [--dry-run] COMMAND [OPTIONS]
#
# commands:
#   create   create a manager and N workers (tagged), open the swarm ports to the other
#            nodes only, init and join over the droplets' private network
#   deploy   copy compose.yaml to the manager and deploy the stack (optionally load the image),
#            with /kill and /status behind a KILL_TOKEN (generated and printed once)
#   destroy  delete every droplet with the tag (asks first, or --yes)
#   status   list the tagged droplets and the swarm's nodes and services
#   node VERB NAME
#            chaos-runner's node driver for this cluster (--node-driver 'exec:scripts/cluster.sh
#            node'): stop and start power the droplet off and on (the cloud's API), cut and
#            heal drop and restore its traffic with the other nodes (iptables over SSH)
#   engines  print the SSH tunnels that bring each node's Docker socket here, and the
#            --engine flags that let chaos-runner's docker faults reach tasks on every node
#   vantage  measure the stack from every node at once: a chaos-runner in a container on the
#            manager, on the stack's network, with the manager's engine, runs
#            `run --vantage global` (a load task on every node, each its share of --rate,
#            gathered and merged there), then the run is copied back into --out
#
# options:
#   --dry-run            print every API call and remote command instead of running them
#   --tag TAG            tag on every droplet, for cleanup           (default crashlab)
#   --workers N          workers to create                            (default 2)
#   --region REGION      droplet region                               (default fra1)
#   --size SIZE          droplet size                                 (default s-1vcpu-1gb)
#   --os-image IMAGE     droplet image with Docker                    (default docker-20-04)
#   --ssh-key ID         SSH key id or fingerprint known to DigitalOcean (repeatable)
#   --replicas N         deploy: replicas                             (default 1)
#   --image IMAGE        deploy: crashserver image                    (default crashlab/crashserver:latest)
#   --load-image         deploy: docker save the local image and load it on every node (no registry)
#   --kill-token TOKEN   deploy: the token /kill and /status require   (default: a new random one)
#   --open               deploy: no token (anyone who reaches port 8080 can kill replicas)
#   --yes                destroy: do not ask
#   --rate N             vantage: requests/s in all                   (default 300)
#   --duration D         vantage: how long, 10s to 599s               (default 60s)
#   --fault SPEC         vantage: a fault to inject (repeatable): http ones (http:/kill,every=10s)
#                        go through the target with --kill-token; docker ones reach the
#                        manager's tasks; node faults need this script's driver, which runs
#                        here, not on the manager: cut a node by hand (node cut NAME) meanwhile
#   --out DIR            vantage: where the run is copied (default results/local/cluster-vantage-<UTC time>)
#
# environment: DIGITALOCEAN_TOKEN (API token; not needed with --dry-run; never put on a
# command line: curl reads it from a file descriptor).
# needs: curl, jq, ssh, scp (not with --dry-run).
set -euo pipefail
cd "$(dirname "$0")/.."

API=${DIGITALOCEAN_API:-https://api.digitalocean.com/v2}
dry_run=0
tag=crashlab
workers=2
region=fra1
size=s-1vcpu-1gb
os_image=docker-20-04
ssh_keys=()
replicas=1
image=crashlab/crashserver:latest
load_image=0
kill_token=
open=0
yes=0
command=
node_verb=
node_name=
rate=300
duration=60s
faults=()
out=

usage() { sed -n '2,49p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "cluster.sh: $*" >&2; exit 2; }

while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1; shift ;;
        --tag) tag=$2; shift 2 ;;
        --workers) workers=$2; shift 2 ;;
        --region) region=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --os-image) os_image=$2; shift 2 ;;
        --ssh-key) ssh_keys+=("$2"); shift 2 ;;
        --replicas) replicas=$2; shift 2 ;;
        --image) image=$2; shift 2 ;;
        --load-image) load_image=1; shift ;;
        --kill-token) kill_token=$2; shift 2 ;;
        --open) open=1; shift ;;
        --yes) yes=1; shift ;;
        --rate) rate=$2; shift 2 ;;
        --duration) duration=$2; shift 2 ;;
        --fault) faults+=("$2"); shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        create|deploy|destroy|status|engines|vantage) [ -z "$command" ] || die "one command at a time"; command=$1; shift ;;
        node)
            [ -z "$command" ] || die "one command at a time"
            command=node; node_verb=${2:-}; node_name=${3:-}
            [ $# -ge 3 ] || die "node takes VERB NAME (stop, start, cut, heal)"
            shift 3 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$command" ] || { usage >&2; exit 2; }
[[ "$workers" =~ ^[0-9]+$ ]] || die "--workers takes a whole number"
[[ "$replicas" =~ ^[1-9][0-9]*$ ]] || die "--replicas takes a positive whole number"
[[ "$tag" =~ ^[A-Za-z0-9:_.-]+$ ]] || die "--tag may hold letters, digits and : _ . - only"
# The image name goes into a remote shell: a Docker reference's characters only.
[[ "$image" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || die "--image '$image' is not an image reference"
[ -z "$kill_token" ] || [[ "$kill_token" =~ ^[A-Za-z0-9._~-]{16,}$ ]] ||
    die "--kill-token takes 16 or more of A-Z a-z 0-9 . _ ~ -"
[[ "$rate" =~ ^[1-9][0-9]{0,4}$ ]] || die "--rate takes 1 to 99999 requests/s"
[[ "$duration" =~ ^([1-9][0-9]|[1-5][0-9][0-9])s$ ]] || die "--duration takes 10s to 599s"
# Fault specs go into a remote shell: a spec's characters only (chaos-runner checks the rest).
for f in ${faults[@]+"${faults[@]}"}; do
    spec_chars='^[A-Za-z0-9:,=/?&%._;-]+$'
    [[ "$f" =~ $spec_chars ]] || die "--fault '$f' holds characters no fault spec has"
    case "$f" in
        node-stop*|partition*|drain*|manager-stop*)
            die "--fault '$f': node faults need this script's node driver, which runs here and not on the manager; cut or stop the node by hand (scripts/cluster.sh node cut NAME) while the run goes" ;;
    esac
done

if [ "$dry_run" = 0 ]; then
    [ -n "${DIGITALOCEAN_TOKEN:-}" ] || die "DIGITALOCEAN_TOKEN is not set (or use --dry-run)"
    for tool in curl jq ssh scp; do
        command -v "$tool" >/dev/null || die "$tool is needed"
    done
fi

# api METHOD PATH [JSON]: one REST call; prints the answer. In a dry run, prints the call
# (token redacted) on stderr and answers with a plausible stand-in.
api() {
    local method=$1 path=$2 data=${3:-}
    if [ "$dry_run" = 1 ]; then
        echo "API  $method $API$path${data:+ $data}" >&2
        case "$method $path" in
            "POST /droplets") echo '{"droplet":{"id":0}}' ;;
            "GET /droplets?tag_name="*) echo '{"droplets":[]}' ;;
            *) echo '{}' ;;
        esac
        return 0
    fi
    # The token reaches curl through a file descriptor, never its command line.
    curl -fsS -X "$method" "$API$path" \
        -H @<(printf 'Authorization: Bearer %s\n' "$DIGITALOCEAN_TOKEN") \
        -H "Content-Type: application/json" ${data:+-d "$data"}
}

# remote HOST COMMAND: run a command on a node as root over SSH.
remote() {
    if [ "$dry_run" = 1 ]; then
        echo "SSH  root@$1: $2" >&2
        return 0
    fi
    ssh -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 "root@$1" "$2"
}

# remote_secret HOST SECRET COMMAND: like remote, with SECRET on the command's stdin (read
# there into a variable) so that it appears on no command line.
remote_secret() {
    if [ "$dry_run" = 1 ]; then
        echo "SSH  root@$1 (secret on stdin): $3" >&2
        return 0
    fi
    printf '%s\n' "$2" | ssh -o StrictHostKeyChecking=accept-new -o ConnectTimeout=10 "root@$1" "$3"
}

copy() { # FILE HOST:PATH
    if [ "$dry_run" = 1 ]; then
        echo "SCP  $1 -> root@$2" >&2
        return 0
    fi
    scp -o StrictHostKeyChecking=accept-new "$1" "root@$2"
}

# droplet_ip NAME public|private: the droplet's IPv4 on that network (waits until it has one).
droplet_ip() {
    if [ "$dry_run" = 1 ]; then
        api GET "/droplets?tag_name=$tag" >/dev/null
        if [ "$2" = public ]; then echo "<$1-ip>"; else echo "<$1-private-ip>"; fi
        return 0
    fi
    local ip
    for _ in $(seq 1 60); do
        ip=$(api GET "/droplets?tag_name=$tag&per_page=200" | jq -r --arg n "$1" --arg t "$2" \
            'first(.droplets[] | select(.name == $n) | .networks.v4[] | select(.type == $t) | .ip_address) // empty')
        if [ -n "$ip" ]; then
            echo "$ip"
            return 0
        fi
        sleep 5
    done
    echo "cluster.sh: $1 got no $2 address" >&2
    return 1
}
public_ip() { droplet_ip "$1" public; }
private_ip() { droplet_ip "$1" private; }

create_droplet() { # NAME
    local keys body
    keys=$(printf '%s\n' "${ssh_keys[@]}" | jq -R . | jq -cs .)
    body=$(jq -cn --arg name "$1" --arg region "$region" --arg size "$size" --arg image "$os_image" \
        --arg tag "$tag" --argjson keys "$keys" \
        '{name: $name, region: $region, size: $size, image: $image, tags: [$tag], ssh_keys: $keys, monitoring: false}')
    api POST /droplets "$body" | jq -r '.droplet.id'
}

wait_ssh() { # HOST
    [ "$dry_run" = 1 ] && return 0
    for _ in $(seq 1 60); do
        remote "$1" true 2>/dev/null && return 0
        sleep 5
    done
    echo "cluster.sh: no SSH to $1" >&2
    return 1
}

# firewall PEER_IP...: SSH and the service's port for everyone; the swarm's ports (2377/tcp
# management, 7946/tcp+udp gossip, 4789/udp overlay VXLAN) only from the other nodes'
# private addresses: Docker's advice is never to expose the VXLAN port to untrusted traffic.
firewall() {
    local rules='ufw allow 22/tcp && ufw allow 8080/tcp' peer
    for peer in "$@"; do
        rules="$rules && ufw allow from $peer to any port 2377 proto tcp"
        rules="$rules && ufw allow from $peer to any port 7946 proto tcp"
        rules="$rules && ufw allow from $peer to any port 7946 proto udp"
        rules="$rules && ufw allow from $peer to any port 4789 proto udp"
    done
    echo "$rules && ufw --force enable && ufw reload && systemctl restart docker"
}

names() {
    echo swarm-manager
    for i in $(seq 1 "$workers"); do echo "worker$i"; done
}

do_create() {
    [ "${#ssh_keys[@]}" -gt 0 ] || [ "$dry_run" = 1 ] || die "give --ssh-key (the lecture's nodes are reached over SSH)"
    [ "${#ssh_keys[@]}" -gt 0 ] || ssh_keys=("<your-ssh-key-fingerprint>")
    local name id i j token peers
    local nodes=() public=() private=()
    for name in $(names); do
        id=$(create_droplet "$name")
        echo "created $name (droplet $id, tag $tag)"
        nodes+=("$name")
    done
    for i in "${!nodes[@]}"; do
        public[i]=$(public_ip "${nodes[i]}")
        private[i]=$(private_ip "${nodes[i]}")
        echo "${nodes[i]}: ${public[i]} (private ${private[i]})"
    done
    for i in "${!nodes[@]}"; do
        peers=()
        for j in "${!nodes[@]}"; do
            [ "$i" = "$j" ] || peers+=("${private[j]}")
        done
        wait_ssh "${public[i]}"
        remote "${public[i]}" "$(firewall ${peers[@]+"${peers[@]}"})"
    done
    # Node 0 is the manager: the swarm's traffic stays on the private network.
    remote "${public[0]}" "docker swarm init --advertise-addr ${private[0]} --data-path-addr ${private[0]}"
    if [ "$dry_run" = 1 ]; then
        remote "${public[0]}" "docker swarm join-token worker -q"
        token="<worker-join-token>"
    else
        token=$(remote "${public[0]}" "docker swarm join-token worker -q")
    fi
    for i in "${!nodes[@]}"; do
        [ "$i" = 0 ] && continue
        remote "${public[i]}" "docker swarm join --advertise-addr ${private[i]} --data-path-addr ${private[i]} --token $token ${private[0]}:2377"
    done
    remote "${public[0]}" "docker node ls"
    echo "swarm ready: manager ${public[0]}; next: scripts/cluster.sh deploy --tag $tag"
}

do_deploy() {
    local manager_ip name ip
    manager_ip=$(public_ip swarm-manager)
    if [ "$load_image" = 1 ]; then
        for name in $(names); do
            ip=$(public_ip "$name")
            if [ "$dry_run" = 1 ]; then
                echo "RUN  docker save $image | ssh root@$ip docker load" >&2
            else
                docker save "$image" | ssh -o StrictHostKeyChecking=accept-new "root@$ip" docker load
            fi
        done
    fi
    copy compose.yaml "$manager_ip:/root/compose.yaml"
    local deploy="CRASHLAB_IMAGE=$image REPLICAS=$replicas docker stack deploy -c /root/compose.yaml crashlab"
    if [ "$open" = 1 ]; then
        echo "WARNING: --open: /kill and /status need no token; anyone who reaches port 8080 can kill replicas" >&2
        remote "$manager_ip" "$deploy"
    else
        [ -n "$kill_token" ] || kill_token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
        remote_secret "$manager_ip" "$kill_token" "read -r KILL_TOKEN && export KILL_TOKEN && $deploy"
    fi
    remote "$manager_ip" "docker service ls"
    echo "deployed: http://$manager_ip:8080/ (any node's address works through the routing mesh)"
    if [ "$open" = 1 ]; then
        echo "measure: chaos-runner run http://$manager_ip:8080/ --rate 100 --duration 60s --fault 'http:/kill,every=10s'"
    else
        echo "kill token (shown once; /kill and /status need it): $kill_token"
        echo "measure: KILL_TOKEN=$kill_token chaos-runner run http://$manager_ip:8080/ --rate 100 --duration 60s --fault 'http:/kill,every=10s'"
    fi
}

do_destroy() {
    if [ "$yes" = 0 ]; then
        [ -t 0 ] || die "destroy deletes every droplet tagged $tag: add --yes (no terminal to ask on)"
        printf 'Delete every droplet tagged %s? [y/N] ' "$tag" >&2
        local answer
        read -r answer
        case "$answer" in
            y|Y|yes|YES) ;;
            *) echo "nothing deleted"; return 0 ;;
        esac
    fi
    api DELETE "/droplets?tag_name=$tag" >/dev/null
    echo "deleted every droplet tagged $tag"
}

do_status() {
    local manager_ip
    api GET "/droplets?tag_name=$tag" | jq -r '.droplets[] | "\(.name)\t\(.status)\t\(.networks.v4[]? | select(.type == "public") | .ip_address)"'
    manager_ip=$(public_ip swarm-manager)
    remote "$manager_ip" "docker node ls && docker service ls"
}

droplet_id() { # NAME
    if [ "$dry_run" = 1 ]; then
        api GET "/droplets?tag_name=$tag" >/dev/null
        echo "<$1-id>"
        return 0
    fi
    api GET "/droplets?tag_name=$tag&per_page=200" | jq -r --arg n "$1" '.droplets[] | select(.name == $n) | .id'
}

# do_node: what chaos-runner's node faults do on this cluster. A stopped droplet is a
# crashed machine (its peers time out); a cut one keeps running with its traffic to and from
# the other nodes dropped (SSH from here still reaches it over the public network).
do_node() {
    local n ip id peers=() rules p
    grep -qx -- "$node_name" <<<"$(names)" || die "no node '$node_name' (nodes: $(names | paste -sd' ' -))"
    case "$node_verb" in
        stop|start)
            id=$(droplet_id "$node_name")
            [ -n "$id" ] || die "no droplet named $node_name with tag $tag"
            local action=power_off
            [ "$node_verb" = start ] && action=power_on
            api POST "/droplets/$id/actions" "{\"type\":\"$action\"}" >/dev/null
            echo "$node_name: $action requested" ;;
        cut|heal)
            ip=$(public_ip "$node_name")
            for n in $(names); do
                [ "$n" = "$node_name" ] || peers+=("$(private_ip "$n")")
            done
            rules=true
            for p in "${peers[@]}"; do
                if [ "$node_verb" = cut ]; then
                    rules="$rules && iptables -I INPUT -s $p -m comment --comment crashlab-cut -j DROP && iptables -I OUTPUT -d $p -m comment --comment crashlab-cut -j DROP"
                else
                    rules="$rules && while iptables -D INPUT -s $p -m comment --comment crashlab-cut -j DROP 2>/dev/null; do :; done && while iptables -D OUTPUT -d $p -m comment --comment crashlab-cut -j DROP 2>/dev/null; do :; done"
                fi
            done
            remote "$ip" "$rules"
            echo "$node_name: $node_verb done" ;;
        *) die "node: unknown action '$node_verb' (stop, start, cut, heal)" ;;
    esac
}

# do_engines: each node's Docker socket here, over SSH, for docker faults on every node.
do_engines() {
    local n flags=()
    echo "# run these (each stays in the background until killed), then pass the flags below"
    for n in $(names); do
        echo "ssh -nNT -o ExitOnForwardFailure=yes -L /tmp/crashlab-$n.sock:/var/run/docker.sock root@$(public_ip "$n") &"
        flags+=("--engine $n=unix:///tmp/crashlab-$n.sock")
    done
    echo "# chaos-runner run ... --swarm-service crashlab_appserver ${flags[*]} --node-driver 'exec:scripts/cluster.sh --tag $tag node'"
}

# do_vantage: `chaos-runner run --vantage global` in a container on the manager, on the
# stack's overlay network (the load tasks stream to it there), with the manager's engine
# (the coordinator starts and removes its load service through it; docker faults reach the
# manager's tasks); the kill token on the remote command's stdin; then the run copied back.
do_vantage() {
    local manager_ip name dir args a cmd
    manager_ip=$(public_ip swarm-manager)
    name=vantage-$(date -u +%Y%m%dT%H%M%SZ)
    [ -n "$out" ] || out=results/local/cluster-$name
    if [ -d "$out" ] && [ -n "$(ls -A "$out")" ]; then
        die "--out $out holds earlier results: choose another"
    fi
    dir=/root/crashlab-runs/$name
    args=(run --out /run-out http://tasks.appserver:8080/ --swarm-service crashlab_appserver
        --vantage global --rate "$rate" --duration "$duration" --timeout 1s
        --label "from every node of the cluster"
        --access-path "DNS round-robin to the tasks (tasks.appserver) from a container on every node, overlay network crashlab_appnet (the lecture's cluster)")
    for a in ${faults[@]+"${faults[@]}"}; do args+=(--fault "$a"); done
    cmd="mkdir -p $dir && chown 65532 $dir && read -r KILL_TOKEN && { [ -z \"\$KILL_TOKEN\" ] || export KILL_TOKEN; } && docker run --rm --network crashlab_appnet -v /var/run/docker.sock:/var/run/docker.sock --group-add \$(stat -c %g /var/run/docker.sock) -v $dir:/run-out -e KILL_TOKEN --entrypoint /usr/local/bin/chaos-runner $image"  # portable: runs on the droplet (Linux)
    for a in "${args[@]}"; do cmd="$cmd $(printf '%q' "$a")"; done
    local rc=0
    remote_secret "$manager_ip" "$kill_token" "$cmd" || rc=$?
    if [ "$dry_run" = 1 ]; then
        echo "SCP  root@$manager_ip:$dir/ -> $out/" >&2
    else
        mkdir -p "$out"
        scp -r -o StrictHostKeyChecking=accept-new "root@$manager_ip:$dir/." "$out/"
    fi
    echo "the run: $out (report.md; every vantage merged in merged/merged.md); chaos-runner exited $rc"
    return "$rc"
}

"do_$command"
