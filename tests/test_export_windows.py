"""Export windows are whole days in the export's time zone, DST-aware, and only days that
have ended there (plus `lag_hours`)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from singer_sdk.exceptions import ConfigValidationError

from tap_exportjobs.jobs import ExportSpec
from tap_exportjobs.jobs.in_flight import ExportState
from tap_exportjobs.jobs.windows import ExportWindow, day_start, window_from, zone
from tap_exportjobs.tap import TapExportJobs
from tests.conftest import ep_config, m3ter_config
from tests.tap_runner import run_tap

NEW_YORK = ZoneInfo("America/New_York")


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def _state(first_start: datetime, *, tz: str = "America/New_York", **spec) -> ExportState:
    return ExportState(
        ExportSpec(
            key="e",
            window_days=spec.pop("window_days", 1),
            fingerprint="f",
            first_start=first_start,
            timezone=tz,
            **spec,
        ),
        {},
    )


def _backfill(state: ExportState, now: datetime) -> list[ExportWindow]:
    """Every window due by `now`, each started and settled in turn."""
    windows = []
    while (window := state.next_window(now)) is not None:
        windows.append(window)
        state.done(state.started(window, f"job-{len(windows)}", None))
    return windows


def test_new_york_days_across_the_march_change_have_exact_bounds_the_short_day_included():
    state = _state(day_start(utc(2025, 3, 8, 12), NEW_YORK))
    windows = _backfill(state, now=utc(2025, 3, 11, 4))
    assert windows == [
        ExportWindow(utc(2025, 3, 8, 5), utc(2025, 3, 9, 5)),  # EST: 24 hours
        ExportWindow(utc(2025, 3, 9, 5), utc(2025, 3, 10, 4)),  # clocks spring forward: 23
        ExportWindow(utc(2025, 3, 10, 4), utc(2025, 3, 11, 4)),  # EDT: 24
    ]
    assert state.state == {"next_start": "2025-03-11T04:00:00+00:00"}


def test_new_york_days_across_the_november_change_have_exact_bounds_the_long_day_included():
    state = _state(day_start(utc(2025, 11, 1, 12), NEW_YORK))
    windows = _backfill(state, now=utc(2025, 11, 4, 5))
    assert windows == [
        ExportWindow(utc(2025, 11, 1, 4), utc(2025, 11, 2, 4)),  # EDT: 24 hours
        ExportWindow(utc(2025, 11, 2, 4), utc(2025, 11, 3, 5)),  # clocks fall back: 25
        ExportWindow(utc(2025, 11, 3, 5), utc(2025, 11, 4, 5)),  # EST: 24
    ]


def test_a_week_window_across_a_dst_change_is_seven_local_days():
    window = window_from(utc(2025, 3, 5, 5), 7, NEW_YORK)
    assert window.end == utc(2025, 3, 12, 4)
    assert window.end - window.start == timedelta(days=7, hours=-1)


def test_a_day_that_has_not_ended_in_the_zone_is_not_exported():
    state = _state(utc(2025, 3, 9, 5))  # New York's March 9, which ends at 04:00 UTC
    assert state.next_window(utc(2025, 3, 10, 3, 59)) is None  # 23:59 in New York
    assert state.next_window(utc(2025, 3, 10, 4)) == ExportWindow(
        utc(2025, 3, 9, 5), utc(2025, 3, 10, 4)
    )


def test_lag_hours_waits_that_long_after_the_day_ended():
    state = _state(utc(2025, 3, 9, 5), lag_hours=6)
    assert state.next_window(utc(2025, 3, 10, 9, 59)) is None
    assert state.next_window(utc(2025, 3, 10, 10)) is not None


def test_utc_windows_are_utc_days():
    state = _state(utc(2025, 3, 8), tz="UTC")
    assert _backfill(state, now=utc(2025, 3, 10, 0, 30)) == [
        ExportWindow(utc(2025, 3, 8), utc(2025, 3, 9)),
        ExportWindow(utc(2025, 3, 9), utc(2025, 3, 10)),
    ]


def test_windows_after_a_time_zone_change_meet_the_last_one_without_gap_or_overlap():
    state = _state(utc(2025, 3, 8), tz="UTC")  # next_start a UTC midnight, then New York
    state.spec = ExportSpec("e", 1, "f", utc(2025, 3, 8), timezone="America/New_York")
    state.tz = NEW_YORK
    assert _backfill(state, now=utc(2025, 3, 10, 4)) == [
        ExportWindow(utc(2025, 3, 8), utc(2025, 3, 8, 5)),  # the rest of New York's March 7
        ExportWindow(utc(2025, 3, 8, 5), utc(2025, 3, 9, 5)),
        ExportWindow(utc(2025, 3, 9, 5), utc(2025, 3, 10, 4)),
    ]


def test_an_unknown_time_zone_is_refused_by_name():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        zone("Mars/Olympus")


def test_next_start_moves_over_settled_windows_only_in_order():
    state = _state(utc(2025, 3, 1), tz="UTC")
    now = utc(2025, 3, 5)
    first, second, third = [
        state.started(state.next_window(now), f"job-{n}", None) for n in range(3)
    ]
    state.done(second)
    assert state.next_start == utc(2025, 3, 1)  # the first is still out
    assert state.failed(third) is False  # to be created again: it keeps its place
    state.done(first)
    assert state.next_start == utc(2025, 3, 3)  # over the first two, not the failed third
    assert state.next_window(now) == ExportWindow(utc(2025, 3, 3), utc(2025, 3, 4))


# -- through the providers' create requests ------------------------------------------


def _new_york_days(days: int) -> list[tuple[datetime, datetime]]:
    today = datetime.now(NEW_YORK).date()
    return [
        (day_start_of(today - timedelta(days=d)), day_start_of(today - timedelta(days=d - 1)))
        for d in range(days, 0, -1)
    ]


def day_start_of(day) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=NEW_YORK).astimezone(timezone.utc)


def test_m3ter_usage_windows_are_new_york_days_in_its_requests(m3):
    start = _new_york_days(2)[0][0]
    export = {
        "name": "daily_usage",
        "source_type": "USAGE",
        "meter_ids": ["meter-1"],
        "timezone": "America/New_York",
    }
    run_tap(m3ter_config(m3, start_date=start.isoformat(), m3ter={"data_exports": [export]}))
    bodies = [r.json() for r in m3.requests_to(r"/dataexports/adhoc$", "POST")]
    assert sorted((b["startDate"], b["endDate"]) for b in bodies) == [
        (f"{s:%Y-%m-%dT%H:%M:%SZ}", f"{e:%Y-%m-%dT%H:%M:%SZ}") for s, e in _new_york_days(2)
    ]


def test_elasticpath_lag_hours_holds_back_a_day_until_that_long_after_it_ended(ep):
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    since_midnight = (datetime.now(timezone.utc) - today) / timedelta(hours=1)
    exports = {"enabled": True, "lag_hours": since_midnight + 1}
    config = ep_config(
        ep,
        start_date=(today - timedelta(days=3)).isoformat(),
        elasticpath={"order_exports": exports},
    )
    result = run_tap(config)
    assert [j.filter for j in ep.created_jobs()] == [
        f"ge(created_at,{today - timedelta(days=d):%Y-%m-%d}):"
        f"lt(created_at,{today - timedelta(days=d - 1):%Y-%m-%d})"
        for d in (3, 2)  # yesterday ended less than lag_hours ago
    ]
    export = result.state["bookmarks"]["elasticpath_export_jobs"]["exports"]["order_export"]
    assert export == {"next_start": (today - timedelta(days=1)).isoformat()}


@pytest.mark.parametrize(
    ("export", "problem"),
    [
        ({"timezone": "Mars/Olympus"}, "m3ter.data_exports[u].timezone: unknown IANA time zone"),
        ({"lag_hours": -1}, "m3ter.data_exports[u].lag_hours must not be negative"),
    ],
)
def test_export_window_settings_are_checked_naming_the_setting(m3, export, problem):
    usage = {"name": "u", "source_type": "USAGE", **export}
    config = m3ter_config(m3, m3ter={"data_exports": [usage]})
    with pytest.raises(ConfigValidationError) as raised:
        TapExportJobs(config=config, validate_config=True)
    assert any(e.startswith(problem) for e in raised.value.errors)
