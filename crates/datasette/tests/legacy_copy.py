"""Builds a Datasette-style SQLite copy of a Parquet collection archive and a collection log, as
the legacy service shaped it: underscore column names, one table per part, CSV values as text.

    python3 legacy_copy.py <archive folder> <out.sqlite> [<collection log folder> [<specification folder>]]
"""
import csv
import os
import sqlite3
import sys

import duckdb

archive, out = sys.argv[1], sys.argv[2]
db = sqlite3.connect(out)
con = duckdb.connect()


def copy(table, relation):
    cursor = con.execute(f"SELECT * FROM {relation}")
    columns = [d[0].replace("-", "_") for d in cursor.description]
    quoted = ", ".join(f'"{c}"' for c in columns)
    db.execute(f'CREATE TABLE "{table}" ({quoted})')
    marks = ", ".join("?" for _ in columns)
    while rows := cursor.fetchmany(50_000):
        db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', rows)


copy(
    "issue",
    f"""(SELECT dataset, resource, "line-number", "entry-number", field, "issue-type", value, message
         FROM read_parquet('{archive}/log/issue/**/*.parquet', hive_partitioning=true, union_by_name=true))""",
)
db.execute("CREATE INDEX issue_dataset ON issue (dataset, resource)")
copy("provision_summary", f"'{archive}/data/performance/provision_summary.parquet'")
copy("specification", f"'{archive}/data/specification/specification.parquet'")


def copy_csv(table, path):
    with open(path, newline="") as f:
        reader = csv.reader(f)
        columns = [c.replace("-", "_") for c in next(reader)]
        quoted = ", ".join(f'"{c}" TEXT' for c in columns)
        db.execute(f'CREATE TABLE "{table}" ({quoted})')
        marks = ", ".join("?" for _ in columns)
        db.executemany(f'INSERT INTO "{table}" VALUES ({marks})', reader)


if len(sys.argv) > 3:
    copy_csv("log", os.path.join(sys.argv[3], "log.csv"))
    copy_csv("resource", os.path.join(sys.argv[3], "resource.csv"))
if len(sys.argv) > 4:
    for table, name in [("dataset", "dataset.csv"), ("field", "field.csv"), ("dataset_field", "dataset-field.csv")]:
        copy_csv(table, os.path.join(sys.argv[4], name))
db.commit()
db.close()
