"""One export's windows in state: where the next window starts, and the windows past it.

`exports[key]` in the stream's state:
- `next_start`: every window before it is settled (its rows emitted, or given up);
- `in_flight`: the windows from `next_start` on that the tap has started, in order of
  start, each `{start, end, fingerprint, attempts}` and
  - `id` (and `created_at`) while a job is out for it: recorded before the job is polled,
    so a run that stops resumes the job instead of creating another;
  - neither `id` nor `settled` after its job failed: created again (it keeps its place);
  - `settled: true` once done while an earlier window is not: `next_start` moves over
    windows only in order, so a run that stops never skips one;
- `uncertain`: a window whose create request may have made a job (see `creating.py`).
"""

from __future__ import annotations

import typing as t
from datetime import timedelta

from tap_exportjobs.jobs.timestamps import iso, parse_timestamp
from tap_exportjobs.jobs.windows import (
    ExportWindow,
    ended_by,
    latest_window,
    window_from,
    zone,
)

if t.TYPE_CHECKING:
    from datetime import datetime

    from tap_exportjobs.jobs.exports import ExportSpec

#: Jobs created per window, over all runs, before its failures give it up.
MAX_WINDOW_ATTEMPTS = 3


class ExportState:
    """The windows of one configured export (`spec`), kept in `state` (its dict in state)."""

    def __init__(self, spec: ExportSpec, state: dict) -> None:
        self.spec = spec
        self.state = state
        self.tz = zone(spec.timezone)
        self.lag = timedelta(hours=spec.lag_hours)
        state.setdefault("next_start", iso(spec.first_start))
        old = state.pop("job", None)
        if old:  # the shape of one job at a time, before windows went in flight together
            state["in_flight"] = [{**old, "attempts": 1}]

    @property
    def entries(self) -> list[dict]:
        return self.state.get("in_flight") or []

    @property
    def next_start(self) -> datetime:
        start = parse_timestamp(self.state["next_start"])
        assert start is not None
        return start

    def jobs(self) -> list[dict]:
        """The windows with a job out."""
        return [e for e in self.entries if e.get("id")]

    def stale_jobs(self) -> list[dict]:
        """Drop the jobs made for other settings (not adopted: their windows are created
        again) and return them."""
        stale = [e for e in self.jobs() if e.get("fingerprint") != self.spec.fingerprint]
        dropped = [dict(e) for e in stale]
        for entry in stale:
            self._reopen(entry)
            entry["attempts"] = 0  # failures under the old settings do not count
        return dropped

    def next_window(self, now: datetime) -> ExportWindow | None:
        """The earliest window due a job: one that failed and is tried again, else the
        first not started that has ended (with `lag_hours`) in the export's time zone."""
        if not self.spec.catch_up:
            return self._next_snapshot(now)
        cursor = self.next_start
        for entry in sorted(self.entries, key=lambda e: _at(e["start"])):
            start = _at(entry["start"])
            if start > cursor:  # a gap (e.g. an uncertain window) comes first
                window = window_from(cursor, self.spec.window_days, self.tz)
                end = min(window.end, start)
                return self._if_ended(ExportWindow(cursor, end), now)
            if not entry.get("id") and not entry.get("settled"):
                return ExportWindow(start, _at(entry["end"]))
            cursor = max(cursor, _at(entry["end"]))
        return self._if_ended(window_from(cursor, self.spec.window_days, self.tz), now)

    def _next_snapshot(self, now: datetime) -> ExportWindow | None:
        """Snapshot exports take only the latest window: older ones would repeat it."""
        window = latest_window(now, self.spec.window_days, self.tz, self.lag)
        if window.start < self.next_start:
            return None
        entry = self._entry(window.start)
        if entry is not None and (entry.get("id") or entry.get("settled")):
            return None
        return window

    def _if_ended(self, window: ExportWindow, now: datetime) -> ExportWindow | None:
        return window if window.end <= ended_by(now, self.tz, self.lag) else None

    def started(self, window: ExportWindow, job_id: str, created_at: str | None) -> dict:
        """Record the window's new job (the caller checkpoints before polling it)."""
        entry = self._entry(window.start)
        if entry is None:
            entry = {"start": iso(window.start), "end": iso(window.end), "attempts": 0}
            self.state["in_flight"] = sorted([*self.entries, entry], key=lambda e: _at(e["start"]))
        entry.update(
            id=job_id,
            created_at=created_at,
            fingerprint=self.spec.fingerprint,
            attempts=int(entry.get("attempts") or 0) + 1,
        )
        return entry

    def done(self, entry: dict) -> None:
        """The window's rows are all emitted (or it is given up)."""
        entry.pop("id", None)
        entry.pop("created_at", None)
        entry["settled"] = True
        self._advance()

    def failed(self, entry: dict) -> bool:
        """The window's job failed: True when the window is given up (the caller says so),
        else it is created again."""
        if int(entry.get("attempts") or 0) >= MAX_WINDOW_ATTEMPTS:
            self.done(entry)
            return True
        self._reopen(entry)
        return False

    def holds(self, job_id: str) -> dict | None:
        return next((e for e in self.entries if e.get("id") == job_id), None)

    def _reopen(self, entry: dict) -> None:
        entry.pop("id", None)
        entry.pop("created_at", None)

    def _entry(self, start: datetime) -> dict | None:
        return next((e for e in self.entries if _at(e["start"]) == start), None)

    def _advance(self) -> None:
        """Move `next_start` over the settled windows at its head, in order."""
        entries = sorted(self.entries, key=lambda e: _at(e["start"]))
        next_start = self.next_start
        while entries and entries[0].get("settled"):
            first = entries[0]
            if self.spec.catch_up and _at(first["start"]) > next_start:
                break  # a window before it is not settled yet
            next_start = max(next_start, _at(first["end"]))
            entries.pop(0)
        self.state["next_start"] = iso(next_start)
        self.state["in_flight"] = entries
        self.tidy()

    def tidy(self) -> None:
        """No empty list left in state once every window is settled."""
        if not self.state.get("in_flight"):
            self.state.pop("in_flight", None)


def _at(value: str) -> datetime:
    parsed = parse_timestamp(value)
    assert parsed is not None
    return parsed
