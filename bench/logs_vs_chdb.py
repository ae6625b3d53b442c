"""Benchmark: the monitor's embedded log store against ClickHouse 26 (chDB,
from PyPI) with and without its text index, on the same lines, in one run,
at several sizes (the growth table).

- The corpus flatters no one: eight hosts whose batches arrive out of
  order (each host's clock runs behind the one before by 40 s), a few very
  frequent words in every line, a Zipf vocabulary of 200,000 words (many
  appear once or a few times), and a unique `seqN` in each line.
- Ingest: batches of 20,000 lines, to the monitor through its ingest API
  (JSON compressed as the agent compresses it by default, zstd at level
  -1; de-duplicated by id, synced before the answer), to ClickHouse
  through TSV files inserted into a MergeTree (`ORDER BY ts`), each batch
  offered on a fixed schedule (ARRIVAL lines a second). Each engine ingests
  RUNS times into new files, each time in a new process (the monitor's
  server; a Python process of its own running chDB), and each figure is the
  median of the runs with their spread: lines per CPU-second of that
  process, counted until the work its ingest left running (the monitor's
  segment merges, ClickHouse's part merges) is done; lines per second of
  wall time; the process's peak resident set (VmHWM) above what it held
  when ready to ingest; disk.
- Queries, newest 100 matching lines, each timed QUERIES times per run and
  the run repeated RUNS times; each figure is the median of the runs' p50
  and p99, with their spread:
  * rare term: a `seqN` found in exactly one line;
  * level plus term: ERROR lines with a word of middling frequency;
  * newest 100: no filter;
  * count: the lines holding a word of middling frequency, in all (the
    monitor's `/api/v1/logs/count?by=`, ClickHouse's `count()`);
  * count per host and bucket: the same, as the monitor's count API
    answers by default (per host with its newest line, per time bucket of
    its step), ClickHouse asked for the same (one query with two grouping
    sets).
  The monitor is asked through HTTP (curl's time_total); chDB runs in this
  process and pays no HTTP: the comparison leans its way. ClickHouse's query
  condition cache is off, so that a query asked again in the next run
  scans as it did the first time (the monitor keeps no such cache).
- Disk: the monitor's log directory against the tables' active parts; and,
  for a like-for-like figure, a third ClickHouse table without an index
  that also holds each line's id (the monitor keeps ids to drop a line
  sent again; it keeps an agent's line's origin, which spells its id),
  only stored, never timed or asked.
  The queries ask the last run's files; the monitor's peak memory with
  them and its memory after them are that run's.

Usage: bench/run logs (it makes bench/.venv with chDB and builds the release
monitor). SIZES (default "1000000,10000000"), RUNS
(default 3), QUERIES (default 30), ARRIVAL (default 250000) from the
environment."""

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import chdb.session
import xxhash
import zstandard

# The helpers the monitor's other benchmark has: a free port, a process's
# CPU seconds, an HTTP request, waiting for a server, two senders at once.
from monitor_vs_peers import cpu, free_port, parallel, request, wait_http

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIZES = [int(s) for s in os.environ.get("SIZES", "1000000,10000000").split(",")]
RUNS = int(os.environ.get("RUNS", "3"))
# Lines offered per second to each engine during an ingest: batches are sent
# on this schedule (one every BATCH / ARRIVAL seconds), not as fast as an
# engine takes them, so that memory is measured under a steady load. An
# engine slower than this falls behind and takes them as fast as it can; the
# report gives each one's lines per second of wall time.
ARRIVAL = int(os.environ.get("ARRIVAL", "250000"))
QUERIES = int(os.environ.get("QUERIES", "30"))
BATCH = 20_000
HOSTS = 8
TOKEN = "bench-ingest"
USER_TOKEN = "bench-operator"
TICK = os.sysconf("SC_CLK_TCK")
VOCABULARY = 200_000
# ClickHouse remembers which granules matched a condition (the query
# condition cache, on by default since 25.3): the same query asked again in
# the next run would skip its scan. Each query here is measured as new.
NO_CACHE = "SETTINGS use_query_condition_cache = 0, use_query_cache = 0"
LEVELS = ["INFO"] * 17 + ["WARN", "WARN", "ERROR"]
LOGGERS = ["ThrottleHandler", "APIKeyValidator", "DataPublisher", "JMSListener", "PassThroughHttpSender"]
# Zipf weights over the vocabulary, as a cumulative table for random.choices.
ZIPF = None


