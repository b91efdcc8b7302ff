"""A join of two 10M-row Parquet tables, aggregated, run by Sluice's local engine and by a
Ballista cluster of one and of two executors on this machine, side by side with DuckDB running
the same SQL over the same files.

- local: Sluice (HTTP, from POST /v2/flows to COMPLETED) with the flow input's engine "local";
- ballista ×N: the same flow with engine "ballista", on a scheduler and N executors
  (`sluice-ballista`, the release build beside `sluice`), each executor advertising two cores;
- DuckDB: `duckdb.sql(...)` over the same Parquet files, in this process.

Sluice's peak RSS is its own process's (VmHWM): with Ballista the executors do the work and
Sluice receives the aggregate's rows. Two cores limit what more executors can add here; the
point is that the work leaves the Sluice process and spreads over executors."""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

from common import call, peak_rss_mb, start_sluice

TRANSFORM = ("SELECT o.customer % 1000 AS bucket, count(*) AS n, sum(p.paid) AS paid, "
             "max(p.at) AS last_paid FROM orders o JOIN payments p ON p.order_id = o.id "
             "WHERE p.paid > 10 GROUP BY o.customer % 1000")
FILES_PER_TABLE = 8


def write_tables(lake, rows):
    """`orders` (id, customer, amount) and `payments` (order_id, paid, at): table folders of
    Parquet files, written by DuckDB."""
    import duckdb
    for table, select in (
        ("orders", f"SELECT i AS id, (i * 7919) % 200000 AS customer, (i % 1000) / 10.0 AS amount "
                   f"FROM range({rows}) t(i)"),
        ("payments", f"SELECT ({rows} - 1 - i) AS order_id, ((i * 31) % 10000) / 100.0 AS paid, "
                     f"TIMESTAMP '2026-01-01' + to_seconds(i) AS at FROM range({rows}) t(i)"),
    ):
        folder = os.path.join(lake, table)
        os.makedirs(folder)
        per_file = rows // FILES_PER_TABLE
        for part in range(FILES_PER_TABLE):
            path = os.path.join(folder, f"part-{part}.parquet")
            duckdb.sql(f"COPY ({select} LIMIT {per_file} OFFSET {part * per_file}) "
                       f"TO '{path}' (FORMAT parquet)")


