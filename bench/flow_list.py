"""GET /v2/flows over 100,000 flows on PostgreSQL: a page of 100, newest first, with and without
`count=true`, and by when they ended; against the same page read by psql straight from the state
database (the floor: the query with no HTTP, no JSON). Target: p50 under 20 ms."""

import argparse
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid

from common import call, start_sluice, time_sluice

FLOWS = 100_000
TARGET_MS = 20.0

# Flows made in one statement each: a third COMPLETED, a third FAILED, a third READY (none
# RUNNING: a running flow without a lease is one this process would settle as its runner's
# death while the pages are timed).
FILL = f"""
INSERT INTO flow_output (id, state, progress_percent, progress_updated_utc, attempt, crashes,
                         started_utc, finished_utc)
SELECT i + 1000, CASE i % 3 WHEN 0 THEN 'COMPLETED' WHEN 1 THEN 'FAILED' ELSE 'READY' END,
       0, now(), 1, 0,
       CASE WHEN i % 3 < 2 THEN now() - (i || ' seconds')::interval END,
       CASE WHEN i % 3 < 2 THEN now() - (i || ' seconds')::interval + interval '1 second' END
FROM generate_series(1, {FLOWS}) i;
INSERT INTO flow (flow_input_id, flow_output_id, created_utc)
SELECT INPUT_ID, i + 1000, now() - ((({FLOWS} - i)) || ' seconds')::interval
FROM generate_series(1, {FLOWS}) i;
ANALYZE flow; ANALYZE flow_output;
"""

# What the newest-first page reads, as Sluice asks it (without the lines and steps of each flow).
FLOOR = """
SELECT f.*, o.* FROM flow f JOIN flow_output o ON o.id = f.flow_output_id
ORDER BY f.id DESC LIMIT 101
"""


def psql_p50(url, sql, runs=50):
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(["psql", "-q", "-X", url, "-c", sql], check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sluice", required=True, help="the release binary")
    parser.add_argument("--postgres", default="postgres://postgres@127.0.0.1:5432",
                        help="a PostgreSQL server to create a scratch database on")
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()

    name = f"sluice_bench_{uuid.uuid4().hex}"
    admin = f"{args.postgres}/postgres"
    url = f"{args.postgres}/{name}"
    subprocess.run(["psql", "-q", admin, "-c", f'CREATE DATABASE "{name}"'], check=True)
    data = tempfile.mkdtemp(prefix="sluice-bench-list-")
    process = None
    try:
        # This process runs no flow: the 100,000 stay as they are made.
        process, api = start_sluice(args.sluice, data, SLUICE__DATABASE__URL=url,
                                    SLUICE__RUNNER__MAX_CONCURRENT_FLOWS="0")
        with open(f"{data}/tiny.csv", "w") as f:
            f.write("id\n1\n")
        call(api, "POST", "/data-stores",
             {"name": "tiny", "type": "file", "connection": {"path": "tiny.csv", "format": "csv"}})
        call(api, "POST", "/data-stores",
             {"name": "copy", "type": "file", "connection": {"path": "copy.csv", "format": "csv"}})
        made = call(api, "POST", "/flow-inputs", {
            "source_data_store_ids": [1], "target_data_store_id": 2,
            "sources": [{"data_store_id": 1, "as": "tiny"}],
            "transforms": [{"name": "copied", "sql": "SELECT * FROM tiny"}],
            "outputs": [{"transform": "copied"}],
        })
        subprocess.run(["psql", "-q", "-X", url, "-c", FILL.replace("INPUT_ID", str(made["id"]))], check=True)
        v2 = api.removesuffix("/v1") + "/v2"
        floor = psql_p50(url, FLOOR)
        print(f"{FLOWS:,} flows on PostgreSQL; psql's own page of the same rows (with its start): "
              f"{floor * 1000:.2f} ms")
        print(f"{'page':44}{'p50':>10}{'p95':>10}{'/ 20 ms':>10}")
        for label, path in [
            ("order_by=-created_at&limit=100", "/flows?order_by=-created_at&limit=100"),
            ("… &count=true", "/flows?order_by=-created_at&limit=100&count=true"),
            ("order_by=-finished_at&limit=100", "/flows?order_by=-finished_at&limit=100"),
            ("state=READY&order_by=-created_at&limit=100", "/flows?state=READY&order_by=-created_at&limit=100"),
        ]:
            samples = sorted(time_sluice(v2, path, args.runs, 20))
            p50 = statistics.median(samples) * 1000
            p95 = samples[int(len(samples) * 0.95)] * 1000
            print(f"{label:44}{p50:>8.2f}ms{p95:>8.2f}ms{p50 / TARGET_MS:>10.2f}")
    finally:
        if process:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run(["psql", "-q", admin, "-c", f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'], check=True)


if __name__ == "__main__":
    main()
