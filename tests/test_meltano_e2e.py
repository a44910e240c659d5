"""End to end through the real `meltano run` into real targets (target-jsonl, target-duckdb).

Meltano runs the tap as a subprocess from its own plugin venv, exactly as users run it; the
fake APIs answer from this test process on loopback.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tests.conftest import CLIENT_ID, CLIENT_SECRET, M3TER_KEY, M3TER_SECRET, days_ago
from tests.tap_runner import ROOT

MELTANO = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin" / "meltano"
DUCKDB_PYTHON = ROOT / ".meltano" / "loaders" / "target-duckdb" / "venv" / "bin" / "python"
JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


@pytest.fixture(scope="session")
def meltano_installed():
    """The plugins meltano.yml declares, installed by meltano itself (once per session)."""
    if not MELTANO.exists():
        pytest.fail(f"meltano is not installed at {MELTANO}: pip install -e '.[dev]'")
    env = {**os.environ, "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false"}
    subprocess.run(
        [str(MELTANO), "install"], cwd=ROOT, env=env, check=True, capture_output=True, timeout=900
    )


def _today() -> datetime:
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


class Pipeline:
    """`meltano run tap-exportjobs <loader>` with its own system database, outputs and state."""

    def __init__(
        self,
        ep,
        m3,
        workdir: Path,
        loader: str,
        talkdesk: dict | None = None,
        uniware: dict | None = None,
    ) -> None:
        self.loader = loader
        self.workdir = workdir
        self.env = {
            **os.environ,
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_DATABASE_URI": f"sqlite:///{workdir / 'meltano.db'}",
            "TAP_EXPORTJOBS_START_DATE": (_today() - timedelta(days=2)).isoformat(),
            # Meltano's `decimal` kind cannot be serialized (a Meltano bug), so these
            # settings are integers in meltano.yml: whole seconds.
            "TAP_EXPORTJOBS_POLL_INTERVAL_SECONDS": "1",
            "TAP_EXPORTJOBS_POLL_INTERVAL_MAX_SECONDS": "1",
            "TAP_EXPORTJOBS_MAX_WAIT_SECONDS": "2",
            "TAP_EXPORTJOBS_ELASTICPATH_API_URL": ep.url,
            "TAP_EXPORTJOBS_ELASTICPATH_CLIENT_ID": CLIENT_ID,
            "TAP_EXPORTJOBS_ELASTICPATH_CLIENT_SECRET": CLIENT_SECRET,
            "TAP_EXPORTJOBS_ELASTICPATH_ORDER_EXPORTS_WINDOW_DAYS": "1",
            "TAP_EXPORTJOBS_M3TER_API_URL": m3.url,
            "TAP_EXPORTJOBS_M3TER_ORG_ID": m3.org_id,
            "TAP_EXPORTJOBS_M3TER_CLIENT_ID": M3TER_KEY,
            "TAP_EXPORTJOBS_M3TER_CLIENT_SECRET": M3TER_SECRET,
            "TAP_EXPORTJOBS_M3TER_DATA_EXPORTS": json.dumps(
                [{"name": "daily_usage", "source_type": "USAGE", "window_days": 1}]
            ),
            # Talkdesk is off unless a test gives its settings (TAP_EXPORTJOBS_TALKDESK_*).
            "TAP_EXPORTJOBS_TALKDESK_REPORTS": "[]",
            "TAP_EXPORTJOBS_TALKDESK_FOLLOW_EXISTING_JOBS": "false",
            **(talkdesk or {}),
            # Uniware makes no request unless a test gives it exports or job codes.
            "TAP_EXPORTJOBS_UNIWARE_EXPORTS": "[]",
            "TAP_EXPORTJOBS_UNIWARE_JOB_CODES": "[]",
            **(uniware or {}),
            "TARGET_JSONL_DESTINATION_PATH": str(workdir / "jsonl"),
            "TARGET_DUCKDB_FILEPATH": str(workdir / "warehouse.duckdb"),
        }

    def run(self, *, succeeds: bool = True) -> subprocess.CompletedProcess:
        """One `meltano run`; it must exit 0, or (with `succeeds=False`) non-zero."""
        completed = subprocess.run(
            [str(MELTANO), "--environment=sandbox", "run", "tap-exportjobs", self.loader],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert (completed.returncode == 0) == succeeds, completed.stderr[-4000:]
        (self.workdir / "meltano.log").open("a").write(completed.stderr)
        return completed

    def jsonl(self, stream: str) -> list[dict]:
        path = self.workdir / "jsonl" / f"{stream}.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def duckdb(self, sql: str) -> list[list]:
        script = (
            "import duckdb, json, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(json.dumps(c.execute(sys.argv[2]).fetchall(), default=str))"
        )
        out = subprocess.run(
            [str(DUCKDB_PYTHON), "-c", script, str(self.workdir / "warehouse.duckdb"), sql],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return json.loads(out.stdout)


LOOKUP_ROWS = "m3ter_lookup_table_data_rows"
EXPORT_ROWS = "m3ter_data_export_rows"


@pytest.fixture
def scenario(ep, m3):
    """Elastic Path: orders over the last days, one finished job, and exports enabled
    (through the sandbox environment) for the two whole days before today; the first export
    the tap creates is still running when the first run gives up waiting and finishes before
    the second run. m3ter: a lookup table the tap downloads, a finished data export, and
    daily usage exports the tap triggers for the same two days."""
    ep.generate_orders(300, _today() - timedelta(days=4), datetime.now(timezone.utc))
    done = ep.add_job(created_at=days_ago(1), filter="eq(payment,paid)")
    ep.finish_after_polls = 10_000
    m3.add_destination("S3")
    m3.add_table("rates", [("region", "STRING"), ("rate", "NUMBER")], rows=25)
    m3.add_export_job()
    return done


def _m3ter_expected(m3) -> dict[str, set]:
    lookup = {
        (job_id, n + 1)
        for job_id, job in m3.lookup_jobs.items()
        for n in range(len(m3.revision_rows[job.revision_id]))
    }
    exports = {(job_id, n + 1) for job_id in m3.export_jobs for n in range(20)}
    return {LOOKUP_ROWS: lookup, EXPORT_ROWS: exports}


def _expected_rows(ep, job_ids) -> set[tuple[str, int]]:
    return {
        (job_id, n + 1)
        for job_id in job_ids
        for n in range(len(list(csv.DictReader(io.StringIO(ep.jobs[job_id].csv.decode())))))
    }


def test_meltano_run_into_jsonl_lands_every_job_and_row_exactly_once(
    meltano_installed, ep, m3, scenario, tmp_path
):
    done = scenario
    pipeline = Pipeline(ep, m3, tmp_path, "target-jsonl")
    pipeline.run()
    [waiting] = [j.id for j in ep.created_jobs()]
    assert {r["id"]: r["status"] for r in pipeline.jsonl(JOBS)} == {
        done: "succeeded",
        waiting: "running",
    }
    rows = [(r["job_id"], r["row_number"]) for r in pipeline.jsonl(ROWS)]
    assert sorted(rows) == sorted(_expected_rows(ep, [done]))

    ep.finish_after_polls = 1  # the export finishes between runs
    pipeline.run()
    pipeline.run()
    created = [j.id for j in ep.created_jobs()]
    assert len(created) == 2 and created[0] == waiting  # resumed, not created again
    jobs = pipeline.jsonl(JOBS)
    assert [r["status"] for r in jobs if r["id"] == waiting] == ["running", "succeeded"]
    assert len(jobs) == 4  # nothing else was emitted again
    rows = [(r["job_id"], r["row_number"]) for r in pipeline.jsonl(ROWS)]
    assert len(rows) == len(set(rows))  # no row twice, across three runs
    assert set(rows) == _expected_rows(ep, [done, *created])

    assert len(m3.requests_to(r"/dataexports/adhoc$", "POST")) == 2  # one per day, once
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 1
    for stream, expected in _m3ter_expected(m3).items():
        landed = [(r["job_id"], r["row_number"]) for r in pipeline.jsonl(stream)]
        assert len(landed) == len(set(landed)) and set(landed) == expected


def test_meltano_run_into_duckdb_lands_every_job_and_row(
    meltano_installed, ep, m3, scenario, tmp_path
):
    done = scenario
    pipeline = Pipeline(ep, m3, tmp_path, "target-duckdb")
    pipeline.run()
    ep.finish_after_polls = 1
    pipeline.run()
    pipeline.run()
    created = [j.id for j in ep.created_jobs()]
    assert len(created) == 2
    statuses = dict(pipeline.duckdb(f"select id, status from exportjobs.{JOBS}"))
    assert statuses == {done: "succeeded", **{job_id: "succeeded" for job_id in created}}
    landed = pipeline.duckdb(f"select job_id, row_number from exportjobs.{ROWS}")
    assert len(landed) == len(set(map(tuple, landed)))
    assert set(map(tuple, landed)) == _expected_rows(ep, [done, *created])
    first = pipeline.duckdb(
        f"select row from exportjobs.{ROWS} where job_id = '{done}' and row_number = 1"
    )[0][0]
    expected_first = next(csv.DictReader(io.StringIO(ep.jobs[done].csv.decode())))
    assert json.loads(first) == expected_first

    for stream, expected in _m3ter_expected(m3).items():
        landed = pipeline.duckdb(f"select job_id, row_number from exportjobs.{stream}")
        assert len(landed) == len(set(map(tuple, landed)))
        assert set(map(tuple, landed)) == expected
    assert pipeline.duckdb("select count(*) from exportjobs.m3ter_export_destinations") == [[1]]
