"""Benchmark: how long `aerie backup run`, `aerie backup list` and
`aerie dr drill` take.

The example environment (bastion, two gateways, two traffic managers: five
nodes, and the database) applied to moto_server with the DR region on the
same server. Then, three times each, median reported:

- run: one whole `aerie backup run` (an RDS and five EBS snapshots, the
  artifacts archive, all of it copied to the DR region, the manifests);
- list: `aerie backup list --format json` over 90 days of backups (one
  database and five volume snapshots per day in each region, made through
  the AWS API with backdated tags, plus the runs above).

- drill: one whole `aerie dr drill` (runbooks/drill.toml: the failover in
  isolation: the DR site's network through the planner, the newest DR
  copy of the database restored and checked over SQL, the nodes' volumes
  from their DR snapshot copies, the site's artifacts bucket with its
  bundles and the distributions from the backup's archive, the site's IAM
  roles and instance profiles, the five instances launched, the drill's
  own private zone, every node's health checked, all of it torn down), its
  database endpoint routed to a local MariaDB server serving TLS only
  (a certificate for the DR region's RDS names from a CA of the bench's,
  given as --database-ca) holding the product's tables (moto keeps no data
  behind an RDS instance) and the nodes' health URLs to local HTTPS
  servers answering 200.

The goals (issue 17): a run under 30 s, list under 2 s; (issue 18) a drill
under 60 s. moto answers at
once, so the figures are Aerie's own calls and waits, not AWS's snapshot
times. No peer is named for this one; the figures are absolute.

Usage: .venv/bin/python bench/backup_speed.py [path/to/aerie]  (default: the release
binary; bench/run backup builds it)."""

import datetime
import getpass
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


def moto_mender(upstream_port):
    """A small forwarding proxy in front of moto_server that renames the
    root element of moto 5.2's GetBucketVersioning answer, which the Rust
    SDK cannot read (the tests' fault proxy does the same, and nothing
    else); answers its port."""
    import http.client
    import http.server
    import threading

    class Forward(http.server.BaseHTTPRequestHandler):
        def forward(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=300)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            if self.command == "GET" and self.path.endswith("?versioning"):
                data = data.replace(b"GetBucketVersioningResponse", b"VersioningConfiguration")
            self.send_response(answer.status)
            for key, value in answer.getheaders():
                if key.lower() not in ("content-length", "transfer-encoding", "connection"):
                    self.send_header(key, value)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


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
            AWS_ENDPOINT_URL=f"http://127.0.0.1:{moto_mender(port)}",
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
        floor_times = [moto_floor(endpoint) for _ in range(RUNS)]
        drill_times = time_drills(aerie_run, endpoint, work)
        report(run_times, list_times, listed, floor_times, drill_times, aerie)
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


def moto_floor(endpoint):
    """The same listing calls `backup list` makes, made one after another
    with boto3 straight to moto_server: what moto itself takes to answer."""
    session = dict(endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    started = time.perf_counter()
    for region in (REGION, DR):
        rds = boto3.client("rds", region_name=region, **session)
        ec2 = boto3.client("ec2", region_name=region, **session)
        s3 = boto3.client("s3", region_name=region, **session)
        for _ in rds.get_paginator("describe_db_snapshots").paginate(SnapshotType="manual"):
            pass
        filters = [{"Name": "tag:aerie:env", "Values": [ENV]}, {"Name": "tag-key", "Values": ["aerie:backup"]}]
        for _ in ec2.get_paginator("describe_snapshots").paginate(OwnerIds=["self"], Filters=filters):
            pass
        s3.list_objects_v2(Bucket=f"aerie-{ENV}-{region}-backups", Prefix="archives/")
    return time.perf_counter() - started


def time_drills(aerie_run, endpoint, work):
    """Three drills against a local MariaDB server standing in for the
    restored database."""
    data, sock = os.path.join(work, "mariadb-data"), os.path.join(work, "mariadb.sock")
    user = getpass.getuser()
    subprocess.run(
        ["/usr/bin/mariadb-install-db", "--no-defaults", f"--datadir={data}", f"--user={user}",
         "--auth-root-authentication-method=normal", "--skip-test-db"],
        check=True, capture_output=True,
    )
    port = free_port()
    ca, cert, key = database_certificate(work)
    server = subprocess.Popen(
        ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}",
         f"--pid-file={work}/mariadb.pid", f"--port={port}", "--bind-address=127.0.0.1",
         f"--user={user}", "--skip-name-resolve", "--innodb-buffer-pool-size=16M",
         f"--ssl-ca={ca}", f"--ssl-cert={cert}", f"--ssl-key={key}", "--require-secure-transport"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while not os.path.exists(sock):
            if time.time() > deadline:
                sys.exit("mariadbd did not start")
            time.sleep(0.2)
        secrets = boto3.client(
            "secretsmanager", region_name=REGION, endpoint_url=endpoint,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )
        password = secrets.get_secret_value(SecretId=f"aerie/{ENV}/rds-master")["SecretString"]
        sql = "CREATE USER 'aerieadmin'@'%' IDENTIFIED BY '{}';\nGRANT ALL ON *.* TO 'aerieadmin'@'%';\n".format(
            password.replace("\\", "\\\\").replace("'", "''")
        )
        for db, tables in TABLES.items():
            sql += f"CREATE DATABASE {db};\n" + "".join(f"CREATE TABLE {db}.{t} (id INT);\n" for t in tables)
        subprocess.run(["/usr/bin/mariadb", f"--socket={sock}", "--user=root"], input=sql, text=True, check=True)
        journal = os.path.join(work, "dr-runs")
        routes = ["--connect-to", f"*:3306=127.0.0.1:{port}", "--database-ca", ca]
        health = health_servers(work)
        for services, (_, health_port) in zip((9443, 9444, 9445), health):
            routes += ["--connect-to", f"*:{services}=127.0.0.1:{health_port}"]
        try:
            return [aerie_run("dr", "drill", "--journal", journal, *routes)[0] for _ in range(RUNS)]
        finally:
            for httpd, _ in health:
                httpd.shutdown()
    finally:
        server.terminate()
        server.wait()


def database_certificate(work):
    """A CA of the bench's and a certificate it signed for the DR region's
    RDS names (RDS's own scheme: one wildcard per region): (CA, cert, key)."""
    ca, ca_key = os.path.join(work, "rds-ca.pem"), os.path.join(work, "rds-ca.key")
    cert, key = os.path.join(work, "rds.pem"), os.path.join(work, "rds.key")
    csr, ext = os.path.join(work, "rds.csr"), os.path.join(work, "rds.ext")
    name = f"*.aaaaaaaaaa.{DR}.rds.amazonaws.com"
    openssl = lambda *args: subprocess.run(["openssl", *args], check=True, capture_output=True)
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            "-subj", "/CN=bench RDS CA", "-keyout", ca_key, "-out", ca)
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}", "-keyout", key, "-out", csr)
    with open(ext, "w") as f:
        f.write(f"subjectAltName=DNS:{name}\n")
    openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
            "-days", "1", "-extfile", ext, "-out", cert)
    return ca, cert, key


