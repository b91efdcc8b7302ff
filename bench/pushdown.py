"""A transform pushed down to PostgreSQL against the same transform run in Sluice, side by side
with psql running its SQL directly, on 10M rows: a filter keeping 1% of them and an aggregate.

- push-down: Sluice (HTTP, from POST /v1/flows to COMPLETED) with engine.push_down on;
- pull: the same flow with push-down off, every row copied into Sluice first;
- psql: `psql -c "<the SQL the database ran>"`, the time a client of the database itself takes.

Bytes moved are what crossed the loopback interface during the flow (the database and Sluice
share the machine): the database's answer, and the bench's few polls of the flow."""

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from common import call, peak_rss_mb, start_sluice
from flow_postgres import psql

# The same SQL in Sluice's transform and for psql.
TRANSFORM = ("SELECT kind, count(*) AS n, sum(amount) AS total, max(at) AS last_at "
             "FROM events WHERE id % 100 = 0 GROUP BY kind")
DIRECT = TRANSFORM


def fill(database, rows):
    psql(database, """CREATE TABLE events (id bigint, kind integer, amount numeric(12, 2),
                      at timestamptz, label text)""", f"""
        INSERT INTO events
        SELECT i, i % 40, ((i * 37) % 100000) / 100.0,
               TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 second', 'event ' || i
        FROM generate_series(1, {rows}) AS t(i)""", "VACUUM ANALYZE events")


def loopback_bytes():
    """Bytes the loopback interface has carried: the database's answer to Sluice, and little
    else while a flow runs (the bench's own polls of the flow)."""
    with open("/sys/class/net/lo/statistics/rx_bytes") as counter:
        return int(counter.read())


class Flow:
    def __init__(self, binary, data, database, push_down):
        settings = {"SLUICE__ENGINE__PUSH_DOWN": "true" if push_down else "false"}
        self.process, self.api = start_sluice(binary, data, **settings)
        store = call(self.api, "POST", "/data-stores", {
            "name": "events", "type": "relational_db", "connection": {
                "engine": "postgres", "host": "127.0.0.1", "port": 5432, "user": "postgres",
                "database": database}})["id"]
        target = call(self.api, "POST", "/data-stores", {
            "name": "out", "type": "file", "connection": {"path": "kinds.csv", "format": "csv"}})["id"]
        self.input = call(self.api, "POST", "/flow-inputs", {
            "source_data_store_ids": [store], "target_data_store_id": target,
            "sources": [{"data_store_id": store, "table": "events", "as": "events"}],
            "transforms": [{"name": "kinds", "sql": TRANSFORM}],
            "outputs": [{"transform": "kinds", "mode": "replace"}],
        })["id"]

    def run(self):
        """Seconds, bytes read, and where the transform ran."""
        before = loopback_bytes()
        started = time.perf_counter()
        flow = call(self.api, "POST", "/flows", {"flow_input_id": self.input})
        while flow["output"]["state"] not in ("COMPLETED", "FAILED", "CANCELLED"):
            time.sleep(0.005)
            flow = call(self.api, "GET", f"/flows/{flow['id']}")
        took = time.perf_counter() - started
        if flow["output"]["state"] != "COMPLETED":
            raise SystemExit(f"flow ended {flow['output']['state']}: {flow}")
        view = call(self.api.replace("/v1", "/v2"), "GET", f"/flows/{flow['id']}")
        ran = next(s["ran_in"] for s in view["steps"] if s["name"] == "kinds")
        return took, loopback_bytes() - before, ran

    def stop(self):
        self.process.terminate()
        self.process.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    database = f"sluice_bench_pushdown_{uuid.uuid4().hex[:8]}"
    psql("postgres", f"CREATE DATABASE {database}")
    data = tempfile.mkdtemp(prefix="sluice-bench-pushdown-")
    try:
        started = time.perf_counter()
        fill(database, args.rows)
        print(f"{args.rows:,} rows written in {time.perf_counter() - started:.1f} s")
        direct = []
        for _ in range(args.runs):
            started = time.perf_counter()
            psql(database, DIRECT)
            direct.append(time.perf_counter() - started)
        results = {}
        for name, push_down in (("push-down", True), ("pull", False)):
            folder = os.path.join(data, name)
            os.makedirs(folder)
            flow = Flow(args.sluice, folder, database, push_down)
            runs = [flow.run() for _ in range(args.runs if push_down else max(2, args.runs // 2))]
            results[name] = (runs, peak_rss_mb(flow.process.pid))
            flow.stop()
        psql_p50 = statistics.median(direct)
        print(f"{'':12} {'p50 s':>8} {'vs psql':>8} {'MB moved':>9} {'peak MB':>8}  ran")
        print(f"{'psql':12} {psql_p50:8.3f} {1:8.2f} {'':>9} {'':>8}  in PostgreSQL")
        for name, (runs, peak) in results.items():
            p50 = statistics.median(r[0] for r in runs)
            moved = statistics.median(r[1] for r in runs) / 1e6
            print(f"{name:12} {p50:8.3f} {p50 / psql_p50:8.2f} {moved:9.1f} {peak:8.0f}  {runs[0][2]}")
    finally:
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-qAt", "-d", "postgres", "-c",
                        f"DROP DATABASE IF EXISTS {database}"], check=False, capture_output=True)


if __name__ == "__main__":
    main()
