"""The pipeline metadata API on the fixtures' archive and on a copy scaled to 10M issue rows: p50
and p99 latency of an issue page and of the on-the-fly group-by through Sluice's HTTP API, DuckDB's
for the same query on the same files (one warm in-process connection, no HTTP), the first group-by
(which summarises every partition: the index build), a whole-archive CSV export through /v2 against
DuckDB's COPY of the same rows in the same order, a Parquet export, and Sluice's peak memory. Targets at 10M rows:
filtered issue page p50 under 50 ms; group-by p50 within 0.25x of DuckDB; export at 100 MB/s or
more; peak memory under 500 MB."""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import duckdb

from common import peak_rss_mb, start_sluice, time_sluice

ISSUE_COLUMNS = '''dataset, resource, "line-number", "entry-number", field, "issue-type", value, message'''

# The order Sluice answers issues in: dataset, resource, then each row's position in its file.
FILE_ORDER = "dataset, resource, filename, file_row_number"


def queries(dataset):
    """(name, Sluice path, DuckDB statements): the same question asked of both."""
    return [
        ("issue page", f"/log/issue?dataset={dataset}&limit=50&offset=1000", [
            f"SELECT count(*) FROM issue WHERE dataset = '{dataset}'",
            f"SELECT {ISSUE_COLUMNS} FROM issue WHERE dataset = '{dataset}' "
            f"ORDER BY {FILE_ORDER} LIMIT 50 OFFSET 1000",
        ]),
        ("issue page, issue_type filter",
         f"/log/issue?dataset={dataset}&issue_type=invalid%20geometry%20-%20fixed&limit=50&offset=100", [
            f"SELECT count(*) FROM issue WHERE dataset = '{dataset}' AND \"issue-type\" = 'invalid geometry - fixed'",
            f"SELECT {ISSUE_COLUMNS} FROM issue WHERE dataset = '{dataset}' "
            f"AND \"issue-type\" = 'invalid geometry - fixed' "
            f"ORDER BY {FILE_ORDER} LIMIT 50 OFFSET 100",
        ]),
        ("group-by dataset,issue-type", "/performance/issues?group_by=dataset,issue-type&limit=100", [
            'SELECT dataset, "issue-type", count(*) AS n FROM issue GROUP BY ALL '
            'ORDER BY n DESC, dataset, "issue-type"',
        ]),
    ]


def percentile(samples, p):
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def duckdb_over(archive):
    con = duckdb.connect()
    con.sql(f"CREATE VIEW issue AS SELECT * FROM read_parquet('{archive}/log/issue/*/*/*.parquet', "
            "hive_partitioning = true, union_by_name = true, filename = true, file_row_number = true)")
    return con


def time_duckdb(archive, statements, runs, warmup):
    con = duckdb_over(archive)
    samples = []
    for i in range(warmup + runs):
        started = time.perf_counter()
        for statement in statements:
            con.sql(statement).fetchall()
        if i >= warmup:
            samples.append(time.perf_counter() - started)
    con.close()
    return samples


def scale(source, target, copies):
    """`copies` copies of every issue file, each under a resource id of its own."""
    issue = os.path.join(source, "log/issue")
    for dataset in os.listdir(issue):
        for resource in os.listdir(os.path.join(issue, dataset)):
            for name in os.listdir(os.path.join(issue, dataset, resource)):
                for k in range(copies):
                    folder = os.path.join(target, "log/issue", dataset, f"{resource}-{k}")
                    os.makedirs(folder, exist_ok=True)
                    src, dst = os.path.join(issue, dataset, resource, name), os.path.join(folder, name)
                    try:
                        os.link(src, dst)
                    except OSError:
                        shutil.copyfile(src, dst)


def first_group_by(base):
    """The first group-by of a fresh process: it summarises every partition (the index build)."""
    started = time.perf_counter()
    with urllib.request.urlopen(base + "/performance/issues?group_by=dataset,issue-type&limit=100") as r:
        r.read()
    return time.perf_counter() - started


def index_file_mb(data):
    """The size of the archive index Sluice keeps on disk, once it has written what the index
    build learnt (it writes every two seconds when something is new)."""
    time.sleep(3)
    folder = os.path.join(data, "state", "archive-index")
    return sum(os.path.getsize(os.path.join(folder, f)) for f in os.listdir(folder)) / 1e6


def datasets_of(archive):
    return sorted(name.removeprefix("dataset=") for name in os.listdir(os.path.join(archive, "log/issue")))


