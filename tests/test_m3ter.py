"""m3ter: every level paged, every seed field kept, files landed once, links and tokens renewed."""

from __future__ import annotations

import json

import pytest

from tests.conftest import m3ter_config
from tests.fakes.files import file_rows
from tests.fakes.m3ter import export_file, usage_rows
from tests.tap_runner import run_tap

DESTINATIONS = "m3ter_export_destinations"
TABLES = "m3ter_lookup_tables"
REVISIONS = "m3ter_lookup_table_revisions"
LOOKUP_JOBS = "m3ter_lookup_table_data_jobs"
LOOKUP_ROWS = "m3ter_lookup_table_data_rows"
EXPORT_JOBS = "m3ter_data_export_jobs"
EXPORT_ROWS = "m3ter_data_export_rows"
FIELDS = [("region", "STRING"), ("tier", "STRING"), ("rate", "NUMBER")]


def test_every_level_is_read_to_its_last_page(m3):
    m3.lookup_page_cap = 2  # no documented maximum for the lookup lists: say it is small
    tables = [m3.add_table(f"t{i}", FIELDS, revisions=5) for i in range(5)]
    table_id, revision_ids = tables[0]
    jobs = {m3.add_lookup_job(table_id, revision_ids[-1], type="COPY") for _ in range(5)}
    for _ in range(250):
        m3.add_destination()
    exports = {m3.add_export_job(status="FAILED") for _ in range(250)}

    result = run_tap(m3ter_config(m3))
    assert len(result.records(TABLES)) == 5
    assert len(result.records(REVISIONS)) == 25
    assert {r["id"] for r in result.records(LOOKUP_JOBS)} == jobs
    assert len(result.records(DESTINATIONS)) == 250
    assert {r["id"] for r in result.records(EXPORT_JOBS)} == exports
    assert len(m3.requests_to(r"/lookuptables$")) >= 3
    assert len(m3.requests_to(rf"/lookuptables/{table_id}/revisions$")) >= 3
    assert len(m3.requests_to(rf"/revisions/{revision_ids[-1]}/data/jobs$")) >= 3
    assert len(m3.requests_to(r"/dataexports/destinations$")) == 3
    assert len(m3.requests_to(r"/dataexports/jobs$")) == 3


def test_lookup_table_ids_narrow_the_walk(m3):
    wanted, _ = m3.add_table("wanted", FIELDS)
    other, _ = m3.add_table("other", FIELDS)
    result = run_tap(m3ter_config(m3, m3ter={"lookup_table_ids": [wanted]}))
    assert [r["id"] for r in result.records(TABLES)] == [wanted]
    assert not m3.requests_to(rf"/lookuptables/{other}/")


def test_every_seed_field_of_destinations_and_jobs_arrives(m3):
    s3 = m3.add_destination("S3")
    gcs = m3.add_destination("GCS")
    table_id, (old, current) = m3.add_table("rates", FIELDS, revisions=2)
    copy = m3.add_lookup_job(table_id, old, type="COPY")
    failed = m3.add_lookup_job(
        table_id,
        current,
        type="UPLOAD",
        status="FAILED",
        failure_reason="Row 3: rate is not a number",
    )
    m3.add_export_job(source_type="OPERATIONAL")
    result = run_tap(m3ter_config(m3))

    destinations = {r["id"]: r for r in result.records(DESTINATIONS)}
    for seed in (s3, gcs):
        assert {k: v for k, v in destinations[seed["id"]].items() if k in seed} == seed
    jobs = {r["id"]: r for r in result.records(LOOKUP_JOBS)}
    assert (
        jobs[copy]["destinationLookupTableRevisionId"]
        == m3.lookup_jobs[copy].destination_revision_id
    )
    # The API's type, jobDate, failureReason and sourceType arrive under their normalized names.
    assert (jobs[copy]["job_type"], jobs[copy]["status"]) == ("COPY", "succeeded")
    assert (jobs[failed]["status"], jobs[failed]["status_raw"], jobs[failed]["error"]) == (
        "failed",
        "FAILED",
        "Row 3: rate is not a number",
    )
    assert jobs[copy]["lookupTableId"] == table_id and jobs[copy]["revisionId"] == old
    for key in ("version", "created_at", "lookupTableRevisionId"):
        assert jobs[copy][key] is not None
    [export] = result.records(EXPORT_JOBS)
    assert (export["job_type"], export["scheduleId"]) == (
        "OPERATIONAL",
        next(iter(m3.export_jobs.values())).schedule_id,
    )
    assert export["created_at"] is not None and export["updated_at"] is not None


