"""Benchmark: how fast the dashboard's host page shows 24 hours of data.

One host with 24 hours of every metric the host page draws, at the agent's
10-second interval (CPU, load 1/5/15, memory, swap, two mounts, network in
and out on two interfaces, JVM heap used and max: 16 series, 138,240 points),
written through the ingest API into the embedded store. Then, 20 times each:

- server: GET /env/bench/host/gw-1?range=24h with a session cookie, timed at
  the client (the page arrives with its charts already drawn as SVG);
- browser: headless Debian Chromium (through chromedriver's WebDriver HTTP
  API) loads the same page; the time from navigation start to the load event,
  from the page's own Navigation Timing.

The goal (issue 7): under one second on this machine. No peer is named for
this one; the figures are absolute. Run through bench/run."""

import gzip
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOKEN = "bench-ingest"
PASSWORD = "bench password"
STEP_S = 10
HOURS = 24
RUNS = 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    connection.request(method, path, body=body, headers=headers or {})
    response = connection.getresponse()
    data = response.read()
    return response.status, response.getheaders(), data


def wait_http(port, path, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            request(port, "GET", path)
            return
        except OSError:
            time.sleep(0.1)
    sys.exit(f"nothing answered on port {port}")


def series():
    """(name, labels, value at step i) for every series the host page draws."""
    wave = lambda base, amp, i: base + amp * ((i % 360) / 360.0)
    return [
        ("system.cpu.total.pct", {}, lambda i: wave(20, 40, i)),
        ("system.load.1", {}, lambda i: wave(0.5, 2, i)),
        ("system.load.5", {}, lambda i: wave(0.4, 1.5, i)),
        ("system.load.15", {}, lambda i: wave(0.3, 1, i)),
        ("system.memory.used.pct", {}, lambda i: wave(55, 10, i)),
        ("system.swap.used.pct", {}, lambda i: 2.0),
        ("system.filesystem.used.pct", {"mount": "/"}, lambda i: 61 + i / 8640),
        ("system.filesystem.used.pct", {"mount": "/opt"}, lambda i: 35 + i / 4320),
        ("system.network.in.bytes", {"interface": "eth0"}, lambda i: wave(1e6, 4e6, i)),
        ("system.network.out.bytes", {"interface": "eth0"}, lambda i: wave(8e5, 3e6, i)),
        ("system.network.in.bytes", {"interface": "eth1"}, lambda i: wave(1e5, 4e5, i)),
        ("system.network.out.bytes", {"interface": "eth1"}, lambda i: wave(8e4, 3e5, i)),
        ("jvm.heap.used.bytes", {"jvm": "gateway"}, lambda i: wave(4e8, 5e8, i)),
        ("jvm.heap.max.bytes", {"jvm": "gateway"}, lambda i: 1.0e9),
        ("jvm.heap.used.bytes", {"jvm": "traffic-manager"}, lambda i: wave(2e8, 2e8, i)),
        ("jvm.heap.max.bytes", {"jvm": "traffic-manager"}, lambda i: 5.0e8),
    ]


def ingest(port):
    steps = HOURS * 3600 // STEP_S
    start = time.time() - HOURS * 3600
    events = []
    total = 0
    for i in range(steps):
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start + i * STEP_S)) + "Z"
        for number, (name, labels, value) in enumerate(series()):
            event = {"id": f"b-{i}-{number}", "@timestamp": at, "kind": "metric", "name": name, "value": value(i)}
            if labels:
                event["labels"] = labels
            events.append(event)
        if len(events) >= 16_000 or i == steps - 1:
            body = gzip.compress(json.dumps({"environment": "bench", "host": "gw-1", "agent": "bench", "events": events}).encode())
            status, _, data = request(port, "POST", "/api/v1/ingest", body, {
                "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Content-Encoding": "gzip"})
            if status != 200:
                sys.exit(f"ingest answered {status}: {data[:300]!r}")
            total += len(events)
            events = []
    return total


