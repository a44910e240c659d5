"""Every job and every file's rows land exactly once, whatever else happens during a run:
jobs others create meanwhile, files the API keeps only for a while, rows streams selected
later, files that cannot be read, and jobs nobody waits for."""

from __future__ import annotations

import csv
import gzip
import io

from tap_exportjobs.providers.elasticpath import ElasticPathExportJobsStream
from tap_exportjobs.providers.m3ter import LookupTableDataJobsStream
from tap_exportjobs.tap import UnreadableFilesError
from tests.conftest import days_ago, ep_config, m3ter_config
from tests.tap_runner import run_tap

EP_JOBS = "elasticpath_export_jobs"
EP_ROWS = "elasticpath_export_rows"
LOOKUP_JOBS = "m3ter_lookup_table_data_jobs"
EXPORT_JOBS = "m3ter_data_export_jobs"
EXPORT_ROWS = "m3ter_data_export_rows"
FIELDS = [("region", "STRING"), ("rate", "NUMBER")]
HOUR = 3600


def _csv_rows(ep, job_id: str) -> int:
    return len(list(csv.DictReader(io.StringIO(ep.jobs[job_id].csv.decode()))))


# -- 1. jobs created by others during a run ----------------------------------------------


def test_a_job_someone_else_creates_between_the_listing_and_the_taps_own_export_lands_next_run(
    ep, monkeypatch
):
    ep.generate_orders(200, days_ago(3), days_ago(0))
    colleagues = []
    create = ElasticPathExportJobsStream.create_export_job

    def colleague_exports_first(self, spec, window, context):
        if not colleagues:  # a colleague's export, made after the tap listed the jobs
            colleagues.append(ep.add_job(created_at=ep.now(), filter="eq(payment,paid)"))
        return create(self, spec, window, context)

    monkeypatch.setattr(ElasticPathExportJobsStream, "create_export_job", colleague_exports_first)
    config = ep_config(
        ep,
        start_date=days_ago(1).replace(hour=0, minute=0, second=0, microsecond=0).isoformat(),
        elasticpath={"order_exports": {"enabled": True, "window_days": 1}},
    )
    first = run_tap(config)
    assert colleagues and colleagues[0] not in {r["id"] for r in first.records(EP_JOBS)}

    second = run_tap(config, state=first.state)
    assert [r["id"] for r in second.records(EP_JOBS)] == colleagues
    assert {job for job, _ in second.row_keys(EP_ROWS)} == set(colleagues)
    assert len(second.row_keys(EP_ROWS)) == _csv_rows(ep, colleagues[0])


def test_a_job_made_in_one_table_while_a_later_table_is_walked_is_not_skipped(m3, monkeypatch):
    first_table, (first_revision,) = m3.add_table("first", FIELDS)
    later_table, (later_revision,) = m3.add_table("later", FIELDS)
    made = {}
    listing = LookupTableDataJobsStream.request_records

    def others_work_while_the_tap_walks(self, context):
        if context["lookupTableId"] == later_table and not made:
            # The first table was listed already; others make a job there, then one here.
            made["first"] = m3.add_lookup_job(
                first_table, first_revision, type="COPY", created_at=m3.now()
            )
            made["later"] = m3.add_lookup_job(
                later_table, later_revision, type="COPY", created_at=m3.now() + 1
            )
        return listing(self, context)

    monkeypatch.setattr(
        LookupTableDataJobsStream, "request_records", others_work_while_the_tap_walks
    )
    first = run_tap(m3ter_config(m3))
    assert {r["id"] for r in first.records(LOOKUP_JOBS)} == {made["later"]}

    second = run_tap(m3ter_config(m3), state=first.state)
    assert [r["id"] for r in second.records(LOOKUP_JOBS)] == [made["first"]]


# -- 2. a data-export file is never declared gone by guessing ----------------------------


def test_an_export_created_long_ago_that_completed_an_hour_ago_lands_its_rows(m3):
    job = m3.add_export_job(created_at=m3.now() - 36 * HOUR, completed_at=m3.now() - HOUR)
    result = run_tap(m3ter_config(m3, start_date="2020-01-01T00:00:00Z"))
    (record,) = result.records(EXPORT_JOBS)
    assert record["status"] == "succeeded"
    assert len([r for r in result.records(EXPORT_ROWS) if r["job_id"] == job]) == 20


