"""Jobs the tap creates are created once: a create that fails after the API made the job is
not sent again blindly; the tap finds the job, or records the window as uncertain."""

from __future__ import annotations

import logging
import socket
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tap_exportjobs.http import request_not_acted_on
from tests.conftest import ep_config, m3ter_config
from tests.tap_runner import run_tap

EP_JOBS = "elasticpath_export_jobs"
EP_ROWS = "elasticpath_export_rows"
EXPORT_JOBS = "m3ter_data_export_jobs"
EXPORT_ROWS = "m3ter_data_export_rows"
LOOKUP_JOBS = "m3ter_lookup_table_data_jobs"
LOOKUP_ROWS = "m3ter_lookup_table_data_rows"
FIELDS = [("region", "STRING"), ("tier", "STRING"), ("rate", "NUMBER")]
USAGE_EXPORT = {"name": "daily_usage", "source_type": "USAGE", "meter_ids": ["meter-1"]}


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _fail_after_create(host, fault: str, path: str) -> None:
    """The API makes the job, then the client gets a 5xx or a dropped connection."""
    if fault == "5xx":
        host.fail_after_next(1, 502, path=path, method="POST")
    else:
        host.drop_after_next(1, path=path, method="POST")


def _warnings(caplog) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)


def _at_the_same_moment(host, path: str, make_another) -> None:
    """Someone else makes a matching job right after the tap's create request."""

    def racing(request) -> None:
        if request.method == "POST" and path in request.path:
            host.on_handled = None
            make_another()

    host.on_handled = racing


# -- which failures a create may be sent again after -----------------------------------


def _failure(call) -> BaseException:
    try:
        call()
    except Exception as error:
        return error
    raise AssertionError("the request did not fail")


def test_a_create_is_sent_again_only_after_failures_the_server_did_not_act_on(ep):
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        refused_url = f"http://127.0.0.1:{closed.getsockname()[1]}/v2/jobs"
    refused = _failure(lambda: requests.post(refused_url, timeout=5))
    ep.drop_next(1, path=r"^/v2/jobs$", method="POST")  # read, then closed unanswered
    dropped = _failure(lambda: requests.post(f"{ep.url}/v2/jobs", json={}, timeout=5))

    def answered(status: int) -> BaseException:
        response = requests.Response()
        response.status_code = status
        return requests.HTTPError(response=response)

    assert request_not_acted_on(refused)  # never connected: nothing was sent
    assert request_not_acted_on(answered(429)) and request_not_acted_on(answered(401))
    assert not request_not_acted_on(dropped)  # sent, then the connection closed
    assert not request_not_acted_on(answered(502))
    assert not request_not_acted_on(requests.exceptions.ReadTimeout())


# -- Elastic Path order exports --------------------------------------------------------


def _ep_config(ep):
    return ep_config(
        ep,
        start_date=_midnight(1).isoformat(),
        elasticpath={"order_exports": {"enabled": True, "window_days": 1}},
    )


@pytest.mark.parametrize("fault", ["5xx", "drop"])
def test_elasticpath_a_create_that_fails_after_the_job_was_made_adopts_it_rows_once(ep, fault):
    ep.generate_orders(80, _midnight(2), datetime.now(timezone.utc))
    _fail_after_create(ep, fault, r"^/v2/jobs$")
    first = run_tap(_ep_config(ep))
    [job] = ep.created_jobs()
    in_window = [o for o in ep.orders if o["created_at"].startswith(f"{_midnight(1):%Y-%m-%d}")]
    assert sorted(r["row"]["id"] for r in first.records(EP_ROWS)) == sorted(
        o["id"] for o in in_window
    )
    assert {r["job_id"] for r in first.records(EP_ROWS)} == {job.id}
    assert first.state["bookmarks"][EP_JOBS]["exports"]["order_export"] == {
        "next_start": _midnight(0).isoformat()
    }
    second = run_tap(_ep_config(ep), state=first.state)
    assert len(ep.created_jobs()) == 1 and second.records(EP_ROWS) == []


def test_elasticpath_after_a_5xx_the_tap_looks_for_the_job_before_creating_again(ep):
    ep.generate_orders(40, _midnight(2), datetime.now(timezone.utc))
    ep.fail_next(1, 503, path=r"^/v2/jobs$", method="POST")  # refused: no job was made
    result = run_tap(_ep_config(ep))
    posts = [i for i, r in enumerate(ep.log) if r.method == "POST" and r.path == "/v2/jobs"]
    assert len(posts) == 2 and len(ep.created_jobs()) == 1
    between = ep.log[posts[0] + 1 : posts[1]]
    assert any(r.method == "GET" and r.path == "/v2/jobs" for r in between)
    assert {r["job_id"] for r in result.records(EP_ROWS)} == {ep.created_jobs()[0].id}


