"""PostgreSQL in and out at COPY speed, side by side in one run, on 1M rows x 10 columns:

- PostgreSQL table -> Parquet: Sluice (HTTP, from POST /v1/flows to COMPLETED) against
  `psql -c "\\copy … TO"` writing CSV, and against DuckDB's postgres extension writing Parquet
  when a DuckDB with that extension can be loaded (--duckdb-python: a Python that has it).
- CSV -> PostgreSQL table: Sluice against `psql -c "\\copy … FROM"` into a table it creates.
- Sluice's peak memory for a 10M-row PostgreSQL -> Parquet flow, in a fresh process.

Each flow is one source, `SELECT * FROM src` and one output: what the references do."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid

from common import call, peak_rss_mb, start_sluice

PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-v", "ON_ERROR_STOP=1", "-qAt"]

COLUMNS = """id bigint, customer_id integer, quantity smallint, price double precision,
    discount numeric(4, 2), region text, channel text, ordered_on date, ordered_at timestamptz,
    note text"""


def psql(database, *commands):
    args = list(PSQL) + ["-d", database]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def fill_table(database, table, rows):
    psql(database, f"CREATE TABLE {table} ({COLUMNS})", f"""
        INSERT INTO {table}
        SELECT i, i % 50000, (i % 11)::smallint, ((i * 13) % 10000) / 100.0,
               ((i * 17) % 30) / 100.0, (ARRAY['north', 'south', 'east', 'west'])[1 + i % 4],
               (ARRAY['web', 'shop', 'phone'])[1 + i % 3], DATE '2026-01-01' + (i % 300),
               TIMESTAMPTZ '2026-01-01 00:00:00+00' + i * INTERVAL '1 second',
               'order number ' || i
        FROM generate_series(1, {rows}) AS t(i)""", f"ANALYZE {table}")


def timed(runs, action):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return times


class Sluice:
    def __init__(self, binary, data):
        self.process, self.api = start_sluice(binary, data)

    def store(self, body):
        return call(self.api, "POST", "/data-stores", body)["id"]

    def postgres(self, database):
        return self.store({"name": f"pg-{uuid.uuid4().hex[:8]}", "type": "relational_db", "connection": {
            "engine": "postgres", "host": "127.0.0.1", "port": 5432, "user": "postgres", "database": database}})

    def flow_input(self, source, read, target, output):
        return call(self.api, "POST", "/flow-inputs", {
            "source_data_store_ids": [source], "target_data_store_id": target,
            "sources": [dict(data_store_id=source, **{"as": "src"}, **read)],
            "transforms": [{"name": "copied", "sql": "SELECT * FROM src"}],
            "outputs": [dict(transform="copied", mode="replace", **output)],
        })["id"]

    def run(self, flow_input):
        flow = call(self.api, "POST", "/flows", {"flow_input_id": flow_input})
        while flow["output"]["state"] not in ("COMPLETED", "FAILED", "CANCELLED"):
            time.sleep(0.005)
            flow = call(self.api, "GET", f"/flows/{flow['id']}")
        if flow["output"]["state"] != "COMPLETED":
            raise SystemExit(f"the flow ended {flow['output']['state']}: {flow['output']['errors']}")
        return flow

    def peak_mb(self):
        return peak_rss_mb(self.process.pid)

    def stop(self):
        self.process.terminate()
        self.process.wait()


def duckdb_to_parquet(python, database, table, path, runs):
    """Times DuckDB's postgres extension copying the table to Parquet, in `python`; None when that
    Python has no DuckDB with the extension."""
    script = f"""
import duckdb, json, sys, time
con = duckdb.connect()
try:
    con.sql("LOAD postgres_scanner")
except Exception:
    import duckdb_extension_postgres_scanner as ext, glob, os
    con.sql("LOAD '" + glob.glob(os.path.join(os.path.dirname(ext.__file__), '**', '*.duckdb_extension'), recursive=True)[0] + "'")
con.sql("ATTACH 'host=127.0.0.1 user=postgres dbname={database}' AS pg (TYPE postgres, READ_ONLY)")
times = []
for _ in range({runs}):
    started = time.perf_counter()
    con.sql("COPY pg.public.{table} TO '{path}' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3)")
    times.append(time.perf_counter() - started)