def zipf_table():
    global ZIPF
    if ZIPF is None:
        total, table = 0.0, []
        for rank in range(1, VOCABULARY + 1):
            total += 1.0 / rank ** 1.1
            table.append(total)
        ZIPF = table
    return ZIPF


def own_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def settled(read_cpu):
    """The CPU time `read_cpu` gives once the work an ingest left running
    (the monitor's segment merges, ClickHouse's part merges) is done: when
    two seconds in a row add less than a fiftieth of a core each; at most
    two minutes. Each engine's ingest figure counts what it left."""
    quiet, deadline = 0, time.time() + 120
    last = read_cpu()
    while quiet < 2 and time.time() < deadline:
        time.sleep(1)
        now = read_cpu()
        quiet = quiet + 1 if now - last < 0.02 else 0
        last = now
    return last


def on_schedule(index, started):
    """Waits until batch `index` is due: ARRIVAL lines a second from `started`."""
    delay = started + index * BATCH / ARRIVAL - time.time()
    if delay > 0:
        time.sleep(delay)


COLUMNS = ("ts DateTime64(3, 'UTC'), host LowCardinality(String), level LowCardinality(String), "
           "logger LowCardinality(String), message String")
TABLES = {
    "indexed": f"({COLUMNS}, INDEX tokens message TYPE text(tokenizer = splitByNonAlpha)) ENGINE = MergeTree ORDER BY ts",
    "plain": f"({COLUMNS}) ENGINE = MergeTree ORDER BY ts",
    "with_ids": f"({COLUMNS}, id String) ENGINE = MergeTree ORDER BY ts",
}


def ch_ingest(folder, table, listing):
    """In a process of its own (`logs_vs_chdb.py ch-ingest FOLDER TABLE
    LISTING`), so that its memory is ClickHouse's alone: makes `table` in the
    chDB session at `folder` and inserts the TSV files named in `listing` on
    the ARRIVAL schedule (the with_ids table, for its disk alone, at once).
    Prints its CPU seconds until its merges are done, its wall seconds, its
    peak and starting resident set and the table's bytes on disk, as JSON."""
    session = chdb.session.Session(folder)
    ch = lambda sql: session.query(sql, "JSONCompact")
    ch("CREATE DATABASE IF NOT EXISTS b")
    ch(f"CREATE TABLE b.{table} {TABLES[table]}")
    structure = COLUMNS.replace("'", "\\'") + (", id String" if table == "with_ids" else "")
    paths = open(listing).read().split()
    start_mb = status_mb(os.getpid(), "VmRSS")
    before, started = own_cpu(), time.time()
    for at, path in enumerate(paths):
        if table != "with_ids":
            on_schedule(at, started)
        ch(f"INSERT INTO b.{table} SELECT * FROM file('{path}', TSV, '{structure}')")
    wall = time.time() - started
    used = settled(own_cpu) - before
    answer = json.loads(ch(f"SELECT sum(bytes_on_disk) FROM system.parts WHERE database = 'b' AND table = '{table}' AND active").bytes())
    print(json.dumps({"cpu": used, "wall": wall, "peak_mb": status_mb(os.getpid(), "VmHWM"), "start_mb": start_mb,
                      "disk": int(answer["data"][0][0])}))
    session.close()


