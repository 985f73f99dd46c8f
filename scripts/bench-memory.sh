#!/usr/bin/env bash
# Long-run memory check of chaos-runner and crashserver (a soak, not a test): an open loop
# at 2,000 requests/s against crashserver on loopback for 30 minutes, both programs'
# resident memory sampled every 10 s. Writes results/bench/memory.md and memory.csv.
#
# usage: scripts/bench-memory.sh [--duration 1800s] [--rate 2000] [--out results/bench]
set -euo pipefail
cd "$(dirname "$0")/.."

duration=1800s
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
echo "t_s,runner_rss_kib,server_rss_kib" >"$out/memory.csv"
start=$(date +%s)
rss_of() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true; }
while kill -0 "$runner_pid" 2>/dev/null; do
    runner_rss=$(rss_of "$runner_pid")
    server_rss=$(rss_of "$server_pid")
    [ -n "$runner_rss" ] && [ -n "$server_rss" ] &&
        echo "$(( $(date +%s) - start )),$runner_rss,$server_rss" >>"$out/memory.csv"
    sleep 10
done
wait "$runner_pid" || true
runner_pid=

python3 - "$out" "$work/run/summary.json" "$rate" "$duration" <<'PY'
import csv, json, sys
out, summary, rate, duration = sys.argv[1:]
rows = [tuple(int(x) for x in r) for r in csv.reader(open(f"{out}/memory.csv")) if r[0] != "t_s"]
s = json.load(open(summary))
c = s["counts"]
end = rows[-1][0]
def line(name, col):
    after = [r[col] for r in rows if r[0] >= 30] or [r[col] for r in rows]
    half = [r[col] for r in rows if r[0] >= end / 2] or after
    peak = max(r[col] for r in rows)
    m = lambda k: k / 1024
    return (f"| {name} | {m(after[0]):.1f} | {m(half[0]):.1f} | {m(after[-1]):.1f} | {m(peak):.1f} | "
            f"{m(after[-1] - after[0]):+.2f} MiB | {m(half[-1] - half[0]):+.2f} MiB |\n")
with open(f"{out}/memory.md", "w") as f:
    f.write("# Memory over a long run: chaos-runner and crashserver\n\n")
    f.write(f"`scripts/bench-memory.sh`: open loop at {rate} req/s for {duration} against crashserver on loopback "
            f"(server on core 0, chaos-runner on core 1), full recording on. Machine: {s['run']['host']}. "
            f"chaos-runner sent {c['sent']} requests, {c['ok']} ok, {c['dropped']} dropped, at "
            f"{s['run']['achieved_rate']:.1f}/s.\n\n")
    f.write("| program | RSS at 30 s (MiB) | at half time | at end | peak | growth after 30 s | growth over the second half |\n")
    f.write("|---|---|---|---|---|---|---|\n")
    f.write(line("chaos-runner", 1))
    f.write(line("crashserver", 2))
    f.write("\nGrowth before 30 s is warm-up (allocator arenas, histograms reaching their range); flat "
            "after it means memory does not grow with the length of a run or the requests served. "
            "Samples every 10 s are in `memory.csv`.\n")
print(open(f"{out}/memory.md").read())
PY
