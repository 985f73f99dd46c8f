#!/usr/bin/env python3
"""crashlab benchmarks; run through scripts/bench.sh, which installs the peers and builds.

Each comparison runs both sides in the same run, alternating their order every round, and
reports the median and the spread (min-max) of the per-round ratio. Writes
results/benchmarks.md and the raw figures to results/bench/benchmarks.json.
"""

import argparse
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target", "release")
CRASHSERVER = os.path.join(BIN, "crashserver")
RUNNER = os.path.join(BIN, "chaos-runner")
TMP = tempfile.mkdtemp(prefix="crashlab-bench-")
os.chmod(TMP, 0o755)  # nginx's workers run as another user and must read the page


def oha_path():
    for p in (os.environ.get("OHA"), shutil.which("oha"), os.path.expanduser("~/.cargo/bin/oha")):
        if p and os.path.exists(p):
            return p
    sys.exit("bench.py: oha not found (scripts/bench.sh installs it)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_ok(port, path="/health"):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            return s.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def wait_ok(port, limit=5.0):
    end = time.time() + limit
    while time.time() < end:
        if http_ok(port):
            return
        time.sleep(0.01)
    raise RuntimeError(f"nothing answers on port {port}")


def start_crashserver(cpus=None):
    port = free_port()
    cmd = [CRASHSERVER, "--bind", "127.0.0.1", "--port", str(port), "--log-format", "json"]
    if cpus:
        cmd = ["taskset", "-c", cpus] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "RUST_LOG": "warn"})
    wait_ok(port)
    return p, port