def ch_ingest_run(folder, table, paths):
    """Runs `ch_ingest` in a child process; what it printed."""
    listing = f"{folder}.{table}.list"
    with open(listing, "w") as f:
        f.write("\n".join(paths))
    done = subprocess.run([sys.executable, os.path.abspath(__file__), "ch-ingest", folder, table, listing],
                          capture_output=True, text=True)
    os.remove(listing)
    if done.returncode != 0:
        raise SystemExit(f"chDB ingest of {table} failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def status_mb(pid, field):
    """A memory `field` of the process's /proc status (VmHWM: its peak
    resident set; VmRSS: its resident set now), in MB."""
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return 0.0


def du(path):
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(folder, name))
            except OSError:
                pass
    return total


def segment_parts(folder):
    """The monitor's segment bytes by what they hold: (granules, term
    index, id hashes, the rest), read from each segment's meta."""
    granules = index = ids = total = 0
    for name in os.listdir(folder) if os.path.isdir(folder) else []:
        if not name.endswith(".seg"):
            continue
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        total += len(data)
        meta_at = int.from_bytes(data[-24:-16], "little")
        meta_len = int.from_bytes(data[-16:-12], "little")
        meta = json.loads(data[meta_at:meta_at + meta_len])
        granules += sum(g["len"] for g in meta["granules"])
        index += (meta.get("index") or {}).get("len", 0)
        ids += meta["ids_count"] * meta.get("id_bytes", 16)
    return granules, index, ids, total - granules - index - ids


def timed_get(port, path):
    args = ["curl", "-sS", "--fail-with-body", "-o", "-", "-w", "\n%{time_total}",
            "-H", f"Authorization: Bearer {USER_TOKEN}", f"http://127.0.0.1:{port}{path}"]
    done = subprocess.run(args, capture_output=True, check=True)
    body, _, seconds = done.stdout.rpartition(b"\n")
    return float(seconds), json.loads(body)


BASE_MS = int(time.time() * 1000) - 2 * 24 * 3600 * 1000


def batch(index, lines):
    """Lines index*BATCH ..: (ms, host, level, logger, message). A batch is
    one host's; hosts take turns, each behind the one before by 40 s."""
    rng = random.Random(index)
    host = index % HOSTS
    rows = []
    table = zipf_table()
    for n in range(index * BATCH, min((index + 1) * BATCH, lines)):
        words = " ".join(f"v{w}" for w in rng.choices(range(VOCABULARY), cum_weights=table, k=3))
        message = (f"request seq{n} for tenant acme.com api pizzashack {words} "
                   f"handled in {rng.randrange(1, 900)} ms")
        rows.append((BASE_MS + n * 2 - host * 40_000, f"gw-{host}", LEVELS[rng.randrange(20)],
                     LOGGERS[n % 5], message))
    return rows


def iso(ms):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms // 1000)) + ".%03dZ" % (ms % 1000)


