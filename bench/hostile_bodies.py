"""Benchmark: the monitor's memory under hostile request bodies, with the
release binary and its default batch limit (32 MiB). The issue names no
peer: the figure is the monitor's peak resident memory (VmHWM) before and
after each wave, against the 2 GB that one unauthenticated 1 GiB body cost
before bodies were limited.

Waves, each on fresh connections, chunked (no declared length):
  1. one unauthenticated 1 GiB POST to /api/v1/ingest;
  2. one unauthenticated 1 GiB POST to the login form;
  3. 32 authenticated 256 MiB POSTs to /api/v1/ingest at once;
  4. 32 unauthenticated 256 MiB POSTs to /_bulk at once.

Run through `bench/run bodies`, which builds the monitor in release mode."""

import os
import socket
import subprocess
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MONITOR = os.path.join(ROOT, "target", "release", "aerie-monitor")
TOKEN = "bench-ingest-token"
CHUNK = b"a" * (64 * 1024)
FRAME = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return 0


def post(port, path, headers, total):
    """A chunked POST of `total` bytes, stopped when the monitor stops
    reading; the status it answered, or None."""
    sock = socket.create_connection(("127.0.0.1", port))
    head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nTransfer-Encoding: chunked\r\n{headers}\r\n"
    sock.sendall(head.encode())
    sent = 0
    try:
        while sent < total:
            sock.sendall(FRAME)
            sent += len(CHUNK)
        sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass
    sock.settimeout(60)
    answer = b""
    try:
        while True:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
            if b"\r\n\r\n" in answer:
                break
    except OSError:
        pass
    sock.close()
    first = answer.split(b"\r\n", 1)[0].decode(errors="replace")
    return first.split(" ")[1] if first.startswith("HTTP/1.1 ") else None


def wave(port, path, headers, total, count):
    statuses = []
    threads = [
        threading.Thread(target=lambda: statuses.append(post(port, path, headers, total)))
        for _ in range(count)
    ]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(set(str(s) for s in statuses)), time.monotonic() - started


def main():
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        config = os.path.join(data, "monitor.toml")
        with open(config, "w") as f:
            f.write(
                f'listen = "127.0.0.1:{port}"\ndata_dir = "{data}/store"\n'
                f'[[environment]]\nname = "acme-prod"\ningest_token = "{TOKEN}"\n'
            )
        process = subprocess.Popen(
            [MONITOR, "serve", "--config", config],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port)).close()
                    break
                except OSError:
                    time.sleep(0.1)
            json = "Content-Type: application/json\r\n"
            rows = []
            baseline = peak_mib(process.pid)
            for name, path, headers, total, count in [
                ("1 x 1 GiB, no token, ingest", "/api/v1/ingest", json, 1 << 30, 1),
                ("1 x 1 GiB, login form", "/login", "Content-Type: application/x-www-form-urlencoded\r\n", 1 << 30, 1),
                ("32 x 256 MiB at once, with the token, ingest", "/api/v1/ingest", f"Authorization: Bearer {TOKEN}\r\n{json}", 256 << 20, 32),
                ("32 x 256 MiB at once, no token, _bulk", "/_bulk", "Content-Type: application/x-ndjson\r\n", 256 << 20, 32),
            ]:
                before = peak_mib(process.pid)
                statuses, took = wave(port, path, headers, total, count)
                after = peak_mib(process.pid)
                rows.append((name, ", ".join(statuses), before, after, took))
                print(f"{name}: answered {statuses} in {took:.2f} s; peak RSS {before} -> {after} MiB", flush=True)
        finally:
            process.terminate()
            process.wait()
    with open(os.path.join(ROOT, "bench", "RESULTS-bodies.md"), "w") as out:
        out.write("## Hostile request bodies (`bench/run bodies`)\n\n")
        out.write("The release monitor with its default 32 MiB batch limit; peak resident memory (VmHWM) before and after each wave. ")
        out.write("Before bodies were limited, one unauthenticated 1 GiB body took the monitor from 261 MB to 2 GB.\n\n")
        out.write(f"Baseline peak RSS: {baseline} MiB.\n\n")
        out.write("| wave | answered | peak RSS before | after | took |\n|---|---|---|---|---|\n")
        for name, statuses, before, after, took in rows:
            out.write(f"| {name} | {statuses} | {before} MiB | {after} MiB | {took:.2f} s |\n")


if __name__ == "__main__":
    main()