def time_export(base, archive, export_format="csv"):
    """Bytes and seconds of an export of every issue, read as fast as it comes."""
    query = "&".join(f"dataset={urllib.parse.quote(d)}" for d in datasets_of(archive))
    url = base.removesuffix("/v1") + f"/v2/issues?{query}&format={export_format}"
    started = time.perf_counter()
    size = 0
    with urllib.request.urlopen(url) as response:
        while chunk := response.read(1 << 20):
            size += len(chunk)
    return size, time.perf_counter() - started


def time_duckdb_export(archive):
    """DuckDB's COPY of the same rows, in the same order, to a CSV file."""
    con = duckdb_over(archive)
    out = tempfile.mktemp(suffix=".csv")
    started = time.perf_counter()
    con.sql(f"COPY (SELECT {ISSUE_COLUMNS} FROM issue ORDER BY {FILE_ORDER}) TO '{out}' (HEADER)")
    elapsed = time.perf_counter() - started
    size = os.path.getsize(out)
    os.remove(out)
    con.close()
    return size, elapsed


def bench(binary, archive, label, runs, group_runs):
    """Prints Sluice's figures beside DuckDB's; returns Sluice's p50 of each query."""
    rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{archive}/log/issue/*/*/*.parquet')").fetchall()[0][0]
    groups = duckdb.sql(f"SELECT count(*) FROM (SELECT DISTINCT dataset, resource, field, \"issue-type\" "
                        f"FROM read_parquet('{archive}/log/issue/*/*/*.parquet', hive_partitioning = true, "
                        f"union_by_name = true))").fetchall()[0][0]
    print(f"\n{label}: {rows:,} issue rows")
    data = tempfile.mkdtemp(prefix="sluice-bench-data-")
    process, base = start_sluice(binary, data, SLUICE__ARCHIVE__URL=archive)
    try:
        print(f"index build (the first group-by): {first_group_by(base) * 1000:.0f} ms; "
              f"{groups:,} summary groups (partition x field x issue type); "
              f"{index_file_mb(data):.1f} MB on disk")
        print(f"{'query':30}{'sluice p50':>12}{'p99':>9}{'duckdb p50':>12}{'p99':>9}{'ratio p50':>11}")
        p50s = {}
        for name, path, statements in queries("conservation-area"):
            n = group_runs if name.startswith("group-by") else runs
            sluice = time_sluice(base, path, n, warmup=5)
            duck = time_duckdb(archive, statements, n, warmup=2)
            s50, d50 = statistics.median(sluice), statistics.median(duck)
            p50s[name] = s50
            print(f"{name:30}{s50 * 1000:>10.1f}ms{percentile(sluice, 99) * 1000:>7.1f}ms"
                  f"{d50 * 1000:>10.1f}ms{percentile(duck, 99) * 1000:>7.1f}ms{s50 / d50:>11.2f}")
        print(f"sluice peak RSS after the queries: {peak_rss_mb(process.pid):.0f} MB")
        size, seconds = time_export(base, archive)
        duck_size, duck_seconds = time_duckdb_export(archive)
        print(f"CSV export of every issue: sluice {size / 1e6:,.0f} MB in {seconds:.1f} s "
              f"({size / 1e6 / seconds:,.0f} MB/s); duckdb COPY {duck_size / 1e6:,.0f} MB in "
              f"{duck_seconds:.1f} s ({duck_size / 1e6 / duck_seconds:,.0f} MB/s); ratio {seconds / duck_seconds:.2f}")
        print(f"sluice peak RSS after the export: {peak_rss_mb(process.pid):.0f} MB")
        size, seconds = time_export(base, archive, "parquet")
        print(f"Parquet export of every issue: sluice {size / 1e6:,.0f} MB in {seconds:.1f} s "
              f"({rows / seconds / 1e6:.2f} M rows/s); peak RSS after it "
              f"{peak_rss_mb(process.pid):.0f} MB")
        return p50s
    finally:
        process.terminate()
        process.wait()
        shutil.rmtree(data, ignore_errors=True)


