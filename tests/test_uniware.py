"""Uniware export jobs against the fake Uniware (shared/api-notes/uniware.md): windows per
facility, jobs followed by jobCode, the API's envelope, its files and its traps."""

from __future__ import annotations

import json
import logging
import socket
from datetime import datetime, timedelta, timezone

from tests.conftest import UNIWARE_PASSWORD, uniware_config
from tests.fakes.uniware import CAPTIONS, parse_instant
from tests.tap_runner import run_tap, run_tap_process, write_json
from tests.test_kill_resume import _run_until, jobs_in_flight

JOBS, ROWS = "uniware_export_jobs", "uniware_export_rows"
CREATE = r"/export/job/create$"
STATUS = r"/export/job/status$"
FACILITIES = ("WH_DEL", "WH_BLR")


def midnight_days_ago(days: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days)


def days_of_orders(uw, days: int, **block) -> dict:
    """Orders of both facilities from a day before the first window until now."""
    start = midnight_days_ago(days)
    for facility in FACILITIES:
        uw.add_rows(facility, 12 * days, start - timedelta(days=1), datetime.now(timezone.utc))
    return uniware_config(uw, start_date=start.isoformat(), uniware=block)


def codes_due(uw, days: int) -> list[str]:
    """Orders of the ended days since the first window, of both facilities."""
    start, today = midnight_days_ago(days), midnight_days_ago(0)
    return sorted(
        row["saleOrderCode"]
        for facility in FACILITIES
        for row in uw.rows[facility]
        if start <= row["addedOn"] < today
    )


def codes_landed(*results) -> list[str]:
    return sorted(r["row"]["Sale Order Code"] for res in results for r in res.records(ROWS))


def windows_created(uw) -> list[tuple[str, datetime, datetime]]:
    return sorted((j.facility, j.start, j.end) for j in uw.created_jobs())


def test_a_backfill_creates_one_job_per_window_and_facility_every_row_lands_once_and_a_rerun_creates_nothing(  # noqa: E501
    uw,
):
    config = days_of_orders(uw, 4)
    first = run_tap(config)
    expected = [
        (facility, midnight_days_ago(day), midnight_days_ago(day - 1))
        for facility in FACILITIES
        for day in range(4, 0, -1)
    ]
    assert windows_created(uw) == sorted(expected)
    assert codes_landed(first) == codes_due(uw, 4)
    second = run_tap(config, state=first.state)
    assert len(uw.created_jobs()) == 8
    assert second.records(ROWS) == []


def test_each_create_asks_for_its_window_with_the_apis_own_field_names(uw):
    run_tap(days_of_orders(uw, 1))
    for request in uw.requests_to(CREATE, "POST"):
        body = request.json()
        assert body["exportJobTypeName"] == "Sale Orders"
        assert body["exportColums"] == ["saleOrderCode", "channel", "status", "addedOn", "notes"]
        assert body["frequency"] == "ONETIME"
        [flt] = body["exportFilters"]
        assert flt["id"] == "addedOn"
        assert parse_instant(flt["dateRange"]["start"]) == midnight_days_ago(1)
        assert parse_instant(flt["dateRange"]["end"]) == midnight_days_ago(0)


def test_each_request_carries_its_own_jobs_facility_and_no_other_request_carries_one(uw):
    run_tap(days_of_orders(uw, 2))
    creates = uw.requests_to(CREATE, "POST")
    assert sorted(r.headers["facility"] for r in creates) == sorted(FACILITIES * 2)
    for job in uw.created_jobs():
        assert set(job.facility_headers) == {job.facility}
    assert all("facility" not in r.headers for r in uw.requests_to("oauth"))


def test_windows_of_every_facility_share_max_jobs_in_flight(uw):
    uw.finish_after_polls = 3
    run_tap(days_of_orders(uw, 4, max_jobs_in_flight=3))
    assert uw.max_created_unfinished == 3
    assert len(uw.created_jobs()) == 8


def test_each_job_records_its_facility_export_and_window_and_rows_have_caption_headers(uw):
    uw.bom = True
    result = run_tap(days_of_orders(uw, 1))
    jobs = result.records(JOBS)
    finished = [j for j in jobs if j["status"] == "succeeded"]
    assert sorted(j["facility"] for j in finished) == sorted(FACILITIES)
    for job in finished:
        assert job["export_name"] == "sale_orders"
        assert job["job_type"] == "Sale Orders"
        assert job["window_start"] == midnight_days_ago(1).isoformat()
        assert job["window_end"] == midnight_days_ago(0).isoformat()
    rows = result.records(ROWS)
    assert rows
    wanted = [CAPTIONS[c] for c in ("saleOrderCode", "channel", "status", "addedOn", "notes")]
    assert all(list(r["row"]) == wanted for r in rows)  # no BOM on the first caption


