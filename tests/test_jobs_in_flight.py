"""Several export windows in flight at once, under a budget, each recorded in state.

Jobs here take wall time (the fakes finish them seconds after creation, whether or not
anyone looks), so what is asserted is what the fakes count: jobs unfinished at once, create
requests, and the tap's poll rounds. Wall-clock figures are the benchmark's
(`benchmarks/bench_jobs_in_flight.py`).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import ep_config, m3ter_config
from tests.tap_runner import run_tap

JOBS = "m3ter_data_export_jobs"
ROWS = "m3ter_data_export_rows"
EP_JOBS = "elasticpath_export_jobs"
ROWS_PER_JOB = 20  # the fake's ad-hoc export file
INTERVAL = 0.25


def _today() -> datetime:
    return datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)


def _usage(name: str = "daily_usage", meter: str = "meter-1") -> dict:
    return {"name": name, "source_type": "USAGE", "meter_ids": [meter]}


def _config(m3, days: int, exports: list[dict] | None = None, **overrides) -> dict:
    block = {"data_exports": exports or [_usage()], **overrides.pop("m3ter", {})}
    return m3ter_config(
        m3,
        start_date=(_today() - timedelta(days=days)).isoformat(),
        poll_interval_seconds=INTERVAL,
        poll_interval_max_seconds=INTERVAL,
        max_wait_seconds=60,
        m3ter=block,
        **overrides,
    )


def _bodies(m3) -> list[dict]:
    return [r.json() for r in m3.requests_to(r"/dataexports/adhoc$", "POST")]


def _windows(days: int) -> list[str]:
    return [
        (_today() - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ") for d in range(days, 0, -1)
    ]


@pytest.fixture
def log(caplog):
    caplog.set_level(logging.INFO)
    return caplog


def _poll_rounds(caplog) -> int:
    return sum(1 for r in caplog.records if f"{JOBS}: waiting for " in r.getMessage())


def test_a_backfill_of_12_windows_keeps_4_jobs_in_flight_and_takes_a_third_of_the_rounds(m3, log):
    seconds = 2.0
    m3.adhoc_finish_after_seconds = seconds
    result = run_tap(_config(m3, days=12))

    assert m3.max_adhoc_unfinished == 4  # the default budget, held
    assert sorted(b["startDate"] for b in _bodies(m3)) == _windows(12)  # each window once
    rows = result.row_keys(ROWS)
    assert len(rows) == len(set(rows)) == 12 * ROWS_PER_JOB
    # One job at a time would poll each window's job for T / interval rounds; four at a
    # time share their rounds, so a third of that is enough.
    serial = 12 * seconds / INTERVAL
    assert _poll_rounds(log) <= serial / 3
    assert result.state["bookmarks"][JOBS]["exports"]["daily_usage"] == {
        "next_start": _today().isoformat()
    }


def test_a_429_on_the_3rd_create_lowers_the_budget_and_no_window_is_doubled_or_skipped(m3, log):
    m3.adhoc_finish_after_seconds = 0.6
    creates = []

    def refuse_the_third(request) -> None:
        if request.method == "POST" and request.path.endswith("/dataexports/adhoc"):
            creates.append(request)
            if len(creates) == 2:
                m3.fail_next(1, 429, path=r"/dataexports/adhoc$", method="POST")

    m3.on_handled = refuse_the_third
    result = run_tap(_config(m3, days=8))

    assert [r.status for r in m3.requests_to(r"/dataexports/adhoc$", "POST")][2] == 429
    assert m3.max_adhoc_unfinished == 2  # 2 were in flight at the 429: the budget is 2 since
    made = [b["startDate"] for b in _bodies(m3)[:2] + _bodies(m3)[3:]]
    assert sorted(made) == _windows(8)  # none twice, none skipped
    assert len(set(result.row_keys(ROWS))) == 8 * ROWS_PER_JOB
    assert "answered 429 to a create request" in log.text
    assert "At most 2 job(s) are kept in flight for the rest of this run" in log.text


def test_exports_of_one_stream_take_turns_at_the_budget(m3):
    m3.adhoc_finish_after_seconds = 0.3
    exports = [_usage("usage_a", "meter-a"), _usage("usage_b", "meter-b")]
    run_tap(_config(m3, days=3, exports=exports, m3ter={"max_jobs_in_flight": 2}))
    order = [b["meterIds"][0] for b in _bodies(m3)]
    assert order == ["meter-a", "meter-b"] * 3
    assert m3.max_adhoc_unfinished == 2


def test_a_failed_window_is_created_again_without_holding_up_the_windows_after_it(m3, log):
    m3.adhoc_finish_after_seconds = 0.5
    m3.fail_adhoc_exports = 1  # the first window's first job
    result = run_tap(_config(m3, days=4))

    starts = [b["startDate"] for b in _bodies(m3)]
    assert starts == [*_windows(4), _windows(4)[0]]  # the later windows went on meanwhile
    landed = {job_id for job_id, _ in result.row_keys(ROWS)}
    assert len(landed) == 4
    assert "ended failed" in log.text and "the window is created again" in log.text
    assert result.state["bookmarks"][JOBS]["exports"]["daily_usage"] == {
        "next_start": _today().isoformat()
    }


def test_next_start_moves_only_over_settled_windows_in_order(m3):
    m3.adhoc_finish_after_seconds = 0.3
    m3.fail_adhoc_exports = 1
    result = run_tap(_config(m3, days=3))
    exports = [
        s["bookmarks"][JOBS]["exports"]["daily_usage"]
        for s in result.states
        if "exports" in s["bookmarks"].get(JOBS, {})
    ]
    first = _today() - timedelta(days=3)
    # While the first window is being tried again, the later ones finish but next_start
    # stays at the first window's start.
    assert any(
        e["next_start"] == first.isoformat()
        and any(w.get("settled") for w in e.get("in_flight", []))
        for e in exports
    )
    assert exports[-1] == {"next_start": _today().isoformat()}


def test_no_job_is_created_when_less_time_is_left_than_jobs_have_been_taking(m3, log):
    m3.adhoc_finish_after_seconds = 1.0
    config = _config(m3, days=5, m3ter={"max_jobs_in_flight": 1})
    result = run_tap(
        {
            **config,
            "poll_interval_seconds": 0.1,
            "poll_interval_max_seconds": 0.1,
            "max_wait_seconds": 2.8,
        }
    )

    assert len(_bodies(m3)) == 2  # a third would still be running at the deadline
    assert "no new daily_usage job" in log.text
    export = result.state["bookmarks"][JOBS]["exports"]["daily_usage"]
    assert export == {"next_start": (_today() - timedelta(days=3)).isoformat()}


def test_a_job_recorded_in_the_shape_before_windows_in_flight_is_kept_as_in_flight(ep):
    ep.generate_orders(60, _today() - timedelta(days=2), datetime.now(timezone.utc))
    job = ep.add_job(created_at=ep.now() - 60, state="running", filter="")
    window = (_today() - timedelta(days=1)).isoformat()
    old_shape = {
        "next_start": window,
        "job": {
            "id": job,
            "start": window,
            "end": _today().isoformat(),
            "fingerprint": _ep_fingerprint(),
        },
    }
    state = {"bookmarks": {EP_JOBS: {"exports": {"order_export": old_shape}}}}
    ep.finish_after_polls = 10_000
    config = ep_config(
        ep,
        start_date=window,
        max_wait_seconds=0.2,
        elasticpath={"order_exports": {"enabled": True}},
    )
    result = run_tap(config, state=state)
    assert ep.created_jobs() == []  # resumed, not created again
    export = result.state["bookmarks"][EP_JOBS]["exports"]["order_export"]
    assert "job" not in export
    assert [(w["id"], w["start"], w["attempts"]) for w in export["in_flight"]] == [(job, window, 1)]


def _ep_fingerprint() -> str:
    from tap_exportjobs.jobs import fingerprint

    return fingerprint("")
