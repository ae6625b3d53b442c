"""Benchmark: the monitor's embedded store against Debian's clickhouse-server
(logs) and victoria-metrics (metrics), side by side in one run on the same data.

- Log ingest: LOG_LINES product log lines (default 10 million), each with
  three words from a 5,000-word vocabulary (`w00000`..`w04999`) and a unique
  sequence number, sent in batches: to the monitor through its ingest API
  (gzip JSON), to ClickHouse through its HTTP interface (TabSeparated into a
  MergeTree table). Lines per CPU-second of the server process.
- Term search: 100 random vocabulary words, the newest 100 matching lines:
  the monitor's /api/v1/logs?q=WORD, ClickHouse's
  `WHERE position(message, ' WORD ') > 0 ORDER BY ts DESC LIMIT 100`.
  Latency at the client (curl's time_total), p50 and p99.
- Metric ingest: one metric for 50 hosts over 7 days at 10 s (3,024,000
  points): the monitor's ingest API, VictoriaMetrics' /api/v1/import.
- Metric query: the 7-day, 50-host series at a 5-minute step (average), 20
  times: /api/v1/metrics against /api/v1/query_range (nocache=1). p50, p99
  of curl's time_total.

Run through bench/run, which installs the peers and builds the monitor."""

import gzip
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOG_LINES = int(os.environ.get("LOG_LINES", "10000000"))
BATCH = 20_000
HOSTS = 50
DAYS = 7
STEP_S = 10
TICK = os.sysconf("SC_CLK_TCK")
TOKEN = "bench-ingest"
USER_TOKEN = "bench-operator"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def request(port, method, path, body=None, headers=None, timeout=600):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    connection.close()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path[:80]} answered {response.status}: {data[:300]!r}")
    return data


def timed_get(port, path, headers=None):
    """GET with curl, a separate small process, so that the latency measured
    is the server's and not this (large) Python process's reading of a
    multi-megabyte answer; the same for every server. Answers (seconds, body)."""
    args = ["curl", "-sS", "--fail-with-body", "-o", "-", "-w", "\n%{time_total}"]
    for name, value in (headers or {}).items():
        args += ["-H", f"{name}: {value}"]
    done = subprocess.run(args + [f"http://127.0.0.1:{port}{path}"], capture_output=True, check=True)
    body, _, seconds = done.stdout.rpartition(b"\n")
    return float(seconds), body


def wait_http(port, path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            request(port, "GET", path, timeout=2)
            return
        except Exception:
            time.sleep(0.2)
    sys.exit(f"nothing answered on port {port}{path}")


BASE_MS = int(time.time() * 1000) - 6 * 3600 * 1000
LEVELS = ["INFO"] * 8 + ["WARN", "ERROR"]
LOGGERS = ["ThrottleHandler", "APIKeyValidator", "DataPublisher", "JMSListener", "PassThroughHttpSender"]


def log_batch(index):
    """Lines index*BATCH .. : (ms, host, level, logger, message)."""
    rng = random.Random(index)
    rows = []
    for n in range(index * BATCH, min((index + 1) * BATCH, LOG_LINES)):
        words = " ".join(f"w{rng.randrange(5000):05d}" for _ in range(3))
        message = f"request seq{n} for tenant t{rng.randrange(20):02d} {words} handled in {rng.randrange(1, 900)} ms"
        rows.append((BASE_MS + n * 2, f"gw-{n % 4}", LEVELS[n % 10], LOGGERS[n % 5], message))
    return rows


def monitor_log_body(rows, host):
    events = ",".join(
        '{"id":"l%d","@timestamp":"%s","kind":"log","file":"/opt/wso2/repository/logs/wso2carbon.log","level":"%s","logger":"%s","message":"%s","parsed":true}'
        % (ms, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000), level, logger, message)
        for ms, _, level, logger, message in rows
    )
    body = '{"environment":"bench","host":"%s","agent":"bench","events":[%s]}' % (host, events)
    return gzip.compress(body.encode(), 1)


