"""Export windows: whole days in the export's own time zone.

A report "for March 10" in New York means New York's March 10: on the day clocks spring
forward that is 23 hours, on the day they fall back 25. Bounds are computed on local dates
and turned into UTC instants, so every window is one whole local day (or `window_days` of
them), consecutive windows meet exactly, and a day is exported only once it has ended in
that zone (plus `lag_hours`, for data that arrives late).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@dataclass(frozen=True)
class ExportWindow:
    start: datetime
    end: datetime


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone `name` (UTC when unset); ValueError naming it when unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown IANA time zone {name!r}") from None


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The first instant of `day` in `tz`, in UTC. Where a DST change skips midnight, the
    skipped hour's offset is the one before the change, which lands on the day's first
    real instant."""
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)


def day_start(moment: datetime, tz: ZoneInfo) -> datetime:
    """The start (UTC) of the local day `moment` falls in."""
    return local_midnight(moment.astimezone(tz).date(), tz)


def window_from(start: datetime, days: int, tz: ZoneInfo) -> ExportWindow:
    """The window starting at `start` and ending `days` local midnights later. A `start`
    that is not a local midnight (the time zone setting changed) gives a shorter first
    window, so windows still meet without a gap or an overlap."""
    end = local_midnight(start.astimezone(tz).date() + timedelta(days=days), tz)
    return ExportWindow(start=start, end=end)


def ended_by(now: datetime, tz: ZoneInfo, lag: timedelta) -> datetime:
    """The latest local midnight that, plus `lag`, is not after `now`: windows may end at
    or before it."""
    return day_start(now - lag, tz)


def latest_window(now: datetime, days: int, tz: ZoneInfo, lag: timedelta) -> ExportWindow:
    """The most recent whole window that has ended (for snapshot exports)."""
    end = ended_by(now, tz, lag)
    start = local_midnight(end.astimezone(tz).date() - timedelta(days=days), tz)
    return ExportWindow(start=start, end=end)