print(json.dumps([duckdb.__version__, times]))
"""
    result = subprocess.run([python, "-c", script], capture_output=True, text=True)
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return None, reason
    import json
    version, times = json.loads(result.stdout)
    return times, version


def report(title, rows):
    print(title)
    print(f"  {'':38}{'best':>9}{'median':>9}")
    for name, times in rows:
        print(f"  {name:38}{min(times):>8.2f}s{statistics.median(times):>8.2f}s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--memory-rows", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duckdb-python", default=os.environ.get("SLUICE_BENCH_DUCKDB_PG_PYTHON", ""),
                        help="a Python whose duckdb loads the postgres extension")
    args = parser.parse_args()

    database = f"sluice_bench_{uuid.uuid4().hex[:8]}"
    psql("postgres", f"CREATE DATABASE {database}")
    data = tempfile.mkdtemp(prefix="sluice-bench-")
    sluice = None
    try:
        fill_table(database, "orders", args.rows)
        print(f"input: {args.rows:,} rows x 10 columns in PostgreSQL "
              f"({psql(database, 'SELECT pg_size_pretty(pg_total_relation_size(' + repr('orders') + '))').strip()}); "
              f"{os.cpu_count()} cores; best of {args.runs} runs each")
        sluice = Sluice(args.sluice, data)
        pg = sluice.postgres(database)

        # PostgreSQL -> Parquet.
        parquet = sluice.store({"name": "parquet", "type": "file",
                                "connection": {"path": "orders.parquet", "format": "parquet"}})
        export = sluice.flow_input(pg, {"table": "orders"}, parquet, {})
        sluice_out = timed(args.runs, lambda: sluice.run(export))
        csv_path = f"{data}/orders.csv"
        psql_out = timed(args.runs, lambda: psql(database, f"\\copy orders TO '{csv_path}' CSV HEADER"))
        rows = [("sluice -> parquet (HTTP, end to end)", sluice_out), ("psql \\copy TO -> csv", psql_out)]
        duck_out, duck_note = (None, "no --duckdb-python given")
        if args.duckdb_python:
            duck_out, duck_note = duckdb_to_parquet(args.duckdb_python, database, "orders",
                                                    f"{data}/duckdb.parquet", args.runs)
        if duck_out:
            rows.append((f"duckdb {duck_note} postgres ext -> parquet", duck_out))
        report("PostgreSQL table -> file", rows)
        fastest = min(min(t) for _, t in rows[1:])
        print(f"  ratio sluice / fastest reference: {min(sluice_out) / fastest:.2f} (target <= 1.5)")
        if not duck_out:
            print(f"  (DuckDB's postgres extension not run: {duck_note})")

        # CSV -> PostgreSQL.
        csv = sluice.store({"name": "csv", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}})
        load = sluice.flow_input(csv, {}, pg, {"table": "loaded_by_sluice"})
        sluice_in = timed(args.runs, lambda: sluice.run(load))
        psql_in = timed(args.runs, lambda: psql(
            database, "DROP TABLE IF EXISTS loaded_by_psql", f"CREATE TABLE loaded_by_psql ({COLUMNS})",
            f"\\copy loaded_by_psql FROM '{csv_path}' CSV HEADER"))
        counts = psql(database, "SELECT (SELECT count(*) FROM loaded_by_sluice) || ' ' || "
                                "(SELECT count(*) FROM loaded_by_psql)").split()
        if counts[0] != counts[1]:
            raise SystemExit(f"the loads differ: Sluice {counts[0]} rows, psql {counts[1]}")
        report("CSV -> PostgreSQL table", [("sluice (HTTP, end to end)", sluice_in),
                                            ("psql \\copy FROM (create + copy)", psql_in)])
        print(f"  ratio sluice / psql: {min(sluice_in) / min(psql_in):.2f} (target <= 1.5); "
              f"{int(counts[0]):,} rows each")
        sluice.stop()

        # Peak memory of one large ingest, in a process that did nothing else.
        fill_table(database, "big", args.memory_rows)
        sluice = Sluice(args.sluice, data)
        pg = sluice.postgres(database)
        parquet = sluice.store({"name": "big", "type": "file",
                                "connection": {"path": "big.parquet", "format": "parquet"}})
        started = time.perf_counter()
        sluice.run(sluice.flow_input(pg, {"table": "big"}, parquet, {}))
        took = time.perf_counter() - started
        print(f"{args.memory_rows:,}-row PostgreSQL -> Parquet flow: {took:.1f}s, "
              f"sluice peak RSS {sluice.peak_mb():.0f} MB (target < 300 MB)")
    finally:
        if sluice:
            sluice.stop()
        shutil.rmtree(data, ignore_errors=True)
        psql("postgres", f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")


if __name__ == "__main__":
    sys.exit(main())
