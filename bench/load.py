"""64 connections for 30 s on three endpoints at once, as a busy deployment sees them: a flow's
view (GET /v1/flows/{id}), a page of the issue log (GET /v1/log/issue) and registering data stores
(POST /v1/data-stores), with wrk as the client. Prints each endpoint's requests, errors and
latency; the bar is zero errors and a POST p99 under 100 ms. On the SQLite state database it also
prints the write-ahead log's peak size during the load and its size after a clean stop (SIGTERM);
the bar is a peak of tens of MB and an empty log after the stop."""

import argparse
import os
import shutil
import subprocess
import tempfile
import threading
import uuid

from common import finished_copy_flows, start_sluice, state_database


class WalWatch:
    """Samples the size of a SQLite database's write-ahead log every 50 ms, keeping the peak."""

    def __init__(self, database):
        self.path = database + "-wal"
        self.peak = 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def size(self):
        try:
            return os.path.getsize(self.path)
        except FileNotFoundError:
            return 0

    def watch(self):
        while not self.stopped.wait(0.05):
            self.peak = max(self.peak, self.size())

    def stop(self):
        self.stopped.set()
        self.thread.join()

HERE = os.path.dirname(os.path.abspath(__file__))
LOAD = os.path.join(HERE, "load")


def load(binary, label, settings, seconds, connections):
    data = tempfile.mkdtemp(prefix="sluice-bench-load-")
    process, api = start_sluice(binary, data, **settings)
    wal = None if "SLUICE__DATABASE__URL" in settings else WalWatch(state_database(data))
    try:
        [(flow, _)] = finished_copy_flows(api, data, 1)
        root = api[: -len("/v1")]
        per_endpoint = [connections - 2 * (connections // 3), connections // 3, connections // 3]
        runs = [
            ("GET /v1/flows/{id}", [f"{root}/v1/flows/{flow}"], "get.lua", []),
            ("GET /v1/log/issue", [f"{root}/v1/log/issue?dataset=conservation-area&limit=50"], "get.lua", []),
            ("POST /v1/data-stores", [root], "post_data_store.lua", ["--", uuid.uuid4().hex[:8]]),
        ]
        env = dict(os.environ, SLUICE_BENCH_LOAD_DIR=LOAD)
        clients = [
            subprocess.Popen(["wrk", "-t1", f"-c{n}", f"-d{seconds}s", "--timeout", "5s",
                              "-s", os.path.join(LOAD, script), *url, *args],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for (_, url, script, args), n in zip(runs, per_endpoint)
        ]
        failed = False
        for (name, *_), n, client in zip(runs, per_endpoint, clients):
            out, _ = client.communicate()
            line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
            if line is None:
                raise SystemExit(f"wrk gave no result for {name}:\n{out}")
            requests, status, connect, read, write, timeout, p50, p99, worst = line.split()[1:]
            errors = sum(int(x) for x in (status, connect, read, write, timeout))
            print(f"{label:10}{name:24}{n:>6}{int(requests):>10}{errors:>8}"
                  f"{float(p50):>10.1f}{float(p99):>10.1f}{float(worst):>10.1f}")
            failed |= errors > 0 or (name.startswith("POST") and float(p99) >= 100)
        if failed:
            print(f"{label}: below the bar (errors, or a POST p99 of 100 ms or more)")
    finally:
        process.terminate()
        process.wait()
        if wal is not None:
            wal.stop()
            after = wal.size()
            print(f"{label}: write-ahead log peak {wal.peak / 2**20:.1f} MB during the load, "
                  f"{after / 2**20:.1f} MB after a clean stop")
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sluice", required=True, help="the release binary")
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="a PostgreSQL server to create a scratch state database on")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("the load test needs wrk (apt-get install wrk)")

    print(f"{'state':10}{'endpoint':24}{'conns':>6}{'requests':>10}{'errors':>8}"
          f"{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    load(args.sluice, "sqlite", {}, args.seconds, args.connections)
    name = f"sluice_bench_{uuid.uuid4().hex}"
    admin = f"{args.postgres}/postgres"
    subprocess.run(["psql", "-q", admin, "-c", f'CREATE DATABASE "{name}"'], check=True)
    try:
        load(args.sluice, "postgres", {"SLUICE__DATABASE__URL": f"{args.postgres}/{name}"},
             args.seconds, args.connections)
    finally:
        subprocess.run(["psql", "-q", admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'],
                       check=True)


if __name__ == "__main__":
    main()