@pytest.mark.parametrize("content_type", ["text/csv", "application/jsonl"])
def test_download_job_rows_land_row_for_row_and_once_across_runs(m3, content_type):
    table_id, (revision,) = m3.add_table("rates", FIELDS, rows=40)
    job = m3.add_lookup_job(table_id, revision, content_type=content_type)
    first = run_tap(m3ter_config(m3))
    rows = first.records(LOOKUP_ROWS)
    assert [r["row"] for r in rows] == file_rows(m3.lookup_file(job))
    assert {(r["lookupTableId"], r["revisionId"]) for r in rows} == {(table_id, revision)}
    second = run_tap(m3ter_config(m3), state=first.state)
    assert second.records(LOOKUP_ROWS) == [] and second.records(LOOKUP_JOBS) == []


@pytest.mark.parametrize(
    ("file_format", "gzipped"), [("CSV", True), ("JSONL", True), ("CSV", False)]
)
def test_data_export_rows_land_row_for_row(m3, file_format, gzipped):
    job = m3.add_export_job(rows=usage_rows(75))
    m3.export_jobs[job].content = export_file(usage_rows(75), file_format, gzipped)
    m3.files.publish(f"exports/{job}", m3.export_jobs[job].content)
    rows = run_tap(m3ter_config(m3)).records(EXPORT_ROWS)
    assert [r["row"] for r in rows] == file_rows(m3.export_jobs[job].content)


def test_a_job_that_succeeds_between_runs_lands_once(m3):
    table_id, (revision,) = m3.add_table("rates", FIELDS, rows=10)
    lookup = m3.add_lookup_job(table_id, revision, status="PENDING", finish_after_polls=10_000)
    export = m3.add_export_job(status="PENDING", finish_after_polls=10_000)
    first = run_tap(m3ter_config(m3, max_wait_seconds=0.1))
    assert first.records(LOOKUP_ROWS) == [] and first.records(EXPORT_ROWS) == []
    m3.lookup_jobs[lookup].finish_after_polls = 1
    m3.export_jobs[export].finish_after_polls = 1
    second = run_tap(m3ter_config(m3), state=first.state)
    third = run_tap(m3ter_config(m3), state=second.state)
    assert len(second.records(LOOKUP_ROWS)) == 10 and len(second.records(EXPORT_ROWS)) == 20
    assert third.records(LOOKUP_ROWS) == [] and third.records(EXPORT_ROWS) == []
    assert third.records(LOOKUP_JOBS) == [] and third.records(EXPORT_JOBS) == []


def test_an_expired_download_link_is_refreshed_from_the_job(m3):
    table_id, (revision,) = m3.add_table("rates", FIELDS, rows=10)
    job = m3.add_lookup_job(table_id, revision)
    m3.expire_next_download_links = 2  # the listing's link and the first fetch's are stale
    rows = run_tap(m3ter_config(m3)).records(LOOKUP_ROWS)
    assert len(rows) == 10
    assert len(m3.requests_to(rf"/data/jobs/{job}$")) >= 2


def test_a_download_refused_by_the_storage_host_asks_getdownloadurl_again(m3, files):
    job = m3.add_export_job()
    files.fail_next(1, 403, body=b"<Error><Code>AccessDenied</Code></Error>", path=r"^/bucket/")
    rows = run_tap(m3ter_config(m3)).records(EXPORT_ROWS)
    assert len(rows) == 20
    assert len(m3.requests_to(rf"/dataexports/jobs/{job}/getdownloadurl$")) == 2


