"""A run of a stream's exports as a pipeline: several windows' jobs in flight at once.

Up to the provider's budget (`max_jobs_in_flight`) of jobs run server-side together. Each
is recorded in state before it is polled; all are polled as one set on one schedule; each
job's rows are emitted as soon as it finishes while the others keep running, and its slot
goes to the next window. Configured exports take turns (round robin) at free slots.

- A 429 answer to a create means "not now", not an error: the budget drops to the jobs
  already in flight for the rest of the run (with none in flight, no more are created this
  run), and the window is created later.
- A window whose job failed is created again (bounded, see `in_flight.py`), without holding
  up the windows after it.
- No job is created when less of `max_wait_seconds` is left than this export's jobs have
  been taking in this run; jobs still running at the deadline stay in state for the next
  run.
"""

from __future__ import annotations

import time
import typing as t

from tap_exportjobs.http import too_many_requests
from tap_exportjobs.jobs.in_flight import MAX_WINDOW_ATTEMPTS, ExportState
from tap_exportjobs.jobs.polling import PollRounds
from tap_exportjobs.jobs.record import EMPTY, SUCCEEDED
from tap_exportjobs.jobs.timestamps import utc_now

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

    from tap_exportjobs.jobs.exports import ExportSpec
    from tap_exportjobs.jobs.ledger import Ledger


