"""State written for one account never applies to another: a changed API address or
account setting starts the stream fresh, with a warning; the same account keeps its state."""

from __future__ import annotations

import logging

import pytest

from tap_exportjobs.accounts import ACCOUNT_KEY, account_fingerprint
from tap_exportjobs.tap import TapExportJobs
from tests.conftest import CLIENT_ID, CLIENT_SECRET, days_ago, ep_config, m3ter_config
from tests.fakes import FakeElasticPath
from tests.tap_runner import run_tap

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


@pytest.fixture
def other_store(files):
    """A second Elastic Path store, on another address."""
    with FakeElasticPath(files, client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as api:
        yield api


def test_state_of_one_store_never_applies_to_another_it_starts_fresh_with_a_warning(
    ep, other_store, caplog
):
    ep.generate_orders(20, days_ago(9), days_ago(1))
    ep.add_job(created_at=days_ago(1))
    other_store.generate_orders(15, days_ago(9), days_ago(1))
    older = other_store.add_job(created_at=days_ago(5))  # before the first store's bookmark
    start = {"start_date": days_ago(10).isoformat()}
    first = run_tap(ep_config(ep, **start))

    with caplog.at_level(logging.WARNING):
        moved = run_tap(ep_config(other_store, **start), state=first.state)

    assert [r["id"] for r in moved.records(JOBS)] == [older]
    assert len(moved.records(ROWS)) == 15
    assert any(
        "state was written for another account" in r.getMessage() and JOBS in r.getMessage()
        for r in caplog.records
    )
    back = run_tap(ep_config(other_store, **start), state=moved.state)
    assert back.records(JOBS) == [] and back.records(ROWS) == []


def test_the_same_account_keeps_its_state_and_state_from_before_fingerprints_is_kept(ep, caplog):
    ep.generate_orders(20, days_ago(9), days_ago(1))
    ep.add_job(created_at=days_ago(2))
    config = ep_config(ep, start_date=days_ago(10).isoformat())
    first = run_tap(config)
    assert first.state["bookmarks"][JOBS][ACCOUNT_KEY]
    older_state = {
        "bookmarks": {
            name: {k: v for k, v in stream.items() if k != ACCOUNT_KEY}
            for name, stream in first.state["bookmarks"].items()
        }
    }

    with caplog.at_level(logging.WARNING):
        again = run_tap(config, state=first.state)
        from_older = run_tap(config, state=older_state)

    for run in (again, from_older):
        assert run.records(JOBS) == [] and run.records(ROWS) == []
    assert not any("another account" in r.getMessage() for r in caplog.records)


def _fingerprints(config: dict) -> dict[str, str | None]:
    tap = TapExportJobs(config=config, validate_config=True)
    return {name: account_fingerprint(stream) for name, stream in tap.streams.items()}


def test_an_org_or_api_url_names_the_account_and_a_rotated_secret_does_not(m3):
    base = _fingerprints(m3ter_config(m3))
    other_org = _fingerprints(m3ter_config(m3, m3ter={"org_id": "another-org"}))
    other_url = _fingerprints(m3ter_config(m3, m3ter={"api_url": m3.url + "/"}))
    moved_url = _fingerprints(m3ter_config(m3, m3ter={"api_url": "http://127.0.0.1:9/"}))
    rotated = _fingerprints(m3ter_config(m3, m3ter={"client_secret": "rotated"}))

    account_bound = {name for name, value in base.items() if value is not None}
    assert "m3ter_data_export_jobs" in account_bound and "m3ter_lookup_tables" in account_bound
    assert "m3ter_data_export_rows" not in account_bound  # its progress is its parent's
    for name in account_bound:
        assert other_org[name] != base[name] and moved_url[name] != base[name]
        assert other_url[name] == base[name] == rotated[name]  # a trailing slash is the same


def test_a_rotated_elastic_path_key_keeps_the_stores_state_and_another_address_does_not(ep):
    base = _fingerprints(ep_config(ep))[JOBS]
    rotated = _fingerprints(ep_config(ep, elasticpath={"client_id": "new-key"}))[JOBS]
    elsewhere = _fingerprints(ep_config(ep, elasticpath={"api_url": "http://127.0.0.1:9"}))[JOBS]
    assert base == rotated != elsewhere