def duckdb_time(lake):
    import duckdb
    connection = duckdb.connect()
    for table in ("orders", "payments"):
        connection.sql(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{lake}/{table}/*.parquet')")
    started = time.perf_counter()
    rows = connection.sql(TRANSFORM).fetchall()
    return time.perf_counter() - started, len(rows)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """A scheduler and `executors` executors of `sluice-ballista` on loopback."""

    def __init__(self, binary, executors, work):
        self.port = free_port()
        quiet = dict(os.environ, RUST_LOG="warn")
        self.processes = [subprocess.Popen(
            [binary, "scheduler", "--bind-host=127.0.0.1", "--external-host=127.0.0.1",
             f"--bind-port={self.port}"], env=quiet, stdout=subprocess.DEVNULL)]
        wait_for(lambda: socket.create_connection(("127.0.0.1", self.port), timeout=1).close())
        for i in range(executors):
            health = free_port()
            folder = os.path.join(work, f"executor-{i}")
            os.makedirs(folder)
            self.processes.append(subprocess.Popen(
                [binary, "executor", "--scheduler-host=127.0.0.1", f"--scheduler-port={self.port}",
                 "--bind-host=127.0.0.1", "--external-host=127.0.0.1",
                 f"--bind-port={free_port()}", f"--bind-grpc-port={free_port()}",
                 f"--bind-health-port={health}", f"--work-dir={folder}", "--vcores=2"],
                env=quiet, stdout=subprocess.DEVNULL))
            wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{health}/readyz", timeout=1))

    def executor_peak_mb(self):
        """The largest peak RSS of the executors."""
        return max(peak_rss_mb(p.pid) for p in self.processes[1:])

    def url(self):
        return f"df://127.0.0.1:{self.port}"

    def stop(self):
        for process in self.processes:
            process.terminate()
            process.wait()


def wait_for(ready, within=30):
    deadline = time.monotonic() + within
    while True:
        try:
            ready()
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Flow:
    def __init__(self, binary, data, engine, ballista_url=None):
        settings = {"SLUICE__ENGINE__BALLISTA__URL": ballista_url} if ballista_url else {}
        self.process, v1 = start_sluice(binary, data, **settings)
        self.api = v1.replace("/v1", "/v2")
        call(self.api, "POST", "/data-stores", {
            "name": "lake", "type": "columnar_db", "connection": {"path": "lake"}})
        call(self.api, "POST", "/data-stores", {
            "name": "out", "type": "file", "connection": {"path": "buckets.parquet", "format": "parquet"}})
        call(self.api, "POST", "/flow-inputs", {
            "name": "join", "target": "out", "engine": engine,
            "sources": [{"data_store": "lake", "table": "orders", "alias": "orders"},
                        {"data_store": "lake", "table": "payments", "alias": "payments"}],
            "transforms": [{"name": "buckets", "sql": TRANSFORM}],
            "outputs": [{"transform": "buckets"}],
        })

    def run(self):
        started = time.perf_counter()
        flow = call(self.api, "POST", "/flows", {"flow_input": "join"})
        while flow["state"] not in ("COMPLETED", "FAILED", "CANCELLED"):
            time.sleep(0.02)
            flow = call(self.api, "GET", f"/flows/{flow['id']}")
        took = time.perf_counter() - started
        if flow["state"] != "COMPLETED":
            raise SystemExit(f"flow ended {flow['state']}: {flow}")
        step = next(s for s in flow["steps"] if s["name"] == "buckets")
        return took, step["rows"], step["ran_in"]

    def stop(self):
        self.process.terminate()
        self.process.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    ballista_binary = os.path.join(os.path.dirname(args.sluice), "sluice-ballista")

    work = tempfile.mkdtemp(prefix="sluice-bench-ballista-")
    try:
        lake = os.path.join(work, "shared", "lake")
        started = time.perf_counter()
        write_tables(lake, args.rows)
        print(f"2 × {args.rows:,} rows written in {time.perf_counter() - started:.1f} s")
        reference = [duckdb_time(lake) for _ in range(args.runs)]
        duckdb_p50 = statistics.median(r[0] for r in reference)

        results = []
        for name, executors in (("local", 0), ("ballista ×1", 1), ("ballista ×2", 2)):
            # Every Sluice shares the data folder holding the lake: the executors read it at
            # the same path (shared storage).
            data = os.path.join(work, "shared")
            for leftover in ("state", "buckets.parquet"):
                shutil.rmtree(os.path.join(data, leftover), ignore_errors=True)
            cluster = Cluster(ballista_binary, executors, os.path.join(work, name)) if executors else None
            flow = Flow(args.sluice, data, "ballista" if cluster else "local",
                        cluster.url() if cluster else None)
            try:
                runs = [flow.run() for _ in range(args.runs)]
                executor_peak = cluster.executor_peak_mb() if cluster else float("nan")
                results.append((name, runs, peak_rss_mb(flow.process.pid), executor_peak))
            finally:
                flow.stop()
                if cluster:
                    cluster.stop()

        print(f"{'':14} {'p50 s':>8} {'vs DuckDB':>9} {'rows':>6} {'Sluice peak MB':>15} "
              f"{'executor peak MB':>17}  ran")
        print(f"{'DuckDB':14} {duckdb_p50:8.3f} {1:9.2f} {reference[0][1]:6}")
        for name, runs, peak, executor_peak in results:
            p50 = statistics.median(r[0] for r in runs)
            print(f"{name:14} {p50:8.3f} {p50 / duckdb_p50:9.2f} {runs[0][1]:6} {peak:15.0f} "
                  f"{executor_peak:17.0f}  {runs[0][2]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
