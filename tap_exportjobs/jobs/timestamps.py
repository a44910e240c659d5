"""Timestamps as APIs write them, read into aware UTC datetimes."""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timezone

_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_timestamp(value: t.Any) -> datetime | None:
    """An API timestamp as an aware UTC datetime, or None for empty and zero values.

    Accepts RFC 3339 with nanoseconds, `Z`, naive (taken as UTC), epoch seconds or
    milliseconds; year 0001 (Go's zero time, "never") is None.
    """
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, (int, float)):
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, timezone.utc)
    else:
        text = (
            _FRACTION.sub(r"\1", str(value).strip()).replace("Z", "+00:00").replace("z", "+00:00")
        )
        if " " in text and "T" not in text:
            text = text.replace(" ", "T", 1)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    if parsed.year <= 1:
        return None
    return parsed.astimezone(timezone.utc)


def iso(value: datetime | None) -> str | None:
    return value.astimezone(timezone.utc).isoformat() if value else None


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def sort_key(value: str | None) -> datetime:
    return parse_timestamp(value) or datetime.min.replace(tzinfo=timezone.utc)
