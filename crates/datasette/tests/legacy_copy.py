"""Builds a Datasette-style SQLite copy of a Parquet collection archive and a collection log, as
the legacy service shaped it: underscore column names, one table per part, CSV values as text.

    python3 legacy_copy.py <archive folder> <out.sqlite> [<collection log folder> [<specification folder> [<configuration folder>]]]

The configuration (collection/<c>/*.csv, pipeline/<c>/*.csv) becomes one table per kind of file
(`endpoint`, `source`, `default_value`, …) holding every collection's rows with a
`collection_folder` column (the <c> of the file's folder), and `configuration_file` lists which
files each collection has.
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
if len(sys.argv) > 5:
    config = sys.argv[5]
    files = []
    tables = {}
    for part, kinds in [("collection", {"endpoint", "source"}), ("pipeline", None)]:
        for collection in sorted(os.listdir(os.path.join(config, part))):
            folder = os.path.join(config, part, collection)
            for name in sorted(os.listdir(folder)):
                kind = name.removesuffix(".csv")
                if not name.endswith(".csv") or (kinds is not None and kind not in kinds):
                    continue
                table = kind.replace("-", "_")
                files.append((collection, table))
                t = tables.setdefault(table, {"columns": [], "rows": []})
                with open(os.path.join(folder, name), newline="") as f:
                    reader = csv.reader(f)
                    columns = [c.replace("-", "_") for c in next(reader)] + ["collection_folder"]
                    t["columns"] += [c for c in columns if c not in t["columns"]]
                    t["rows"] += [dict(zip(columns[:-1], row)) | {"collection_folder": collection}
                                  for row in reader]
    for table, t in tables.items():
        quoted = ", ".join(f'"{c}" TEXT' for c in t["columns"])
        db.execute(f'CREATE TABLE "{table}" ({quoted})')
        marks = ", ".join("?" for _ in t["columns"])
        db.executemany(f'INSERT INTO "{table}" VALUES ({marks})',
                       [[r.get(c, "") for c in t["columns"]] for r in t["rows"]])
    db.execute('CREATE TABLE configuration_file (collection_folder TEXT, "table" TEXT)')
    db.executemany("INSERT INTO configuration_file VALUES (?, ?)", files)
db.commit()
db.close()
