"""Uniware end to end through the real `meltano run` into target-jsonl and target-duckdb:
export jobs the tap creates for each day and facility, a job followed by its code, every
row once, and the password nowhere in what Meltano shows or lands."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import UNIWARE_PASSWORD, UNIWARE_USER
from tests.test_meltano_e2e import Pipeline, meltano_installed

__all__ = ["meltano_installed"]  # the session fixture, used by name

JOBS, ROWS = "uniware_export_jobs", "uniware_export_rows"
FACILITIES = ["WH_DEL", "WH_BLR"]


def _today() -> datetime:
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


@pytest.fixture
def orders(uw):
    """Orders of both facilities over the last days; Pipeline's start_date makes two daily
    windows each. Someone ran an export of an earlier day in the UI and names its code."""
    today = _today()
    uw.finish_after_polls = 1
    for facility in FACILITIES:
        uw.add_rows(facility, 80, today - timedelta(days=4), today)
    other = uw.add_job("WH_DEL", today - timedelta(days=4), today - timedelta(days=3))
    settings = {
        "TAP_EXPORTJOBS_UNIWARE_TENANT": "e2e",
        "TAP_EXPORTJOBS_UNIWARE_API_URL": uw.url,
        "TAP_EXPORTJOBS_UNIWARE_USERNAME": UNIWARE_USER,
        "TAP_EXPORTJOBS_UNIWARE_PASSWORD": UNIWARE_PASSWORD,
        "TAP_EXPORTJOBS_UNIWARE_FACILITIES": json.dumps(FACILITIES),
        "TAP_EXPORTJOBS_UNIWARE_JOB_CODES": json.dumps([other]),
        "TAP_EXPORTJOBS_UNIWARE_EXPORTS": json.dumps(
            [
                {
                    "name": "sale_orders",
                    "export_job_type_name": "Sale Orders",
                    "columns": ["saleOrderCode", "channel", "addedOn"],
                    "date_filter_id": "addedOn",
                    "window_days": 1,
                }
            ]
        ),
    }
    return other, settings


@pytest.mark.parametrize("loader", ["target-jsonl", "target-duckdb"])
def test_meltano_run_lands_every_uniware_job_and_row_exactly_once(
    meltano_installed, ep, m3, uw, orders, tmp_path, loader
):
    other, settings = orders
    pipeline = Pipeline(ep, m3, tmp_path, loader, uniware=settings)
    # max_wait_seconds is short: a window left for later is created by a later run.
    runs = [pipeline.run() for _ in range(3)]
    created = [job.code for job in uw.created_jobs()]
    assert len(created) == 4  # one per day and facility, never again
    every = {other, *created}
    expected = {(code, n + 1) for code in every for n in range(len(uw.window_rows(uw.jobs[code])))}
    if loader == "target-jsonl":
        jobs = pipeline.jsonl(JOBS)
        assert {r["id"] for r in jobs if r["status"] == "succeeded"} == every
        landed = [(r["job_id"], r["row_number"]) for r in pipeline.jsonl(ROWS)]
        written = json.dumps(jobs) + json.dumps(pipeline.jsonl(ROWS))
    else:
        statuses = dict(pipeline.duckdb(f"select id, status from exportjobs.{JOBS}"))
        assert statuses == dict.fromkeys(every, "succeeded")
        landed = [
            tuple(r) for r in pipeline.duckdb(f"select job_id, row_number from exportjobs.{ROWS}")
        ]
        written = json.dumps(statuses)
    assert len(landed) == len(set(landed))
    assert set(landed) == expected
    shown = "".join(run.stdout + run.stderr for run in runs)
    assert "DO-NOT-LEAK" not in shown + written