def test_a_403_from_an_expired_token_refreshes_it_and_recovers(m3):
    m3.add_destination()
    table_id, (revision,) = m3.add_table("rates", FIELDS, rows=3)
    m3.add_lookup_job(table_id, revision)
    first = run_tap(m3ter_config(m3))
    assert len(first.records(LOOKUP_ROWS)) == 3
    m3.token_ttl_seconds = 0.3  # tokens now die while the tap still thinks them fresh
    m3.fail_next(
        1, 403, path=r"/dataexports/destinations$", body=b'{"message":"Forbidden or Unauthorized"}'
    )
    result = run_tap(m3ter_config(m3))
    assert len(result.records(DESTINATIONS)) == 1
    assert len(m3.tokens_issued) >= 3


def test_the_token_request_uses_basic_auth_and_never_leaves_the_api_host(m3, files):
    m3.add_export_job()
    run_tap(m3ter_config(m3))
    [token_call] = m3.requests_to(r"^/oauth/token$")
    assert token_call.headers["authorization"].startswith("Basic ")
    assert b"m3ter-api-secret" not in token_call.body
    assert all("authorization" not in r.headers for r in files.log)


def test_download_lookup_tables_triggers_one_download_per_current_revision(m3):
    _, (_, current) = m3.add_table("rates", FIELDS, revisions=2, rows=12)
    config = m3ter_config(m3, m3ter={"download_lookup_tables": True})
    first = run_tap(config)
    triggered = m3.requests_to(r"/data/jobs/download$", "POST")
    assert len(triggered) == 1 and f"/revisions/{current}/" in triggered[0].path
    assert len(first.records(LOOKUP_ROWS)) == 12
    second = run_tap(config, state=first.state)
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 1
    assert second.records(LOOKUP_ROWS) == []


def test_a_download_left_running_at_max_wait_is_resumed_not_triggered_again(m3):
    m3.add_table("rates", FIELDS, rows=7)
    config = m3ter_config(m3, m3ter={"download_lookup_tables": True}, max_wait_seconds=0.1)
    m3.lookup_jobs.clear()
    original = m3.add_lookup_job
    m3.add_lookup_job = lambda *a, **k: original(*a, **{**k, "finish_after_polls": 10_000})
    first = run_tap(config)
    [job_id] = list(m3.lookup_jobs)
    assert first.records(LOOKUP_ROWS) == []
    m3.lookup_jobs[job_id].finish_after_polls = 1
    second = run_tap({**config, "max_wait_seconds": 10}, state=first.state)
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 1
    assert {r["job_id"] for r in second.records(LOOKUP_ROWS)} == {job_id}


def test_a_pending_download_job_is_adopted_instead_of_triggering_another(m3):
    table_id, (revision,) = m3.add_table("rates", FIELDS, rows=4)
    pending = m3.add_lookup_job(table_id, revision, status="PENDING", finish_after_polls=2)
    result = run_tap(m3ter_config(m3, m3ter={"download_lookup_tables": True}))
    assert m3.requests_to(r"/data/jobs/download$", "POST") == []
    assert {r["job_id"] for r in result.records(LOOKUP_ROWS)} == {pending}


def test_state_stays_bounded_however_many_revisions(m3):
    for i in range(4):
        table_id, revisions = m3.add_table(f"t{i}", FIELDS, revisions=6, rows=2)
        for revision in revisions:
            m3.add_lookup_job(table_id, revision, type="ARCHIVE")
    first = run_tap(m3ter_config(m3))
    state = first.state["bookmarks"]
    assert "partitions" not in state[LOOKUP_JOBS]
    assert all("partitions" not in value for value in state.values())
    assert len(json.dumps(state)) < 20_000


def _today_midnight():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def _adhoc_bodies(m3) -> list[dict]:
    return [r.json() for r in m3.requests_to(r"/dataexports/adhoc$", "POST")]


USAGE_EXPORT = {"name": "daily_usage", "source_type": "USAGE", "meter_ids": ["meter-1"]}
OPERATIONAL_EXPORT = {
    "name": "bills",
    "source_type": "OPERATIONAL",
    "operational_data_types": ["BILLS", "ACCOUNTS"],
    "export_file_format": "JSONL",
}


