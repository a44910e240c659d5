"""Jobs created for export windows are remembered beside Singer state (`jobs/journal.py`):
a run whose predecessor's state never reached the state store (killed before its loader
passed the STATE on) adopts the jobs that run created instead of creating them again."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from tap_exportjobs.jobs.journal import CreatesJournal
from tap_exportjobs.tap import TapExportJobs
from tests.conftest import ep_config, m3ter_config, uniware_config
from tests.tap_runner import run_tap

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _config(ep, tmp_path) -> dict:
    return ep_config(
        ep,
        start_date=_midnight(3).isoformat(),
        elasticpath={"order_exports": {"enabled": True, "window_days": 1}},
        cache_dir=str(tmp_path / "cache"),
    )


def test_a_run_whose_predecessors_state_was_lost_adopts_its_jobs_and_creates_none(
    ep, tmp_path, caplog
):
    ep.generate_orders(300, _midnight(4), datetime.now(timezone.utc))
    config = _config(ep, tmp_path)
    first = run_tap(config)
    created = [job.id for job in ep.created_jobs()]
    assert len(created) == 3

    with caplog.at_level(logging.WARNING):
        lost_state = run_tap(config)  # the state store never got the first run's STATE

    assert [job.id for job in ep.created_jobs()] == created
    assert set(lost_state.row_keys(ROWS)) == set(first.row_keys(ROWS))  # same keys: upserts
    adopted = [
        r.getMessage() for r in caplog.records if "adopted instead of creating" in r.getMessage()
    ]
    assert len(adopted) == 3


def test_a_remembered_job_that_failed_is_not_adopted_its_window_gets_a_new_job(ep, tmp_path):
    ep.generate_orders(50, _midnight(2), datetime.now(timezone.utc))
    config = {**_config(ep, tmp_path), "start_date": _midnight(1).isoformat()}
    run_tap(config)
    [job] = ep.created_jobs()
    ep.jobs[job.id].state = "failed"

    run_tap(config)

    assert len(ep.created_jobs()) == 2


def test_the_journal_forgets_windows_older_than_any_api_keeps_a_job(tmp_path):
    journal = CreatesJournal(tmp_path / "journal.json")
    journal.remember("old", "job-1", None)
    document = journal.path.read_text().replace(
        journal._entries()["old"]["at"], "2000-01-01T00:00:00+00:00"
    )
    journal.path.write_text(document)
    journal.remember("new", "job-2", None)
    assert journal.recall("old") is None and journal.recall("new")["id"] == "job-2"


def test_a_remembered_job_whose_file_this_tap_found_gone_is_not_adopted(ep, tmp_path):
    """Its window is being created again because the file is gone or unreadable: adopting
    the same job would end the same way until the window is given up."""
    ep.generate_orders(20, _midnight(2), datetime.now(timezone.utc))
    config = {**_config(ep, tmp_path), "start_date": _midnight(1).isoformat()}
    first = run_tap(config)
    [job] = ep.created_jobs()
    tap = TapExportJobs(config=config, state=first.state)
    jobs = tap.streams[JOBS]
    jobs.ledger(None).jobs[job.id]["file"] = "gone"

    assert jobs.adopt_from_journal({"id": job.id}, "window", None) is None


def test_a_remembered_uniware_job_the_api_no_longer_knows_is_not_adopted_and_fails_nothing(
    uw, tmp_path, caplog
):
    tap = TapExportJobs(config=uniware_config(uw, cache_dir=str(tmp_path)))
    jobs = tap.streams["uniware_export_jobs"]
    facts = {"created_at": "2026-01-01T00:00:00+00:00", "facility": "WH_DEL"}

    with caplog.at_level(logging.WARNING):
        adopted = jobs.adopt_from_journal({"id": "NO-SUCH-JOB", "facts": facts}, "window", None)

    assert adopted is None
    assert any("NO-SUCH-JOB is not adopted" in r.getMessage() for r in caplog.records)


def test_lookup_table_downloads_are_remembered_and_not_triggered_again_after_lost_state(
    m3, tmp_path
):
    m3.add_table("rates", [("region", "STRING"), ("rate", "NUMBER")], rows=12)
    config = m3ter_config(
        m3, m3ter={"download_lookup_tables": True}, cache_dir=str(tmp_path / "cache")
    )
    first = run_tap(config)
    lost_state = run_tap(config)

    assert len(m3.requests_to(r"/data/jobs/download$", "POST")) == 1
    rows = "m3ter_lookup_table_data_rows"
    assert (
        set(lost_state.row_keys(rows)) == set(first.row_keys(rows))
        and len(first.records(rows)) == 12
    )
