#!/usr/bin/env python3
"""Two builds of chaos-runner against one crashserver, in the same run, alternating.

    scripts/bench-builds.py OLD_BINARY NEW_BINARY [--rounds 7] [--seconds 6] [--connections 64]

crashserver runs on core 0, each chaos-runner on core 1, a closed loop of --connections keep-alive
connections for --seconds. Each round runs both builds, in an order that alternates; the
report is the median and the range (min to max) of the per-round ratio new / old of CPU per
request (user + system, from the kernel's rusage) and of requests/s, with every round's raw
figures. Used to check that a change to the measuring path costs nothing per request (the run
journal: the build before it against the build with it). Linux only (taskset).
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def closed_loop(binary, url, conns, secs):
    out = tempfile.mkdtemp(prefix="bench-builds-")
    cmd = ["taskset", "-c", "1", binary, "run", url, "--concurrency", str(conns),
           "--duration", f"{secs}s", "--out", out, "-q"]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{binary} failed: {p.stderr.read().decode()[-2000:]}")
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    shutil.rmtree(out, ignore_errors=True)
    sent = s["counts"]["sent"]
    assert s["counts"]["failed"] == 0, s["counts"]
    return {"rps": sent / s["run"]["elapsed_s"], "cpu_us_per_request": (ru.ru_utime + ru.ru_stime) * 1e6 / sent}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--rounds", type=int, default=7, choices=range(1, 101), metavar="1-100")
    ap.add_argument("--seconds", type=int, default=6, choices=range(1, 601), metavar="1-600")
    ap.add_argument("--connections", type=int, default=64, choices=range(1, 10001), metavar="1-10000")
    ap.add_argument("--crashserver", default=os.path.join(REPO, "target", "release", "crashserver"))
    a = ap.parse_args()
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "0", a.crashserver, "--bind", "127.0.0.1", "--port", str(port),
                               "--threads", "1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(0.5)
        url = f"http://127.0.0.1:{port}/"
        rounds = []
        for r in range(a.rounds):
            sides = [("old", a.old), ("new", a.new)]
            if r % 2:
                sides.reverse()
            got = {}
            for name, binary in sides:
                got[name] = closed_loop(binary, url, a.connections, a.seconds)
                time.sleep(0.5)
            rounds.append(got)
            print(f"round {r + 1}: old {got['old']['rps']:.0f}/s {got['old']['cpu_us_per_request']:.2f} µs/req, "
                  f"new {got['new']['rps']:.0f}/s {got['new']['cpu_us_per_request']:.2f} µs/req", flush=True)
    finally:
        server.kill()
        server.wait()
    for key in ("cpu_us_per_request", "rps"):
        ratios = [r["new"][key] / r["old"][key] for r in rounds]
        print(f"new / old {key}: median {statistics.median(ratios):.3f} (range {min(ratios):.3f} to {max(ratios):.3f})")
    print(json.dumps({"rounds": rounds}))


if __name__ == "__main__":
    main()
