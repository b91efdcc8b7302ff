"""1M rows x 10 columns of CSV through three SQL transforms into Parquet: Sluice (through its
HTTP API, from POST /v1/flows to COMPLETED) against DuckDB running the same SQL on the same file.
Prints both times, the ratio, and Sluice's own per-step timings."""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time

import duckdb

from common import call, peak_rss_mb, start_sluice

TRANSFORMS = [
    ("clean", "SELECT id, customer_id, product_id, quantity, price, discount, region, channel, ordered_on, "
              "quantity * price * (1 - discount) AS revenue FROM orders WHERE quantity > 0"),
    ("by_customer", "SELECT customer_id, region, count(*) AS orders, sum(revenue) AS revenue, "
                    "avg(discount) AS avg_discount FROM clean GROUP BY customer_id, region"),
    ("shares", "SELECT c.id, c.customer_id, c.region, c.channel, c.ordered_on, c.revenue, "
               "b.revenue AS customer_revenue, c.revenue / b.revenue AS share "
               "FROM clean c JOIN by_customer b ON c.customer_id = b.customer_id AND c.region = b.region"),
]


def generate_csv(path, rows):
    duckdb.sql(f"""
        COPY (
            SELECT i AS id,
                   i % 50000 AS customer_id,
                   (i * 7) % 2000 AS product_id,
                   (i % 11) AS quantity,
                   round(((i * 13) % 10000) / 100.0, 2) AS price,
                   ((i * 17) % 30) / 100.0 AS discount,
                   ['north', 'south', 'east', 'west'][1 + i % 4] AS region,
                   ['web', 'shop', 'phone'][1 + i % 3] AS channel,
                   DATE '2026-01-01' + CAST(i % 300 AS INTEGER) AS ordered_on,
                   'order number ' || i AS note
            FROM range({rows}) t(i)
        ) TO '{path}' (HEADER, DELIMITER ',')
    """)


def run_sluice(binary, data, runs):
    process, api = start_sluice(binary, data)
    try:
        orders = call(api, "POST", "/data-stores",
                      {"name": "orders", "type": "file", "connection": {"path": "orders.csv", "format": "csv"}})
        out = call(api, "POST", "/data-stores",
                   {"name": "shares", "type": "file", "connection": {"path": "out/sluice.parquet", "format": "parquet"}})
        flow_input = call(api, "POST", "/flow-inputs", {
            "source_data_store_ids": [orders["id"]], "target_data_store_id": out["id"],
            "sources": [{"data_store_id": orders["id"], "as": "orders"}],
            "transforms": [{"name": n, "sql": s} for n, s in TRANSFORMS],
            "outputs": [{"transform": "shares", "mode": "replace"}],
        })
        times, logs = [], []
        for _ in range(runs):
            started = time.perf_counter()
            flow = call(api, "POST", "/flows", {"flow_input_id": flow_input["id"]})
            while True:
                flow = call(api, "GET", f"/flows/{flow['id']}")
                if flow["output"]["state"] in ("COMPLETED", "FAILED", "CANCELLED"):
                    break
                time.sleep(0.005)
            times.append(time.perf_counter() - started)
            if flow["output"]["state"] != "COMPLETED":
                raise SystemExit(f"the flow ended {flow['output']['state']}: {flow['output']['errors']}")
            logs = flow["output"]["logs"]["lines"]
        return times, logs, peak_rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait()


def run_duckdb(data, runs):
    times = []
    for _ in range(runs):
        con = duckdb.connect()
        started = time.perf_counter()
        con.sql(f"CREATE VIEW orders AS SELECT * FROM read_csv('{data}/orders.csv', header = true)")
        for name, sql in TRANSFORMS:
            con.sql(f"CREATE VIEW {name} AS {sql}")
        # Sluice writes zstd(3) Parquet by default; ask DuckDB for the same.
        con.sql(f"COPY shares TO '{data}/out/duckdb.parquet' (FORMAT parquet, COMPRESSION zstd, COMPRESSION_LEVEL 3)")
        times.append(time.perf_counter() - started)
        con.close()
    return times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    data = tempfile.mkdtemp(prefix="sluice-bench-")
    try:
        os.makedirs(f"{data}/out")
        generate_csv(f"{data}/orders.csv", args.rows)
        size = os.path.getsize(f"{data}/orders.csv") / 1e6
        print(f"input: {args.rows:,} rows x 10 columns, {size:.0f} MB of CSV; {os.cpu_count()} cores; "
              f"best of {args.runs} runs each")
        sluice_times, logs, peak = run_sluice(args.sluice, data, args.runs)
        duck_times = run_duckdb(data, args.runs)
        rows = duckdb.sql(f"SELECT count(*) FROM '{data}/out/sluice.parquet'").fetchall()[0][0]
        duck_rows = duckdb.sql(f"SELECT count(*) FROM '{data}/out/duckdb.parquet'").fetchall()[0][0]
        if rows != duck_rows:
            raise SystemExit(f"the outputs differ: Sluice wrote {rows} rows, DuckDB {duck_rows}")

        sluice, duck = min(sluice_times), min(duck_times)
        print()
        print(f"{'':28}{'best':>9}{'median':>9}")
        print(f"{'sluice (HTTP, end to end)':28}{sluice:>8.2f}s{statistics.median(sluice_times):>8.2f}s")
        print(f"{'duckdb ' + duckdb.__version__:28}{duck:>8.2f}s{statistics.median(duck_times):>8.2f}s")
        print(f"ratio sluice / duckdb: {sluice / duck:.2f} (target <= 1.5)")
        print(f"rows written: {rows:,}; sluice peak RSS: {peak:.0f} MB")
        print("sluice steps (last run):")
        for line in logs:
            if "finished" in line:
                print("  " + line.split(" ", 1)[1])
    finally:
        shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
