#!/usr/bin/env bash
# The demo: install, serve the bundled sandbox APIs, `meltano run` the tap into DuckDB,
# and show what landed. Safe to run again: the second run lands only what is new.
# Ports taken? SANDBOX_ELASTICPATH_PORT, SANDBOX_M3TER_PORT, SANDBOX_TALKDESK_PORT,
# SANDBOX_UNIWARE_PORT,
# SANDBOX_FILES_PORT choose others
# (0 = any free port); the tap is pointed at wherever the sandbox listens.
set -euo pipefail
cd "$(dirname "$0")/.."
export MELTANO_SEND_ANONYMOUS_USAGE_STATS=false PIP_DISABLE_PIP_VERSION_CHECK=1
# The demo talks to the sandbox only: settings exported for a real account must not leak in.
for name in $(compgen -e); do [[ $name == TAP_EXPORTJOBS_* ]] && unset "$name"; done

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'
.venv/bin/meltano install

mkdir -p output  # target-duckdb does not create the folder of its database
ready=$(mktemp -u)
.venv/bin/python -m tests.fakes.sandbox --ready-file "$ready" &
sandbox=$!
trap 'kill $sandbox 2>/dev/null || true; rm -f "$ready"' EXIT
for _ in $(seq 100); do
  [ -s "$ready" ] && break
  kill -0 "$sandbox" 2>/dev/null || exit 1 # it has said why
  sleep 0.1
done
[ -s "$ready" ] || { echo "the sandbox did not start" >&2; exit 1; }
url() { .venv/bin/python -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$ready" "$1"; }
# Override meltano.yml's sandbox URLs (the default ports) with where the sandbox listens.
TAP_EXPORTJOBS_ELASTICPATH_API_URL=$(url elasticpath)
TAP_EXPORTJOBS_M3TER_API_URL=$(url m3ter)
TAP_EXPORTJOBS_TALKDESK_API_URL=$(url talkdesk)
TAP_EXPORTJOBS_TALKDESK_TOKEN_URL="$TAP_EXPORTJOBS_TALKDESK_API_URL/oauth/token"
TAP_EXPORTJOBS_UNIWARE_API_URL=$(url uniware)
export TAP_EXPORTJOBS_ELASTICPATH_API_URL TAP_EXPORTJOBS_M3TER_API_URL
export TAP_EXPORTJOBS_TALKDESK_API_URL TAP_EXPORTJOBS_TALKDESK_TOKEN_URL
export TAP_EXPORTJOBS_UNIWARE_API_URL

.venv/bin/meltano --environment=sandbox run tap-exportjobs target-duckdb
.meltano/loaders/target-duckdb/venv/bin/python scripts/show_warehouse.py output/warehouse.duckdb
