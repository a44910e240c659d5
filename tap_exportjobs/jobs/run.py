"""One sync of a job stream, across every partition it runs for: where its listing starts,
when waiting stops, and, once the whole tap sync is done, where its bookmark moves.

The tap finishes every job stream's run after syncing everything (`TapExportJobs.sync_all`),
so no provider has to remember to move a bookmark, and a job stream below a parent (run once
per parent record) moves it once, after its last partition: moving it after one partition
would let the next run skip older jobs of partitions not reached yet.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass, field
from datetime import datetime

from tap_exportjobs.jobs.progress import RunTally
from tap_exportjobs.jobs.timestamps import CLOCK_SKEW_MARGIN, parse_timestamp, utc_now

if t.TYPE_CHECKING:
    from tap_exportjobs.jobs.ledger import Ledger


@dataclass
class _Run:
    """One sync of a job stream: where listing starts, when waiting stops, what was seen."""

    bookmark: str | None
    since: datetime
    deadline: float
    listing_began: datetime
    follows_files: bool
    newest_listed: str | None = None
    tally: RunTally = field(default_factory=RunTally)


class RunsOnce:
    """Mixed into JobStream (which provides ledger, start_date, follows_files, job_lifetime)."""

    _run: _Run | None = None

    @property
    def listing_since(self) -> datetime:
        """Where this sync's listing starts: the bookmark, or start_date (for APIs that
        filter their listing by creation time)."""
        return self.begin_run().since

    def begin_run(self) -> _Run:
        """What holds for the whole sync, across every partition it runs for."""
        if self._run is None:
            state = self.get_context_state(None)
            bookmark = state.get("replication_key_value")
            since = max(filter(None, [parse_timestamp(bookmark), self.start_date()]))
            follows_files = self.follows_files()
            if follows_files and state.get("files_followed") is False:
                # Files were not read when the bookmark moved: list from start_date again so
                # a newly selected rows stream gets its history, like any Singer stream.
                self.logger.info(
                    "%s: files are read this run but were not before; listing jobs again "
                    "from start_date so that their files are read too",
                    self.name,
                )
                since = self.start_date()
            self._run = _Run(
                bookmark=bookmark,
                since=since,
                deadline=time.monotonic() + float(self.config.get("max_wait_seconds", 600)),
                listing_began=utc_now(),
                follows_files=follows_files,
            )
        return self._run

    def finish_run(self) -> bool:
        """Move the bookmark once every partition of this sync is done; False when the
        stream did not run."""
        if self._run is None:
            return False  # the stream did not run (deselected, or its parent had no records)
        state = self.get_context_state(None)
        ledger = self.ledger(None)
        self._drop_abandoned(ledger)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = ledger.advance_bookmark(
            self._run.bookmark,
            self._run.newest_listed,
            self._run.listing_began - CLOCK_SKEW_MARGIN,
        )
        state["files_followed"] = self._run.follows_files
        self.logger.info("%s: %s", self.name, self._run.tally.summary(ledger))
        self._run = None
        return True

    def _drop_abandoned(self, ledger: Ledger) -> None:
        """Forget unsettled jobs older than the API keeps jobs that no run can look at any
        more (e.g. their partition is no longer selected), so they cannot hold the bookmark
        and the ledger forever."""
        if not self.job_lifetime:
            return
        cutoff = utc_now() - self.job_lifetime
        for job_id in ledger.unsettled_ids():
            created = parse_timestamp(ledger.jobs[job_id].get("created_at"))
            if created and created < cutoff:
                self.logger.warning(
                    "%s: job %s has been unsettled for longer than the API keeps jobs (%s); "
                    "it is no longer followed",
                    self.name,
                    job_id,
                    self.job_lifetime,
                )
                del ledger.jobs[job_id]
