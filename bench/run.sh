#!/usr/bin/env bash
# `make bench`: Sluice against its references (DuckDB) on the same work, side by side in one run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet -r tests/requirements.txt
# A venv of its own for DuckDB's postgres extension (see the requirements file); the bench runs
# without that reference when it cannot be installed.
duckdb_pg="${SLUICE_BENCH_DUCKDB_PG_VENV:-/var/tmp/sluice-bench-duckdb-pg}"
if [ ! -x "$duckdb_pg/bin/python" ]; then
    python3 -m venv "$duckdb_pg" &&
        "$duckdb_pg/bin/pip" install --quiet -r bench/duckdb-postgres-requirements.txt ||
        echo "DuckDB's postgres extension could not be installed; that reference is left out"
fi
# wrk drives the load test; Debian's package, pinned.
command -v wrk >/dev/null || apt-get install -y -qq wrk=4.1.0-3+b2 >/dev/null
cargo build --release -p sluice-server --bins
binary="${CARGO_TARGET_DIR:-target}/release/sluice"

echo "== flows: CSV through three transforms into Parquet"
python3 bench/flow_csv_to_parquet.py --sluice "$binary"
echo
echo "== pipeline metadata API"
python3 bench/metadata_api.py --sluice "$binary"
echo
echo "== a flow's view: 100,000 log lines against ten"
python3 bench/flow_view.py --sluice "$binary"
echo
echo "== /v2/flows over 100,000 flows: a page newest first, with its total, by end time"
python3 bench/flow_list.py --sluice "$binary"
echo
echo "== PostgreSQL in and out: against psql's \\copy and DuckDB's postgres extension"
python3 bench/flow_postgres.py --sluice "$binary" --duckdb-python "$duckdb_pg/bin/python"
echo
echo "== a transform pushed down to PostgreSQL: against pulling every row, and psql itself"
python3 bench/pushdown.py --sluice "$binary"
echo
echo "== a join of two 10M-row Parquet tables: the local engine, Ballista with 1 and 2 executors, DuckDB"
python3 bench/ballista.py --sluice "$binary"
echo
echo "== under load: 64 connections for 30 s on a flow's view, an issue page and store registration"
python3 bench/load.py --sluice "$binary"
echo
echo "== /v2: reads with and without keys, and events followed on another replica"
python3 bench/api_v2.py --sluice "$binary"
