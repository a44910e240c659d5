"""Exports the tap creates itself, window by window, several windows in flight at once.

The provider says what an export asks for (`export_specs`) and how to create its job for a
window (`create_export_job`); `pipeline.py` runs the windows, `in_flight.py` keeps them in
state. A window's job is created once (see `creating.py`); a window whose create request
may or may not have made a job is kept in `exports[key]["uncertain"]` until a later run
decides.
"""

from __future__ import annotations

import hashlib
import typing as t
from dataclasses import dataclass

from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.accounts import account_fingerprint
from tap_exportjobs.jobs.creating import CreatesOnce
from tap_exportjobs.jobs.journal import CreatesJournal, window_key
from tap_exportjobs.jobs.ledger import FILE_FAILED, FILE_GONE
from tap_exportjobs.jobs.pipeline import ExportRun
from tap_exportjobs.jobs.record import CANCELED, DELETED, EXPIRED, FAILED
from tap_exportjobs.jobs.timestamps import iso
from tap_exportjobs.jobs.windows import ExportWindow
from tap_exportjobs.local_cache import cache_dir

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from datetime import datetime

    from singer_sdk.helpers.types import Context

    from tap_exportjobs.jobs.ledger import Ledger

#: A job in one of these states gives its window no rows: the window needs a new job.
ENDED_WITHOUT_ROWS = frozenset({FAILED, CANCELED, DELETED, EXPIRED})

__all__ = ["CreatesExports", "ExportSpec", "ExportWindow", "fingerprint"]


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
    #: IANA zone whose days the windows are; a day is exported once it ended there.
    timezone: str = "UTC"
    #: Hours to wait after a day ended before exporting it (late-arriving data).
    lag_hours: float = 0


def fingerprint(*parts: t.Any) -> str:
    """A short, stable digest of what an export asks for."""
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


class CreatesExports(CreatesOnce):
    """Mixed into a JobStream whose provider creates export jobs (`export_specs`)."""

    #: Jobs in flight at once when the provider block sets no `max_jobs_in_flight`.
    default_max_jobs_in_flight: t.ClassVar[int] = 1
    #: A lower budget after the API answered 429 to a create, for the rest of the run.
    jobs_budget_cut: int | None = None

    # -- provider hooks -----------------------------------------------------------------

    def max_jobs_in_flight(self) -> int:
        """The provider's budget of export jobs in flight at once (its block's setting)."""
        return self.default_max_jobs_in_flight

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

    # -- the run ------------------------------------------------------------------------

    def _run_exports(
        self,
        specs: list[ExportSpec],
        ledger: Ledger,
        context: Context | None,
        deadline: float,
        listed: dict[str, dict],
    ) -> Iterator[dict]:
        """Every configured export's windows, sharing the budget (see `pipeline.py`).
        `listed`: this run's listing of the jobs out for windows, by id."""
        if specs:
            yield from ExportRun(self, specs, ledger, context, deadline).run(listed)

    @staticmethod
    def jobs_out_for_windows(ledger: Ledger) -> set[str]:
        """Ids of jobs that windows wait for: the export run follows them, not the listing."""
        held = set()
        for export in (ledger.state.get("exports") or {}).values():
            held.update(e["id"] for e in export.get("in_flight") or [] if e.get("id"))
            if (export.get("job") or {}).get("id"):  # the shape before windows in flight
                held.add(export["job"]["id"])
        return held

    def _create_for_window(
        self,
        spec: ExportSpec,
        window: ExportWindow,
        export_state: dict,
        known: dict[str, str | None],
        context: Context | None,
    ) -> dict | None:
        """The window's new job as a record, or None when whether one was made is uncertain
        (recorded in `export_state["uncertain"]` and checkpointed). `known`: jobs the tap
        has (id -> created_at), never taken for this window's."""
        what = f"{self.name}: {spec.key} window {iso(window.start)} .. {iso(window.end)}"
        uncertain = export_state.get("uncertain")
        if uncertain and uncertain.get("fingerprint") != spec.fingerprint:
            self.logger.warning(
                "%s: the export settings changed since a create request for %s .. %s may "
                "have made a job; that job is not adopted",
                what,
                uncertain.get("start"),
                uncertain.get("end"),
            )
            export_state.pop("uncertain")
            uncertain = None
        mine = uncertain if uncertain and uncertain.get("start") == iso(window.start) else None
        key = window_key(spec, window)
        journal = self.creates_journal(spec.key)
        earlier = journal.recall(key)
        # Listed and landed or not, a remembered job no window holds is this window's.
        held = self.jobs_out_for_windows(self.ledger(context))  # type: ignore[attr-defined]
        if not mine and earlier and earlier["id"] not in held:
            record = self.adopt_from_journal(earlier, what, context)
            if record is not None:
                return record
        result = self.create_once(
            what,
            lambda: self.create_export_job(spec, window, context),
            lambda since, until: self.find_created_jobs(spec, window, context, since, until),
            known,
            mine,
        )
        if mine:
            export_state.pop("uncertain")
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
        journal.remember(
            key, record["id"], record.get("created_at"), self.facts_to_journal(record["id"])
        )
        self.logger.info(
            "%s: %s job %s", what, "adopted" if result.found else "created", record["id"]
        )
        return record

    def creates_journal(self, export_key: str) -> CreatesJournal:
        """One file per stream, account and export: partitions that split one account's
        exports (e.g. a report type each) never write the same file."""
        export = hashlib.sha256(export_key.encode()).hexdigest()[:8]
        name = f"{self.name}-{account_fingerprint(self)}-{export}.json"
        return CreatesJournal(cache_dir(self.config) / "created_jobs" / name)

    def adopt_from_journal(self, earlier: dict, what: str, context: Context | None) -> dict | None:
        """The job an earlier run created (`earlier`: its journal entry), if the API still
        has it and it may still give rows: not failed, and not a job whose file this tap
        found gone or unreadable (its window needs a new job). None: create one."""
        job_id = earlier["id"]
        known = self.ledger(context).get(job_id) or {}  # type: ignore[attr-defined]
        if known.get("file") in (FILE_FAILED, FILE_GONE):
            return None
        self.facts_from_journal(job_id, earlier.get("facts"))
        try:
            raw = self.fetch_job(job_id, context)  # type: ignore[attr-defined]
        except FatalAPIError as error:
            self.logger.warning("%s: remembered job %s is not adopted (%s)", what, job_id, error)  # type: ignore[attr-defined]
            return None
        if not raw:
            return None
        record = self.to_record(raw, context)  # type: ignore[attr-defined]
        if record["status"] in ENDED_WITHOUT_ROWS:
            return None
        self.logger.warning(  # type: ignore[attr-defined]
            "%s: job %s was created by an earlier run whose state was not saved (stopped "
            "before its loader passed the state on); adopted instead of creating another",
            what,
            job_id,
        )
        return record

    def facts_to_journal(self, job_id: str) -> dict | None:
        """What the tap alone knows of a job (see `facts.RemembersJobs`), for the journal."""
        return None

    def facts_from_journal(self, job_id: str, facts: dict | None) -> None:
        """Take back what the journal kept of a job whose state was lost."""
