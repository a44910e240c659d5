"""Talkdesk faults: creates that fail are not duplicated, a crashed run resumes its jobs,
expired links and tokens recover, the token stays on the API host, others' jobs are
followed."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

from tests.conftest import TALKDESK_SECRET, talkdesk_config
from tests.tap_runner import run_tap, write_json
from tests.test_kill_resume import _run_until, jobs_in_flight

JOBS, ROWS = "talkdesk_report_jobs", "talkdesk_report_rows"
CREATE = r"/data/reports/calls/jobs$"


def midnight_days_ago(days: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def days_of_calls(td, days: int, **block) -> dict:
    start = midnight_days_ago(days)
    td.add_rows("calls", 30 * days, start, midnight_days_ago(0))
    return talkdesk_config(td, start_date=start.isoformat(), talkdesk=block)


def windows_created(td) -> list[tuple[str, str]]:
    return sorted((j.span_from, j.span_to) for j in td.created_jobs("calls"))


def test_a_429_on_create_makes_no_duplicate_and_the_window_is_created_later(td):
    config = days_of_calls(td, 3)
    td.fail_next(1, 429, path=CREATE, method="POST")
    first = run_tap(config)
    second = run_tap(config, state=first.state)
    assert len(windows_created(td)) == len(set(windows_created(td))) == 3
    landed = first.row_keys(ROWS) + second.row_keys(ROWS)
    assert len(landed) == len(set(landed)) == len(td.rows["calls"])


def test_a_503_after_the_job_was_made_adopts_that_job_found_by_its_name(td, caplog):
    config = days_of_calls(td, 1)
    td.fail_after_next(1, 503, path=CREATE, method="POST")
    with caplog.at_level(logging.WARNING):
        result = run_tap(config)
    assert len(td.created_jobs("calls")) == 1
    assert "adopted" in caplog.text
    assert len(result.records(ROWS)) == len(td.rows["calls"])


def test_a_503_before_the_job_was_made_creates_it_once(td):
    config = days_of_calls(td, 1)
    td.fail_next(1, 503, path=CREATE, method="POST")
    result = run_tap(config)
    assert len(td.created_jobs("calls")) == 1
    assert len(result.records(ROWS)) == len(td.rows["calls"])


def test_a_refused_create_fails_naming_the_api_message_description_and_fields(td):
    config = days_of_calls(td, 1)
    refusal = {
        "code": "0000403",
        "message": "Forbidden",
        "description": "Inputs misconfiguration",
        "fields": [{"name": "timespan.from", "description": "must be before timespan.to"}],
    }
    td.fail_next(1, 403, path=CREATE, method="POST", body=json.dumps(refusal).encode())
    result = run_tap(config, fails=True)
    assert str(result.error).endswith(
        "HTTP 403 from POST /data/reports/calls/jobs: Forbidden: Inputs misconfiguration "
        "(timespan.from: must be before timespan.to)"
    )


def test_a_run_that_crashed_after_creating_resumes_its_job_instead_of_creating_another(td):
    config = days_of_calls(td, 1)
    # The first status call fails for good: the run stops with the job in flight.
    td.fail_next(1, 400, path=r"/jobs/[^/]+$", method="GET")
    crashed = run_tap(config, fails=True)
    [entry] = crashed.state["bookmarks"][JOBS]["exports"]["calls"]["in_flight"]
    assert entry["id"] == td.created_jobs("calls")[0].id
    resumed = run_tap(config, state=crashed.state)
    assert len(td.created_jobs("calls")) == 1
    assert len(resumed.records(ROWS)) == len(td.rows["calls"])


def test_a_run_killed_with_jobs_in_flight_resumes_them_instead_of_creating_more(td, tmp_path):
    config = days_of_calls(td, 4, max_jobs_in_flight=4)
    td.finish_after_polls = 10_000
    path = write_json(tmp_path / "config.json", config)
    messages = _run_until(path, lambda m: len(jobs_in_flight(m, JOBS, "calls")) == 4)
    state = next(m["value"] for m in reversed(messages) if m["type"] == "STATE")
    td.finish_after_polls = 1
    resumed = run_tap(config, state=state)
    assert len(td.created_jobs("calls")) == 4
    assert len(resumed.records(ROWS)) == len(td.rows["calls"])


def test_an_expired_link_is_asked_for_again_with_a_token_refreshed_meanwhile(td):
    config = days_of_calls(td, 1)
    td.expire_links = 1
    revoked = []

    def revoke_after_first_link(request) -> None:
        if "/files/" in request.path and not revoked:
            revoked.append(request)
            td.tokens.clear()  # the token expired while the link was tried

    td.on_handled = revoke_after_first_link
    result = run_tap(config)
    assert len(result.records(ROWS)) == len(td.rows["calls"])
    files_calls = td.requests_to(r"/files/")
    assert len(files_calls) >= 2
    assert [r.status for r in files_calls][-1] in (302, 303)
    assert len(td.tokens_issued) == 2


def test_no_authorization_reaches_the_file_host_and_the_token_is_nowhere_in_output(td, caplog):
    config = days_of_calls(td, 2)
    td.expire_links = 1
    with caplog.at_level(logging.DEBUG):
        result = run_tap(config)
    assert result.records(ROWS)
    assert td.files.log
    assert all("authorization" not in r.headers for r in td.files.log)
    assert all(r.headers["authorization"].startswith("Basic ") for r in td.requests_to("oauth"))
    written = json.dumps(result.messages) + caplog.text
    for secret in [*td.tokens_issued, TALKDESK_SECRET]:
        assert secret not in written


def test_a_file_the_api_serves_itself_is_read_with_the_token_sent_to_the_api_only(td):
    td.serve_files_directly = True
    config = days_of_calls(td, 1)
    result = run_tap(config)
    assert len(result.records(ROWS)) == len(td.rows["calls"])
    reads = [r for r in td.requests_to(r"/files/") if r.status == 200]
    assert reads and all(r.headers["authorization"].startswith("Bearer ") for r in reads)
    assert td.files.log == []


def test_follow_existing_jobs_emits_others_jobs_and_their_files_once(td):
    today = midnight_days_ago(0)
    td.add_rows("calls", 50, today - timedelta(days=5), today)
    others = [
        td.add_job(
            "calls", fmt=fmt, start=today - timedelta(days=n + 1), end=today - timedelta(days=n)
        )
        for n, fmt in enumerate(["csv", "json", "json_bulk", "json", "csv"])
    ]
    config = talkdesk_config(
        td, start_date=today.isoformat(), talkdesk={"follow_existing_jobs": True}
    )
    first = run_tap(config)
    assert sorted(r["id"] for r in first.records(JOBS)) == sorted(others)
    assert len(first.records(ROWS)) == len(td.rows["calls"])
    assert len(td.requests_to(r"/data/reports/calls/jobs$", "GET")) >= 2  # paged
    assert td.created_jobs("calls") == []
    second = run_tap(config, state=first.state)
    third = run_tap(config, state=second.state)
    assert second.records(JOBS) == third.records(JOBS) == []
    assert second.records(ROWS) == third.records(ROWS) == []
