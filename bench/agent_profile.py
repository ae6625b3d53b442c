"""Benchmark: where the agent's CPU goes per shipped event, in instructions
counted by valgrind's callgrind (which do not move with the machine's load),
beside rsyslog's instructions per event for the same file.

Both shippers run under callgrind on a smaller file of the same events
(PROFILE_EVENTS, 100,000 by default) into the same null sink. The agent's
instructions are split into the stages of its pipeline by the inclusive cost
of the functions that do each stage. Only user-space instructions are
counted: the kernel's share (reads, writes, fsync, sockets) is the system
CPU time the main benchmark reports beside it.

Writes bench/RESULTS-agent-profile.md. Run it with bench/run agent."""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from agent_vs_rsyslog import ROOT, agent_config, free_port, rsyslog_config, wait_count  # noqa: E402

EVENTS = int(os.environ.get("PROFILE_EVENTS", "100000"))
# A build with line tables and symbols (bench/run agent makes it).
AGENT = os.environ.get("PROFILE_AGENT", os.path.join(ROOT, "target", "profile", "release", "aerie-agent"))

# The functions whose inclusive cost splits the agent's instructions into its
# pipeline's stages (regular expressions over callgrind's function names).
FUNCTIONS = {
    "source": r"^aerie_agent::sources::file::run$",
    "poll": r"^aerie_agent::sources::file::tailer::Tailer::poll$",
    "line": r"^<aerie_agent::sources::file::LogEvents as aerie_agent::sources::file::tailer::LineSink>::line$",
    "finish": r"^aerie_agent::sources::file::LogEvents::finish$",
    "parse": r"^aerie_agent::sources::file::parse::product_line$",
    "id": r"^aerie_wire::EventId::of$",
    "json": r"^aerie_wire::json::<impl aerie_wire::LogRef>::write_json$",
    "queue": r"^aerie_agent::sources::context::SourceContext::queue_records$",
    "peek": r"^aerie_agent::queue::DiskQueue::peek$",
    "sink": r"^aerie_agent::sinks::monitor::MonitorSink::run::\{\{closure\}\}$",
    "body": r"^aerie_agent::sinks::monitor::MonitorSink::body$",
    "compress": r"^aerie_agent::sinks::monitor::compression::Encoder::encode$",
}

# Each stage as a sum of those costs (a minus for what a caller's cost
# holds of a stage listed on its own), in pipeline order.
STAGES = [
    ("read the file, split it into lines", {"poll": 1, "line": -1}),
    ("check lines are UTF-8, join stack traces", {"line": 1, "finish": -1}),
    ("parse the product format", {"parse": 1}),
    ("give each event its id", {"id": 1}),
    ("write its JSON record", {"json": 1}),
    ("the rest of finishing an event", {"finish": 1, "parse": -1, "id": -1, "json": -1}),
    ("write the disk queue (checksum, fsync call)", {"queue": 1}),
    ("the reading loop's rest (checkpoints)", {"source": 1, "poll": -1, "queue": -1}),
    ("read batches back from the queue", {"peek": 1}),
    ("join a batch into one body", {"body": 1, "compress": -1}),
    ("compress the body (zstd)", {"compress": 1}),
    ("send it (HTTP, the async runtime)", {"sink": 1, "body": -1}),
]

def callgrind(name, command, count_file, column, work, before=None):
    """Runs `command` under callgrind until the sink has EVENTS more; answers
    the output file."""
    if before:
        before()
    out = os.path.join(work, f"callgrind.{name}.out")
    log = open(os.path.join(work, f"callgrind.{name}.log"), "w")
    base = int(open(count_file).read().split()[column])
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no", *command],
        stdout=log, stderr=subprocess.STDOUT)
    done = wait_count(count_file, column, base + EVENTS, timeout=1800)
    process.terminate()
    process.wait(timeout=120)
    if not done:
        sys.exit(f"{name} under callgrind did not deliver {EVENTS} events; see {log.name}")
    return out


def annotate(out):
    """Total instructions and each function's inclusive instructions."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", out],
                          capture_output=True, text=True, check=True).stdout
    total = 0
    functions = {}
    for line in text.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
        match = re.match(r"\s*([\d,]+) \([^)]*\)\s+(?:[^\s:]+:)?(.+?)(?: \[.*\])?$", line)
        if match:
            cost = int(match.group(1).replace(",", ""))
            function = match.group(2).strip()
            functions[function] = max(functions.get(function, 0), cost)
    return total, functions


def stage_costs(functions):
    """Each stage's instructions, from the functions' inclusive costs."""
    inclusive = {}
    for key, pattern in FUNCTIONS.items():
        regex = re.compile(pattern)
        inclusive[key] = max((cost for function, cost in functions.items() if regex.search(function)), default=0)
    return [(stage, max(sum(sign * inclusive[key] for key, sign in terms.items()), 0)) for stage, terms in STAGES]


def main():
    work = tempfile.mkdtemp(prefix="aerie-profile-")
    data = os.path.join(work, "events.log")
    subprocess.run([sys.executable, os.path.join(ROOT, "bench", "gen_logs.py"), data, str(EVENTS)], check=True)
    tcp_port, http_port = free_port(), free_port()
    count_file = os.path.join(work, "counts")
    open(count_file, "w").write("0 0\n")
    sink = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "null_sink.py"),
                             str(tcp_port), str(http_port), count_file])
    time.sleep(1)
    try:
        rsyslog_conf = rsyslog_config(work, data, tcp_port)
        rsyslog_out = callgrind("rsyslog", ["rsyslogd", "-n", "-f", rsyslog_conf, "-i", os.path.join(work, "rsyslog.pid")],
                                count_file, 0, work)
        agent_conf = agent_config(work, data, http_port)
        agent_out = callgrind("aerie-agent", [AGENT, "run", "--config", agent_conf], count_file, 1, work)
    finally:
        sink.terminate()

    rsyslog_total, _ = annotate(rsyslog_out)
    agent_total, functions = annotate(agent_out)
    per = lambda cost: cost / EVENTS  # noqa: E731
    rows = []
    counted = 0
    for stage, cost in stage_costs(functions):
        counted += cost
        rows.append(f"| {stage} | {per(cost):,.0f} | {100 * cost / agent_total:.1f} % |")
    rest = max(agent_total - counted, 0)
    rows.append(f"| everything else (start-up, host metrics, threads) | {per(rest):,.0f} | {100 * rest / agent_total:.1f} % |")
    text = f"""## Instructions per event: the agent and rsyslog under callgrind

{EVENTS:,} events of the same kind as the main benchmark, each shipper run once under
`valgrind --tool=callgrind` into the same null sink (user-space instructions only; the
kernel's share is the system CPU of the main table).

| | instructions per event |
|---|---:|
| rsyslog | {per(rsyslog_total):,.0f} |
| aerie-agent | {per(agent_total):,.0f} |
| **agent / rsyslog** | **{agent_total / rsyslog_total:.2f}x** |

Where the agent's instructions go, per event (each stage from the inclusive cost of the
functions that do it, less what they call that is counted as its own stage):

| stage | instructions per event | share |
|---|---:|---:|
""" + "\n".join(rows) + "\n"
    with open(os.path.join(ROOT, "bench", "RESULTS-agent-profile.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
