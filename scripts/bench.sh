#!/usr/bin/env bash
# Benchmarks, each against a peer in the same run, alternating, several rounds:
#   chaos-runner vs oha, wrk and h2load (closed loop, same connections and duration:
#   requests/s, CPU and user time per request), recording overhead, open-loop accuracy at 80 % and 95 % of the closed-loop
#   maximum, crashserver vs nginx (saturated throughput; tail latency at 50 % and 80 % of
#   nginx's maximum, open loop), crashserver start-up and idle memory, image size, self-healing
#   on the local swarm, and healing across nodes on the 3-node lab (scripts/bench-healing.sh).
# Writes DIR/benchmarks.md and every round's figures to DIR/bench/benchmarks.json.
#
# usage: scripts/bench.sh [--rounds 7] [--seconds 10] [--connections 64] [--no-healing]
#                         [--healing-rounds 10] [--out DIR] [--force] [--resume]
#        scripts/bench.sh --quick      3 rounds of 5 s, no image, no swarm: to check a change
# DIR defaults to results/local/bench-<UTC time>; the committed results/benchmarks.md comes
# from one invocation: scripts/bench.sh --out results --force (about 45 minutes here).
#
# Installs its peers when missing: oha from crates.io (cargo install), wrk, h2load
# (nghttp2-client) and nginx from Debian (apt-get, as root). The two cores are split: server on core 0, load on core 1, for
# the load-tool comparison; both servers get both cores for the server comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v oha >/dev/null && [ ! -x "${OHA:-/nonexistent}" ]; then
    echo "==> installing oha (cargo install oha --locked)"
    cargo install --quiet --locked oha --root "${CARGO_HOME:-$HOME/.cargo}"
fi
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v h2load >/dev/null || missing+=(nghttp2-client)
command -v nginx >/dev/null || missing+=(nginx-light)
command -v taskset >/dev/null || missing+=(util-linux)
if [ "${#missing[@]}" -gt 0 ]; then
    echo "==> installing ${missing[*]} (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

echo "==> building release binaries"
cargo build --quiet --release --locked -p crashserver -p chaos-runner
exec python3 scripts/bench.py "$@"