def origins(index, rows):
    """Where the agent read each line of batch `index` (a host's file, its
    fingerprint and the line's byte offset) and the id it sends for it:
    32 hex digits of xxh3-128 of host, fingerprint and offset, each after
    its length (aerie_wire::Origin::id). A file's lines follow one another:
    each offset is the one before plus the line as the product writes it;
    a host's next batch starts further on than its lines could reach."""
    host = rows[0][1] if rows else ""
    fingerprint = xxhash.xxh3_64_intdigest(f"{host} wso2carbon.log".encode())
    offset = (index // HOSTS) * BATCH * 1024
    out = []
    for ms, host, level, logger, message in rows:
        parts = [host.encode(), fingerprint.to_bytes(8, "little"), offset.to_bytes(8, "little")]
        hashed = b"".join(len(part).to_bytes(8, "little") + part for part in parts)
        out.append((fingerprint, offset, "%032x" % xxhash.xxh3_128_intdigest(hashed)))
        offset += len(f"TID: [-1234] [] [{iso(ms)}] {level} {{{logger}}} - {message}\n")
    return out


def monitor_body(index, rows):
    events = ",".join(
        '{"id":"%s","@timestamp":"%s","kind":"log","file":"/opt/wso2/logs/wso2carbon.log","level":"%s","logger":"%s","message":"%s","parsed":true,"origin":{"fingerprint":%d,"offset":%d}}'
        % (line_id, iso(ms), level, logger, message, fingerprint, offset)
        for (ms, _, level, logger, message), (fingerprint, offset, line_id) in zip(rows, origins(index, rows)))
    body = '{"environment":"bench","host":"%s","agent":"bench","events":[%s]}' % (rows[0][1], events)
    return zstandard.ZstdCompressor(level=-1).compress(body.encode())


# The count rows: the total alone (the monitor's count API asked `by=`,
# ClickHouse's count()), and the count API's default answer (per host, with
# each host's newest line, and per time bucket of the monitor's step).
COUNTS = ("count", "count per host and bucket")
# The engines, in the report's columns.
ENGINES = ("monitor", "indexed", "plain")


def pct(samples):
    samples = sorted(samples)
    return (samples[len(samples) // 2] * 1000, samples[min(len(samples) - 1, int(0.99 * len(samples)))] * 1000)


def middling_words(rows, rng, count):
    """Words of the vocabulary found in about 0.01-0.1 % of the lines."""
    seen = {}
    for _, _, _, _, message in rows:
        for word in message.split():
            if word.startswith("v"):
                seen[word] = seen.get(word, 0) + 1
    total = len(rows)
    fit = [w for w, c in seen.items() if total * 0.0001 <= c <= total * 0.001] or list(seen)
    return rng.sample(fit, min(count, len(fit)))


def start_monitor(data):
    """A monitor of its own at `data`, ready: (its process, its port)."""
    port = free_port()
    with open(f"{data}.toml", "w") as f:
        f.write(f'listen = "127.0.0.1:{port}"\ndata_dir = "{data}"\nmax_batch_bytes = "256 MiB"\n'
                f'[jobs]\nusage_every = "1d"\nretention_every = "1d"\n'
                f'[retention]\nlogs = "365d"\n'
                f'[[environment]]\nname = "bench"\ningest_token = "{TOKEN}"\n'
                f'[[user]]\nname = "ops"\nrole = "operator"\ntoken = "{USER_TOKEN}"\n')
    monitor = subprocess.Popen([f"{ROOT}/target/release/aerie-monitor", "serve", "--config", f"{data}.toml"],
                               stdout=open(f"{data}.log", "w"), stderr=subprocess.STDOUT)
    wait_http(port, "/api/v1/openapi.json")
    return monitor, port


def monitor_ingest(data, bodies):
    """One ingest of `bodies` into a new monitor at `data`, on the ARRIVAL
    schedule: (its figures as `ch_ingest` prints them, the monitor, still
    running, and its port)."""
    monitor, port = start_monitor(data)
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json", "Content-Encoding": "zstd"}
    start_mb = status_mb(monitor.pid, "VmRSS")
    before, started = cpu(monitor.pid), time.time()

    def ingest(i):
        on_schedule(i, started)
        body, count = bodies[i]
        answer = json.loads(request(port, "POST", "/api/v1/ingest", body, headers))
        if answer.get("accepted") != count:
            raise SystemExit(f"the monitor took {answer.get('accepted')} of {count} lines: {str(answer)[:300]}")
    parallel(range(len(bodies)), ingest)
    wall = time.time() - started
    used = settled(lambda: cpu(monitor.pid)) - before
    figures = {"cpu": used, "wall": wall, "peak_mb": status_mb(monitor.pid, "VmHWM"), "start_mb": start_mb,
               "disk": du(data), "parts": segment_parts(f"{data}/embedded/logs/segments")}
    return figures, monitor, port


def stop(process):
    process.terminate()
    process.wait()


def one_size(lines, work):
    """Each engine's ingest RUNS times, each into new files; the queries
    over the last run's."""
    batches = range((lines + BATCH - 1) // BATCH)
    out = {"lines": lines, "ingest": {engine: [] for engine in ENGINES}}
    monitor = session = None
    try:
        # Bodies and TSV files are made before the clocks start.
        bodies, tsvs, with_ids, sample = [], [], [], []
        for i in batches:
            rows = batch(i, lines)
            if i % 50 == 0:
                sample.extend(rows)
            bodies.append((monitor_body(i, rows), len(rows)))
            path = f"{work}/batch-{i}.tsv"
            with open(path, "w") as f:
                f.writelines(f"{iso(ms)[:-1].replace('T', ' ')}\t{host}\t{level}\t{logger}\t{message}\n"
                             for ms, host, level, logger, message in rows)
            tsvs.append(path)
            path = f"{work}/batch-{i}-ids.tsv"
            with open(path, "w") as f:
                f.writelines(f"{iso(ms)[:-1].replace('T', ' ')}\t{host}\t{level}\t{logger}\t{message}\t{line_id}\n"
                             for (ms, host, level, logger, message), (_, _, line_id) in zip(rows, origins(i, rows)))
            with_ids.append(path)
        for run in range(RUNS):
            last = run == RUNS - 1
            data, folder = f"{work}/monitor-{lines}-{run}", f"{work}/chdb-{lines}-{run}"
            figures, monitor, port = monitor_ingest(data, bodies)
            out["ingest"]["monitor"].append(figures)
            if not last:
                stop(monitor)
                subprocess.run(["rm", "-rf", data])
            for table in ("indexed", "plain"):
                out["ingest"][table].append(ch_ingest_run(folder, table, tsvs))
            if not last:
                subprocess.run(["rm", "-rf", folder])
            print(f"  ingest run {run + 1} of {RUNS} done", file=sys.stderr, flush=True)
        bodies.clear()
        out["with_ids_disk"] = ch_ingest_run(folder, "with_ids", with_ids)["disk"]
        for path in tsvs + with_ids:
            os.remove(path)
        session = chdb.session.Session(folder)
        ch = lambda sql: session.query(sql, "JSONCompact")

        rng = random.Random(lines)
        frm = iso(BASE_MS - 3600_000)
        kinds = {
            "rare term": [(f"q=seq{n}", f"hasToken(message, 'seq{n}')") for n in rng.sample(range(lines), QUERIES)],
            "level + term": [(f"level=ERROR&q={w}", f"level = 'ERROR' AND hasToken(message, '{w}')")
                             for w in middling_words(sample, rng, QUERIES)],
            "newest 100": [("", "1") for _ in range(QUERIES)],
        }
        count_words = middling_words(sample, rng, QUERIES)
        figures, expected = {}, {}
        for run in range(RUNS):
            for kind, queries in kinds.items():
                for engine in ENGINES:
                    times = []
                    for at, (q, where) in enumerate(queries):
                        if engine == "monitor":
                            seconds, page = timed_get(port, f"/api/v1/logs?env=bench&from={frm}&limit=100&{q}")
                            found = len(page["lines"])
                        else:
                            started = time.perf_counter()
                            answer = ch(f"SELECT ts, host, message FROM b.{engine} WHERE {where} ORDER BY ts DESC LIMIT 100 {NO_CACHE}")
                            seconds = time.perf_counter() - started
                            found = len(json.loads(answer.bytes())["data"])
                        times.append(seconds)
                        if engine == "monitor":
                            expected[(kind, at)] = found
                        elif found != expected[(kind, at)]:
                            raise SystemExit(f"{kind} {q}: the monitor found {expected[(kind, at)]} lines, ClickHouse ({engine}) {found}")
                    figures.setdefault((kind, engine), []).append(pct(times))
            # The monitor's count API, asked for the total alone, then for
            # the total, per host (with its newest line) and per time bucket.
            for kind, by in zip(COUNTS, ("&by=", "")):
                times = []
                for at, word in enumerate(count_words):
                    seconds, answer = timed_get(port, f"/api/v1/logs/count?env=bench&from={frm}&q={word}{by}")
                    times.append(seconds)
                    if kind == "count":
                        expected[("count", at)] = answer["total"]
                        continue
                    if answer["total"] != expected[("count", at)]:
                        raise SystemExit(f"count {word}: the monitor counted {expected[('count', at)]} in all, "
                                         f"{answer['total']} per host and bucket")
                    expected[(kind, at)] = (answer["total"], {h["host"]: h["count"] for h in answer["hosts"]},
                                            sorted(b["count"] for b in answer["buckets"]), answer["step_ms"])
                figures.setdefault((kind, "monitor"), []).append(pct(times))
            for engine in ("indexed", "plain"):
                for kind in COUNTS:
                    times = []
                    for at, word in enumerate(count_words):
                        total, hosts, buckets, step = expected[(COUNTS[1], at)]
                        where = f"hasToken(message, '{word}')"
                        if kind == "count":
                            query = f"SELECT count() FROM b.{engine} WHERE {where} {NO_CACHE}"
                        else:
                            query = (f"SELECT host, intDiv(toUnixTimestamp64Milli(ts), {step}) AS bucket, count(), "
                                     f"argMax(message, ts) FROM b.{engine} WHERE {where} "
                                     f"GROUP BY GROUPING SETS ((host), (bucket)) {NO_CACHE}")
                        started = time.perf_counter()
                        answer = ch(query)
                        seconds = time.perf_counter() - started
                        times.append(seconds)
                        rows = json.loads(answer.bytes())["data"]
                        if kind == "count":
                            wrong = int(rows[0][0]) != total
                        else:
                            # A grouping set leaves the other key at its default.
                            by_host = {row[0]: int(row[2]) for row in rows if row[0] != ""}
                            by_bucket = sorted(int(row[2]) for row in rows if row[0] == "")
                            wrong = by_host != hosts or by_bucket != buckets
                        if wrong:
                            raise SystemExit(f"{kind} {word}: the monitor counted {expected[(COUNTS[1], at)]}, "
                                             f"ClickHouse ({engine}) {rows[:20]}")
                    figures.setdefault((kind, engine), []).append(pct(times))
        out["queries"] = {f"{kind}|{engine}": runs for (kind, engine), runs in figures.items()}
        out["monitor_peak_rss_mb"] = status_mb(monitor.pid, "VmHWM")
        out["monitor_rss_mb"] = status_mb(monitor.pid, "VmRSS")
    finally:
        if monitor is not None:
            stop(monitor)
        if session is not None:
            session.close()
    return out


def median_spread(runs, at):
    """The median, least and most of the runs' figures (each run's `at`th
    when `at` is not None)."""
    values = [r if at is None else r[at] for r in runs]
    return statistics.median(values), min(values), max(values)


def report(results):
    lines = ["## Logs: the monitor's embedded store against ClickHouse 26 (chDB)", "",
             f"Measured {time.strftime('%Y-%m-%d')} by `bench/logs_vs_chdb.py` on {os.cpu_count()} cores; "
             f"chDB {chdb.__version__} (ClickHouse {chdb.session.Session().query('SELECT version()', 'CSV').bytes().decode().strip()[1:-1]}). "
             f"Each engine ingests each size {RUNS} times, into new files each time, its batches of {BATCH:,} lines "
             f"offered at {ARRIVAL:,} lines a second; the ingest, memory and disk figures are the median of those runs. "
             f"Query figures are the median over {RUNS} runs, over the last ingest's files, of each run's p50 and p99 "
             f"({QUERIES} queries each). Spread in brackets; ratios are monitor / ClickHouse with the text index.", ""]
    for r in results:
        n = r["lines"]
        lines += [f"### {n:,} lines", "",
                  "| | monitor | CH 26 + text index | CH 26, no index | monitor / CH indexed |",
                  "|---|---:|---:|---:|---:|"]
        runs = r["ingest"]

        def row(label, cells, form):
            """A table row of each engine's (median, least, most) in `form`,
            and the monitor's median over ClickHouse-with-index's; the
            medians."""
            text = [f"{m:{form}} ({lo:{form}}-{hi:{form}})" for m, lo, hi in cells]
            lines.append(f"| {label} | {text[0]} | {text[1]} | {text[2]} | "
                         f"**{cells[0][0] / max(cells[1][0], 1e-9):.2f}x** |")
            return [m for m, _, _ in cells]

        def ingest_row(label, figure):
            return row(label, [median_spread([figure(run) for run in runs[engine]], None) for engine in ENGINES], ",.0f")

        ingest_row("ingest, lines per CPU-second", lambda run: n / run["cpu"])
        ingest_row(f"ingest, lines per second (offered {ARRIVAL:,})", lambda run: n / run["wall"])
        ingest_row("peak memory while ingesting, MB above the process's start", lambda run: run["peak_mb"] - run["start_mb"])
        monitor_disk, _, plain_disk = ingest_row("disk, MB", lambda run: run["disk"] / 1e6)
        for kind in ("rare term", "level + term", "newest 100", *COUNTS):
            for at, name in ((0, "p50"), (1, "p99")):
                row(f"{kind} {name}, ms", [median_spread(r["queries"][f"{kind}|{engine}"], at) for engine in ENGINES], ".1f")
        lines.append(f"| monitor peak memory with the queries (last run), MB | {r['monitor_peak_rss_mb']:,.0f} | | | |")
        lines.append(f"| monitor memory after the queries, MB | {r.get('monitor_rss_mb', 0):,.0f} | | | |")
        lines.append("")
        starts = [statistics.median(run["start_mb"] for run in runs[engine]) for engine in ENGINES]
        lines += [f"Each process's resident set when it was ready to ingest, left out of the peak above: the monitor "
                  f"{starts[0]:,.0f} MB, the chDB process (Python and ClickHouse's library) {starts[1]:,.0f} MB "
                  f"and {starts[2]:,.0f} MB.", ""]
        if runs["monitor"][-1].get("parts"):
            granules, index, ids, rest = (b / 1e6 for b in runs["monitor"][-1]["parts"])
            lines += [f"The monitor's segments hold {granules:,.0f} MB of granules, {index:,.0f} MB of term index, "
                      f"{ids:,.0f} MB of id hashes and {rest:,.0f} MB of meta; the rest of its disk is the WAL.", ""]
        if r.get("with_ids_disk"):
            lines += [f"ClickHouse without an index, holding each line's id as well (as the monitor does, to drop a line "
                      f"sent again): {r['with_ids_disk'] / 1e6:,.0f} MB; the monitor's disk is "
                      f"**{monitor_disk / (r['with_ids_disk'] / 1e6):.2f}x** that, and "
                      f"**{monitor_disk / plain_disk:.2f}x** ClickHouse's without an index or ids.", ""]
    lines += ["The ingest rows above 1x are better for the monitor; every other ratio below 1x is.", ""]
    return "\n".join(lines)


def main():
    work = tempfile.mkdtemp(prefix="aerie-logs-bench-")
    results = []
    try:
        for lines in SIZES:
            print(f"{lines:,} lines ...", file=sys.stderr, flush=True)
            results.append(one_size(lines, work))
            json.dump(results, open(f"{ROOT}/bench/logs_vs_chdb.json", "w"), indent=1)
    finally:
        subprocess.run(["rm", "-rf", work])
    text = report(results)
    open(f"{ROOT}/bench/RESULTS-logs.md", "w").write(text)
    print(text)


if __name__ == "__main__":
    if sys.argv[1:2] == ["ch-ingest"]:
        ch_ingest(*sys.argv[2:5])
    else:
        main()