class ExportRun:
    """One run of the exports of one stream partition (`stream.export_specs`)."""

    def __init__(
        self,
        stream: t.Any,
        specs: list[ExportSpec],
        ledger: Ledger,
        context: Context | None,
        deadline: float,
    ) -> None:
        self.stream = stream
        self.ledger = ledger
        self.context = context
        self.deadline = deadline
        states = ledger.state.setdefault("exports", {})
        self.exports = [ExportState(spec, states.setdefault(spec.key, {})) for spec in specs]
        self.rounds = PollRounds(stream, deadline)
        #: Jobs running server-side that this run polls, by id, as last seen.
        self.waiting: dict[str, dict] = {}
        #: Each job's window: (its export, its entry, when this run created it or None).
        self.windows: dict[str, tuple[ExportState, dict, float | None]] = {}
        #: Per export, the longest its jobs have taken in this run (seconds).
        self.taking: dict[str, float] = {}
        self.creating = True
        self.turn = 0
        self.held_back: set[str] = set()

    @property
    def budget(self) -> int:
        configured = max(1, int(self.stream.max_jobs_in_flight()))
        cut = self.stream.jobs_budget_cut
        return min(configured, cut) if cut is not None else configured

    def run(self, listed: dict[str, dict]) -> Iterator[dict]:
        for export in self.exports:
            for entry in export.stale_jobs():
                self.stream.logger.warning(
                    "%s: the %s export settings changed; job %s (made for the old settings) "
                    "is not adopted and its window is created again",
                    self.stream.name,
                    export.spec.key,
                    entry["id"],
                )
        yield from self._resume(listed)
        while True:
            yield from self._fill()
            if not self.waiting:
                break
            finished = self.rounds.next_round(self.waiting, self.ledger, self.context)
            if finished is None:
                self.rounds.left_running(self.waiting.values())
                for record in self.waiting.values():
                    yield from self.stream._emit(record, self.ledger)
                break
            for record in finished:
                yield from self._finish(record)
        for export in self.exports:
            export.tidy()
        self.stream.checkpoint()

    # -- jobs out from earlier runs ---------------------------------------------------

    def _resume(self, listed: dict[str, dict]) -> Iterator[dict]:
        for export in self.exports:
            for entry in export.jobs():
                job_id = entry["id"]
                self.windows[job_id] = (export, entry, None)
                known = self.ledger.get(job_id)
                if known and self.ledger.settled(known):
                    self._conclude(job_id, known)
                    continue
                record = listed.get(job_id)
                if record is None:
                    raw = self.stream.fetch_job(job_id, self.context)
                    record = (
                        self.stream.to_record(raw, self.context)
                        if raw
                        else self.stream._refetch(job_id, self.ledger, self.context)
                    )
                if record["is_terminal"]:
                    yield from self._finish(record)
                else:
                    self.waiting[job_id] = record

    # -- creating ---------------------------------------------------------------------

    def _fill(self) -> Iterator[dict]:
        """Create jobs for the next windows while the budget has room."""
        while self.creating and len(self.waiting) < self.budget:
            due = self._next_due()
            if due is None:
                return
            export, window = due
            known = {job_id: entry.get("created_at") for job_id, entry in self.ledger.jobs.items()}
            for other in self.exports:
                known.update({e["id"]: e.get("created_at") for e in other.jobs()})
            began = time.monotonic()
            try:
                record = self.stream._create_for_window(
                    export.spec, window, export.state, known, self.context
                )
            except Exception as error:
                if not too_many_requests(error):
                    raise
                self._cut_budget(error)
                return
            if record is None:  # uncertain: creating more could be taken for it later
                self.creating = False
                return
            entry = export.started(window, record["id"], record.get("created_at"))
            self.windows[record["id"]] = (export, entry, began)
            # Recorded before polling, so a run that stops now resumes this job instead of
            # creating a duplicate.
            self.stream.checkpoint()
            if record["is_terminal"]:
                yield from self._finish(record)
            else:
                self.waiting[record["id"]] = record

    def _next_due(self) -> tuple[ExportState, t.Any] | None:
        """The next export in turn with a window due and time to finish it."""
        now = utc_now()
        for offset in range(len(self.exports)):
            index = (self.turn + offset) % len(self.exports)
            export = self.exports[index]
            window = export.next_window(now)
            if window is None or not self._time_for(export):
                continue
            self.turn = index + 1
            return export, window
        return None

    def _time_for(self, export: ExportState) -> bool:
        """Whether a new job of this export can still finish before the deadline, judging
        by how long its jobs have been taking in this run."""
        remaining = self.deadline - time.monotonic()
        taking = self.taking.get(export.spec.key)
        if taking is None or remaining > taking:
            return True  # with nothing learned yet, a job left running is resumed next run
        if export.spec.key not in self.held_back:
            self.held_back.add(export.spec.key)
            self.stream.logger.info(
                "%s: no new %s job: %.0fs of max_wait_seconds are left and its jobs have "
                "taken up to %.0fs; its next windows are created next run",
                self.stream.name,
                export.spec.key,
                max(remaining, 0.0),
                taking,
            )
        return False

    def _cut_budget(self, error: BaseException) -> None:
        running = len(self.waiting)
        if running:
            self.stream.jobs_budget_cut = running
            self.stream.logger.warning(
                "%s: the API answered 429 to a create request (%s): it takes no more jobs "
                "now. At most %d job(s) are kept in flight for the rest of this run; the "
                "window is created once a job finishes",
                self.stream.name,
                error,
                running,
            )
        else:
            self.creating = False
            self.stream.logger.warning(
                "%s: the API answered 429 to a create request with none of this tap's jobs "
                "in flight (%s); no more jobs are created this run, the next windows are "
                "created next run",
                self.stream.name,
                error,
            )

    # -- finishing --------------------------------------------------------------------

    def _finish(self, record: dict) -> Iterator[dict]:
        """Emit a finished job (its rows are synced as it is emitted), then settle its
        window."""
        yield from self.stream._emit(record, self.ledger)
        entry = self.ledger.get(record["id"]) or {}
        if not self.ledger.settled(entry):
            return  # its file is owed to the next run (see FollowsFiles); the window waits
        self._conclude(record["id"], entry, record.get("error"))

    def _conclude(self, job_id: str, ledger_entry: dict, reason: str | None = None) -> None:
        export, entry, began = self.windows.pop(job_id)
        if began is not None:
            took = time.monotonic() - began
            self.taking[export.spec.key] = max(self.taking.get(export.spec.key, 0.0), took)
        status = ledger_entry.get("status")
        where = f"{self.stream.name}: {export.spec.key} window {entry['start']} .. {entry['end']}"
        if status in (SUCCEEDED, EMPTY):
            export.done(entry)
        elif export.failed(entry):
            self.stream.logger.error(
                "%s: job %s ended %s (%s); that was attempt %d of %d, the window is given up "
                "and its data is not exported",
                where,
                job_id,
                status,
                reason or ledger_entry.get("file_error") or "no reason given",
                MAX_WINDOW_ATTEMPTS,
                MAX_WINDOW_ATTEMPTS,
            )
        else:
            self.stream.logger.warning(
                "%s: job %s ended %s (%s); the window is created again (attempt %d of %d done)",
                where,
                job_id,
                status,
                reason or ledger_entry.get("file_error") or "no reason given",
                entry.get("attempts"),
                MAX_WINDOW_ATTEMPTS,
            )
        self.stream.checkpoint()
