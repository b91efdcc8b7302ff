"""GET /v1/flows/{id} on a flow with 100,000 log lines against the same read on a flow with ten,
on the embedded SQLite store and on PostgreSQL: a view holds each stream's newest lines only, so
the two should answer alike (ratio near 1). Also times one page of the long log."""

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import uuid

from common import finished_copy_flows, start_sluice, state_database, time_sluice

LONG = 100_000


def timed_gets(base, path, runs=200, warmup=20):
    return statistics.median(time_sluice(base, path, runs, warmup))


def lengthen_sqlite(path, output_id):
    with sqlite3.connect(path) as db:
        db.executemany(
            "INSERT INTO flow_output_line (flow_output_id, stream, line, created_utc) VALUES (?, 'log', ?, ?)",
            ((output_id, f"2026-11-24T00:00:00.000Z line {i}", "2026-11-24 00:00:00+00:00") for i in range(LONG)))


def lengthen_postgres(url, output_id):
    subprocess.run(["psql", "-q", url, "-c",
                    "INSERT INTO flow_output_line (flow_output_id, stream, line, created_utc) "
                    f"SELECT {output_id}, 'log', 'line ' || i, now() FROM generate_series(1, {LONG}) i"],
                   check=True)


def bench(binary, label, settings, lengthen):
    data = tempfile.mkdtemp(prefix="sluice-bench-view-")
    process, api = start_sluice(binary, data, **settings(data))
    try:
        (short, _), (long, long_output) = finished_copy_flows(api, data, 2)
        lengthen(data, long_output)
        short_p50 = timed_gets(api, f"/flows/{short}")
        long_p50 = timed_gets(api, f"/flows/{long}")
        page_p50 = timed_gets(api, f"/flows/{long}/logs?after=50000&limit=1000", runs=50)
        print(f"{label:12}{short_p50 * 1000:>12.2f}ms{long_p50 * 1000:>14.2f}ms"
              f"{long_p50 / short_p50:>9.2f}{page_p50 * 1000:>16.2f}ms")
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sluice", required=True, help="the release binary")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="a PostgreSQL server to create a scratch database on")
    args = parser.parse_args()

    print(f"{'store':12}{'10 lines p50':>14}{'100k lines p50':>16}{'ratio':>9}{'1000-line page':>18}")
    bench(args.sluice, "sqlite", lambda data: {},
          lambda data, output: lengthen_sqlite(state_database(data), output))

    name = f"sluice_bench_{uuid.uuid4().hex}"
    admin = f"{args.postgres}/postgres"
    subprocess.run(["psql", "-q", admin, "-c", f'CREATE DATABASE "{name}"'], check=True)
    try:
        url = f"{args.postgres}/{name}"
        bench(args.sluice, "postgresql", lambda data: {"SLUICE__DATABASE__URL": url},
              lambda data, output: lengthen_postgres(url, output))
    finally:
        subprocess.run(["psql", "-q", admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)


if __name__ == "__main__":
    main()
