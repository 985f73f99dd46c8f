#!/usr/bin/env bash
# Long-run memory check of chaos-runner (a benchmark, not a test): an open loop at 2,000
# requests/s against crashserver on loopback for 10 minutes, chaos-runner's resident memory
# sampled every 10 s. Writes results/bench/memory.md and memory.csv.
#
# usage: scripts/bench-memory.sh [--duration 600s] [--rate 2000] [--out results/bench]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=600s
rate=2000
out=results/bench
while [ $# -gt 0 ]; do
    case "$1" in
        --duration) duration=$2; shift 2 ;;
        --rate) rate=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        -h|--help) sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bench-memory.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done

cargo build --quiet --release --locked -p crashserver -p chaos-runner
bin=target/release
mkdir -p "$out"
work=$(mktemp -d)
server_pid=
runner_pid=
cleanup() {
    if [ -n "$runner_pid" ]; then kill "$runner_pid" 2>/dev/null || true; fi
    if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The two cores are split: the server on core 0, the load generator on core 1.
taskset -c 0 "$bin/crashserver" --bind 127.0.0.1 --port "$port" --log-format json >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do "$bin/chaos-runner" probe "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break; sleep 0.05; done

taskset -c 1 "$bin/chaos-runner" run "http://127.0.0.1:$port/" --rate "$rate" --duration "$duration" \
    --out "$work/run" --label "memory check" -q >"$work/runner.log" 2>&1 &
runner_pid=$!
echo "t_s,rss_kib" >"$out/memory.csv"
start=$(date +%s)
while kill -0 "$runner_pid" 2>/dev/null; do
    rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$runner_pid/status" 2>/dev/null || true)
    [ -n "$rss" ] && echo "$(( $(date +%s) - start )),$rss" >>"$out/memory.csv"
    sleep 10
done
wait "$runner_pid" || true
runner_pid=

python3 - "$out" "$work/run/summary.json" "$rate" "$duration" <<'PY'
import csv, json, sys
out, summary, rate, duration = sys.argv[1:]
rows = [(int(t), int(r)) for t, r in csv.reader(open(f"{out}/memory.csv")) if t != "t_s"]
s = json.load(open(summary))
after = [r for t, r in rows if t >= 30] or [r for _, r in rows]
first, last, peak = after[0], after[-1], max(r for _, r in rows)
half = [r for t, r in rows if t >= rows[-1][0] / 2] or after
c = s["counts"]
with open(f"{out}/memory.md", "w") as f:
    f.write("# chaos-runner memory over a long run\n\n")
    f.write(f"`scripts/bench-memory.sh`: open loop at {rate} req/s for {duration} against crashserver on loopback "
            f"(server on core 0, chaos-runner on core 1), full recording on. Machine: {s['run']['host']}.\n\n")
    f.write("| sent | ok | dropped | achieved rate | RSS at 30 s (MiB) | RSS at end (MiB) | peak RSS (MiB) | growth after 30 s |\n|---|---|---|---|---|---|---|---|\n")
    f.write(f"| {c['sent']} | {c['ok']} | {c['dropped']} | {s['run']['achieved_rate']:.1f}/s | {first/1024:.1f} | {last/1024:.1f} | {peak/1024:.1f} | {(last-first)/1024:+.2f} MiB |\n\n")
    f.write(f"Over the second half of the run RSS went from {half[0]/1024:.2f} to {half[-1]/1024:.2f} MiB "
            f"({(half[-1]-half[0])/1024:+.2f} MiB); the growth before that is warm-up (allocator arenas, histograms "
            "reaching their range). Samples every 10 s are in `memory.csv`.\n")
print(open(f"{out}/memory.md").read())
PY
