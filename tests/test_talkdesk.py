"""Talkdesk Explore report jobs against the fake Talkdesk (shared/api-notes/talkdesk.md)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from itertools import pairwise

from tests.conftest import talkdesk_config
from tests.tap_runner import run_tap

JOBS, ROWS = "talkdesk_report_jobs", "talkdesk_report_rows"


def midnight_days_ago(days: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def row_ids(result) -> list[str]:
    return [r["row"]["call_id"] for r in result.records(ROWS)]


def test_a_backfill_creates_one_job_per_window_with_exact_bounds_and_every_row_lands_once(td):
    start, today = midnight_days_ago(90), midnight_days_ago(0)
    rows = td.add_rows("calls", 400, start - timedelta(days=3), today)
    config = talkdesk_config(
        td,
        start_date=start.isoformat(),
        talkdesk={"reports": [{"type": "calls", "format": "json", "window_days": 30}]},
    )
    first = run_tap(config)
    bounds = [start + timedelta(days=30 * n) for n in range(4)]
    local = [b.strftime("%Y-%m-%dT%H:%M:%S") for b in bounds]
    assert sorted((j.span_from, j.span_to) for j in td.created_jobs("calls")) == list(
        pairwise(local)
    )
    since = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sorted(row_ids(first)) == sorted(r["call_id"] for r in rows if r["end_at"] >= since)
    second = run_tap(config, state=first.state)
    assert len(td.created_jobs("calls")) == 3
    assert row_ids(second) == []