def test_a_run_killed_between_create_and_completion_resumes_the_recorded_jobs(uw, tmp_path):
    uw.finish_after_polls = 10_000
    config = days_of_orders(uw, 2, facilities=["WH_DEL"], max_jobs_in_flight=2)
    key = "sale_orders@WH_DEL"
    messages = _run_until(
        write_json(tmp_path / "config.json", config),
        lambda m: len(jobs_in_flight(m, JOBS, key)) == 2,
    )
    state = next(m["value"] for m in reversed(messages) if m["type"] == "STATE")
    made = {j.code for j in uw.created_jobs()}
    assert set(jobs_in_flight({"type": "STATE", "value": state}, JOBS, key)) == made
    uw.finish_after_polls = 1
    for job in uw.created_jobs():
        job.observations = 0
    resumed = run_tap(config, state=state)
    assert {j.code for j in uw.created_jobs()} == made  # both windows' jobs resumed, none new
    assert codes_landed(resumed) == sorted(
        r["saleOrderCode"]
        for r in uw.rows["WH_DEL"]
        if midnight_days_ago(2) <= r["addedOn"] < midnight_days_ago(0)
    )


def test_a_run_stopped_by_max_wait_seconds_resumes_its_jobs_next_run(uw):
    uw.finish_after_polls = 10_000
    config = days_of_orders(uw, 3, max_jobs_in_flight=4)
    stopped = run_tap({**config, "max_wait_seconds": 0.3})
    made = {j.code for j in uw.created_jobs()}
    assert len(made) == 4
    assert stopped.records(ROWS) == []
    uw.finish_after_polls = 1
    for job in uw.created_jobs():
        job.observations = 0
    resumed = run_tap(config, state=stopped.state)
    assert len(uw.created_jobs()) == 6  # the 4 resumed, and the 2 windows not started
    assert made <= {j.code for j in uw.created_jobs()}
    assert codes_landed(stopped, resumed) == codes_due(uw, 3)


def test_an_ambiguous_create_failure_marks_the_window_uncertain_and_is_never_retried(uw, caplog):
    config = days_of_orders(uw, 1, facilities=["WH_DEL"])
    uw.fail_after_next(1, 503, path=CREATE, method="POST")
    with caplog.at_level(logging.WARNING):
        first = run_tap(config)
    exports = first.state["bookmarks"][JOBS]["exports"]["sale_orders@WH_DEL"]
    assert exports["uncertain"]["start"] == midnight_days_ago(1).isoformat()
    assert "uncertain" in caplog.text
    second = run_tap(config, state=first.state)
    assert len(uw.created_jobs()) == 1
    assert "uncertain" in second.state["bookmarks"][JOBS]["exports"]["sale_orders@WH_DEL"]


def test_successful_false_is_an_error_with_the_apis_own_words(uw):
    export = {"name": "bad", "export_job_type_name": "Sale Orders", "columns": ["shippingX"]}
    result = run_tap(days_of_orders(uw, 1, exports=[export]), fails=True)
    assert "invalid column shippingX" in str(result.error)
    assert "exportColums" in str(result.error)
    assert "creating bad@WH_DEL" in str(result.error)
    assert uw.created_jobs() == []


def test_the_facility_403_names_the_facility_setting_and_what_was_sent(uw):
    result = run_tap(days_of_orders(uw, 1, facilities=["Delhi Warehouse"]), fails=True)
    error = str(result.error)
    assert "Illegal Access, facility is required" in error
    assert "uniware.facilities" in error
    assert "Delhi Warehouse" in error


def test_an_html_login_page_served_with_200_is_an_error_naming_the_job_not_rows(uw):
    uw.file_paths = "relative"
    uw.login_page_for_files = True
    result = run_tap(days_of_orders(uw, 1, facilities=["WH_DEL"]), fails=True)
    [job] = uw.created_jobs()
    assert job.code in str(result.error)
    assert "HTML page" in str(result.error)
    assert result.records(ROWS) == []


def test_an_unknown_status_is_warned_about_and_looked_at_again(uw, caplog):
    uw.endings = ["ARCHIVING"]
    config = days_of_orders(uw, 1, facilities=["WH_DEL"])
    with caplog.at_level(logging.WARNING):
        result = run_tap({**config, "max_wait_seconds": 0.5})
    assert "unknown job status 'ARCHIVING'" in caplog.text
    [record] = result.records(JOBS)
    assert (record["status"], record["is_terminal"]) == ("unknown", False)


def test_a_finished_job_without_file_path_is_empty_and_its_window_is_done(uw):
    uw.endings = ["EMPTY"]
    config = days_of_orders(uw, 1, facilities=["WH_DEL"])
    first = run_tap(config)
    assert [r["status"] for r in first.records(JOBS) if r["is_terminal"]] == ["empty"]
    assert first.records(ROWS) == []
    run_tap(config, state=first.state)
    assert len(uw.created_jobs()) == 1


