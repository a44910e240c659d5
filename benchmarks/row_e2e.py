"""`--e2e` of the row benchmark: the whole pipeline, `meltano run tap-exportjobs
target-postgres`, on the RECORD path and with `batch_config`, into a throwaway PostgreSQL.

Both runs read the same served CSV (Elastic Path) with only its rows stream selected, each
with its own Meltano system database (no state carried over) and its own target schema;
rows/s is rows over the wall time of `meltano run` (discovery, tap, target, commit). The
table each one loaded is summed up (count, and an md5 over the rows in order) to show that
both paths landed the same rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import yaml

from benchmarks.row_files import prepare
from benchmarks.row_providers import serving
from benchmarks.row_runs import ROOT

MELTANO = ROOT / ".venv" / "bin" / "meltano"
ROWS_STREAM = "elasticpath_export_rows"
#: Rows landed, and one digest of all of them in file order ("row" is a keyword: quoted).
_TABLE_SUMMARY = (
    "select count(*), md5(string_agg(\"row\"::text, E'\\n' order by row_number)) "
    f"from {{schema}}.{ROWS_STREAM}"
)


def main(rows: int, cache: Path) -> None:
    try:
        from tests.postgres_server import running_postgres
    except ImportError as missing:
        raise SystemExit(f"--e2e needs tests/postgres_server.py ({missing})") from None
    path = prepare(cache, rows, 7, ["csv"])["csv"]
    modes = ["record", "batch"] if _batch_config_declared() else ["record"]
    if "batch" not in modes:
        print(
            "batch_config is not a tap-exportjobs setting in meltano.yml, so Meltano would not "
            "pass it: only the RECORD pipeline runs",
            file=sys.stderr,
        )
    results = {}
    with (
        running_postgres() as postgres,
        serving(path, "csv") as job,
        tempfile.TemporaryDirectory() as work,
    ):
        for mode in modes:
            workdir = Path(work) / mode
            (workdir / "batches").mkdir(parents=True)
            env = {
                **_pipeline_env(job.config["elasticpath"], workdir, mode),
                **postgres.env(),
                "TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA": f"bench_{mode}",
            }
            print(f"e2e {mode}: meltano run, {rows} rows", file=sys.stderr, flush=True)
            began = time.perf_counter()
            completed = subprocess.run(
                [str(MELTANO), "--environment=sandbox", "run", "tap-exportjobs", "target-postgres"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            seconds = time.perf_counter() - began
            if completed.returncode:
                raise SystemExit(f"meltano run ({mode}) failed:\n{completed.stderr[-4000:]}")
            summary = postgres.psql(_TABLE_SUMMARY.format(schema=f"bench_{mode}"))
            count, digest = summary.strip().split("|")
            batches = workdir / "batches"
            results[mode] = {
                "mode": mode,
                "rows": rows,
                "rows_landed": int(count),
                "rows_digest": digest,
                "seconds": round(seconds, 2),
                "rows_per_s": round(rows / seconds),
                "batch_files_left": len(list(batches.rglob("*"))),
            }
            print(json.dumps(results[mode]), flush=True)
    record = results["record"]
    print(f"\nRECORD pipeline: {record['rows_per_s']:,} rows/s ({record['seconds']} s)")
    if "batch" in results:
        batch = results["batch"]
        same = batch["rows_digest"] == record["rows_digest"]
        print(f"BATCH pipeline:  {batch['rows_per_s']:,} rows/s ({batch['seconds']} s)")
        print(f"BATCH / RECORD:  {batch['rows_per_s'] / record['rows_per_s']:.2f}")
        print(f"same table:      {'yes' if same else 'NO'}")


def _batch_config_declared() -> bool:
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    tap = next(p for p in project["plugins"]["extractors"] if p["name"] == "tap-exportjobs")
    return any(setting["name"] == "batch_config" for setting in tap.get("settings", []))


def _pipeline_env(elasticpath: dict, workdir: Path, mode: str) -> dict[str, str]:
    """Meltano's settings for one run: only the served Elastic Path job's rows, every other
    provider of the sandbox environment idle, no state from another run."""
    env = {
        **os.environ,
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
        "TAP_EXPORTJOBS__SELECT": json.dumps([f"{ROWS_STREAM}.*"]),
        "TAP_EXPORTJOBS_START_DATE": (datetime.now(timezone.utc) - timedelta(days=2)).isoformat(),
        "TAP_EXPORTJOBS_POLL_INTERVAL_SECONDS": "1",
        "TAP_EXPORTJOBS_POLL_INTERVAL_MAX_SECONDS": "1",
        "TAP_EXPORTJOBS_MAX_WAIT_SECONDS": "60",
        "TAP_EXPORTJOBS_ALLOW_HTTP_DOWNLOADS": "true",
        "TAP_EXPORTJOBS_ELASTICPATH_API_URL": elasticpath["api_url"],
        "TAP_EXPORTJOBS_ELASTICPATH_CLIENT_ID": elasticpath["client_id"],
        "TAP_EXPORTJOBS_ELASTICPATH_CLIENT_SECRET": elasticpath["client_secret"],
        "TAP_EXPORTJOBS_ELASTICPATH_ORDER_EXPORTS_ENABLED": "false",
        "TAP_EXPORTJOBS_M3TER_DATA_EXPORTS": "[]",
        "TAP_EXPORTJOBS_M3TER_DOWNLOAD_LOOKUP_TABLES": "false",
        "TAP_EXPORTJOBS_TALKDESK_REPORTS": "[]",
        "TAP_EXPORTJOBS_TALKDESK_FOLLOW_EXISTING_JOBS": "false",
        "TAP_EXPORTJOBS_UNIWARE_EXPORTS": "[]",
        "TAP_EXPORTJOBS_UNIWARE_JOB_CODES": "[]",
    }
    if mode == "batch":
        env["TAP_EXPORTJOBS_BATCH_CONFIG"] = json.dumps(
            {
                "encoding": {"format": "jsonl", "compression": "gzip"},
                "storage": {"root": f"file://{workdir / 'batches'}", "prefix": "rows-"},
            }
        )
    return env