def bench_datasette(archive, runs, folder_p50s):
    """Datasette over a SQLite copy of the archive (as the legacy service served it): its SQL page of
    the same issues, beside Sluice's issue page on the folder."""
    import socket
    here = os.path.dirname(os.path.abspath(__file__))
    work = tempfile.mkdtemp(prefix="sluice-bench-datasette-")
    copy = os.path.join(work, "legacy.sqlite")
    subprocess.run([sys.executable, os.path.join(here, "../crates/datasette/tests/legacy_copy.py"), archive, copy],
                   check=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    datasette = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "datasette"), "serve", copy,
                                  "--host", "127.0.0.1", "--port", str(port)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/-/versions.json").read()
                break
            except OSError:
                time.sleep(0.1)
        sql = urllib.parse.quote("SELECT * FROM issue WHERE dataset = :d ORDER BY dataset, resource, rowid "
                                 "LIMIT 50 OFFSET 1000")
        path = f"/legacy.json?sql={sql}&d=conservation-area&_shape=array"
        d50 = statistics.median(time_sluice(base, path, runs, warmup=5))
        s50 = folder_p50s["issue page"]
        print(f"\nissue page p50: datasette's SQL page {d50 * 1000:.1f} ms, sluice {s50 * 1000:.1f} ms "
              f"(ratio {s50 / d50:.2f})")
    finally:
        datasette.terminate()
        datasette.wait()
        shutil.rmtree(work, ignore_errors=True)


def bench_s3(binary, archive, runs, group_runs, folder_p50s):
    """The same archive on a moto S3 server on loopback: the time from starting Sluice to its first
    issue page, then each query's p50 beside the folder's."""
    import socket
    import boto3
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    moto = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{port}"
    credentials = dict(AWS_ACCESS_KEY_ID="sluice-bench", AWS_SECRET_ACCESS_KEY="sluice-bench",
                       AWS_REGION="us-east-1")
    data = tempfile.mkdtemp(prefix="sluice-bench-data-")
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(endpoint).read()
                break
            except OSError:
                time.sleep(0.1)
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="sluice-bench", aws_secret_access_key="sluice-bench")
        client.create_bucket(Bucket="bench")
        for folder, _, files in os.walk(archive):
            for name in files:
                path = os.path.join(folder, name)
                client.upload_file(path, "bench", "archive/" + os.path.relpath(path, archive))
        page = queries("conservation-area")[0][1]

        def first_page():
            """Starts Sluice on the bucket; returns it and the seconds to its first issue page."""
            started = time.perf_counter()
            process, base = start_sluice(binary, data, SLUICE__ARCHIVE__URL="s3://bench/archive",
                                         SLUICE__ARCHIVE__ENDPOINT=endpoint, **credentials)
            with urllib.request.urlopen(base + page) as response:
                response.read()
            return process, base, time.perf_counter() - started

        process, base, seconds = first_page()
        try:
            print(f"\nover S3 (moto on loopback): cold start to the first issue page {seconds * 1000:.0f} ms")
            print(f"{'query':30}{'s3 p50':>12}{'folder p50':>12}{'ratio':>8}")
            for name, path, _ in queries("conservation-area"):
                n = group_runs if name.startswith("group-by") else runs
                s50 = statistics.median(time_sluice(base, path, n, warmup=5))
                f50 = folder_p50s[name]
                print(f"{name:30}{s50 * 1000:>10.1f}ms{f50 * 1000:>10.1f}ms{s50 / f50:>8.2f}")
            print(f"sluice peak RSS: {peak_rss_mb(process.pid):.0f} MB")
        finally:
            process.terminate()
            process.wait()
        # A restart on the same state folder reads what the first process learnt of the archive.
        process, base, seconds = first_page()
        process.terminate()
        process.wait()
        print(f"restart with the archive index kept, to the first issue page {seconds * 1000:.0f} ms")
    finally:
        moto.terminate()
        moto.wait()
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--sluice", required=True)
    parser.add_argument("--fixtures", default=os.environ.get("SLUICE_FIXTURES", "../shared/fixtures"))
    parser.add_argument("--copies", type=int, default=15, help="copies of the fixtures' issue log in the scaled archive")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--group-runs", type=int, default=20)
    args = parser.parse_args()

    archive = os.path.abspath(os.path.join(args.fixtures, "collection-archive"))
    print(f"{os.cpu_count()} cores; duckdb {duckdb.__version__}; latencies over {args.runs} requests "
          f"({args.group_runs} for group-by) after a warm-up")
    folder_p50s = bench(args.sluice, archive, "fixtures", args.runs, args.group_runs)
    bench_datasette(archive, args.runs, folder_p50s)
    bench_s3(args.sluice, archive, args.runs, args.group_runs, folder_p50s)
    scaled = tempfile.mkdtemp(prefix="sluice-bench-archive-")
    try:
        scale(archive, scaled, args.copies)
        # Fewer page requests at scale: each scans millions of rows.
        bench(args.sluice, scaled, f"scaled x{args.copies}", min(args.runs, 20), min(args.group_runs, 5))
    finally:
        shutil.rmtree(scaled, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
