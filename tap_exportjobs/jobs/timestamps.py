"""Timestamps as APIs write them, read into aware UTC datetimes.

Parsing is pendulum's, not `datetime.fromisoformat`: before Python 3.11 the latter rejects
fractions other than 3 or 6 digits, `Z` and `+0000`, which APIs write routinely.
"""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timedelta, timezone

import pendulum

#: Timestamps come from an API's clock, a run's start from ours: bookmarks stay this far
#: behind the run's start so that clocks apart by up to this much cannot skip a change.
CLOCK_SKEW_MARGIN = timedelta(minutes=5)

_EPOCH = re.compile(r"\d+(\.\d+)?")
#: Epoch values above this are milliseconds (as seconds it would be the year 5138).
_MILLIS_FROM = 1e11
#: A timestamp names its year; without one, pendulum's lenient fallback guesses the rest
#: from today ("June", "now"), which would be a made-up time.
_HAS_YEAR = re.compile(r"\d{4}")


def parse_timestamp(value: t.Any) -> datetime | None:
    """An API timestamp as an aware UTC datetime, or None for empty, zero and unreadable values.

    Accepts RFC 3339 / ISO 8601 with any number of fraction digits (nanoseconds are cut to
    microseconds), `Z`, `+00:00` or `+0000`, a space instead of `T`, naive (taken as UTC),
    and epoch seconds or milliseconds as numbers or numeric strings; year 0001 (Go's zero
    time, "never") is None.
    """
    if value in (None, "") or isinstance(value, bool):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)):
        return _from_epoch(value)
    else:
        text = str(value).strip()
        if _EPOCH.fullmatch(text):
            return _from_epoch(float(text))
        parsed = _parse_text(text)
        if parsed is None:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    if parsed.year <= 1:
        return None
    try:
        utc = parsed.astimezone(timezone.utc)
    except OverflowError:  # within an offset of year 1 or 9999
        return None
    # A plain datetime, whatever the parser's own subclass: records and state hold these.
    return datetime(*utc.timetuple()[:6], utc.microsecond, tzinfo=timezone.utc)


def _from_epoch(number: float) -> datetime | None:
    seconds = number / 1000 if number > _MILLIS_FROM else number
    try:
        return datetime.fromtimestamp(seconds, timezone.utc)
    except (OverflowError, OSError, ValueError):
        return None


def _parse_text(text: str) -> datetime | None:
    if not _HAS_YEAR.search(text):
        return None
    try:
        parsed = pendulum.parse(text, strict=False)
    except (ValueError, OverflowError):  # pendulum's ParserError is a ValueError
        return None
    return parsed if isinstance(parsed, datetime) else None


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def sort_key(value: str | None) -> datetime:
    return parse_timestamp(value) or datetime.min.replace(tzinfo=timezone.utc)