def webdriver(port, method, path, body=None):
    status, _, data = request(port, method, path, json.dumps(body).encode() if body is not None else None,
                              {"Content-Type": "application/json"})
    answer = json.loads(data or b"{}")
    if status != 200:
        sys.exit(f"chromedriver {method} {path}: {status} {answer}")
    return answer.get("value")


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main():
    binary = os.path.join(ROOT, "target", "release", "aerie-monitor")
    work = tempfile.mkdtemp(prefix="aerie-bench-dashboard-")
    port = free_port()
    password_hash = subprocess.run([binary, "hash-password"], input=PASSWORD + "\n", capture_output=True,
                                   text=True, check=True).stdout.strip()
    with open(os.path.join(work, "monitor.toml"), "w") as f:
        f.write(f'listen = "127.0.0.1:{port}"\ndata_dir = "data"\nmax_batch_bytes = "64 MiB"\n'
                f'[[environment]]\nname = "bench"\ningest_token = "{TOKEN}"\n'
                f'[[user]]\nname = "ops"\nrole = "operator"\npassword_hash = "{password_hash}"\n')
    monitor = subprocess.Popen([binary, "serve", "--config", os.path.join(work, "monitor.toml")],
                               stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "monitor.log"), "w"))
    driver = None
    try:
        wait_http(port, "/login")
        began = time.time()
        points = ingest(port)
        print(f"ingested {points} points in {time.time() - began:.1f} s", file=sys.stderr)
        time.sleep(2)  # the embedded store's commit interval
        status, headers, _ = request(port, "POST", "/login",
                                     urllib.parse.urlencode({"user": "ops", "password": PASSWORD, "next": "/"}).encode(),
                                     {"Content-Type": "application/x-www-form-urlencoded"})
        cookie = dict(headers).get("set-cookie", "").split(";")[0]
        if status != 303 or not cookie:
            sys.exit(f"login answered {status}")
        page = "/env/bench/host/gw-1?range=24h"
        server = []
        drawn = 0
        for _ in range(RUNS + 2):
            began = time.perf_counter()
            status, _, body = request(port, "GET", page, headers={"Cookie": cookie})
            server.append((time.perf_counter() - began) * 1000)
            if status != 200:
                sys.exit(f"the host page answered {status}")
            text = body.decode()
            drawn = sum(int(part.split('"')[0]) for part in text.split('data-points="')[1:])
        server = server[2:]

        driver_port = free_port()
        driver = subprocess.Popen(["/usr/bin/chromedriver", f"--port={driver_port}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_http(driver_port, "/status")
        session = webdriver(driver_port, "POST", "/session", {"capabilities": {"alwaysMatch": {
            "goog:chromeOptions": {"binary": "/usr/bin/chromium", "args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--window-size=1280,900"]}}}})["sessionId"]
        base = f"http://127.0.0.1:{port}"
        webdriver(driver_port, "POST", f"/session/{session}/url", {"url": base + "/login"})
        name, value = cookie.split("=", 1)
        webdriver(driver_port, "POST", f"/session/{session}/cookie", {"cookie": {"name": name, "value": value, "path": "/"}})
        browser = []
        for _ in range(RUNS + 2):
            webdriver(driver_port, "POST", f"/session/{session}/url", {"url": base + page})
            timing = webdriver(driver_port, "POST", f"/session/{session}/execute/sync", {
                "script": "const n = performance.getEntriesByType('navigation')[0]; return [n.loadEventEnd, document.querySelectorAll('svg.chart polyline').length];",
                "args": []})
            browser.append(timing[0])
        browser = browser[2:]
        polylines = timing[1]
        webdriver(driver_port, "DELETE", f"/session/{session}")

        cpu_model = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "unknown")
        result = f"""## Dashboard: the host page with 24 hours of data

Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {os.cpu_count()} cores ({cpu_model}), release build,
`bench/dashboard_render.py`. One host, 16 series at a 10 s interval for 24 h
({points:,} points) in the embedded store; the page draws {drawn:,} points in
{polylines} lines (average per 6-minute step). {RUNS} loads each, after two warm-ups.
No peer is named for this measurement: the goal is absolute.

| | p50 | p99 | max | goal |
|---|---|---|---|---|
| server: GET of the page, charts drawn (ms) | {percentile(server, 50):.0f} | {percentile(server, 99):.0f} | {max(server):.0f} | |
| browser: navigation start to load event in headless Chromium (ms) | {percentile(browser, 50):.0f} | {percentile(browser, 99):.0f} | {max(browser):.0f} | < 1000 |
"""
        with open(os.path.join(ROOT, "bench", "RESULTS-dashboard.md"), "w") as f:
            f.write(result)
        print(result)
    finally:
        if driver:
            driver.terminate()
        monitor.terminate()
        monitor.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