def test_elasticpath_an_ambiguous_match_is_recorded_uncertain_and_not_created_again(ep, caplog):
    ep.generate_orders(40, _midnight(2), datetime.now(timezone.utc))
    others = []
    _at_the_same_moment(
        ep, "/v2/jobs", lambda: others.append(ep.add_job(created_at=ep.now(), state="success"))
    )
    ep.fail_after_next(1, 500, path=r"^/v2/jobs$", method="POST")
    with caplog.at_level(logging.WARNING):
        first = run_tap(_ep_config(ep))
    assert len(ep.requests_to(r"^/v2/jobs$", "POST")) == 1
    export = first.state["bookmarks"][EP_JOBS]["exports"]["order_export"]
    assert export["uncertain"]["start"] == _midnight(1).isoformat()
    assert export["next_start"] == _midnight(1).isoformat() and "job" not in export
    assert f"order_export window {_midnight(1).isoformat()}" in _warnings(caplog)
    assert "uncertain" in _warnings(caplog)

    # A later run looks again: the colleague's export is gone, one candidate is left.
    [mine] = ep.created_jobs()
    del ep.jobs[others[0]]
    second = run_tap(_ep_config(ep), state=first.state)
    assert len(ep.requests_to(r"^/v2/jobs$", "POST")) == 1
    assert {r["job_id"] for r in second.records(EP_ROWS)} == {mine.id}
    assert second.state["bookmarks"][EP_JOBS]["exports"]["order_export"] == {
        "next_start": _midnight(0).isoformat()
    }


# -- m3ter ad-hoc data exports ---------------------------------------------------------


def _m3_export_config(m3):
    return m3ter_config(
        m3, start_date=_midnight(1).isoformat(), m3ter={"data_exports": [USAGE_EXPORT]}
    )


@pytest.mark.parametrize("schedule_ids", [False, True], ids=["no-scheduleId", "scheduleId"])
@pytest.mark.parametrize("fault", ["5xx", "drop"])
def test_m3ter_an_adhoc_export_that_fails_after_it_was_made_is_adopted_rows_once(
    m3, fault, schedule_ids
):
    m3.adhoc_schedule_ids = schedule_ids
    m3.add_export_job(created_at=m3.now() - 3600)  # a scheduled export, not a candidate
    _fail_after_create(m3, fault, r"/dataexports/adhoc$")
    first = run_tap(_m3_export_config(m3))
    made = [j for j in m3.export_jobs.values() if j.request]
    assert len(made) == 1
    rows = [r for r in first.records(EXPORT_ROWS) if r["job_id"] == made[0].id]
    assert len(rows) == 20 == len({r["row_number"] for r in rows})
    assert first.state["bookmarks"][EXPORT_JOBS]["exports"]["daily_usage"] == {
        "next_start": _midnight(0).isoformat()
    }
    second = run_tap(_m3_export_config(m3), state=first.state)
    assert len(m3.requests_to(r"/dataexports/adhoc$", "POST")) == 1
    assert second.records(EXPORT_ROWS) == []


def test_m3ter_an_ambiguous_adhoc_export_is_recorded_uncertain_and_not_triggered_again(m3, caplog):
    _at_the_same_moment(
        m3,
        "/dataexports/adhoc",
        lambda: m3.add_export_job(created_at=m3.now(), status="PENDING", ad_hoc=True),
    )
    m3.fail_after_next(1, 500, path=r"/dataexports/adhoc$", method="POST")
    with caplog.at_level(logging.WARNING):
        result = run_tap(_m3_export_config(m3))
    assert len(m3.requests_to(r"/dataexports/adhoc$", "POST")) == 1
    export = result.state["bookmarks"][EXPORT_JOBS]["exports"]["daily_usage"]
    assert export["uncertain"]["start"] == _midnight(1).isoformat() and "job" not in export
    assert f"daily_usage window {_midnight(1).isoformat()}" in _warnings(caplog)


def test_m3ter_when_the_api_cannot_be_searched_the_export_is_uncertain_until_a_later_run(
    m3, caplog
):
    def refuse_the_lookup(request) -> None:
        if request.path.endswith("/dataexports/adhoc"):
            m3.on_handled = None
            m3.fail_next(1, 400, path=r"/dataexports/jobs$")

    m3.on_handled = refuse_the_lookup
    m3.fail_after_next(1, 500, path=r"/dataexports/adhoc$", method="POST")
    with caplog.at_level(logging.WARNING):
        first = run_tap(_m3_export_config(m3))
    assert len(m3.requests_to(r"/dataexports/adhoc$", "POST")) == 1
    assert "could not be searched" in _warnings(caplog)
    assert "uncertain" in first.state["bookmarks"][EXPORT_JOBS]["exports"]["daily_usage"]

    second = run_tap(_m3_export_config(m3), state=first.state)
    [made] = [j for j in m3.export_jobs.values() if j.request]
    assert len(m3.requests_to(r"/dataexports/adhoc$", "POST")) == 1  # found, not made again
    assert {r["job_id"] for r in second.records(EXPORT_ROWS)} == {made.id}
    assert second.state["bookmarks"][EXPORT_JOBS]["exports"]["daily_usage"] == {
        "next_start": _midnight(0).isoformat()
    }