def parallel(jobs, worker, threads=2):
    queue = list(jobs)
    lock = threading.Lock()
    errors = []

    def run():
        while True:
            with lock:
                if not queue:
                    return
                job = queue.pop(0)
            try:
                worker(job)
            except Exception as error:  # reported below
                errors.append(error)
                return

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if errors:
        raise errors[0]


def percentiles(samples):
    samples = sorted(samples)
    p = lambda q: samples[min(len(samples) - 1, int(q * len(samples)))]
    return {"p50": p(0.50) * 1000, "p99": p(0.99) * 1000}


def main():
    work = tempfile.mkdtemp(prefix="aerie-monitor-bench-")
    batches = range((LOG_LINES + BATCH - 1) // BATCH)

    # --- the monitor -------------------------------------------------------
    port = free_port()
    with open(f"{work}/monitor.toml", "w") as f:
        f.write(f'listen = "127.0.0.1:{port}"\ndata_dir = "{work}/monitor"\nmax_batch_bytes = "256 MiB"\n'
                f'[jobs]\nusage_every = "1d"\nretention_every = "1d"\n'
                f'[[environment]]\nname = "bench"\ningest_token = "{TOKEN}"\n'
                f'[[user]]\nname = "ops"\nrole = "operator"\ntoken = "{USER_TOKEN}"\n')
    monitor = subprocess.Popen([f"{ROOT}/target/release/aerie-monitor", "serve", "--config", f"{work}/monitor.toml"],
                               stdout=open(f"{work}/monitor.log", "w"), stderr=subprocess.STDOUT)
    wait_http(port, "/api/v1/openapi.json")
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Content-Encoding": "gzip"}

    # --- clickhouse ----------------------------------------------------------
    ch_http, ch_tcp = free_port(), free_port()
    os.makedirs(f"{work}/ch/tmp")
    config = open("/etc/clickhouse-server/config.xml").read()
    for tag, value in [("path", f"{work}/ch/"), ("tmp_path", f"{work}/ch/tmp/"), ("user_files_path", f"{work}/ch/user_files/"),
                       ("format_schema_path", f"{work}/ch/format_schemas/"), ("log", f"{work}/ch/server.log"),
                       ("errorlog", f"{work}/ch/server.err.log"), ("http_port", str(ch_http)), ("tcp_port", str(ch_tcp)),
                       ("interserver_http_port", str(free_port()))]:
        start = config.index(f"<{tag}>") + len(tag) + 2
        config = config[:start] + value + config[config.index(f"</{tag}>", start):]
    config = config.replace("<listen_host>::1</listen_host>", "")
    open(f"{work}/ch/config.xml", "w").write(config)
    shutil.copy("/etc/clickhouse-server/users.xml", f"{work}/ch/users.xml")
    clickhouse = subprocess.Popen(["clickhouse-server", f"--config-file={work}/ch/config.xml"],
                                  stdout=open(f"{work}/ch/stdout.log", "w"), stderr=subprocess.STDOUT)
    wait_http(ch_http, "/ping")
    ch = lambda sql, body=None: request(ch_http, "POST", "/?query=" + urllib.parse.quote(sql), body)
    ch("CREATE TABLE logs (ts DateTime, ms UInt16, host String, level String, logger String, message String) "
       "ENGINE = MergeTree ORDER BY (ts, ms)")

    # --- victoria-metrics ----------------------------------------------------
    vm_port = free_port()
    vm = subprocess.Popen(["victoria-metrics", f"-httpListenAddr=127.0.0.1:{vm_port}", f"-storageDataPath={work}/vm",
                           "-retentionPeriod=1y"], stdout=open(f"{work}/vm.log", "w"), stderr=subprocess.STDOUT)
    wait_http(vm_port, "/health")

    results = {}
    try:
        # Log ingest.
        before, started = cpu(monitor.pid), time.time()
        parallel(batches, lambda i: request(port, "POST", "/api/v1/ingest", monitor_log_body(log_batch(i), f"gw-{i % 4}"), headers))
        results["monitor_logs"] = {"cpu": cpu(monitor.pid) - before, "wall": time.time() - started}

        def ch_insert(i):
            rows = log_batch(i)
            tsv = "".join(f"{ms // 1000}\t{ms % 1000}\t{host}\t{level}\t{logger}\t{message}\n" for ms, host, level, logger, message in rows)
            ch("INSERT INTO logs FORMAT TabSeparated", tsv.encode())
        before, started = cpu(clickhouse.pid), time.time()
        parallel(batches, ch_insert)
        results["clickhouse_logs"] = {"cpu": cpu(clickhouse.pid) - before, "wall": time.time() - started}

        # Term search.
        rng = random.Random(7)
        terms = [f"w{rng.randrange(5000):05d}" for _ in range(100)]
        frm = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(BASE_MS / 1000 - 60))
        monitor_search, ch_search = [], []
        for term in terms:
            seconds, page = timed_get(port, f"/api/v1/logs?env=bench&q={term}&from={frm}&limit=100", {"Authorization": f"Bearer {USER_TOKEN}"})
            page = json.loads(page)
            monitor_search.append(seconds)
            sql = f"SELECT ts, ms, host, message FROM logs WHERE position(message, ' {term} ') > 0 ORDER BY ts DESC, ms DESC LIMIT 100 FORMAT JSON"
            seconds, answer = timed_get(ch_http, "/?query=" + urllib.parse.quote(sql))
            ch_search.append(seconds)
            found = len(json.loads(answer)["data"])
            assert len(page["lines"]) == found, f"{term}: the monitor found {len(page['lines'])} lines, ClickHouse {found}"
        results["monitor_search"] = percentiles(monitor_search)
        results["clickhouse_search"] = percentiles(ch_search)

        # Metric ingest.
        end_s = int(time.time()) // STEP_S * STEP_S
        start_s = end_s - DAYS * 86400
        stamps = list(range(start_s, end_s, STEP_S))
        value = lambda h, t: round(20 + 15 * ((t // 600 + h) % 7) + (t % 97) / 10, 2)
        points = HOSTS * len(stamps)

        def monitor_metrics(h):
            for chunk in range(0, len(stamps), 20_000):
                events = ",".join(
                    '{"id":"m%d-%d","@timestamp":"%s","kind":"metric","name":"system.cpu.total.pct","value":%s}'
                    % (h, t, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)), value(h, t))
                    for t in stamps[chunk:chunk + 20_000])
                body = '{"environment":"bench","host":"host-%02d","agent":"bench","events":[%s]}' % (h, events)
                request(port, "POST", "/api/v1/ingest", gzip.compress(body.encode(), 1), headers)
        before, started = cpu(monitor.pid), time.time()
        parallel(range(HOSTS), monitor_metrics)
        results["monitor_metrics"] = {"cpu": cpu(monitor.pid) - before, "wall": time.time() - started}

        def vm_import(h):
            line = json.dumps({"metric": {"__name__": "system_cpu_total_pct", "host": f"host-{h:02d}"},
                               "values": [value(h, t) for t in stamps], "timestamps": [t * 1000 for t in stamps]})
            request(vm_port, "POST", "/api/v1/import", line.encode())
        before, started = cpu(vm.pid), time.time()
        parallel(range(HOSTS), vm_import)
        request(vm_port, "GET", "/internal/force_flush")
        results["vm_metrics"] = {"cpu": cpu(vm.pid) - before, "wall": time.time() - started}
        time.sleep(2)

        # Metric query.
        q_from, q_to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_s)), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end_s))
        monitor_query, vm_query = [], []
        for _ in range(20):
            seconds, answer = timed_get(port, f"/api/v1/metrics?env=bench&name=system.cpu.total.pct&from={q_from}&to={q_to}&step=5m&agg=avg",
                                        {"Authorization": f"Bearer {USER_TOKEN}"})
            monitor_query.append(seconds)
            answer = json.loads(answer)
            assert len(answer["series"]) == HOSTS, len(answer["series"])
            seconds, answer = timed_get(vm_port, "/api/v1/query_range?" + urllib.parse.urlencode(
                {"query": "avg_over_time(system_cpu_total_pct[5m])", "start": start_s, "end": end_s, "step": 300, "nocache": 1}))
            vm_query.append(seconds)
            answer = json.loads(answer)
            assert len(answer["data"]["result"]) == HOSTS, len(answer["data"]["result"])
        results["monitor_query"] = percentiles(monitor_query)
        results["vm_query"] = percentiles(vm_query)
    finally:
        for process in (monitor, clickhouse, vm):
            process.terminate()
        for process in (monitor, clickhouse, vm):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()

    ml, cl = results["monitor_logs"], results["clickhouse_logs"]
    ms, cs = results["monitor_search"], results["clickhouse_search"]
    mm, vmi = results["monitor_metrics"], results["vm_metrics"]
    mq, vq = results["monitor_query"], results["vm_query"]
    versions = subprocess.run(["dpkg-query", "-W", "-f=${Package} ${Version}; ", "clickhouse-server", "victoria-metrics"], capture_output=True, text=True).stdout
    cpu_model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    text = f"""## The monitor's embedded store against ClickHouse and VictoriaMetrics

Measured {time.strftime('%Y-%m-%d')} by `bench/run` (`bench/monitor_vs_peers.py`) on {os.cpu_count()} cores ({cpu_model});
Debian {versions.strip().rstrip(";")}. Same data to both in one run; CPU is the server process's own;
latencies are curl's `time_total` for each request (a small client, the same for every server).

### Logs: {LOG_LINES:,} product log lines

| | lines per CPU-second | CPU s | wall s | term search p50 (ms) | p99 (ms) |
|---|---:|---:|---:|---:|---:|
| ClickHouse | {LOG_LINES / cl['cpu']:,.0f} | {cl['cpu']:.1f} | {cl['wall']:.1f} | {cs['p50']:.1f} | {cs['p99']:.1f} |
| aerie-monitor (embedded) | {LOG_LINES / ml['cpu']:,.0f} | {ml['cpu']:.1f} | {ml['wall']:.1f} | {ms['p50']:.1f} | {ms['p99']:.1f} |
| **monitor / ClickHouse** | **{(LOG_LINES / ml['cpu']) / (LOG_LINES / cl['cpu']):.2f}x** | | | **{ms['p50'] / cs['p50']:.2f}x** | **{ms['p99'] / cs['p99']:.2f}x** |

Ingest ratio above 1 is better for the monitor; latency ratios below 1 are. The monitor also
de-duplicates by event id and commits (fsync) before answering each batch.

### Metrics: one metric, {HOSTS} hosts, {DAYS} days at {STEP_S} s ({points:,} points)

| | points per CPU-second | CPU s | 7-day {HOSTS}-host query p50 (ms) | p99 (ms) |
|---|---:|---:|---:|---:|
| VictoriaMetrics | {points / vmi['cpu']:,.0f} | {vmi['cpu']:.1f} | {vq['p50']:.1f} | {vq['p99']:.1f} |
| aerie-monitor (embedded) | {points / mm['cpu']:,.0f} | {mm['cpu']:.1f} | {mq['p50']:.1f} | {mq['p99']:.1f} |
| **monitor / VictoriaMetrics** | **{(points / mm['cpu']) / (points / vmi['cpu']):.2f}x** | | **{mq['p50'] / vq['p50']:.2f}x** | **{mq['p99'] / vq['p99']:.2f}x** |

Goals: log ingest and search at least as fast as ClickHouse, metric queries at least as fast as
VictoriaMetrics.
"""
    with open(os.path.join(ROOT, "bench", "RESULTS-monitor.md"), "w") as f:
        f.write(text)
    print(text)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
