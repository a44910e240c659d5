"""Talkdesk Explore report jobs against the fake Talkdesk (shared/api-notes/talkdesk.md):
windows, formats, statuses and the redirects of a done job."""

from __future__ import annotations

import json
import logging
import tracemalloc
from datetime import datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from tap_exportjobs.formats import open_rows
from tap_exportjobs.tap import TapExportJobs
from tests.conftest import talkdesk_config
from tests.fakes.talkdesk import COLUMNS
from tests.tap_runner import run_tap

JOBS, ROWS = "talkdesk_report_jobs", "talkdesk_report_rows"
LOCAL = "%Y-%m-%dT%H:%M:%S"


def midnight_days_ago(days: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def row_ids(result) -> list[str]:
    return [r["row"]["call_id"] for r in result.records(ROWS)]


def one_day(td, fmt: str = "json", **block) -> tuple[dict, list[dict]]:
    """A config for yesterday's calls (one window) and the rows it should land."""
    start = midnight_days_ago(1)
    td.add_rows("calls", 60, start - timedelta(hours=6), start + timedelta(days=1, hours=6))
    config = talkdesk_config(
        td,
        start_date=start.isoformat(),
        talkdesk={"reports": [{"type": "calls", "format": fmt}], **block},
    )
    end = start + timedelta(days=1)
    expected = [
        r
        for r in td.rows["calls"]
        if start.strftime("%Y-%m-%dT%H:%M:%SZ") <= r["end_at"] < end.strftime("%Y-%m-%dT%H:%M:%SZ")
    ]
    return config, expected


def test_a_backfill_creates_one_job_per_window_with_exact_bounds_and_every_row_lands_once(td):
    start, today = midnight_days_ago(90), midnight_days_ago(0)
    rows = td.add_rows("calls", 400, start - timedelta(days=3), today)
    config = talkdesk_config(
        td,
        start_date=start.isoformat(),
        talkdesk={"reports": [{"type": "calls", "format": "json", "window_days": 30}]},
    )
    first = run_tap(config)
    local = [(start + timedelta(days=30 * n)).strftime(LOCAL) for n in range(4)]
    spans = sorted((j.span_from, j.span_to) for j in td.created_jobs("calls"))
    assert spans == list(pairwise(local))
    since = start.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert sorted(row_ids(first)) == sorted(r["call_id"] for r in rows if r["end_at"] >= since)
    second = run_tap(config, state=first.state)
    assert len(td.created_jobs("calls")) == 3
    assert row_ids(second) == []


def test_state_drains_settled_jobs_and_keeps_facts_only_of_jobs_it_still_holds(td):
    td.show_created_at = True
    td.token_ttl_seconds = td.link_ttl_seconds = 7200
    td.advance(-3600)  # the jobs were made an hour ago
    config, _ = one_day(td)
    config["start_date"] = midnight_days_ago(3).isoformat()
    first = run_tap(config)
    assert len(td.created_jobs("calls")) == 3
    state = first.state["bookmarks"][JOBS]
    assert len(state["jobs"]) == 1  # only the newest, at the bookmark
    assert set(state["job_facts"]) == set(state["jobs"])
    second = run_tap(config, state=first.state)
    assert second.records(JOBS) == []


def test_windows_are_days_of_the_reports_time_zone_sent_as_local_times_with_that_zone(td):
    tz = ZoneInfo("America/New_York")
    today = datetime.now(tz).replace(hour=0, minute=0, second=0, microsecond=0)
    start = today - timedelta(days=3)
    rows = td.add_rows("calls", 200, start - timedelta(days=1), today + timedelta(hours=12))
    config = talkdesk_config(
        td,
        start_date=start.astimezone(timezone.utc).isoformat(),
        talkdesk={"reports": [{"type": "calls", "format": "csv", "timezone": str(tz)}]},
    )
    result = run_tap(config)
    jobs = td.created_jobs("calls")
    days = [(start + timedelta(days=n)).strftime(LOCAL) for n in range(4)]
    assert [(j.span_from, j.span_to, j.timezone) for j in jobs] == [
        (a, b, "America/New_York") for a, b in pairwise(days)
    ]
    low, high = (d.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") for d in (start, today))
    assert sorted(row_ids(result)) == sorted(
        r["call_id"] for r in rows if low <= r["end_at"] < high
    )
    assert {r["timezone"] for r in result.records(JOBS)} == {"America/New_York"}


def test_several_report_jobs_run_at_once_up_to_max_jobs_in_flight(td):
    start = midnight_days_ago(10)
    td.add_rows("calls", 100, start, midnight_days_ago(0))
    config = talkdesk_config(td, start_date=start.isoformat(), talkdesk={"max_jobs_in_flight": 3})
    run_tap(config)
    assert len(td.created_jobs("calls")) == 10
    assert td.max_created_unfinished == 3


def test_each_job_is_created_with_a_name_naming_the_tap_the_report_and_the_window(td):
    config, _ = one_day(td)
    run_tap(config)
    [job] = td.created_jobs("calls")
    start = midnight_days_ago(1)
    assert job.name == (
        f"tap-exportjobs calls {start.isoformat()}/{(start + timedelta(days=1)).isoformat()} UTC"
    )


@pytest.mark.parametrize("style", ["entries", "bare", "list", "lines"])
def test_a_json_file_lands_row_for_row_whichever_payload_shape(td, style):
    td.json_style = style
    config, expected = one_day(td, "json")
    result = run_tap(config)
    assert [r["row"] for r in result.records(ROWS)] == expected


def test_a_json_bulk_file_lands_row_for_row(td):
    config, expected = one_day(td, "json_bulk")
    result = run_tap(config)
    assert [r["row"] for r in result.records(ROWS)] == expected


def test_a_csv_file_lands_row_for_row_as_strings(td):
    config, expected = one_day(td, "csv")
    result = run_tap(config)
    assert [r["row"] for r in result.records(ROWS)] == [
        {k: str(row[k]) for k in COLUMNS} for row in expected
    ]
    assert {r["format"] for r in result.records(JOBS)} == {"csv"}


def test_the_rows_of_a_json_object_are_its_named_entries_array_not_the_first_array(tmp_path):
    path = tmp_path / "report.json"
    path.write_text(json.dumps({"fields": [{"name": "x"}], "entries": [{"a": 1}, {"a": 2}]}))
    with open_rows(path, "json", rows_key="entries") as decoded:
        assert list(decoded.rows) == [{"a": 1}, {"a": 2}]


def test_a_large_json_file_is_read_without_holding_it_in_memory(tmp_path):
    path = tmp_path / "large.json"
    entry = {"call_id": "x" * 32, "notes": "y" * 200, "talk_time": 1}
    count = 150_000
    with path.open("w") as out:
        out.write('{"type": "calls", "version": "v1", "entries": [')
        out.write(",".join(json.dumps({**entry, "n": n}) for n in range(count)))
        out.write(f'], "total": {count}}}')
    assert path.stat().st_size > 35 * 1024 * 1024
    tracemalloc.start()
    try:
        with open_rows(path, "json", rows_key="entries") as decoded:
            in_order = [row == {**entry, "n": n} for n, row in enumerate(decoded.rows)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(in_order) == count
    assert all(in_order)
    assert peak < 8 * 1024 * 1024


@pytest.mark.parametrize("status", [300, 302, 303])
def test_a_done_redirect_is_done_and_the_status_call_never_follows_it_into_the_file(td, status):
    td.redirect_status = status
    config, expected = one_day(td)
    result = run_tap(config)
    [job] = result.records(JOBS)
    assert (job["status"], job["is_terminal"]) == ("succeeded", True)
    assert [r["row"] for r in result.records(ROWS)] == expected
    # files/{id} is asked once, by the download; the status calls did not go there.
    assert len(td.requests_to(r"/files/")) == 1
    assert len(td.files.requests_to(r"/bucket/")) == 1


@pytest.mark.parametrize("case", ["lower", "upper"])
def test_uploading_is_running_and_a_run_that_stops_resumes_the_job_next_run(td, case):
    td.status_case = case
    td.finish_after_polls = 1000
    config, expected = one_day(td)
    config["max_wait_seconds"] = 0.3
    first = run_tap(config)
    [job] = first.records(JOBS)
    assert job["status_raw"].lower() == "uploading"
    assert (job["status"], job["is_terminal"]) == ("running", False)
    td.finish_after_polls = 1
    config["max_wait_seconds"] = 10
    second = run_tap(config, state=first.state)
    assert len(td.created_jobs("calls")) == 1
    assert [r["row"] for r in second.records(ROWS)] == expected


@pytest.mark.parametrize("ending", ["failed", "canceled", "deleted"])
def test_a_window_whose_job_ended_without_a_file_is_created_again(td, ending, caplog):
    td.endings = [ending]
    config, expected = one_day(td)
    with caplog.at_level(logging.WARNING):
        result = run_tap(config)
    first, second = td.created_jobs("calls")
    assert (first.span_from, first.span_to) == (second.span_from, second.span_to)
    statuses = [r["status"] for r in result.records(JOBS)]
    assert statuses == [ending, "succeeded"]
    assert [r["row"] for r in result.records(ROWS)] == expected
    assert f"talkdesk reports the job {ending}" in caplog.text.lower()
    assert "window is created again" in caplog.text


def test_a_window_is_given_up_after_three_jobs_that_failed(td, caplog):
    td.endings = ["failed"] * 3
    config, _ = one_day(td)
    with caplog.at_level(logging.ERROR):
        result = run_tap(config)
    assert len(td.created_jobs("calls")) == 3
    assert result.records(ROWS) == []
    assert "the window is given up" in caplog.text
    run_tap(config, state=result.state)
    assert len(td.created_jobs("calls")) == 3


def test_an_unknown_status_is_unknown_not_terminal_and_kept_for_next_run(td, caplog):
    td.endings = ["paused"]
    config, _ = one_day(td)
    config["max_wait_seconds"] = 0.3
    with caplog.at_level(logging.WARNING):
        result = run_tap(config)
    [job] = result.records(JOBS)
    assert (job["status"], job["status_raw"], job["is_terminal"]) == ("unknown", "paused", False)
    assert "unknown job status 'paused'" in caplog.text
    in_flight = result.state["bookmarks"][JOBS]["exports"]["calls"]["in_flight"]
    assert [e["id"] for e in in_flight] == [td.created_jobs("calls")[0].id]


@pytest.mark.parametrize(
    ("region", "api", "token"),
    [
        ("us", "https://api.talkdeskapp.com", "https://acme.talkdeskid.com/oauth/token"),
        ("eu", "https://api.talkdeskapp.eu", "https://acme.talkdeskid.eu/oauth/token"),
        ("ca", "https://api.talkdeskappca.com", "https://acme.talkdeskidca.com/oauth/token"),
    ],
)
def test_each_region_has_its_api_base_and_token_host(region, api, token):
    block = {"account": "acme", "client_id": "i", "client_secret": "s", "region": region}
    stream = TapExportJobs(config={"talkdesk": block}).streams[JOBS]
    assert (stream.url_base, stream.token_url) == (api, token)