def test_a_failed_job_s_window_is_created_again_and_its_rows_land_once(uw):
    uw.endings = ["FAILED"]
    config = days_of_orders(uw, 1, facilities=["WH_DEL"])
    result = run_tap(config)
    assert [j.status for j in uw.created_jobs()] == ["FAILED", "COMPLETE"] or [
        j.status for j in uw.created_jobs()
    ] == ["FAILED", "SUCCESSFUL"]
    failed = [r for r in result.records(JOBS) if r["status"] == "failed"]
    assert failed[0]["error"] == "Uniware reports the job FAILED"
    landed = codes_landed(result)
    assert landed == sorted(r["saleOrderCode"] for r in uw.window_rows(uw.created_jobs()[1]))


def test_a_relative_file_path_is_fetched_from_the_tenant_with_the_token(uw):
    uw.file_paths = "relative"
    result = run_tap(days_of_orders(uw, 1))
    assert codes_landed(result) == codes_due(uw, 1)
    fetched = uw.requests_to(r"^/export/files/")
    assert fetched
    assert all(r.headers["authorization"].lower().startswith("bearer ") for r in fetched)


def test_an_absolute_file_link_gets_no_token(uw):
    uw.file_paths = "absolute"
    result = run_tap(days_of_orders(uw, 1))
    assert codes_landed(result) == codes_due(uw, 1)
    assert uw.files.log
    assert all("authorization" not in r.headers for r in uw.files.log)


def test_job_codes_are_followed_to_completion_and_their_files_emitted_once(uw):
    start = midnight_days_ago(2)
    uw.add_rows("WH_DEL", 20, start, midnight_days_ago(0))
    code = uw.add_job("WH_DEL", start, midnight_days_ago(1))
    config = uniware_config(uw, uniware={"exports": [], "job_codes": [code]})
    first = run_tap(config)
    assert [r["status"] for r in first.records(JOBS)][-1] == "succeeded"
    assert len(first.records(ROWS)) == len(uw.window_rows(uw.jobs[code]))
    second = run_tap(config, state=first.state)
    third = run_tap(config, state=second.state)
    assert second.records(JOBS) == third.records(JOBS) == []
    assert second.records(ROWS) == third.records(ROWS) == []
    assert uw.created_jobs() == []  # nothing created: the job is only followed


def test_an_expired_token_is_refreshed_and_a_refused_refresh_logs_in_again(uw):
    config = days_of_orders(uw, 1, facilities=["WH_DEL"])
    expired = []

    def expire_once(request) -> None:
        if request.path.endswith("/status") and len(expired) < 2:
            expired.append(request)
            uw.expire_tokens()
            if len(expired) == 2:
                uw.refresh_tokens.clear()  # the refresh token too: log in again

    uw.on_handled = expire_once
    result = run_tap(config)
    assert uw.grants == ["password", "refresh_token", "password"]
    assert result.records(ROWS)


def test_the_password_appears_nowhere_even_when_the_token_request_fails(uw, caplog):
    config = days_of_orders(uw, 1, facilities=["WH_DEL"])
    uw.drop_next(2, path=r"/oauth/token")
    with caplog.at_level(logging.DEBUG):
        landed = run_tap(config)
        refused = run_tap(
            {**config, "uniware": {**config["uniware"], "password": f"x{UNIWARE_PASSWORD}"}},
            fails=True,
        )
    assert landed.records(ROWS)
    assert "Could not log in: HTTP 400" in str(refused.error)
    written = json.dumps(landed.messages + refused.messages) + caplog.text + str(refused.error)
    assert "DO-NOT-LEAK" not in written


def test_the_password_appears_nowhere_when_the_token_request_cannot_connect_and_no_window_is_made_uncertain(  # noqa: E501
    uw, caplog, monkeypatch
):
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    config = days_of_orders(uw, 1, facilities=["WH_DEL"], api_url=closed)
    monkeypatch.setattr("tap_exportjobs.auth.MAX_TRIES", 2)  # fail fast
    with caplog.at_level(logging.DEBUG):
        result = run_tap(config, fails=True)
    assert "Could not get an access token from 127.0.0.1:" in str(result.error)
    assert "/oauth/token" in str(result.error)
    assert "may have reached the API" not in caplog.text  # no create was sent: not uncertain
    written = json.dumps(result.messages) + caplog.text + str(result.error)
    assert "DO-NOT-LEAK" not in written


def test_the_password_is_nowhere_in_a_tap_process_whose_login_fails(uw, tmp_path):
    config = days_of_orders(uw, 1, facilities=["WH_DEL"])
    config["uniware"]["password"] = f"wrong-{UNIWARE_PASSWORD}"
    uw.drop_next(2, path=r"/oauth/token")  # dropped twice, then refused
    result = run_tap_process(write_json(tmp_path / "config.json", config))
    assert result.returncode != 0
    assert "Could not log in: HTTP 400 from /oauth/token: Bad credentials" in result.stderr
    assert len(uw.requests_to(r"/oauth/token")) == 3
    assert "DO-NOT-LEAK" not in result.stderr + json.dumps(result.messages)
