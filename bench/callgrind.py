#!/usr/bin/env python3
"""Instructions per request of the server (or the bare server), counted by valgrind's callgrind.

The host this project is benchmarked on is noisy (BENCHMARKS.md, "Machine"): requests/s move by
tens of percent between runs. Instruction counts do not: callgrind counts the user-space
instructions every thread of the process executes, the same for the same binary and inputs
whatever else the machine does. Kernel work (socket and file writes, fsync) is not counted.

The server runs under callgrind on a database seeded by the harness (`--keep`), serves N
requests of workload 1 (or the bare server's GET /patients/{id}) over one keep-alive connection,
and is stopped with SIGTERM (so the sealer chains every entry before the counts are written).
Two runs, with 0 and N requests, give the cost of one request as the difference / N; that
includes its share of the audit sealer and of the checkpoints.

    cargo run --release -p healthapi-bench -- --only healthz --keep   # prints the kept paths
    python3 bench/callgrind.py --database-url PATH.db --data-dir DIR [--bare] [--requests 2000]
"""

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

DOCTOR_PASSWORD = "bench-doctor-password-1"
ADMIN_PASSWORD = "bench-admin-password-1"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port, path, proc, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"the server exited with {proc.returncode}")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", path)
            if c.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    sys.exit("the server did not get ready")


def run(args, requests):
    out = tempfile.NamedTemporaryFile(prefix="callgrind.", suffix=".out", delete=False).name
    port = free_port()
    if args.bare:
        cmd = [args.bare_bin, "--database-url", args.database_url, "--bind", f"127.0.0.1:{port}"]
        env = dict(os.environ)
        ready = "/healthz"
    else:
        cmd = [args.server_bin, "serve"]
        env = dict(
            os.environ,
            DATABASE_URL=args.database_url,
            HEALTHAPI_BIND=f"127.0.0.1:{port}",
            HEALTHAPI_DATA_DIR=args.data_dir,
            HEALTHAPI_ADMIN_PASSWORD=ADMIN_PASSWORD,
        )
        ready = "/readyz"
    proc = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"] + cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(port, ready, proc)
        db = sqlite3.connect(args.database_url.removeprefix("sqlite://"))
        ids = [r[0] for r in db.execute("SELECT id FROM patients")]
        db.close()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {}
        prefix = "" if args.bare else "/api/v1"
        if not args.bare:
            conn.request(
                "POST",
                "/api/v1/auth/login",
                body=json.dumps(
                    {"email": "doctor0@bench.healthapi.local", "password": DOCTOR_PASSWORD}
                ),
                headers={"content-type": "application/json"},
            )
            r = conn.getresponse()
            body = json.loads(r.read())
            if r.status != 200:
                sys.exit(f"login failed: {r.status} {body}")
            headers["authorization"] = "Bearer " + body["access_token"]
        rng = random.Random(1)
        for _ in range(requests):
            conn.request("GET", f"{prefix}/patients/{rng.choice(ids)}", headers=headers)
            r = conn.getresponse()
            r.read()
            if r.status != 200:
                sys.exit(f"request failed: {r.status}")
        conn.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    total = 0
    with open(out) as f:
        for line in f:
            m = re.match(r"(?:summary|totals):\s+(\d+)", line)
            if m:
                total = int(m.group(1))
    if args.keep_profiles:
        print(f"callgrind profile of {requests} requests: {out}", file=sys.stderr)
    else:
        os.unlink(out)
    return total


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--database-url", required=True, help="the kept SQLite database file")
    p.add_argument("--data-dir", default="", help="the kept data folder (its audit.key)")
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--bare", action="store_true", help="measure the bare baseline server")
    p.add_argument("--keep-profiles", action="store_true",
                   help="keep the callgrind files (for callgrind_annotate) and print their paths")
    p.add_argument("--server-bin", default="target/release/healthapi")
    p.add_argument("--bare-bin", default="target/release/bare")
    args = p.parse_args()
    idle = run(args, 0)
    loaded = run(args, args.requests)
    per = (loaded - idle) / args.requests
    what = "bare GET /patients/{id}" if args.bare else "workload 1 GET /api/v1/patients/{id}"
    print(f"{what}: {per:,.0f} instructions per request "
          f"({args.requests} requests; {idle:,} with none, {loaded:,} with them)")


if __name__ == "__main__":
    main()
