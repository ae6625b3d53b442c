"""Benchmark: aerie-agent against rsyslog on the same file of product log
events (with multi-line stack traces), into the same null sink, one after the
other in one run; then both agents' idle cost against prometheus-node-exporter.

Reports events per CPU-second, wall time and peak RSS, and their ratios, in
bench/RESULTS.md. Run it with bench/run (which installs and builds first)."""

import datetime
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EVENTS = int(os.environ.get("EVENTS", "1000000"))
IDLE_SECONDS = int(os.environ.get("IDLE_SECONDS", "60"))
# Seconds a program is given to start before its idle cost is counted.
STARTUP = 3
REPEATS = int(os.environ.get("REPEATS", "3"))
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_split(pid):
    """(user, system) CPU seconds of `pid` so far."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def cpu_seconds(pid):
    return sum(cpu_split(pid))


def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def wait_count(count_file, column, target, timeout=900):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            counts = open(count_file).read().split()
            if int(counts[column]) >= target:
                return True
        except (OSError, IndexError, ValueError):
            pass
        time.sleep(0.05)
    return False


def measure_median(name, command, count_file, column, work, before=None):
    """Runs the shipper REPEATS times from scratch; the run with the median
    CPU time, and every run's CPU time."""
    runs = []
    for _ in range(REPEATS):
        if before:
            before()
        runs.append(measure(name, command, count_file, column, work))
    runs.sort(key=lambda run: run["cpu"])
    median = dict(runs[len(runs) // 2])
    median["all_cpu"] = ", ".join(f"{run['cpu']:.2f} ({run['user']:.2f} user, {run['sys']:.2f} system)" for run in runs)
    return median


def measure(name, command, count_file, column, work):
    log = open(os.path.join(work, f"{name}.log"), "w")
    # Write out what earlier runs left dirty: a journal commit forced by
    # one fsync would otherwise write it on this run's account.
    os.sync()
    started = time.time()
    base = int(open(count_file).read().split()[column])
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    done = wait_count(count_file, column, base + EVENTS)
    wall = time.time() - started
    user, system = cpu_split(process.pid)
    cpu = user + system
    rss = peak_rss_mib(process.pid)
    print(f"{name}: {cpu:.2f} CPU-s ({user:.2f} user, {system:.2f} system), {wall:.2f} s wall, {rss:.1f} MiB peak RSS", flush=True)
    process.terminate()
    process.wait(timeout=30)
    if not done:
        sys.exit(f"{name} did not deliver {EVENTS} events; see {log.name}")
    return {"wall": wall, "cpu": cpu, "user": user, "sys": system, "rss": rss, "eps_cpu": EVENTS / cpu}


def measure_idle(command, scrape, work, name):
    """CPU and RSS of `command` left idle for IDLE_SECONDS after a start-up
    of STARTUP seconds (scraped every 10 s when `scrape` is a URL). CPU is
    perf's task-clock for every thread, counted each second: exact to the
    nanosecond, where /proc's clock ticks (10 ms) are coarser than a minute
    of an idle agent's work. Answers the idle share of a core, and the share
    over the whole run with start-up."""
    counts = os.path.join(work, f"idle-{name}.perf")
    os.sync()  # see measure()
    process = subprocess.Popen(["perf", "stat", "-I", "1000", "-x,", "-e", "task-clock", "-o", counts, "--", *command],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(STARTUP)
    child = int(subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True, text=True).stdout.split()[0])
    for _ in range(IDLE_SECONDS // 10):
        if scrape:
            subprocess.run(["curl", "-s", "-o", "/dev/null", scrape], check=False)
        time.sleep(10)
    rss = rss_mib(child)
    os.kill(child, 15)
    process.wait(timeout=30)
    intervals = []
    for line in open(counts):
        fields = line.strip().split(",")
        if len(fields) > 3 and fields[3] == "task-clock":
            # "<not counted>": the program had ended within that second.
            msec = float(fields[1]) if fields[1].replace(".", "", 1).isdigit() else 0.0
            intervals.append((float(fields[0]), msec))
    idle = [(at, msec) for at, msec in intervals if STARTUP < at <= STARTUP + IDLE_SECONDS]
    span = idle[-1][0] - STARTUP
    whole = intervals[-1][0]
    return {"cpu_pct": 100 * sum(msec for _, msec in idle) / 1000 / span,
            "whole_pct": 100 * sum(msec for _, msec in intervals) / 1000 / whole, "rss": rss}


def rsyslog_config(work, data, tcp_port):
    """rsyslog following `data` (joining stack traces) into the null sink's
    TCP port; answers the config file (its work folder made)."""
    rsyslog_work = os.path.join(work, "rsyslog-work")
    os.makedirs(rsyslog_work, exist_ok=True)
    conf = os.path.join(work, "rsyslog.conf")
    with open(conf, "w") as f:
        f.write(f'''global(workDirectory="{rsyslog_work}")
module(load="imfile")
input(type="imfile" file="{data}" tag="bench" startmsg.regex="^\\\\[" readTimeout="1" ruleset="forward")
ruleset(name="forward") {{
  action(type="omfwd" target="127.0.0.1" port="{tcp_port}" protocol="tcp")
}}
''')
    return conf


def agent_config(work, data, http_port):
    """aerie-agent following `data` into the null sink's ingest port;
    answers the config file."""
    conf = os.path.join(work, "agent.toml")
    with open(conf, "w") as f:
        f.write(f'''environment = "bench"
host = "bench"
data_dir = "{work}/agent-data"
interval = "10s"
[monitor]
url = "http://127.0.0.1:{http_port}"
token = "bench"
[jvm]
enabled = false
[[logs]]
name = "bench"
paths = ["{data}"]
timezone = "+00:00"
''')
    return conf


def main():
    agent = os.path.join(ROOT, "target", "release", "aerie-agent")
    work = tempfile.mkdtemp(prefix="aerie-bench-")
    data = os.path.join(work, "events.log")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_logs.py"), data, str(EVENTS)], check=True)
    size_mib = os.path.getsize(data) / (1 << 20)
    tcp_port, http_port = free_port(), free_port()
    count_file = os.path.join(work, "counts")
    sink = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "null_sink.py"), str(tcp_port), str(http_port), count_file])
    time.sleep(1)
    try:
        open(count_file, "w").write("0 0\n")
        rsyslog_conf = rsyslog_config(work, data, tcp_port)
        rsyslog_work = os.path.join(work, "rsyslog-work")
        rsyslog = measure_median(
            "rsyslog", ["rsyslogd", "-n", "-f", rsyslog_conf, "-i", os.path.join(work, "rsyslog.pid")], count_file, 0, work,
            before=lambda: [os.remove(os.path.join(rsyslog_work, f)) for f in os.listdir(rsyslog_work)],
        )

        agent_conf = agent_config(work, data, http_port)
        aerie = measure_median(
            "aerie-agent", [agent, "run", "--config", agent_conf], count_file, 1, work,
            before=lambda: subprocess.run(["rm", "-rf", os.path.join(work, "agent-data")], check=True),
        )

        idle_conf = os.path.join(work, "idle.toml")
        with open(idle_conf, "w") as f:
            f.write(f'''environment = "bench"
host = "bench"
data_dir = "{work}/idle-data"
interval = "10s"
[monitor]
url = "http://127.0.0.1:{http_port}"
token = "bench"
''')
        idle = {}
        exporter_port = free_port()
        for name, command, scrape in [
            ("aerie-agent", [agent, "run", "--config", idle_conf], None),
            ("node-exporter", ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{exporter_port}"], f"http://127.0.0.1:{exporter_port}/metrics"),
        ]:
            idle[name] = measure_idle(command, scrape, work, name)
    finally:
        sink.terminate()

    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / (1 << 30)
    rsyslog_version = subprocess.run(["rsyslogd", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
    r, a = rsyslog, aerie
    text = f"""## The agent against rsyslog and node-exporter

Measured {datetime.date.today().isoformat()} by `bench/run` on {os.cpu_count()} cores ({cpu_model}), {mem_gib:.0f} GiB,
{platform.system()} {platform.release()}; {rsyslog_version}.

### Shipping a file of product log events: aerie-agent against rsyslog

{EVENTS:,} events ({size_mib:.0f} MiB, every 40th an ERROR with a 6-line Java stack trace) read from one
file and delivered to the same local null sink, one shipper after the other in one run.

- rsyslog: `imfile` with `startmsg.regex="^\\["` (joins the stack traces), `omfwd` over TCP; no parsing.
- aerie-agent (release build): tails the file, joins the stack traces, parses every event
  (timestamp, level, logger, message), gives it a stable id, serializes it as JSON, writes it to
  its disk queue (fsync before the file position advances), batches, compresses it (zstd, its
  default) and POSTs it.

| | events per CPU-second | CPU seconds | of which user | of which system | wall seconds | peak RSS (MiB) |
|---|---:|---:|---:|---:|---:|---:|
| rsyslog | {r['eps_cpu']:,.0f} | {r['cpu']:.2f} | {r['user']:.2f} | {r['sys']:.2f} | {r['wall']:.2f} | {r['rss']:.1f} |
| aerie-agent | {a['eps_cpu']:,.0f} | {a['cpu']:.2f} | {a['user']:.2f} | {a['sys']:.2f} | {a['wall']:.2f} | {a['rss']:.1f} |
| **agent / rsyslog** | **{a['eps_cpu'] / r['eps_cpu']:.2f}x** | {a['cpu'] / r['cpu']:.2f}x | {a['user'] / max(r['user'], 1e-9):.2f}x | {a['sys'] / max(r['sys'], 1e-9):.2f}x | {a['wall'] / r['wall']:.2f}x | {a['rss'] / r['rss']:.2f}x |

Goal: at least 2x rsyslog's events per CPU-second.

### Idle cost at a 10 s interval: aerie-agent against prometheus-node-exporter

Over {IDLE_SECONDS} s: the agent collecting and shipping host metrics every 10 s (no log files);
node-exporter scraped every 10 s. CPU is perf's task-clock for every thread, counted each
second (exact, where /proc's 10 ms clock ticks are too coarse for this): idle is after the
first {STARTUP} s; the whole run includes start-up.

| | idle CPU (% of one core) | whole run, with start-up | RSS (MiB) |
|---|---:|---:|---:|
| node-exporter | {idle['node-exporter']['cpu_pct']:.3f} | {idle['node-exporter']['whole_pct']:.3f} | {idle['node-exporter']['rss']:.1f} |
| aerie-agent | {idle['aerie-agent']['cpu_pct']:.3f} | {idle['aerie-agent']['whole_pct']:.3f} | {idle['aerie-agent']['rss']:.1f} |
| **agent / node-exporter** | **{idle['aerie-agent']['cpu_pct'] / max(idle['node-exporter']['cpu_pct'], 1e-9):.2f}x** | {idle['aerie-agent']['whole_pct'] / max(idle['node-exporter']['whole_pct'], 1e-9):.2f}x | {idle['aerie-agent']['rss'] / idle['node-exporter']['rss']:.2f}x |
"""
    text += f"""
Each shipper ran {REPEATS} times from a fresh start (no saved position); the table shows the run
with the median CPU time. Every run's CPU seconds: rsyslog {r['all_cpu']}; aerie-agent {a['all_cpu']}.
"""
    with open(os.path.join(ROOT, "bench", "RESULTS-agent.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