def start_nginx(body_len):
    port = free_port()
    root = os.path.join(TMP, "www")
    os.makedirs(root, exist_ok=True)
    text = ("<!doctype html><html><body><h1>This page is served from nginx</h1>" + "x" * body_len)[: body_len - 15] + "</body></html>\n"
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write(text)
    conf = os.path.join(TMP, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""worker_processes 2;
daemon off;
pid {TMP}/nginx.pid;
error_log {TMP}/nginx-error.log;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  keepalive_requests 1000000;
  server {{
    listen 127.0.0.1:{port};
    root {root};
    location = /health {{ return 200 "ok"; }}
  }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-p", TMP], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_ok(port)
    return p, port, len(text)


def stop(p):
    p.terminate()
    try:
        p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()


def run(cmd, timeout=300):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if r.returncode not in (0,):
        raise RuntimeError(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr[-2000:]}")
    return r.stdout


def run_cpu(cmd, timeout=300):
    """Runs cmd; returns its stdout and the CPU seconds it used in user and in system time."""
    with tempfile.TemporaryFile(mode="w+") as out, tempfile.TemporaryFile(mode="w+") as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        end = time.time() + timeout
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if time.time() > end:
                p.kill()
                raise RuntimeError(f"{' '.join(cmd)} timed out")
            time.sleep(0.05)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({p.returncode}): {err.read()[-2000:]}")
        return out.read(), ru.ru_utime, ru.ru_stime


def chaos_summary(args):
    """A chaos-runner run on core 1: its summary and the CPU seconds in user and system time."""
    out = tempfile.mkdtemp(dir=TMP)
    _, user, system = run_cpu(["taskset", "-c", "1", RUNNER, "run"] + args + ["--out", out, "-q"])
    with open(os.path.join(out, "summary.json")) as f:
        s = json.load(f)
    shutil.rmtree(out, ignore_errors=True)
    return s, user, system


def chaos_closed(url, conns, secs, recording="on"):
    """Requests/s, CPU µs per request (user + system) and user µs per request of a closed loop."""
    s, user, system = chaos_summary([url, "--concurrency", str(conns), "--duration", f"{secs}s", "--recording", recording])
    assert s["counts"]["failed"] == 0, s["counts"]
    n = s["counts"]["sent"]
    return n / s["run"]["elapsed_s"], (user + system) * 1e6 / n, user * 1e6 / n


def oha_rps(url, conns, secs):
    out, user, system = run_cpu(["taskset", "-c", "1", oha_path(), "-z", f"{secs}s", "-c", str(conns), "--no-tui", "--output-format", "json", url])
    j = json.loads(out)
    rps = j["summary"]["requestsPerSec"]
    n = rps * secs
    return rps, (user + system) * 1e6 / n, user * 1e6 / n


def h2load(url, conns, secs):
    """Requests/s, CPU µs per request and user µs per request of h2load over HTTP/1.1 (nghttp2's
    load tool, C; 1 thread, on core 1)."""
    out, user, system = run_cpu(["taskset", "-c", "1", "h2load", "--h1", "-t1", f"-c{conns}", "-D", str(secs), url],
                                      timeout=secs + 60)
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored", out)
    rate = re.search(r"finished in [\d.]+\w*, ([\d.]+) req/s", out)
    assert m and rate, out
    done, failed, errored = int(m.group(3)), int(m.group(5)), int(m.group(6))
    assert failed == 0 and errored == 0 and done > 0, out
    return float(rate.group(1)), (user + system) * 1e6 / done, user * 1e6 / done


def to_ms(v):
    m = re.match(r"([\d.]+)(us|ms|s)", v)
    n, unit = float(m.group(1)), m.group(2)
    return n / 1000 if unit == "us" else n * 1000 if unit == "s" else n


def wrk(url, conns, secs):
    """Requests/s, p99 latency (ms), CPU µs per request and user µs per request of wrk (1
    thread, on core 1)."""
    out, user, system = run_cpu(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", url])
    total = int(re.search(r"(\d+) requests in", out).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = to_ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors", out)
    assert not errors, out
    return rps, p99, (user + system) * 1e6 / total, user * 1e6 / total


def med_spread(values):
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "rounds": values}


def med_spread_or_none(values):
    """med_spread of what was measured; None where nothing was."""
    return med_spread(values) if values else None


def alternate(rounds, sides):
    """Runs each side once per round, rotating the order; returns {name: [results]}."""
    res = {name: [] for name, _ in sides}
    for r in range(rounds):
        order = sides[r % len(sides):] + sides[: r % len(sides)]
        for name, fn in order:
            res[name].append(fn())
            time.sleep(0.5)
    return res


OPEN_LOOP_LOADS = (80, 95)
FIXED_RATE_LOADS = (50, 80)


def proc_cpu_s(pid):
    """CPU seconds (user + system) used so far by process `pid` and its children (nginx's workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            kids = [int(k) for k in f.read().split()]
    except OSError:
        kids = []
    for p in [pid] + kids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            pass
    return total


def open_loop_round(url, rate, secs, server):
    """One open-loop run of chaos-runner (pinned to core 1) at `rate` against `server` (its
    process): what it achieved, and what it cost the load tool and the server per request."""
    before = proc_cpu_s(server.pid)
    s, user, system = chaos_summary([url, "--rate", str(rate), "--timeout", "100ms", "--duration", f"{secs}s"])
    cpu = user + system
    server_cpu = proc_cpu_s(server.pid) - before
    time.sleep(0.5)
    sent, elapsed = s["counts"]["sent"], s["run"]["elapsed_s"]
    return {
        "asked": rate,
        "achieved": sent / elapsed,
        "sent": sent,
        "failed": s["counts"]["failed"],
        "peak_in_flight": s["run"]["peak_in_flight"],
        "dropped": s["counts"]["dropped"],
        "lateness_p99_ms": s["send_lateness_ms"]["p99"],
        "latency_p50_ms": s["latency_ms"]["p50"],
        "latency_p99_ms": s["latency_ms"]["p99"],
        "latency_p999_ms": s["latency_ms"]["p999"],
        "client_cpu_us_per_request": cpu * 1e6 / max(sent, 1),
        "server_cpu_us_per_request": server_cpu * 1e6 / max(sent, 1),
        # A share of one core: the server's CPU over the tool's whole process life (its warm-up
        # connections included) over the run's length, so slightly more than the run's own.
        "server_busy": server_cpu / elapsed,
    }


def load_tools(a):
    server, port = start_crashserver(cpus="0")
    url = f"http://127.0.0.1:{port}/"
    try:
        res = alternate(a.rounds, [
            ("chaos-runner", lambda: chaos_closed(url, a.connections, a.seconds)),
            ("chaos-runner (recording off)", lambda: chaos_closed(url, a.connections, a.seconds, "off")),
            ("oha", lambda: oha_rps(url, a.connections, a.seconds)),
            ("wrk", lambda: (lambda r: (r[0], r[2], r[3]))(wrk(url, a.connections, a.seconds))),
            ("h2load --h1", lambda: h2load(url, a.connections, a.seconds)),
        ])
        rps = {k: [x[0] for x in v] for k, v in res.items()}
        cpu = {k: [x[1] for x in v] for k, v in res.items()}
        user = {k: [x[2] for x in v] for k, v in res.items()}
        cr, off = rps["chaos-runner"], rps["chaos-runner (recording off)"]
        out = {
            "rps": {k: med_spread(v) for k, v in rps.items()},
            "cpu_us_per_request": {k: med_spread(v) for k, v in cpu.items()},
            "user_us_per_request": {k: med_spread(v) for k, v in user.items()},
            "ratio_vs_oha": med_spread([c / o for c, o in zip(cr, rps["oha"])]),
            "ratio_vs_wrk": med_spread([c / w for c, w in zip(cr, rps["wrk"])]),
            "recording_cost": med_spread([1 - c / o for c, o in zip(cr, off)]),
            "recording_cpu_cost": med_spread([c / o - 1 for c, o in zip(cpu["chaos-runner"], cpu["chaos-runner (recording off)"])]),
        }
        out["cpu_ratio_vs_wrk"] = med_spread([c / w for c, w in zip(cpu["chaos-runner"], cpu["wrk"])])
        out["cpu_ratio_vs_h2load"] = med_spread([c / h for c, h in zip(cpu["chaos-runner"], cpu["h2load --h1"])])
        # Open loop at 80 % and 95 % of the closed-loop maximum, with the default (uncapped)
        # in-flight allowance; a 100 ms timeout keeps rate x timeout within the open-file limit.
        # Each round measures its own maximum just before (a shared virtual machine's speed
        # drifts by several per cent within minutes).
        rounds = []
        for _ in range(a.rounds):
            top, top_cpu, _ = chaos_closed(url, a.connections, a.seconds)
            time.sleep(0.5)
            rounds.append({"closed_loop_max": top, "closed_loop_cpu_us_per_request": top_cpu, **{
                str(load): open_loop_round(url, round(load / 100 * top), a.seconds, server) for load in OPEN_LOOP_LOADS}})
        out["open_loop"] = {}
        for load in OPEN_LOOP_LOADS:
            runs = [r[str(load)] for r in rounds]
            out["open_loop"][str(load)] = {
                "rounds": runs,
                "closed_loop_max": med_spread([r["closed_loop_max"] for r in rounds]),
                "asked": med_spread([r["asked"] for r in runs]),
                "peak_in_flight": med_spread([r["peak_in_flight"] for r in runs]),
                "achieved": med_spread([r["achieved"] for r in runs]),
                "error": med_spread([abs(r["achieved"] / r["asked"] - 1) for r in runs]),
                "dropped": med_spread([r["dropped"] for r in runs]),
                "lateness_p99_ms": med_spread([r["lateness_p99_ms"] for r in runs]),
                "latency_p99_ms": med_spread([r["latency_p99_ms"] for r in runs]),
                # What pacing costs: the open loop's CPU per request over the closed loop's
                # (same round), and how busy that leaves each core.
                "cpu_ratio_vs_closed": med_spread([r["client_cpu_us_per_request"] / c["closed_loop_cpu_us_per_request"]
                                                   for r, c in zip(runs, rounds)]),
                "server_cpu_us_per_request": med_spread([r["server_cpu_us_per_request"] for r in runs]),
                "server_busy": med_spread([r["server_busy"] for r in runs]),
            }
        out["closed_loop_rounds"] = [{k: r[k] for k in ("closed_loop_max", "closed_loop_cpu_us_per_request")} for r in rounds]
        return out
    finally:
        stop(server)


def servers(a):
    cs, cport = start_crashserver()
    body = len(run(["curl", "-s", f"http://127.0.0.1:{cport}/"])) if shutil.which("curl") else 225
    ng, nport, nbody = start_nginx(body)
    try:
        # Twice the rounds: tail latency on a shared 2-core machine varies more than throughput.
        res = alternate(2 * a.rounds, [
            ("crashserver", lambda: wrk(f"http://127.0.0.1:{cport}/", a.connections, a.seconds)),
            ("nginx", lambda: wrk(f"http://127.0.0.1:{nport}/", a.connections, a.seconds)),
        ])
        c, n = res["crashserver"], res["nginx"]
        out = {
            "body_bytes": {"crashserver": body, "nginx": nbody},
            "rps": {"crashserver": med_spread([x[0] for x in c]), "nginx": med_spread([x[0] for x in n])},
            "p99_ms": {"crashserver": med_spread([x[1] for x in c]), "nginx": med_spread([x[1] for x in n])},
            "ratio_rps": med_spread([x[0] / y[0] for x, y in zip(c, n)]),
            "ratio_p99": med_spread([x[1] / y[1] for x, y in zip(c, n)]),
        }
        # Tail latency at equal offered load: chaos-runner's open loop (latency from each
        # request's intended send time) at fixed shares of nginx's saturated rate.
        nginx_max = statistics.median([x[0] for x in n])
        out["fixed_rate"] = {}
        for pct_of_max in FIXED_RATE_LOADS:
            rate = round(pct_of_max / 100 * nginx_max)
            rr = alternate(a.rounds, [
                ("crashserver", lambda: open_loop_round(f"http://127.0.0.1:{cport}/", rate, a.seconds, cs)),
                ("nginx", lambda: open_loop_round(f"http://127.0.0.1:{nport}/", rate, a.seconds, ng)),
            ])
            fr = {"asked": rate, "rounds": rr}
            for q in ("p50", "p99", "p999"):
                k = f"latency_{q}_ms"
                fr[q] = {srv: med_spread([x[k] for x in rr[srv]]) for srv in rr}
                fr[f"ratio_{q}"] = med_spread([x[k] / y[k] for x, y in zip(rr["crashserver"], rr["nginx"])])
            fr["failed"] = {srv: med_spread([x["failed"] for x in rr[srv]]) for srv in rr}
            fr["lateness_p99_ms"] = {srv: med_spread([x["lateness_p99_ms"] for x in rr[srv]]) for srv in rr}
            fr["server_cpu_us_per_request"] = {srv: med_spread([x["server_cpu_us_per_request"] for x in rr[srv]]) for srv in rr}
            fr["ratio_server_cpu"] = med_spread([x["server_cpu_us_per_request"] / y["server_cpu_us_per_request"]
                                                 for x, y in zip(rr["crashserver"], rr["nginx"])])
            out["fixed_rate"][str(pct_of_max)] = fr
        return out
    finally:
        stop(cs)
        stop(ng)


def startup(a):
    times, rss = [], []
    for _ in range(20):
        port = free_port()
        t0 = time.perf_counter()
        p = subprocess.Popen([CRASHSERVER, "--bind", "127.0.0.1", "--port", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while not http_ok(port):
            time.sleep(0.0002)
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.3)
        with open(f"/proc/{p.pid}/status") as f:
            rss.append(int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1)) / 1024)
        stop(p)
    return {"start_to_first_answer_ms": med_spread(times), "idle_rss_mib": med_spread(rss)}


def image():
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return None
    tag = "crashlab/crashserver:bench"
    run([os.path.join(REPO, "scripts", "build-image.sh"), tag], timeout=1200)
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", tag]).strip())
    subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True)
    return {"bytes": size}


def healing_run(health=None):
    """Ten SIGKILLs of the only replica through scripts/demo.sh; the recovery breakdown."""
    out = os.path.join(TMP, f"healing-{health or 'none'}")
    kills = 10
    cmd = [os.path.join(REPO, "scripts", "demo.sh"), "--replicas", "1", "--duration", f"{6 * kills + 5}s",
           "--every", "6s", "--rate", "200", "--out", out, "--force"]
    if health:
        cmd += ["--health-check", health]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if r.returncode != 0:
        raise RuntimeError(r.stdout[-3000:] + r.stderr[-3000:])
    with open(os.path.join(out, "1-replica", "summary.json")) as f:
        s = json.load(f)
    fs = [x for x in s["faults"] if x["ok"]]
    pick = lambda k: [x["swarm"][k] for x in fs if x["swarm"] and x["swarm"][k] is not None]
    return {
        "health_check": health,
        "kills": len(fs),
        "first_answer_s": med_spread([x["recovery_s"] for x in fs if x["recovery_s"] is not None]),
        "died_s": med_spread_or_none(pick("died_s")),
        "created_s": med_spread_or_none(pick("created_s")),
        "started_s": med_spread_or_none(pick("started_s")),
        "healthy_s": med_spread_or_none(pick("healthy_s")),
        "access_path": s["access_path"],
    }


def healing(a):
    if a.no_healing or subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        return None
    return {"shipped": healing_run(), "health_check": healing_run("250ms")}


HEALING_KINDS = ("task-kill", "node-stop", "partition")


def healing_nodes(a, raw):
    """scripts/bench-healing.sh (experiments/healing.toml on the 3-node lab; Linux, root): per
    fault kind, medians over the trials of the experiment's own figures: fault to a
    replacement's first answer, to the node declared down, and the failed requests. The
    experiment (experiment.json, every trial's run) stays under RAW/healing/."""
    if a.no_healing:
        return None
    if platform.system() != "Linux" or os.geteuid() != 0:
        return {"skipped": "the lab needs Linux and root"}
    out = os.path.join(raw, "healing")
    cmd = [os.path.join(REPO, "scripts", "bench-healing.sh"), "--trials", str(a.healing_rounds),
           "--heartbeat", "1s", "--out", out, "--force"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError(r.stdout[-3000:] + r.stderr[-3000:])
    shown = ["scripts/bench-healing.sh"] + cmd[1:-3] + ["--out", os.path.relpath(out, REPO), "--force"]
    with open(os.path.join(out, "experiment.json")) as f:
        e = json.load(f)
    res = {"command": " ".join(shown), "heartbeat": "1s", "timeout": "250ms"}
    for kind, cell in zip(HEALING_KINDS, e["cells"]):
        pick = lambda k: [v for v in cell["stats"][k]["values"] if v is not None]
        res[kind] = {
            "label": cell["label"],
            "trials": cell["done"],
            **{k: med_spread_or_none(pick(k)) for k in ("replacement_answered_s", "node_down_s", "failed")},
        }
    return res


def cpu_model():
    """The CPU's model name as the kernel reports it (lscpu's, where /proc/cpuinfo has none)."""
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"model name\s+:\s+(.*)", f.read())
            if m:
                return m.group(1).strip()
    except OSError:
        pass
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout if shutil.which("lscpu") else ""
    m = re.search(r"Model name:\s+(.*)", out)
    return m.group(1).strip() if m else "unknown CPU"


def machine():
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) / 1048576
    return f"{os.cpu_count()} cores ({cpu_model()}), {mem:.0f} GiB, Linux {platform.release()}"


def fmt(ms, digits=1):
    return f"{ms['median']:.{digits}f} ({ms['min']:.{digits}f} to {ms['max']:.{digits}f})"


def pct(ms):
    return {k: [x * 100 for x in v] if isinstance(v, list) else v * 100 for k, v in ms.items()}


def verdict(ok):
    return "met" if ok else "NOT met"


def judge(ms, goal, at_most=False):
    """met when every round meets the goal, NOT met when none does; else inconclusive."""
    meets = (lambda v: v <= goal) if at_most else (lambda v: v >= goal)
    lo, hi = meets(ms["min"]), meets(ms["max"])
    if lo and hi:
        return "met"
    if not lo and not hi:
        return "NOT met"
    return f"inconclusive (median {'met' if meets(ms['median']) else 'not met'}; the rounds straddle the goal)"


def judge_all(verdicts):
    if all(v == "met" for v in verdicts):
        return "met"
    if any(v == "NOT met" for v in verdicts):
        return "NOT met"
    return "inconclusive (the rounds straddle the goal)"


def command_line(a):
    if getattr(a, "command", None):
        return a.command
    if a.quick:
        return "scripts/bench.sh --quick"
    line = f"scripts/bench.sh --rounds {a.rounds} --seconds {a.seconds} --connections {a.connections}"
    if a.no_healing:
        line += " --no-healing"
    else:
        line += f" --healing-rounds {a.healing_rounds}"
    return line + f" --out {os.path.relpath(a.out, REPO)}" + (" --force" if a.force else "")


def report_intro(r, a):
    return [
        "# crashlab benchmarks",
        "",
        f"Produced by {'' if r.get('kept_steps') else 'one invocation, '}`{command_line(a)}`, on {r['machine']}, {r['date']} "
        f"(CPU model: {r['cpu_model']}; compare ratios across machines, not absolutes). Every comparison "
        "runs both sides in the same run, alternating their order each round; figures are medians with the "
        "min-max over the rounds in brackets. Every round's figures are in bench/benchmarks.json.",
        "",
        "Fairness: for the load-tool comparison the server (crashserver) is pinned to core 0 and each load tool to "
        f"core 1 (`taskset`), every tool with {a.connections} keep-alive connections for {a.seconds} s against `GET /`. "
        "For the server comparison both servers use both cores (crashserver's 2 serving threads, nginx's 2 workers) "
        "and the same load tool, pinned to core 1, loads them: wrk (1 thread) saturated, for throughput; chaos-runner's "
        "open loop at fixed shares of nginx's saturated rate, for tail latency (latency counted from each request's "
        "intended send time, so free of coordinated omission). CPU per request is the load tool's user + system "
        "time (the kernel's accounting of the process, `wait4`) over the requests it completed. The open loop asks "
        "for shares of chaos-runner's closed-loop rate measured just before, in each round.",
    ] + ([
        "",
        f"Kept from an earlier invocation into the same directory (`--resume`), not measured by this one: "
        f"{', '.join(r['kept_steps'])}.",
    ] if r.get("kept_steps") else [])


def report_load_tools(lt):
    L = [
        "",
        "## Load tools: chaos-runner against oha, wrk and h2load",
        "",
        "| tool | requests/s | CPU per request (µs, user + system) | user time per request (µs) | system time per request (µs) |",
        "|---|---|---|---|---|",
    ]
    users = lt.get("user_us_per_request", {})
    system = {k: med_spread([c - u for c, u in zip(lt["cpu_us_per_request"][k]["rounds"], users[k]["rounds"])])
              for k in users if "rounds" in users[k]}
    for k, v in lt["rps"].items():
        u, sy = users.get(k), system.get(k)
        L.append(f"| {k} | {fmt(v, 0)} | {fmt(lt['cpu_us_per_request'][k], 2)} | {fmt(u, 2) if u else '-'} | {fmt(sy, 2) if sy else '-'} |")
    L += [
        "",
        "| goal (medians of per-round ratios) | figure | |",
        "|---|---|---|",
        f"| chaos-runner / oha requests/s >= 1.2 | {fmt(lt['ratio_vs_oha'], 3)} | {judge(lt['ratio_vs_oha'], 1.2)} |",
        f"| chaos-runner / wrk requests/s >= 1.05 | {fmt(lt['ratio_vs_wrk'], 3)} | {judge(lt['ratio_vs_wrk'], 1.05)} |",
        f"| chaos-runner / wrk CPU per request <= 0.85 | {fmt(lt['cpu_ratio_vs_wrk'], 3)} | {judge(lt['cpu_ratio_vs_wrk'], 0.85, at_most=True)} |",
    ]
    if "cpu_ratio_vs_h2load" in lt:
        L.append(f"| chaos-runner / h2load CPU per request <= 0.85 | {fmt(lt['cpu_ratio_vs_h2load'], 3)} | {judge(lt['cpu_ratio_vs_h2load'], 0.85, at_most=True)} |")
    # What the CPU goals can reach at all: chaos-runner's system time alone (the kernel's
    # TCP work for its two system calls a request) over each peer's whole CPU per request,
    # round by round: the ratio it would have with no user time whatever.
    if "chaos-runner" in system:
        floors = []
        for peer in ("wrk", "h2load --h1"):
            if peer in lt["cpu_us_per_request"] and "rounds" in lt["cpu_us_per_request"][peer]:
                f = med_spread([s_ / c for s_, c in zip(system["chaos-runner"]["rounds"], lt["cpu_us_per_request"][peer]["rounds"])])
                floors.append(f"{fmt(f, 3)} against {peer}")
        if floors:
            L.append(f"| (the CPU ratios with no user time at all: chaos-runner's system time per request over the peer's CPU per request, measured, no goal) | {'; '.join(floors)} | |")
    L += [
        f"| recording costs <= 5 % of throughput | {fmt(pct(lt['recording_cost']), 2)} % (CPU per request: {fmt(pct(lt['recording_cpu_cost']), 2)} %) | {judge(lt['recording_cost'], 0.05, at_most=True)} |",
    ]
    for load, ol in lt["open_loop"].items():
        L.append(
            f"| open loop at {load} % of the closed-loop maximum measured just before in each round ({fmt(ol['asked'], 0)}/s, up to {fmt(ol['peak_in_flight'], 0)} in flight): "
            f"achieved within 1 %, 0 dropped | {fmt(ol['achieved'], 1)}/s, error {fmt(pct(ol['error']), 3)} %, dropped {fmt(ol['dropped'], 0)} "
            f"| {verdict(ol['error']['median'] <= 0.01 and ol['dropped']['max'] == 0)} |")
    for load in OPEN_LOOP_LOADS:
        ol = lt["open_loop"][str(load)]
        L.append(f"| (open loop at {load} %: send lateness p99, measured, no goal on this VM) | {fmt(ol['lateness_p99_ms'], 3)} ms "
                 f"(latency p99 {fmt(ol['latency_p99_ms'], 3)} ms, counted from the intended send time) | |")
    L += ["", "Send lateness has no peer here: wrk, h2load and oha (closed loop) send when a connection is free, so they "
          "have no schedule to be late against, and none reports a corrected latency in these runs."]
    L += ["", "What the open loop costs against the closed loop of the same round, and how busy it leaves each core "
          "(the load tool's core: CPU per request x achieved rate; the server's: its CPU time over the run):", "",
          "| load | chaos-runner CPU per request, open / closed loop | load tool's core busy | server's core busy | server CPU per request (µs) |",
          "|---|---|---|---|---|"]
    for load, ol in lt["open_loop"].items():
        busy = med_spread([r["client_cpu_us_per_request"] * r["achieved"] / 1e6 for r in ol["rounds"]])
        L.append(f"| {load} % | {fmt(ol['cpu_ratio_vs_closed'], 3)} | {fmt(pct(busy), 1)} % | "
                 f"{fmt(pct(ol['server_busy']), 1)} % | {fmt(ol['server_cpu_us_per_request'], 2)} |")
    return L


def report_servers(sv):
    L = [
        "",
        "## crashserver against nginx (static page of the same size)",
        "",
        "Saturated (wrk, closed loop): throughput only; its latency is queueing in the load tool, not the server's.",
        "",
        "| server | body bytes | requests/s | p99 (ms, saturated) |",
        "|---|---|---|---|",
        f"| crashserver | {sv['body_bytes']['crashserver']} | {fmt(sv['rps']['crashserver'], 0)} | {fmt(sv['p99_ms']['crashserver'], 3)} |",
        f"| nginx | {sv['body_bytes']['nginx']} | {fmt(sv['rps']['nginx'], 0)} | {fmt(sv['p99_ms']['nginx'], 3)} |",
        "",
        f"Goal requests/s ratio >= 1.0: {fmt(sv['ratio_rps'], 3)}, {judge(sv['ratio_rps'], 1.0)}.",
        "",
        "At equal offered load (chaos-runner's open loop, fixed rates), latency in ms:",
        "",
        "| load | server | p50 | p99 | p999 | failed | load tool's send lateness p99 (ms) |",
        "|---|---|---|---|---|---|---|",
    ]
    for load, fr in sv["fixed_rate"].items():
        for srv in ("crashserver", "nginx"):
            L.append(f"| {load} % of nginx's max ({fr['asked']}/s) | {srv} | {fmt(fr['p50'][srv], 3)} | {fmt(fr['p99'][srv], 3)} | "
                     f"{fmt(fr['p999'][srv], 3)} | {fmt(fr['failed'][srv], 0)} | {fmt(fr['lateness_p99_ms'][srv], 3)} |")
    L += ["", "| goal: crashserver / nginx latency <= 1.0 | p50 | p99 | p999 | |", "|---|---|---|---|---|"]
    for load, fr in sv["fixed_rate"].items():
        v = judge_all([judge(fr[f"ratio_{q}"], 1.0, at_most=True) for q in ("p50", "p99", "p999")])
        L.append(f"| at {load} % | {fmt(fr['ratio_p50'], 3)} | {fmt(fr['ratio_p99'], 3)} | {fmt(fr['ratio_p999'], 3)} | {v} |")
    L += ["", "A tail ratio is the servers' own only where the load tool kept its schedule: its send lateness "
          "(the last column of the table above) is in both servers' latency, and where its p99 is of the order of a "
          "server's p99, that ratio measures the load tool as much as the server."]
    L += ["", "Server CPU per request at equal load (the server's processes' user + system time over the requests sent; no goal):", "",
          "| load | crashserver (µs) | nginx (µs) | crashserver / nginx |", "|---|---|---|---|"]
    for load, fr in sv["fixed_rate"].items():
        c = fr["server_cpu_us_per_request"]
        L.append(f"| {load} % | {fmt(c['crashserver'], 2)} | {fmt(c['nginx'], 2)} | {fmt(fr['ratio_server_cpu'], 3)} |")
    return L


def report_startup(r):
    st = r["startup"]
    L = [
        "",
        "## crashserver start-up, memory, image",
        "",
        "| goal | figure | |",
        "|---|---|---|",
        f"| process start to first answered request <= 10 ms (median of 20) | {fmt(st['start_to_first_answer_ms'], 2)} ms | {judge(st['start_to_first_answer_ms'], 10, at_most=True)} |",
        f"| idle RSS <= 8 MB | {fmt(st['idle_rss_mib'], 2)} MiB | {judge(st['idle_rss_mib'], 8, at_most=True)} |",
    ]
    if r.get("image"):
        b = r["image"]["bytes"]
        L.append(f"| image <= 5 MB | {b} bytes ({b / 1e6:.2f} MB) | {verdict(b <= 5e6)} |")
    return L


def report_healing(h):
    sh = h["shipped"]
    L = [
        "",
        "## Self-healing on the local swarm (shipped compose.yaml, 1 replica)",
        "",
        f"{sh['kills']} SIGKILLs through the Docker API, 6 s apart, load at 200 requests/s, by `scripts/demo.sh`. "
        f"Access path: {sh['access_path']}.",
        "Times from the kill, medians (min-max); the swarm-side ones are the engine's own container events. "
        "The shipped compose.yaml has no health check (see its comment): a task is ready when it runs. "
        "The second row turns the image's health check on (every 250 ms) to show what it adds.",
        "",
        "| compose.yaml | container died | replacement created | started | healthy | first successful answer |",
        "|---|---|---|---|---|---|",
    ]
    for name, x in (("shipped (no health check)", sh), ("health check every 250 ms", h.get("health_check"))):
        if not x:
            continue
        cell = lambda k: f"{fmt(x[k], 3)} s" if x[k] else "no check"
        L.append(f"| {name} | {cell('died_s')} | {cell('created_s')} | {cell('started_s')} | {cell('healthy_s')} | {fmt(x['first_answer_s'], 3)} s |")
    L += ["", f"Goal: kill to first successful answer <= 1.0 s (median, shipped compose.yaml): {judge(sh['first_answer_s'], 1.0, at_most=True)}."]
    return L


def report_healing_nodes(hn):
    if "skipped" in hn:
        return ["", "## Healing across nodes", "", f"Not measured: {hn['skipped']}."]
    # Earlier reports (bench-healing.sh's own loop) kept their rounds under "rounds".
    n = hn["task-kill"].get("trials") or len(hn["task-kill"].get("rounds", []))
    L = [
        "",
        f"## Healing across nodes (3-node lab, medians of {n})",
        "",
        f"`{hn['command']}` (experiments/healing.toml): a lab of 3 engines (scripts/lab.sh), 5 replicas spread afresh before each trial, 200 requests/s, "
        f"one fault 5 s into a 20 s run, a node put back after 10 s; dispatcher heartbeat {hn['heartbeat']} and client "
        f"timeout {hn['timeout']}, the settings that made detection shortest in results/multi-node/README.md. "
        "Seconds from the fault; the experiment's own page (means with 95 % intervals) and every trial's run are under bench/healing/.",
        "",
        "| fault | to a replacement's first answer (s) | to node declared down (s) | failed requests |",
        "|---|---|---|---|",
    ]
    cell = lambda v, d: fmt(v, d) if v else "-"
    for kind in HEALING_KINDS:
        k = hn[kind]
        L.append(f"| {kind} | {cell(k['replacement_answered_s'], 3)} | {cell(k['node_down_s'], 3)} | {cell(k['failed'], 0)} |")
    return L


def report(r, a, path):
    L = report_intro(r, a) + report_load_tools(r["load_tools"]) + report_servers(r["servers"]) + report_startup(r)
    if r.get("healing"):
        L += report_healing(r["healing"])
    if r.get("healing_nodes"):
        L += report_healing_nodes(r["healing_nodes"])
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--quick", action="store_true",
                    help="3 rounds of 5 s, no image and no swarm, to check a change (into results/local/ by default)")
    ap.add_argument("--no-healing", action="store_true", help="skip the self-healing figures (local swarm and 3-node lab)")
    ap.add_argument("--healing-rounds", type=int, default=10, help="trials per fault kind on the 3-node lab (2-99)")
    ap.add_argument("--out", help="benchmarks.md goes here, the raw figures under bench/ in it "
                                  "(default: results/local/bench-UTC-TIME; the committed report: --out results --force)")
    ap.add_argument("--force", action="store_true", help="replace the benchmarks.md already in --out")
    ap.add_argument("--resume", action="store_true", help="keep the steps a previous, interrupted run finished")
    ap.add_argument("--render-only", action="store_true",
                    help="write --out's benchmarks.md again from its bench/benchmarks.json (no measurement)")
    a = ap.parse_args()
    if a.render_only:
        if not a.out:
            ap.error("--render-only needs --out (the directory holding bench/benchmarks.json)")
        a.out = os.path.abspath(a.out)
        return a
    if a.quick:
        a.rounds, a.seconds, a.no_healing = 3, 5, True
    if not (1 <= a.rounds <= 100 and 1 <= a.seconds <= 600 and 1 <= a.connections <= 10000 and 2 <= a.healing_rounds <= 99):
        ap.error("--rounds takes 1-100, --seconds 1-600, --connections 1-10000, --healing-rounds 2-99")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    a.out = os.path.abspath(a.out or os.path.join(REPO, "results", "local", f"bench-{'quick-' if a.quick else ''}{stamp}"))
    if os.path.exists(os.path.join(a.out, "benchmarks.md")) and not (a.force or a.resume):
        ap.error(f"{a.out} holds an earlier benchmarks.md: choose another --out, or add --force")
    return a


def main():
    a = parse_args()
    if a.render_only:
        path = os.path.join(a.out, "bench", "benchmarks.json")
        try:
            with open(path) as f:
                r = json.load(f)
        except (OSError, ValueError) as e:
            print(f"bench.py: cannot read {path}: {e}", file=sys.stderr)
            sys.exit(2)
        a.command = r.get("command")
        report(r, a, os.path.join(a.out, "benchmarks.md"))
        print(f"written: {os.path.join(a.out, 'benchmarks.md')} from {path}")
        return
    raw = os.path.join(a.out, "bench")
    os.makedirs(raw, exist_ok=True)
    partial = os.path.join(raw, "benchmarks.partial.json")
    r = {"machine": machine(), "cpu_model": cpu_model(), "date": time.strftime("%Y-%m-%d", time.gmtime()),
         "command": command_line(a)}
    if a.resume and os.path.exists(partial):
        with open(partial) as f:
            # The steps measured before; this invocation's command and date stand.
            r.update({k: v for k, v in json.load(f).items() if k not in ("command", "date")})
    steps = [("load_tools", lambda: load_tools(a)), ("servers", lambda: servers(a)), ("startup", lambda: startup(a)),
             ("image", lambda: None if a.quick else image()), ("healing", lambda: healing(a)),
             ("healing_nodes", lambda: healing_nodes(a, raw))]
    for name, fn in steps:
        if name in r:
            print(f"==> {name}: kept from the interrupted run", flush=True)
            kept = r.setdefault("kept_steps", [])
            if name not in kept:
                kept.append(name)
            continue
        print(f"==> {name}", flush=True)
        r[name] = fn()
        print(json.dumps(r[name], indent=1)[:1500], flush=True)
        with open(partial, "w") as f:
            json.dump(r, f, indent=2)
    with open(os.path.join(raw, "benchmarks.json"), "w") as f:
        json.dump(r, f, indent=2)
    report(r, a, os.path.join(a.out, "benchmarks.md"))
    os.remove(partial)
    print(open(os.path.join(a.out, "benchmarks.md")).read())
    print(f"written: {os.path.join(a.out, 'benchmarks.md')} and {os.path.join(raw, 'benchmarks.json')}")
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
