"""Benchmark: how long `aerie backup run` and `aerie backup list` take.

The example environment (bastion, two gateways, two traffic managers: five
nodes, and the database) applied to moto_server with the DR region on the
same server. Then, three times each, median reported:

- run: one whole `aerie backup run` (an RDS and five EBS snapshots, the
  artifacts archive, all of it copied to the DR region, the manifests);
- list: `aerie backup list --format json` over 90 days of backups (one
  database and five volume snapshots per day in each region, made through
  the AWS API with backdated tags, plus the runs above).

The goals (issue 17): a run under 30 s, list under 2 s. moto answers at
once, so the figures are Aerie's own calls and waits, not AWS's snapshot
times. No peer is named for this one; the figures are absolute.

Usage: .venv/bin/python bench/backup_speed.py [path/to/aerie]  (default: the release
binary; bench/run backup builds it)."""

import datetime
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import boto3  # moto's dependency: run with the project's .venv/bin/python

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

REGION, DR, ENV = "eu-west-1", "eu-central-1", "acme-prod"
MOTO_AMI = "ami-03cf127a"
RUNS = 3
DAYS = 90


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    aerie = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "aerie")
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    moto = subprocess.Popen(
        [os.path.join(ROOT, ".venv", "bin", "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline:
                    sys.exit("moto_server did not start")
                time.sleep(0.2)
        env = dict(
            os.environ,
            AWS_ENDPOINT_URL=endpoint,
            AWS_REGION=REGION,
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
        )
        work = tempfile.mkdtemp()
        spec = os.path.join(work, "acme.toml")
        with open(os.path.join(ROOT, "examples", "acme.toml")) as f:
            text = f.read().replace('ami = "ami-0c1bc246476a5572b"', f'ami = "{MOTO_AMI}"')
        with open(spec, "w") as f:
            f.write(text)

        def aerie_run(*args):
            started = time.perf_counter()
            done = subprocess.run([aerie, *args, "--spec", spec], env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - started
            if done.returncode != 0:
                sys.exit(f"aerie {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
            return elapsed, done.stdout

        aerie_run("env", "apply", "--yes")
        run_times = [aerie_run("backup", "run")[0] for _ in range(RUNS)]
        backdate(endpoint)
        list_times, listed = [], 0
        for _ in range(RUNS):
            elapsed, out = aerie_run("backup", "list", "--format", "json")
            list_times.append(elapsed)
            listed = len(json.loads(out))
        report(run_times, list_times, listed, aerie)
    finally:
        moto.terminate()
        moto.wait()


def backdate(endpoint):
    """90 days of backups made through the AWS API, with backdated tags."""
    session = dict(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    for region in (REGION, DR):
        ec2 = boto3.client("ec2", region_name=region, **session)
        rds = boto3.client("rds", region_name=region, **session)
        volumes = [ec2.create_volume(AvailabilityZone=f"{region}a", Size=8)["VolumeId"] for _ in range(5)]
        db = f"bench-{region}"
        rds.create_db_instance(
            DBInstanceIdentifier=db, DBInstanceClass="db.t3.micro", Engine="mysql",
            MasterUsername="bench", MasterUserPassword="bench-password-1", AllocatedStorage=20,
        )
        for day in range(1, DAYS + 1):
            taken = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=day)
            run = taken.strftime("%Y%m%d-%H%M%S")
            tags = lambda of: [  # noqa: E731
                {"Key": "aerie:env", "Value": ENV},
                {"Key": "aerie:role", "Value": "gateway-1"},
                {"Key": "aerie:backup", "Value": run},
                {"Key": "aerie:of", "Value": of},
                {"Key": "aerie:taken", "Value": taken.strftime("%Y-%m-%dT%H:%M:%SZ")},
            ]
            for volume in volumes:
                ec2.create_snapshot(
                    VolumeId=volume,
                    TagSpecifications=[{"ResourceType": "snapshot", "Tags": tags(volume)}],
                )
            rds.create_db_snapshot(
                DBInstanceIdentifier=db, DBSnapshotIdentifier=f"aerie-{ENV}-{run}", Tags=tags(db)
            )


def report(run_times, list_times, listed, aerie):
    run, lst = statistics.median(run_times), statistics.median(list_times)
    build = "release" if "/release/" in aerie else "debug"
    lines = [
        "## Backups (bench/backup_speed.py)",
        "",
        f"The example environment (five nodes and the database) on moto_server, both regions on one server; the {build} `aerie`. Medians of {RUNS}.",
        "",
        "| what | goal | measured | runs |",
        "|---|---|---|---|",
        f"| `aerie backup run` (RDS + 5 EBS snapshots, artifacts archive, DR copies, manifests) | < 30 s | {run:.2f} s ({run / 30:.2f}x the goal) | {', '.join(f'{t:.2f}' for t in run_times)} |",
        f"| `aerie backup list` over {DAYS} days ({listed} rows, both regions) | < 2 s | {lst:.2f} s ({lst / 2:.2f}x the goal) | {', '.join(f'{t:.2f}' for t in list_times)} |",
        "",
        f"Measured {datetime.date.today()} on this machine (2 cores).",
    ]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(ROOT, "bench", "RESULTS-backup.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
