"""Order exports the tap creates itself: window by window, one job at a time (the API runs
them one at a time), never twice."""

from __future__ import annotations

import itertools
import logging
from collections import Counter
from datetime import datetime, timedelta, timezone

from tests.conftest import ep_config
from tests.tap_runner import run_tap

JOBS = "elasticpath_export_jobs"
ROWS = "elasticpath_export_rows"


def _midnight(days_ago: int) -> datetime:
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def _config(ep, days: int = 3, **overrides):
    exports = {"enabled": True, "window_days": 1, **overrides.pop("exports", {})}
    return ep_config(
        ep,
        start_date=_midnight(days).isoformat(),
        elasticpath={"order_exports": exports},
        **overrides,
    )


def _windows(ep) -> list[str]:
    return [job.filter for job in ep.created_jobs()]


def test_one_job_per_whole_day_window_up_to_yesterday_each_with_its_orders(ep):
    ep.generate_orders(600, _midnight(4), datetime.now(timezone.utc))
    result = run_tap(_config(ep, days=3))
    assert _windows(ep) == [
        f"ge(created_at,{_midnight(d):%Y-%m-%d}):lt(created_at,{_midnight(d - 1):%Y-%m-%d})"
        for d in (3, 2, 1)
    ]
    in_windows = [o for o in ep.orders if _midnight(3) <= _parse(o["created_at"]) < _midnight(0)]
    assert sorted(r["row"]["id"] for r in result.records(ROWS)) == sorted(
        o["id"] for o in in_windows
    )
    state = result.state["bookmarks"][JOBS]["exports"]["order_export"]
    assert state == {"next_start": _midnight(0).isoformat()}


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def test_jobs_are_created_one_at_a_time(ep):
    ep.generate_orders(100, _midnight(4), datetime.now(timezone.utc))
    run_tap(_config(ep, days=3))
    created = ep.created_jobs()
    for earlier, later in itertools.pairwise(created):
        assert later.created_at >= earlier.updated_at  # each waited for the one before
    assert ep.max_created_unfinished == 1  # the default max_jobs_in_flight


def test_the_users_filter_is_combined_with_each_window(ep):
    ep.generate_orders(200, _midnight(2), datetime.now(timezone.utc))
    result = run_tap(_config(ep, days=1, exports={"filter": "eq(payment,paid)"}))
    assert _windows(ep)[0].endswith(":eq(payment,paid)")
    assert {r["row"]["payment"] for r in result.records(ROWS)} == {"paid"}


def test_an_empty_window_is_done_and_not_created_again(ep):
    result = run_tap(_config(ep, days=2))  # no orders at all
    assert [r["status"] for r in result.records(JOBS)] == ["empty", "empty"]
    again = run_tap(_config(ep, days=2), state=result.state)
    assert len(ep.created_jobs()) == 2 and again.records(JOBS) == []


def test_a_failed_window_is_created_again_in_the_same_run_and_its_rows_land(ep, caplog):
    ep.generate_orders(100, _midnight(3), datetime.now(timezone.utc))
    ep.fail_created_jobs_with = "Internal error"

    def only_the_first_fails(request) -> None:
        if request.method == "POST" and request.path == "/v2/jobs":
            ep.fail_created_jobs_with = None

    ep.on_handled = only_the_first_fails
    with caplog.at_level(logging.WARNING):
        result = run_tap(_config(ep, days=2))
    first, again, second = _windows(ep)
    assert first == again != second  # the failed window keeps its place, then the next
    assert {r["job_id"] for r in result.records(ROWS)} == {j.id for j in ep.created_jobs()[1:]}
    assert "ended failed (Internal error); the window is created again" in caplog.text
    assert result.state["bookmarks"][JOBS]["exports"]["order_export"] == {
        "next_start": _midnight(0).isoformat()
    }


def test_a_window_whose_jobs_keep_failing_is_given_up_after_3_attempts_with_an_error(ep, caplog):
    ep.generate_orders(100, _midnight(3), datetime.now(timezone.utc))
    ep.fail_created_jobs_with = "Internal error"
    with caplog.at_level(logging.WARNING):
        first = run_tap(_config(ep, days=2))
    assert Counter(_windows(ep)) == {window: 3 for window in set(_windows(ep))}
    assert len(set(_windows(ep))) == 2
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 2 and all("attempt 3 of 3, the window is given up" in e for e in errors)
    assert first.state["bookmarks"][JOBS]["exports"]["order_export"] == {
        "next_start": _midnight(0).isoformat()
    }
    run_tap(_config(ep, days=2), state=first.state)
    assert len(ep.created_jobs()) == 6


def test_attempts_of_a_failed_window_count_across_runs(ep):
    ep.generate_orders(100, _midnight(2), datetime.now(timezone.utc))
    ep.fail_created_jobs_with = "Internal error"
    ep.finish_after_polls = 10_000
    first = run_tap(_config(ep, days=1, max_wait_seconds=0.2))
    [window] = first.state["bookmarks"][JOBS]["exports"]["order_export"]["in_flight"]
    assert window["attempts"] == 1 and window["id"] == ep.created_jobs()[0].id

    ep.finish_after_polls = 1
    second = run_tap(_config(ep, days=1), state=first.state)
    assert len(ep.created_jobs()) == 3  # the one resumed, then 2 more: 3 in all
    assert second.state["bookmarks"][JOBS]["exports"]["order_export"] == {
        "next_start": _midnight(0).isoformat()
    }


def test_a_window_left_running_at_max_wait_is_resumed_not_created_again(ep):
    ep.generate_orders(100, _midnight(2), datetime.now(timezone.utc))
    ep.finish_after_polls = 10_000
    first = run_tap(_config(ep, days=1, max_wait_seconds=0.2))
    assert len(ep.created_jobs()) == 1 and first.records(ROWS) == []
    [open_window] = first.state["bookmarks"][JOBS]["exports"]["order_export"]["in_flight"]
    open_id = open_window["id"]
    assert open_id == ep.created_jobs()[0].id

    ep.finish_after_polls = 1
    second = run_tap(_config(ep, days=1), state=first.state)
    assert len(ep.created_jobs()) == 1
    assert {r["job_id"] for r in second.records(ROWS)} == {open_id}
    assert "in_flight" not in second.state["bookmarks"][JOBS]["exports"]["order_export"]


def test_a_created_job_is_in_state_before_the_tap_polls_it(ep):
    ep.generate_orders(50, _midnight(2), datetime.now(timezone.utc))
    ep.finish_after_polls = 10_000
    result = run_tap(_config(ep, days=1, max_wait_seconds=0.3))
    created = ep.created_jobs()[0]
    first_get = min(r.at for r in ep.requests_to(rf"^/v2/jobs/{created.id}$"))
    states_with_job = [
        s
        for s in result.states
        if created.id
        in {
            window.get("id")
            for window in s["bookmarks"]
            .get(JOBS, {})
            .get("exports", {})
            .get("order_export", {})
            .get("in_flight", [])
        }
    ]
    assert states_with_job, "the created job must be checkpointed"
    assert created.created_at <= first_get


def test_changing_the_filter_does_not_adopt_a_job_made_for_the_old_one(ep):
    ep.generate_orders(50, _midnight(2), datetime.now(timezone.utc))
    ep.finish_after_polls = 10_000
    first = run_tap(_config(ep, days=1, max_wait_seconds=0))
    ep.finish_after_polls = 1
    run_tap(_config(ep, days=1, exports={"filter": "eq(currency,EUR)"}), state=first.state)
    assert _windows(ep)[1].endswith(":eq(currency,EUR)")
