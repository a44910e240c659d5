"""Exports the tap creates itself, window by window, recorded in state before polling."""

from __future__ import annotations

import hashlib
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta

from tap_exportjobs.jobs.record import EMPTY, SUCCEEDED
from tap_exportjobs.jobs.timestamps import iso, parse_timestamp, utc_now

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

    from tap_exportjobs.jobs.ledger import Ledger


@dataclass(frozen=True)
class ExportSpec:
    """One configured export the tap creates itself, window by window."""

    key: str  # stable name within the stream partition, e.g. "order_export"
    window_days: int
    fingerprint: str  # what the request asks for; a change means old jobs are not adopted
    first_start: datetime
    #: Create every missed window (a time range of data), or only the latest one (a
    #: snapshot of current data, where older windows would repeat the same content).
    catch_up: bool = True


@dataclass(frozen=True)
class ExportWindow:
    start: datetime
    end: datetime


def fingerprint(*parts: t.Any) -> str:
    """A short, stable digest of what an export asks for."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


class CreatesExports:
    """Mixed into a JobStream whose provider creates export jobs (`export_specs`)."""

    def _next_window(self, spec: ExportSpec, export_state: dict) -> ExportWindow | None:
        start = parse_timestamp(export_state.get("next_start")) or spec.first_start
        step = timedelta(days=spec.window_days)
        # Only whole windows that have ended: a window still open would miss later data.
        today = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
        if not spec.catch_up and start + step <= today:
            start += step * ((today - start) // step - 1)
        if start + step > today:
            return None
        return ExportWindow(start=start, end=start + step)

    def _run_export(
        self, spec: ExportSpec, ledger: Ledger, context: Context | None, deadline: float
    ) -> Iterator[dict]:
        exports = ledger.state.setdefault("exports", {})
        export_state = exports.setdefault(spec.key, {"next_start": iso(spec.first_start)})
        while True:
            job = export_state.get("job")
            if job and job.get("fingerprint") != spec.fingerprint:
                self.logger.warning(
                    "%s: the %s export settings changed; job %s (made for the "
                    "old settings) is not adopted",
                    self.name,
                    spec.key,
                    job["id"],
                )
                export_state.pop("job")
                job = None
            if job is None:
                window = self._next_window(spec, export_state)
                if window is None:
                    return
                raw = self.create_export_job(spec, window, context)
                created = self.to_record(raw, context)
                job = {
                    "id": created["id"],
                    "start": iso(window.start),
                    "end": iso(window.end),
                    "fingerprint": spec.fingerprint,
                }
                export_state["job"] = job
                self.logger.info(
                    "%s: created %s job %s for %s .. %s",
                    self.name,
                    spec.key,
                    job["id"],
                    job["start"],
                    job["end"],
                )
                # Recorded before polling, so a run that stops now resumes this job
                # instead of creating a duplicate.
                self.checkpoint()
                record = created
            else:
                entry = ledger.get(job["id"])
                if entry and ledger.settled(entry):
                    record = None
                else:
                    raw = self.fetch_job(job["id"], context)
                    record = (
                        self.to_record(raw, context)
                        if raw
                        else self._refetch(job["id"], ledger, context)
                    )
            if record is not None:
                if not record["is_terminal"]:
                    record = next(iter(self._poll([record], ledger, context, deadline)))
                yield from self._emit(record, ledger)
            entry = ledger.get(job["id"]) or {}
            if not ledger.settled(entry):
                return  # still running at max_wait_seconds: resumed next run
            if entry["status"] in (SUCCEEDED, EMPTY):
                export_state["next_start"] = job["end"]
                export_state.pop("job")
                self.checkpoint()
                continue
            self.logger.warning(
                "%s: %s job %s for %s .. %s ended %s; the window is tried again next run",
                self.name,
                spec.key,
                job["id"],
                job["start"],
                job["end"],
                entry["status"],
            )
            export_state.pop("job")
            self.checkpoint()
            return
