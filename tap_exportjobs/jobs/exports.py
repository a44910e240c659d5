"""Exports the tap creates itself, window by window, recorded in state before polling.

A window's job is created once (see `creating.py`); a window whose create request may or
may not have made a job is kept in `exports[key]["uncertain"]` until a later run decides.
"""

from __future__ import annotations

import hashlib
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta

from tap_exportjobs.jobs.creating import CreatesOnce
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


class CreatesExports(CreatesOnce):
    """Mixed into a JobStream whose provider creates export jobs (`export_specs`)."""

    # -- provider hooks -----------------------------------------------------------------

    def find_created_jobs(
        self,
        spec: ExportSpec,
        window: ExportWindow,
        context: Context | None,
        since: datetime,
        until: datetime,
    ) -> list[dict] | None:
        """Jobs (as the API shows them) that a create request for `window` could have made
        between `since` and `until`; None when the API cannot be searched for them."""
        return None

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
                created = self._create_for_window(spec, window, export_state, ledger, context)
                if created is None:
                    return  # uncertain: a later run decides
                job = {
                    "id": created["id"],
                    "start": iso(window.start),
                    "end": iso(window.end),
                    "fingerprint": spec.fingerprint,
                }
                export_state["job"] = job
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

    def _create_for_window(
        self,
        spec: ExportSpec,
        window: ExportWindow,
        export_state: dict,
        ledger: Ledger,
        context: Context | None,
    ) -> dict | None:
        """The window's new job as a record, or None when whether one was made is uncertain
        (recorded in `export_state["uncertain"]` and checkpointed)."""
        what = f"{self.name}: {spec.key} window {iso(window.start)} .. {iso(window.end)}"
        uncertain = export_state.get("uncertain")
        if uncertain and (uncertain.get("start"), uncertain.get("fingerprint")) != (
            iso(window.start),
            spec.fingerprint,
        ):
            self.logger.warning(
                "%s: the export settings or window changed since a create request for %s .. "
                "%s may have made a job; that job is not adopted",
                what,
                uncertain.get("start"),
                uncertain.get("end"),
            )
            uncertain = None
        result = self.create_once(
            what,
            lambda: self.create_export_job(spec, window, context),
            lambda since, until: self.find_created_jobs(spec, window, context, since, until),
            {job_id: entry.get("created_at") for job_id, entry in ledger.jobs.items()},
            uncertain,
        )
        export_state.pop("uncertain", None)
        if result.uncertain is not None:
            export_state["uncertain"] = {
                **result.uncertain,
                "start": iso(window.start),
                "end": iso(window.end),
                "fingerprint": spec.fingerprint,
            }
            self.checkpoint()
            return None
        record = self.to_record(result.found or result.answer, context)
        self.logger.info(
            "%s: %s job %s", what, "adopted" if result.found else "created", record["id"]
        )
        return record
