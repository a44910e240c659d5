"""Elastic Path, end to end in-process: jobs, their files' rows, state across runs."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pytest

from tests.conftest import days_ago, ep_config
from tests.tap_runner import run_tap

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


def _csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def test_every_finished_job_and_every_row_of_its_file_lands(ep):
    ep.generate_orders(300, days_ago(5), days_ago(1))
    done = ep.add_job(created_at=days_ago(2), filter="eq(payment,paid)")
    result = run_tap(ep_config(ep))

    jobs = {r["id"]: r for r in result.records(JOBS)}
    assert jobs[done]["status"] == "succeeded" and jobs[done]["is_terminal"] is True
    expected = _csv_rows(ep.jobs[done].csv)
    rows = result.records(ROWS)
    assert [r["row"] for r in rows] == expected
    assert [r["row_number"] for r in rows] == list(range(1, len(expected) + 1))
    assert {r["job_id"] for r in rows} == {done}


def test_a_second_run_emits_nothing_already_emitted(ep):
    ep.generate_orders(100, days_ago(5), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    ep.add_job(
        created_at=days_ago(1), state="failed", error="No results matched the supplied filter"
    )
    first = run_tap(ep_config(ep))
    second = run_tap(ep_config(ep), state=first.state)
    assert len(first.records(JOBS)) == 2 and first.records(ROWS)
    assert second.records(JOBS) == []
    assert second.records(ROWS) == []


def test_a_job_that_finishes_between_runs_lands_its_rows_once(ep):
    ep.generate_orders(50, days_ago(5), days_ago(1))
    job = ep.add_job(created_at=days_ago(1), state="pending", finish_after_polls=10_000)
    first = run_tap(ep_config(ep, max_wait_seconds=0.1))
    assert [r["status"] for r in first.records(JOBS)] == ["running"]
    assert first.records(ROWS) == []

    ep.jobs[job].finish_after_polls = 1
    second = run_tap(ep_config(ep), state=first.state)
    third = run_tap(ep_config(ep), state=second.state)
    assert [r["status"] for r in second.records(JOBS)] == ["succeeded"]
    assert len(second.records(ROWS)) == len(_csv_rows(ep.jobs[job].csv)) > 0
    assert third.records(JOBS) == [] and third.records(ROWS) == []


def test_an_unfinished_job_holds_the_bookmark_and_settled_ones_after_it_are_not_repeated(ep):
    ep.generate_orders(50, days_ago(5), days_ago(1))
    stuck = ep.add_job(created_at=days_ago(3), state="pending", finish_after_polls=10_000)
    later = ep.add_job(created_at=days_ago(1))
    first = run_tap(ep_config(ep, max_wait_seconds=0))
    bookmark = first.state["bookmarks"][JOBS]
    assert bookmark["replication_key_value"] == ep_created_at(first, stuck)
    second = run_tap(ep_config(ep, max_wait_seconds=0), state=first.state)
    assert second.records(JOBS) == []  # stuck is unchanged, later already emitted
    assert later in bookmark["jobs"]


def ep_created_at(result, job_id: str) -> str:
    return next(r["created_at"] for r in result.records(JOBS) if r["id"] == job_id)


def test_no_results_failure_is_an_empty_job_not_a_failure(ep):
    job = ep.add_job(
        created_at=days_ago(1), state="failed", error="No results matched the supplied filter"
    )
    other = ep.add_job(created_at=days_ago(1), state="failed", error="Internal error")
    records = {r["id"]: r for r in run_tap(ep_config(ep)).records(JOBS)}
    assert records[job]["status"] == "empty" and records[job]["is_terminal"]
    assert records[other]["status"] == "failed" and records[other]["error"] == "Internal error"


@pytest.mark.parametrize("style", ["spec", "moltin", "jssdk"])
def test_every_documented_status_spelling_is_understood(ep, style):
    ep.status_style = style
    ep.generate_orders(20, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2), state="pending", finish_after_polls=10_000)
    ep.add_job(created_at=days_ago(2))
    statuses = sorted(r["status"] for r in run_tap(ep_config(ep, max_wait_seconds=0)).records(JOBS))
    assert statuses == ["running", "succeeded"]


@pytest.mark.parametrize(
    ("file_style", "link_href_style"),
    [
        ("spec", "file_url"),
        ("jssdk", "file_url"),
        ("spec", "api_file_endpoint"),
        ("jssdk", "empty"),
    ],
)
def test_every_documented_file_link_shape_leads_to_the_rows(ep, file_style, link_href_style):
    ep.file_style, ep.link_href_style = file_style, link_href_style
    ep.generate_orders(30, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(2))
    rows = run_tap(ep_config(ep)).records(ROWS)
    assert [r["row"] for r in rows] == _csv_rows(ep.jobs[job].csv)


def test_every_page_of_a_paginated_listing_is_read(ep):
    ep.paginate = True
    ep.generate_orders(10, days_ago(3), days_ago(1))
    ids = {ep.add_job(created_at=days_ago(2), state="failed", error="boom") for _ in range(130)}
    result = run_tap(ep_config(ep))
    assert {r["id"] for r in result.records(JOBS)} == ids
    assert len(ep.requests_to(r"^/v2/jobs$", "GET")) == 2  # 100 + 30


def test_timestamps_with_every_fraction_length_and_never_updated_jobs(ep):
    ep.add_job(created_at=days_ago(2), state="pending", finish_after_polls=10_000)
    # Queued behind the first; the fake writes their times with 1 to 9 fraction digits.
    queued = [ep.add_job(created_at=days_ago(1 + n / 100), state="pending") for n in range(9)]
    records = {r["id"]: r for r in run_tap(ep_config(ep, max_wait_seconds=0)).records(JOBS)}
    for job_id in queued:
        record = records[job_id]
        expected = datetime.fromtimestamp(int(ep.jobs[job_id].created_at), timezone.utc)
        assert record["status"] == "pending"
        assert record["created_at"].startswith(expected.strftime("%Y-%m-%dT%H:%M:%S"))
        assert record["created_at"].endswith("+00:00")
        assert record["updated_at"] is None  # the API says 0001-01-01T00:00:00Z


def test_an_unknown_status_is_unknown_not_terminal_and_looked_at_again(ep):
    ep.generate_orders(20, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(1))
    ep.status_style = "weird"
    from tests.fakes.elasticpath import STATUS_STYLES

    STATUS_STYLES["weird"] = {
        "pending": "QUEUED?",
        "running": "WORKING?",
        "success": "DONE?",
        "failed": "BROKEN?",
    }
    try:
        first = run_tap(ep_config(ep, max_wait_seconds=0))
    finally:
        del STATUS_STYLES["weird"]
    record = first.records(JOBS)[0]
    assert (record["status"], record["status_raw"], record["is_terminal"]) == (
        "unknown",
        "DONE?",
        False,
    )
    assert first.records(ROWS) == []
    ep.status_style = "spec"
    second = run_tap(ep_config(ep), state=first.state)
    assert [r["status"] for r in second.records(JOBS)] == ["succeeded"]
    assert {r["job_id"] for r in second.records(ROWS)} == {job}


def test_a_job_gone_from_the_api_after_a_week_becomes_expired_and_drains(ep):
    ep.add_job(created_at=days_ago(6.9), state="pending", finish_after_polls=10_000)
    first = run_tap(ep_config(ep, max_wait_seconds=0))
    ep.advance(2 * 24 * 3600)
    second = run_tap(ep_config(ep, max_wait_seconds=0), state=first.state)
    assert [r["status"] for r in second.records(JOBS)] == ["expired"]
    third = run_tap(ep_config(ep, max_wait_seconds=0), state=second.state)
    assert third.records(JOBS) == []


def test_deselecting_the_rows_stream_downloads_nothing(ep, files):
    ep.generate_orders(30, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    result = run_tap(ep_config(ep), deselect=[ROWS])
    assert len(result.records(JOBS)) == 1
    assert files.log == []


def test_download_urls_are_redacted_in_records_by_default(ep):
    ep.generate_orders(30, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    record = run_tap(ep_config(ep)).records(JOBS)[0]
    assert "Signature=REDACTED" in record["download_url"]
    assert record["download_url_expires_at"] is not None
