"""Talkdesk end to end through the real `meltano run` into target-jsonl and target-duckdb:
report jobs the tap creates for each day, a job someone else ran, every row once."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import TALKDESK_ID, TALKDESK_SECRET
from tests.test_meltano_e2e import Pipeline, meltano_installed

__all__ = ["meltano_installed"]  # the session fixture, used by name

JOBS, ROWS = "talkdesk_report_jobs", "talkdesk_report_rows"


def _today() -> datetime:
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def calls(td):
    """Calls over the last days; Pipeline's start_date makes two daily windows. Someone
    else ran a csv report of the day before them."""
    today = _today()
    td.add_rows("calls", 300, today - timedelta(days=4), today)
    other = td.add_job(
        "calls", fmt="csv", start=today - timedelta(days=3), end=today - timedelta(days=2)
    )
    settings = {
        "TAP_EXPORTJOBS_TALKDESK_API_URL": td.url,
        "TAP_EXPORTJOBS_TALKDESK_TOKEN_URL": f"{td.url}/oauth/token",
        "TAP_EXPORTJOBS_TALKDESK_CLIENT_ID": TALKDESK_ID,
        "TAP_EXPORTJOBS_TALKDESK_CLIENT_SECRET": TALKDESK_SECRET,
        "TAP_EXPORTJOBS_TALKDESK_FOLLOW_EXISTING_JOBS": "true",
        "TAP_EXPORTJOBS_TALKDESK_REPORTS": json.dumps(
            [{"type": "calls", "format": "json", "window_days": 1}]
        ),
    }
    return other, settings


def _expected(td, job_ids) -> set[tuple[str, int]]:
    return {
        (job_id, n + 1) for job_id in job_ids for n in range(len(td.window_rows(td.jobs[job_id])))
    }


@pytest.mark.parametrize("loader", ["target-jsonl", "target-duckdb"])
def test_meltano_run_lands_every_talkdesk_job_and_row_exactly_once(
    meltano_installed, ep, m3, td, calls, tmp_path, loader
):
    other, settings = calls
    pipeline = Pipeline(ep, m3, tmp_path, loader, talkdesk=settings)
    pipeline.run()
    pipeline.run()
    created = [job.id for job in td.created_jobs("calls")]
    assert len(created) == 2  # one per day, not again on the second run
    every = {other, *created}
    if loader == "target-jsonl":
        jobs = pipeline.jsonl(JOBS)
        assert sorted(r["id"] for r in jobs) == sorted(every)
        assert {r["status"] for r in jobs} == {"succeeded"}
        landed = [(r["job_id"], r["row_number"]) for r in pipeline.jsonl(ROWS)]
    else:
        statuses = dict(pipeline.duckdb(f"select id, status from exportjobs.{JOBS}"))
        assert statuses == dict.fromkeys(every, "succeeded")
        landed = [
            tuple(r) for r in pipeline.duckdb(f"select job_id, row_number from exportjobs.{ROWS}")
        ]
    assert len(landed) == len(set(landed))
    assert set(landed) == _expected(td, every)
    assert all("authorization" not in r.headers for r in td.files.log)
