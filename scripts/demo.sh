#!/usr/bin/env bash
# The demo: install, serve the bundled sandbox APIs, `meltano run` the tap into DuckDB,
# and show what landed. Safe to run again: the second run lands only what is new.
set -euo pipefail
cd "$(dirname "$0")/.."
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false PIP_DISABLE_PIP_VERSION_CHECK=1

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'
.venv/bin/meltano install

mkdir -p output  # target-duckdb does not create the folder of its database
ready=$(mktemp -u)
.venv/bin/python -m tests.fakes.sandbox --ready-file "$ready" &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; rm -f "$ready"' EXIT
for _ in $(seq 100); do [ -s "$ready" ] && break; sleep 0.1; done
[ -s "$ready" ] || { echo "the sandbox did not start" >&2; exit 1; }

.venv/bin/meltano --environment=sandbox run tap-exportjobs target-duckdb
.meltano/loaders/target-duckdb/venv/bin/python scripts/show_warehouse.py output/warehouse.duckdb