def test_usage_exports_are_triggered_window_by_window_and_land_once(m3):
    from datetime import timedelta

    start = _today_midnight() - timedelta(days=3)
    config = m3ter_config(m3, start_date=start.isoformat(), m3ter={"data_exports": [USAGE_EXPORT]})
    first = run_tap(config)
    bodies = _adhoc_bodies(m3)
    assert [(b["startDate"], b["endDate"]) for b in bodies] == [
        (
            (start + timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            (start + timedelta(days=d + 1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        for d in range(3)
    ]
    assert all(b["sourceType"] == "USAGE" and b["meterIds"] == ["meter-1"] for b in bodies)
    assert len(first.records(EXPORT_ROWS)) == 3 * 20
    second = run_tap(config, state=first.state)
    assert len(_adhoc_bodies(m3)) == 3
    assert second.records(EXPORT_ROWS) == []


def test_operational_exports_take_one_snapshot_per_window(m3):
    config = m3ter_config(m3, m3ter={"data_exports": [OPERATIONAL_EXPORT]})
    first = run_tap(config)
    [body] = _adhoc_bodies(m3)
    assert body["operationalDataTypes"] == ["BILLS", "ACCOUNTS"]
    assert body["exportFileFormat"] == "JSONL"
    assert len(first.records(EXPORT_ROWS)) == 20
    run_tap(config, state=first.state)
    assert len(_adhoc_bodies(m3)) == 1  # the same day's snapshot is not taken again


def test_an_export_left_running_at_max_wait_is_resumed_not_triggered_again(m3):
    from datetime import timedelta

    original = m3.add_export_job
    m3.add_export_job = lambda *a, **k: original(*a, **{**k, "finish_after_polls": 10_000})
    start = _today_midnight() - timedelta(days=1)
    config = m3ter_config(
        m3,
        start_date=start.isoformat(),
        max_wait_seconds=0.1,
        m3ter={"data_exports": [USAGE_EXPORT]},
    )
    first = run_tap(config)
    [job_id] = list(m3.export_jobs)
    assert first.records(EXPORT_ROWS) == []
    m3.export_jobs[job_id].finish_after_polls = 1
    second = run_tap({**config, "max_wait_seconds": 10}, state=first.state)
    assert len(_adhoc_bodies(m3)) == 1
    assert {r["job_id"] for r in second.records(EXPORT_ROWS)} == {job_id}


def test_a_run_killed_while_polling_a_triggered_export_does_not_trigger_it_again(m3, tmp_path):
    from datetime import timedelta

    from tests.tap_runner import write_json
    from tests.test_kill_resume import _run_until, jobs_in_flight

    original = m3.add_export_job
    m3.add_export_job = lambda *a, **k: original(*a, **{**k, "finish_after_polls": 10_000})
    start = _today_midnight() - timedelta(days=1)
    config = m3ter_config(m3, start_date=start.isoformat(), m3ter={"data_exports": [USAGE_EXPORT]})

    def job_recorded(message: dict) -> bool:
        return len(jobs_in_flight(message, EXPORT_JOBS, "daily_usage")) == 1

    killed = _run_until(write_json(tmp_path / "config.json", config), job_recorded)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    [job_id] = list(m3.export_jobs)
    m3.export_jobs[job_id].finish_after_polls = 1
    resumed = run_tap(config, state=state)
    assert len(_adhoc_bodies(m3)) == 1
    assert {r["job_id"] for r in resumed.records(EXPORT_ROWS)} == {job_id}


def test_the_per_second_rate_limit_is_ridden_out_with_no_row_lost(m3):
    m3.requests_per_second = 4
    tables = [m3.add_table(f"t{i}", FIELDS, rows=6) for i in range(3)]
    jobs = [m3.add_lookup_job(table_id, revision) for table_id, (revision,) in tables]
    result = run_tap(m3ter_config(m3))
    assert m3.rate_limited > 0
    assert {r["job_id"] for r in result.records(LOOKUP_ROWS)} == set(jobs)
    assert len(result.records(LOOKUP_ROWS)) == 18


def test_destinations_are_incremental_on_dt_last_modified(m3):
    from tests.fakes.m3ter import iso

    older = m3.add_destination("S3", dtLastModified=iso(m3.now() - 7200))
    newest = m3.add_destination("S3", dtLastModified=iso(m3.now() - 60))
    first = run_tap(m3ter_config(m3))
    assert {r["id"] for r in first.records(DESTINATIONS)} == {older["id"], newest["id"]}
    changed = m3.add_destination("GCS", dtLastModified=iso(m3.now() + 5))
    second = run_tap(m3ter_config(m3), state=first.state)
    # Inclusive bookmark, as the SDK keeps it: the boundary record may come again, older never.
    assert {r["id"] for r in second.records(DESTINATIONS)} == {newest["id"], changed["id"]}


def test_a_run_killed_while_polling_a_triggered_download_does_not_trigger_it_again(m3, tmp_path):
    from tests.tap_runner import write_json
    from tests.test_kill_resume import _run_until

    m3.add_table("rates", FIELDS, rows=9)
    original = m3.add_lookup_job
    m3.add_lookup_job = lambda *a, **k: original(*a, **{**k, "finish_after_polls": 10_000})
    config = m3ter_config(m3, m3ter={"download_lookup_tables": True})

    def download_recorded(message: dict) -> bool:
        state = message.get("value", {}).get("bookmarks", {}).get(LOOKUP_JOBS, {})
        return message["type"] == "STATE" and bool(state.get("downloads"))

    killed = _run_until(write_json(tmp_path / "config.json", config), download_recorded)
    state = [m["value"] for m in killed if m["type"] == "STATE"][-1]
    [job_id] = list(m3.lookup_jobs)
    m3.lookup_jobs[job_id].finish_after_polls = 1
    resumed = run_tap(config, state=state)
    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 1
    assert {r["job_id"] for r in resumed.records(LOOKUP_ROWS)} == {job_id}


def test_an_operational_export_packaged_as_a_zip_lands_with_each_rows_entity_file(m3):
    from tests.test_file_fidelity import _zip

    job = m3.add_export_job(source_type="OPERATIONAL")
    m3.files.publish(
        f"exports/{job}",
        _zip(
            {
                "BILLS.csv": b"id,amount\nb1,10.00\n",
                "ACCOUNTS.jsonl": b'{"code": "acme"}\n{"code": "globex"}\n',
            }
        ),
    )
    rows = run_tap(m3ter_config(m3)).records(EXPORT_ROWS)
    assert [(r["source_file"], r["row_number"], r["row"]) for r in rows] == [
        ("BILLS.csv", 1, {"id": "b1", "amount": "10.00"}),
        ("ACCOUNTS.jsonl", 2, {"code": "acme"}),
        ("ACCOUNTS.jsonl", 3, {"code": "globex"}),
    ]


def test_a_pending_job_of_a_table_no_longer_selected_stops_holding_state_after_a_week(m3):
    kept, (kept_revision,) = m3.add_table("kept", FIELDS)
    dropped, (dropped_revision,) = m3.add_table("dropped", FIELDS)
    m3.add_lookup_job(dropped, dropped_revision, status="PENDING", finish_after_polls=10_000)
    m3.add_lookup_job(kept, kept_revision, type="COPY")
    first = run_tap(m3ter_config(m3, max_wait_seconds=0))
    narrowed = m3ter_config(m3, max_wait_seconds=0, m3ter={"lookup_table_ids": [kept]})
    from datetime import timedelta
    from unittest import mock

    from tap_exportjobs.jobs import run

    later = run.utc_now() + timedelta(days=8)
    with mock.patch.object(run, "utc_now", return_value=later):
        second = run_tap(narrowed, state=first.state)
    ledger = second.state["bookmarks"][LOOKUP_JOBS]["jobs"]
    assert all(entry["status"] != "pending" for entry in ledger.values())