def test_an_export_whose_file_m3ter_refuses_is_expired_with_the_apis_reason_and_not_asked_again(
    m3,
):
    job = m3.add_export_job(created_at=m3.now() - 40 * HOUR, completed_at=m3.now() - 30 * HOUR)
    config = m3ter_config(m3, start_date="2020-01-01T00:00:00Z")
    first = run_tap(config)
    (record,) = first.records(EXPORT_JOBS)
    assert record["status"] == "expired" and record["is_terminal"]
    assert "past 24 hours" in record["error"]
    assert not first.records(EXPORT_ROWS)
    assert len(m3.requests_to(rf"/dataexports/jobs/{job}/getdownloadurl$")) == 1

    second = run_tap(config, state=first.state)
    assert not second.records(EXPORT_JOBS)
    assert len(m3.requests_to(rf"/dataexports/jobs/{job}/getdownloadurl$")) == 1


def test_an_export_sent_to_a_destination_bucket_has_no_file_to_read_and_is_no_failure(m3):
    to_bucket = m3.add_export_job(destination_ids=["dest-1"])
    downloadable = m3.add_export_job()
    result = run_tap(m3ter_config(m3, start_date="2020-01-01T00:00:00Z"))
    jobs = {r["id"]: r for r in result.records(EXPORT_JOBS)}
    assert jobs[to_bucket]["status"] == "succeeded"
    assert {r["job_id"] for r in result.records(EXPORT_ROWS)} == {downloadable}
    assert not m3.requests_to(rf"/dataexports/jobs/{to_bucket}/getdownloadurl$")
    ledger = result.state["bookmarks"][EXPORT_JOBS]["jobs"]
    assert ledger[to_bucket].get("file") != "pending"


# -- 7. a rows stream selected after earlier runs ------------------------------------------


def test_a_rows_stream_selected_after_earlier_runs_gets_every_file_since_start_date(ep):
    ep.generate_orders(300, days_ago(6), days_ago(0))
    jobs = [ep.add_job(created_at=days_ago(d)) for d in (5, 4, 3, 2)]
    config = ep_config(ep, start_date=days_ago(7).isoformat())
    without_rows = run_tap(config, deselect=[EP_ROWS])
    assert [r["id"] for r in without_rows.records(EP_JOBS)] == jobs

    with_rows = run_tap(config, state=without_rows.state)
    assert {job for job, _ in with_rows.row_keys(EP_ROWS)} == set(jobs)
    assert len(with_rows.row_keys(EP_ROWS)) == sum(_csv_rows(ep, job) for job in jobs)

    again = run_tap(config, state=with_rows.state)
    assert not again.records(EP_ROWS)


# -- 9. one bad file does not stop everything ------------------------------------------


def test_an_unreadable_file_fails_the_run_at_its_end_naming_it_after_every_other_file_landed(ep):
    before = ep.add_job(created_at=days_ago(3), csv_bytes=b"a,b\n1,2\n")
    bad = ep.add_job(created_at=days_ago(2), csv_bytes=b'a,b\n1,2\n3,"x\ny",z\n')
    after = ep.add_job(created_at=days_ago(1), csv_bytes=b"a,b\n5,6\n7,8\n")
    first = run_tap(ep_config(ep), fails=True)
    assert isinstance(first.error, UnreadableFilesError)
    assert f"job {bad}, line 3: CSV row has 3 fields" in str(first.error)
    assert sorted(first.row_keys(EP_ROWS)) == sorted(
        [(before, 1), (bad, 1), (after, 1), (after, 2)]
    )
    ledger = first.state["bookmarks"][EP_JOBS]["jobs"]
    assert ledger[after]["file"] == "done"
    assert before not in ledger  # settled, behind the bookmark that the bad file holds
    assert ledger[bad]["file"] == "pending" and ledger[bad]["file_attempts"] == 1

    ep.files.publish(f"exports/{bad}.csv", b"a,b\n1,2\n3,4\n")  # the vendor fixed it
    second = run_tap(ep_config(ep), state=first.state)
    assert second.row_keys(EP_ROWS) == [(bad, 2)]


def test_a_file_link_the_api_refuses_is_a_failure_of_that_file_not_of_the_run(ep):
    refused = ep.add_job(created_at=days_ago(2), csv_bytes=b"a,b\n1,2\n")
    fine = ep.add_job(created_at=days_ago(1), csv_bytes=b"a,b\n3,4\n")
    ep.fail_next(1, 422, path=rf"^/v2/jobs/{refused}/file$")
    first = run_tap(ep_config(ep), fails=True)
    assert f"elasticpath_export_jobs job {refused}" in str(first.error)
    assert "HTTP 422" in str(first.error)
    assert first.row_keys(EP_ROWS) == [(fine, 1)]

    second = run_tap(ep_config(ep), state=first.state)
    assert second.row_keys(EP_ROWS) == [(refused, 1)]


