"""Progress a person can follow: poll rounds, downloads, rows, and a summary per job stream."""

from __future__ import annotations

import csv
import io
import logging

import pytest

from tap_exportjobs import download_progress, reports
from tests.conftest import days_ago, ep_config, m3ter_config
from tests.tap_runner import run_tap


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO)

    def messages() -> list[str]:
        return [record.getMessage() for record in caplog.records]

    return messages


def test_a_job_that_takes_several_polls_is_followed_poll_by_poll_to_its_rows(ep, log):
    ep.generate_orders(120, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(1), state="pending", finish_after_polls=3)
    run_tap(ep_config(ep))
    lines = log()
    rows = len(list(csv.DictReader(io.StringIO(ep.jobs[job].csv.decode()))))

    polls = [
        m for m in lines if m.startswith(f"elasticpath_export_jobs: waiting for 1 job: {job} (")
    ]
    assert len(polls) >= 2
    assert all("s waited so far, next look in" in m for m in polls)
    assert any(
        m.startswith(f"elasticpath_export_jobs: job {job} is succeeded after") for m in lines
    )
    assert any(m.startswith(f"elasticpath job {job}: downloading 127.0.0.2") for m in lines)
    assert any(m.startswith(f"elasticpath job {job}: downloaded") and "MB/s" in m for m in lines)
    assert f"elasticpath job {job}: emitted {rows} rows; the file is done" in lines
    assert (
        "elasticpath_export_jobs: jobs emitted: 1 succeeded; files read: 1; rows emitted: "
        f"{rows}; nothing left to the next run"
    ) in lines


def test_a_long_download_and_a_long_file_report_their_progress_as_they_go(ep, log, monkeypatch):
    monkeypatch.setattr(download_progress, "PROGRESS_EVERY_SECONDS", 0)
    monkeypatch.setattr(reports, "ROWS_LOGGED_EVERY", 50)
    ep.generate_orders(400, days_ago(3), days_ago(1))
    job = ep.add_job(created_at=days_ago(1))
    run_tap(ep_config(ep))
    lines = log()
    assert any(m.startswith(f"elasticpath job {job}: ") and " MB downloaded (" in m for m in lines)
    assert f"elasticpath job {job}: 100 rows emitted so far" in lines


def test_the_summary_names_what_is_left_to_the_next_run_and_why(ep, log):
    ep.generate_orders(50, days_ago(3), days_ago(1))
    ep.add_job(created_at=days_ago(2), csv_bytes=b"a,b\n1,2,3\n")
    ep.add_job(created_at=days_ago(1), state="pending", finish_after_polls=10_000)
    run_tap(ep_config(ep, max_wait_seconds=0.3), fails=True)
    (summary,) = [m for m in log() if m.startswith("elasticpath_export_jobs: jobs emitted:")]
    assert "left to the next run: 1 file(s) that could not be read, 1 job(s) still" in summary


def test_a_failed_m3ter_export_says_that_m3ter_gives_no_reason(m3):
    m3.add_export_job(status="FAILED")
    result = run_tap(m3ter_config(m3, start_date="2020-01-01T00:00:00Z"))
    (record,) = result.records("m3ter_data_export_jobs")
    assert record["status"] == "failed"
    assert record["error"].startswith("m3ter reports this export FAILED and gives no reason")
