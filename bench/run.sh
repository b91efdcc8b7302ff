#!/usr/bin/env bash
# `make bench`: Sluice against its references (DuckDB) on the same work, side by side in one run.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -c "import duckdb" 2>/dev/null || python3 -m pip install --quiet -r tests/requirements.txt
cargo build --release -p sluice-server --bin sluice
binary="${CARGO_TARGET_DIR:-target}/release/sluice"

echo "== flows: CSV through three transforms into Parquet"
python3 bench/flow_csv_to_parquet.py --sluice "$binary"
echo
echo "== pipeline metadata API"
python3 bench/metadata_api.py --sluice "$binary"
echo
echo "== a flow's view: 100,000 log lines against ten"
python3 bench/flow_view.py --sluice "$binary"