def test_after_max_file_attempts_runs_the_job_says_why_and_the_run_succeeds(ep):
    good = ep.add_job(created_at=days_ago(2), csv_bytes=b"a,b\n1,2\n")
    bad = ep.add_job(created_at=days_ago(1), csv_bytes=b'a,b\n"unterminated\n')
    config = ep_config(ep, max_file_attempts=2)
    first = run_tap(config, fails=True)
    assert {job for job, _ in first.row_keys(EP_ROWS)} == {good}

    second = run_tap(config, state=first.state)
    (record,) = second.records(EP_JOBS)
    assert record["id"] == bad and record["status"] == "failed" and record["is_terminal"]
    assert record["error"].startswith("The file could not be read:")
    assert f"job {bad}" in record["error"]

    third = run_tap(config, state=second.state)
    assert not third.records(EP_JOBS) and not third.records(EP_ROWS)
    assert len(ep.files.requests_to(rf"^/bucket/exports/{bad}")) == 2
    bookmark = second.state["bookmarks"][EP_JOBS]["replication_key_value"]
    assert bookmark >= record["created_at"]  # the given-up file no longer holds it


# -- 10. no waiting for jobs whose file nobody wants -------------------------------------


def test_an_unfinished_job_nobody_wants_a_file_from_is_emitted_as_seen_and_not_polled(m3):
    table, (revision,) = m3.add_table("rates", FIELDS)
    stuck = m3.add_lookup_job(
        table, revision, type="UPLOAD", status="PENDING", finish_after_polls=10_000
    )
    first = run_tap(m3ter_config(m3, max_wait_seconds=30))
    (record,) = [r for r in first.records(LOOKUP_JOBS) if r["id"] == stuck]
    assert record["status"] == "pending"
    assert not m3.requests_to(rf"/data/jobs/{stuck}$")

    m3.lookup_jobs[stuck].status = "SUCCEEDED"
    second = run_tap(m3ter_config(m3, max_wait_seconds=30), state=first.state)
    assert [(r["id"], r["status"]) for r in second.records(LOOKUP_JOBS)] == [(stuck, "succeeded")]


def test_unfinished_jobs_are_polled_when_their_file_is_wanted(ep):
    ep.generate_orders(50, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(1), state="pending", finish_after_polls=3)
    result = run_tap(ep_config(ep))
    assert {j for j, _ in result.row_keys(EP_ROWS)} == {job}


def test_with_its_rows_stream_deselected_an_unfinished_job_is_not_waited_for(ep):
    ep.generate_orders(50, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(1), state="pending", finish_after_polls=3)
    result = run_tap(ep_config(ep, max_wait_seconds=30), deselect=[EP_ROWS])
    assert [(r["id"], r["is_terminal"]) for r in result.records(EP_JOBS)] == [(job, False)]
    assert not ep.requests_to(rf"^/v2/jobs/{job}$")


def test_a_truncated_or_corrupt_compressed_file_is_a_failure_of_that_file_not_of_the_run(ep):
    whole = gzip.compress(b"a,b\n" + b"".join(b"%d,x\n" % i for i in range(5000)))
    truncated = ep.add_job(created_at=days_ago(3), csv_bytes=whole[: len(whole) // 2])
    corrupt_zip = ep.add_job(created_at=days_ago(2), csv_bytes=b"PK\x03\x04" + b"\x00" * 200)
    fine = ep.add_job(created_at=days_ago(1), csv_bytes=b"a,b\n5,6\n")

    first = run_tap(ep_config(ep), fails=True)

    assert isinstance(first.error, UnreadableFilesError)
    assert f"job {truncated}" in str(first.error)
    assert "truncated" in str(first.error)
    assert f"job {corrupt_zip}" in str(first.error)
    assert (fine, 1) in first.row_keys(EP_ROWS)
    ledger = first.state["bookmarks"][EP_JOBS]["jobs"]
    assert ledger[truncated]["file"] == ledger[corrupt_zip]["file"] == "pending"
    # The rows before the cut landed, and count: the next try resumes after them.
    emitted = [n for job, n in first.row_keys(EP_ROWS) if job == truncated]
    assert ledger[truncated].get("rows_emitted", 0) == len(emitted)
