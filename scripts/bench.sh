#!/usr/bin/env bash
# Benchmarks, each against a peer in the same run, alternating, several rounds:
#   chaos-runner vs oha and wrk (closed loop, same connections and duration), recording
#   overhead, open-loop accuracy, crashserver vs nginx, crashserver start-up and idle memory,
#   image size, and self-healing time on the local swarm.
# Writes results/benchmarks.md (and the raw figures to results/bench/benchmarks.json).
#
# usage: scripts/bench.sh [--rounds 7] [--seconds 10] [--connections 64] [--no-healing]
#
# Installs its peers when missing: oha from crates.io (cargo install), wrk and nginx from
# Debian (apt-get, as root). The two cores are split: server on core 0, load on core 1, for
# the load-tool comparison; both servers get both cores for the server comparison.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v oha >/dev/null && [ ! -x "${OHA:-/nonexistent}" ]; then
    echo "==> installing oha (cargo install oha --locked)"
    cargo install --quiet --locked oha --root "${CARGO_HOME:-$HOME/.cargo}"
fi
missing=()
command -v wrk >/dev/null || missing+=(wrk)
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