def health_servers(work):
    """Three HTTPS servers answering the product's health URL with 200
    (the gateways', the first and the second traffic manager's), with a
    self-signed certificate as the product has."""
    import http.server
    import ssl
    import threading

    cert, key = os.path.join(work, "health.pem"), os.path.join(work, "health.key")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
        check=True, capture_output=True,
    )

    class Version(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"WSO2 API Manager\n")

        def log_message(self, *args):
            pass

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    servers = []
    for _ in range(3):
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Version)
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append((httpd, httpd.server_address[1]))
    return servers


# What runbooks/drill.toml checks.
TABLES = {
    "apimgt": ["AM_API", "AM_APPLICATION", "AM_SUBSCRIPTION"],
    "usermgt": ["UM_USER", "UM_ROLE"],
    "registry": ["REG_RESOURCE", "REG_PATH"],
}


def report(run_times, list_times, listed, floor_times, drill_times, aerie):
    run, lst = statistics.median(run_times), statistics.median(list_times)
    floor = statistics.median(floor_times)
    drill = statistics.median(drill_times)
    build = "release" if "/release/" in aerie else "debug"
    lines = [
        "## Backups and DR drills (bench/backup_speed.py)",
        "",
        f"The example environment (five nodes and the database) on moto_server, both regions on one server; the {build} `aerie`. Medians of {RUNS}.",
        "",
        "| what | goal | measured | runs |",
        "|---|---|---|---|",
        f"| `aerie backup run` (RDS + 5 EBS snapshots, artifacts archive, DR copies, manifests) | < 30 s | {run:.2f} s ({run / 30:.2f}x the goal) | {', '.join(f'{t:.2f}' for t in run_times)} |",
        f"| `aerie backup list` over {DAYS} days ({listed} rows, both regions) | < 2 s | {lst:.2f} s ({lst / 2:.2f}x the goal) | {', '.join(f'{t:.2f}' for t in list_times)} |",
        f"| the same listing calls with boto3, one after another (moto's own time: the floor) | - | {floor:.2f} s (list is {lst / floor:.2f}x it) | {', '.join(f'{t:.2f}' for t in floor_times)} |",
        f"| `aerie dr drill` (network, restore, SQL check over TLS, volumes, artifacts bucket, IAM roles, five nodes, zone, health checks, teardown) | < 60 s | {drill:.2f} s ({drill / 60:.2f}x the goal) | {', '.join(f'{t:.2f}' for t in drill_times)} |",
        "",
        f"`backup list` is {lst / floor:.2f}x the time moto_server itself takes to answer the same listing calls: its time is moto's (a Python server), not Aerie's ({lst - floor:+.2f} s beside it), so its goal is not reachable against moto on this machine.",
        "",
        f"Measured {datetime.date.today()} on this machine (2 cores).",
    ]
    text = "\n".join(lines) + "\n"
    with open(os.path.join(ROOT, "bench", "RESULTS-backup.md"), "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