# -- m3ter lookup-table DOWNLOAD triggers ----------------------------------------------


def _m3_download_config(m3):
    return m3ter_config(m3, m3ter={"download_lookup_tables": True})


def _triggers(m3) -> int:
    return len(m3.requests_to(r"/data/jobs/download$", "POST"))


@pytest.mark.parametrize("fault", ["5xx", "drop"])
def test_m3ter_a_download_trigger_that_fails_after_the_job_was_made_is_adopted_rows_once(m3, fault):
    m3.add_table("rates", FIELDS, rows=6)
    _fail_after_create(m3, fault, r"/data/jobs/download$")
    first = run_tap(_m3_download_config(m3))
    [job_id] = [j.id for j in m3.lookup_jobs.values() if j.type == "DOWNLOAD"]
    assert _triggers(m3) == 1
    assert sorted(r["row_number"] for r in first.records(LOOKUP_ROWS)) == list(range(1, 7))
    assert {r["job_id"] for r in first.records(LOOKUP_ROWS)} == {job_id}
    second = run_tap(_m3_download_config(m3), state=first.state)
    assert _triggers(m3) == 1 and second.records(LOOKUP_ROWS) == []


def test_m3ter_an_ambiguous_download_trigger_is_uncertain_and_not_triggered_again(m3, caplog):
    table_id, (revision,) = m3.add_table("rates", FIELDS, rows=3)
    _at_the_same_moment(
        m3,
        "/data/jobs/download",
        lambda: m3.add_lookup_job(table_id, revision, status="SUCCEEDED", created_at=m3.now()),
    )
    m3.fail_after_next(1, 500, path=r"/data/jobs/download$", method="POST")
    with caplog.at_level(logging.WARNING):
        result = run_tap(_m3_download_config(m3))
    assert _triggers(m3) == 1
    taken = result.state["bookmarks"][LOOKUP_JOBS]["downloads"][table_id]
    assert "uncertain" in taken and "job_id" not in taken
    assert f"lookup table {table_id} revision {revision}" in _warnings(caplog)


# -- a failed DOWNLOAD is triggered again (issue 6, item 6) ------------------------------


def test_a_failed_download_is_triggered_again_next_run_and_its_rows_land(m3):
    table_id, _ = m3.add_table("rates", FIELDS, rows=5)
    m3.fail_triggered_downloads = 1
    first = run_tap(_m3_download_config(m3))
    [failed] = [j for j in m3.lookup_jobs.values() if j.type == "DOWNLOAD"]
    assert failed.status == "FAILED" and first.records(LOOKUP_ROWS) == []
    assert not first.state["bookmarks"][LOOKUP_JOBS]["downloads"][table_id].get("done")

    second = run_tap(_m3_download_config(m3), state=first.state)
    assert _triggers(m3) == 2
    [retried] = [j for j in m3.lookup_jobs.values() if j.type == "DOWNLOAD" and j is not failed]
    assert {r["job_id"] for r in second.records(LOOKUP_ROWS)} == {retried.id}
    assert len(second.records(LOOKUP_ROWS)) == 5
    assert second.state["bookmarks"][LOOKUP_JOBS]["downloads"][table_id]["done"] is True

    third = run_tap(_m3_download_config(m3), state=second.state)
    assert _triggers(m3) == 2 and third.records(LOOKUP_ROWS) == []


def test_a_download_that_keeps_failing_is_triggered_at_most_once_a_run_saying_why(m3, caplog):
    m3.add_table("rates", FIELDS, rows=2)
    m3.fail_triggered_downloads = 3
    state = None
    for run in range(1, 4):
        with caplog.at_level(logging.WARNING):
            state = run_tap(_m3_download_config(m3), state=state).state
        assert _triggers(m3) == run
    assert "ended failed; triggering a new one" in _warnings(caplog)


def test_a_pending_download_that_vanished_from_the_api_is_triggered_again_next_run(m3):
    table_id, _ = m3.add_table("rates", FIELDS, rows=4)
    original = m3.add_lookup_job
    m3.add_lookup_job = lambda *a, **k: original(*a, **{**k, "finish_after_polls": 10_000})
    first = run_tap({**_m3_download_config(m3), "max_wait_seconds": 0.1})
    [lost] = list(m3.lookup_jobs)
    assert first.state["bookmarks"][LOOKUP_JOBS]["downloads"][table_id]["job_id"] == lost

    del m3.lookup_jobs[lost]
    m3.add_lookup_job = original
    second = run_tap(_m3_download_config(m3), state=first.state)
    [retried] = list(m3.lookup_jobs)
    assert _triggers(m3) == 2
    assert {r["job_id"] for r in second.records(LOOKUP_ROWS)} == {retried}
    assert len(second.records(LOOKUP_ROWS)) == 4
